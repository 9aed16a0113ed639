//! Shape rules for the well-known fields CloudTrail readers depend on, checked *during* the one
//! parse of a record: the building blocks shared by [`super::top`], [`super::identity`] and
//! [`super::extras`].
//!
//! The CloudTrail Processing Library (CPL) parses these members with a streaming parser: a
//! nested object where it expects a scalar (or a scalar where it expects an object) either throws
//! — dropping the record *and every later record of the file* — or silently desynchronises the
//! parser, which then drops the rest of the file without an error. CloudTrail itself never emits
//! such records; neither does OpenTrail. Every rule is listed in `docs/intake-rules.md`.
//!
//! Invariants of every seed and visitor here:
//! - A broken rule never aborts the parse: it comes back as a [`Check`] (`Err(Rejection)`, the
//!   only allocation, and only on failure) so that `validate` reports rules in a fixed order,
//!   whatever order the members come in.
//! - A leaf is captured as a borrowed `&RawValue` and judged by its first byte, so its text is
//!   never decoded (a leaf's content cannot make a record invalid JSON).
//! - Members a rule does not name are skipped with `IgnoredAny`, unchecked and unlimited in depth,
//!   exactly as at the top level.
//! - A known member repeated inside a typed object is recorded as `duplicate_field` (first
//!   repeat only), named `<object>: duplicate field `<key>` at line L column C`, the position
//!   counted from the start of that object (left out when a key involved is written with
//!   escapes: it is then decoded into a buffer and cannot be placed).
//! - Outcomes do not depend on the pass: see [`dispatch`] for the one case the single pass
//!   cannot judge, and the retry that does.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::validate::{RejectReason, Rejection};

/// The outcome of one rule: `Err` carries the rejection to report.
pub(crate) type Check = Result<(), Rejection>;

/// The JSON type of a value, as named in rejection details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Object,
    Array,
    Boolean,
    Null,
    Number,
}

impl Kind {
    /// The type of a raw (already validated) JSON value, from its first byte.
    pub(crate) fn of(raw: &RawValue) -> Kind {
        Kind::of_text(raw.get())
    }

    /// The type of a validated JSON value's text, from its first byte.
    pub(crate) fn of_text(text: &str) -> Kind {
        match text.as_bytes().first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Boolean,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        }
    }

    fn got(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::Boolean => "a boolean",
            Kind::Null => "null",
            Kind::Number => "a number",
        }
    }
}

/// `{name} must be {want}, got {kind}` as a `wrong_type` rejection.
pub(crate) fn wrong(name: &str, want: &str, kind: Kind) -> Rejection {
    Rejection::new(
        RejectReason::WrongType,
        format!("{name} must be {want}, got {}", kind.got()),
    )
}

/// [`wrong`] for a raw value.
pub(crate) fn wrong_type(name: &str, want: &str, raw: &RawValue) -> Rejection {
    wrong(name, want, Kind::of(raw))
}

/// A string or `null` (the type of every scalar member CPL reads as text).
pub(crate) fn is_string_or_null(raw: &RawValue) -> bool {
    matches!(Kind::of(raw), Kind::String | Kind::Null)
}

/// [`is_string_or_null`] on a value's text as [`super::scan`] delimited it.
#[inline]
pub(crate) fn text_is_string_or_null(text: &str) -> bool {
    matches!(Kind::of_text(text), Kind::String | Kind::Null)
}

impl Scalars<'_> {
    /// This check on a value's text (see [`scalars_pass`]).
    pub(crate) fn fast(&self, text: &str) -> Option<()> {
        scalars_pass(text, self.only, self.nullable)
    }
}

/// The check [`Scalars`] makes, on a value's text as [`super::scan`] delimited it (the fast
/// path): `Some` only when the text is an object that passes it (or `null` when `nullable`).
/// `None` is no verdict: the serde_json parse decides.
pub(crate) fn scalars_pass(text: &str, only: Option<&[&str]>, nullable: bool) -> Option<()> {
    if text == "null" {
        return nullable.then_some(());
    }
    super::scan::object(text, |key, value| {
        (only.is_some_and(|only| !only.contains(&key)) || text_is_string_or_null(value))
            .then_some(())
    })
}

