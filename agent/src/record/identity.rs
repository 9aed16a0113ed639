//! `userIdentity`, checked while the record is parsed (see [`super::shape`] for the invariants).
//!
//! Reported in this order, each only when the ones before pass: `userIdentity` is an object
//! without repeated known members ([`Identity::shape`], before the account is resolved); then
//! ([`Identity::members`]) the string members in [`SCALARS`] order, `sessionContext`,
//! `onBehalfOf`, `inScopeOf`, `invokedByDelegate`. Inside `sessionContext`: repeated members,
//! `attributes`, `sessionIssuer`, `webIdFederationData` (repeats, `federatedProvider`,
//! `attributes`).
//!
//! [`Identity::fast`] is the fast path's form of the same rules, on the text [`super::scan`]
//! delimited: it answers only when every rule passes (then with the members the serde_json
//! parse captures), and leaves everything else to that parse.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::scan;
use super::shape::{
    At, Check, Key, Kind, Members, Scalars, Typed, dispatch, first, index, other_types,
    scalars_pass, skip, string_or_null, text_is_string_or_null, wrong,
};
use super::validate::Rejection;

/// `userIdentity` members that are strings or null, in the order they are reported.
const SCALARS: [&str; 8] = [
    "type",
    "principalId",
    "arn",
    "accessKeyId",
    "userName",
    "invokedBy",
    "identityProvider",
    "credentialId",
];
const SCALAR_NAMES: [&str; 8] = [
    "userIdentity.type",
    "userIdentity.principalId",
    "userIdentity.arn",
    "userIdentity.accessKeyId",
    "userIdentity.userName",
    "userIdentity.invokedBy",
    "userIdentity.identityProvider",
    "userIdentity.credentialId",
];
/// Known members: `SCALARS` (0..8), then these.
const OTHERS: [&str; 5] = [
    "accountId",
    "sessionContext",
    "onBehalfOf",
    "inScopeOf",
    "invokedByDelegate",
];
const ON_BEHALF_SCALARS: &[&str] = &["userId", "identityStoreArn"];
const IN_SCOPE_SCALARS: &[&str] = &[
    "sourceArn",
    "sourceAccount",
    "issuerType",
    "credentialsIssuedTo",
];
const DELEGATE_SCALARS: &[&str] = &["accountId"];
const ISSUER_SCALARS: &[&str] = &["type", "principalId", "arn", "accountId", "userName"];

/// What the parse learned about `userIdentity`.
pub(crate) struct Identity<'a> {
    /// `accountId`, as JSON text (the account fallback; checked by `validate`).
    pub account_id: Option<&'a str>,
    /// `arn`, as JSON text (for event selectors; its type is checked in `members`).
    pub arn: Option<&'a str>,
    /// An object without repeated known members.
    pub shape: Check,
    /// Every member rule, in the module's order.
    pub members: Check,
}

impl<'a> Identity<'a> {
    /// [`IdentitySeed`]'s rules on `userIdentity`'s text: `Some` only when it is an object with
    /// no repeated known member and every member rule passes; `None` is no verdict.
    pub(crate) fn fast(text: &'a str) -> Option<Self> {
        let (mut account_id, mut arn) = (None, None);
        let known = |key: &str| {
            index(&SCALARS, key).or_else(|| index(&OTHERS, key).map(|j| SCALARS.len() + j))
        };
        known_members(text, known, |i, value| match i {
            0..8 => {
                if i == 2 {
                    arn = Some(value);
                }
                text_is_string_or_null(value).then_some(())
            }
            8 => {
                account_id = Some(value);
                Some(())
            }
            9 => session_fast(value),
            10 => scalars_pass(value, Some(ON_BEHALF_SCALARS), false),
            11 => scalars_pass(value, Some(IN_SCOPE_SCALARS), true),
            _ => scalars_pass(value, Some(DELEGATE_SCALARS), false),
        })?;
        Some(Identity {
            account_id,
            arn,
            shape: Ok(()),
            members: Ok(()),
        })
    }
}

