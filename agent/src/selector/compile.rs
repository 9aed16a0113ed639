//! Compiled selectors: [`Compiled::compile`] once per change of a trail's selectors,
//! [`Compiled::matches`] per record on the hot path.
//!
//! Invariants: `matches` allocates nothing and never parses the record: it reads the fields
//! `record::validate` extracted ([`crate::record::Fields`]) and compares bytes. Values are
//! compared on the unescaped text, case-sensitively, without wildcards.
//!
//! Matching rules (CloudTrail's, where OpenTrail had to decide it says so):
//! - A record matches a trail when it matches any selector.
//! - Classification: the record's effective `eventCategory` (absent = `Management`); `readOnly`
//!   absent fits `ReadWriteType: All` only and neither `readOnly Equals true` nor `false`.
//! - Basic selector: a management event matches when `IncludeManagementEvents` is true, its
//!   `eventSource` is not in `ExcludeManagementEventSources` and `ReadWriteType` fits. A data event
//!   matches when some `resources[]` entry has a `type` equal to a data resource's `Type` and an
//!   `ARN` selected by one of its values (`arn:aws:s3`, `arn:aws:lambda`, `arn:aws:dynamodb`:
//!   every resource of the type in that partition; S3 `arn:aws:s3:::bucket/prefix`: ARNs that
//!   start with the value; Lambda and DynamoDB ARNs: exact, so `…:function:f` does not select
//!   `…:function:f2` nor a qualified `…:function:f:PROD`), and `ReadWriteType` fits. Other
//!   categories (network activity, Insights) never match a basic selector.
//! - Advanced selector: every field selector must hold (AND); within one, every operator used
//!   must hold (AND); `Equals` / `StartsWith` / `EndsWith` hold when some value matches the
//!   field, `Not*` when none does. An absent field matches no value: the positive operators fail
//!   on it and the `Not*` operators hold. A selector without `eventCategory` matches every
//!   category.
//! - `resources.type` and `resources.ARN` are judged per resource: the selector's resource
//!   conditions hold when one `resources[]` entry satisfies all of them together (so `type
//!   Equals AWS::S3::Object` with `ARN StartsWith arn:aws:s3:::b/` needs one entry that is both);
//!   a record without resources fails any selector with a resource condition, `Not*` included.

use crate::record::{Category, Fields, Record, Resource, StrField};

use super::model::{AdvancedEventSelector, EventSelector, Operator, ReadWriteType, Selectors};
use super::validate::{DataValue, FieldId, data_value};

/// A trail's selectors, ready for matching.
#[derive(Debug, Clone)]
pub struct Compiled {
    rules: Rules,
    default: bool,
}

#[derive(Debug, Clone)]
enum Rules {
    Basic(Box<[Basic]>),
    Advanced(Box<[Advanced]>),
}

#[derive(Debug, Clone)]
struct Basic {
    read_write: ReadWriteType,
    management: bool,
    exclude: Box<[Box<[u8]>]>,
    data: Box<[Data]>,
}

#[derive(Debug, Clone)]
struct Data {
    kind: Box<[u8]>,
    /// `(is_prefix, text)`.
    arns: Box<[(bool, Box<[u8]>)]>,
}

#[derive(Debug, Clone)]
struct Advanced {
    /// Record-level conditions, cheapest first.
    record: Box<[Cond]>,
    /// Conditions one resource must satisfy together.
    resource: Box<[Cond]>,
}

#[derive(Debug, Clone)]
enum Cond {
    /// `eventCategory Equals`: a set of [`Category::bit`]s.
    Category(u8),
    /// `readOnly Equals`: bit 0 = `false` allowed, bit 1 = `true` allowed.
    ReadOnly(u8),
    /// A string field with the operators of one field selector.
    Str(StrField, Box<[Test]>),
    /// `resources.type` / `resources.ARN` (`true` = ARN).
    Resource(bool, Box<[Test]>),
}

#[derive(Debug, Clone)]
struct Test {
    how: How,
    negated: bool,
    values: Box<[Val]>,
}

/// A value to compare with, and its first and last byte (values are never empty): a one-byte
/// test that spares most calls to `memcmp`.
#[derive(Debug, Clone)]
struct Val {
    bytes: Box<[u8]>,
    first: u8,
    last: u8,
}

