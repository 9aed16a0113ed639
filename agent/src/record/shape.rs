//! Shape rules for nested well-known fields: the JSON types CloudTrail readers depend on.
//!
//! The CloudTrail Processing Library (CPL) parses these members with a streaming parser: a
//! nested object where it expects a scalar (or a scalar where it expects an object) either throws
//! — dropping the record *and every later record of the file* — or silently desynchronises the
//! parser, which then drops the rest of the file without an error. CloudTrail itself never emits
//! such records; neither does OpenTrail. Every rule here is listed in `docs/intake-rules.md`.
//!
//! All checks borrow from the input (no allocation); unknown members are ignored.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::validate::{RejectReason, Rejection};

type Raw<'a> = Option<&'a RawValue>;

/// Deserializes a member as `Some(raw)` even when it is JSON `null` (plain `Option` would turn
/// `null` into `None`, making `"eventID": null` look absent).
pub(crate) fn present<'de: 'a, 'a, D: serde::Deserializer<'de>>(d: D) -> Result<Raw<'a>, D::Error> {
    <&'a RawValue>::deserialize(d).map(Some)
}

/// `userIdentity` members read with a typed parser.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Identity<'a> {
    #[serde(borrow, deserialize_with = "present")]
    pub account_id: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    session_context: Raw<'a>,
    #[serde(borrow, deserialize_with = "present", rename = "type")]
    kind: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    principal_id: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    arn: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    access_key_id: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    user_name: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    invoked_by: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    identity_provider: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    credential_id: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    on_behalf_of: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    in_scope_of: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    invoked_by_delegate: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow, deserialize_with = "present")]
    attributes: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    session_issuer: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    web_id_federation_data: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct WebIdFederation<'a> {
    #[serde(borrow, deserialize_with = "present")]
    federated_provider: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    attributes: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct EdgeDevice<'a> {
    #[serde(borrow, deserialize_with = "present")]
    attributes: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InsightDetails<'a> {
    #[serde(borrow, deserialize_with = "present")]
    insight_context: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct InsightContext<'a> {
    #[serde(borrow, deserialize_with = "present")]
    statistics: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    attributions: Raw<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Statistics<'a> {
    #[serde(borrow, deserialize_with = "present")]
    baseline: Raw<'a>,
    #[serde(borrow, deserialize_with = "present")]
    insight: Raw<'a>,
}

/// Top-level members checked here (the routing members are checked by `validate`).
pub(crate) struct TopLevelShapes<'a> {
    pub insight_details: Raw<'a>,
    pub addendum: Raw<'a>,
    pub tls_details: Raw<'a>,
    pub edge_device_details: Raw<'a>,
}

/// Scalar members (string or null) of objects CPL types, by object.
const ADDENDUM_SCALARS: &[&str] = &[
    "reason",
    "updatedFields",
    "originalRequestID",
    "originalEventID",
];
const TLS_SCALARS: &[&str] = &["tlsVersion", "cipherSuite", "clientProvidedHostHeader"];
const EDGE_SCALARS: &[&str] = &["type", "snowJobId", "deviceId", "deviceFamily"];
const INSIGHT_SCALARS: &[&str] = &[
    "eventName",
    "eventSource",
    "insightType",
    "state",
    "errorCode",
];
const ISSUER_SCALARS: &[&str] = &["type", "principalId", "arn", "accountId", "userName"];
const ON_BEHALF_SCALARS: &[&str] = &["userId", "identityStoreArn"];
const IN_SCOPE_SCALARS: &[&str] = &[
    "sourceArn",
    "sourceAccount",
    "issuerType",
    "credentialsIssuedTo",
];
const DELEGATE_SCALARS: &[&str] = &["accountId"];