/// Walks an object's text (see [`scan::object`]) and calls `each(i, value)` for every member
/// `known` numbers `i` (below 32); others are skipped. `None` when a known member repeats (the
/// serde_json parse reports that) or `each` answers `None`.
fn known_members<'a>(
    text: &'a str,
    known: impl Fn(&str) -> Option<usize>,
    mut each: impl FnMut(usize, &'a str) -> Option<()>,
) -> Option<()> {
    let mut seen = 0u32;
    scan::object(text, |key, value| {
        let Some(i) = known(key) else {
            return Some(());
        };
        if seen & (1 << i) != 0 {
            return None;
        }
        seen |= 1 << i;
        each(i, value)
    })
}

/// [`SessionSeed`]'s rules on `sessionContext`'s text (see [`Identity::fast`]).
fn session_fast(text: &str) -> Option<()> {
    known_members(
        text,
        |key| index(&SESSION_MEMBERS, key),
        |i, value| match i {
            0 => scalars_pass(value, None, false),
            1 => scalars_pass(value, Some(ISSUER_SCALARS), false),
            _ => web_fast(value),
        },
    )
}

/// [`WebIdSeed`]'s rules on `webIdFederationData`'s text (see [`Identity::fast`]).
fn web_fast(text: &str) -> Option<()> {
    known_members(
        text,
        |key| index(&WEB_MEMBERS, key),
        |i, value| match i {
            0 => text_is_string_or_null(value).then_some(()),
            _ => scalars_pass(value, None, false),
        },
    )
}

/// Parses `userIdentity`.
pub(crate) struct IdentitySeed<'de>(pub At<'de>);

impl<'de> DeserializeSeed<'de> for IdentitySeed<'de> {
    type Value = Identity<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Typed<'de> for IdentitySeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Identity<'de> {
        Self::unreadable(wrong("userIdentity", "an object", kind))
    }
    fn unreadable(rejection: Rejection) -> Identity<'de> {
        Identity {
            account_id: None,
            arn: None,
            shape: Err(rejection),
            members: Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for IdentitySeed<'de> {
    type Value = Identity<'de>;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let at = self.0;
        let mut seen = Members::new(at);
        let mut account_id = None;
        let mut scalars: [Option<&'de RawValue>; 8] = [None; 8];
        let (mut session, mut on_behalf, mut in_scope, mut delegate) =
            (Ok(()), Ok(()), Ok(()), Ok(()));
        while let Some(key) = map.next_key_seed(Key)? {
            let i = match index(&SCALARS, &key) {
                Some(i) => i,
                None => match index(&OTHERS, &key) {
                    Some(j) => SCALARS.len() + j,
                    None => {
                        skip(&mut map)?;
                        continue;
                    }
                },
            };
            // After a repeat nothing else in here is reported: skip, as serde's derive stopped.
            if !seen.first_time(i, &key) || seen.dup.is_err() {
                skip(&mut map)?;
                continue;
            }
            let scalars_of =
                |name: &'static str, only: &'static [&'static str], nullable| Scalars {
                    at: at.child(name, &key),
                    only: Some(only),
                    nullable,
                };
            match i {
                0..8 => scalars[i] = Some(map.next_value()?),
                8 => account_id = Some(map.next_value()?),
                9 => session = map.next_value_seed(SessionSeed(at.child(SESSION, &key)))?,
                10 => {
                    on_behalf = map.next_value_seed(scalars_of(
                        "userIdentity.onBehalfOf",
                        ON_BEHALF_SCALARS,
                        false,
                    ))?
                }
                11 => {
                    in_scope = map.next_value_seed(scalars_of(
                        "userIdentity.inScopeOf",
                        IN_SCOPE_SCALARS,
                        true,
                    ))?
                }
                _ => {
                    delegate = map.next_value_seed(scalars_of(
                        "userIdentity.invokedByDelegate",
                        DELEGATE_SCALARS,
                        false,
                    ))?
                }
            }
        }
        let arn = scalars[2].map(RawValue::get);
        let account_id = account_id.map(RawValue::get);
        let strings = scalars
            .into_iter()
            .zip(SCALAR_NAMES)
            .try_for_each(|(raw, name)| string_or_null(raw, name));
        let members = first([strings, session, on_behalf, in_scope, delegate]);
        Ok(Identity {
            account_id,
            arn,
            shape: seen.dup,
            members,
        })
    }
}