impl Val {
    fn new(text: &str) -> Val {
        let b = text.as_bytes();
        Val {
            bytes: b.into(),
            first: b.first().copied().unwrap_or(0),
            last: b.last().copied().unwrap_or(0),
        }
    }

    #[inline]
    fn equals(&self, v: &[u8]) -> bool {
        v.len() == self.bytes.len()
            && v.first() == Some(&self.first)
            && v.last() == Some(&self.last)
            && *v == *self.bytes
    }

    #[inline]
    fn starts(&self, v: &[u8]) -> bool {
        v.len() >= self.bytes.len() && v.first() == Some(&self.first) && v.starts_with(&self.bytes)
    }

    #[inline]
    fn ends(&self, v: &[u8]) -> bool {
        v.len() >= self.bytes.len() && v.last() == Some(&self.last) && v.ends_with(&self.bytes)
    }
}

#[derive(Debug, Clone, Copy)]
enum How {
    Equals,
    StartsWith,
    EndsWith,
}

impl Compiled {
    /// Compiles a trail's selectors (always valid: see [`Selectors`]).
    pub fn compile(selectors: &Selectors) -> Compiled {
        match selectors {
            Selectors::Default => Self::basic(&[EventSelector::default()]),
            Selectors::Basic(b) => Self::basic(b),
            Selectors::Advanced(a) => Self::advanced(a),
        }
    }

    /// True when these selectors select exactly what a new trail's do: every management event
    /// (read and write, no source excluded) and nothing else. The router may then test
    /// `record.fields.category == Category::Management` instead of calling [`Self::matches`].
    pub fn is_default(&self) -> bool {
        self.default
    }

    /// True when `record` matches any of the selectors.
    #[inline]
    pub fn matches(&self, record: &Record) -> bool {
        let (f, b) = (&record.fields, record.bytes.as_slice());
        match &self.rules {
            Rules::Basic(list) => list.iter().any(|s| s.matches(f, b)),
            Rules::Advanced(list) => list.iter().any(|s| s.matches(f, b)),
        }
    }

