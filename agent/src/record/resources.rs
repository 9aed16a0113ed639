//! `resources`: an array of objects (the rule of [`super::shape::Objects`], with the same
//! details), whose `ARN` and `type` members are captured for event selectors on the way.
//!
//! Invariants: the verdict is exactly `Objects`' (an element that is not an object is reported
//! as `resources[i] must be an object`, the first one only); the members of an element are not
//! checked, and a repeated `ARN` or `type` keeps its last value. In raw mode (see
//! [`super::shape::dispatch`]) an element is captured raw first and its members are read from
//! its own text; when that text does not decode (a member name with a lone-surrogate escape)
//! the element still passes, with no `ARN` / `type`.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::shape::{At, Check, Key, Kind, Typed, dispatch, other_types, skip, wrong};
use super::validate::Rejection;

/// `(ARN, type)` of one `resources[]` object, raw (either may be absent or not a string).
pub(crate) type Resource<'a> = (Option<&'a RawValue>, Option<&'a RawValue>);

/// Parses `resources`: the [`Check`] of the rule and the captured members of each object.
pub(crate) struct ResourcesSeed<'de>(pub At<'de>);

type Value<'de> = (Check, Vec<Resource<'de>>);

impl<'de> Typed<'de> for ResourcesSeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Value<'de> {
        (
            Err(wrong(self.0.name, "an array of objects", kind)),
            Vec::new(),
        )
    }
    fn unreadable(rejection: Rejection) -> Value<'de> {
        (Err(rejection), Vec::new())
    }
}

impl<'de> DeserializeSeed<'de> for ResourcesSeed<'de> {
    type Value = Value<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed<'de> {
    type Value = Value<'de>;
    other_types!(map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut check = Ok(());
        let mut found = Vec::new();
        let mut i = 0usize;
        while let Some(item) = seq.next_element_seed(Element { raw: self.0.raw })? {
            match item {
                Ok(members) => found.push(members),
                Err(kind) => {
                    if check.is_ok() {
                        check = Err(wrong(&format!("{}[{i}]", self.0.name), "an object", kind));
                    }
                }
            }
            i += 1;
        }
        Ok((check, found))
    }
}

/// One element: its members when it is an object, else its JSON type.
struct Element {
    raw: bool,
}

type ElementValue<'de> = Result<Resource<'de>, Kind>;

impl<'de> DeserializeSeed<'de> for Element {
    type Value = ElementValue<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if !self.raw {
            return d.deserialize_any(Members);
        }
        let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?;
        if Kind::of(raw) != Kind::Object {
            return Ok(Err(Kind::of(raw)));
        }
        let mut de = serde_json::Deserializer::from_str(raw.get());
        Ok(Ok(de
            .deserialize_any(Members)
            .ok()
            .and_then(Result::ok)
            .unwrap_or((None, None))))
    }
}

/// Captures `ARN` and `type` of an object; any other type answers its [`Kind`].
struct Members;

impl Members {
    fn other<'de>(self, kind: Kind) -> Result<Resource<'de>, Kind> {
        Err(kind)
    }
}

impl<'de> Visitor<'de> for Members {
    type Value = Result<Resource<'de>, Kind>;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut arn, mut kind) = (None, None);
        while let Some(key) = map.next_key_seed(Key)? {
            match key.as_ref() {
                "ARN" => arn = Some(map.next_value::<&'de RawValue>()?),
                "type" => kind = Some(map.next_value::<&'de RawValue>()?),
                _ => skip(&mut map)?,
            }
        }
        Ok(Ok((arn, kind)))
    }
}
