//! Configuration: the TOML file (or string, for embedding) and its validation.
//!
//! Invariants after [`Config::from_toml`] returns `Ok`: unknown keys were refused, relative paths
//! are resolved against the config file's folder, every trail name, bucket and prefix is safe as
//! a path component, and every limit is in range. Errors name the offending key. Trail storage
//! settings (`sse`, `kms_key_id`, `bucket_key_enabled`, `sns_topic_arn`) are consistent, and
//! trails that share a bucket and key prefix agree on them (destinations find a file's trail by
//! bucket and prefix).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::{AccountId, Region};

/// A configuration error, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: `{key}`: {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// A trail setting that is not valid: trail number `index`, its `key` and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("trails[{index}].{key}: {message}")]
pub struct TrailInvalid {
    pub index: usize,
    pub key: String,
    pub message: String,
}

/// Whether a submitted record is acknowledged once queued or once durable on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Acknowledge after the write-ahead log is fsynced (default).
    #[default]
    Spool,
    /// Acknowledge once queued; the write-ahead log is still written, without waiting for fsync.
    Memory,
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Checkpoints, write-ahead log, staging, quarantine, keys.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Account used when a record names none.
    pub account_id: Option<String>,
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    /// Memory budget for records in flight, in MiB.
    #[serde(default = "default_memory_limit_mb")]
    pub memory_limit_mb: u64,
    /// Disk budget for the write-ahead log (records accepted and not yet delivered everywhere),
    /// in MiB: past it, intake waits as when the memory budget is full.
    #[serde(default = "default_disk_limit_mb")]
    pub disk_limit_mb: u64,
    #[serde(default)]
    pub durability: Durability,
    /// How long a submit waits for room in the memory budget before answering busy.
    #[serde(default = "default_submit_timeout_ms")]
    pub submit_timeout_ms: u64,
    /// How long shutdown may take to deliver what was read before giving up (data stays spooled).
    #[serde(default = "default_shutdown_grace_secs")]
    pub shutdown_grace_secs: u64,
    /// Compression worker threads (default: number of CPUs + 1).
    pub compression_threads: Option<usize>,
    /// Nice value of the compression and write-ahead-log threads (0-19; 0 leaves them at the
    /// process's priority): see [`crate::priority`].
    #[serde(default = "default_background_nice")]
    pub background_nice: i32,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub trails: Vec<TrailConfig>,
    #[serde(default)]
    pub trail_defaults: TrailDefaults,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub aws: AwsConfig,
    #[serde(default)]
    pub api: ApiConfig,
    /// `[organization]`: the AWS Organization whose member accounts organization trails cover.
    pub organization: Option<OrganizationConfig>,
}

/// `[organization]`: this agent's account (`account_id`) is the management account of
/// organization `id`; organization trails receive the records of it and of `member_accounts`,
/// filed under `AWSLogs/<id>/<account>/…`. Member accounts may read organization trails through
/// the API but not change them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    /// `o-` followed by 10-32 lowercase letters or digits.
    pub id: String,
    #[serde(default)]
    pub member_accounts: Vec<String>,
}

/// `[api]`: the CloudTrail control-plane API (JSON 1.1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the API server; off when unset. A non-loopback address needs TLS.
    pub listen: Option<SocketAddr>,
    /// Access keys allowed to call the API (default `<data_dir>/api/credentials.json`; a
    /// relative path is relative to the data dir; created with one generated admin key on first
    /// start).
    pub credentials_file: Option<PathBuf>,
    /// IAM identity policies per principal (default `<data_dir>/api/policies.json`; relative to
    /// the data dir).
    pub policy_file: Option<PathBuf>,
    /// PEM certificate chain; with `tls_key`, the API is served over TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// `[aws]`: how the S3 destination and SNS notifications reach AWS. Credentials always come from
/// the SDK's default chain (environment, profile, web identity, container/instance metadata) and
/// are refreshed by it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Region for S3 requests (default: the SDK's chain, `AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint override for every service (S3-compatible stores, moto, LocalStack). Per-service
    /// `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SNS` apply when this is unset.
    pub endpoint_url: Option<String>,
    /// Multipart part size in MiB (5-5120); larger files are uploaded in parts of this size.
    #[serde(default = "default_multipart_part_mb")]
    pub multipart_part_mb: u64,
    /// Files uploaded (and notifications published) at once per delivery batch.
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: usize,
}

impl ApiConfig {
    /// The credentials file: `credentials_file` (relative to the data dir), by default
    /// `<data_dir>/api/credentials.json`.
    pub fn credentials_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(
            self.credentials_file
                .as_deref()
                .unwrap_or(Path::new("api/credentials.json")),
        )
    }

    /// The policies file: `policy_file` (relative to the data dir), by default
    /// `<data_dir>/api/policies.json`.
    pub fn policy_path(&self, data_dir: &Path) -> PathBuf {
        data_dir.join(
            self.policy_file
                .as_deref()
                .unwrap_or(Path::new("api/policies.json")),
        )
    }
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            multipart_part_mb: default_multipart_part_mb(),
            upload_concurrency: default_upload_concurrency(),
        }
    }
}

