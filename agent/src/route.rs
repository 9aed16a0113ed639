//! Routing: which trails receive a record, and under which region folder.
//!
//! Rules (CloudTrail's): global-service events (IAM, STS, CloudFront) are filed under us-east-1
//! and only reach trails that include global service events; a single-region trail receives only
//! records whose (effective) region is its home region; a multi-region trail receives every
//! region. A trail that is not logging (StopLogging, or deleted while the process runs) receives
//! nothing; an organization trail receives only the organization's accounts; a trail with event
//! selectors receives what they match. Routing allocates nothing: callers pass a reusable buffer.
//!
//! Trail indices are stable for the life of the process: the trail store
//! ([`crate::trails`]) only appends trails and turns deleted ones into non-logging tombstones, so
//! partitions keyed by index stay valid when a new [`Router`] replaces the old one
//! ([`SharedRouter`]).

use std::sync::Arc;

use crate::config::Trail;
use crate::record::{AccountId, Record, Region};

/// The current router, replaced as a whole when trails change (readers never block).
pub type SharedRouter = arc_swap::ArcSwap<Router>;

/// A trail's compiled event selectors: true when a record is selected.
#[derive(Clone)]
pub struct SelectorSet(Arc<dyn Fn(&Record) -> bool + Send + Sync>);

impl SelectorSet {
    pub fn new(matches: impl Fn(&Record) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(matches))
    }

    pub fn matches(&self, record: &Record) -> bool {
        (self.0)(record)
    }
}

impl PartialEq for SelectorSet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SelectorSet {}

impl std::fmt::Debug for SelectorSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelectorSet")
    }
}

/// Routes records to trails.
#[derive(Debug, Clone)]
pub struct Router {
    trails: Vec<Trail>,
    /// Accounts of the organization (for organization trails).
    organization: Vec<AccountId>,
    us_east_1: Region,
}

impl Router {
    pub fn new(trails: Vec<Trail>, organization: Vec<AccountId>) -> Self {
        Self {
            trails,
            organization,
            us_east_1: Region::us_east_1(),
        }
    }

    /// The trails, in configuration order (indices match [`Self::route`]'s output).
    pub fn trails(&self) -> &[Trail] {
        &self.trails
    }

    /// The region folder `record` is filed under (global service events: us-east-1).
    fn filed_region(&self, record: &Record) -> Region {
        if record.global_service {
            self.us_east_1
        } else {
            record.region
        }
    }

    /// True when trail `t` receives `record`, filed under `region`.
    fn takes(&self, t: &Trail, record: &Record, region: Region) -> bool {
        t.logging
            && (!record.global_service || t.include_global)
            && (t.multi_region || t.home_region == region)
            && (t.organization.is_none() || self.organization.contains(&record.account))
            && t.selectors.as_ref().is_none_or(|s| s.matches(record))
    }

    /// Fills `out` with the indices of the trails that receive `record`; returns the region
    /// folder the record is filed under.
    pub fn route(&self, record: &Record, out: &mut Vec<u16>) -> Region {
        out.clear();
        let region = self.filed_region(record);
        for (i, t) in self.trails.iter().enumerate() {
            if self.takes(t, record, region) {
                out.push(i as u16);
            }
        }
        region
    }

    /// True when some trail receives `record` (intake's check: stops at the first, allocates
    /// nothing).
    pub fn receives(&self, record: &Record) -> bool {
        let region = self.filed_region(record);
        self.trails.iter().any(|t| self.takes(t, record, region))
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
            logging: true,
            organization: None,
            selectors: None,
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
        let r = Router::new(
            vec![
                trail("multi", "us-east-1", true, true),
                trail("eu-only", "eu-west-1", false, true),
                trail("east-noglobal", "us-east-1", false, false),
            ],
            Vec::new(),
        );
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

    #[test]
    fn stopped_organization_and_selected_trails() {
        let mut stopped = trail("stopped", "us-east-1", true, true);
        stopped.logging = false;
        let mut org = trail("org", "us-east-1", true, true);
        org.organization = Some("o-aa11bb22cc".into());
        let mut picky = trail("picky", "us-east-1", true, true);
        picky.selectors = Some(SelectorSet::new(|r: &Record| r.event_time > 10));
        let member = AccountId::parse("111122223333").expect("acct");
        let r = Router::new(vec![stopped, org, picky], vec![member]);
        let mut out = Vec::new();
        let mut rec = record("us-east-1", false);
        r.route(&rec, &mut out);
        assert!(out.is_empty(), "not logging, not a member, not selected");
        assert!(!r.receives(&rec));
        rec.account = member;
        rec.event_time = 11;
        r.route(&rec, &mut out);
        assert_eq!(out, vec![1, 2]);
        assert!(r.receives(&rec));
    }
}
