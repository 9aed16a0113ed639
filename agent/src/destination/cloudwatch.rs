//! CloudWatch Logs record stream: every record of a trail with `cloud_watch_logs_log_group_arn`
//! becomes one log event (message = the record's JSON, timestamp = `eventTime`) in stream
//! `<account>_CloudTrail_<region>` of the trail's log group, as CloudTrail does.
//!
//! Invariants (each PutLogEvents limit is enforced here, not left to the service):
//! * a call carries at most 10,000 events and 1,048,576 bytes counted as the UTF-8 message
//!   plus 26 bytes per event, in chronological order, spanning less than 24 hours;
//! * records over 256 KiB are not sent (CloudTrail does not send them either); records older
//!   than 14 days or more than 2 hours ahead are not sent (the service would refuse them); each
//!   such record, and each one the service still reports in `rejectedLogEventsInfo`, goes to the
//!   quarantine with its reason and is counted: nothing is dropped silently;
//! * missing groups and streams are created on the first `ResourceNotFoundException` (an
//!   "already exists" answer from a concurrent creator is success), so no Describe call is ever
//!   made per batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use super::aws::{AwsRuntime, classify};
use crate::config::{LogGroupTarget, TrailStreams};
use crate::deliver::DestinationError;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use crate::stream::{Sink, Skips, StreamRecord, Targets, keep_undone};

/// Destination label in metrics and logs.
pub const NAME: &str = "cloudwatch_logs";
/// CloudTrail does not send events larger than this to CloudWatch Logs.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// PutLogEvents: bytes per call (messages + 26 per event), events per call, span of one call.
pub const MAX_CALL_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD: usize = 26;
pub const MAX_CALL_EVENTS: usize = 10_000;
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// The service refuses events older than 14 days or more than 2 hours ahead.
const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;

/// Why a record was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Oversize,
    TooOld,
    TooNew,
    Expired,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Oversize => "cloudwatch_logs_oversize",
            Skip::TooOld => "cloudwatch_logs_too_old",
            Skip::TooNew => "cloudwatch_logs_too_new",
            Skip::Expired => "cloudwatch_logs_expired",
        }
    }
}

/// Whether a record of `len` bytes at `ts_ms` can be sent at `now_ms`.
pub fn check(len: usize, ts_ms: i64, now_ms: i64) -> Option<Skip> {
    if len > MAX_EVENT_BYTES {
        Some(Skip::Oversize)
    } else if ts_ms < now_ms - MAX_AGE_MS {
        Some(Skip::TooOld)
    } else if ts_ms > now_ms + MAX_AHEAD_MS {
        Some(Skip::TooNew)
    } else {
        None
    }
}

