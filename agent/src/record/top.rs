//! The one parse of a record: the top-level members `validate` reads, with every typed member
//! checked on the way (see [`super::shape`] for the invariants).
//!
//! Invariants: the whole text is syntax-checked exactly as `serde_json::from_str` does; a known
//! member repeated at the top level stops the parse with serde's `duplicate field` error (as
//! the derived parser did); unknown members are skipped unchecked. Routing members and the
//! top-level leaves are captured raw for `validate`; typed objects come back as [`Check`]s.
//! The members only event selectors read ([`SelectorMembers`]) are captured raw too, without a
//! repeat check (a repeat keeps the last value), so they never change a record's verdict.
//!
//! Two ways to the same answer: the fast path ([`super::scan`] plus serde_json for the typed
//! objects only) answers for valid records whose checks pass; everything else gets the
//! serde_json parse, whose verdicts and messages are the reference.
//! `fast_path_tests.rs` holds the two to each other on the corpus and on mutated records.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::extras::Nested;
use super::identity::{Identity, IdentitySeed};
use super::resources::{Resource, ResourcesSeed};
use super::shape::{At, Check, Doc, Key, Scalars, index, parse_error, skip};
use super::validate::{RejectReason, Rejection};

/// The top-level members read at intake. A leaf is its JSON text as written (syntax-checked,
/// never decoded here); `None` is absent (JSON `null` is `Some("null")`).
pub(crate) struct TopLevel<'a> {
    pub event_source: Option<&'a str>,
    pub event_name: Option<&'a str>,
    pub aws_region: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub recipient_account_id: Option<&'a str>,
    pub user_identity: Option<Identity<'a>>,
    pub event_id: Option<&'a str>,
    pub event_version: Option<&'a str>,
    pub read_only: Option<&'a str>,
    pub management_event: Option<&'a str>,
    /// The members only event selectors read (see [`super::fields`]): `eventCategory`,
    /// `eventType`, `errorCode`, `vpcEndpointId`, `sessionCredentialFromConsole`, and the
    /// `ARN` / `type` of each `resources[]` object. Captured, never checked: a repeat keeps the
    /// last value.
    pub selector: SelectorMembers<'a>,
    /// `resources`, `addendum`, `tlsDetails`, `edgeDeviceDetails`, `insightDetails`: the
    /// order they are reported in.
    pub objects: [Check; 5],
}

/// Members captured for event selectors only.
#[derive(Default)]
pub(crate) struct SelectorMembers<'a> {
    pub event_category: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub vpc_endpoint_id: Option<&'a str>,
    pub session_credential_from_console: Option<&'a str>,
    pub resources: Vec<Resource<'a>>,
}

/// Known members: 0..15 are checked (a repeat stops the parse), 15.. are [`SelectorMembers`].
const FIELDS: [&str; 20] = [
    "eventSource",
    "eventName",
    "awsRegion",
    "eventTime",
    "recipientAccountId",
    "userIdentity",
    "eventID",
    "eventVersion",
    "readOnly",
    "managementEvent",
    "resources",
    "addendum",
    "tlsDetails",
    "edgeDeviceDetails",
    "insightDetails",
    "eventCategory",
    "eventType",
    "errorCode",
    "vpcEndpointId",
    "sessionCredentialFromConsole",
];
/// First index of [`FIELDS`] that is captured for selectors without a repeat check.
const SELECTOR_ONLY: usize = 15;
const ADDENDUM_SCALARS: &[&str] = &[
    "reason",
    "updatedFields",
    "originalRequestID",
    "originalEventID",
];
const TLS_SCALARS: &[&str] = &["tlsVersion", "cipherSuite", "clientProvidedHostHeader"];

/// Parses one record (a JSON object text) with all its typed-member checks.
///
/// The fast path ([`parse_fast`]) answers for a valid record whose checks all pass; anything
/// else — invalid JSON, a failed check, a key written with escapes — goes to the serde_json
/// parse: in one pass, and when that finds the text invalid, again in raw mode
/// ([`super::shape::dispatch`]), whose verdict stands.
pub(crate) fn parse(text: &str) -> Result<TopLevel<'_>, Rejection> {
    if let Some(top) = parse_fast(text) {
        return Ok(top);
    }
    parse_slow(text)
}

/// The serde_json parse alone (the fast path's reference in tests).
pub(super) fn parse_slow(text: &str) -> Result<TopLevel<'_>, Rejection> {
    parse_in(text, false).or_else(|e| match e.reason {
        RejectReason::InvalidJson => parse_in(text, true),
        _ => Err(e),
    })
}

