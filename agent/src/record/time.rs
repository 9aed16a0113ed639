//! `eventTime` handling: CloudTrail's exact form is `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds);
//! readers such as the CloudTrail Processing Library reject anything else, so any other RFC 3339
//! timestamp is rewritten to that form.
//!
//! "RFC 3339" is its `date-time` grammar (§5.6): date and time are separated by `T` (or `t`).
//! The space the §5.6 NOTE allows "by agreement" is refused, as `docs/intake-rules.md` says
//! (chrono's parser would take it).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Result of checking an `eventTime` value.
#[derive(Debug, PartialEq, Eq)]
pub enum EventTime {
    /// Already in the exact form; carries seconds since the epoch.
    Exact(i64),
    /// Valid RFC 3339 in another form: the canonical replacement text and epoch seconds.
    Rewritten(String, i64),
}

/// Checks `value` (the decoded JSON string) and returns its canonical form.
/// `None` when it is not an RFC 3339 timestamp (or lies outside years 0000–9999).
pub fn normalize_event_time(value: &str) -> Option<EventTime> {
    if let Some(secs) = parse_exact(value.as_bytes()) {
        return Some(EventTime::Exact(secs));
    }
    if !matches!(value.as_bytes().get(10), Some(b'T' | b't')) {
        return None; // chrono also accepts a space here; RFC 3339's grammar does not
    }
    let parsed = DateTime::parse_from_rfc3339(value)
        .ok()?
        .with_timezone(&Utc);
    let secs = parsed.timestamp();
    let whole = DateTime::<Utc>::from_timestamp(secs, 0)?;
    let text = whole.to_rfc3339_opts(SecondsFormat::Secs, true);
    if text.len() != 20 {
        return None; // year outside 0000..=9999 cannot be written in CloudTrail's form
    }
    Some(EventTime::Rewritten(text, secs))
}

/// Fast path for `YYYY-MM-DDTHH:MM:SSZ`, validating the calendar date.
fn parse_exact(b: &[u8]) -> Option<i64> {
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let dt = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(dt.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_form_passes() {
        assert_eq!(
            normalize_event_time("2014-03-06T21:22:54Z"),
            Some(EventTime::Exact(1394140974))
        );
    }

    #[test]
    fn other_forms_are_rewritten() {
        let want = |s: &str| Some(EventTime::Rewritten(s.to_string(), 1394140974));
        assert_eq!(
            normalize_event_time("2014-03-06T21:22:54.999Z"),
            want("2014-03-06T21:22:54Z")
        );
        assert_eq!(
            normalize_event_time("2014-03-06T23:22:54+02:00"),
            want("2014-03-06T21:22:54Z")
        );
        assert_eq!(
            normalize_event_time("2014-03-06t21:22:54z"),
            want("2014-03-06T21:22:54Z")
        );
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "yesterday",
            "2014-13-06T21:22:54Z",
            "2014-02-30T21:22:54Z",
            "1394140974",
            "2014-03-06 21:22:54",
            "2014-03-06 21:22:54Z",
            "2014-03-06 23:22:54+02:00",
            "2014-03-06T25:22:54Z",
        ] {
            assert_eq!(normalize_event_time(bad), None, "{bad}");
        }
    }
}