/// Splits events (sorted by timestamp; `(timestamp_ms, bytes)`) into PutLogEvents calls that
/// respect every limit; returns the end index of each call.
pub fn split_calls(events: &[(i64, usize)]) -> Vec<usize> {
    let mut ends = Vec::new();
    let (mut start, mut bytes) = (0usize, 0usize);
    for (i, &(ts, len)) in events.iter().enumerate() {
        let size = len + EVENT_OVERHEAD;
        let full = i > start
            && (i - start >= MAX_CALL_EVENTS
                || bytes + size > MAX_CALL_BYTES
                || ts - events[start].0 >= MAX_SPAN_MS);
        if full {
            ends.push(i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        ends.push(events.len());
    }
    ends
}

/// Stream name CloudTrail uses for an account and region.
pub fn stream_name(record: &StreamRecord) -> String {
    format!("{}_CloudTrail_{}", record.account, record.region)
}

/// The CloudWatch Logs sink.
pub struct CloudWatchLogs {
    rt: Arc<AwsRuntime>,
    groups: Targets<LogGroupTarget>,
    clients: HashMap<String, Client>,
    /// Streams created (or found) by this process.
    ready: HashSet<(u16, String)>,
    /// Quarantine and metrics (records sent are counted there too).
    skips: Skips,
}

impl CloudWatchLogs {
    /// A sink for the trails (in configuration order) that name a log group; `None` if none do.
    pub fn new(
        rt: Arc<AwsRuntime>,
        trails: &[TrailStreams],
        quarantine: Arc<Quarantine>,
        metrics: Arc<Metrics>,
    ) -> Option<Self> {
        Some(Self {
            rt,
            groups: Targets::new(trails, |t| t.log_group.as_ref())?,
            clients: HashMap::new(),
            ready: HashSet::new(),
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
            .or_insert_with(|| self.rt.logs_client(region))
            .clone()
    }

    fn skip(&self, record: &StreamRecord, why: Skip, detail: &str) {
        let group = &self.groups.of(record).name;
        self.skips.skip(record, why.reason(), group, detail);
    }

    /// One PutLogEvents call, creating the group and stream when missing. Returns the indices
    /// (into `events`) the service refused, with the reason.
    fn put(
        &mut self,
        target: u16,
        stream: &str,
        events: Vec<InputLogEvent>,
    ) -> Result<Vec<(usize, Skip)>, DestinationError> {
        let group = self.groups.list[target as usize].clone();
        let client = self.client(&group.region);
        let what = format!("PutLogEvents {}/{stream}", group.name);
        let n = events.len();
        let mut created = self.ready.contains(&(target, stream.to_string()));
        loop {
            let call = client
                .put_log_events()
                .log_group_name(&group.name)
                .log_stream_name(stream)
                .set_log_events(Some(events.clone()))
                .send();
            match self.rt.block_on(call) {
                Ok(out) => {
                    self.ready.insert((target, stream.to_string()));
                    let mut refused = Vec::new();
                    if let Some(info) = out.rejected_log_events_info() {
                        let clamp = |i: i32| (i.max(0) as usize).min(n);
                        // Both end indices are exclusive, the start index inclusive (API docs).
                        if let Some(end) = info.expired_log_event_end_index() {
                            refused.extend((0..clamp(end)).map(|i| (i, Skip::Expired)));
                        }
                        if let Some(end) = info.too_old_log_event_end_index() {
                            refused.extend((0..clamp(end)).map(|i| (i, Skip::TooOld)));
                        }
                        if let Some(start) = info.too_new_log_event_start_index() {
                            refused.extend((clamp(start)..n).map(|i| (i, Skip::TooNew)));
                        }
                        refused.sort_by_key(|(i, _)| *i);
                        refused.dedup_by_key(|(i, _)| *i);
                    }
                    return Ok(refused);
                }
                Err(e)
                    if !created
                        && e.as_service_error()
                            .is_some_and(|se| se.is_resource_not_found_exception()) =>
                {
                    self.create(&client, &group, stream)?;
                    created = true;
                }
                Err(e) => return Err(classify(&e, &what)),
            }
        }
    }

    /// Creates the group and the stream; "already exists" is success (another agent, or a
    /// retry, got there first).
    fn create(
        &self,
        client: &Client,
        group: &LogGroupTarget,
        stream: &str,
    ) -> Result<(), DestinationError> {
        let made = self
            .rt
            .block_on(client.create_log_group().log_group_name(&group.name).send());
        match made {
            Ok(_) => {
                tracing::info!(group = %group.name, region = %group.region, "created log group")
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(classify(&e, &format!("CreateLogGroup {}", group.name))),
        }
        let made = self.rt.block_on(
            client
                .create_log_stream()
                .log_group_name(&group.name)
                .log_stream_name(stream)
                .send(),
        );
        match made {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(
                &e,
                &format!("CreateLogStream {}/{stream}", group.name),
            )),
        }
    }
}

impl Sink for CloudWatchLogs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn target(&self, trail: usize) -> Option<u16> {
        self.groups.of_trail(trail)
    }

    fn send(&mut self, batch: &mut Vec<StreamRecord>) -> Result<(), DestinationError> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut done = vec![false; batch.len()];
        let mut streams: BTreeMap<(u16, String), Vec<usize>> = BTreeMap::new();
        for (i, r) in batch.iter().enumerate() {
            let ts = r.event_time.saturating_mul(1000);
            if let Some(why) = check(r.bytes.len(), ts, now_ms) {
                let detail = match why {
                    Skip::Oversize => format!(
                        "record is {} bytes; CloudTrail sends at most {MAX_EVENT_BYTES} to CloudWatch Logs",
                        r.bytes.len()
                    ),
                    _ => "eventTime is outside the window CloudWatch Logs accepts (14 days back, 2 hours ahead)".to_string(),
                };
                self.skip(r, why, &detail);
                done[i] = true;
                continue;
            }
            streams
                .entry((r.target, stream_name(r)))
                .or_default()
                .push(i);
        }
        let mut result = Ok(());
        'streams: for ((target, stream), mut items) in streams {
            items.sort_by_key(|&i| (batch[i].event_time, batch[i].seq));
            let sizes: Vec<(i64, usize)> = items
                .iter()
                .map(|&i| (batch[i].event_time * 1000, batch[i].bytes.len()))
                .collect();
            let mut start = 0;
            for end in split_calls(&sizes) {
                let call = &items[start..end];
                let events = call
                    .iter()
                    .map(|&i| {
                        InputLogEvent::builder()
                            .timestamp(batch[i].event_time * 1000)
                            .message(String::from_utf8_lossy(&batch[i].bytes).into_owned())
                            .build()
                            .map_err(|e| DestinationError::Permanent(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>();
                match events.and_then(|events| self.put(target, &stream, events)) {
                    Ok(refused) => {
                        for &(k, why) in &refused {
                            let r = &batch[call[k]];
                            self.skip(r, why, "refused by CloudWatch Logs (rejectedLogEventsInfo)");
                        }
                        self.skips
                            .metrics
                            .delivered_to(NAME, (call.len() - refused.len()) as u64);
                        for &i in call {
                            done[i] = true;
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        break 'streams;
                    }
                }
                start = end;
            }
        }
        keep_undone(batch, &done);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_respect_count_bytes_and_span() {
        let hour = 3600 * 1000;
        // Count: 25,000 tiny events → 10,000 + 10,000 + 5,000.
        let events: Vec<(i64, usize)> = (0..25_000).map(|i| (i as i64, 10)).collect();
        assert_eq!(split_calls(&events), vec![10_000, 20_000, 25_000]);
        // Bytes: 100 KiB events → 10 per call (10 × (102,400 + 26) ≤ 1 MiB; 11 is over).
        let events: Vec<(i64, usize)> = (0..25).map(|i| (i, 100 * 1024)).collect();
        let ends = split_calls(&events);
        assert_eq!(ends, vec![10, 20, 25]);
        // Exactly at the byte limit fits.
        let exact = MAX_CALL_BYTES / 2 - EVENT_OVERHEAD;
        assert_eq!(split_calls(&[(0, exact), (0, exact)]), vec![2]);
        assert_eq!(split_calls(&[(0, exact), (0, exact + 1)]), vec![1, 2]);
        // Span: events 0 h, 23 h, 24 h, 30 h → [0 h, 23 h], [24 h, 30 h].
        let events = vec![(0, 1), (23 * hour, 1), (24 * hour, 1), (30 * hour, 1)];
        assert_eq!(split_calls(&events), vec![2, 4]);
        assert!(split_calls(&[]).is_empty());
    }

    #[test]
    fn window_and_size_rules() {
        let now = 1_800_000_000_000;
        assert_eq!(check(100, now, now), None);
        assert_eq!(check(MAX_EVENT_BYTES, now, now), None);
        assert_eq!(check(MAX_EVENT_BYTES + 1, now, now), Some(Skip::Oversize));
        assert_eq!(check(1, now - MAX_AGE_MS - 1, now), Some(Skip::TooOld));
        assert_eq!(check(1, now - MAX_AGE_MS + 60_000, now), None);
        assert_eq!(check(1, now + MAX_AHEAD_MS + 1, now), Some(Skip::TooNew));
        assert_eq!(check(1, now + MAX_AHEAD_MS - 60_000, now), None);
    }
}
