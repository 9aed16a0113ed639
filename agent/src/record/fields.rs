//! The fields event selectors match on, extracted during the one validation parse
//! ([`super::validate`]) so that matching ([`crate::selector`]) never parses the JSON again.
//!
//! Invariants:
//! - A string field is a [`Span`]: a byte range of the *unescaped* value. Values written without
//!   escapes (nearly all) point into `Record.bytes` (offsets already adjusted for a rewritten
//!   `eventTime`); a value with escapes is decoded once, at intake, into the record's small
//!   `unescaped` buffer and the span points there. Comparisons are therefore always on the
//!   decoded text, and matching is plain byte-slice comparison.
//! - A field that is absent, JSON `null`, or not a JSON string is absent ([`None`]). A member
//!   repeated at the top level (only the routing and typed members are refused when repeated)
//!   counts with its *last* occurrence, as `serde_json::Value` and Python's `json` read it.
//! - `category` is the *effective* event category: a record without a (string) `eventCategory`
//!   is a management event (CloudTrail's rule for records written before eventVersion 1.07).
//!   `managementEvent` is kept but does not change the category.
//! - Nothing here allocates for a record without `resources` and without escaped selector
//!   fields.

use serde_json::value::RawValue;

/// CloudTrail's event categories (`eventCategory`), plus [`Category::Other`] for any other text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Category {
    /// `Management`, or no `eventCategory` at all.
    #[default]
    Management = 0,
    Data = 1,
    NetworkActivity = 2,
    Insight = 3,
    /// CloudTrail Lake categories.
    ConfigurationItem = 4,
    Evidence = 5,
    ActivityAuditLog = 6,
    /// A value CloudTrail does not define.
    Other = 7,
}

impl Category {
    /// Every named category, in `as_str` spelling.
    pub const KNOWN: [Category; 7] = [
        Self::Management,
        Self::Data,
        Self::NetworkActivity,
        Self::Insight,
        Self::ConfigurationItem,
        Self::Evidence,
        Self::ActivityAuditLog,
    ];

    /// The category named `text` (exact, case-sensitive), [`Category::Other`] when unknown.
    pub fn parse(text: &[u8]) -> Category {
        Self::KNOWN
            .into_iter()
            .find(|c| c.as_str().as_bytes() == text)
            .unwrap_or(Category::Other)
    }

    /// CloudTrail's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Management => "Management",
            Self::Data => "Data",
            Self::NetworkActivity => "NetworkActivity",
            Self::Insight => "Insight",
            Self::ConfigurationItem => "ConfigurationItem",
            Self::Evidence => "Evidence",
            Self::ActivityAuditLog => "ActivityAuditLog",
            Self::Other => "Other",
        }
    }

    /// A one-bit mask for this category (for sets of categories).
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The top-level (and `userIdentity.arn`) string fields a selector can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StrField {
    EventSource = 0,
    EventName = 1,
    EventType = 2,
    UserIdentityArn = 3,
    SessionCredentialFromConsole = 4,
    ErrorCode = 5,
    VpcEndpointId = 6,
}

const STR_FIELDS: usize = 7;

/// A byte range of an unescaped string value: in `Record.bytes`, or (top bit of `start` set) in
/// the record's `unescaped` buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

const IN_BUFFER: u32 = 1 << 31;

impl Span {
    /// No value.
    pub const ABSENT: Span = Span {
        start: u32::MAX,
        len: u32::MAX,
    };

    fn is_absent(self) -> bool {
        self == Self::ABSENT
    }
}

impl Default for Span {
    fn default() -> Self {
        Self::ABSENT
    }
}

/// One `resources[]` entry: its `ARN` and `type` (either may be absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Resource {
    pub arn: Span,
    pub kind: Span,
}

/// What selectors need of a record (see the module docs for the invariants).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    /// Effective `eventCategory`.
    pub category: Category,
    /// `readOnly`, when present (a JSON boolean: intake refuses anything else).
    pub read_only: Option<bool>,
    /// `managementEvent`, when present (a JSON boolean).
    pub management_event: Option<bool>,
    strings: [Span; STR_FIELDS],
    resources: Box<[Resource]>,
    unescaped: Box<[u8]>,
}