/// `name` must be a string or null when present.
pub(crate) fn string_or_null(raw: Option<&RawValue>, name: &str) -> Check {
    match raw {
        Some(r) if !is_string_or_null(r) => Err(wrong_type(name, "a string", r)),
        _ => Ok(()),
    }
}

/// `name` must be an object when present (its content unchecked).
pub(crate) fn some_object(raw: Option<&RawValue>, name: &str) -> Check {
    match raw {
        Some(r) if Kind::of(r) != Kind::Object => Err(wrong_type(name, "an object", r)),
        _ => Ok(()),
    }
}

/// A parse failure as a rejection: `duplicate_field` when a member was repeated,
/// `invalid_json` otherwise.
pub(crate) fn parse_error(e: &serde_json::Error) -> Rejection {
    let msg = e.to_string();
    let reason = if msg.starts_with("duplicate field") {
        RejectReason::DuplicateField
    } else {
        RejectReason::InvalidJson
    };
    Rejection::new(reason, msg)
}

/// The whole record text, to place borrowed keys (positions in duplicate-member details).
#[derive(Clone, Copy)]
pub(crate) struct Doc<'de>(pub &'de str);

impl<'de> Doc<'de> {
    /// Byte offset of `s` in the record, when `s` borrows from it.
    fn offset(self, s: &str) -> Option<usize> {
        let base = self.0.as_ptr() as usize;
        let at = (s.as_ptr() as usize).checked_sub(base)?;
        (at + s.len() <= self.0.len()).then_some(at)
    }

    /// Offset of the value that follows the member key `key` (borrowed from the record).
    fn value_start(self, key: &str) -> Option<usize> {
        let b = self.0.as_bytes();
        let mut i = self.offset(key)? + key.len() + 1;
        let ws = |i: &mut usize| {
            while b
                .get(*i)
                .is_some_and(|c| matches!(c, b' ' | b'\n' | b'\t' | b'\r'))
            {
                *i += 1;
            }
        };
        ws(&mut i);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i += 1;
        ws(&mut i);
        Some(i)
    }
}

/// A member key: borrowed from the record unless it holds escapes.
pub(crate) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Where a typed object sits: its dotted name, the record, and the key it is the value of.
#[derive(Clone, Copy)]
pub(crate) struct At<'de> {
    pub doc: Doc<'de>,
    pub name: &'static str,
    /// The member key holding this object, when borrowed (to place duplicate members).
    pub key: Option<&'de str>,
    /// Raw mode (see [`dispatch`]).
    pub raw: bool,
}

impl<'de> At<'de> {
    /// The value of member `key` (named `name`) inside this object.
    pub(crate) fn child(self, name: &'static str, key: &Cow<'de, str>) -> At<'de> {
        At {
            name,
            key: match key {
                Cow::Borrowed(k) => Some(k),
                Cow::Owned(_) => None,
            },
            ..self
        }
    }
}

/// The known members an object has shown so far, and the first one it repeated.
pub(crate) struct Members<'de> {
    at: At<'de>,
    seen: u32,
    pub dup: Check,
}

impl<'de> Members<'de> {
    pub(crate) fn new(at: At<'de>) -> Self {
        Self {
            at,
            seen: 0,
            dup: Ok(()),
        }
    }

    /// Notes known member `i` (< 32); false when it was seen before (and records the repeat).
    pub(crate) fn first_time(&mut self, i: usize, key: &str) -> bool {
        let bit = 1u32 << i;
        if self.seen & bit == 0 {
            self.seen |= bit;
            return true;
        }
        if self.dup.is_ok() {
            self.dup = Err(self.duplicate(key));
        }
        false
    }

    /// What serde's derive says, positioned as it would be in the object's own text.
    fn duplicate(&self, key: &str) -> Rejection {
        let mut detail = format!("{}: duplicate field `{key}`", self.at.name);
        let doc = self.at.doc;
        let start = self.at.key.and_then(|k| doc.value_start(k));
        // A key written with escapes was decoded into a buffer: not in the record, no position.
        let end = doc.offset(key).map(|o| o + key.len() + 1);
        let text = start.zip(end).and_then(|(s, e)| doc.0.as_bytes().get(s..e));
        if let Some(text) = text {
            let line = 1 + text.iter().filter(|&&c| c == b'\n').count();
            let column = text.iter().rev().take_while(|&&c| c != b'\n').count();
            detail.push_str(&format!(" at line {line} column {column}"));
        }
        Rejection::new(RejectReason::DuplicateField, detail)
    }
}