/// Checks `userIdentity` (already known to be an object and parsed into `id`).
pub(crate) fn check_identity(id: &Identity<'_>) -> Result<(), Rejection> {
    let scalars = [
        (id.kind, "userIdentity.type"),
        (id.principal_id, "userIdentity.principalId"),
        (id.arn, "userIdentity.arn"),
        (id.access_key_id, "userIdentity.accessKeyId"),
        (id.user_name, "userIdentity.userName"),
        (id.invoked_by, "userIdentity.invokedBy"),
        (id.identity_provider, "userIdentity.identityProvider"),
        (id.credential_id, "userIdentity.credentialId"),
    ];
    for (raw, name) in scalars {
        string_or_null(raw, name)?;
    }
    if let Some(raw) = id.session_context {
        let ctx: SessionContext<'_> = object(raw, "userIdentity.sessionContext")?;
        if let Some(attrs) = ctx.attributes {
            object_of_scalars(attrs, "userIdentity.sessionContext.attributes", None)?;
        }
        if let Some(issuer) = ctx.session_issuer {
            object_of_scalars(
                issuer,
                "userIdentity.sessionContext.sessionIssuer",
                Some(ISSUER_SCALARS),
            )?;
        }
        if let Some(web) = ctx.web_id_federation_data {
            let name = "userIdentity.sessionContext.webIdFederationData";
            let w: WebIdFederation<'_> = object(web, name)?;
            string_or_null(
                w.federated_provider,
                "userIdentity.sessionContext.webIdFederationData.federatedProvider",
            )?;
            if let Some(a) = w.attributes {
                object_of_scalars(
                    a,
                    "userIdentity.sessionContext.webIdFederationData.attributes",
                    None,
                )?;
            }
        }
    }
    if let Some(raw) = id.on_behalf_of {
        object_of_scalars(raw, "userIdentity.onBehalfOf", Some(ON_BEHALF_SCALARS))?;
    }
    if let Some(raw) = id.in_scope_of {
        if raw.get() != "null" {
            object_of_scalars(raw, "userIdentity.inScopeOf", Some(IN_SCOPE_SCALARS))?;
        }
    }
    if let Some(raw) = id.invoked_by_delegate {
        object_of_scalars(
            raw,
            "userIdentity.invokedByDelegate",
            Some(DELEGATE_SCALARS),
        )?;
    }
    Ok(())
}

/// Checks the typed top-level objects (each may be absent or null).
pub(crate) fn check_top_level(t: &TopLevelShapes<'_>) -> Result<(), Rejection> {
    if let Some(raw) = nonnull(t.addendum) {
        object_of_scalars(raw, "addendum", Some(ADDENDUM_SCALARS))?;
    }
    if let Some(raw) = nonnull(t.tls_details) {
        object_of_scalars(raw, "tlsDetails", Some(TLS_SCALARS))?;
    }
    if let Some(raw) = nonnull(t.edge_device_details) {
        object_of_scalars(raw, "edgeDeviceDetails", Some(EDGE_SCALARS))?;
        let e: EdgeDevice<'_> = object(raw, "edgeDeviceDetails")?;
        if let Some(a) = e.attributes {
            object_of_scalars(a, "edgeDeviceDetails.attributes", None)?;
        }
    }
    if let Some(raw) = nonnull(t.insight_details) {
        object_of_scalars(raw, "insightDetails", Some(INSIGHT_SCALARS))?;
        let d: InsightDetails<'_> = object(raw, "insightDetails")?;
        if let Some(ctx) = d.insight_context {
            let c: InsightContext<'_> = object(ctx, "insightDetails.insightContext")?;
            if let Some(stats) = c.statistics {
                let s: Statistics<'_> = object(stats, "insightDetails.insightContext.statistics")?;
                for (raw, name) in [
                    (
                        s.baseline,
                        "insightDetails.insightContext.statistics.baseline",
                    ),
                    (
                        s.insight,
                        "insightDetails.insightContext.statistics.insight",
                    ),
                ] {
                    if let Some(raw) = raw {
                        object::<IgnoredAny>(raw, name)?;
                    }
                }
            }
            if let Some(attrs) = c.attributions {
                array_of_objects(attrs, "insightDetails.insightContext.attributions")?;
            }
        }
    }
    Ok(())
}