/// [`super::scan`] walks the record and skips the members intake does not read; a known leaf
/// is captured as the text the scanner delimited, and each typed object goes through the same
/// [`Member`] seed the serde_json parse uses, on its own text. `Some` only when the whole text
/// is valid, no checked member repeats and every check passed: then the serde_json parse would
/// return the same members (the scanner's invariant).
pub(super) fn parse_fast(text: &str) -> Option<TopLevel<'_>> {
    let mut t = TopLevel::empty();
    let mut seen = 0u32;
    super::scan::object(text, |key, value| {
        let Some(i) = index(&FIELDS, key) else {
            return Some(());
        };
        if i < SELECTOR_ONLY {
            if seen & (1 << i) != 0 {
                return None;
            }
            seen |= 1 << i;
        }
        // A leaf is taken as the scanner found it: serde_json would capture the same text.
        if let Some(slot) = t.leaf(i) {
            *slot = Some(value);
            return Some(());
        }
        let at = At {
            doc: Doc(text),
            name: FIELDS[i],
            key: Some(key),
            raw: false,
        };
        // The commonest typed members are judged on the scanner's text when they pass.
        let passed = match i {
            5 => Identity::fast(value).map(|id| t.user_identity = Some(id)),
            _ => scalar_object(i, at).and_then(|rule| rule.fast(value)),
        };
        if passed.is_some() {
            return Some(());
        }
        let mut de = serde_json::Deserializer::from_str(value);
        Member { t: &mut t, i, at }.deserialize(&mut de).ok()?;
        de.end().ok()
    })?;
    t.passed().then_some(t)
}

fn parse_in(text: &str, raw: bool) -> Result<TopLevel<'_>, Rejection> {
    let mut de = serde_json::Deserializer::from_str(text);
    let top = Top {
        doc: Doc(text),
        raw,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top))
    .map_err(|e| parse_error(&e))?;
    Ok(top)
}

impl<'a> TopLevel<'a> {
    fn empty() -> Self {
        TopLevel {
            event_source: None,
            event_name: None,
            aws_region: None,
            event_time: None,
            recipient_account_id: None,
            user_identity: None,
            event_id: None,
            event_version: None,
            read_only: None,
            management_event: None,
            selector: SelectorMembers::default(),
            objects: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        }
    }

    /// Every typed-member check passed.
    fn passed(&self) -> bool {
        self.objects.iter().all(Result::is_ok)
            && self
                .user_identity
                .as_ref()
                .is_none_or(|id| id.shape.is_ok() && id.members.is_ok())
    }

    /// The slot of leaf member `FIELDS[i]`; `None` for the typed objects.
    fn leaf(&mut self, i: usize) -> Option<&mut Option<&'a str>> {
        let s = &mut self.selector;
        Some(match i {
            0 => &mut self.event_source,
            1 => &mut self.event_name,
            2 => &mut self.aws_region,
            3 => &mut self.event_time,
            4 => &mut self.recipient_account_id,
            6 => &mut self.event_id,
            7 => &mut self.event_version,
            8 => &mut self.read_only,
            9 => &mut self.management_event,
            15 => &mut s.event_category,
            16 => &mut s.event_type,
            17 => &mut s.error_code,
            18 => &mut s.vpc_endpoint_id,
            19 => &mut s.session_credential_from_console,
            _ => return None,
        })
    }
}

/// The rule of `FIELDS[i]` when it is an object of string members (`addendum`, `tlsDetails`;
/// their slots are `objects[i - 10]`), or null; both parses take it from here.
fn scalar_object(i: usize, at: At<'_>) -> Option<Scalars<'_>> {
    let only = match i {
        11 => ADDENDUM_SCALARS,
        12 => TLS_SCALARS,
        _ => return None,
    };
    Some(Scalars {
        at,
        only: Some(only),
        nullable: true,
    })
}

/// Reads the value of known member `FIELDS[i]` into `t`: the one step both parses share.
struct Member<'t, 'de> {
    t: &'t mut TopLevel<'de>,
    i: usize,
    at: At<'de>,
}

impl<'de> DeserializeSeed<'de> for Member<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let Member { t, i, at } = self;
        if let Some(rule) = scalar_object(i, at) {
            t.objects[i - 10] = rule.deserialize(d)?;
            return Ok(());
        }
        match i {
            5 => t.user_identity = Some(IdentitySeed(at).deserialize(d)?),
            10 => (t.objects[0], t.selector.resources) = ResourcesSeed(at).deserialize(d)?,
            13 => t.objects[3] = Nested::edge(at).deserialize(d)?,
            14 => t.objects[4] = Nested::insight(at).deserialize(d)?,
            _ => {
                let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?;
                if let Some(slot) = t.leaf(i) {
                    *slot = Some(raw.get());
                }
            }
        }
        Ok(())
    }
}

struct Top<'de> {
    doc: Doc<'de>,
    raw: bool,
}

impl<'de> DeserializeSeed<'de> for Top<'de> {
    type Value = TopLevel<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'de> {
    type Value = TopLevel<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a CloudTrail record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut t = TopLevel::empty();
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(Key)? {
            let Some(i) = index(&FIELDS, &key) else {
                skip(&mut map)?;
                continue;
            };
            if i < SELECTOR_ONLY {
                if seen & (1 << i) != 0 {
                    return Err(A::Error::duplicate_field(FIELDS[i]));
                }
                seen |= 1 << i;
            }
            let at = At {
                doc: self.doc,
                name: FIELDS[i],
                key: None,
                raw: self.raw,
            }
            .child(FIELDS[i], &key);
            map.next_value_seed(Member { t: &mut t, i, at })?;
        }
        Ok(t)
    }
}
