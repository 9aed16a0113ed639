"""CloudWatch Logs and EventBridge record streams, checked through the AWS APIs (boto3 against
moto_server): the whole corpus through a trail with all four destinations (S3, SNS, CloudWatch
Logs, EventBridge → rule → SQS); throttling and partial PutEvents failures (only the failed
entries are sent again; every PutLogEvents/PutEvents limit checked on what the agent sent,
since moto enforces few of them); and the endpoint gone for 30 s with nothing lost.

Records older than CloudWatch Logs' 14-day window, more than 2 hours ahead, or over 256 KiB are
not sent to the streams: they must be in the quarantine with the reason and counted."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import signal
import time
import uuid

import ctrules
from awshelpers import (ACCOUNT, Notifications, client, create_bucket, notified_keys,
                        read_bucket, unique, wait_until)
from helpers import compare_delivered, read_lines, read_quarantine
from proxies import FaultyJsonProxy, TcpProxy

MAX_RECORD = 256 * 1024
TIME_RE = re.compile(rb'"eventTime"\s*:\s*"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"')
DETAIL_TYPES = {
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsConsoleAction": "AWS Console Action via CloudTrail",
    "AwsCloudTrailInsight": "AWS Insight via CloudTrail",
}


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_seconds(record: bytes) -> int:
    t = json.loads(record)["eventTime"]
    return int(dt.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=dt.timezone.utc).timestamp())


class EventQueue:
    """EventBridge rules on `bus` matching every source with `prefix`, each targeting its own
    fresh SQS queue. The events are spread over 16 rules by the first hex digit of
    `detail.eventID` (every record has a UUID eventID): moto's SQS slows down with the length
    of a queue, and 16 short queues keep the corpus test quick. Together the rules match
    every event exactly once."""

    def __init__(self, endpoint: str, prefix="opentrail.", bus="default"):
        self.sqs = client("sqs", endpoint)
        self.events = client("events", endpoint)
        self.urls = []
        base = unique("ot-events")
        for digit in "0123456789abcdef":
            name = f"{base}-{digit}"
            url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
            arn = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            ids = [{"prefix": digit}] + ([{"prefix": digit.upper()}] if digit.isalpha() else [])
            pattern = {"source": [{"prefix": prefix}], "detail": {"eventID": ids}}
            self.events.put_rule(Name=name, EventBusName=bus, State="ENABLED",
                                 EventPattern=json.dumps(pattern))
            self.events.put_targets(Rule=name, EventBusName=bus,
                                    Targets=[{"Id": "q", "Arn": arn}])
            self.urls.append(url)

    def drain(self, quiet_polls=3) -> list:
        """Every event now in the queues (parsed)."""
        # Short polls: moto's long poll waits for a full batch of 10.
        out, empty = [], 0
        while empty < quiet_polls:
            got = 0
            for url in self.urls:
                while True:
                    r = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=0)
                    msgs = r.get("Messages", [])
                    if not msgs:
                        break
                    got += len(msgs)
                    out += [json.loads(m["Body"]) for m in msgs]
                    self.sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(msgs)])
            if got:
                empty = 0
            else:
                empty += 1
                time.sleep(0.5)
        return out


def log_events(endpoint: str, group: str) -> list:
    """Every event of a log group -> [(stream, timestamp, message bytes)]."""
    logs = client("logs", endpoint)
    out, token = [], None
    while True:
        kw = {"logGroupName": group, "limit": 10000}
        if token:
            kw["nextToken"] = token
        r = logs.filter_log_events(**kw)
        out += [(e["logStreamName"], e["timestamp"], e["message"].encode())
                for e in r["events"]]
        token = r.get("nextToken")
        if not token or not r["events"]:
            return out


def stream_metric(agent, dest: str) -> float:
    return agent.metrics().get(f'opentrail_records_delivered_total{{destination="{dest}"}}', 0)


def settle_streams(agent, s3_records: int, cwl: int, eb: int, timeout=180):
    """Waits until S3 (local name "s3" or the notifier), CloudWatch Logs and EventBridge
    delivered the given counts and no stream lags."""
    def done():
        m = agent.metrics()
        files = sum(v for k, v in m.items() if k.startswith("opentrail_records_delivered_total")
                    and "cloudwatch" not in k and "eventbridge" not in k)
        lag = sum(v for k, v in m.items() if k.startswith("opentrail_stream_lag_records"))
        ok = (files >= s3_records and m.get("opentrail_records_pending", 1) == 0
              and stream_metric(agent, "cloudwatch_logs") >= cwl
              and stream_metric(agent, "eventbridge") >= eb and lag == 0)
        return m if ok else None
    try:
        return wait_until(done, timeout, interval=0.3, what="all destinations caught up")
    except AssertionError as e:
        raise AssertionError(f"{e}\nmetrics: {agent.metrics()}\n{agent.log()}") from None


def check_event_envelopes(messages: list, prefix="opentrail."):
    """CloudTrail's EventBridge shape: detail-type from eventType, source from eventSource,
    time = eventTime, detail = the record. Returns the details, canonicalised."""
    details = []
    for m in messages:
        d = m["detail"]
        assert m["detail-type"] == DETAIL_TYPES.get(d.get("eventType"),
                                                    "AWS API Call via CloudTrail"), m
        service = d["eventSource"].split(".")[0]
        service = re.sub(r"[^A-Za-z0-9_-]", "", service).lower() or "unknown"
        assert m["source"] == prefix + service, (m["source"], d["eventSource"])
        assert m["time"] == d["eventTime"], m
        details.append(json.dumps(d, sort_keys=True))
    return collections.Counter(details)


def filing_region(record: dict) -> str:
    """us-east-1 for global-service events, else awsRegion."""
    if record["eventSource"] in ("iam.amazonaws.com", "sts.amazonaws.com",
                                 "cloudfront.amazonaws.com"):
        return "us-east-1"
    return record["awsRegion"]


def canonical(record: bytes) -> str:
    return json.dumps(json.loads(record), sort_keys=True)


# --------------------------------------------------------------------------------------------

def test_corpus_to_all_four_destinations(make_agent, moto, corpus):
    """The corpus (eventTimes moved into the last hour, except every 50th, kept old) plus records
    over 256 KiB and from the future: every valid record in exactly one S3 object with one SNS
    notification per object; every one ≤ 256 KiB and inside CloudWatch Logs' window in its
    `<acct>_CloudTrail_<region>` stream, byte-identical, timestamp = eventTime; every one
    ≤ 256 KiB reached the SQS queue behind the EventBridge rule, shaped like CloudTrail's events;
    each one not sent is in the quarantine with its reason, and the counts match the metrics."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    lines = []
    for i, line in enumerate(read_lines(corpus / "records.jsonl")):
        if i % 50 != 0:
            recent = iso(now - dt.timedelta(seconds=i % 3000)).encode()
            line = TIME_RE.sub(b'"eventTime":"' + recent + b'"', line, count=1)
        lines.append(line)
    base = {"eventVersion": "1.08", "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT},
            "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
            "eventType": "AwsConsoleSignIn", "awsRegion": "us-east-1"}
    for k in range(3):  # over 256 KiB: S3 only
        rec = dict(base, eventTime=iso(now), requestParameters={"blob": "x" * (300_000 + k)})
        lines.append(json.dumps(rec, separators=(",", ":")).encode())
    for k in range(2):  # 5 hours ahead: not CloudWatch Logs
        rec = dict(base, eventTime=iso(now + dt.timedelta(hours=5, seconds=k)))
        lines.append(json.dumps(rec, separators=(",", ":")).encode())
    accepted = [v for v in (ctrules.judge(x, max_record_bytes=400_000) for x in lines)
                if v.accepted]

    s3 = client("s3", moto)
    bucket = unique("ot-streams")
    create_bucket(s3, bucket)
    notes = Notifications(moto, unique("ot-streams-topic"))
    events = EventQueue(moto)
    group = unique("ct-audit")
    agent = make_agent("streams", aws={"endpoint_url": moto}, top={"max_record_bytes": 400_000},
                       trails=[{
                           "name": "main", "s3_bucket_name": bucket,
                           "sns_topic_arn": notes.topic_arn,
                           "cloud_watch_logs_log_group_arn":
                               f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}:*",
                           "event_bus_name": "default"}])
    (agent.root / "in" / "records.jsonl").write_bytes(b"".join(x + b"\n" for x in lines))
    # Expected stream counts, from the records as the agent will file them.
    sizes_times = []
    for v in accepted:
        sizes_times.append((len(v.out) + (len(b',"eventID":"00000000-0000-0000-0000-000000000000"')
                                          if v.adds_id else 0), event_seconds(v.out)))
    now_s = now.timestamp()
    want_eb = sum(1 for n, _ in sizes_times if n <= MAX_RECORD)
    want_cwl = sum(1 for n, t in sizes_times
                   if n <= MAX_RECORD and now_s - 14 * 86400 < t < now_s + 2 * 3600)
    assert want_cwl < want_eb < len(accepted)

    agent.start()
    m = settle_streams(agent, len(accepted), want_cwl, want_eb)
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    objects = read_bucket(s3, bucket)
    problems = compare_delivered([o.d for o in objects], accepted)
    assert not problems, problems
    keys = notified_keys(notes.drain(), bucket)
    assert set(keys) == {o.key for o in objects} and set(keys.values()) == {1}

    # CloudWatch Logs: byte-identical messages in the right stream, timestamp = eventTime.
    want = collections.Counter()
    for o in objects:
        for r in o.d.records:
            t = event_seconds(r)
            if len(r) <= MAX_RECORD and now_s - 14 * 86400 < t < now_s + 2 * 3600:
                want[(f"{o.d.account}_CloudTrail_{o.d.region}", t * 1000, r)] += 1
    got = collections.Counter(log_events(moto, group))
    assert sum(got.values()) == want_cwl
    assert got == want, (len(got - want), len(want - got), list((got - want))[:2])

    # EventBridge → rule → SQS: every record ≤ 256 KiB once, CloudTrail's envelope.
    details = check_event_envelopes(events.drain())
    want_details = collections.Counter(
        canonical(r) for o in objects for r in o.d.records if len(r) <= MAX_RECORD)
    assert sum(details.values()) == want_eb
    assert details == want_details

    # What was not sent is in the quarantine, with the reason, and counted.
    reasons = collections.Counter(e["reason"] for e in read_quarantine(agent.data)
                                  if e["reason"].startswith(("cloudwatch_logs", "eventbridge")))
    old = sum(1 for n, t in sizes_times if n <= MAX_RECORD and t <= now_s - 14 * 86400)
    assert reasons == {"cloudwatch_logs_oversize": 3, "eventbridge_oversize": 3,
                       "cloudwatch_logs_too_old": old, "cloudwatch_logs_too_new": 2}, reasons
    for reason, n in reasons.items():
        dest = "cloudwatch_logs" if reason.startswith("cloudwatch") else "eventbridge"
        key = f'opentrail_stream_records_skipped_total{{destination="{dest}",reason="{reason}"}}'
        assert m[key] == n, (key, m.get(key))
    assert m["opentrail_delivery_errors_total"] == 0, agent.log()
    assert "created log group" in agent.full_log()


