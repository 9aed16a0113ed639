//! The live trail set: applies changes made through the API to the running pipeline.
//!
//! A change ([`LiveTrails::change`]) is made on a copy of the store, validated as a whole (the
//! config file's rules plus CloudTrail's limits), saved, and then applied: the storage table of
//! the S3 destination and SNS notifier takes the new settings, the batcher seals what the change
//! closes and switches router, and finally intake and the record streams see the new router.
//! Changes are serialised by one lock; reads take a snapshot.
//!
//! Trail indices are stable for the life of the process ([`slots`]): a deleted trail leaves a
//! tombstone that receives nothing, and a re-created trail of the same name takes its old index.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use parking_lot::Mutex;
use serde_json::Value;

use super::store::{Origin, Store, StoreError};
use super::{TrailError, rules};
use crate::batch::Control;
use crate::config::{Config, Trail};
use crate::destination::TrailTable;
use crate::record::AccountId;
use crate::route::{Router, SelectorSet, SharedRouter};

/// How long a change waits for the batcher to switch (it seals files, which takes moments).
const APPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the trail set could not be prepared at start.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("trail store {path}: {error}")]
    Invalid {
        path: std::path::PathBuf,
        error: TrailError,
    },
}

/// Turns a trail's stored event selectors into the router's matcher.
pub type SelectorCompiler = fn(&Value) -> Result<Option<SelectorSet>, TrailError>;

/// Opens the store, merges the config file's trails into it and saves it. Returns the store and
/// the effective configuration: `config` with the store's trails.
pub fn prepare(config: &Config) -> Result<(Store, Config), PrepareError> {
    let mut store = Store::open(&config.data_dir)?;
    let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    if store.merge_config(&config.trails, now) {
        store.save()?;
    }
    let effective = effective(config, &store);
    effective
        .check_trails()
        .map_err(|e| PrepareError::Invalid {
            path: config.data_dir.join("trails").join("trails.json"),
            error: rules::invalid_setting(&e),
        })?;
    Ok((store, effective))
}

/// `base` with the store's trails.
fn effective(base: &Config, store: &Store) -> Config {
    let mut c = base.clone();
    c.trails = store.specs();
    c
}

/// The router's trails for `store` (validated by `config`, which holds the store's trails):
/// settings, logging state and compiled selectors.
pub fn runtime_trails(
    config: &Config,
    store: &Store,
    compile: SelectorCompiler,
) -> Result<Vec<Trail>, TrailError> {
    config
        .check_trails()
        .map_err(|e| rules::invalid_setting(&e))?;
    let mut trails = config.trails();
    for (t, stored) in trails.iter_mut().zip(&store.trails) {
        t.logging = stored.logging;
        t.selectors = match (&stored.event_selectors, stored.origin) {
            (Some(v), _) => compile(v)?,
            // CreateTrail's default: all management events, no data events.
            (None, Origin::Api) => compile(&Value::String("Default".into()))?,
            // A config-file trail without selectors takes every record it routes (as before
            // the API existed), Insights and data events included.
            (None, Origin::Config) => None,
        };
    }
    Ok(trails)
}

/// `current` placed in the stable slots of `previous` (see the module docs).
pub fn slots(previous: &[Trail], current: Vec<Trail>) -> Result<Vec<Trail>, TrailError> {
    let mut slots: Vec<Trail> = previous.to_vec();
    for s in &mut slots {
        s.logging = false;
        s.selectors = None;
    }
    for t in current {
        match slots.iter().position(|s| s.name == t.name) {
            Some(i) => slots[i] = t,
            None => slots.push(t),
        }
    }
    if slots.len() > usize::from(u16::MAX) {
        return Err(TrailError::new(
            "MaximumNumberOfTrailsExceededException",
            "too many distinct trail names since the agent started; restart it",
        ));
    }
    Ok(slots)
}

struct Inner {
    store: Store,
    slots: Vec<Trail>,
}

