//! Encoding log files: chunked single-member gzip and CloudTrail object keys.

pub mod gzip;
pub mod object_key;