def recent_records(n: int, big_every=0, span_hours=30):
    """n valid records with eventTimes spread over the last `span_hours` (so calls must split
    at 24 h), every `big_every`-th one ~100 KB (so calls must split at 1 MiB)."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    out = []
    for i in range(n):
        t = now - dt.timedelta(seconds=int(i * span_hours * 3600 / n))
        rec = {"eventVersion": "1.08",
               "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT,
                                "arn": f"arn:aws:iam::{ACCOUNT}:user/u{i % 7}"},
               "eventTime": iso(t), "eventSource": ["s3", "ec2", "iam"][i % 3] + ".amazonaws.com",
               "eventName": "Describe", "awsRegion": ["us-east-1", "eu-west-1"][i % 2],
               "requestParameters": {"n": i}, "eventID": str(uuid.UUID(int=i + 1, version=4))}
        if big_every and i % big_every == 0:
            rec["requestParameters"]["pad"] = "p" * 100_000
        out.append(json.dumps(rec, separators=(",", ":")).encode())
    return out


def test_throttling_and_partial_failures_respect_limits(make_agent, moto):
    """CloudWatch Logs and EventBridge answer ThrottlingException three times each, and
    EventBridge then fails every 7th entry: the agent backs off, retries, and sends again only
    the failed entries, so every record arrives exactly once. Every call it made respects the
    PutLogEvents limits (≤ 10,000 events, ≤ 1,048,576 bytes with 26 per event, chronological,
    span < 24 h) and the PutEvents limits (≤ 10 entries, ≤ 1 MiB). Endpoints come from the
    standard per-service variables AWS_ENDPOINT_URL_CLOUDWATCH_LOGS / _EVENTBRIDGE."""
    port = int(moto.rsplit(":", 1)[1])
    proxy = FaultyJsonProxy(port, throttle={"PutLogEvents": 3, "PutEvents": 3}, fail_every=7)
    try:
        s3 = client("s3", moto)
        bucket = unique("ot-throttle")
        create_bucket(s3, bucket)
        events = EventQueue(moto, prefix="com.example.audit.")
        group = unique("ct-throttle")
        records = recent_records(800, big_every=20)
        agent = make_agent("throttle", aws={}, env={
            "AWS_ENDPOINT_URL": moto,
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": proxy.endpoint,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": proxy.endpoint},
            trails=[{"name": "main", "s3_bucket_name": bucket,
                     "cloud_watch_logs_log_group_arn":
                         f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}",
                     "event_bus_name": "default",
                     "event_source_prefix": "com.example.audit."}])
        (agent.root / "in" / "a.jsonl").write_bytes(b"".join(r + b"\n" for r in records))
        agent.start()
        m = settle_streams(agent, len(records), len(records), len(records))
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
    finally:
        proxy.close()

    assert proxy.throttled == {"PutLogEvents": 3, "PutEvents": 3}
    assert proxy.failed_entries > 0
    assert m["opentrail_retries_total"] >= 6
    assert "stream delivery failed; will retry" in agent.full_log()

    got = collections.Counter(msg for _, _, msg in log_events(moto, group))
    assert got == collections.Counter(records)
    details = check_event_envelopes(events.drain(), prefix="com.example.audit.")
    assert details == collections.Counter(canonical(r) for r in records)

    calls = proxy.sent["PutLogEvents"]
    assert len(calls) >= 3  # 24 h span and 1 MiB force splits
    for c in calls:
        evs = c["logEvents"]
        assert len(evs) <= 10_000
        assert sum(len(e["message"].encode()) + 26 for e in evs) <= 1_048_576
        ts = [e["timestamp"] for e in evs]
        assert ts == sorted(ts) and ts[-1] - ts[0] < 24 * 3600 * 1000
        regions = {filing_region(json.loads(e["message"])) for e in evs}
        assert [f"{ACCOUNT}_CloudTrail_{r}" for r in regions] == [c["logStreamName"]]
    for c in proxy.sent["PutEvents"]:
        entries = c["Entries"]
        assert 1 <= len(entries) <= 10
        size = sum(14 + len(e["Source"]) + len(e["DetailType"]) + len(e["Detail"].encode())
                   for e in entries)
        assert size <= 1024 * 1024
        assert all(e["Source"].startswith("com.example.audit.") for e in entries)


def test_endpoint_gone_for_30_seconds_loses_nothing(make_agent, moto):
    """Every AWS call goes through a proxy that disappears for 30 s (connection refused) while
    records keep arriving, then comes back (moto kept its state): S3 holds every record exactly
    once, and CloudWatch Logs and EventBridge hold every record (at least once; a call cut off
    mid-flight may have been applied)."""
    port = int(moto.rsplit(":", 1)[1])
    proxy = TcpProxy(port).up()
    try:
        s3 = client("s3", moto)
        bucket = unique("ot-outage")
        create_bucket(s3, bucket)
        notes = Notifications(moto, unique("ot-outage-topic"))
        events = EventQueue(moto)
        group = unique("ct-outage")
        agent = make_agent("outage", aws={"endpoint_url": proxy.endpoint}, trails=[{
            "name": "main", "s3_bucket_name": bucket, "sns_topic_arn": notes.topic_arn,
            "cloud_watch_logs_log_group_arn":
                f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}",
            "event_bus_name": "default"}])
        records = recent_records(400, span_hours=1)
        first, second = records[:200], records[200:]
        (agent.root / "in" / "a.jsonl").write_bytes(b"".join(r + b"\n" for r in first))
        agent.start()
        settle_streams(agent, len(first), len(first), len(first))

        proxy.down()
        down_at = time.monotonic()
        errors0 = agent.m("opentrail_delivery_errors_total", 0)
        tmp = agent.root / ".b.tmp"
        tmp.write_bytes(b"".join(r + b"\n" for r in second))
        tmp.rename(agent.root / "in" / "b.jsonl")
        wait_until(lambda: agent.m("opentrail_delivery_errors_total", 0) >= errors0 + 3, 40,
                   what="failed attempts while the endpoint is gone")
        m = agent.metrics()
        assert sum(v for k, v in m.items() if k.startswith("opentrail_stream_lag_records")) > 0
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        assert agent.alive(), agent.log()

        proxy.up()
        settle_streams(agent, len(records), len(records), len(records), timeout=240)
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
    finally:
        proxy.down()

    s3_records = collections.Counter(r for o in read_bucket(s3, bucket) for r in o.d.records)
    assert s3_records == collections.Counter(records)
    cwl = collections.Counter(msg for _, _, msg in log_events(moto, group))
    assert set(cwl) == set(records)
    details = check_event_envelopes(events.drain())
    assert set(details) == {canonical(r) for r in records}
    keys = notified_keys(notes.drain(), bucket)
    assert set(keys.values()) == {1}


def test_streams_resume_after_kill_9(make_agent, moto):
    """EventBridge is throttled (so it lags) while CloudWatch Logs keeps up; the agent is
    killed with SIGKILL and restarted. Each stream resumes from its own saved cursor: every
    record reaches both (EventBridge exactly once, as nothing of it had gone out; CloudWatch
    Logs at least once), and S3 holds each record exactly once."""
    port = int(moto.rsplit(":", 1)[1])
    proxy = FaultyJsonProxy(port, throttle={"PutEvents": 5})
    try:
        s3 = client("s3", moto)
        bucket = unique("ot-kill")
        create_bucket(s3, bucket)
        events = EventQueue(moto)
        group = unique("ct-kill")
        agent = make_agent("kill", aws={}, env={
            "AWS_ENDPOINT_URL": moto,
            "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": proxy.endpoint,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": proxy.endpoint},
            trails=[{"name": "main", "s3_bucket_name": bucket,
                     "cloud_watch_logs_log_group_arn":
                         f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}",
                     "event_bus_name": "default"}])
        records = recent_records(300, span_hours=1)
        (agent.root / "in" / "a.jsonl").write_bytes(b"".join(r + b"\n" for r in records))
        agent.start()
        wait_until(lambda: stream_metric(agent, "cloudwatch_logs") >= len(records), 60,
                   what="CloudWatch Logs caught up")
        assert stream_metric(agent, "eventbridge") == 0, "EventBridge should still be throttled"
        agent.stop(signal.SIGKILL)
        assert (agent.data / "streams" / "cloudwatch_logs.cursor").exists()
        assert proxy.throttled["PutEvents"] >= 1

        agent.start()
        settle_streams(agent, 0, 0, len(records))
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
    finally:
        proxy.close()

    s3_records = collections.Counter(r for o in read_bucket(s3, bucket) for r in o.d.records)
    assert s3_records == collections.Counter(records)
    cwl = collections.Counter(msg for _, _, msg in log_events(moto, group))
    assert set(cwl) == set(records)
    details = check_event_envelopes(events.drain())
    assert details == collections.Counter(canonical(r) for r in records)


def test_disk_limit_holds_intake_while_a_stream_is_down(make_agent, moto):
    """CloudWatch Logs refuses every call (throttled) while ~100 MB of records arrive: the WAL
    cannot be released past the stream's cursor, so once it holds `disk_limit_mb` (64) intake
    waits (busy counted, a warning logged) instead of filling the disk. When CloudWatch Logs
    answers again, the stream catches up, the WAL shrinks, intake resumes, and every record
    reaches both the log files and CloudWatch Logs."""
    port = int(moto.rsplit(":", 1)[1])
    proxy = FaultyJsonProxy(port, throttle={"PutLogEvents": 10**9})
    try:
        group = unique("ct-disk")
        agent = make_agent("disk", aws={}, local_root=True, top={"disk_limit_mb": 64},
                           env={"AWS_ENDPOINT_URL": moto,
                                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": proxy.endpoint},
                           trails=[{"name": "main", "s3_bucket_name": "audit-logs",
                                    "cloud_watch_logs_log_group_arn":
                                        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}"}])
        base = recent_records(1, span_hours=1)[0]
        pad = b',"additionalEventData":{"pad":"' + b"q" * 1200 + b'"}}'
        records = [base[:-1].replace(b'"n":0', b'"n":%d' % i).replace(
            b'"eventID":"00000000-0000-4000-8000-000000000001"',
            b'"eventID":"%s"' % str(uuid.UUID(int=i + 1, version=4)).encode()) + pad
            for i in range(80_000)]
        assert len(set(records)) == len(records)
        (agent.root / "in" / "a.jsonl").write_bytes(b"".join(r + b"\n" for r in records))
        agent.start()
        wait_until(lambda: "write-ahead log over disk_limit_mb" in agent.full_log(), 120,
                   what="intake held at the disk limit")
        m = agent.metrics()
        held = m["opentrail_records_accepted_total"]
        assert held < len(records), m
        assert m["opentrail_wal_bytes"] >= 64 * 2**20 and m["opentrail_busy_total"] >= 1, m
        time.sleep(2)
        assert agent.metrics()["opentrail_records_accepted_total"] == held

        proxy.throttle["PutLogEvents"] = 0
        settle_streams(agent, len(records), len(records), 0, timeout=240)
        assert "intake resumes" in agent.full_log()
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
    finally:
        proxy.close()
    cwl = collections.Counter(msg for _, _, msg in log_events(moto, group))
    assert set(cwl) == set(records)
