//! A JSON syntax scanner for the fast path of [`super::top::parse`]: walks a record's top-level
//! members and finds where each value ends, without decoding anything.
//!
//! Most of a record's bytes sit in members intake never reads (`requestParameters`,
//! `responseElements`, …). serde_json skips those one call per value and an 8-byte word at a
//! time; here a string's body is scanned 16 bytes per step with SSE2 compares.
//!
//! Invariant (what makes the fast path safe): whenever [`value`] returns `Some(end)`, serde_json
//! accepts `b[start..end]` as one JSON value when skipping it (`IgnoredAny` / `&RawValue`), and
//! whenever [`object`] returns `Some`, serde_json accepts the whole text as one object with
//! those members. The converse need not hold — the scanner is stricter where that is simpler
//! (keys written with escapes, nesting deeper than [`MAX_DEPTH`]) — because a `None` sends the
//! record to the serde_json parse, whose verdict stands.

/// Deepest nesting the scanner follows. Well under serde_json's recursion limit (128), so no
/// typed member the fast path hands to serde_json can hit that limit.
pub(crate) const MAX_DEPTH: u32 = 64;

/// Index of the first byte at or after `i` that is not JSON whitespace.
#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// Bit `k` set when byte `k` of the chunk ends a string's plain run: `"`, `\\` or a control
/// byte (below 0x20, which JSON forbids inside strings). Three SSE2 compares and a `movemask`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stops(chunk: &[u8; 16]) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86_64 baseline (always enabled), and the unaligned load
    // reads exactly the 16 bytes `chunk` borrows.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // c <= 0x1f (unsigned) exactly when min(c, 0x1f) == c.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// Portable form of the SSE2 `stops`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn stops(chunk: &[u8; 16]) -> u32 {
    let mut mask = 0u32;
    for (k, &c) in chunk.iter().enumerate() {
        mask |= u32::from(is_stop(c)) << k;
    }
    mask
}

/// `"`, `\\` or a control byte.
#[inline(always)]
fn is_stop(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// Index of the first `"`, `\\` or control byte at or after `j`, or `b.len()`.
#[inline(always)]
fn string_body_end(b: &[u8], mut j: usize) -> usize {
    while let Some(chunk) = b.get(j..j + 16) {
        let chunk: &[u8; 16] = chunk.try_into().unwrap_or(&[b'"'; 16]);
        let mask = stops(chunk);
        if mask != 0 {
            return j + mask.trailing_zeros() as usize;
        }
        j += 16;
    }
    let rest = b.get(j..).unwrap_or_default();
    j + rest.iter().position(|&c| is_stop(c)).unwrap_or(rest.len())
}

/// `b[i]` is `"`: the index just past the closing quote, and whether the string holds escapes.
/// Escapes are checked as serde_json checks a string it skips: `\u` needs four hex digits, any
/// code unit (a lone surrogate too).
#[inline(always)]
fn string(b: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut j = i + 1;
    let mut escaped = false;
    loop {
        j = string_body_end(b, j);
        match *b.get(j)? {
            b'"' => return Some((j + 1, escaped)),
            b'\\' => {}
            _ => return None,
        }
        escaped = true;
        j = match b.get(j + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j + 2,
            b'u' => {
                let hex = b.get(j + 2..j + 6)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                j + 6
            }
            _ => return None,
        };
    }
}

/// Index just past the run of ASCII digits starting at `i`.
fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// A number in RFC 8259's grammar starting at `i`: the index just past it.
fn number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i)? {
        b'0' => i + 1,
        b'1'..=b'9' => digits(b, i + 1),
        _ => return None,
    };
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

/// `word` (`true`, `false`, `null`) at `i`: the index just past it.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// `b[i]` starts a member: `"key"`, `:`, whitespace. The index of the value.
#[inline(always)]
fn member_value(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (end, _) = string(b, i)?;
    let colon = ws(b, end);
    (b.get(colon) == Some(&b':')).then(|| ws(b, colon + 1))
}

