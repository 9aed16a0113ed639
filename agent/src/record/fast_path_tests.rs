//! The fast path of `top::parse` against the serde_json parse, on the real corpus, the
//! malformed corpus and tens of thousands of mutations of real records: whenever the fast path
//! answers, the serde_json parse must accept the same text with the same members.

use std::collections::HashMap;

use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use super::identity::{Identity, IdentitySeed};
use super::shape::{At, Doc};
use super::top::{TopLevel, parse_fast, parse_slow};
use super::validate::RejectReason;

fn lines(name: &str) -> Vec<String> {
    crate::test_corpus::read(name)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Everything the parse learned, as text, each leaf with its offset in `text` (spans for event
/// selectors are computed from it): equal summaries mean equal parses.
fn summary(text: &str, t: &TopLevel<'_>) -> String {
    let at = |s: &str| (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let leaf = |s: Option<&str>| s.map(|s| (at(s), s.to_owned()));
    let raw = |r: Option<&serde_json::value::RawValue>| leaf(r.map(|r| r.get()));
    let s = &t.selector;
    format!(
        "{:?}",
        (
            [
                leaf(t.event_source),
                leaf(t.event_name),
                leaf(t.aws_region),
                leaf(t.event_time),
                leaf(t.recipient_account_id),
                leaf(t.event_id),
                leaf(t.event_version),
                leaf(t.read_only),
                leaf(t.management_event),
            ],
            t.user_identity.as_ref().map(|id| {
                (
                    leaf(id.account_id),
                    leaf(id.arn),
                    id.shape.clone(),
                    id.members.clone(),
                )
            }),
            [
                leaf(s.event_category),
                leaf(s.event_type),
                leaf(s.error_code),
                leaf(s.vpc_endpoint_id),
                leaf(s.session_credential_from_console),
            ],
            s.resources
                .iter()
                .map(|(a, b)| (raw(*a), raw(*b)))
                .collect::<Vec<_>>(),
            &t.objects,
        )
    )
}

/// Checks one text; true when the fast path answered.
fn agrees(text: &str) -> bool {
    let Some(fast) = parse_fast(text) else {
        return false;
    };
    match parse_slow(text) {
        Ok(slow) => assert_eq!(summary(text, &fast), summary(text, &slow), "{text}"),
        Err(e) => panic!("fast path accepted what serde_json refuses ({e}): {text}"),
    }
    true
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One random edit of `text` at a char boundary, biased towards JSON's structural bytes.
fn mutate(text: &str, rng: &mut Rng) -> String {
    const INSERTS: &[&str] = &[
        "\"",
        "\\",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "0",
        "1",
        "-",
        ".",
        "e",
        "+",
        "t",
        "n",
        " ",
        "\u{1}",
        "\t",
        "\\u",
        "\\uD800",
        "\\x",
        "01",
        "1.",
        "tru",
        "null",
        "{}",
        "[]",
        "é",
        "\"eventSource\":\"a\",",
        "\"userIdentity\":{},",
        "\"resources\":1,",
    ];
    let mut at = rng.below(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let mut out = text.to_owned();
    match rng.below(7) {
        5 | 6 => return retype(text, rng).unwrap_or(out),
        0 => {
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            out.replace_range(at..end, "");
        }
        1 | 2 => out.insert_str(at, INSERTS[rng.below(INSERTS.len())]),
        3 => {
            let end = text[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            out.replace_range(at..end, INSERTS[rng.below(INSERTS.len())]);
        }
        _ => out.truncate(at),
    }
    out
}

/// Replaces the value of a random member (at any depth) with a value of another JSON type,
/// so type rules get exercised, not only syntax. `None` when `text` has no member value.
fn retype(text: &str, rng: &mut Rng) -> Option<String> {
    const VALUES: &[&str] = &[
        "1",
        "-2.5",
        "true",
        "null",
        "{}",
        "[]",
        "\"s\"",
        "{\"a\":1}",
        "{\"a\":\"b\"}",
        "[1]",
        "[{}]",
        "[\"x\"]",
    ];
    // A member value starts after `":` (the end of a key); values are found by the scanner.
    let starts: Vec<usize> = text.match_indices("\":").map(|(i, _)| i + 2).collect();
    let start = *starts.get(rng.below(starts.len()))?;
    let b = text.as_bytes();
    let end = super::scan::value(b, start)?;
    let mut out = text.to_owned();
    out.replace_range(start..end, VALUES[rng.below(VALUES.len())]);
    Some(out)
}

#[test]
fn fast_path_takes_the_valid_corpus_and_agrees_with_serde() {
    let records = lines("records.jsonl");
    let valid: Vec<&String> = records
        .iter()
        .filter(|l| parse_slow(l.trim()).is_ok())
        .collect();
    let fast = valid.iter().filter(|l| agrees(l.trim())).count();
    // Only records with escaped keys, repeats or failed checks may need the serde_json parse;
    // the real corpus has none of those in nearly every record.
    assert!(
        fast * 100 >= valid.len() * 99,
        "fast path took {fast} of {} valid records",
        valid.len()
    );
}

#[test]
fn fast_path_never_accepts_a_malformed_record() {
    for line in lines("malformed.jsonl") {
        let v: serde_json::Value = serde_json::from_str(&line).expect("malformed.jsonl is JSON");
        if let Some(text) = v["text"].as_str() {
            agrees(text.trim());
        }
    }
}

#[test]
fn fast_path_agrees_with_serde_on_mutated_records() {
    let records = lines("records.jsonl");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut tried, mut fast) = (0, 0);
    for line in &records {
        for k in 0..8 {
            // One, two or three edits of the real record.
            let mut text = line.trim().to_owned();
            for _ in 0..=k % 3 {
                text = mutate(&text, &mut rng);
            }
            tried += 1;
            fast += usize::from(agrees(&text));
        }
    }
    // Some mutations keep the record valid (a space, a digit inside a string): the fast path
    // must have been exercised on those, not only refused everything.
    assert!(
        fast > 5000,
        "fast path answered {fast} of {tried} mutations"
    );
}

/// `userIdentity` through [`Identity::fast`] and through its serde_json twin: whenever the fast
/// check answers, serde_json accepts the text with every rule passed and the same members.
/// True when the fast check answered.
fn identity_agrees(text: &str) -> bool {
    let Some(fast) = Identity::fast(text) else {
        return false;
    };
    let at = At {
        doc: Doc(text),
        name: "userIdentity",
        key: None,
        raw: false,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let slow = IdentitySeed(at)
        .deserialize(&mut de)
        .and_then(|id| de.end().map(|()| id))
        .unwrap_or_else(|e| panic!("fast check accepted what serde_json refuses ({e}): {text}"));
    let view = |id: &Identity<'_>| {
        let at = |s: Option<&str>| {
            s.map(|s| (s.as_ptr() as usize - text.as_ptr() as usize, s.to_owned()))
        };
        format!(
            "{:?}",
            (at(id.account_id), at(id.arn), &id.shape, &id.members)
        )
    };
    assert_eq!(view(&fast), view(&slow), "{text}");
    true
}

#[test]
fn identity_fast_check_agrees_with_serde_on_real_and_mutated_identities() {
    let records = lines("records.jsonl");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut real, mut real_fast, mut tried, mut fast) = (0, 0, 0, 0);
    for line in &records {
        let Ok(members) = serde_json::from_str::<HashMap<&str, &RawValue>>(line.trim()) else {
            continue;
        };
        let Some(identity) = members.get("userIdentity").map(|r| r.get()) else {
            continue;
        };
        real += 1;
        real_fast += usize::from(identity_agrees(identity));
        for k in 0..16 {
            let mut text = identity.to_owned();
            for _ in 0..=k % 3 {
                text = mutate(&text, &mut rng);
            }
            tried += 1;
            fast += usize::from(identity_agrees(&text));
        }
    }
    // Real identities pass every rule: the fast check must answer for (nearly) all of them.
    assert!(
        real_fast * 100 >= real * 99,
        "fast check took {real_fast} of {real} real identities"
    );
    assert!(
        fast > 10_000,
        "fast check answered {fast} of {tried} mutations"
    );
}

#[test]
fn fast_path_defers_what_it_does_not_judge() {
    let base = r#"{"eventSource":"s3.amazonaws.com","eventName":"X","awsRegion":"us-east-1","eventTime":"2024-01-02T03:04:05Z","recipientAccountId":"123456789012""#;
    // Each case with the serde_json parse's verdict: a rejection reason, or accepted (the
    // failed check then stands in the parsed members, for `validate` to report).
    let deep = format!(
        r#","requestParameters":{}1{}}}"#,
        "[".repeat(70),
        "]".repeat(70)
    );
    for (tail, verdict) in [
        // A key written with escapes (it decodes to a repeat of eventName).
        (
            r#","event\u004eame":"Y"}"#,
            Some(RejectReason::DuplicateField),
        ),
        // A checked member repeated.
        (r#","eventName":"Y"}"#, Some(RejectReason::DuplicateField)),
        // A failed check.
        (r#","userIdentity":{"type":{}}}"#, None),
        (r#","tlsDetails":[]}"#, None),
        // A string with a lone surrogate where an object is expected (serde_json decodes it).
        (r#","userIdentity":"\uD800"}"#, None),
        // Deeper than the scanner follows.
        (deep.as_str(), None),
    ] {
        let text = format!("{base}{tail}");
        assert!(parse_fast(&text).is_none(), "{text}");
        let slow = parse_slow(&text).err().map(|e| e.reason);
        assert_eq!(slow, verdict, "{text}");
    }
    // A selector-only member may repeat (the last one counts) on both paths; a leaf is never
    // decoded, so a lone surrogate in one is fine on both.
    for tail in [
        r#","errorCode":"A","errorCode":"B"}"#,
        r#","userIdentity":{"type":"\uD800"}}"#,
    ] {
        assert!(agrees(&format!("{base}{tail}")), "{tail}");
    }
}
