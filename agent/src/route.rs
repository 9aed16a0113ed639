//! Routing: which trails receive a record, and under which region folder.
//!
//! Rules (CloudTrail's): global-service events (IAM, STS, CloudFront) are filed under us-east-1
//! and only reach trails that include global service events; a single-region trail receives only
//! records whose (effective) region is its home region; a multi-region trail receives every
//! region. Routing allocates nothing: callers pass a reusable buffer.

use crate::config::Trail;
use crate::record::{Record, Region};

/// Routes records to trails.
#[derive(Debug, Clone)]
pub struct Router {
    trails: Vec<Trail>,
    us_east_1: Region,
}

impl Router {
    pub fn new(trails: Vec<Trail>) -> Self {
        Self {
            trails,
            us_east_1: Region::us_east_1(),
        }
    }

    /// The trails, in configuration order (indices match [`Self::route`]'s output).
    pub fn trails(&self) -> &[Trail] {
        &self.trails
    }

    /// Fills `out` with the indices of the trails that receive `record`; returns the region
    /// folder the record is filed under.
    pub fn route(&self, record: &Record, out: &mut Vec<u16>) -> Region {
        out.clear();
        let region = if record.global_service {
            self.us_east_1
        } else {
            record.region
        };
        for (i, t) in self.trails.iter().enumerate() {
            if record.global_service && !t.include_global {
                continue;
            }
            if !t.multi_region && t.home_region != region {
                continue;
            }
            out.push(i as u16);
        }
        region
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{AccountId, Region};

    fn trail(name: &str, home: &str, multi: bool, global: bool) -> Trail {
        Trail {
            name: name.into(),
            home_region: Region::parse(home).expect("region"),
            bucket: "b".into(),
            prefix: String::new(),
            multi_region: multi,
            include_global: global,
            delivery_interval_secs: 300,
            gzip_level: 6,
            max_file_bytes: 50_000_000,
            digest_interval_secs: None,
        }
    }

    fn record(region: &str, global: bool) -> Record {
        Record {
            bytes: b"{}".to_vec(),
            account: AccountId::parse("123456789012").expect("acct"),
            region: Region::parse(region).expect("region"),
            global_service: global,
            event_time: 0,
            fields: Default::default(),
        }
    }

    #[test]
    fn routes_by_region_and_globality() {
        let r = Router::new(vec![
            trail("multi", "us-east-1", true, true),
            trail("eu-only", "eu-west-1", false, true),
            trail("east-noglobal", "us-east-1", false, false),
        ]);
        let mut out = Vec::new();
        assert_eq!(
            r.route(&record("eu-west-1", false), &mut out).as_str(),
            "eu-west-1"
        );
        assert_eq!(out, vec![0, 1]);
        assert_eq!(
            r.route(&record("eu-west-1", true), &mut out).as_str(),
            "us-east-1"
        );
        assert_eq!(out, vec![0]);
        r.route(&record("us-east-1", false), &mut out);
        assert_eq!(out, vec![0, 2]);
        r.route(&record("ap-south-1", false), &mut out);
        assert_eq!(out, vec![0]);
    }
}