/// `userIdentity.sessionContext`: an object (not null).
struct SessionSeed<'de>(At<'de>);

const SESSION: &str = "userIdentity.sessionContext";
const SESSION_MEMBERS: [&str; 3] = ["attributes", "sessionIssuer", "webIdFederationData"];

impl<'de> Typed<'de> for SessionSeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Check {
        Err(wrong(SESSION, "an object", kind))
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for SessionSeed<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for SessionSeed<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let at = self.0;
        let mut seen = Members::new(at);
        let mut checks: [Check; 3] = [Ok(()), Ok(()), Ok(())];
        while let Some(key) = map.next_key_seed(Key)? {
            let Some(i) = index(&SESSION_MEMBERS, &key) else {
                skip(&mut map)?;
                continue;
            };
            if !seen.first_time(i, &key) || seen.dup.is_err() {
                skip(&mut map)?;
                continue;
            }
            checks[i] = match i {
                0 => map.next_value_seed(Scalars {
                    at: at.child("userIdentity.sessionContext.attributes", &key),
                    only: None,
                    nullable: false,
                })?,
                1 => map.next_value_seed(Scalars {
                    at: at.child("userIdentity.sessionContext.sessionIssuer", &key),
                    only: Some(ISSUER_SCALARS),
                    nullable: false,
                })?,
                _ => map.next_value_seed(WebIdSeed(at.child(WEB, &key)))?,
            };
        }
        let [attributes, issuer, web] = checks;
        Ok(first([seen.dup, attributes, issuer, web]))
    }
}

/// `userIdentity.sessionContext.webIdFederationData`: an object (not null).
struct WebIdSeed<'de>(At<'de>);

const WEB: &str = "userIdentity.sessionContext.webIdFederationData";
const WEB_MEMBERS: [&str; 2] = ["federatedProvider", "attributes"];

impl<'de> Typed<'de> for WebIdSeed<'de> {
    fn at(&self) -> At<'de> {
        self.0
    }
    fn other(self, kind: Kind) -> Check {
        Err(wrong(WEB, "an object", kind))
    }
    fn unreadable(rejection: Rejection) -> Check {
        Err(rejection)
    }
}

impl<'de> DeserializeSeed<'de> for WebIdSeed<'de> {
    type Value = Check;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Check, D::Error> {
        dispatch(self, d)
    }
}

impl<'de> Visitor<'de> for WebIdSeed<'de> {
    type Value = Check;
    other_types!(seq);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
        let at = self.0;
        let mut seen = Members::new(at);
        let mut provider = None;
        let mut attributes = Ok(());
        while let Some(key) = map.next_key_seed(Key)? {
            let Some(i) = index(&WEB_MEMBERS, &key) else {
                skip(&mut map)?;
                continue;
            };
            if !seen.first_time(i, &key) || seen.dup.is_err() {
                skip(&mut map)?;
                continue;
            }
            if i == 0 {
                provider = Some(map.next_value::<&'de RawValue>()?);
            } else {
                attributes = map.next_value_seed(Scalars {
                    at: at.child(
                        "userIdentity.sessionContext.webIdFederationData.attributes",
                        &key,
                    ),
                    only: None,
                    nullable: false,
                })?;
            }
        }
        let provider = string_or_null(
            provider,
            "userIdentity.sessionContext.webIdFederationData.federatedProvider",
        );
        Ok(first([seen.dup, provider, attributes]))
    }
}