/// Server-side encryption of delivered objects (`[[trails]] sse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum Sse {
    /// SSE-S3 (`x-amz-server-side-encryption: AES256`).
    #[default]
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS with the trail's `kms_key_id`.
    #[serde(rename = "aws:kms")]
    AwsKms,
}

/// `[storage]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Local destination root: bucket `B`, key `K` is stored at `local_root/B/K`.
    pub local_root: Option<PathBuf>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Prometheus endpoint address (`GET /metrics`).
    pub listen: Option<SocketAddr>,
}

/// `[trail_defaults]`: settings for trails that do not name them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailDefaults {
    #[serde(default = "default_delivery_interval_secs")]
    pub delivery_interval_secs: u64,
    #[serde(default = "default_gzip_level")]
    pub gzip_level: u32,
    #[serde(default = "default_digest_interval_secs")]
    pub digest_interval_secs: u64,
}

impl Default for TrailDefaults {
    fn default() -> Self {
        Self {
            delivery_interval_secs: default_delivery_interval_secs(),
            gzip_level: default_gzip_level(),
            digest_interval_secs: default_digest_interval_secs(),
        }
    }
}

/// Input format of a file source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One JSON record per line, tailed.
    #[default]
    Lines,
    /// Whole CloudTrail log files (`{"Records":[...]}`, `.json` or `.json.gz`), read once each.
    Cloudtrail,
}

/// `[[sources]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    File {
        /// Glob patterns.
        paths: Vec<String>,
        #[serde(default)]
        format: FileFormat,
        /// How often files are polled for new data and globs re-expanded.
        #[serde(default = "default_poll_interval_ms")]
        poll_interval_ms: u64,
    },
    Http {
        listen: SocketAddr,
        /// Largest request body accepted (413 above).
        #[serde(default = "default_max_body_bytes")]
        max_body_bytes: usize,
    },
}

/// `[[trails]]`: names follow CloudTrail's CreateTrail parameters in snake_case. The trail store
/// (`crate::trails`) keeps the same struct for trails created through the API.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrailConfig {
    pub name: String,
    #[serde(default = "default_home_region")]
    pub home_region: String,
    pub s3_bucket_name: String,
    #[serde(default)]
    pub s3_key_prefix: String,
    #[serde(default)]
    pub is_multi_region_trail: bool,
    #[serde(default = "default_true")]
    pub include_global_service_events: bool,
    pub delivery_interval_secs: Option<u64>,
    pub gzip_level: Option<u32>,
    /// Largest compressed log file (CloudTrail's cap is 50 MB).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Server-side encryption of the trail's objects in S3.
    #[serde(default)]
    pub sse: Sse,
    /// KMS key id, key ARN, alias name or alias ARN; required with `sse = "aws:kms"`.
    pub kms_key_id: Option<String>,
    /// S3 Bucket Key for SSE-KMS (fewer KMS requests; coarser KMS audit trail).
    #[serde(default)]
    pub bucket_key_enabled: bool,
    /// SNS topic notified (`{"s3Bucket":…,"s3ObjectKey":[…]}`) after each log file is stored.
    pub sns_topic_arn: Option<String>,
    /// CloudWatch Logs group (ARN) that receives every record of the trail as one log event.
    pub cloud_watch_logs_log_group_arn: Option<String>,
    /// EventBridge bus (name or ARN) that receives every record of the trail as one event.
    pub event_bus_name: Option<String>,
    /// EventBridge `source` is this prefix followed by the service (`s3` for
    /// `s3.amazonaws.com`). Default `opentrail.`; `aws.` is reserved by AWS.
    pub event_source_prefix: Option<String>,
    /// Write signed digest files (log file integrity validation).
    #[serde(default)]
    pub enable_log_file_validation: bool,
    /// Period of a digest file, in seconds (default `[trail_defaults] digest_interval_secs`).
    pub digest_interval_secs: Option<u64>,
    /// Sign digests with this KMS asymmetric key (RSA_2048, SIGN_VERIFY) instead of a local key.
    pub digest_signing_kms_key_id: Option<String>,
    /// An organization trail (needs `[organization]`): receives the records of every account of
    /// the organization, filed under `AWSLogs/<organization id>/<account>/`.
    #[serde(default)]
    pub is_organization_trail: bool,
    /// Kept and reported for CloudTrail compatibility; the agent's own credentials deliver.
    pub cloud_watch_logs_role_arn: Option<String>,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("opentrail-data")
}
fn default_max_record_bytes() -> usize {
    262_144
}
fn default_memory_limit_mb() -> u64 {
    64
}
fn default_disk_limit_mb() -> u64 {
    20_480
}
fn default_background_nice() -> i32 {
    10
}
fn default_submit_timeout_ms() -> u64 {
    1000
}
fn default_shutdown_grace_secs() -> u64 {
    60
}
fn default_delivery_interval_secs() -> u64 {
    300
}
fn default_gzip_level() -> u32 {
    6
}
fn default_digest_interval_secs() -> u64 {
    3600
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_max_body_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_home_region() -> String {
    "us-east-1".to_string()
}
fn default_true() -> bool {
    true
}
fn default_max_file_bytes() -> u64 {
    50_000_000
}
fn default_multipart_part_mb() -> u64 {
    16
}
fn default_upload_concurrency() -> usize {
    8
}

/// A trail after validation, with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trail {
    pub name: String,
    pub home_region: Region,
    pub bucket: String,
    pub prefix: String,
    pub multi_region: bool,
    pub include_global: bool,
    pub delivery_interval_secs: u64,
    pub gzip_level: u32,
    pub max_file_bytes: u64,
    /// Digest period in seconds when log file validation is on.
    pub digest_interval_secs: Option<u64>,
    /// Records are delivered only while logging (StartLogging / StopLogging).
    pub logging: bool,
    /// Organization id, for an organization trail.
    pub organization: Option<String>,
    /// Event selectors; `None` = CloudTrail's default (all management events).
    pub selectors: Option<crate::route::SelectorSet>,
}