/// The first failed check, in the order given.
pub(crate) fn first<const N: usize>(checks: [Check; N]) -> Check {
    checks.into_iter().collect()
}

/// Index of `key` in `names`.
pub(crate) fn index(names: &[&str], key: &str) -> Option<usize> {
    names.iter().position(|n| *n == key)
}

/// A visitor for one typed member: an object (or array) it checks, any other JSON type it judges
/// by [`Kind`] alone.
pub(crate) trait Typed<'de>: Visitor<'de> + Sized {
    fn at(&self) -> At<'de>;
    /// The value for a member of another JSON type than the one this visitor checks.
    fn other(self, kind: Kind) -> Self::Value;
    /// The value for a member whose own text would not parse (raw mode only).
    fn unreadable(rejection: Rejection) -> Self::Value;
}

/// Runs a typed visitor on the next value.
///
/// Normally it visits the value in place (one pass). That decodes whatever stands where an
/// object is expected, so a string with a lone-surrogate escape or a number beyond `f64`, which
/// the record-level syntax check accepts, would fail the parse there. Raw mode (`At::raw`, the
/// retry `top::parse` makes after such a failure) first captures the value raw, judges a
/// non-container by its first byte, and parses a container from its own text: the member's
/// defects are then reported as its own rule says (a name that does not decode:
/// `invalid_json` naming the member), in the usual order.
pub(crate) fn dispatch<'de, T: Typed<'de>, D: Deserializer<'de>>(
    t: T,
    d: D,
) -> Result<T::Value, D::Error> {
    if !t.at().raw {
        return d.deserialize_any(t);
    }
    let raw = <&'de RawValue as serde::Deserialize>::deserialize(d)?;
    match Kind::of(raw) {
        Kind::Object | Kind::Array => {
            let name = t.at().name;
            let mut de = serde_json::Deserializer::from_str(raw.get());
            Ok(de.deserialize_any(t).unwrap_or_else(|e| {
                T::unreadable(Rejection::new(
                    RejectReason::InvalidJson,
                    format!("{name}: {e}"),
                ))
            }))
        }
        kind => Ok(t.other(kind)),
    }
}

/// Implements `expecting` and the `visit_*` methods of every JSON type a typed visitor does not
/// handle itself, each consuming the value and answering `self.other(Kind::…)`. Pass `map`
/// and/or `seq` for the container types to treat as "other".
macro_rules! other_types {
    ($($container:ident),*) => {
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::Boolean))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::Number))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::Number))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::Number))
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::String))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(self.other($crate::record::shape::Kind::Null))
        }
        $(other_types!(@$container);)*
    };
    (@map) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(self.other($crate::record::shape::Kind::Object))
        }
    };
    (@seq) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(self.other($crate::record::shape::Kind::Array))
        }
    };
}
pub(crate) use other_types;

/// An object whose members — all of them, or those named in `only` — are strings or null.
/// A `null` in place of the object passes when `nullable`.
pub(crate) struct Scalars<'de> {
    pub at: At<'de>,
    pub only: Option<&'static [&'static str]>,
    pub nullable: bool,
}

impl<'de> Typed<'de> for Scalars<'de> {
    fn at(&self) -> At<'de> {
        self.at
    }
    fn other(self, kind: Kind) -> Check {
        if kind == Kind::Null && self.nullable {
            Ok(())
        } else {
            Err(wrong(self.at.name, "an object", kind))
        }
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for Scalars<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for Scalars<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let mut check = Ok(());
        while let Some(key) = map.next_key_seed(Key)? {
            let value: &RawValue = map.next_value()?;
            if check.is_ok()
                && !is_string_or_null(value)
                && self.only.is_none_or(|only| only.contains(&key.as_ref()))
            {
                check = Err(wrong_type(
                    &format!("{}.{key}", self.at.name),
                    "a string",
                    value,
                ));
            }
        }
        Ok(check)
    }
}

/// An array of objects (`insightContext.attributions`; `resources` is [`super::resources`]); elements
/// are captured raw.
pub(crate) struct Objects<'de>(pub At<'de>);

