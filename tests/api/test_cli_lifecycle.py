"""The trail lifecycle driven by the stock AWS CLI (`aws cloudtrail …` from PyPI, unmodified)
against the agent's API, with the effect of each call asserted on the delivered files."""

import json
import os
import time

from apihelpers import ACCOUNT, USERS, ApiAgent, aws, digest_files, delivered_ids, log_files, \
    record, settle, wait_ids
from helpers import wait_until

TRAIL = "orders-trail"
BUCKET = "audit-orders"
SELECTORS = [{"Name": "order writes", "FieldSelectors": [
    {"Field": "eventCategory", "Equals": ["Management"]},
    {"Field": "eventSource", "Equals": ["orders.example.com"]},
    {"Field": "readOnly", "Equals": ["false"]}]}]


def batch():
    """Three records the selectors take, three they do not."""
    take = [record(name="CreateOrder") for _ in range(3)]
    leave = [record(name="GetOrder", read_only=True),
             record(source="billing.example.com", name="Charge"),
             record(name="PutObject", category="Data",
                    resources=[{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}])]
    return take, leave


def ids(recs):
    return [r["eventID"] for r in recs]


def test_cli_create_select_start_stop_start_delete(tmp_path, agents):
    agent = ApiAgent(tmp_path / "a")
    agents.append(agent.start())
    fed = 0

    rc, out, err = aws(agent, "create-trail", "--name", TRAIL, "--s3-bucket-name", BUCKET,
                       "--is-multi-region-trail", "--enable-log-file-validation")
    assert rc == 0, err
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"
    assert out["TrailARN"] == arn and out["Name"] == TRAIL and out["S3BucketName"] == BUCKET
    assert out["IsMultiRegionTrail"] is True and out["LogFileValidationEnabled"] is True
    assert out["IncludeGlobalServiceEvents"] is True

    # A new trail logs nothing until start-logging, and selects management events only.
    rc, out, err = aws(agent, "get-trail-status", "--name", TRAIL)
    assert rc == 0 and out["IsLogging"] is False, (out, err)
    rc, out, err = aws(agent, "get-event-selectors", "--trail-name", TRAIL)
    assert rc == 0, err
    assert out["EventSelectors"] == [{"ReadWriteType": "All", "IncludeManagementEvents": True,
                                      "DataResources": [], "ExcludeManagementEventSources": []}]
    early = [record() for _ in range(2)]
    agent.feed("early", early)
    fed += 2
    settle(agent, fed, seconds=1.5)
    assert delivered_ids(agent, BUCKET) == [], "a trail that never started logging delivered"

    rc, out, err = aws(agent, "put-event-selectors", "--trail-name", TRAIL,
                       "--advanced-event-selectors", json.dumps(SELECTORS))
    assert rc == 0, err
    assert out["TrailARN"] == arn and out["AdvancedEventSelectors"] == SELECTORS
    rc, out, err = aws(agent, "start-logging", "--name", TRAIL)
    assert rc == 0, err
    rc, out, err = aws(agent, "get-trail-status", "--name", TRAIL)
    assert out["IsLogging"] is True and "StartLoggingTime" in out

    time.sleep(1.1)
    take, leave = batch()
    agent.feed("b1", take + leave)
    fed += 6
    wait_ids(agent, BUCKET, ids(take))
    settle(agent, fed)
    got = delivered_ids(agent, BUCKET)
    assert sorted(got) == sorted(ids(take)), "only the selected records land, each once"
    files = log_files(agent, BUCKET)
    for f in files:
        # audit-orders/AWSLogs/<acct>/CloudTrail/us-east-1/YYYY/MM/DD/<acct>_CloudTrail_us-east-1_…
        assert f.rel[1:5] == ("AWSLogs", ACCOUNT, "CloudTrail", "us-east-1"), f.rel
        assert f.rel[-1].startswith(f"{ACCOUNT}_CloudTrail_us-east-1_"), f.rel
    first_files = {"/".join(f.rel[1:]) for f in files}

    # stop-logging: no more deliveries, and the digest chain ends with a digest covering the
    # files delivered so far.
    rc, out, err = aws(agent, "stop-logging", "--name", TRAIL)
    assert rc == 0, err
    rc, out, err = aws(agent, "get-trail-status", "--name", TRAIL)
    assert out["IsLogging"] is False and "StopLoggingTime" in out

    def covered():
        listed = {lf["s3Object"] for _, d in digest_files(agent, BUCKET) for lf in d["logFiles"]}
        return first_files <= listed
    wait_until(covered, 30, what="a final digest listing the delivered files")
    digests_at_stop = len(digest_files(agent, BUCKET))

    time.sleep(1.1)
    stopped, _ = batch()
    agent.feed("b2", stopped)
    fed += 3
    settle(agent, fed)
    assert not set(ids(stopped)) & set(delivered_ids(agent, BUCKET)), "delivered while stopped"
    assert len(digest_files(agent, BUCKET)) == digests_at_stop, "digests after the chain ended"

    # The trail, its selectors and its stopped state survive a restart.
    agent.stop()
    agent.start()
    fed = 0  # the counters start again with the process
    rc, out, err = aws(agent, "get-event-selectors", "--trail-name", TRAIL)
    assert rc == 0 and out["AdvancedEventSelectors"] == SELECTORS, (out, err)
    rc, out, err = aws(agent, "get-trail-status", "--name", TRAIL)
    assert out["IsLogging"] is False

    rc, out, err = aws(agent, "start-logging", "--name", TRAIL)
    assert rc == 0, err
    time.sleep(1.1)
    again, leave = batch()
    agent.feed("b3", again + leave)
    fed += 6
    wait_ids(agent, BUCKET, ids(again))
    settle(agent, fed)
    assert not set(ids(leave)) & set(delivered_ids(agent, BUCKET))

    # A new chain after start-logging: its first digest links to nothing.
    rc, out, err = aws(agent, "stop-logging", "--name", TRAIL)
    assert rc == 0, err

    again_ids = set(ids(again))
    again_files = {"/".join(f.rel[1:]) for f in log_files(agent, BUCKET)
                   if again_ids & {r["eventID"] for r in f.records}}

    def restarted_chain():
        return [d for _, d in digest_files(agent, BUCKET)
                if again_files & {lf["s3Object"] for lf in d["logFiles"]}]
    wait_until(restarted_chain, 30, what="the digest of the restarted chain")
    assert all(d["previousDigestSignature"] is None for d in restarted_chain())
    rc, out, err = aws(agent, "start-logging", "--name", TRAIL)
    assert rc == 0, err

    rc, out, err = aws(agent, "delete-trail", "--name", TRAIL)
    assert rc == 0, err
    rc, out, err = aws(agent, "get-trail", "--name", TRAIL)
    assert rc != 0 and "TrailNotFoundException" in err, (rc, err)
    rc, out, err = aws(agent, "describe-trails")
    assert out["trailList"] == []
    time.sleep(1.1)
    after, _ = batch()
    agent.feed("b4", after)
    fed += 3
    settle(agent, fed)
    assert not set(ids(after)) & set(delivered_ids(agent, BUCKET)), "delivered after delete"
    # No trail takes them: refused and quarantined as no_trail, not lost silently.
    reasons = [e.get("reason") for e in agent.quarantine()]
    assert reasons.count("no_trail") >= 3, reasons


