"""`opentrail validate-logs` on the local destination: a run with a crash (kill -9) in the
middle validates clean and every delivered log file is listed by exactly one digest; then a
deleted log, an altered log, an altered digest, a digest stripped of its signature metadata, a
deleted digest inside the chain and a re-signed digest whose chain link is wrong are each
reported INVALID, with exit code 1."""

import base64
import gzip
import hashlib
import json
import signal
import time

from digesthelpers import (DigestAgent, digest_json, iso, records, run_opentrail_validate)

BUCKET = "audit-logs"


def tree(agent, part):
    base = agent.out / BUCKET
    return sorted(str(p.relative_to(base)) for p in base.rglob("*.json.gz")
                  if f"/{part}/" in str(p.relative_to(base)))


def line(kind, key, verdict):
    return f"{kind}\ts3://{BUCKET}/{key}\t{verdict}"


def set_metadata(agent, key, metadata):
    """Appends a metadata journal line for key (the last line for a key wins)."""
    path = agent.data / "local-metadata" / f"{BUCKET}.jsonl"
    size = (agent.out / BUCKET / key).stat().st_size
    with open(path, "a") as f:
        f.write(json.dumps({"Key": key, "ContentType": "application/json",
                            "ContentLength": size, "Metadata": metadata}) + "\n")


def metadata(agent, key):
    meta = {}
    for raw in (agent.data / "local-metadata" / f"{BUCKET}.jsonl").read_text().splitlines():
        entry = json.loads(raw)
        if entry["Key"] == key:
            meta = entry["Metadata"]
    return meta


def test_validate_local_after_crash_and_tampering(tmp_path, agents):
    agent = DigestAgent(tmp_path / "a", bucket=BUCKET, digest_interval_secs=2, local_root=True)
    agents.append(agent)
    start = iso(time.time() - 60)
    agent.start()
    for i in range(2):
        agent.feed(f"batch{i}", records(5, start=i * 5))
        agent.settle(5 * (i + 1))
        time.sleep(2.5)
    agent.feed("batch2", records(5, start=10))
    time.sleep(0.6)
    agent.kill9()  # mid-run: files may be staged, sealed, delivered but not yet digested
    agent.start()
    agent.feed("batch3", records(5, start=15))
    agent.settle(5)  # (the restarted agent's counters start from zero)
    time.sleep(5)  # a few empty periods
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    logs = tree(agent, "CloudTrail")
    digests = tree(agent, "CloudTrail-Digest")
    listed = [f["s3Object"] for k in digests
              for f in digest_json((agent.out / BUCKET / k).read_bytes())["logFiles"]]
    assert sorted(listed) == logs, "every delivered log file listed exactly once"

    rc, out, err = run_opentrail_validate(agent, start)
    assert rc == 0, (out, err)
    for k in digests:
        assert line("Digest file", k, "valid") in out, (k, out)
    for k in logs:
        assert line("Log file", k, "valid") in out, (k, out)
    # Files re-delivered after the kill may have missed their period's digest: those are in
    # `_backfill` digests, counted apart.
    nb = len([k for k in digests if k.endswith("_backfill.json.gz")])
    n, m = len(digests) - nb, len(logs)
    assert f"{n}/{n} digest files valid" in out and f"{m}/{m} log files valid" in out, out
    if nb:
        assert f"{nb}/{nb} backfill digest files valid" in out, out

    bodies = {k: digest_json((agent.out / BUCKET / k).read_bytes()) for k in digests}
    empty = [k for k in digests if not bodies[k]["logFiles"]]
    assert len(empty) >= 2, bodies
    deleted, altered = logs[0], logs[1]
    (agent.out / BUCKET / deleted).unlink()
    (agent.out / BUCKET / altered).write_bytes(gzip.compress(b'{"Records":[]}'))
    changed, stripped = empty[0], empty[1]
    body = dict(bodies[changed], digestStartTime="2001-01-01T00:00:00Z")
    (agent.out / BUCKET / changed).write_bytes(gzip.compress(json.dumps(body).encode()))
    set_metadata(agent, stripped, {})

    rc, out, err = run_opentrail_validate(agent, start)
    assert rc == 1, (out, err)
    assert line("Log file", deleted, "INVALID: not found") in err, err
    assert line("Log file", altered, "INVALID: hash value doesn't match") in err, err
    for k in (changed, stripped):
        assert line("Digest file", k, "INVALID: signature verification failed") in err, err
    assert f"{m - 2}/{m} log files valid, 2/{m} log files INVALID" in out, out