/// The trail set the pipeline runs with (see the module docs).
pub struct LiveTrails {
    /// The configuration without the store's changes (its trails are the store's at start).
    base: Config,
    /// The account that owns the trails (in ARNs and messages).
    pub account: String,
    organization: Vec<AccountId>,
    inner: Mutex<Inner>,
    router: Arc<SharedRouter>,
    deliveries: TrailTable,
    batcher: Sender<Control>,
    compile: SelectorCompiler,
    /// Delivered files can be announced on SNS (so trails may set a topic).
    pub notifies: bool,
}

/// What [`LiveTrails::new`] needs from the pipeline.
pub struct Pipeline {
    pub router: Arc<SharedRouter>,
    pub deliveries: TrailTable,
    pub batcher: Sender<Control>,
    pub notifies: bool,
}

impl LiveTrails {
    /// The live set over `store`, whose router (`pipeline.router`) is already running.
    pub fn new(
        config: &Config,
        store: Store,
        pipeline: Pipeline,
        compile: SelectorCompiler,
    ) -> Self {
        let slots = pipeline.router.load().trails().to_vec();
        Self {
            account: config
                .account_id
                .clone()
                .unwrap_or_else(|| "000000000000".to_string()),
            organization: config.organization_accounts(),
            base: config.clone(),
            inner: Mutex::new(Inner { store, slots }),
            router: pipeline.router,
            deliveries: pipeline.deliveries,
            batcher: pipeline.batcher,
            compile,
            notifies: pipeline.notifies,
        }
    }

    /// The configuration the trails are checked with.
    pub fn config(&self) -> &Config {
        &self.base
    }

    /// A snapshot of the store.
    pub fn store(&self) -> Store {
        self.inner.lock().store.clone()
    }

    /// Applies `change` to the store and the running pipeline (see the module docs). Nothing
    /// changes when `change` or the validation fails.
    pub fn change<R>(
        &self,
        change: impl FnOnce(&mut Store) -> Result<R, TrailError>,
    ) -> Result<R, TrailError> {
        let mut inner = self.inner.lock();
        let mut candidate = inner.store.clone();
        let out = change(&mut candidate)?;
        let config = effective(&self.base, &candidate);
        rules::check_limit(&config.trails, &self.account)?;
        let current = runtime_trails(&config, &candidate, self.compile)?;
        let slots = slots(&inner.slots, current)?;
        candidate.save().map_err(|e| {
            tracing::error!(error = %e, "cannot save the trail store");
            TrailError::new("InternalFailure", "cannot save the trail store")
        })?;
        self.deliveries.update(config.trail_deliveries());
        let router = Arc::new(Router::new(slots.clone(), self.organization.clone()));
        let (reply, done) = crossbeam_channel::bounded(1);
        let sent = self.batcher.send(Control::Reconfigure {
            router: router.clone(),
            reply,
        });
        if sent.is_err() || done.recv_timeout(APPLY_TIMEOUT).is_err() {
            // Saved: the next start runs with it.
            tracing::warn!("the batcher did not take the trail change (shutting down?)");
        }
        self.router.store(router);
        inner.store = candidate;
        inner.slots = slots;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(name: &str) -> Trail {
        let cfg = Config::from_toml(
            "[[trails]]\nname = \"placeholder\"\ns3_bucket_name = \"audit-bucket\"\n",
            std::path::Path::new("/"),
            "t",
        )
        .expect("config");
        let mut t = cfg.trails().remove(0);
        t.name = name.into();
        t
    }

    #[test]
    fn slots_are_stable() {
        let first = slots(&[], vec![trail("a"), trail("b")]).expect("slots");
        // "a" deleted, "c" created: "b" keeps index 1, "a" is a tombstone.
        let second = slots(&first, vec![trail("b"), trail("c")]).expect("slots");
        let names: Vec<&str> = second.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(!second[0].logging);
        assert!(second[1].logging && second[2].logging);
        // "a" re-created takes its old index again.
        let third = slots(&second, vec![trail("a"), trail("b"), trail("c")]).expect("slots");
        assert_eq!(third.len(), 3);
        assert!(third[0].logging);
    }
}
