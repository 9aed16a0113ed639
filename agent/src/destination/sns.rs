//! SNS notifications on delivery: [`Notifying`] wraps a destination (S3 or local) and, for every
//! log file the wrapped destination confirms, publishes CloudTrail's notification
//! `{"s3Bucket":"<bucket>","s3ObjectKey":["<key>"]}` to the topic of the file's trail
//! (`sns_topic_arn`).
//!
//! Invariants: a notification is published only after the wrapped destination reported the
//! object stored (`Created` or `AlreadyThere`), so it never names an object that does not exist;
//! a file counts as delivered only when its notification was accepted too. A failed publish
//! fails the file, the worker retries it, the wrapped destination then answers `AlreadyThere`
//! without rewriting, and the notification is published again: at least once per object.
//! Digest files (`_CloudTrail-Digest_`) are not announced, as in CloudTrail.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::aws::{AwsRuntime, TrailTable, classify};
use crate::config::sns_topic_region;
use crate::deliver::{Destination, DestinationError, Outcome, SealedFile};

/// The notification body CloudTrail publishes (field order as CloudTrail's).
#[derive(Serialize)]
struct Notification<'a> {
    #[serde(rename = "s3Bucket")]
    bucket: &'a str,
    #[serde(rename = "s3ObjectKey")]
    keys: [&'a str; 1],
}

/// The message announcing `(bucket, key)`.
pub fn notification(bucket: &str, key: &str) -> String {
    serde_json::to_string(&Notification {
        bucket,
        keys: [key],
    })
    .unwrap_or_default()
}

/// True for CloudTrail log files (the keys SNS announces).
fn is_log_file(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|name| name.contains("_CloudTrail_"))
}

/// A destination that announces each delivered log file on its trail's SNS topic.
pub struct Notifying {
    inner: Arc<dyn Destination>,
    aws: Arc<AwsRuntime>,
    trails: TrailTable,
    /// One client per topic region (a topic is addressed in its own region), made on first use.
    clients: parking_lot::Mutex<HashMap<String, aws_sdk_sns::Client>>,
    concurrency: usize,
}

impl Notifying {
    /// Wraps `inner`; topics come from `trails`, at most `concurrency` publishes at once.
    pub fn new(
        inner: Arc<dyn Destination>,
        aws: Arc<AwsRuntime>,
        trails: TrailTable,
        concurrency: usize,
    ) -> Self {
        Self {
            inner,
            aws,
            trails,
            clients: parking_lot::Mutex::new(HashMap::new()),
            concurrency: concurrency.max(1),
        }
    }

    /// The topic and client for a stored file, if its trail has a topic.
    fn target(&self, file: &SealedFile) -> Option<(String, aws_sdk_sns::Client)> {
        if !is_log_file(&file.key) {
            return None;
        }
        let arn = self.trails.find(&file.bucket, &file.key)?.sns_topic_arn?;
        let region = sns_topic_region(&arn)?;
        let client = self
            .clients
            .lock()
            .entry(region.to_string())
            .or_insert_with(|| self.aws.sns_client(Some(region)))
            .clone();
        Some((arn, client))
    }
}

impl Destination for Notifying {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn put_file(&self, file: &SealedFile) -> Result<Outcome, DestinationError> {
        self.put_files(std::slice::from_ref(file))
            .pop()
            .unwrap_or_else(|| Err(DestinationError::Transient("no result".into())))
    }

    fn put_files(&self, files: &[SealedFile]) -> Vec<Result<Outcome, DestinationError>> {
        let mut results = self.inner.put_files(files);
        let mut jobs = Vec::new();
        for (i, (file, result)) in files.iter().zip(&results).enumerate() {
            if result.is_ok() {
                if let Some((arn, client)) = self.target(file) {
                    jobs.push((i, arn, client, file.bucket.clone(), file.key.clone()));
                }
            }
        }
        if jobs.is_empty() {
            return results;
        }
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let tasks: Vec<_> = jobs
            .into_iter()
            .map(|(i, arn, client, bucket, key)| {
                let slots = slots.clone();
                let task = self.aws.spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let sent = client
                        .publish()
                        .topic_arn(&arn)
                        .message(notification(&bucket, &key))
                        .send()
                        .await;
                    sent.map(|_| ()).map_err(|e| {
                        match classify(&e, &format!("SNS Publish to {arn}")) {
                            DestinationError::Transient(m) => DestinationError::Transient(format!(
                                "s3://{bucket}/{key} is stored but not announced: {m}"
                            )),
                            DestinationError::Permanent(m) => DestinationError::Permanent(format!(
                                "s3://{bucket}/{key} is stored but not announced: {m}"
                            )),
                        }
                    })
                });
                (i, task)
            })
            .collect();
        let outcomes = self.aws.block_on(async move {
            let mut out = Vec::with_capacity(tasks.len());
            for (i, task) in tasks {
                let r = task.await.unwrap_or_else(|e| {
                    Err(DestinationError::Transient(format!(
                        "publish task failed: {e}"
                    )))
                });
                out.push((i, r));
            }
            out
        });
        for (i, outcome) in outcomes {
            if let Err(e) = outcome {
                if let Some(slot) = results.get_mut(i) {
                    *slot = Err(e);
                }
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_matches_cloudtrail() {
        assert_eq!(
            notification("b", "AWSLogs/1/CloudTrail/us-east-1/2024/01/01/x.json.gz"),
            r#"{"s3Bucket":"b","s3ObjectKey":["AWSLogs/1/CloudTrail/us-east-1/2024/01/01/x.json.gz"]}"#
        );
        assert!(is_log_file(
            "p/AWSLogs/123456789012/CloudTrail/us-east-1/2024/01/01/123456789012_CloudTrail_us-east-1_20240101T0000Z_abcdefghijklmnop.json.gz"
        ));
        assert!(!is_log_file(
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/01/01/123456789012_CloudTrail-Digest_us-east-1_t_us-east-1_20240101T000000Z.json.gz"
        ));
    }
}
