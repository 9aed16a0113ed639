//! EventBridge record stream: every record of a trail with `event_bus_name` becomes one
//! PutEvents entry shaped like CloudTrail's own events: `detail-type` from `eventType`
//! ("AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", …), `detail` = the
//! record, `time` = `eventTime`, `source` = the trail's prefix (default `opentrail.`) plus the
//! service of `eventSource` (`s3` for `s3.amazonaws.com`). Real EventBridge refuses `aws.*`
//! sources from PutEvents, so the prefix can never be `aws.` (checked in the config).
//!
//! Invariants:
//! * a call carries at most 10 entries and 1 MiB counted as EventBridge counts entry size
//!   (14 bytes for `Time` + `Source` + `DetailType` + `Detail`); records over 256 KiB are not
//!   sent (CloudTrail does not send them either) and go to the quarantine, counted;
//! * after a call only the entries that failed are sent again; an entry the service can never
//!   take (`MalformedDetail`, `InvalidArgument`) is quarantined with the service's reason; an
//!   entry refused for permissions (`NotAuthorizedForSourceException`, `AccessDenied…`) is kept
//!   and reported as a permanent error until an operator fixes it.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::Deserialize;

use super::aws::{AwsRuntime, classify};
use crate::config::{EventBusTarget, TrailStreams};
use crate::deliver::DestinationError;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use crate::stream::{Sink, Skips, StreamRecord, Targets, keep_undone};

/// Destination label in metrics and logs.
pub const NAME: &str = "eventbridge";
/// CloudTrail does not send events larger than this to EventBridge.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;
/// PutEvents: entries per call and total entry size per call.
pub const MAX_CALL_ENTRIES: usize = 10;
pub const MAX_CALL_BYTES: usize = 1024 * 1024;
/// Entry error codes that mean "this entry can never be accepted".
const REJECTED_CODES: &[&str] = &["MalformedDetail", "InvalidArgument", "ValidationException"];
/// Entry error codes that need an operator (permissions).
const PERMISSION_CODES: &[&str] = &[
    "NotAuthorizedForSourceException",
    "AccessDeniedException",
    "AccessDenied",
];

/// `detail-type` CloudTrail uses for a record's `eventType`.
pub fn detail_type(event_type: Option<&str>) -> &'static str {
    match event_type {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleAction") => "AWS Console Action via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    }
}

/// The service part of an `eventSource` (`s3.amazonaws.com` → `s3`), restricted to the
/// characters EventBridge sources use.
pub fn service(event_source: Option<&str>) -> String {
    let head = event_source
        .and_then(|s| s.split('.').next())
        .unwrap_or_default();
    let clean: String = head
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if clean.is_empty() {
        "unknown".to_string()
    } else {
        clean.to_ascii_lowercase()
    }
}

/// Size EventBridge counts for an entry.
pub fn entry_size(source: &str, detail_type: &str, detail: &str) -> usize {
    14 + source.len() + detail_type.len() + detail.len()
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "eventType", borrow)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow)]
    event_source: Option<std::borrow::Cow<'a, str>>,
}

/// The EventBridge sink.
pub struct EventBridge {
    rt: Arc<AwsRuntime>,
    buses: Targets<EventBusTarget>,
    clients: HashMap<String, Client>,
    /// Quarantine and metrics (records sent are counted there too).
    skips: Skips,
}

struct Entry {
    index: usize,
    entry: PutEventsRequestEntry,
    size: usize,
}

impl EventBridge {
    /// A sink for the trails (in configuration order) that name a bus; `None` if none do.
    pub fn new(
        rt: Arc<AwsRuntime>,
        trails: &[TrailStreams],
        quarantine: Arc<Quarantine>,
        metrics: Arc<Metrics>,
    ) -> Option<Self> {
        Some(Self {
            rt,
            buses: Targets::new(trails, |t| t.event_bus.as_ref())?,
            clients: HashMap::new(),
            skips: Skips {
                destination: NAME,
                quarantine,
                metrics,
            },
        })
    }

    fn client(&mut self, region: &str) -> Client {
        self.clients
            .entry(region.to_string())
            .or_insert_with(|| self.rt.events_client(region))
            .clone()
    }

    fn skip(&self, record: &StreamRecord, reason: &'static str, detail: &str) {
        self.skips
            .skip(record, reason, &self.buses.of(record).bus, detail);
    }

    fn entry(&self, index: usize, record: &StreamRecord) -> Entry {
        let bus = self.buses.of(record);
        let detail = String::from_utf8_lossy(&record.bytes).into_owned();
        let head: Option<Head> = serde_json::from_str(&detail).ok();
        let (event_type, event_source) = head.as_ref().map_or((None, None), |h| {
            (h.event_type.as_deref(), h.event_source.as_deref())
        });
        let source = format!("{}{}", bus.source_prefix, service(event_source));
        let dt = detail_type(event_type);
        let size = entry_size(&source, dt, &detail);
        let entry = PutEventsRequestEntry::builder()
            .time(aws_smithy_types::DateTime::from_secs(record.event_time))
            .source(source)
            .detail_type(dt)
            .detail(detail)
            .event_bus_name(&bus.bus)
            .build();
        Entry { index, entry, size }
    }
}