/// The JSON value starting at `start` (no leading whitespace): the index just past it.
/// Iterative; containers are tracked in a bit stack (1 = object), at most [`MAX_DEPTH`] deep.
pub(crate) fn value(b: &[u8], start: usize) -> Option<usize> {
    let mut stack = 0u64;
    let mut depth = 0u32;
    let mut i = start;
    loop {
        // A value starts at `i`.
        i = match *b.get(i)? {
            b'"' => string(b, i)?.0,
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                let inner = ws(b, i + 1);
                if b.get(inner) == Some(&close) {
                    inner + 1
                } else {
                    if depth == MAX_DEPTH {
                        return None;
                    }
                    depth += 1;
                    stack = (stack << 1) | u64::from(open == b'{');
                    i = if open == b'{' {
                        member_value(b, inner)?
                    } else {
                        inner
                    };
                    continue;
                }
            }
            b't' => literal(b, i, b"true")?,
            b'f' => literal(b, i, b"false")?,
            b'n' => literal(b, i, b"null")?,
            _ => number(b, i)?,
        };
        // After a value: close containers until a comma starts the next value.
        loop {
            if depth == 0 {
                return Some(i);
            }
            i = ws(b, i);
            let in_object = stack & 1 == 1;
            match (*b.get(i)?, in_object) {
                (b',', true) => {
                    i = member_value(b, ws(b, i + 1))?;
                    break;
                }
                (b',', false) => {
                    i = ws(b, i + 1);
                    break;
                }
                (b'}', true) | (b']', false) => {
                    i += 1;
                    stack >>= 1;
                    depth -= 1;
                }
                _ => return None,
            }
        }
    }
}

/// Walks `text`, which must be exactly one JSON object (whitespace around it allowed), calling
/// `member(key, value)` for each member in order; `key` is the text between the quotes, `value`
/// the value's text. `None` when the text is not such an object, a key holds escapes, or
/// `member` answers `None`.
pub(crate) fn object<'a>(
    text: &'a str,
    mut member: impl FnMut(&'a str, &'a str) -> Option<()>,
) -> Option<()> {
    let b = text.as_bytes();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (key_end, escaped) = string(b, i)?;
            if escaped {
                return None;
            }
            let colon = ws(b, key_end);
            if b.get(colon) != Some(&b':') {
                return None;
            }
            let start = ws(b, colon + 1);
            let end = value(b, start)?;
            // Both ranges lie on ASCII delimiters (`"`, `{`, `[`, digits, letters), so they
            // are char boundaries and `get` never fails on a valid `str`.
            member(text.get(i + 1..key_end - 1)?, text.get(start..end)?)?;
            i = ws(b, end);
            match b.get(i)? {
                b',' => i = ws(b, i + 1),
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (ws(b, i) == b.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scanner's verdict on a whole text as one value.
    fn scans(text: &str) -> bool {
        let b = text.as_bytes();
        let start = ws(b, 0);
        value(b, start).is_some_and(|end| ws(b, end) == b.len())
    }

    /// What serde_json says when skipping the text as one value.
    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
    }

    #[test]
    fn accepts_what_serde_accepts() {
        for text in [
            r#""plain""#,
            r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \uD800""#,
            "\"caf\u{e9} \u{1F600} \u{7f}\"",
            "0",
            "-0",
            "12.5e-3",
            "1E+9",
            "-7.25",
            "true",
            "false",
            "null",
            "{}",
            "[]",
            " { \"a\" : [ 1 , { \"b\" : null } , [ ] ] , \"c\" : { } } ",
            r#"[[[["deep"]]]]"#,
        ] {
            assert!(serde_accepts(text), "serde refuses {text}");
            assert!(scans(text), "scanner refuses {text}");
        }
    }

    #[test]
    fn refuses_what_serde_refuses() {
        for text in [
            "\"ctl \u{1} byte\"",
            "\"tab\tinside\"",
            r#""bad \x escape""#,
            r#""short \u12 escape""#,
            r#""unterminated"#,
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "tru",
            "nul",
            "True",
            "{\"a\":1,}",
            "[1,]",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "{\"a\":1]",
            "[1}",
            "{",
            "",
            "1 2",
        ] {
            assert!(!serde_accepts(text), "serde accepts {text}");
            assert!(!scans(text), "scanner accepts {text}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(scans(&ok));
        let deep = format!("{}1{}", "[".repeat(65), "]".repeat(65));
        assert!(!scans(&deep));
    }

    #[test]
    fn object_reports_members_in_order() {
        let text = r#" {"a":1, "b" : {"x":[true]} ,"c":"s"} "#;
        let mut seen = Vec::new();
        assert!(
            object(text, |k, v| {
                seen.push((k, v));
                Some(())
            })
            .is_some()
        );
        assert_eq!(
            seen,
            [("a", "1"), ("b", r#"{"x":[true]}"#), ("c", r#""s""#)]
        );
    }

    #[test]
    fn object_refuses_escaped_keys_trailing_text_and_non_objects() {
        for text in [r#"{"a\u0062":1}"#, r#"{"a":1} x"#, "[1]", r#"{"a":1}{}"#] {
            assert!(object(text, |_, _| Some(())).is_none(), "{text}");
        }
        assert!(object("{}", |_, _| None).is_some());
        assert!(object(r#"{"a":1}"#, |_, _| None).is_none());
    }
}
