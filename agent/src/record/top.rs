//! The one parse of a record: the top-level members `validate` reads, with every typed member
//! checked on the way (see [`super::shape`] for the invariants).
//!
//! Invariants: the whole text is syntax-checked exactly as `serde_json::from_str` does; a known
//! member repeated at the top level stops the parse with serde's `duplicate field` error (as
//! the derived parser did); unknown members are skipped unchecked. Routing members and the
//! top-level leaves are captured raw for `validate`; typed objects come back as [`Check`]s.
//! The members only event selectors read ([`SelectorMembers`]) are captured raw too, without a
//! repeat check (a repeat keeps the last value), so they never change a record's verdict.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::extras::Nested;
use super::identity::{Identity, IdentitySeed};
use super::resources::{Resource, ResourcesSeed};
use super::shape::{At, Check, Doc, Key, Scalars, index, parse_error, skip};
use super::validate::{RejectReason, Rejection};

/// The top-level members read at intake; a `None` leaf is absent (JSON `null` is `Some`).
pub(crate) struct TopLevel<'a> {
    pub event_source: Option<&'a RawValue>,
    pub event_name: Option<&'a RawValue>,
    pub aws_region: Option<&'a RawValue>,
    pub event_time: Option<&'a RawValue>,
    pub recipient_account_id: Option<&'a RawValue>,
    pub user_identity: Option<Identity<'a>>,
    pub event_id: Option<&'a RawValue>,
    pub event_version: Option<&'a RawValue>,
    pub read_only: Option<&'a RawValue>,
    pub management_event: Option<&'a RawValue>,
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
    pub event_category: Option<&'a RawValue>,
    pub event_type: Option<&'a RawValue>,
    pub error_code: Option<&'a RawValue>,
    pub vpc_endpoint_id: Option<&'a RawValue>,
    pub session_credential_from_console: Option<&'a RawValue>,
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

/// Parses one record (a JSON object text) with all its typed-member checks: in one pass, and
/// when that finds the text invalid, again in raw mode ([`super::shape::dispatch`]), whose
/// verdict stands.
pub(crate) fn parse(text: &str) -> Result<TopLevel<'_>, Rejection> {
    parse_in(text, false).or_else(|e| match e.reason {
        RejectReason::InvalidJson => parse_in(text, true),
        _ => Err(e),
    })
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
        let mut t = TopLevel {
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
        };
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(Key)? {
            let Some(i) = index(&FIELDS, &key) else {
                skip(&mut map)?;
                continue;
            };
            if i >= SELECTOR_ONLY {
                let value = Some(map.next_value()?);
                let m = &mut t.selector;
                match i {
                    15 => m.event_category = value,
                    16 => m.event_type = value,
                    17 => m.error_code = value,
                    18 => m.vpc_endpoint_id = value,
                    _ => m.session_credential_from_console = value,
                }
                continue;
            }
            if seen & (1 << i) != 0 {
                return Err(A::Error::duplicate_field(FIELDS[i]));
            }
            seen |= 1 << i;
            let at = At {
                doc: self.doc,
                name: FIELDS[i],
                key: None,
                raw: self.raw,
            }
            .child(FIELDS[i], &key);
            let scalars = |only| Scalars {
                at,
                only: Some(only),
                nullable: true,
            };
            match i {
                0 => t.event_source = Some(map.next_value()?),
                1 => t.event_name = Some(map.next_value()?),
                2 => t.aws_region = Some(map.next_value()?),
                3 => t.event_time = Some(map.next_value()?),
                4 => t.recipient_account_id = Some(map.next_value()?),
                5 => t.user_identity = Some(map.next_value_seed(IdentitySeed(at))?),
                6 => t.event_id = Some(map.next_value()?),
                7 => t.event_version = Some(map.next_value()?),
                8 => t.read_only = Some(map.next_value()?),
                9 => t.management_event = Some(map.next_value()?),
                10 => {
                    (t.objects[0], t.selector.resources) = map.next_value_seed(ResourcesSeed(at))?
                }
                11 => t.objects[1] = map.next_value_seed(scalars(ADDENDUM_SCALARS))?,
                12 => t.objects[2] = map.next_value_seed(scalars(TLS_SCALARS))?,
                13 => t.objects[3] = map.next_value_seed(Nested::edge(at))?,
                _ => t.objects[4] = map.next_value_seed(Nested::insight(at))?,
            }
        }
        Ok(t)
    }
}
