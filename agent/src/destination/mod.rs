//! Destinations that receive sealed log files (see [`crate::deliver::Destination`]).

pub mod local;

pub use local::LocalDestination;
