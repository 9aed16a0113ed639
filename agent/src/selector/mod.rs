//! CloudTrail event selectors (issue #6): the API model, PutEventSelectors' validation, and
//! compiled matching of records against a trail's selectors.
//!
//! - [`model`]: botocore's shapes (`EventSelectors`, `AdvancedEventSelectors`) and [`Selectors`],
//!   what a trail stores (JSON) and GetEventSelectors echoes; `Selectors::Default` for a new trail
//!   (`HasCustomEventSelectors` false).
//! - [`validate`](mod@validate): the request rules and [`SelectorError`] (AWS's exception names).
//! - [`compile`](mod@compile): [`Compiled::compile`] once, [`Compiled::matches`] per record with no
//!   allocation and no parsing (the fields come from `record::validate`, see
//!   [`crate::record::Fields`]). The matching rules are stated there.
//!
//! Use: on PutEventSelectors, `Selectors::from_input(body)?` (or `from_put`), store it, answer
//! `selectors.response(arn)`; on every change, `Compiled::compile(&selectors)` and hand it to
//! the router, which keeps a record for a trail when `compiled.matches(&record)`.

pub mod compile;
pub mod model;
pub mod validate;

#[cfg(test)]
mod tests;

pub use compile::Compiled;
pub use model::{
    AdvancedEventSelector, AdvancedFieldSelector, DataResource, DataResourceInput, EventSelector,
    EventSelectorInput, Operator, PutEventSelectorsInput, ReadWriteType, Selectors,
};
pub use validate::SelectorError;
