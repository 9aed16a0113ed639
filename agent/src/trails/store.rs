//! The trail store: every trail's definition and API-managed state, in one JSON file
//! (`<data_dir>/trails/trails.json`, replaced atomically).
//!
//! Trails come from two places and live here together: the `[[trails]]` of the config file
//! (origin `config`) and trails created through the API (origin `api`). At start the config file
//! is merged in ([`Store::merge_config`]):
//! - a config trail the store does not know is added;
//! - a config trail whose entry in the file changed since the store last saw it (compared by
//!   fingerprint) takes the file's settings; while the entry is unchanged, changes made through
//!   the API (UpdateTrail, selectors, StopLogging, tags) survive restarts;
//! - a config trail removed from the file is removed from the store;
//! - an API trail with the name of a config trail is taken over by the config file.
//!
//! The store's order is the order trails were added; it only matters for display.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TrailConfig;

/// Where a trail was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Config,
    Api,
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One trail: its settings and what the API manages besides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTrail {
    pub spec: TrailConfig,
    pub origin: Origin,
    /// Fingerprint of the config file entry last merged (config trails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_fingerprint: Option<String>,
    pub logging: bool,
    /// Epoch seconds of the last StartLogging (or creation) and StopLogging.
    #[serde(default)]
    pub start_logging_time: Option<f64>,
    #[serde(default)]
    pub stop_logging_time: Option<f64>,
    /// The validated PutEventSelectors input (`{"EventSelectors": [...]}` or
    /// `{"AdvancedEventSelectors": [...]}`); `None` = CloudTrail's default selectors.
    #[serde(default)]
    pub event_selectors: Option<Value>,
    /// The validated `InsightSelectors` list; `None` = never enabled.
    #[serde(default)]
    pub insight_selectors: Option<Value>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl StoredTrail {
    /// A trail that starts logging now.
    pub fn new(spec: TrailConfig, origin: Origin, now: f64) -> Self {
        let config_fingerprint = (origin == Origin::Config).then(|| fingerprint(&spec));
        Self {
            spec,
            origin,
            config_fingerprint,
            logging: true,
            start_logging_time: Some(now),
            stop_logging_time: None,
            event_selectors: None,
            insight_selectors: None,
            tags: Vec::new(),
        }
    }
}

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("trail store {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("trail store {path} is damaged: {error}")]
    Parse {
        path: PathBuf,
        error: serde_json::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    trails: Vec<StoredTrail>,
    #[serde(default)]
    deleted: Vec<DeletedConfigTrail>,
}

/// A config file trail deleted through the API: it stays deleted while its entry in the file is
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedConfigTrail {
    pub name: String,
    pub fingerprint: String,
}

/// The trail store (see the module docs).
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
    pub trails: Vec<StoredTrail>,
    deleted: Vec<DeletedConfigTrail>,
}

impl Store {
    /// Loads `<data_dir>/trails/trails.json` (empty when it does not exist yet).
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("trails").join("trails.json");
        let file = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<File>(&bytes).map_err(|error| StoreError::Parse {
                    path: path.clone(),
                    error,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(error) => return Err(StoreError::Io { path, error }),
        };
        Ok(Self {
            path,
            trails: file.trails,
            deleted: file.deleted,
        })
    }

    /// Merges the config file's trails (see the module docs). Returns true when the store
    /// changed.
    pub fn merge_config(&mut self, config: &[TrailConfig], now: f64) -> bool {
        let before = (self.trails.clone(), self.deleted.clone());
        self.trails
            .retain(|t| t.origin == Origin::Api || config.iter().any(|c| c.name == t.spec.name));
        // Deletions hold while the file's entry is unchanged.
        self.deleted.retain(|d| {
            config
                .iter()
                .any(|c| c.name == d.name && fingerprint(c) == d.fingerprint)
        });
        for c in config {
            let print = fingerprint(c);
            if self
                .deleted
                .iter()
                .any(|d| d.name == c.name && d.fingerprint == print)
            {
                continue;
            }
            match self.trails.iter_mut().find(|t| t.spec.name == c.name) {
                Some(t) if t.config_fingerprint.as_deref() == Some(print.as_str()) => {}
                Some(t) => {
                    if t.origin == Origin::Api {
                        tracing::warn!(trail = %c.name, "the config file defines a trail created through the API; the config file's settings win");
                    }
                    t.spec = c.clone();
                    t.origin = Origin::Config;
                    t.config_fingerprint = Some(print);
                }
                None => self
                    .trails
                    .push(StoredTrail::new(c.clone(), Origin::Config, now)),
            }
        }
        (self.trails.clone(), self.deleted.clone()) != before
    }

    /// Removes trail `name`; a config file trail stays deleted until its entry changes.
    pub fn remove(&mut self, name: &str) -> Option<StoredTrail> {
        let i = self.trails.iter().position(|t| t.spec.name == name)?;
        let t = self.trails.remove(i);
        if let Some(fingerprint) = &t.config_fingerprint {
            self.deleted.push(DeletedConfigTrail {
                name: name.to_string(),
                fingerprint: fingerprint.clone(),
            });
        }
        Some(t)
    }

    /// Saves the store atomically (temporary file, fsync, rename, fsync of the folder).
    pub fn save(&self) -> Result<(), StoreError> {
        let io = |error| StoreError::Io {
            path: self.path.clone(),
            error,
        };
        let file = File {
            version: 1,
            trails: self.trails.clone(),
            deleted: self.deleted.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
        crate::fsutil::write_atomic(&self.path, &bytes).map_err(io)
    }

    pub fn find(&self, name: &str) -> Option<&StoredTrail> {
        self.trails.iter().find(|t| t.spec.name == name)
    }

    pub fn find_mut(&mut self, name: &str) -> Option<&mut StoredTrail> {
        self.trails.iter_mut().find(|t| t.spec.name == name)
    }

    /// The trails' settings, in store order.
    pub fn specs(&self) -> Vec<TrailConfig> {
        self.trails.iter().map(|t| t.spec.clone()).collect()
    }
}

/// SHA-256 of a config entry's canonical JSON.
fn fingerprint(spec: &TrailConfig) -> String {
    use sha2::Digest as _;
    let json = serde_json::to_vec(spec).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, bucket: &str) -> TrailConfig {
        let cfg = crate::config::Config::from_toml(
            "[[trails]]\nname = \"placeholder\"\ns3_bucket_name = \"audit-bucket\"\n",
            Path::new("/"),
            "t",
        )
        .expect("config");
        // Short names read better in the tests; the store does not check them.
        let mut t = cfg.trails[0].clone();
        t.name = name.into();
        t.s3_bucket_name = bucket.into();
        t
    }

    #[test]
    fn config_merge_keeps_api_changes_until_the_file_changes() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = Store::open(dir.path()).expect("open");
        assert!(store.merge_config(&[spec("a", "b1"), spec("c", "b1")], 1.0));
        store
            .trails
            .push(StoredTrail::new(spec("api", "b2"), Origin::Api, 2.0));
        store.find_mut("a").expect("a").logging = false;
        store.save().expect("save");

        let mut again = Store::open(dir.path()).expect("reopen");
        assert_eq!(again.trails, store.trails);
        // Unchanged file: API state survives; "c" left the file and goes.
        assert!(again.merge_config(&[spec("a", "b1")], 3.0));
        assert_eq!(
            again
                .trails
                .iter()
                .map(|t| t.spec.name.as_str())
                .collect::<Vec<_>>(),
            ["a", "api"]
        );
        assert!(!again.find("a").expect("a").logging);
        // Changed entry: the file's settings win, API-managed state stays.
        again.merge_config(&[spec("a", "b9")], 4.0);
        let a = again.find("a").expect("a");
        assert_eq!(a.spec.s3_bucket_name, "b9");
        assert!(!a.logging);
        // A config trail named like an API trail takes it over.
        again.merge_config(&[spec("a", "b9"), spec("api", "b3")], 5.0);
        let api = again.find("api").expect("api");
        assert_eq!(api.origin, Origin::Config);
        assert_eq!(api.spec.s3_bucket_name, "b3");
        // A config trail deleted through the API stays deleted until its entry changes.
        again.remove("a").expect("a");
        again.merge_config(&[spec("a", "b9"), spec("api", "b3")], 6.0);
        assert!(again.find("a").is_none());
        again.merge_config(&[spec("a", "b10"), spec("api", "b3")], 7.0);
        assert_eq!(again.find("a").expect("back").spec.s3_bucket_name, "b10");
    }
}
