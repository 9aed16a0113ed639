"""Failure handling of S3 delivery and SNS notification, checked through the AWS APIs:
the endpoint going away and coming back (moto_server stopped and restarted on its port), a
bucket that does not exist, and a publish that keeps failing after the object is stored (the
retry and the restart after kill -9 meet the conditional write, 412, and never overwrite)."""

import signal
import time

from awshelpers import (MotoServer, Notifications, client, create_bucket, free_port,
                        notified_keys, read_bucket, unique, wait_until)
from helpers import RecordFactory, compare_delivered


def write_records(agent, name, factory, start, count):
    verdicts = [factory.verdict(i) for i in range(start, start + count)]
    data = b"".join(v.out + b"\n" for v in verdicts)
    tmp = agent.root / f".{name}.tmp"
    tmp.write_bytes(data)
    tmp.rename(agent.root / "in" / name)
    return verdicts


def test_endpoint_down_then_back(make_agent, tmp_path):
    """moto_server stops for ~15 s while records keep arriving, then restarts on the same port
    (empty: moto keeps no state, so the test re-creates queue, topic and bucket). Nothing is
    lost: the objects stored before the outage plus those after it hold every record exactly
    once, and every object got exactly one notification."""
    server = MotoServer(log_path=tmp_path / "moto-private.log").start()
    try:
        s3 = server.client("s3")
        bucket = unique("ot-restart")
        topic = unique("ot-restart-topic")
        notes = Notifications(server.endpoint, topic)
        create_bucket(s3, bucket)
        agent = make_agent("restart", aws={"endpoint_url": server.endpoint}, trails=[{
            "name": "main", "s3_bucket_name": bucket, "sns_topic_arn": notes.topic_arn}])
        factory = RecordFactory(limit=300)
        before = write_records(agent, "a.jsonl", factory, 0, 300)
        agent.start()
        agent.settle(len(before))
        objects_before = read_bucket(s3, bucket)
        notes_before = notified_keys(notes.drain(), bucket)
        assert set(notes_before) == {o.key for o in objects_before}

        server.stop()
        down_at = time.monotonic()
        errors0 = agent.m("opentrail_delivery_errors_total", 0)
        during = write_records(agent, "b.jsonl", factory, 300, 300)
        wait_until(lambda: agent.m("opentrail_delivery_errors_total", 0) >= errors0 + 2, 30,
                   what="failed delivery attempts while the endpoint is down")
        assert agent.alive(), agent.log()
        assert agent.m("opentrail_records_pending") > 0
        time.sleep(max(0.0, 15 - (time.monotonic() - down_at)))

        server.start()
        # Queue, topic and subscription first, the bucket last: no object can be stored (and
        # so announced) before its notification has somewhere to go.
        notes.create()
        create_bucket(s3, bucket)
        m = agent.settle(len(before) + len(during), timeout=120)
        assert agent.stop(signal.SIGTERM) == 0, agent.log()

        objects_after = read_bucket(s3, bucket)
        assert objects_after, agent.log()
        problems = compare_delivered([o.d for o in objects_before + objects_after],
                                     before + during)
        assert not problems, problems
        notes_after = notified_keys(notes.drain(), bucket)
        assert set(notes_after) == {o.key for o in objects_after}
        assert all(n == 1 for n in list(notes_before.values()) + list(notes_after.values()))
        assert m["opentrail_files_delivered_total"] == len(objects_before) + len(objects_after)
        log = agent.full_log()
        assert "delivery failed; will retry" in log
    finally:
        server.stop()


def test_missing_bucket_is_reported_and_recovers(make_agent, moto):
    """A bucket that does not exist: a clear error naming it in the log, the error counter
    grows, the agent keeps running; once the bucket exists, the files are delivered."""
    s3 = client("s3", moto)
    bucket = unique("ot-missing")
    agent = make_agent("missing", aws={"endpoint_url": moto},
                       trails=[{"name": "main", "s3_bucket_name": bucket}])
    factory = RecordFactory(limit=50)
    verdicts = write_records(agent, "a.jsonl", factory, 0, 50)
    agent.start()
    wait_until(lambda: agent.m("opentrail_delivery_errors_total", 0) >= 1, 30,
               what="a failed delivery")
    wait_until(lambda: "NoSuchBucket" in agent.full_log(), 10, what="the error in the log")
    line = next(l for l in agent.full_log().splitlines() if "NoSuchBucket" in l)
    assert f"s3://{bucket}/" in line and "ERROR" in line, line
    assert agent.alive()
    assert agent.m("opentrail_files_delivered_total") == 0
    assert agent.m("opentrail_records_pending") == len(verdicts)

    create_bucket(s3, bucket)
    agent.settle(len(verdicts), timeout=60)  # permanent errors are retried every 30 s
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    objects = read_bucket(s3, bucket)
    assert not compare_delivered([o.d for o in objects], verdicts)


def test_publish_failure_retries_without_overwriting(make_agent, moto):
    """The object is stored but SNS is unreachable (AWS_ENDPOINT_URL_SNS points at a closed
    port): the file stays undelivered and is retried; each retry's conditional PutObject finds
    the object (412) and leaves it alone. After kill -9 and a restart with SNS reachable
    (AWS_ENDPOINT_URL for every service), the same keys are announced, once each, and the
    versioned bucket still holds exactly one version of each object."""
    s3 = client("s3", moto)
    bucket = unique("ot-sns-retry")
    create_bucket(s3, bucket, versioned=True)
    notes = Notifications(moto, unique("ot-sns-retry-topic"))
    dead = f"http://127.0.0.1:{free_port()}"
    agent = make_agent("sns-retry", trails=[{
        "name": "main", "s3_bucket_name": bucket, "sns_topic_arn": notes.topic_arn}])
    factory = RecordFactory(limit=200)
    verdicts = write_records(agent, "a.jsonl", factory, 0, 200)
    agent.start(env={"AWS_ENDPOINT_URL_S3": moto, "AWS_ENDPOINT_URL_SNS": dead})

    def stored_and_retried():
        listed = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        return listed and agent.m("opentrail_delivery_errors_total", 0) >= 3 * listed
    wait_until(stored_and_retried, 60, what="stored objects whose publish failed repeatedly")
    assert agent.m("opentrail_files_delivered_total") == 0
    assert "is stored but not announced" in agent.full_log()
    first = {o.key: o.headers for o in read_bucket(s3, bucket)}
    agent.kill9()

    agent.start(env={"AWS_ENDPOINT_URL": moto})
    agent.settle(len(verdicts))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    objects = read_bucket(s3, bucket)
    assert {o.key for o in objects} == set(first)
    for o in objects:
        assert o.headers["ETag"] == first[o.key]["ETag"]
        assert o.headers["LastModified"] == first[o.key]["LastModified"]
    versions = s3.list_object_versions(Bucket=bucket).get("Versions", [])
    assert sorted(v["Key"] for v in versions) == sorted(first), "an object was overwritten"
    assert not compare_delivered([o.d for o in objects], verdicts)
    keys = notified_keys(notes.drain(), bucket)
    assert set(keys) == set(first) and all(n == 1 for n in keys.values()), keys
