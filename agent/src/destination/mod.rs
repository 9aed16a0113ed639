//! Destinations that receive sealed log files (see [`crate::deliver::Destination`]), and
//! [`build`], which picks them from the configuration:
//!
//! - `[storage] local_root` set: the local destination ([`LocalDestination`]);
//! - otherwise: S3 ([`S3Destination`]) through the AWS SDK's default credential chain;
//! - with S3, or when a trail sets `sns_topic_arn`, the destination is wrapped in
//!   [`Notifying`], which publishes CloudTrail's SNS notification after each stored file of a
//!   trail with a topic (topics may be added later through the API);
//! - record streams ([`crate::stream::Sink`]): [`CloudWatchLogs`] for trails with a log group,
//!   [`EventBridge`] for trails with an event bus; each has its own cursor over the WAL.

pub mod aws;
pub mod cloudwatch;
pub mod eventbridge;
pub mod local;
pub mod s3;
pub mod sns;

use std::sync::Arc;

pub use aws::{AwsRuntime, AwsSetupError, TrailTable};
pub use cloudwatch::CloudWatchLogs;
pub use eventbridge::EventBridge;
pub use local::LocalDestination;
pub use s3::S3Destination;
pub use sns::Notifying;

use crate::config::Config;
use crate::deliver::Destination;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use crate::stream::Sink;

/// Why the destinations could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot create local_root {path}: {error}")]
    LocalRoot {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Aws(#[from] AwsSetupError),
}

/// What [`build`] made.
pub struct Destinations {
    /// Log file destinations, in worker order.
    pub files: Vec<Arc<dyn Destination>>,
    /// Record streams.
    pub streams: Vec<Box<dyn Sink>>,
    /// Storage and notification settings per trail, shared with the S3 destination and the SNS
    /// notifier; updated when trails change through the API.
    pub trails: TrailTable,
    /// True when delivered files can be announced on SNS (the S3 destination, or a configured
    /// topic at start).
    pub notifies: bool,
}

/// The destinations `config` asks for. Stream sinks quarantine what they cannot send.
pub fn build(
    config: &Config,
    quarantine: &Arc<Quarantine>,
    metrics: &Arc<Metrics>,
) -> Result<Destinations, BuildError> {
    let trails = TrailTable::new(config.trail_deliveries());
    let mut aws: Option<Arc<AwsRuntime>> = None;
    let mut aws_runtime = || -> Result<Arc<AwsRuntime>, AwsSetupError> {
        if let Some(rt) = &aws {
            return Ok(rt.clone());
        }
        let rt = Arc::new(AwsRuntime::new(&config.aws)?);
        aws = Some(rt.clone());
        Ok(rt)
    };
    let mut dest: Arc<dyn Destination> = if let Some(root) = &config.storage.local_root {
        let local = LocalDestination::new(root, &config.data_dir).map_err(|error| {
            BuildError::LocalRoot {
                path: root.clone(),
                error,
            }
        })?;
        Arc::new(local)
    } else {
        let rt = aws_runtime()?;
        let Some(region) = rt.region().map(str::to_string) else {
            return Err(AwsSetupError::NoRegion.into());
        };
        tracing::info!(%region, "delivering to S3");
        Arc::new(S3Destination::new(rt, trails.clone(), &config.aws))
    };
    let table = trails.clone();
    let notifies = config.wants_sns() || config.storage.local_root.is_none();
    if notifies {
        let rt = aws_runtime()?;
        dest = Arc::new(Notifying::new(
            dest,
            rt,
            trails,
            config.aws.upload_concurrency,
        ));
    }
    let mut streams: Vec<Box<dyn Sink>> = Vec::new();
    let trail_streams = config.trail_streams();
    if trail_streams.iter().any(|t| t.log_group.is_some()) {
        let rt = aws_runtime()?;
        streams.extend(
            CloudWatchLogs::new(rt, &trail_streams, quarantine.clone(), metrics.clone())
                .map(|s| Box::new(s) as Box<dyn Sink>),
        );
    }
    if trail_streams.iter().any(|t| t.event_bus.is_some()) {
        let rt = aws_runtime()?;
        streams.extend(
            EventBridge::new(rt, &trail_streams, quarantine.clone(), metrics.clone())
                .map(|s| Box::new(s) as Box<dyn Sink>),
        );
    }
    Ok(Destinations {
        files: vec![dest],
        streams,
        trails: table,
        notifies,
    })
}
