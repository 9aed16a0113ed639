//! `opentrail check-config --probe`: a preflight that tries every configured destination once,
//! with the agent's own credentials and endpoints, and reports each result on its own line.
//!
//! Each check is read-only or idempotent and leaves nothing behind: S3 `HeadBucket`, KMS
//! `DescribeKey` (key exists, enabled, for encryption), SNS `GetTopicAttributes`, CloudWatch
//! Logs `DescribeLogGroups` (a missing group is fine: the agent creates it), EventBridge
//! `DescribeEventBus`; for the local destination, a file created and removed beside the tree.

use std::sync::Arc;

use crate::config::{Config, Encryption, sns_topic_region};
use crate::destination::AwsRuntime;

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// What was checked, e.g. `s3://audit-logs`.
    pub target: String,
    /// `Ok(note)` or `Err(why)`.
    pub outcome: Result<String, String>,
}

/// Runs every check `config` calls for.
pub fn run(config: &Config) -> Vec<Probe> {
    let mut out = Vec::new();
    let deliveries = config.trail_deliveries();
    let streams = config.trail_streams();
    let needs_aws = config.storage.local_root.is_none()
        || config.wants_sns()
        || streams
            .iter()
            .any(|s| s.log_group.is_some() || s.event_bus.is_some());
    if let Some(root) = &config.storage.local_root {
        out.push(Probe {
            target: format!("local {}", root.display()),
            outcome: probe_local(root),
        });
    }
    if !needs_aws {
        return out;
    }
    let rt = match AwsRuntime::new(&config.aws) {
        Ok(rt) => Arc::new(rt),
        Err(e) => {
            out.push(Probe {
                target: "aws".into(),
                outcome: Err(e.to_string()),
            });
            return out;
        }
    };
    let mut seen = std::collections::HashSet::new();
    for d in &deliveries {
        if config.storage.local_root.is_none() && seen.insert(format!("s3:{}", d.bucket)) {
            out.push(Probe {
                target: format!("s3://{}", d.bucket),
                outcome: head_bucket(&rt, &d.bucket),
            });
        }
        if let Encryption::Kms { key_id, .. } = &d.encryption {
            if seen.insert(format!("kms:{key_id}")) {
                out.push(Probe {
                    target: format!("kms {key_id}"),
                    outcome: describe_key(&rt, key_id),
                });
            }
        }
        if let Some(arn) = &d.sns_topic_arn {
            if seen.insert(format!("sns:{arn}")) {
                out.push(Probe {
                    target: format!("sns {arn}"),
                    outcome: topic(&rt, arn),
                });
            }
        }
    }
    for s in &streams {
        if let Some(g) = &s.log_group {
            if seen.insert(format!("logs:{}:{}", g.region, g.name)) {
                out.push(Probe {
                    target: format!("cloudwatch_logs {}:{}", g.region, g.name),
                    outcome: log_group(&rt, &g.region, &g.name),
                });
            }
        }
        if let Some(b) = &s.event_bus {
            if seen.insert(format!("events:{}:{}", b.region, b.bus)) {
                out.push(Probe {
                    target: format!("eventbridge {}:{}", b.region, b.bus),
                    outcome: event_bus(&rt, &b.region, &b.bus),
                });
            }
        }
    }
    out
}

fn probe_local(root: &std::path::Path) -> Result<String, String> {
    std::fs::create_dir_all(root).map_err(|e| format!("cannot create: {e}"))?;
    let parent = root.parent().unwrap_or(root);
    let probe = parent.join(format!(".opentrail-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe").map_err(|e| format!("cannot write beside the tree: {e}"))?;
    let _ = std::fs::remove_file(&probe);
    Ok("writable".into())
}

/// `code: message` of a service error, or the error chain.
fn why<E>(err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    crate::destination::aws::classify(err, "")
        .to_string()
        .trim_start_matches(": ")
        .to_string()
}

fn head_bucket(rt: &AwsRuntime, bucket: &str) -> Result<String, String> {
    let client = rt.s3_client();
    match rt.block_on(client.head_bucket().bucket(bucket).send()) {
        Ok(_) => Ok("bucket reachable".into()),
        Err(e) => Err(match crate::destination::aws::status(&e) {
            Some(404) => "NoSuchBucket: the bucket does not exist".into(),
            Some(403) => "AccessDenied: no permission on the bucket".into(),
            _ => why(&e),
        }),
    }
}

fn describe_key(rt: &AwsRuntime, key_id: &str) -> Result<String, String> {
    let region = key_id
        .strip_prefix("arn:")
        .and_then(|r| r.split(':').nth(2))
        .filter(|r| !r.is_empty());
    let client = rt.kms_client(region);
    let out = rt
        .block_on(client.describe_key().key_id(key_id).send())
        .map_err(|e| why(&e))?;
    let meta = out
        .key_metadata()
        .ok_or("DescribeKey returned no key metadata")?;
    let state = meta.key_state().map(|s| s.as_str().to_string());
    if !meta.enabled() {
        return Err(format!(
            "key {} is not enabled (state {})",
            meta.key_id(),
            state.unwrap_or_default()
        ));
    }
    match meta.key_usage() {
        Some(u) if u.as_str() != "ENCRYPT_DECRYPT" => Err(format!(
            "key {} has usage {}; SSE-KMS needs ENCRYPT_DECRYPT",
            meta.key_id(),
            u.as_str()
        )),
        _ => Ok(format!("key {} enabled", meta.key_id())),
    }
}

fn topic(rt: &AwsRuntime, arn: &str) -> Result<String, String> {
    let client = rt.sns_client(sns_topic_region(arn));
    rt.block_on(client.get_topic_attributes().topic_arn(arn).send())
        .map(|_| "topic reachable".to_string())
        .map_err(|e| why(&e))
}

fn log_group(rt: &AwsRuntime, region: &str, name: &str) -> Result<String, String> {
    let client = rt.logs_client(region);
    let out = rt
        .block_on(
            client
                .describe_log_groups()
                .log_group_name_prefix(name)
                .send(),
        )
        .map_err(|e| why(&e))?;
    let exists = out
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(name));
    Ok(if exists {
        "log group exists".into()
    } else {
        "log group missing; created on the first delivery".into()
    })
}

fn event_bus(rt: &AwsRuntime, region: &str, bus: &str) -> Result<String, String> {
    let client = rt.events_client(region);
    rt.block_on(client.describe_event_bus().name(bus).send())
        .map(|_| "event bus reachable".to_string())
        .map_err(|e| why(&e))
}