def test_chain_checks_the_aws_cli_skips(tmp_path, agents):
    """A digest deleted from the middle of a chain is reported not found; a digest re-signed
    (with the agent's own key) so that its previousDigestHashValue is wrong is caught by the
    chain check."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    agent = DigestAgent(tmp_path / "b", bucket=BUCKET, digest_interval_secs=1, local_root=True)
    agents.append(agent)
    start = iso(time.time() - 60)
    agent.start()
    agent.feed("batch0", records(3))
    agent.settle(3)
    time.sleep(6)
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    digests = [k for k in tree(agent, "CloudTrail-Digest") if not k.endswith("_backfill.json.gz")]
    assert len(digests) >= 5, digests
    bodies = {k: digest_json((agent.out / BUCKET / k).read_bytes()) for k in digests}

    # Re-sign the newest digest with a wrong previousDigestHashValue.
    newest = digests[-1]
    prev = bodies[newest]["previousDigestS3Object"]
    assert prev in bodies
    forged = dict(bodies[newest], previousDigestHashValue="0" * 64)
    raw = json.dumps(forged, separators=(",", ":")).encode()
    keys = json.loads((agent.data / "digest" / "keys" / "us-east-1.json").read_text())["keys"]
    key = load_der_private_key(base64.b64decode(keys[-1]["private_pkcs1"]), None)
    to_sign = (f"{forged['digestEndTime']}\n{BUCKET}/{newest}\n"
               f"{hashlib.sha256(raw).hexdigest()}\n{forged['previousDigestSignature']}")
    sig = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
    (agent.out / BUCKET / newest).write_bytes(gzip.compress(raw))
    set_metadata(agent, newest, {"signature": sig, "signature-algorithm": "SHA256withRSA"})
    # Delete a digest further down the chain.
    middle = digests[len(digests) // 2]
    assert middle not in (newest, prev)
    (agent.out / BUCKET / middle).unlink()

    rc, out, err = run_opentrail_validate(agent, start)
    assert rc == 1, (out, err)
    assert line("Digest file", newest, "valid") in out, (out, err)
    assert line("Digest file", prev,
                f"INVALID: previousDigestHashValue in {newest} doesn't match") in err, err
    assert line("Digest file", middle, "INVALID: not found") in err, err


def test_files_hashed_together_validate(tmp_path, agents):
    """Twelve files (3 accounts x 4 regions) of about 1.4 MB each, their records interleaved:
    the batcher hashes chunks of up to four different files together (`digest::log_hash`), both
    when chunks fill mid-file and when files are sealed. Every file's hash in the digests must
    still match the file (handing a group's hashers each other's chunks fails this)."""
    agent = DigestAgent(tmp_path / "a", bucket=BUCKET, digest_interval_secs=3600,
                        local_root=True, multi_region=True)
    agents.append(agent)
    start = iso(time.time() - 60)
    accounts = ["111111111111", "222222222222", "333333333333"]
    regions = ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"]
    per_file = 1300
    parts = [records(per_file, start=k * per_file, account=a, region=r, pad=600).splitlines()
             for k, (a, r) in enumerate((a, r) for a in accounts for r in regions)]
    # Round-robin, so files fill (and reach the 1 MiB chunk size) at about the same time.
    mixed = b"\n".join(line for group in zip(*parts) for line in group) + b"\n"
    agent.start()
    agent.feed("mixed", mixed)
    agent.settle(per_file * len(parts))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    logs = tree(agent, "CloudTrail")
    digests = tree(agent, "CloudTrail-Digest")
    assert len(logs) == len(parts), logs
    sizes = [len(gzip.decompress((agent.out / BUCKET / k).read_bytes())) for k in logs]
    assert min(sizes) > (1 << 20), "each file spans more than one chunk"
    rc, out, err = run_opentrail_validate(agent, start)
    assert rc == 0, (out, err)
    n = len(digests)
    assert n >= len(parts), digests  # a chain per (account, region)
    assert f"{n}/{n} digest files valid" in out, out
    assert f"{len(logs)}/{len(logs)} log files valid" in out, out