/// A CloudWatch Logs group a trail streams to (parsed from its ARN).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogGroupTarget {
    pub region: String,
    pub name: String,
}

/// An EventBridge bus a trail streams to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventBusTarget {
    /// Name or ARN, as `PutEvents` takes it.
    pub bus: String,
    /// Region of the bus: the ARN's, or the trail's home region for a bus name.
    pub region: String,
    /// `source` prefix (`opentrail.` unless configured).
    pub source_prefix: String,
}

/// The record streams of one trail (index = position in [`Config::trails`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailStreams {
    pub log_group: Option<LogGroupTarget>,
    pub event_bus: Option<EventBusTarget>,
}

/// How a trail's objects are encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// SSE-S3.
    Aes256,
    /// SSE-KMS.
    Kms { key_id: String, bucket_key: bool },
}

/// What the S3 destination and the SNS notifier need to know about a trail, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailDelivery {
    pub name: String,
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (empty for none).
    pub prefix: String,
    pub encryption: Encryption,
    pub sns_topic_arn: Option<String>,
}

impl Config {
    /// Reads and validates a config file; relative paths resolve against its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            error: source,
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &base, &path.display().to_string())
    }

    /// Parses and validates TOML text; relative paths resolve against `base`.
    pub fn from_toml(text: &str, base: &Path, origin: &str) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            key: key.to_string(),
            message,
        };
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        cfg.data_dir = resolve(&cfg.data_dir);
        for p in [&mut cfg.api.tls_cert, &mut cfg.api.tls_key]
            .into_iter()
            .flatten()
        {
            *p = resolve(p);
        }
        if cfg.api.tls_cert.is_some() != cfg.api.tls_key.is_some() {
            return Err(invalid(
                "api.tls_cert",
                "tls_cert and tls_key go together: set both for TLS, or neither".into(),
            ));
        }
        if let Some(addr) = cfg.api.listen {
            if !addr.ip().is_loopback() && cfg.api.tls_cert.is_none() {
                return Err(invalid(
                    "api.listen",
                    format!(
                        "{addr} is not a loopback address: serving the API beyond this host \
                         needs TLS (set tls_cert and tls_key)"
                    ),
                ));
            }
        }
        if let Some(root) = &cfg.storage.local_root {
            cfg.storage.local_root = Some(resolve(root));
        }
        for src in &mut cfg.sources {
            if let SourceConfig::File { paths, .. } = src {
                for p in paths.iter_mut() {
                    if Path::new(p.as_str()).is_relative() {
                        *p = base.join(p.as_str()).display().to_string();
                    }
                }
            }
        }
        if let Some(acct) = &cfg.account_id {
            if AccountId::parse(acct).is_none() {
                return Err(invalid(
                    "account_id",
                    format!("{acct:?} is not a 12-digit account id"),
                ));
            }
        }
        if !(2..=1 << 30).contains(&cfg.max_record_bytes) {
            return Err(invalid(
                "max_record_bytes",
                "must be between 2 and 1073741824".into(),
            ));
        }
        if cfg.memory_limit_mb < 8 {
            return Err(invalid("memory_limit_mb", "must be at least 8".into()));
        }
        if cfg.disk_limit_mb < 64 {
            return Err(invalid("disk_limit_mb", "must be at least 64".into()));
        }
        if !(0..=19).contains(&cfg.background_nice) {
            return Err(invalid("background_nice", "must be 0-19".into()));
        }
        if cfg.trail_defaults.gzip_level > 9 {
            return Err(invalid("trail_defaults.gzip_level", "must be 0-9".into()));
        }
        if cfg.trail_defaults.delivery_interval_secs == 0 {
            return Err(invalid(
                "trail_defaults.delivery_interval_secs",
                "must be at least 1".into(),
            ));
        }
        cfg.check_aws().map_err(|(key, msg)| invalid(&key, msg))?;
        for (i, src) in cfg.sources.iter().enumerate() {
            match src {
                SourceConfig::File {
                    paths,
                    poll_interval_ms,
                    ..
                } => {
                    if paths.is_empty() {
                        return Err(invalid(
                            &format!("sources[{i}].paths"),
                            "must name at least one glob".into(),
                        ));
                    }
                    for p in paths {
                        glob::Pattern::new(p).map_err(|e| {
                            invalid(&format!("sources[{i}].paths"), format!("{p:?}: {e}"))
                        })?;
                    }
                    if *poll_interval_ms == 0 {
                        return Err(invalid(
                            &format!("sources[{i}].poll_interval_ms"),
                            "must be at least 1".into(),
                        ));
                    }
                }
                SourceConfig::Http { max_body_bytes, .. } => {
                    if *max_body_bytes < cfg.max_record_bytes {
                        return Err(invalid(
                            &format!("sources[{i}].max_body_bytes"),
                            "must be at least max_record_bytes".into(),
                        ));
                    }
                }
            }
        }
        cfg.check_organization()
            .map_err(|(key, msg)| invalid(&key, msg))?;
        cfg.check_trails()
            .map_err(|e| invalid(&format!("trails[{}].{}", e.index, e.key), e.message))?;
        Ok(cfg)
    }

    /// Checks every trail (names unique, settings valid, trails sharing a bucket and prefix
    /// agreeing on storage); the trail store runs it on every change made through the API.
    pub fn check_trails(&self) -> Result<(), TrailInvalid> {
        let invalid = |index: usize, key: &str, message: String| TrailInvalid {
            index,
            key: key.to_string(),
            message,
        };
        let mut names = std::collections::HashSet::new();
        for i in 0..self.trails.len() {
            let trail = self.trail(i).map_err(|(key, msg)| invalid(i, key, msg))?;
            if !names.insert(trail.name.clone()) {
                return Err(invalid(
                    i,
                    "name",
                    format!("duplicate trail name {:?}", trail.name),
                ));
            }
            let delivery = self
                .trail_delivery(i)
                .map_err(|(key, msg)| invalid(i, key, msg))?;
            self.trail_stream(i)
                .map_err(|(key, msg)| invalid(i, key, msg))?;
            // Destinations find a file's trail by bucket and key prefix: trails that share both
            // must agree on how their files are stored and announced.
            for j in 0..i {
                let Ok(other) = self.trail_delivery(j) else {
                    continue;
                };
                if other.bucket == delivery.bucket
                    && other.prefix == delivery.prefix
                    && (other.encryption != delivery.encryption
                        || other.sns_topic_arn != delivery.sns_topic_arn)
                {
                    return Err(invalid(
                        i,
                        "s3_key_prefix",
                        format!(
                            "shares bucket {:?} and key prefix {:?} with trail {:?} but sets \
                             different sse/kms_key_id/bucket_key_enabled/sns_topic_arn; give \
                             one of them its own s3_key_prefix",
                            delivery.bucket, delivery.prefix, other.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_organization(&self) -> Result<(), (String, String)> {
        let Some(org) = &self.organization else {
            return Ok(());
        };
        let id_ok = org.id.strip_prefix("o-").is_some_and(|r| {
            (10..=32).contains(&r.len())
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
        if !id_ok {
            return Err((
                "organization.id".into(),
                format!(
                    "{:?} is not an organization id (o- and 10-32 lowercase letters or digits)",
                    org.id
                ),
            ));
        }
        if self.account_id.is_none() {
            return Err((
                "organization".into(),
                "needs account_id: the agent's account is the organization's management account"
                    .into(),
            ));
        }
        for a in &org.member_accounts {
            if AccountId::parse(a).is_none() {
                return Err((
                    "organization.member_accounts".into(),
                    format!("{a:?} is not a 12-digit account id"),
                ));
            }
        }
        Ok(())
    }

    /// The organization's accounts (management and members), when one is configured.
    pub fn organization_accounts(&self) -> Vec<AccountId> {
        let Some(org) = &self.organization else {
            return Vec::new();
        };
        self.account_id
            .iter()
            .chain(org.member_accounts.iter())
            .filter_map(|a| AccountId::parse(a))
            .collect()
    }

    fn check_aws(&self) -> Result<(), (String, String)> {
        let aws = &self.aws;
        if let Some(region) = &aws.region {
            if Region::parse(region).is_none() {
                return Err((
                    "aws.region".into(),
                    format!("{region:?} is not a region code"),
                ));
            }
        }
        if let Some(url) = &aws.endpoint_url {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.len() > "https://".len()
                && !url.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err((
                    "aws.endpoint_url".into(),
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
        }
        if !(5..=5120).contains(&aws.multipart_part_mb) {
            return Err((
                "aws.multipart_part_mb".into(),
                "must be between 5 and 5120".into(),
            ));
        }
        if !(1..=64).contains(&aws.upload_concurrency) {
            return Err((
                "aws.upload_concurrency".into(),
                "must be between 1 and 64".into(),
            ));
        }
        Ok(())
    }

    /// Storage and notification settings of every trail, validated.
    pub fn trail_deliveries(&self) -> Vec<TrailDelivery> {
        (0..self.trails.len())
            .filter_map(|i| self.trail_delivery(i).ok())
            .collect()
    }

    /// Record streams of every trail, in [`Self::trails`] order.
    pub fn trail_streams(&self) -> Vec<TrailStreams> {
        (0..self.trails.len())
            .filter(|&i| self.trail(i).is_ok())
            .map(|i| self.trail_stream(i).unwrap_or_default())
            .collect()
    }

    fn trail_stream(&self, i: usize) -> Result<TrailStreams, (&'static str, String)> {
        let t = &self.trails[i];
        let log_group = match &t.cloud_watch_logs_log_group_arn {
            Some(arn) => {
                Some(parse_log_group_arn(arn).map_err(|m| ("cloud_watch_logs_log_group_arn", m))?)
            }
            None => None,
        };
        let source_prefix = t
            .event_source_prefix
            .clone()
            .unwrap_or_else(|| "opentrail.".to_string());
        check_event_source_prefix(&source_prefix).map_err(|m| ("event_source_prefix", m))?;
        let event_bus = match &t.event_bus_name {
            Some(bus) => {
                let region = parse_event_bus(bus)
                    .map_err(|m| ("event_bus_name", m))?
                    .unwrap_or_else(|| t.home_region.clone());
                Some(EventBusTarget {
                    bus: bus.clone(),
                    region,
                    source_prefix,
                })
            }
            None if t.event_source_prefix.is_some() => {
                return Err((
                    "event_source_prefix",
                    "applies only with event_bus_name".into(),
                ));
            }
            None => None,
        };
        Ok(TrailStreams {
            log_group,
            event_bus,
        })
    }

    /// True when some trail asks for SNS notifications.
    pub fn wants_sns(&self) -> bool {
        self.trails.iter().any(|t| t.sns_topic_arn.is_some())
    }

    fn trail_delivery(&self, i: usize) -> Result<TrailDelivery, (&'static str, String)> {
        let t = &self.trails[i];
        let encryption = match (t.sse, &t.kms_key_id) {
            (Sse::Aes256, Some(_)) => {
                return Err((
                    "kms_key_id",
                    "is only allowed with sse = \"aws:kms\"".into(),
                ));
            }
            (Sse::Aes256, None) if t.bucket_key_enabled => {
                return Err((
                    "bucket_key_enabled",
                    "applies to sse = \"aws:kms\" only".into(),
                ));
            }
            (Sse::Aes256, None) => Encryption::Aes256,
            (Sse::AwsKms, None) => {
                return Err(("kms_key_id", "is required with sse = \"aws:kms\"".into()));
            }
            (Sse::AwsKms, Some(key)) => {
                check_kms_key_id(key)?;
                Encryption::Kms {
                    key_id: key.clone(),
                    bucket_key: t.bucket_key_enabled,
                }
            }
        };
        if let Some(arn) = &t.sns_topic_arn {
            check_sns_topic_arn(arn).map_err(|m| ("sns_topic_arn", m))?;
        }
        Ok(TrailDelivery {
            name: t.name.clone(),
            bucket: t.s3_bucket_name.clone(),
            prefix: t.s3_key_prefix.trim_matches('/').to_string(),
            encryption,
            sns_topic_arn: t.sns_topic_arn.clone(),
        })
    }

    /// The default account, if configured.
    pub fn default_account(&self) -> Option<AccountId> {
        self.account_id.as_deref().and_then(AccountId::parse)
    }

    /// `(trail name, KMS key)` of every trail whose digests are signed with AWS KMS.
    pub fn digest_signing_kms_keys(&self) -> Vec<(String, String)> {
        self.trails
            .iter()
            .filter(|t| t.enable_log_file_validation)
            .filter_map(|t| Some((t.name.clone(), t.digest_signing_kms_key_id.clone()?)))
            .collect()
    }

    /// All trails, validated.
    pub fn trails(&self) -> Vec<Trail> {
        (0..self.trails.len())
            .filter_map(|i| self.trail(i).ok())
            .collect()
    }

    fn trail(&self, i: usize) -> Result<Trail, (&'static str, String)> {
        let t = &self.trails[i];
        check_trail_name(&t.name).map_err(|m| ("name", m))?;
        let home_region = Region::parse(&t.home_region).ok_or((
            "home_region",
            format!("{:?} is not a region code", t.home_region),
        ))?;
        check_bucket_name(&t.s3_bucket_name).map_err(|m| ("s3_bucket_name", m))?;
        check_prefix(&t.s3_key_prefix).map_err(|m| ("s3_key_prefix", m))?;
        if t.is_multi_region_trail && !t.include_global_service_events {
            return Err((
                "include_global_service_events",
                "a multi-region trail must include global service events".into(),
            ));
        }
        let gzip_level = t.gzip_level.unwrap_or(self.trail_defaults.gzip_level);
        if gzip_level > 9 {
            return Err(("gzip_level", "must be 0-9".into()));
        }
        let delivery_interval_secs = t
            .delivery_interval_secs
            .unwrap_or(self.trail_defaults.delivery_interval_secs);
        if delivery_interval_secs == 0 {
            return Err(("delivery_interval_secs", "must be at least 1".into()));
        }
        let digest_interval_secs = t
            .digest_interval_secs
            .unwrap_or(self.trail_defaults.digest_interval_secs);
        if !(1..=86_400).contains(&digest_interval_secs) {
            return Err(("digest_interval_secs", "must be between 1 and 86400".into()));
        }
        let organization = match (t.is_organization_trail, &self.organization) {
            (false, _) => None,
            (true, Some(org)) => Some(org),
            (true, None) => {
                return Err((
                    "is_organization_trail",
                    "needs an [organization] section naming the organization".into(),
                ));
            }
        };
        if let Some(key) = &t.digest_signing_kms_key_id {
            check_kms_key_id(key).map_err(|(_, m)| ("digest_signing_kms_key_id", m))?;
            if !t.enable_log_file_validation {
                return Err((
                    "digest_signing_kms_key_id",
                    "needs enable_log_file_validation = true".into(),
                ));
            }
        }
        if !(1_048_576..=5_000_000_000).contains(&t.max_file_bytes) {
            return Err((
                "max_file_bytes",
                "must be between 1048576 and 5000000000".into(),
            ));
        }
        Ok(Trail {
            name: t.name.clone(),
            home_region,
            bucket: t.s3_bucket_name.clone(),
            prefix: t.s3_key_prefix.trim_matches('/').to_string(),
            multi_region: t.is_multi_region_trail,
            include_global: t.include_global_service_events,
            delivery_interval_secs,
            gzip_level,
            max_file_bytes: t.max_file_bytes,
            digest_interval_secs: t.enable_log_file_validation.then_some(digest_interval_secs),
            logging: true,
            organization: organization.map(|o| o.id.clone()),
            selectors: None,
        })
    }
}

/// Parses `arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]`.
pub fn parse_log_group_arn(arn: &str) -> Result<LogGroupTarget, String> {
    let bad = || {
        format!("{arn:?} is not a log group ARN (arn:aws:logs:<region>:<account>:log-group:<name>)")
    };
    let mut parts = arn.splitn(7, ':');
    let (Some("arn"), Some(partition), Some("logs"), Some(region), Some(account)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let (Some("log-group"), Some(rest)) = (parts.next(), parts.next()) else {
        return Err(bad());
    };
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    let name_ok = (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b));
    if !partition.starts_with("aws")
        || Region::parse(region).is_none()
        || AccountId::parse(account).is_none()
        || !name_ok
    {
        return Err(bad());
    }
    Ok(LogGroupTarget {
        region: region.to_string(),
        name: name.to_string(),
    })
}

/// Checks an event bus name or ARN; returns the ARN's region.
pub fn parse_event_bus(bus: &str) -> Result<Option<String>, String> {
    let name_ok = |n: &str| {
        (1..=256).contains(&n.len())
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
    };
    if let Some(rest) = bus.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [partition, "events", region, account, resource] = parts.as_slice() {
            if partition.starts_with("aws")
                && Region::parse(region).is_some()
                && AccountId::parse(account).is_some()
                && resource.strip_prefix("event-bus/").is_some_and(name_ok)
            {
                return Ok(Some(region.to_string()));
            }
        }
        return Err(format!(
            "{bus:?} is not an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)"
        ));
    }
    if name_ok(bus) {
        Ok(None)
    } else {
        Err(format!(
            "{bus:?} is not an event bus name (1-256 of letters, digits, . _ - /)"
        ))
    }
}

/// EventBridge `source` prefix: letters, digits, `.`, `-`, `_`; not AWS's reserved `aws.`.
pub fn check_event_source_prefix(prefix: &str) -> Result<(), String> {
    if prefix.to_ascii_lowercase().starts_with("aws.") {
        return Err(format!(
            "{prefix:?}: EventBridge rejects sources starting with \"aws.\" from PutEvents; \
             use your own namespace such as \"com.example.\""
        ));
    }
    if prefix.is_empty()
        || prefix.len() > 200
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "{prefix:?} must be 1-200 of letters, digits, . _ -"
        ));
    }
    Ok(())
}

/// CloudTrail's trail-name rules: 3–128 chars of letters, digits, `.`, `_`, `-`; starts with a
/// letter or digit, ends with one; no two adjacent punctuation marks; not an IP address.
pub fn check_trail_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let punct = |c: u8| matches!(c, b'.' | b'_' | b'-');
    let ok = (3..=128).contains(&b.len())
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || punct(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !b.windows(2).any(|w| punct(w[0]) && punct(w[1]))
        && name.parse::<std::net::Ipv4Addr>().is_err();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid trail name (3-128 letters, digits, '.', '_', '-'; must start and end with a letter or digit)"
        ))
    }
}

/// S3 bucket-name rules (3–63 chars of `a-z0-9.-`, alphanumeric at both ends, no `..`).
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = (3..=63).contains(&b.len())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid S3 bucket name"))
    }
}

fn check_kms_key_id(key: &str) -> Result<(), (&'static str, String)> {
    let ok = !key.is_empty()
        && key.len() <= 2048
        && !key.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err((
            "kms_key_id",
            format!("{key:?} is not a KMS key id, key ARN or alias"),
        ))
    }
}

