//! Intake validation: raw bytes → [`Record`] or [`Rejection`].
//!
//! Only the fields the pipeline routes on, and the well-known fields whose type CloudTrail
//! readers depend on, are looked at; everything else passes through untouched. The output bytes
//! equal the input bytes except in two documented cases: a non-canonical `eventTime` is rewritten
//! in place, and a missing `eventID` is appended as the last member. Every rule here applies to
//! every source (files, HTTP, C ABI, CloudTrail-file import).

use std::borrow::Cow;
use std::fmt;

use super::fields::RawFields;
use super::ids::{AccountId, Region};
use super::shape::{Check, Kind, wrong};
use super::time::{EventTime, normalize_event_time};
use super::top;
use super::{Record, is_global_service};

/// Limits and defaults applied at intake.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted record, inclusive (CloudTrail's limit is 256 KiB).
    pub max_record_bytes: usize,
    /// Account used when a record names none.
    pub default_account: Option<AccountId>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_bytes: 262_144,
            default_account: None,
        }
    }
}

/// Why a record was refused. The `as_str` names are stable: they label metrics and quarantine
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    DuplicateField,
    Oversize,
    MissingField,
    WrongType,
    InvalidAccount,
    InvalidRegion,
    InvalidEventTime,
    InvalidEventId,
    InvalidEventVersion,
    NoTrail,
}

impl RejectReason {
    /// Every reason, for pre-registering metric labels.
    pub const ALL: [RejectReason; 13] = [
        Self::InvalidUtf8,
        Self::InvalidJson,
        Self::NotAnObject,
        Self::DuplicateField,
        Self::Oversize,
        Self::MissingField,
        Self::WrongType,
        Self::InvalidAccount,
        Self::InvalidRegion,
        Self::InvalidEventTime,
        Self::InvalidEventId,
        Self::InvalidEventVersion,
        Self::NoTrail,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidJson => "invalid_json",
            Self::NotAnObject => "not_an_object",
            Self::DuplicateField => "duplicate_field",
            Self::Oversize => "oversize",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::InvalidAccount => "invalid_account",
            Self::InvalidRegion => "invalid_region",
            Self::InvalidEventTime => "invalid_event_time",
            Self::InvalidEventId => "invalid_event_id",
            Self::InvalidEventVersion => "invalid_event_version",
            Self::NoTrail => "no_trail",
        }
    }
}

/// A refused record: the reason (a metric label) and a human-readable detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub(crate) fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// Validates one input line. Blank lines (only whitespace) yield `Ok(None)`.
pub fn validate_line(line: &[u8], limits: &Limits) -> Result<Option<Record>, Rejection> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    validate(trimmed, limits).map(Some)
}

