//! `edgeDeviceDetails` and `insightDetails`, checked while the record is parsed (see
//! [`super::shape`] for the invariants; `tlsDetails` and `addendum` are plain
//! [`Scalars`](super::shape::Scalars) objects).
//!
//! Both may be `null`. Reported in this order, each only when the ones before pass:
//! - `edgeDeviceDetails`: its string members (the first wrong one in document order), a repeated
//!   `attributes`, then `attributes` (an object of strings or nulls);
//! - `insightDetails`: its string members, a repeated `insightContext`, then `insightContext`:
//!   an object (repeats, `statistics` — an object: repeats, object `baseline`, object `insight` —
//!   then `attributions`, an array of objects).

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::shape::{
    At, Check, Key, Kind, Members, Objects, Scalars, Typed, dispatch, first, index,
    is_string_or_null, other_types, skip, some_object, wrong, wrong_type,
};
use super::validate::Rejection;

const EDGE: &str = "edgeDeviceDetails";
const EDGE_SCALARS: &[&str] = &["type", "snowJobId", "deviceId", "deviceFamily"];
const INSIGHT: &str = "insightDetails";
const INSIGHT_SCALARS: &[&str] = &[
    "eventName",
    "eventSource",
    "insightType",
    "state",
    "errorCode",
];
const CONTEXT: &str = "insightDetails.insightContext";
const STATISTICS: &str = "insightDetails.insightContext.statistics";

/// `edgeDeviceDetails` or `insightDetails`: null, or an object with string-or-null members and
/// one more typed member (`attributes`, `insightContext`), checked after them.
pub(crate) struct Nested<'de> {
    at: At<'de>,
    edge: bool,
}

impl<'de> Nested<'de> {
    /// `edgeDeviceDetails` (`at` is the member's place in the record).
    pub(crate) fn edge(at: At<'de>) -> Self {
        let at = At { name: EDGE, ..at };
        Self { at, edge: true }
    }

    /// `insightDetails`.
    pub(crate) fn insight(at: At<'de>) -> Self {
        let at = At {
            name: INSIGHT,
            ..at
        };
        Self { at, edge: false }
    }
}

impl<'de> Typed<'de> for Nested<'de> {
    fn at(&self) -> At<'de> {
        self.at
    }
    fn other(self, kind: Kind) -> Check {
        match kind {
            Kind::Null => Ok(()),
            _ => Err(wrong(self.at.name, "an object", kind)),
        }
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for Nested<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for Nested<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let at = self.at;
        let (scalars, nested_key) = if self.edge {
            (EDGE_SCALARS, "attributes")
        } else {
            (INSIGHT_SCALARS, "insightContext")
        };
        let mut seen = Members::new(at);
        let mut scalar: Check = Ok(());
        let mut nested: Check = Ok(());
        while let Some(key) = map.next_key_seed(Key)? {
            if key == nested_key {
                if !seen.first_time(0, &key) || seen.dup.is_err() {
                    skip(&mut map)?;
                } else if self.edge {
                    nested = map.next_value_seed(Scalars {
                        at: at.child("edgeDeviceDetails.attributes", &key),
                        only: None,
                        nullable: false,
                    })?;
                } else {
                    nested = map.next_value_seed(ContextSeed(at.child(CONTEXT, &key)))?;
                }
            } else if scalars.contains(&key.as_ref()) {
                let value: &RawValue = map.next_value()?;
                if scalar.is_ok() && !is_string_or_null(value) {
                    scalar = Err(wrong_type(&format!("{}.{key}", at.name), "a string", value));
                }
            } else {
                skip(&mut map)?;
            }
        }
        Ok(first([scalar, seen.dup, nested]))
    }
}

/// `insightDetails.insightContext`: an object (not null).
pub(crate) struct ContextSeed<'de>(At<'de>);

const CONTEXT_MEMBERS: [&str; 2] = ["statistics", "attributions"];

impl<'de> Typed<'de> for ContextSeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Check {
        Err(wrong(CONTEXT, "an object", kind))
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for ContextSeed<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for ContextSeed<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let at = self.0;
        let mut seen = Members::new(at);
        let mut checks: [Check; 2] = [Ok(()), Ok(())];
        while let Some(key) = map.next_key_seed(Key)? {
            let Some(i) = index(&CONTEXT_MEMBERS, &key) else {
                skip(&mut map)?;
                continue;
            };
            if !seen.first_time(i, &key) || seen.dup.is_err() {
                skip(&mut map)?;
                continue;
            }
            checks[i] = if i == 0 {
                map.next_value_seed(StatisticsSeed(at.child(STATISTICS, &key)))?
            } else {
                map.next_value_seed(Objects(
                    at.child("insightDetails.insightContext.attributions", &key),
                ))?
            };
        }
        let [statistics, attributions] = checks;
        Ok(first([seen.dup, statistics, attributions]))
    }
}

/// `insightDetails.insightContext.statistics`: an object (not null) whose `baseline` and
/// `insight` are objects.
struct StatisticsSeed<'de>(At<'de>);

const STATISTICS_MEMBERS: [&str; 2] = ["baseline", "insight"];
const STATISTICS_NAMES: [&str; 2] = [
    "insightDetails.insightContext.statistics.baseline",
    "insightDetails.insightContext.statistics.insight",
];

impl<'de> Typed<'de> for StatisticsSeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Check {
        Err(wrong(STATISTICS, "an object", kind))
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for StatisticsSeed<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for StatisticsSeed<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let mut seen = Members::new(self.0);
        let mut raws: [Option<&'de RawValue>; 2] = [None, None];
        while let Some(key) = map.next_key_seed(Key)? {
            match index(&STATISTICS_MEMBERS, &key) {
                Some(i) if seen.first_time(i, &key) && seen.dup.is_ok() => {
                    raws[i] = Some(map.next_value()?);
                }
                _ => skip(&mut map)?,
            }
        }
        let [baseline, insight] = raws;
        Ok(first([
            seen.dup,
            some_object(baseline, STATISTICS_NAMES[0]),
            some_object(insight, STATISTICS_NAMES[1]),
        ]))
    }
}
