//! Shared AWS plumbing for the S3 destination and the SNS notifier: one tokio runtime and one
//! SDK configuration per agent, the trail table that maps a sealed file back to its trail, and
//! the classification of SDK errors into [`DestinationError::Transient`] / `Permanent`.
//!
//! Invariants: the runtime is owned here and only entered through [`AwsRuntime::block_on`] from
//! plain (non-async) delivery threads; credentials come from the SDK's default chain and are
//! cached and refreshed by the SDK (never copied out); an endpoint override (`[aws]
//! endpoint_url`, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`) forces path-style S3 addressing.

use std::future::Future;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::config::{AwsConfig, TrailDelivery};
use crate::deliver::DestinationError;

/// Why the AWS side could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AwsSetupError {
    #[error("cannot start the AWS runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "no AWS region: set [aws] region, AWS_REGION or a profile region (needed for S3 requests)"
    )]
    NoRegion,
}

/// The tokio runtime and SDK configuration shared by the AWS destinations.
pub struct AwsRuntime {
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
    /// S3 requests go to an endpoint override: use path-style addressing.
    s3_path_style: bool,
}

impl AwsRuntime {
    /// Builds the runtime and loads the SDK configuration (region, credentials chain, endpoint
    /// overrides). Credentials are resolved lazily, on the first request. The region may be
    /// missing (SNS clients take theirs from the topic ARN); S3 needs one, see [`Self::region`].
    pub fn new(settings: &AwsConfig) -> Result<Self, AwsSetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ot-aws")
            .enable_all()
            .build()
            .map_err(AwsSetupError::Runtime)?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(300))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = runtime.block_on(loader.load());
        let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
        let s3_path_style = settings.endpoint_url.is_some()
            || env_set("AWS_ENDPOINT_URL_S3")
            || env_set("AWS_ENDPOINT_URL");
        Ok(Self {
            runtime,
            sdk,
            s3_path_style,
        })
    }

    /// Runs `fut` to completion on the runtime. Call only from a thread that is not itself
    /// running async code (the delivery workers are plain threads).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }

    /// Spawns `fut` on the runtime.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime.spawn(fut)
    }

    /// An S3 client (path-style when an endpoint override is in force).
    pub fn s3_client(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.s3_path_style)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SNS client for `region` (a topic must be addressed in its own region), or the
    /// configured region when `None`.
    pub fn sns_client(&self, region: Option<&str>) -> aws_sdk_sns::Client {
        let mut conf = aws_sdk_sns::config::Builder::from(&self.sdk);
        if let Some(r) = region {
            conf = conf.region(aws_sdk_sns::config::Region::new(r.to_string()));
        }
        aws_sdk_sns::Client::from_conf(conf.build())
    }

    /// A CloudWatch Logs client for `region`.
    pub fn logs_client(&self, region: &str) -> aws_sdk_cloudwatchlogs::Client {
        let conf = aws_sdk_cloudwatchlogs::config::Builder::from(&self.sdk)
            .region(aws_sdk_cloudwatchlogs::config::Region::new(
                region.to_string(),
            ))
            .build();
        aws_sdk_cloudwatchlogs::Client::from_conf(conf)
    }

    /// An EventBridge client for `region`.
    pub fn events_client(&self, region: &str) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(&self.sdk)
            .region(aws_sdk_eventbridge::config::Region::new(region.to_string()))
            .build();
        aws_sdk_eventbridge::Client::from_conf(conf)
    }

    /// A KMS client for `region` (the configured one when `None`).
    pub fn kms_client(&self, region: Option<&str>) -> aws_sdk_kms::Client {
        let mut conf = aws_sdk_kms::config::Builder::from(&self.sdk);
        if let Some(r) = region {
            conf = conf.region(aws_sdk_kms::config::Region::new(r.to_string()));
        }
        aws_sdk_kms::Client::from_conf(conf.build())
    }

    /// The region S3 requests are signed for.
    pub fn region(&self) -> Option<&str> {
        self.sdk.region().map(|r| r.as_ref())
    }
}

/// Maps a sealed file back to its trail by bucket and key prefix (a log key is
/// `[prefix/]AWSLogs/…`). Config validation guarantees that trails sharing a bucket and prefix
/// share their delivery settings, so the first match is as good as any.
#[derive(Debug, Clone, Default)]
pub struct TrailTable {
    trails: std::sync::Arc<parking_lot::RwLock<Vec<TrailDelivery>>>,
}

impl TrailTable {
    pub fn new(trails: Vec<TrailDelivery>) -> Self {
        Self {
            trails: std::sync::Arc::new(parking_lot::RwLock::new(trails)),
        }
    }

    /// The trail whose bucket is `bucket` and whose prefix, followed by `AWSLogs/`, starts `key`.
    pub fn find(&self, bucket: &str, key: &str) -> Option<TrailDelivery> {
        self.trails
            .read()
            .iter()
            .find(|t| {
                t.bucket == bucket
                    && match t.prefix.as_str() {
                        "" => key.starts_with("AWSLogs/"),
                        p => key
                            .strip_prefix(p)
                            .and_then(|rest| rest.strip_prefix('/'))
                            .is_some_and(|rest| rest.starts_with("AWSLogs/")),
                    }
            })
            .cloned()
    }

    /// Every trail.
    pub fn all(&self) -> Vec<TrailDelivery> {
        self.trails.read().clone()
    }