/// Validates one record (surrounding whitespace already removed).
pub fn validate(bytes: &[u8], limits: &Limits) -> Result<Record, Rejection> {
    if bytes.len() > limits.max_record_bytes {
        return Err(Rejection::new(
            RejectReason::Oversize,
            format!(
                "record is {} bytes; max_record_bytes is {}",
                bytes.len(),
                limits.max_record_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    if !text.starts_with('{') {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            "record is not a JSON object",
        ));
    }
    let top = top::parse(text)?;

    let event_source = required_string(top.event_source, "eventSource")?;
    required_string(top.event_name, "eventName")?;
    let region_text = required_string(top.aws_region, "awsRegion")?;
    let region = Region::parse(&region_text).ok_or_else(|| {
        Rejection::new(
            RejectReason::InvalidRegion,
            format!(
                "awsRegion {:?} is not 1-32 chars of [a-z0-9-]",
                truncate(&region_text)
            ),
        )
    })?;
    let time_raw = top
        .event_time
        .ok_or_else(|| Rejection::new(RejectReason::MissingField, "eventTime is missing"))?;
    let time_text = string_value(time_raw, "eventTime")?;
    let event_time = normalize_event_time(&time_text).ok_or_else(|| {
        Rejection::new(
            RejectReason::InvalidEventTime,
            format!(
                "eventTime {:?} is not an RFC 3339 timestamp",
                truncate(&time_text)
            ),
        )
    })?;

    let (identity_account, identity_arn, identity_members) = match top.user_identity {
        Some(id) => {
            id.shape?;
            (id.account_id, id.arn, id.members)
        }
        None => (None, None, Ok(())),
    };
    let account = resolve_account(top.recipient_account_id, identity_account, limits)?;
    identity_members?;
    if let Some(raw) = top.event_id {
        let id = string_value(raw, "eventID")?;
        if !is_uuid(&id) {
            return Err(Rejection::new(
                RejectReason::InvalidEventId,
                format!(
                    "eventID {:?} is not a UUID (8-4-4-4-12 hex digits)",
                    truncate(&id)
                ),
            ));
        }
    }
    if let Some(raw) = top.event_version {
        let v = string_value(raw, "eventVersion")?;
        if !is_version(&v) {
            return Err(Rejection::new(
                RejectReason::InvalidEventVersion,
                format!("eventVersion {:?} is not of the form N.N", truncate(&v)),
            ));
        }
    }
    for (raw, name) in [
        (top.read_only, "readOnly"),
        (top.management_event, "managementEvent"),
    ] {
        if let Some(raw) = raw {
            if !matches!(raw, "true" | "false") {
                return Err(wrong(name, "a JSON boolean", Kind::of_text(raw)));
            }
        }
    }
    top.objects.into_iter().collect::<Check>()?;

    let secs = match &event_time {
        EventTime::Exact(s) | EventTime::Rewritten(_, s) => *s,
    };
    let bytes = rewrite(text, time_raw, &event_time, top.event_id.is_none());
    let time_at = offset_in(text, time_raw);
    let shift = match &event_time {
        EventTime::Exact(_) => 0,
        EventTime::Rewritten(canonical, _) => {
            (canonical.len() + 2) as isize - time_raw.len() as isize
        }
    };
    let sel = top.selector;
    let fields = RawFields {
        category: sel.event_category,
        read_only: top.read_only,
        management_event: top.management_event,
        strings: [
            top.event_source,
            top.event_name,
            sel.event_type,
            identity_arn,
            sel.session_credential_from_console,
            sel.error_code,
            sel.vpc_endpoint_id,
        ],
        resources: sel.resources,
    }
    .build(text, time_at, shift);
    Ok(Record {
        bytes,
        account,
        region,
        global_service: is_global_service(&event_source),
        event_time: secs,
        fields,
    })
}

fn resolve_account(
    recipient: Option<&str>,
    identity: Option<&str>,
    limits: &Limits,
) -> Result<AccountId, Rejection> {
    let (text, field) = if let Some(raw) = recipient {
        (
            string_value(raw, "recipientAccountId")?,
            "recipientAccountId",
        )
    } else if let Some(raw) = identity {
        (
            string_value(raw, "userIdentity.accountId")?,
            "userIdentity.accountId",
        )
    } else {
        return limits.default_account.ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidAccount,
                "record names no account (recipientAccountId, userIdentity.accountId) and no account_id is configured",
            )
        });
    };
    AccountId::parse(&text).ok_or_else(|| {
        Rejection::new(
            RejectReason::InvalidAccount,
            format!("{field} {:?} is not a 12-digit account id", truncate(&text)),
        )
    })
}

/// Builds the output bytes: unchanged unless eventTime needs rewriting or eventID is missing.
fn rewrite(text: &str, time_raw: &str, time: &EventTime, add_event_id: bool) -> Vec<u8> {
    let mut out = match time {
        EventTime::Exact(_) => text.as_bytes().to_vec(),
        EventTime::Rewritten(canonical, _) => {
            let start = offset_in(text, time_raw);
            let end = start + time_raw.len();
            let mut v = Vec::with_capacity(text.len() + 8);
            v.extend_from_slice(&text.as_bytes()[..start]);
            v.push(b'"');
            v.extend_from_slice(canonical.as_bytes());
            v.push(b'"');
            v.extend_from_slice(&text.as_bytes()[end..]);
            v
        }
    };
    if add_event_id {
        // The record ends with '}' (it parsed as an object and was trimmed): append a member.
        if let Some(close) = out.iter().rposition(|&c| c == b'}') {
            let inner_empty =
                out[..close].iter().rev().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
            let member = format!(
                "{}\"eventID\":\"{}\"",
                if inner_empty { "" } else { "," },
                new_uuid_v4()
            );
            out.splice(close..close, member.into_bytes());
        }
    }
    out
}