    fn basic(list: &[EventSelector]) -> Compiled {
        let rules: Box<[Basic]> = list
            .iter()
            .map(|s| Basic {
                read_write: s.read_write_type,
                management: s.include_management_events,
                exclude: bytes_list(&s.exclude_management_event_sources),
                data: s
                    .data_resources
                    .iter()
                    .map(|d| Data {
                        kind: d.kind.as_bytes().into(),
                        arns: d
                            .values
                            .iter()
                            .map(|v| {
                                let prefix = data_value(&d.kind, v) != Some(DataValue::Exact);
                                (prefix, v.as_bytes().into())
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let all_management = rules
            .iter()
            .any(|s| s.management && s.read_write == ReadWriteType::All && s.exclude.is_empty());
        let default = all_management && rules.iter().all(|s| s.data.is_empty());
        Compiled {
            rules: Rules::Basic(rules),
            default,
        }
    }

    fn advanced(list: &[AdvancedEventSelector]) -> Compiled {
        let rules = list
            .iter()
            .map(|s| {
                let (mut record, mut resource) = (Vec::new(), Vec::new());
                for f in &s.field_selectors {
                    let Some(id) = FieldId::parse(&f.field) else {
                        continue; // unreachable for a valid `Selectors`
                    };
                    let tests = || -> Box<[Test]> {
                        f.operators()
                            .map(|(op, values)| Test {
                                how: match op {
                                    Operator::Equals | Operator::NotEquals => How::Equals,
                                    Operator::StartsWith | Operator::NotStartsWith => {
                                        How::StartsWith
                                    }
                                    Operator::EndsWith | Operator::NotEndsWith => How::EndsWith,
                                },
                                negated: op.negated(),
                                values: values.iter().map(|v| Val::new(v)).collect(),
                            })
                            .collect()
                    };
                    let equals = f.equals.as_deref().unwrap_or_default();
                    match id {
                        FieldId::Category => record.push(Cond::Category(
                            equals
                                .iter()
                                .map(|v| Category::parse(v.as_bytes()).bit())
                                .fold(0, |a, b| a | b),
                        )),
                        FieldId::ReadOnly => record.push(Cond::ReadOnly(
                            equals
                                .iter()
                                .map(|v| if v == "true" { 2 } else { 1 })
                                .fold(0, |a, b| a | b),
                        )),
                        FieldId::Str(field) => record.push(Cond::Str(field, tests())),
                        FieldId::ResourceType => resource.push(Cond::Resource(false, tests())),
                        FieldId::ResourceArn => resource.push(Cond::Resource(true, tests())),
                    }
                }
                record.sort_by_key(Cond::cost);
                Advanced {
                    record: record.into(),
                    resource: resource.into(),
                }
            })
            .collect();
        Compiled {
            rules: Rules::Advanced(rules),
            default: false,
        }
    }
}

impl Default for Compiled {
    /// A new trail's selectors, compiled.
    fn default() -> Self {
        Self::compile(&Selectors::Default)
    }
}

fn bytes_list(values: &[String]) -> Box<[Box<[u8]>]> {
    values.iter().map(|v| v.as_bytes().into()).collect()
}

#[inline]
fn fits(read_write: ReadWriteType, read_only: Option<bool>) -> bool {
    match read_write {
        ReadWriteType::All => true,
        ReadWriteType::ReadOnly => read_only == Some(true),
        ReadWriteType::WriteOnly => read_only == Some(false),
    }
}

impl Basic {
    fn matches(&self, f: &Fields, bytes: &[u8]) -> bool {
        if !fits(self.read_write, f.read_only) {
            return false;
        }
        match f.category {
            Category::Management => {
                self.management
                    && match f.get(bytes, StrField::EventSource) {
                        Some(source) => !self.exclude.iter().any(|x| **x == *source),
                        None => true,
                    }
            }
            Category::Data => self.data.iter().any(|d| {
                f.resources().iter().any(|r| {
                    f.resolve(bytes, r.kind) == Some(&d.kind[..])
                        && f.resolve(bytes, r.arn).is_some_and(|arn| {
                            d.arns.iter().any(|(prefix, v)| {
                                if *prefix {
                                    arn.starts_with(v)
                                } else {
                                    *arn == **v
                                }
                            })
                        })
                })
            }),
            _ => false,
        }
    }
}

impl Advanced {
    fn matches(&self, f: &Fields, bytes: &[u8]) -> bool {
        self.record.iter().all(|c| c.holds(f, bytes, None))
            && (self.resource.is_empty()
                || f.resources()
                    .iter()
                    .any(|r| self.resource.iter().all(|c| c.holds(f, bytes, Some(r)))))
    }
}

impl Cond {
    /// Rough cost, to test cheap conditions first.
    fn cost(&self) -> usize {
        match self {
            Cond::Category(_) | Cond::ReadOnly(_) => 0,
            Cond::Str(_, tests) | Cond::Resource(_, tests) => {
                1 + tests.iter().map(|t| t.values.len()).sum::<usize>()
            }
        }
    }

    #[inline]
    fn holds(&self, f: &Fields, bytes: &[u8], resource: Option<&Resource>) -> bool {
        match self {
            Cond::Category(mask) => mask & f.category.bit() != 0,
            Cond::ReadOnly(mask) => match f.read_only {
                Some(ro) => mask & (1 << ro as u8) != 0,
                None => false,
            },
            Cond::Str(field, tests) => {
                let value = f.get(bytes, *field);
                tests.iter().all(|t| t.holds(value))
            }
            Cond::Resource(arn, tests) => {
                let value =
                    resource.and_then(|r| f.resolve(bytes, if *arn { r.arn } else { r.kind }));
                tests.iter().all(|t| t.holds(value))
            }
        }
    }
}

impl Test {
    #[inline]
    fn holds(&self, value: Option<&[u8]>) -> bool {
        let hit = value.is_some_and(|v| match self.how {
            How::Equals => self.values.iter().any(|x| x.equals(v)),
            How::StartsWith => self.values.iter().any(|x| x.starts(v)),
            How::EndsWith => self.values.iter().any(|x| x.ends(v)),
        });
        hit != self.negated
    }
}