def test_cli_refuses_bad_signatures_and_unknown_keys(tmp_path, agents):
    agent = ApiAgent(tmp_path / "a")
    agents.append(agent.start())
    env_user = ("AKIAUNKNOWN000000001", "some-secret-0123456789abcdefghijkl", "x")
    USERS["stranger"] = env_user
    USERS["forger"] = (USERS["admin"][0], "not-the-admin-secret-0123456789abcd", "x")
    try:
        rc, _, err = aws(agent, "create-trail", "--name", "t-1", "--s3-bucket-name", BUCKET,
                         user="stranger")
        assert rc != 0 and "UnrecognizedClientException" in err, err
        rc, _, err = aws(agent, "create-trail", "--name", "t-1", "--s3-bucket-name", BUCKET,
                         user="forger")
        assert rc != 0 and "InvalidSignatureException" in err, err
        rc, _, err = aws(agent, "create-trail", "--name", "t-1", "--s3-bucket-name", BUCKET,
                         user="auditor")
        assert rc != 0 and "AccessDeniedException" in err, err
    finally:
        del USERS["stranger"], USERS["forger"]
    rc, out, err = aws(agent, "describe-trails", user="auditor")
    assert rc == 0 and out["trailList"] == [], err
    store = agent.data / "trails" / "trails.json"
    assert not os.path.exists(store) or json.loads(store.read_text()).get("trails") == []