impl Fields {
    /// Bytes held on the heap (`resources[]` entries and unescaped values).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.resources) + self.unescaped.len()
    }

    /// The value of `field` (unescaped), or `None` when the record has none.
    #[inline]
    pub fn get<'a>(&'a self, bytes: &'a [u8], field: StrField) -> Option<&'a [u8]> {
        self.resolve(bytes, self.strings[field as usize])
    }

    /// The record's `resources[]` entries, in order.
    #[inline]
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// The text of a span of this record (`bytes` = `Record.bytes`).
    #[inline]
    pub fn resolve<'a>(&'a self, bytes: &'a [u8], span: Span) -> Option<&'a [u8]> {
        if span.is_absent() {
            return None;
        }
        let (src, start) = if span.start & IN_BUFFER != 0 {
            (&self.unescaped[..], (span.start & !IN_BUFFER) as usize)
        } else {
            (bytes, span.start as usize)
        };
        src.get(start..start + span.len as usize)
    }
}

/// Raw members captured by the parse, turned into [`Fields`] once the record is accepted.
#[derive(Default)]
pub(crate) struct RawFields<'a> {
    pub category: Option<&'a str>,
    pub read_only: Option<&'a str>,
    pub management_event: Option<&'a str>,
    pub strings: [Option<&'a str>; STR_FIELDS],
    /// `(ARN, type)` of each `resources[]` object.
    pub resources: Vec<(Option<&'a RawValue>, Option<&'a RawValue>)>,
}

impl RawFields<'_> {
    /// Builds [`Fields`] for the output bytes: `text` is the validated input; values after byte
    /// `shift_at` of it moved by `shift` bytes in the output (a rewritten `eventTime`).
    pub(crate) fn build(&self, text: &str, shift_at: usize, shift: isize) -> Fields {
        let mut b = Builder {
            text,
            shift_at,
            shift,
            unescaped: Vec::new(),
        };
        let mut strings = [Span::ABSENT; STR_FIELDS];
        for (slot, raw) in strings.iter_mut().zip(&self.strings) {
            *slot = b.span(*raw);
        }
        let resources: Box<[Resource]> = self
            .resources
            .iter()
            .map(|(arn, kind)| Resource {
                arn: b.span(arn.map(RawValue::get)),
                kind: b.span(kind.map(RawValue::get)),
            })
            .collect();
        let category = match self.category {
            Some(s) if s.starts_with('"') && s.len() >= 2 => {
                let inner = &s[1..s.len() - 1];
                if !inner.contains('\\') {
                    Category::parse(inner.as_bytes())
                } else {
                    match serde_json::from_str::<String>(s) {
                        Ok(text) => Category::parse(text.as_bytes()),
                        Err(_) => Category::Other,
                    }
                }
            }
            _ => Category::Management,
        };
        Fields {
            category,
            read_only: boolean(self.read_only),
            management_event: boolean(self.management_event),
            strings,
            resources,
            unescaped: b.unescaped.into_boxed_slice(),
        }
    }
}

fn boolean(raw: Option<&str>) -> Option<bool> {
    match raw {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

struct Builder<'t> {
    text: &'t str,
    shift_at: usize,
    shift: isize,
    unescaped: Vec<u8>,
}

impl Builder<'_> {
    /// `raw`: a member's JSON text, borrowed from the record.
    fn span(&mut self, raw: Option<&str>) -> Span {
        let Some(s) = raw else {
            return Span::ABSENT;
        };
        if !s.starts_with('"') || s.len() < 2 {
            return Span::ABSENT;
        }
        let inner = &s[1..s.len() - 1];
        if inner.contains('\\') {
            let Ok(decoded) = serde_json::from_str::<String>(s) else {
                // Valid JSON that does not decode (a lone surrogate): matches nothing.
                return Span::ABSENT;
            };
            let start = self.unescaped.len();
            self.unescaped.extend_from_slice(decoded.as_bytes());
            return match (u32::try_from(start), u32::try_from(decoded.len())) {
                (Ok(start), Ok(len)) if start < IN_BUFFER => Span {
                    start: start | IN_BUFFER,
                    len,
                },
                _ => Span::ABSENT,
            };
        }
        let base = self.text.as_ptr() as usize;
        let Some(at) = (inner.as_ptr() as usize).checked_sub(base) else {
            return Span::ABSENT;
        };
        let at = if at > self.shift_at {
            at.wrapping_add_signed(self.shift)
        } else {
            at
        };
        match (u32::try_from(at), u32::try_from(inner.len())) {
            (Ok(start), Ok(len)) if start < IN_BUFFER => Span { start, len },
            _ => Span::ABSENT,
        }
    }
}
