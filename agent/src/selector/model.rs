//! The event-selector shapes of the CloudTrail API (`PutEventSelectors`, `GetEventSelectors`),
//! with botocore's member names, and [`Selectors`], what a trail stores.
//!
//! Invariants: a [`Selectors`] value is always valid ([`super::validate`]'s rules): it is only
//! made by [`Selectors::from_put`], [`Selectors::default`], or deserialized through the same
//! checks. Basic selectors are stored normalised (every member filled in, as GetEventSelectors
//! answers); advanced selectors are stored as given.

use serde::{Deserialize, Serialize};

use super::validate::{SelectorError, check_advanced, normalize_basic};

/// `ReadWriteType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ReadWriteType {
    ReadOnly,
    WriteOnly,
    #[default]
    All,
}

impl ReadWriteType {
    /// The type named `text` (CloudTrail's spelling).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ReadOnly" => Some(Self::ReadOnly),
            "WriteOnly" => Some(Self::WriteOnly),
            "All" => Some(Self::All),
            _ => None,
        }
    }
}

/// A basic event selector, normalised (as GetEventSelectors answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelector {
    pub read_write_type: ReadWriteType,
    pub include_management_events: bool,
    pub data_resources: Vec<DataResource>,
    pub exclude_management_event_sources: Vec<String>,
}

impl Default for EventSelector {
    /// AWS's selector for a new trail: all management events, no data events.
    fn default() -> Self {
        Self {
            read_write_type: ReadWriteType::All,
            include_management_events: true,
            data_resources: Vec::new(),
            exclude_management_event_sources: Vec::new(),
        }
    }
}

/// `DataResources[]` of a basic selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResource {
    #[serde(rename = "Type")]
    pub kind: String,
    pub values: Vec<String>,
}

/// A basic selector as a PutEventSelectors request carries it (every member optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventSelectorInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_write_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_management_events: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_resources: Option<Vec<DataResourceInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_management_event_sources: Option<Vec<String>>,
}

/// `DataResources[]` as a request carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataResourceInput {
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// An advanced event selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub field_selectors: Vec<AdvancedFieldSelector>,
}

/// One condition of an advanced selector: a field and its operators (absent = not used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvancedFieldSelector {
    #[serde(default)]
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_starts_with: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ends_with: Option<Vec<String>>,
}

impl AdvancedFieldSelector {
    /// The operators in use, with their values, in botocore's order.
    pub fn operators(&self) -> impl Iterator<Item = (Operator, &[String])> {
        [
            (Operator::Equals, &self.equals),
            (Operator::StartsWith, &self.starts_with),
            (Operator::EndsWith, &self.ends_with),
            (Operator::NotEquals, &self.not_equals),
            (Operator::NotStartsWith, &self.not_starts_with),
            (Operator::NotEndsWith, &self.not_ends_with),
        ]
        .into_iter()
        .filter_map(|(op, values)| values.as_deref().map(|v| (op, v)))
    }
}

/// The six operators of an advanced field selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    StartsWith,
    EndsWith,
    NotEquals,
    NotStartsWith,
    NotEndsWith,
}

impl Operator {
    /// botocore's member name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "Equals",
            Self::StartsWith => "StartsWith",
            Self::EndsWith => "EndsWith",
            Self::NotEquals => "NotEquals",
            Self::NotStartsWith => "NotStartsWith",
            Self::NotEndsWith => "NotEndsWith",
        }
    }

    /// True for the `Not*` operators (match when no value matches).
    pub fn negated(self) -> bool {
        matches!(
            self,
            Self::NotEquals | Self::NotStartsWith | Self::NotEndsWith
        )
    }
}

/// The body of a PutEventSelectors request (`TrailName` is the API's to resolve).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutEventSelectorsInput {
    #[serde(default)]
    pub trail_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_selectors: Option<Vec<EventSelectorInput>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
}

/// A trail's event selectors: what it stores, what GetEventSelectors answers, what
/// [`super::Compiled::compile`] compiles.
///
/// Persisted as JSON: `"Default"`, `{"EventSelectors":[…]}` or `{"AdvancedEventSelectors":[…]}`
/// (deserializing re-applies every rule of PutEventSelectors).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub enum Selectors {
    /// A new trail's selectors (never set by PutEventSelectors): all management events.
    #[default]
    Default,
    /// Basic selectors set by PutEventSelectors (normalised).
    Basic(Vec<EventSelector>),
    /// Advanced selectors set by PutEventSelectors.
    Advanced(Vec<AdvancedEventSelector>),
}