    /// Takes the trails' current settings (trails changed through the API). Entries of trails
    /// no longer listed stay behind the new ones: files they sealed may still be on their way.
    pub fn update(&self, current: Vec<TrailDelivery>) {
        let mut table = self.trails.write();
        let old = std::mem::replace(&mut *table, current);
        for t in old {
            if !table.iter().any(|n| n.name == t.name) {
                table.push(t);
            }
        }
    }
}

/// Error codes that clear up by themselves (throttling, server trouble, expired or not yet
/// refreshed credentials, a concurrent conditional write).
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KMS.ThrottlingException",
    "KMS.KMSInternalException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
    "RequestTimeTooSkewed",
    "ConditionalRequestConflict",
    "OperationAborted",
];

/// Classifies an SDK error: `what` names the operation and object (`PutObject s3://b/k`).
///
/// Transient: timeouts, connection and other dispatch failures, unreadable responses (also a
/// 2xx whose body does not parse), throttling, 5xx but 501, expired credentials. Permanent:
/// everything else the service refused (AccessDenied, NoSuchBucket, KMS key errors,
/// InvalidRequest, 501 NotImplemented, …) and requests that could not be built.
pub fn classify<E>(err: &SdkError<E, HttpResponse>, what: &str) -> DestinationError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = error_chain(err);
    match err {
        SdkError::TimeoutError(_) => DestinationError::Transient(format!("{what}: timed out")),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            DestinationError::Transient(format!("{what}: {detail}"))
        }
        SdkError::ConstructionFailure(_) => {
            DestinationError::Permanent(format!("{what}: cannot build the request: {detail}"))
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or("");
            let text = if code.is_empty() {
                format!("{what}: HTTP {status}: {detail}")
            } else {
                format!("{what}: {code} (HTTP {status}): {message}")
            };
            // 501: the endpoint lacks a feature we rely on (an S3-compatible store without
            // conditional writes, say), so retrying soon cannot help. A 2xx here is an answer
            // that could not be parsed: the request may well have worked, so try again.
            if status == 501 || code == "NotImplemented" {
                DestinationError::Permanent(text)
            } else if !(300..500).contains(&status)
                || status == 429
                || TRANSIENT_CODES.contains(&code)
            {
                DestinationError::Transient(text)
            } else {
                DestinationError::Permanent(text)
            }
        }
        _ => DestinationError::Transient(format!("{what}: {detail}")),
    }
}

/// An error and its sources, `: `-joined, skipping a source whose text its parent already shows.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// The HTTP status of a service error, if the service answered.
pub fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Encryption;

    fn trail(name: &str, bucket: &str, prefix: &str) -> TrailDelivery {
        TrailDelivery {
            name: name.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
            encryption: Encryption::Aes256,
            sns_topic_arn: None,
        }
    }

    #[test]
    fn trails_are_found_by_bucket_and_prefix() {
        let table = TrailTable::new(vec![
            trail("root", "b1", ""),
            trail("pre", "b1", "a/b"),
            trail("other", "b2", "a"),
        ]);
        let name = |b: &str, k: &str| table.find(b, k).map(|t| t.name);
        assert_eq!(
            name("b1", "AWSLogs/1/CloudTrail/x"),
            Some("root".to_string())
        );
        assert_eq!(
            name("b1", "a/b/AWSLogs/1/CloudTrail/x"),
            Some("pre".to_string())
        );
        assert_eq!(name("b1", "a/bc/AWSLogs/1"), None);
        assert_eq!(name("b1", "a/AWSLogs/1"), None);
        assert_eq!(name("b2", "a/AWSLogs/1"), Some("other".to_string()));
        assert_eq!(name("b3", "AWSLogs/1"), None);
    }

    fn service_error(
        status: u16,
        code: &str,
    ) -> SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse> {
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let err = aws_sdk_s3::operation::put_object::PutObjectError::generic(
            ErrorMetadata::builder().code(code).message("msg").build(),
        );
        let status = StatusCode::try_from(status).expect("status");
        SdkError::service_error(err, HttpResponse::new(status, SdkBody::empty()))
    }

    #[test]
    fn errors_are_classified() {
        let transient = |e: DestinationError| matches!(e, DestinationError::Transient(_));
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
            (400, "ExpiredToken"),
            (400, "KMS.ThrottlingException"),
            (409, "ConditionalRequestConflict"),
            (429, ""),
        ] {
            let e = classify(&service_error(status, code), "PutObject s3://b/k");
            assert!(transient(e), "{status} {code}");
        }
        for (status, code) in [
            (403, "AccessDenied"),
            (404, "NoSuchBucket"),
            (400, "KMS.DisabledException"),
            (400, "KMS.NotFoundException"),
            (400, "InvalidRequest"),
            (400, "InvalidArgument"),
            (501, "NotImplemented"),
        ] {
            let e = classify(&service_error(status, code), "PutObject s3://b/k");
            match e {
                DestinationError::Permanent(m) => {
                    assert!(m.contains("s3://b/k") && m.contains(code), "{m}");
                }
                DestinationError::Transient(m) => panic!("{status} {code} is transient: {m}"),
            }
        }
        let timeout: SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse> =
            SdkError::timeout_error("slow");
        assert!(transient(classify(&timeout, "x")));
        let refused: SdkError<aws_sdk_s3::operation::put_object::PutObjectError, HttpResponse> =
            SdkError::dispatch_failure(aws_sdk_s3::error::ConnectorError::io(
                "connection refused".into(),
            ));
        assert!(transient(classify(&refused, "x")));
        assert_eq!(status(&service_error(412, "PreconditionFailed")), Some(412));
    }
}
