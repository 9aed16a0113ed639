//! Validated identifiers that end up in object keys: [`AccountId`] and [`Region`].
//!
//! Both are small, `Copy`, stored inline (no allocation on the hot path) and can only be built
//! through constructors that enforce CloudTrail's shapes, so a value of either type is always a
//! safe path component (no `/`, `.`, `..`, uppercase or empty strings).

use std::fmt;

/// A 12-digit AWS account id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; 12]);

impl AccountId {
    /// Parses exactly 12 ASCII digits.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 12 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut out = [0u8; 12];
        out.copy_from_slice(b);
        Some(Self(out))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Constructed only from ASCII digits.
        std::str::from_utf8(&self.0).unwrap_or("000000000000")
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.as_str())
    }
}

/// Maximum length of a region code.
pub const MAX_REGION_LEN: usize = 32;

/// An AWS region code: 1–32 chars of `[a-z0-9-]`, starting and ending alphanumeric.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region {
    len: u8,
    bytes: [u8; MAX_REGION_LEN],
}

impl Region {
    /// Parses and validates a region code.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > MAX_REGION_LEN {
            return None;
        }
        let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
        let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !b.iter().all(ok_char) || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return None;
        }
        let mut bytes = [0u8; MAX_REGION_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Some(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The region as a string slice.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("invalid")
    }

    /// `us-east-1`, where global-service events are delivered.
    pub fn us_east_1() -> Self {
        Self::parse("us-east-1").unwrap_or(Self {
            len: 0,
            bytes: [0; MAX_REGION_LEN],
        })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts() {
        assert!(AccountId::parse("123456789012").is_some());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "../456789012",
            "",
        ] {
            assert!(AccountId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn regions() {
        for good in ["us-east-1", "us-north-2r", "a", "eu-central-1", "x1"] {
            assert_eq!(
                Region::parse(good).map(|r| r.to_string()),
                Some(good.to_string())
            );
        }
        for bad in [
            "../x",
            "US-EAST-1",
            "-us",
            "us-",
            "",
            "us/east",
            "us.east",
            &"a".repeat(33),
        ] {
            assert!(Region::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Region::us_east_1().as_str(), "us-east-1");
    }
}