impl Sink for EventBridge {
    fn name(&self) -> &'static str {
        NAME
    }

    fn target(&self, trail: usize) -> Option<u16> {
        self.buses.of_trail(trail)
    }

    fn send(&mut self, batch: &mut Vec<StreamRecord>) -> Result<(), DestinationError> {
        let mut done = vec![false; batch.len()];
        let mut by_bus: Vec<Vec<Entry>> = (0..self.buses.list.len()).map(|_| Vec::new()).collect();
        for (i, r) in batch.iter().enumerate() {
            if r.bytes.len() > MAX_RECORD_BYTES {
                let detail = format!(
                    "record is {} bytes; CloudTrail sends at most {MAX_RECORD_BYTES} to EventBridge",
                    r.bytes.len()
                );
                self.skip(r, "eventbridge_oversize", &detail);
                done[i] = true;
                continue;
            }
            by_bus[r.target as usize].push(self.entry(i, r));
        }
        let mut error: Option<DestinationError> = None;
        for (bus, entries) in by_bus.into_iter().enumerate() {
            let region = self.buses.list[bus].region.clone();
            let client = self.client(&region);
            let mut calls: Vec<Vec<Entry>> = Vec::new();
            let mut size = 0;
            for e in entries {
                match calls.last_mut() {
                    Some(call)
                        if call.len() < MAX_CALL_ENTRIES && size + e.size <= MAX_CALL_BYTES =>
                    {
                        size += e.size;
                        call.push(e);
                    }
                    _ => {
                        size = e.size;
                        calls.push(vec![e]);
                    }
                }
            }
            for call in calls {
                let what = format!("PutEvents {}", self.buses.list[bus].bus);
                let request = client
                    .put_events()
                    .set_entries(Some(call.iter().map(|e| e.entry.clone()).collect()))
                    .send();
                let out = match self.rt.block_on(request) {
                    Ok(out) => out,
                    Err(e) => {
                        error = Some(classify(&e, &what));
                        break;
                    }
                };
                let mut sent = 0u64;
                for (k, e) in call.iter().enumerate() {
                    let result = out.entries().get(k);
                    let code = result.and_then(|r| r.error_code());
                    match code {
                        None if result.is_some() => {
                            sent += 1;
                            done[e.index] = true;
                        }
                        Some(c) if REJECTED_CODES.contains(&c) => {
                            let msg = result.and_then(|r| r.error_message()).unwrap_or("");
                            self.skip(
                                &batch[e.index],
                                "eventbridge_rejected",
                                &format!("{c}: {msg}"),
                            );
                            done[e.index] = true;
                        }
                        _ => {
                            let msg = result
                                .and_then(|r| r.error_message())
                                .unwrap_or("no result for this entry");
                            let text = format!(
                                "{what}: entry failed: {}: {msg}",
                                code.unwrap_or("missing")
                            );
                            let permanent = code.is_some_and(|c| PERMISSION_CODES.contains(&c));
                            if permanent {
                                error = Some(DestinationError::Permanent(text));
                            } else if error.is_none() {
                                error = Some(DestinationError::Transient(text));
                            }
                        }
                    }
                }
                self.skips.metrics.delivered_to(NAME, sent);
            }
        }
        keep_undone(batch, &done);
        match error {
            Some(e) => Err(e),
            None if batch.is_empty() => Ok(()),
            None => Err(DestinationError::Transient(
                "PutEvents left entries unconfirmed".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_types_and_sources() {
        assert_eq!(
            detail_type(Some("AwsApiCall")),
            "AWS API Call via CloudTrail"
        );
        assert_eq!(detail_type(None), "AWS API Call via CloudTrail");
        assert_eq!(
            detail_type(Some("AwsConsoleSignIn")),
            "AWS Console Sign In via CloudTrail"
        );
        assert_eq!(
            detail_type(Some("AwsServiceEvent")),
            "AWS Service Event via CloudTrail"
        );
        assert_eq!(
            detail_type(Some("AwsCloudTrailInsight")),
            "AWS Insight via CloudTrail"
        );
        assert_eq!(service(Some("s3.amazonaws.com")), "s3");
        assert_eq!(service(Some("signin.amazonaws.com")), "signin");
        assert_eq!(service(Some("Billing/Ledger.example.com")), "billingledger");
        assert_eq!(service(Some("")), "unknown");
        assert_eq!(service(None), "unknown");
        assert_eq!(
            entry_size("opentrail.s3", "AWS API Call via CloudTrail", "{}"),
            14 + 12 + 27 + 2
        );
    }
}