/// Byte offset of `inner` (a sub-slice) within `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

fn required_string<'a>(raw: Option<&'a str>, name: &str) -> Result<Cow<'a, str>, Rejection> {
    let raw = raw
        .ok_or_else(|| Rejection::new(RejectReason::MissingField, format!("{name} is missing")))?;
    string_value(raw, name)
}

/// Decodes a JSON string member (its JSON text), refusing any other JSON type.
fn string_value<'a>(s: &'a str, name: &str) -> Result<Cow<'a, str>, Rejection> {
    if !s.starts_with('"') {
        return Err(wrong(name, "a string", Kind::of_text(s)));
    }
    if !s.contains('\\') {
        return Ok(Cow::Borrowed(&s[1..s.len() - 1]));
    }
    serde_json::from_str::<String>(s)
        .map(Cow::Owned)
        .map_err(|e| Rejection::new(RejectReason::InvalidJson, format!("{name}: {e}")))
}

/// `8-4-4-4-12` hexadecimal digits (either case), as `java.util.UUID` prints them.
pub(crate) fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && [&b[..8], &b[9..13], &b[14..18], &b[19..23], &b[24..]]
            .iter()
            .all(|group| group.iter().all(u8::is_ascii_hexdigit))
}

/// `N.N`: digits, one dot, digits.
fn is_version(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 4
                && b.len() <= 4
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A random (version 4) UUID in canonical lowercase text.
pub(crate) fn new_uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

/// Shortens a value quoted in an error message.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"123456789012"},"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"b7d4398e-b2f0-4faa-9c76-e2d316a8d67f","readOnly":true}"#;

    fn limits() -> Limits {
        Limits {
            max_record_bytes: 262_144,
            default_account: AccountId::parse("999999999999"),
        }
    }

    fn reason(line: &str) -> RejectReason {
        validate(line.as_bytes(), &limits()).expect_err(line).reason
    }

    #[test]
    fn good_record_passes_byte_identical() {
        let r = validate(GOOD.as_bytes(), &limits()).expect("valid");
        assert_eq!(r.bytes, GOOD.as_bytes());
        assert_eq!(r.account.as_str(), "123456789012");
        assert_eq!(r.region.as_str(), "eu-west-1");
        assert!(!r.global_service);
    }

    #[test]
    fn recipient_account_wins_then_default() {
        let line = GOOD.replace(
            r#""readOnly":true"#,
            r#""readOnly":true,"recipientAccountId":"111122223333""#,
        );
        assert_eq!(
            validate(line.as_bytes(), &limits())
                .expect("ok")
                .account
                .as_str(),
            "111122223333"
        );
        let line = GOOD.replace(r#","accountId":"123456789012""#, "");
        assert_eq!(
            validate(line.as_bytes(), &limits())
                .expect("ok")
                .account
                .as_str(),
            "999999999999"
        );
        let no_default = Limits {
            default_account: None,
            ..limits()
        };
        assert_eq!(
            validate(line.as_bytes(), &no_default).expect_err("").reason,
            RejectReason::InvalidAccount
        );
    }

    #[test]
    fn event_time_rewritten_in_place() {
        let line = GOOD.replace("2024-01-02T03:04:05Z", "2024-01-02T05:04:05.123+02:00");
        let r = validate(line.as_bytes(), &limits()).expect("valid");
        assert_eq!(r.bytes, GOOD.as_bytes());
    }

    #[test]
    fn missing_event_id_is_appended() {
        let line = GOOD.replace(r#""eventID":"b7d4398e-b2f0-4faa-9c76-e2d316a8d67f","#, "");
        let r = validate(line.as_bytes(), &limits()).expect("valid");
        let text = String::from_utf8(r.bytes).expect("utf8");
        assert!(text.starts_with(&line[..line.len() - 1]));
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_uuid(v["eventID"].as_str().expect("id")));
    }

    #[test]
    fn rejections_name_reasons() {
        assert_eq!(reason("[1,2]"), RejectReason::NotAnObject);
        assert_eq!(reason("{\"a\":"), RejectReason::InvalidJson);
        assert_eq!(
            reason(&GOOD.replace("eu-west-1", "../x")),
            RejectReason::InvalidRegion
        );
        assert_eq!(
            reason(&GOOD.replace("eu-west-1", "US-EAST-1")),
            RejectReason::InvalidRegion
        );
        assert_eq!(
            reason(&GOOD.replace("2024-01-02T03:04:05Z", "nope")),
            RejectReason::InvalidEventTime
        );
        assert_eq!(
            reason(&GOOD.replace("2024-01-02T03:04:05Z", "2024-01-02 03:04:05Z")),
            RejectReason::InvalidEventTime
        );
        assert_eq!(
            reason(&GOOD.replace(r#""eventName":"GetObject","#, "")),
            RejectReason::MissingField
        );
        assert_eq!(
            reason(&GOOD.replace(r#""GetObject""#, "5")),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace("123456789012", "12345")),
            RejectReason::InvalidAccount
        );
        assert_eq!(
            reason(&GOOD.replace("b7d4398e-b2f0-4faa-9c76-e2d316a8d67f", "EXAMPLE")),
            RejectReason::InvalidEventId
        );
        assert_eq!(
            reason(&GOOD.replace(r#""1.08""#, "1.08")),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace(r#""1.08""#, r#""v1""#)),
            RejectReason::InvalidEventVersion
        );
        assert_eq!(
            reason(&GOOD.replace(r#""readOnly":true"#, r#""readOnly":"true""#)),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace(r#""readOnly":true"#, r#""resources":{}"#)),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace(r#""readOnly":true"#, r#""resources":[1]"#)),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace(r#""readOnly":true"#, r#""eventName":"X""#)),
            RejectReason::DuplicateField
        );
        let bad_ctx = GOOD.replace(
            r#""type":"IAMUser""#,
            r#""type":"IAMUser","sessionContext":"x""#,
        );
        assert_eq!(reason(&bad_ctx), RejectReason::WrongType);
        let invalid = [b"{\"a\":\"\xff\"}".as_slice()];
        assert_eq!(
            validate(invalid[0], &limits()).expect_err("").reason,
            RejectReason::InvalidUtf8
        );
    }

    #[test]
    fn null_is_not_absent() {
        let id = "\"b7d4398e-b2f0-4faa-9c76-e2d316a8d67f\"";
        assert_eq!(reason(&GOOD.replace(id, "null")), RejectReason::WrongType);
        assert_eq!(
            reason(&GOOD.replace("\"2024-01-02T03:04:05Z\"", "null")),
            RejectReason::WrongType
        );
        assert_eq!(
            reason(&GOOD.replace("\"1.08\"", "null")),
            RejectReason::WrongType
        );
        let ui = GOOD.replace(
            "{\"type\":\"IAMUser\",\"accountId\":\"123456789012\"}",
            "null",
        );
        assert_eq!(reason(&ui), RejectReason::WrongType);
    }

    #[test]
    fn size_limit_is_inclusive() {
        let n = GOOD.len();
        let at = Limits {
            max_record_bytes: n,
            ..limits()
        };
        assert!(validate(GOOD.as_bytes(), &at).is_ok());
        let below = Limits {
            max_record_bytes: n - 1,
            ..limits()
        };
        assert_eq!(
            validate(GOOD.as_bytes(), &below).expect_err("").reason,
            RejectReason::Oversize
        );
    }

    #[test]
    fn blank_lines_are_skipped() {
        assert_eq!(validate_line(b"  \r\n", &limits()), Ok(None));
        assert!(
            validate_line(format!("{GOOD}\r\n").as_bytes(), &limits())
                .expect("ok")
                .is_some()
        );
    }

    #[test]
    fn global_services_flagged() {
        let line = GOOD.replace("s3.amazonaws.com", "iam.amazonaws.com");
        assert!(
            validate(line.as_bytes(), &limits())
                .expect("ok")
                .global_service
        );
    }
}
