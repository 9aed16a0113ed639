//! PutEventSelectors' rules, with AWS's exception names.
//!
//! Basic selectors: at most 5; `ReadWriteType` one of `ReadOnly`, `WriteOnly`, `All` (default
//! `All`); `IncludeManagementEvents` defaults to true; each data resource has a known `Type`
//! (`AWS::S3::Object`, `AWS::Lambda::Function`, `AWS::DynamoDB::Table`) and at least one value
//! of that type's form (see [`DataValue`]); at most 250 data resource values in all, values of
//! the "every resource" form not counted; `ExcludeManagementEventSources` entries non-empty (any
//! source is accepted, not only `kms.amazonaws.com` / `rdsdata.amazonaws.com`).
//!
//! Advanced selectors: `Name` at most 1000 characters; at least one field selector each; `Field`
//! matching `[\w|\d|\.|_]+` and one of [`FIELDS`] (the Lake set; `managementEvent` is not a
//! selector field in CloudTrail and is refused); at least one operator per field selector and at
//! least one value per operator used; values 1–2048 characters; at most 500 values over all
//! selectors; only `Equals` on `readOnly`, `eventCategory`, `resources.type`; `readOnly` values
//! `true` / `false`; `eventCategory` values among CloudTrail's categories. A selector need not
//! name `eventCategory` (without it, it matches every category). The number of advanced
//! selectors is bounded only by the 500 values.

use crate::record::{Category, StrField};

use super::model::{AdvancedEventSelector, DataResource, EventSelector, EventSelectorInput};
use super::model::{Operator, ReadWriteType};

/// A rejected PutEventSelectors request: the exception name and message AWS would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `InvalidEventSelectorsException`.
    #[error("InvalidEventSelectorsException: {0}")]
    InvalidEventSelectors(String),
    /// `InvalidParameterCombinationException`.
    #[error("InvalidParameterCombinationException: {0}")]
    InvalidParameterCombination(String),
}

impl SelectorError {
    /// The JSON 1.1 `__type`.
    pub fn exception(&self) -> &'static str {
        match self {
            Self::InvalidEventSelectors(_) => "InvalidEventSelectorsException",
            Self::InvalidParameterCombination(_) => "InvalidParameterCombinationException",
        }
    }

    /// The `message`.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidEventSelectors(m) | Self::InvalidParameterCombination(m) => m,
        }
    }
}

fn invalid(msg: impl Into<String>) -> SelectorError {
    SelectorError::InvalidEventSelectors(msg.into())
}

/// Most basic selectors per trail.
pub const MAX_EVENT_SELECTORS: usize = 5;
/// Most data resource values over a trail's basic selectors ("every resource" values excluded).
pub const MAX_DATA_RESOURCES: usize = 250;
/// Most values over all of a trail's advanced selectors.
pub const MAX_ADVANCED_VALUES: usize = 500;
/// Longest advanced selector `Name`, in characters.
pub const MAX_NAME_CHARS: usize = 1000;
/// Longest advanced selector value, in characters.
pub const MAX_VALUE_CHARS: usize = 2048;

/// Data resource types of basic selectors.
pub const S3_OBJECT: &str = "AWS::S3::Object";
pub const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
pub const DYNAMODB_TABLE: &str = "AWS::DynamoDB::Table";

/// The advanced selector fields OpenTrail accepts on trails.
pub const FIELDS: [&str; 11] = [
    "eventCategory",
    "eventSource",
    "eventName",
    "eventType",
    "readOnly",
    "resources.type",
    "resources.ARN",
    "userIdentity.arn",
    "sessionCredentialFromConsole",
    "errorCode",
    "vpcEndpointId",
];

/// What an advanced selector field reads from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldId {
    Category,
    ReadOnly,
    Str(StrField),
    ResourceType,
    ResourceArn,
}

