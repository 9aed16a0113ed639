//! Trails as CloudTrail defines them: one persistent store for the trails of the config file and
//! those made through the API ([`store`]), CloudTrail's rules for changing them ([`rules`]), and
//! the live set the running pipeline routes with ([`live`]).
//!
//! Invariant: a change is saved in the store before the pipeline uses it, and the API call that
//! made it returns only after the batcher has switched to it (files the change closes are sealed
//! with the settings they were written under).

pub mod live;
pub mod rules;
pub mod store;

pub use live::LiveTrails;
pub use store::{Origin, Store, StoredTrail, Tag};

/// A refused trail operation, as the API reports it: AWS's exception name and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct TrailError {
    pub exception: &'static str,
    pub message: String,
}

impl TrailError {
    pub fn new(exception: &'static str, message: impl Into<String>) -> Self {
        Self {
            exception,
            message: message.into(),
        }
    }
}