/// `arn:<partition>:sns:<region>:<12-digit account>:<topic>`, topic 1-256 of `[A-Za-z0-9_-]`
/// (FIFO topics, `.fifo`, are refused: CloudTrail cannot publish to them).
pub fn check_sns_topic_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == "sns"
        && Region::parse(parts[3]).is_some()
        && AccountId::parse(parts[4]).is_some()
        && (1..=256).contains(&parts[5].len())
        && parts[5]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)"
        ))
    }
}

/// The region of a checked SNS topic ARN.
pub fn sns_topic_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3)
}

/// Key prefix: at most 200 chars, no `.`/`..` or empty segments, no control characters or `\`.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let p = prefix.trim_matches('/');
    if p.len() > 200 {
        return Err("must be at most 200 characters".into());
    }
    if p.is_empty() {
        return Ok(());
    }
    for seg in p.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!("{prefix:?} has an empty, '.' or '..' segment"));
        }
        if seg.chars().any(|c| c.is_control() || c == '\\') {
            return Err(format!("{prefix:?} has a control character or backslash"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
data_dir = "data"
account_id = "123456789012"
[storage]
local_root = "out"
[[sources]]
kind = "file"
paths = ["in/*.jsonl"]
[[trails]]
name = "main"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
"#;

    #[test]
    fn parses_and_resolves_paths() {
        let cfg = Config::from_toml(MIN, Path::new("/etc/ot"), "test").expect("valid");
        assert_eq!(cfg.data_dir, PathBuf::from("/etc/ot/data"));
        assert_eq!(cfg.storage.local_root, Some(PathBuf::from("/etc/ot/out")));
        let SourceConfig::File { paths, .. } = &cfg.sources[0] else {
            panic!("file source")
        };
        assert_eq!(paths[0], "/etc/ot/in/*.jsonl");
        let t = &cfg.trails()[0];
        assert_eq!(
            (t.delivery_interval_secs, t.gzip_level, t.max_file_bytes),
            (300, 6, 50_000_000)
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml(&format!("{MIN}\nbogus_key = 1\n"), Path::new("."), "t")
            .expect_err("bad");
        assert!(err.to_string().contains("bogus_key"), "{err}");
        let err = Config::from_toml(
            &MIN.replace("kind = \"file\"", "kind = \"file\"\nfoo = 1"),
            Path::new("."),
            "t",
        )
        .expect_err("bad");
        assert!(err.to_string().contains("foo"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (MIN.replace("123456789012", "12"), "account_id"),
            (
                MIN.replace("audit-logs", "../etc"),
                "trails[0].s3_bucket_name",
            ),
            (
                MIN.replace("name = \"main\"", "name = \"a\""),
                "trails[0].name",
            ),
            (
                MIN.replace("is_multi_region_trail = true", "s3_key_prefix = \"a/../b\""),
                "trails[0].s3_key_prefix",
            ),
            (
                MIN.replace("is_multi_region_trail = true", "gzip_level = 12"),
                "trails[0].gzip_level",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&text, Path::new("."), "t").expect_err(key);
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn stream_keys() {
        let cfg = Config::from_toml(
            &format!(
                "{MIN}cloud_watch_logs_log_group_arn = \"arn:aws:logs:eu-west-1:123456789012:log-group:ct/audit:*\"\n\
                 event_bus_name = \"default\"\n"
            ),
            Path::new("."),
            "t",
        )
        .expect("stream config");
        let t = &cfg.trail_streams()[0];
        assert_eq!(
            t.log_group,
            Some(LogGroupTarget {
                region: "eu-west-1".into(),
                name: "ct/audit".into()
            })
        );
        assert_eq!(
            t.event_bus,
            Some(EventBusTarget {
                bus: "default".into(),
                region: "us-east-1".into(),
                source_prefix: "opentrail.".into()
            })
        );
        let arn = "arn:aws:events:eu-central-1:123456789012:event-bus/audit";
        let cfg = Config::from_toml(
            &format!("{MIN}event_bus_name = \"{arn}\"\nevent_source_prefix = \"com.example.\"\n"),
            Path::new("."),
            "t",
        )
        .expect("bus ARN");
        let bus = cfg.trail_streams()[0].event_bus.clone().expect("bus");
        assert_eq!(
            (bus.region.as_str(), bus.source_prefix.as_str()),
            ("eu-central-1", "com.example.")
        );
        for (extra, key) in [
            (
                "cloud_watch_logs_log_group_arn = \"arn:aws:logs:eu-west-1:123:log-group:x\"",
                "cloud_watch_logs_log_group_arn",
            ),
            (
                "cloud_watch_logs_log_group_arn = \"arn:aws:s3:::bucket\"",
                "cloud_watch_logs_log_group_arn",
            ),
            ("event_bus_name = \"bad bus\"", "event_bus_name"),
            (
                "event_bus_name = \"default\"\nevent_source_prefix = \"aws.s3\"",
                "event_source_prefix",
            ),
            (
                "event_source_prefix = \"com.example.\"",
                "event_source_prefix",
            ),
        ] {
            let err = Config::from_toml(&format!("{MIN}{extra}\n"), Path::new("."), "t")
                .expect_err(extra)
                .to_string();
            assert!(err.contains(&format!("trails[0].{key}")), "{extra}: {err}");
        }
    }

    #[test]
    fn aws_delivery_keys() {
        // No local_root: deliveries go to S3.
        let s3 = MIN.replace("[storage]\nlocal_root = \"out\"\n", "");
        let cfg = Config::from_toml(&s3, Path::new("."), "t").expect("S3 config");
        assert!(cfg.storage.local_root.is_none());
        let d = &cfg.trail_deliveries()[0];
        assert_eq!(d.encryption, Encryption::Aes256);
        assert_eq!(d.sns_topic_arn, None);
        assert!(!cfg.wants_sns());
        assert_eq!(
            (cfg.aws.multipart_part_mb, cfg.aws.upload_concurrency),
            (16, 8)
        );

        let kms = format!(
            "{s3}sse = \"aws:kms\"\nkms_key_id = \"alias/trail\"\nbucket_key_enabled = true\n\
             sns_topic_arn = \"arn:aws:sns:us-east-1:123456789012:ct-topic\"\n\
             [aws]\nregion = \"eu-west-1\"\nendpoint_url = \"http://127.0.0.1:5000\"\n"
        );
        let cfg = Config::from_toml(&kms, Path::new("."), "t").expect("KMS config");
        let d = &cfg.trail_deliveries()[0];
        assert_eq!(
            d.encryption,
            Encryption::Kms {
                key_id: "alias/trail".into(),
                bucket_key: true
            }
        );
        assert!(cfg.wants_sns());
        assert_eq!(cfg.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(
            sns_topic_region("arn:aws:sns:us-east-1:123456789012:ct-topic"),
            Some("us-east-1")
        );

        let cases = [
            (format!("{s3}sse = \"aws:kms\"\n"), "trails[0].kms_key_id"),
            (format!("{s3}kms_key_id = \"k\"\n"), "trails[0].kms_key_id"),
            (
                format!("{s3}bucket_key_enabled = true\n"),
                "trails[0].bucket_key_enabled",
            ),
            (format!("{s3}sse = \"aws:kmsx\"\n"), "sse"),
            (
                format!("{s3}sns_topic_arn = \"arn:aws:sqs:us-east-1:123456789012:q\"\n"),
                "trails[0].sns_topic_arn",
            ),
            (
                format!("{s3}[aws]\nendpoint_url = \"localhost:5000\"\n"),
                "aws.endpoint_url",
            ),
            (format!("{s3}[aws]\nregion = \"EU\"\n"), "aws.region"),
            (
                format!("{s3}[aws]\nmultipart_part_mb = 4\n"),
                "aws.multipart_part_mb",
            ),
            (format!("{s3}[aws]\nbogus = 1\n"), "bogus"),
            (
                format!(
                    "{s3}sns_topic_arn = \"arn:aws:sns:us-east-1:123456789012:a\"\n\
                     [[trails]]\nname = \"second\"\ns3_bucket_name = \"audit-logs\"\n"
                ),
                "trails[1]",
            ),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(&text, Path::new("."), "t").expect_err(key);
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn api_keys() {
        let base = Path::new("/etc/ot");
        let with = |api: &str| Config::from_toml(&format!("{MIN}[api]\n{api}"), base, "t");
        let cfg = with("listen = \"127.0.0.1:4591\"\ncredentials_file = \"keys/c.json\"\n")
            .expect("loopback API");
        assert_eq!(
            cfg.api.credentials_path(&cfg.data_dir),
            PathBuf::from("/etc/ot/data/keys/c.json")
        );
        assert_eq!(
            cfg.api.policy_path(&cfg.data_dir),
            PathBuf::from("/etc/ot/data/api/policies.json")
        );
        let err = with("listen = \"0.0.0.0:4591\"\n").expect_err("plain HTTP beyond the host");
        assert!(err.to_string().contains("api.listen"), "{err}");
        let tls = with("listen = \"0.0.0.0:4591\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n")
            .expect("TLS beyond the host");
        assert_eq!(tls.api.tls_cert, Some(PathBuf::from("/etc/ot/c.pem")));
        let half = with("listen = \"127.0.0.1:4591\"\ntls_cert = \"c.pem\"\n").expect_err("half");
        assert!(half.to_string().contains("tls_key"), "{half}");
    }

    #[test]
    fn trail_names() {
        for good in ["main", "My-Trail_1.x", "abc"] {
            assert!(check_trail_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "-abc", "abc-", "a..b", "a._b", "10.0.0.1", "a/b"] {
            assert!(check_trail_name(bad).is_err(), "{bad}");
        }
    }
}
