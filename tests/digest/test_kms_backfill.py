"""Digests signed with an AWS KMS key (moto_server's KMS), and `_backfill` digests for log files
delivered late (S3 held up across digest periods), each validated by the unmodified
`aws cloudtrail validate-logs` and by `opentrail validate-logs`."""

import hashlib
import os
import signal
import time

from awshelpers import MotoServer, client, create_bucket, unique
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_der_public_key)
from digesthelpers import (TRAIL, DigestAgent, digest_json, iso, records, run_aws_validate,
                           run_opentrail_validate, wait_covered)
from helpers import wait_until
from test_aws_cli import line, list_keys


def bodies_of(s3, bucket):
    return {k: digest_json(s3.get_object(Bucket=bucket, Key=k)["Body"].read())
            for k in list_keys(s3, bucket, "CloudTrail-Digest")}


def test_kms_signed_digests_validate(tmp_path, moto, agents):
    s3, kms = client("s3", moto), client("kms", moto)
    bucket = unique("ot-kms")
    create_bucket(s3, bucket)
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    spki = kms.get_public_key(KeyId=key["KeyId"])["PublicKey"]
    pkcs1 = load_der_public_key(spki).public_bytes(Encoding.DER, PublicFormat.PKCS1)
    fingerprint = hashlib.md5(pkcs1).hexdigest()

    agent = DigestAgent(tmp_path / "a", bucket=bucket, digest_interval_secs=2, endpoint=moto,
                        kms_key_id=key["Arn"])
    agents.append(agent)
    start = iso(time.time() - 120)
    agent.start()
    for i in range(3):
        agent.feed(f"batch{i}", records(5, start=i * 5))
        agent.settle(5 * (i + 1))
        time.sleep(2.2)
    digests, logs = wait_covered(lambda: bodies_of(s3, bucket),
                                 lambda: list_keys(s3, bucket, "CloudTrail"))
    assert len(logs) == 3, logs
    # Stop (a final digest), restart with a long period: the restart writes the period that
    # was open, then nothing more while the validators run.
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    agent.set_digest_interval(3600)
    agent.start()
    ct = client("cloudtrail", agent.api)
    wait_until(lambda: ct.get_trail_status(Name=TRAIL).get("LatestDigestDeliveryTime"), 30,
               what="the digest after the restart")
    end = iso(time.time() + 5)
    digests = bodies_of(s3, bucket)
    assert {b["digestPublicKeyFingerprint"] for b in digests.values()} == {fingerprint}
    # The private key never touched the host: no local signing key was made.
    keys_dir = agent.root / "data" / "digest" / "keys"
    assert sorted(p.name for p in keys_dir.iterdir()) == ["_kms.json"], list(keys_dir.iterdir())

    # ListPublicKeys publishes the KMS key as PKCS#1 (what the AWS CLI loads); the CLI validates.
    listed = ct.list_public_keys(StartTime=time.time() - 600, EndTime=time.time() + 600)
    assert [(k["Value"], k["Fingerprint"]) for k in listed["PublicKeyList"]] == \
        [(pkcs1, fingerprint)], listed
    rc, out, err = run_aws_validate(agent, moto, start, end)
    assert rc == 0, (out, err, agent.log())
    n = len(digests)
    assert f"{n}/{n} digest files valid" in out and "3/3 log files valid" in out, out
    for k in logs:
        assert line("Log file", bucket, k, "valid") in out, (k, out)
    rc, out2, err2 = run_opentrail_validate(agent, start, end)
    assert rc == 0, (out2, err2)
    assert f"{n}/{n} digest files valid" in out2 and "3/3 log files valid" in out2, out2
    assert agent.stop(signal.SIGTERM) == 0, agent.log()