impl Selectors {
    /// Validates a PutEventSelectors request's selectors (exactly one of the two lists must be
    /// given) and returns what the trail stores from then on.
    pub fn from_put(
        event_selectors: Option<Vec<EventSelectorInput>>,
        advanced_event_selectors: Option<Vec<AdvancedEventSelector>>,
    ) -> Result<Selectors, SelectorError> {
        match (event_selectors, advanced_event_selectors) {
            (Some(_), Some(_)) => Err(SelectorError::InvalidParameterCombination(
                "EventSelectors and AdvancedEventSelectors cannot both be specified".into(),
            )),
            (None, None) => Err(SelectorError::InvalidParameterCombination(
                "Either EventSelectors or AdvancedEventSelectors must be specified".into(),
            )),
            (Some(basic), None) => normalize_basic(&basic).map(Selectors::Basic),
            (None, Some(advanced)) => {
                check_advanced(&advanced)?;
                Ok(Selectors::Advanced(advanced))
            }
        }
    }

    /// [`Self::from_put`] for a parsed request body.
    pub fn from_input(input: PutEventSelectorsInput) -> Result<Selectors, SelectorError> {
        Self::from_put(input.event_selectors, input.advanced_event_selectors)
    }

    /// GetEventSelectors' / DescribeTrails' `HasCustomEventSelectors`: true once
    /// PutEventSelectors succeeded on the trail.
    pub fn has_custom_event_selectors(&self) -> bool {
        !matches!(self, Selectors::Default)
    }

    /// The basic selectors GetEventSelectors answers (`None` when advanced ones are in use).
    pub fn event_selectors(&self) -> Option<Vec<EventSelector>> {
        match self {
            Selectors::Default => Some(vec![EventSelector::default()]),
            Selectors::Basic(b) => Some(b.clone()),
            Selectors::Advanced(_) => None,
        }
    }

    /// The advanced selectors GetEventSelectors answers (`None` when basic ones are in use).
    pub fn advanced_event_selectors(&self) -> Option<&[AdvancedEventSelector]> {
        match self {
            Selectors::Advanced(a) => Some(a),
            _ => None,
        }
    }

    /// The GetEventSelectors (and PutEventSelectors) response body:
    /// `{"TrailARN", "EventSelectors"}` or `{"TrailARN", "AdvancedEventSelectors"}`.
    pub fn response(&self, trail_arn: &str) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("TrailARN".into(), trail_arn.into());
        let (key, value) = match self {
            Selectors::Advanced(a) => ("AdvancedEventSelectors", serde_json::to_value(a)),
            other => (
                "EventSelectors",
                serde_json::to_value(other.event_selectors().unwrap_or_default()),
            ),
        };
        out.insert(key.into(), value.unwrap_or_default());
        serde_json::Value::Object(out)
    }
}

/// The persisted form of [`Selectors`].
#[derive(Serialize, Deserialize)]
enum Stored {
    Default,
    EventSelectors(Vec<EventSelectorInput>),
    AdvancedEventSelectors(Vec<AdvancedEventSelector>),
}

impl TryFrom<Stored> for Selectors {
    type Error = SelectorError;
    fn try_from(s: Stored) -> Result<Self, SelectorError> {
        match s {
            Stored::Default => Ok(Selectors::Default),
            Stored::EventSelectors(b) => Selectors::from_put(Some(b), None),
            Stored::AdvancedEventSelectors(a) => Selectors::from_put(None, Some(a)),
        }
    }
}

impl From<Selectors> for Stored {
    fn from(s: Selectors) -> Stored {
        match s {
            Selectors::Default => Stored::Default,
            Selectors::Basic(b) => Stored::EventSelectors(b.into_iter().map(Into::into).collect()),
            Selectors::Advanced(a) => Stored::AdvancedEventSelectors(a),
        }
    }
}

impl From<EventSelector> for EventSelectorInput {
    fn from(e: EventSelector) -> Self {
        let rw = match e.read_write_type {
            ReadWriteType::ReadOnly => "ReadOnly",
            ReadWriteType::WriteOnly => "WriteOnly",
            ReadWriteType::All => "All",
        };
        EventSelectorInput {
            read_write_type: Some(rw.into()),
            include_management_events: Some(e.include_management_events),
            data_resources: Some(
                e.data_resources
                    .into_iter()
                    .map(|d| DataResourceInput {
                        kind: Some(d.kind),
                        values: Some(d.values),
                    })
                    .collect(),
            ),
            exclude_management_event_sources: Some(e.exclude_management_event_sources),
        }
    }
}
