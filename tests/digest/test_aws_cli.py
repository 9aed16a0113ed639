"""The acceptance check of log file integrity validation: the unmodified AWS CLI
(`aws cloudtrail validate-logs`) validates what the agent delivered to S3 (moto_server), talking
to the agent's own control-plane API for DescribeTrails and ListPublicKeys; then one deleted
log, one altered log, one altered digest and one digest stripped of its signature metadata are
each reported INVALID in the CLI's words, with exit code 1."""

import gzip
import json
import signal
import time

from awshelpers import ACCOUNT, client, create_bucket, unique
from helpers import wait_until
from digesthelpers import (ARN, DigestAgent, digest_json, iso, records, run_aws_validate,
                           run_opentrail_validate, wait_covered)

FILES = 4


def list_keys(s3, bucket, part):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", []) if f"/{part}/" in o["Key"]]
    return sorted(keys)


def line(kind, bucket, key, verdict):
    return f"{kind}\ts3://{bucket}/{key}\t{verdict}"


def test_aws_cli_validates_and_detects_tampering(tmp_path, moto, agents):
    s3 = client("s3", moto)
    bucket = unique("ot-digest")
    create_bucket(s3, bucket)
    agent = DigestAgent(tmp_path / "a", bucket=bucket, digest_interval_secs=2, endpoint=moto)
    agents.append(agent)
    start = iso(time.time() - 120)
    agent.start()
    # One log file per delivery interval, spread over several digest periods.
    for i in range(FILES):
        agent.feed(f"batch{i}", records(5, start=i * 5))
        agent.settle(5 * (i + 1))
        time.sleep(2.5)

    def digests():
        return {k: digest_json(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
                for k in list_keys(s3, bucket, "CloudTrail-Digest")}
    digest_bodies, logs = wait_covered(digests, lambda: list_keys(s3, bucket, "CloudTrail"))
    assert len(logs) == FILES, logs
    # Stop (a final digest), then run with a long period so no digest appears during the checks:
    # the restart writes the period that ended meanwhile and nothing more for an hour.
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    agent.set_digest_interval(3600)
    agent.start()
    # Exactly one digest follows the restart (the period that was open, at its end); wait for
    # it through the agent's API (boto3, unmodified).
    ct = client("cloudtrail", agent.api)
    assert ct.describe_trails()["trailList"][0]["TrailARN"] == ARN
    wait_until(lambda: ct.get_trail_status(Name=ARN).get("LatestDigestDeliveryTime"), 30,
               what="the digest after the restart")
    end = iso(time.time() + 5)
    digest_keys = list_keys(s3, bucket, "CloudTrail-Digest")
    bodies = {k: digest_json(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
              for k in digest_keys}

    # Every digest is signed; the chain links each digest to the one before it.
    for k, b in bodies.items():
        meta = s3.head_object(Bucket=bucket, Key=k)["Metadata"]
        assert meta["signature-algorithm"] == "SHA256withRSA", meta
        assert len(meta["signature"]) == 512, meta
        assert b["digestS3Object"] == k and b["digestS3Bucket"] == bucket
        if b["previousDigestS3Object"] is not None:
            assert b["previousDigestS3Object"] in bodies
            prev = s3.head_object(Bucket=bucket, Key=b["previousDigestS3Object"])["Metadata"]
            assert b["previousDigestSignature"] == prev["signature"]

    rc, out, err = run_aws_validate(agent, moto, start, end)
    assert rc == 0, (out, err, agent.log())
    for k in digest_keys:
        assert line("Digest file", bucket, k, "valid") in out, (k, out)
    for k in logs:
        assert line("Log file", bucket, k, "valid") in out, (k, out)
    # A file whose upload finished just after its period's digest closed is in a `_backfill`
    # digest, counted apart by both validators.
    nb = len([k for k in digest_keys if k.endswith("_backfill.json.gz")])
    n = len(digest_keys) - nb
    assert f"{n}/{n} digest files valid" in out, out
    if nb:
        assert f"{nb}/{nb} backfill digest files valid" in out, out
    assert f"{FILES}/{FILES} log files valid" in out, out
    assert f"Validating log files for trail {ARN}" in out
    # Our own validator, on S3, agrees.
    rc, out2, err2 = run_opentrail_validate(agent, start, end)
    assert rc == 0, (out2, err2)
    assert f"{n}/{n} digest files valid" in out2 and f"{FILES}/{FILES} log files valid" in out2

    # Pick what to tamper with: two logs, and two digests that list no file (so their logs'
    # checks are not hidden behind an invalid digest).
    empty = [k for k, b in bodies.items() if not b["logFiles"]]
    assert len(empty) >= 2, bodies
    deleted, altered = logs[0], logs[1]
    s3.delete_object(Bucket=bucket, Key=deleted)
    s3.put_object(Bucket=bucket, Key=altered,
                  Body=gzip.compress(b'{"Records":[{"eventName":"Forged"}]}'))
    rc, out, err = run_aws_validate(agent, moto, start, end)
    assert rc == 1, (out, err)
    assert line("Log file", bucket, deleted, "INVALID: not found") in err, err
    assert line("Log file", bucket, altered, "INVALID: hash value doesn't match") in err, err
    assert f"{FILES - 2}/{FILES} log files valid, 2/{FILES} log files INVALID" in out, out
    rc, out2, err2 = run_opentrail_validate(agent, start, end)
    assert rc == 1, (out2, err2)
    assert line("Log file", bucket, deleted, "INVALID: not found") in err2, err2
    assert line("Log file", bucket, altered, "INVALID: hash value doesn't match") in err2, err2

    # Alter one digest (same metadata, different content).
    changed = empty[0]
    body = dict(bodies[changed])
    body["digestStartTime"] = "2001-01-01T00:00:00Z"
    meta = s3.head_object(Bucket=bucket, Key=changed)["Metadata"]
    s3.put_object(Bucket=bucket, Key=changed, Metadata=meta,
                  Body=gzip.compress(json.dumps(body).encode()))
    # Strip another digest's signature metadata.
    stripped = empty[1]
    s3.copy_object(Bucket=bucket, Key=stripped, CopySource={"Bucket": bucket, "Key": stripped},
                   Metadata={}, MetadataDirective="REPLACE")
    assert "signature" not in s3.head_object(Bucket=bucket, Key=stripped)["Metadata"]
    rc, out, err = run_aws_validate(agent, moto, start, end)
    assert rc == 1, (out, err)
    for k in (changed, stripped):
        assert line("Digest file", bucket, k, "INVALID: signature verification failed") in err, err
    assert f"{n - 2}/{n} digest files valid, 2/{n} digest files INVALID" in out, out
    rc, out2, err2 = run_opentrail_validate(agent, start, end)
    assert rc == 1, (out2, err2)
    for k in (changed, stripped):
        assert line("Digest file", bucket, k, "INVALID: signature verification failed") in err2
    assert f"{n - 2}/{n} digest files valid, 2/{n} digest files INVALID" in out2, out2
    assert agent.stop(signal.SIGTERM) == 0, agent.log()


def test_aws_cli_validates_organization_trail(tmp_path, moto, agents):
    """An organization trail's digests sit beside its logs, under the organization id
    (`AWSLogs/<o-id>/<account>/CloudTrail-Digest/…`): the AWS CLI, given `--account-id` and the
    organization id from Organizations (moto), validates each account's chain and finds a
    changed log."""
    s3, orgs = client("s3", moto), client("organizations", moto)
    try:
        org_id = orgs.describe_organization()["Organization"]["Id"]
    except orgs.exceptions.AWSOrganizationsNotInUseException:
        org_id = orgs.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    member = "210987654321"
    bucket = unique("ot-digest-org")
    create_bucket(s3, bucket)
    agent = DigestAgent(tmp_path / "a", bucket=bucket, digest_interval_secs=2, endpoint=moto,
                        organization=(org_id, [member]))
    agents.append(agent)
    start = iso(time.time() - 120)
    agent.start()
    agent.feed("mgmt", records(5))
    agent.feed("member", records(7, start=5, account=member))
    agent.settle(12)

    def digests():
        return {k: digest_json(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
                for k in list_keys(s3, bucket, "CloudTrail-Digest")}
    _, logs = wait_covered(digests, lambda: list_keys(s3, bucket, "CloudTrail"))
    # As above: stop (final digests), then serve the API with hourly periods, so that no digest
    # is on its way while the validators list them.
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    agent.set_digest_interval(3600)
    agent.start()
    end = iso(time.time() + 5)
    bodies = digests()
    for account in (ACCOUNT, member):
        root = f"AWSLogs/{org_id}/{account}/"
        mine = [k for k in logs if k.startswith(root + "CloudTrail/")]
        assert len(mine) == 1, logs
        assert any(k.startswith(root + "CloudTrail-Digest/us-east-1/") for k in bodies), bodies
    assert all(k.startswith(f"AWSLogs/{org_id}/") for k in bodies), list(bodies)

    for account in (ACCOUNT, member):
        rc, out, err = run_aws_validate(agent, moto, start, end, account_id=account)
        assert rc == 0, (out, err, agent.log())
        assert "1/1 log files valid" in out, out
        log = next(k for k in logs if k.startswith(f"AWSLogs/{org_id}/{account}/"))
        assert line("Log file", bucket, log, "valid") in out, out
    rc, out, err = run_opentrail_validate(agent, start, end)
    assert rc == 0, (out, err)
    assert "2/2 log files valid" in out, out

    changed = next(k for k in logs if k.startswith(f"AWSLogs/{org_id}/{member}/"))
    s3.put_object(Bucket=bucket, Key=changed,
                  Body=gzip.compress(b'{"Records":[{"eventName":"Forged"}]}'))
    rc, out, err = run_aws_validate(agent, moto, start, end, account_id=member)
    assert rc == 1, (out, err)
    assert line("Log file", bucket, changed, "INVALID: hash value doesn't match") in err, err
    rc, out, err = run_opentrail_validate(agent, start, end)
    assert rc == 1, (out, err)
    assert line("Log file", bucket, changed, "INVALID: hash value doesn't match") in err, err
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