def test_late_delivery_goes_to_a_backfill_digest(tmp_path, agents):
    """S3 stops answering (moto_server SIGSTOPped) while a log file is sealed; two digest periods
    close without it; once S3 answers again the file is delivered late and a `_backfill` digest
    lists it. Both validators accept the result, counting the backfill digest apart."""
    server = MotoServer(log_path=tmp_path / "moto.log").start()
    try:
        s3 = client("s3", server.endpoint)
        bucket = unique("ot-backfill")
        create_bucket(s3, bucket)
        agent = DigestAgent(tmp_path / "a", bucket=bucket, digest_interval_secs=3,
                            endpoint=server.endpoint)
        agents.append(agent)
        start = iso(time.time() - 120)
        agent.start()
        agent.feed("early", records(5))
        agent.settle(5)
        wait_covered(lambda: bodies_of(s3, bucket), lambda: list_keys(s3, bucket, "CloudTrail"))

        os.killpg(server.proc.pid, signal.SIGSTOP)
        try:
            agent.feed("late", records(5, start=5))
            wait_until(lambda: agent.metrics().get("opentrail_records_accepted_total", 0) >= 10,
                       30, what="the late records accepted")
            time.sleep(8)  # sealed after the 1 s delivery interval; two digest periods close
            # while its upload hangs
            assert agent.metrics().get("opentrail_records_pending") == 5
        finally:
            os.killpg(server.proc.pid, signal.SIGCONT)

        def backfilled():
            bodies = bodies_of(s3, bucket)
            back = {k: b for k, b in bodies.items() if k.endswith("_backfill.json.gz")}
            return (bodies, back) if back and len(list_keys(s3, bucket, "CloudTrail")) == 2 \
                else None
        bodies, back = wait_until(backfilled, 60, interval=0.5, what="a backfill digest")
        logs = list_keys(s3, bucket, "CloudTrail")
        late = [f["s3Object"] for b in back.values() for f in b["logFiles"]]
        listed = [f["s3Object"] for b in bodies.values() for f in b["logFiles"]]
        assert len(late) == 1 and late[0] in logs, (late, logs)
        assert sorted(listed) == sorted(logs), "every file listed exactly once"
        for k in back:
            meta = s3.head_object(Bucket=bucket, Key=k)["Metadata"]
            assert "backfill-generation-timestamp" in meta, meta
            standard = k.replace("_backfill.json.gz", ".json.gz")
            assert standard in bodies, "a backfill digest sits beside its period's digest"
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
        agent.set_digest_interval(3600)
        agent.start()
        ct = client("cloudtrail", agent.api)
        wait_until(lambda: ct.get_trail_status(Name=TRAIL).get("LatestDigestDeliveryTime"), 30,
                   what="the digest after the restart")
        end = iso(time.time() + 5)
        rc, out, err = run_aws_validate(agent, server.endpoint, start, end)
        assert rc == 0, (out, err, agent.log())
        nb = len(back)
        for k in back:
            assert line("(backfill) Digest file", bucket, k, "valid") in out, (k, out)
        assert f"{nb}/{nb} backfill digest files valid" in out, out
        assert line("Log file", bucket, late[0], "valid") in out, out
        assert "2/2 log files valid" in out, out
        rc, out2, err2 = run_opentrail_validate(agent, start, end)
        assert rc == 0, (out2, err2)
        assert f"{nb}/{nb} backfill digest files valid" in out2 and "2/2 log files valid" in out2
        # A tampered late log is caught through the backfill digest.
        s3.put_object(Bucket=bucket, Key=late[0], Body=b"\x1f\x8b forged")
        rc, out, err = run_aws_validate(agent, server.endpoint, start, end)
        assert rc == 1 and line("Log file", bucket, late[0], "INVALID: invalid format") in err, \
            (out, err)
        assert agent.stop(signal.SIGTERM) == 0, agent.log()
    finally:
        server.stop()


def test_kms_unavailable_delays_digests_not_logs(tmp_path, moto, agents):
    """The KMS key (an alias) does not exist yet: log files are delivered all the same, digests
    wait (GetTrailStatus shows the KMS error); once the alias exists, the closed periods are
    signed and every file is covered, and the AWS CLI validates the result."""
    s3, kms = client("s3", moto), client("kms", moto)
    bucket = unique("ot-kms-late")
    create_bucket(s3, bucket)
    alias = f"alias/{unique('ot-digest')}"
    agent = DigestAgent(tmp_path / "a", bucket=bucket, digest_interval_secs=2, endpoint=moto,
                        kms_key_id=alias)
    agents.append(agent)
    start = iso(time.time() - 120)
    agent.start()
    agent.feed("batch0", records(5))
    agent.settle(5)  # the log file is delivered while KMS refuses to sign
    time.sleep(3)
    assert list_keys(s3, bucket, "CloudTrail-Digest") == []
    ct = client("cloudtrail", agent.api)
    status = wait_until(lambda: ct.get_trail_status(Name=TRAIL).get("LatestDigestDeliveryError")
                        and ct.get_trail_status(Name=TRAIL), 30, what="the KMS error reported")
    assert alias in status["LatestDigestDeliveryError"], status

    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    digests, logs = wait_covered(lambda: bodies_of(s3, bucket),
                                 lambda: list_keys(s3, bucket, "CloudTrail"), timeout=90)
    assert len(logs) == 1
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    agent.set_digest_interval(3600)
    agent.start()
    wait_until(lambda: ct.get_trail_status(Name=TRAIL).get("LatestDigestDeliveryTime"), 30,
               what="the digest after the restart")
    end = iso(time.time() + 5)
    n = len(list_keys(s3, bucket, "CloudTrail-Digest"))
    rc, out, err = run_aws_validate(agent, moto, start, end)
    assert rc == 0, (out, err, agent.log())
    assert f"{n}/{n} digest files valid" in out and "1/1 log files valid" in out, out
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