impl FieldId {
    pub(crate) fn parse(name: &str) -> Option<FieldId> {
        Some(match name {
            "eventCategory" => Self::Category,
            "readOnly" => Self::ReadOnly,
            "eventSource" => Self::Str(StrField::EventSource),
            "eventName" => Self::Str(StrField::EventName),
            "eventType" => Self::Str(StrField::EventType),
            "userIdentity.arn" => Self::Str(StrField::UserIdentityArn),
            "sessionCredentialFromConsole" => Self::Str(StrField::SessionCredentialFromConsole),
            "errorCode" => Self::Str(StrField::ErrorCode),
            "vpcEndpointId" => Self::Str(StrField::VpcEndpointId),
            "resources.type" => Self::ResourceType,
            "resources.ARN" => Self::ResourceArn,
            _ => return None,
        })
    }

    /// Fields that take `Equals` only.
    fn equals_only(self) -> bool {
        matches!(self, Self::Category | Self::ReadOnly | Self::ResourceType)
    }
}

/// How a basic selector's data resource value selects ARNs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataValue {
    /// `arn:<partition>:<service>` (S3 also `arn:<partition>:s3:::`): every resource of the type.
    All,
    /// S3 `arn:<partition>:s3:::bucket/[prefix]`: objects whose ARN starts with the value.
    Prefix,
    /// Lambda / DynamoDB: the resource with exactly this ARN.
    Exact,
}

/// The form of `value` for data resource type `kind`, or `None` when it is not one of them.
pub(crate) fn data_value(kind: &str, value: &str) -> Option<DataValue> {
    let service = match kind {
        S3_OBJECT => "s3",
        LAMBDA_FUNCTION => "lambda",
        DYNAMODB_TABLE => "dynamodb",
        _ => return None,
    };
    let rest = value.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':').unwrap_or((rest, ""));
    if partition.is_empty()
        || !partition
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c == b'-')
    {
        return None;
    }
    let (svc, tail) = match rest.split_once(':') {
        Some((s, t)) => (s, Some(t)),
        None => (rest, None),
    };
    if svc != service {
        return None;
    }
    match (service, tail) {
        (_, None) => Some(DataValue::All),
        ("s3", Some("::")) => Some(DataValue::All),
        ("s3", Some(t)) => {
            let path = t.strip_prefix("::")?;
            let (bucket, _) = path.split_once('/')?;
            (!bucket.is_empty()).then_some(DataValue::Prefix)
        }
        (_, Some(t)) => (!t.is_empty()).then_some(DataValue::Exact),
    }
}

/// Checks basic selectors and fills in their defaults.
pub(crate) fn normalize_basic(
    input: &[EventSelectorInput],
) -> Result<Vec<EventSelector>, SelectorError> {
    if input.len() > MAX_EVENT_SELECTORS {
        return Err(invalid(format!(
            "A trail can have at most {MAX_EVENT_SELECTORS} event selectors; {} were given.",
            input.len()
        )));
    }
    let mut counted = 0usize;
    let mut out = Vec::with_capacity(input.len());
    for (i, s) in input.iter().enumerate() {
        let read_write_type = match s.read_write_type.as_deref() {
            None => ReadWriteType::All,
            Some(t) => ReadWriteType::parse(t).ok_or_else(|| {
                invalid(format!(
                    "EventSelectors[{i}]: ReadWriteType {t:?} is not one of ReadOnly, WriteOnly, All."
                ))
            })?,
        };
        let mut data_resources = Vec::new();
        for (j, d) in s.data_resources.iter().flatten().enumerate() {
            let at = format!("EventSelectors[{i}].DataResources[{j}]");
            let kind = d.kind.as_deref().unwrap_or("");
            if ![S3_OBJECT, LAMBDA_FUNCTION, DYNAMODB_TABLE].contains(&kind) {
                return Err(invalid(format!(
                    "{at}: data resource type {kind:?} is not supported by basic event selectors \
                     (use {S3_OBJECT}, {LAMBDA_FUNCTION} or {DYNAMODB_TABLE}, or advanced event \
                     selectors)."
                )));
            }
            let values = d.values.clone().unwrap_or_default();
            if values.is_empty() {
                return Err(invalid(format!("{at}: Values must not be empty.")));
            }
            for v in &values {
                match data_value(kind, v) {
                    None => {
                        return Err(invalid(format!(
                            "{at}: value {v:?} is not a valid {kind} ARN or ARN prefix."
                        )));
                    }
                    Some(DataValue::All) => {}
                    Some(_) => counted += 1,
                }
            }
            data_resources.push(DataResource {
                kind: kind.to_owned(),
                values,
            });
        }
        let exclude = s
            .exclude_management_event_sources
            .clone()
            .unwrap_or_default();
        if exclude.iter().any(String::is_empty) {
            return Err(invalid(format!(
                "EventSelectors[{i}]: ExcludeManagementEventSources entries must not be empty."
            )));
        }
        out.push(EventSelector {
            read_write_type,
            include_management_events: s.include_management_events.unwrap_or(true),
            data_resources,
            exclude_management_event_sources: exclude,
        });
    }
    if counted > MAX_DATA_RESOURCES {
        return Err(invalid(format!(
            "A trail can have at most {MAX_DATA_RESOURCES} data resources; {counted} were given."
        )));
    }
    Ok(out)
}