/// `resources`: an array of objects.
pub(crate) fn array_of_objects(raw: &RawValue, name: &str) -> Result<(), Rejection> {
    if !raw.get().starts_with('[') {
        return Err(wrong_type(name, "an array of objects", raw));
    }
    struct Visitor<'n>(&'n str);
    impl<'de> serde::de::Visitor<'de> for Visitor<'_> {
        type Value = Option<(usize, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array for {}", self.0)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut i = 0;
            while let Some(item) = seq.next_element::<&'de RawValue>()? {
                if !item.get().starts_with('{') {
                    // Keep consuming so the parser ends cleanly.
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(Some((i, item)));
                }
                i += 1;
            }
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    match serde::Deserializer::deserialize_seq(&mut de, Visitor(name)) {
        Ok(None) => Ok(()),
        Ok(Some((i, item))) => Err(wrong_type(&format!("{name}[{i}]"), "an object", item)),
        Err(e) => Err(Rejection::new(
            RejectReason::InvalidJson,
            format!("{name}: {e}"),
        )),
    }
}

fn nonnull(raw: Raw<'_>) -> Raw<'_> {
    raw.filter(|r| r.get() != "null")
}

/// Parses an object member into `T`, refusing other JSON types.
pub(crate) fn object<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    name: &str,
) -> Result<T, Rejection> {
    if !raw.get().starts_with('{') {
        return Err(wrong_type(name, "an object", raw));
    }
    serde_json::from_str(raw.get()).map_err(|e| parse_error(Some(name), &e))
}

/// A parse failure as a rejection: `duplicate_field` when serde saw a typed member twice,
/// `invalid_json` otherwise. `within` names the enclosing member.
pub(crate) fn parse_error(within: Option<&str>, e: &serde_json::Error) -> Rejection {
    let msg = e.to_string();
    let reason = if msg.starts_with("duplicate field") {
        RejectReason::DuplicateField
    } else {
        RejectReason::InvalidJson
    };
    match within {
        Some(name) => Rejection::new(reason, format!("{name}: {msg}")),
        None => Rejection::new(reason, msg),
    }
}

/// An object whose members (all of them, or those in `only`) are strings or null.
fn object_of_scalars(raw: &RawValue, name: &str, only: Option<&[&str]>) -> Result<(), Rejection> {
    if !raw.get().starts_with('{') {
        return Err(wrong_type(name, "an object", raw));
    }
    struct Visitor<'n> {
        only: Option<&'n [&'n str]>,
    }
    impl<'de> serde::de::Visitor<'de> for Visitor<'_> {
        type Value = Option<(std::borrow::Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let value: &'de RawValue = map.next_value()?;
                let typed = self.only.is_none_or(|only| only.contains(&key.as_ref()));
                if found.is_none() && typed && !is_string_or_null(value) {
                    found = Some((key, value));
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    match serde::Deserializer::deserialize_map(&mut de, Visitor { only }) {
        Ok(None) => Ok(()),
        Ok(Some((key, value))) => Err(wrong_type(&format!("{name}.{key}"), "a string", value)),
        Err(e) => Err(Rejection::new(
            RejectReason::InvalidJson,
            format!("{name}: {e}"),
        )),
    }
}

fn is_string_or_null(raw: &RawValue) -> bool {
    let s = raw.get();
    s.starts_with('"') || s == "null"
}

fn string_or_null(raw: Raw<'_>, name: &str) -> Result<(), Rejection> {
    match raw {
        Some(r) if !is_string_or_null(r) => Err(wrong_type(name, "a string", r)),
        _ => Ok(()),
    }
}

pub(crate) fn wrong_type(name: &str, want: &str, raw: &RawValue) -> Rejection {
    let got = match raw.get().as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    Rejection::new(
        RejectReason::WrongType,
        format!("{name} must be {want}, got {got}"),
    )
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