impl<'de> Typed<'de> for Objects<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Check {
        Err(wrong(self.0.name, "an array of objects", kind))
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for Objects<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for Objects<'de> {
    type Value = Check;
    other_types!(map);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Check, A::Error> {
        let mut check = Ok(());
        let mut i = 0usize;
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            if check.is_ok() && Kind::of(item) != Kind::Object {
                check = Err(wrong_type(
                    &format!("{}[{i}]", self.0.name),
                    "an object",
                    item,
                ));
            }
            i += 1;
        }
        Ok(check)
    }
}

/// Skips a member value (unchecked, unlimited depth).
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}
#[cfg(test)]
mod tests {
    use super::super::validate::{Limits, validate};
    use super::*;

    const BASE: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","accountId":"123456789012","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::123456789012:role/R"},"attributes":{"creationDate":"2024-01-01T00:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"eu-west-1","eventID":"b7d4398e-b2f0-4faa-9c76-e2d316a8d67f","tlsDetails":{"tlsVersion":"TLSv1.3","keyExchange":{"x":1}},"resources":[{"ARN":"a","type":"t"}]}"#;

    fn detail(line: &str) -> Option<String> {
        validate(line.as_bytes(), &Limits::default())
            .err()
            .map(|r| {
                assert_eq!(r.reason, RejectReason::WrongType, "{r}");
                r.detail
            })
    }

    #[test]
    fn well_formed_nested_fields_pass() {
        assert_eq!(detail(BASE), None);
        // Unknown members may hold anything, even inside typed objects.
        assert_eq!(
            detail(&BASE.replace(r#""keyExchange":{"x":1}"#, r#""keyExchange":[1]"#)),
            None
        );
        assert_eq!(
            detail(&BASE.replace(
                r#""resources":[{"ARN":"a","type":"t"}]"#,
                r#""addendum":null"#
            )),
            None
        );
    }

    #[test]
    fn string_maps_take_null_values() {
        let web = BASE.replace(
            r#""attributes":{"creationDate""#,
            r#""webIdFederationData":{"federatedProvider":null,"attributes":{"aud":null}},"attributes":{"creationDate""#,
        );
        assert_eq!(detail(&web), None);
        let edge = BASE.replace(
            r#""resources":[{"ARN":"a","type":"t"}]"#,
            r#""edgeDeviceDetails":{"type":"outposts","attributes":{"rack":null}}"#,
        );
        assert_eq!(detail(&edge), None);
    }

    #[test]
    fn typed_objects_skip_unknown_members_of_any_depth() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let line = BASE.replace(r#"{"x":1}"#, &deep);
        assert_eq!(detail(&line), None);
    }

    fn rejection(line: &str) -> Rejection {
        validate(line.as_bytes(), &Limits::default()).expect_err(line)
    }

    #[test]
    fn nested_repeats_are_placed_in_their_object() {
        // Positions count from the start of the object holding the repeat, as serde's derive
        // reported them when the object was parsed on its own (expected texts: the previous,
        // two-pass implementation's output for the same lines).
        let line = BASE.replace(
            r#""sessionContext":{"#,
            "\"sessionContext\":{\n \"attributes\":{},",
        );
        let r = rejection(&line);
        assert_eq!(r.reason, RejectReason::DuplicateField);
        assert_eq!(
            r.detail,
            "userIdentity.sessionContext: duplicate field `attributes` at line 2 column 102"
        );
        let line = BASE.replace(r#""type":"AssumedRole","#, r#""type":"A","type":"B","#);
        assert_eq!(
            rejection(&line).detail,
            "userIdentity: duplicate field `type` at line 1 column 18"
        );
        // A repeat at the top level stops the parse, with serde's own message.
        let line = BASE.replace(
            r#""eventName":"GetObject","#,
            r#""eventName":"A","eventName":"B","#,
        );
        let r = rejection(&line);
        assert_eq!(r.reason, RejectReason::DuplicateField);
        assert!(
            r.detail
                .starts_with("duplicate field `eventName` at line 1 column"),
            "{r}"
        );
    }

    #[test]
    fn rules_report_in_a_fixed_order_not_document_order() {
        // A later top-level rule breaks first in the document: the earlier rule is reported.
        let line = BASE
            .replace(r#""tlsVersion":"TLSv1.3""#, r#""tlsVersion":1"#)
            .replace(r#""eventVersion":"1.08""#, r#""eventVersion":"x""#);
        assert_eq!(rejection(&line).reason, RejectReason::InvalidEventVersion);
        // Inside userIdentity, `type` is reported before a sessionContext repeat.
        let line = BASE
            .replace(
                r#""sessionContext":{"#,
                r#""sessionContext":{"attributes":{},"#,
            )
            .replace(r#""type":"AssumedRole""#, r#""type":1"#);
        assert!(rejection(&line).detail.starts_with("userIdentity.type"));
        // edgeDeviceDetails: its string members before a repeated `attributes`.
        let line = BASE.replace(
            r#""resources":[{"ARN":"a","type":"t"}]"#,
            r#""edgeDeviceDetails":{"attributes":{},"attributes":{},"deviceId":5}"#,
        );
        assert!(
            rejection(&line)
                .detail
                .starts_with("edgeDeviceDetails.deviceId")
        );
        // The account is resolved after userIdentity's shape, before its members.
        let line = BASE
            .replace("123456789012", "12")
            .replace(r#""type":"AssumedRole""#, r#""type":1"#);
        assert_eq!(rejection(&line).reason, RejectReason::InvalidAccount);
    }

    #[test]
    fn undecodable_values_keep_their_rule() {
        // Valid JSON syntax that only fails when decoded (a lone surrogate, a number beyond
        // f64) where an object is expected: the member's own rule, not invalid_json.
        for (bad, want) in [
            (r#""\ud800""#, "tlsDetails must be an object, got a string"),
            ("1e400", "tlsDetails must be an object, got a number"),
        ] {
            let line = BASE.replace(r#"{"tlsVersion":"TLSv1.3","keyExchange":{"x":1}}"#, bad);
            assert_eq!(detail(&line).as_deref(), Some(want), "{line}");
        }
        // A member name that does not decode, inside a typed object: invalid_json naming it.
        let line = BASE.replace(r#"{"x":1}"#, r#"{"x":1},"\udc00":1"#);
        let r = rejection(&line);
        assert_eq!(r.reason, RejectReason::InvalidJson);
        assert!(r.detail.starts_with("tlsDetails: "), "{r}");
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases = [
            (
                r#""type":"AssumedRole""#,
                r#""type":{"a":1}"#,
                "userIdentity.type",
            ),
            (
                r#""type":"AssumedRole""#,
                r#""type":"AssumedRole","userName":["x"]"#,
                "userIdentity.userName",
            ),
            (
                r#""mfaAuthenticated":"false""#,
                r#""mfaAuthenticated":{"b":false}"#,
                "userIdentity.sessionContext.attributes.mfaAuthenticated",
            ),
            (
                r#""sessionIssuer":{"type":"Role","#,
                r#""sessionIssuer":{"type":["Role"],"#,
                "userIdentity.sessionContext.sessionIssuer.type",
            ),
            (
                r#""attributes":{"creationDate""#,
                r#""webIdFederationData":5,"attributes":{"creationDate""#,
                "userIdentity.sessionContext.webIdFederationData",
            ),
            (
                r#""tlsVersion":"TLSv1.3""#,
                r#""tlsVersion":1.3"#,
                "tlsDetails.tlsVersion",
            ),
            (
                r#""resources":[{"ARN":"a","type":"t"}]"#,
                r#""addendum":{"updatedFields":["a"]}"#,
                "addendum.updatedFields",
            ),
            (
                r#""resources":[{"ARN":"a","type":"t"}]"#,
                r#""edgeDeviceDetails":"x""#,
                "edgeDeviceDetails",
            ),
            (
                r#""resources":[{"ARN":"a","type":"t"}]"#,
                r#""insightDetails":{"insightContext":{"statistics":{"baseline":7}}}"#,
                "insightDetails.insightContext.statistics.baseline",
            ),
            (
                r#""resources":[{"ARN":"a","type":"t"}]"#,
                r#""resources":[{"ARN":"a"},null]"#,
                "resources[1]",
            ),
            (
                r#""type":"AssumedRole""#,
                r#""type":"AssumedRole","onBehalfOf":null"#,
                "userIdentity.onBehalfOf",
            ),
        ];
        for (from, to, field) in cases {
            let line = BASE.replace(from, to);
            assert_ne!(line, BASE, "{from}");
            let d = detail(&line).unwrap_or_else(|| panic!("{field} accepted"));
            assert!(d.starts_with(field), "{d} should name {field}");
        }
    }
}