/// `[\w|\d|\.|_]+`: letters, digits, `_`, `.` and `|`.
fn field_pattern_ok(field: &str) -> bool {
    !field.is_empty()
        && field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '|'))
}

/// Checks advanced selectors.
pub(crate) fn check_advanced(selectors: &[AdvancedEventSelector]) -> Result<(), SelectorError> {
    let mut total = 0usize;
    for (i, s) in selectors.iter().enumerate() {
        if let Some(name) = &s.name {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(invalid(format!(
                    "AdvancedEventSelectors[{i}]: Name is longer than {MAX_NAME_CHARS} characters."
                )));
            }
        }
        if s.field_selectors.is_empty() {
            return Err(invalid(format!(
                "AdvancedEventSelectors[{i}]: FieldSelectors must not be empty."
            )));
        }
        for (j, f) in s.field_selectors.iter().enumerate() {
            let at = format!("AdvancedEventSelectors[{i}].FieldSelectors[{j}]");
            if !field_pattern_ok(&f.field) {
                return Err(invalid(format!(
                    "{at}: Field {:?} does not match [\\w|\\d|\\.|_]+.",
                    f.field
                )));
            }
            let Some(id) = FieldId::parse(&f.field) else {
                return Err(invalid(format!(
                    "{at}: Field {:?} is not supported; supported fields are {}.",
                    f.field,
                    FIELDS.join(", ")
                )));
            };
            let mut any = false;
            for (op, values) in f.operators() {
                any = true;
                if id.equals_only() && op != Operator::Equals {
                    return Err(invalid(format!(
                        "{at}: operator {} is not allowed on field {}; only Equals is.",
                        op.as_str(),
                        f.field
                    )));
                }
                if values.is_empty() {
                    return Err(invalid(format!(
                        "{at}: {} must have at least one value.",
                        op.as_str()
                    )));
                }
                total += values.len();
                for v in values {
                    let n = v.chars().count();
                    if !(1..=MAX_VALUE_CHARS).contains(&n) {
                        return Err(invalid(format!(
                            "{at}: {} values must be 1 to {MAX_VALUE_CHARS} characters long; one \
                             is {n}.",
                            op.as_str()
                        )));
                    }
                    match id {
                        FieldId::ReadOnly if v != "true" && v != "false" => {
                            return Err(invalid(format!(
                                "{at}: readOnly values must be \"true\" or \"false\", not {v:?}."
                            )));
                        }
                        FieldId::Category if Category::parse(v.as_bytes()) == Category::Other => {
                            let known: Vec<&str> =
                                Category::KNOWN.iter().map(|c| c.as_str()).collect();
                            return Err(invalid(format!(
                                "{at}: eventCategory value {v:?} is not one of {}.",
                                known.join(", ")
                            )));
                        }
                        _ => {}
                    }
                }
            }
            if !any {
                return Err(invalid(format!(
                    "{at}: a field selector needs at least one operator (Equals, StartsWith, \
                     EndsWith, NotEquals, NotStartsWith, NotEndsWith)."
                )));
            }
        }
    }
    if total > MAX_ADVANCED_VALUES {
        return Err(invalid(format!(
            "Advanced event selectors can have at most {MAX_ADVANCED_VALUES} values in total; \
             {total} were given."
        )));
    }
    Ok(())
}
