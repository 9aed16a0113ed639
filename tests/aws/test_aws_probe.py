"""`opentrail check-config --probe`: each configured destination tried once against moto,
one line per check, exit 1 when any fails (a missing bucket, a KMS key that does not exist),
exit 0 when all pass. moto accepts PutObject with any KMS key id, so this preflight is where a
bad key shows up before the first delivery."""

import os
import subprocess

from awshelpers import ACCOUNT, BIN, client, create_bucket, unique


def probe(agent):
    return subprocess.run([BIN, "check-config", "--probe", str(agent.config_path)],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **agent.env))


def test_probe_reports_each_destination(make_agent, moto):
    s3 = client("s3", moto)
    good, missing = unique("ot-probe"), unique("ot-probe-missing")
    create_bucket(s3, good)
    key = client("kms", moto).create_key()["KeyMetadata"]["KeyId"]
    topic = client("sns", moto).create_topic(Name=unique("ot-probe-topic"))["TopicArn"]
    group = unique("ct-probe")
    streams = {"cloud_watch_logs_log_group_arn":
               f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group}",
               "event_bus_name": "default"}
    ok = make_agent("ok", aws={"endpoint_url": moto}, trails=[dict(
        name="main", s3_bucket_name=good, sse="aws:kms", kms_key_id=key,
        sns_topic_arn=topic, **streams)])
    r = probe(ok)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [x for x in r.stdout.splitlines() if x.startswith("probe ")]
    assert lines == [
        f"probe s3://{good}: ok (bucket reachable)",
        f"probe kms {key}: ok (key {key} enabled)",
        f"probe sns {topic}: ok (topic reachable)",
        f"probe cloudwatch_logs us-east-1:{group}: ok (log group missing; created on the "
        "first delivery)",
        "probe eventbridge us-east-1:default: ok (event bus reachable)",
    ], r.stdout
    assert f"every record to CloudWatch Logs group {group}" in r.stdout

    bogus = "11111111-2222-3333-4444-555555555555"
    bad = make_agent("bad", aws={"endpoint_url": moto}, trails=[
        dict(name="main", s3_bucket_name=missing, sse="aws:kms", kms_key_id=bogus),
        dict(name="other", s3_bucket_name=good, event_bus_name="no-such-bus")])
    r = probe(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert f"probe s3://{missing}: FAILED: NoSuchBucket: the bucket does not exist" in out, out
    assert f"probe kms {bogus}: FAILED:" in out and "NotFoundException" in out, out
    assert f"probe s3://{good}: ok" in out, out
    assert "probe eventbridge us-east-1:no-such-bus: FAILED:" in out, out
    assert "ResourceNotFoundException" in out, out
    assert "3 destination probe(s) failed" in r.stderr, r.stderr
