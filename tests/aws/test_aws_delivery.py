"""S3 delivery and SNS notification, checked through the AWS APIs (boto3 against moto_server):
the whole corpus into S3 with SSE-S3 and one notification per object; SSE-KMS with a bucket key
beside SSE-S3 in the same bucket (trails told apart by key prefix); a multipart upload; SNS
notifications for the local destination."""

import base64
import collections
import os
import shutil
import signal

import ctrules
from awshelpers import (Notifications, client, create_bucket, notified_keys, read_bucket,
                        unique)
from helpers import compare_delivered, read_lines, read_tree


KEY_ARN_PREFIX = "arn:aws:kms:us-east-1:123456789012:key/"


def expectations(lines):
    accepted = []
    for line in lines:
        v = ctrules.judge(line)
        if v.accepted:
            accepted.append(v)
    return accepted


def test_corpus_to_s3_with_sns(make_agent, moto, corpus):
    """Every valid corpus record in exactly one S3 object (SSE-S3, CloudTrail's content type and
    key layout); exactly one SNS notification per object, naming it."""
    s3 = client("s3", moto)
    bucket = unique("ot-corpus")
    create_bucket(s3, bucket)
    notes = Notifications(moto, unique("ot-corpus-topic"))
    agent = make_agent("corpus", aws={"endpoint_url": moto}, trails=[{
        "name": "main", "s3_bucket_name": bucket, "sns_topic_arn": notes.topic_arn}])
    shutil.copy(corpus / "records.jsonl", agent.root / "in" / "records.jsonl")
    accepted = expectations(read_lines(corpus / "records.jsonl"))
    assert len(accepted) > 3000

    agent.start()
    m = agent.settle(len(accepted))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    objects = read_bucket(s3, bucket)
    assert objects, agent.log()
    problems = compare_delivered([o.d for o in objects], accepted)
    assert not problems, problems
    for o in objects:
        assert o.headers["ServerSideEncryption"] == "AES256", (o.key, o.headers)
        assert o.headers["ContentType"] == "application/json", (o.key, o.headers)
        assert o.d.prefix == ""
    assert m["opentrail_files_delivered_total"] == len(objects)
    assert m["opentrail_bytes_delivered_total"] == sum(o.d.size for o in objects)
    assert m["opentrail_delivery_errors_total"] == 0, agent.log()

    keys = notified_keys(notes.drain(), bucket)
    assert set(keys) == {o.key for o in objects}
    assert all(n == 1 for n in keys.values()), [k for k, n in keys.items() if n != 1]
    assert "delivering to S3" in agent.full_log()


def test_sse_kms_and_sse_s3_trails_share_a_bucket(make_agent, moto, corpus):
    """A KMS trail (moto-created key, bucket key on) and an SSE-S3 trail write to one bucket
    under different prefixes; each object carries its own trail's encryption."""
    s3 = client("s3", moto)
    kms = client("kms", moto)
    key_id = kms.create_key(Description="opentrail test")["KeyMetadata"]["KeyId"]
    bucket = unique("ot-kms")
    create_bucket(s3, bucket)
    agent = make_agent("kms", aws={"endpoint_url": moto}, trails=[
        {"name": "kms", "s3_bucket_name": bucket, "s3_key_prefix": "secure",
         "sse": "aws:kms", "kms_key_id": key_id, "bucket_key_enabled": True},
        {"name": "plain", "s3_bucket_name": bucket, "s3_key_prefix": "plain"},
    ])
    lines = read_lines(corpus / "records.jsonl")[:400]
    (agent.root / "in" / "part.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    accepted = expectations(lines)
    agent.start()
    agent.settle(2 * len(accepted))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    objects = read_bucket(s3, bucket)
    by_prefix = collections.defaultdict(list)
    for o in objects:
        by_prefix[o.d.prefix].append(o)
    assert set(by_prefix) == {"secure", "plain"}, set(by_prefix)
    for o in by_prefix["secure"]:
        assert o.headers["ServerSideEncryption"] == "aws:kms", (o.key, o.headers)
        assert o.headers["SSEKMSKeyId"] in (key_id, f"{KEY_ARN_PREFIX}{key_id}"), o.headers
        assert o.headers["BucketKeyEnabled"] is True, o.headers
    for o in by_prefix["plain"]:
        assert o.headers["ServerSideEncryption"] == "AES256", (o.key, o.headers)
        assert not o.headers["SSEKMSKeyId"], o.headers
    for prefix in ("secure", "plain"):
        problems = compare_delivered([o.d for o in by_prefix[prefix]], accepted)
        assert not problems, (prefix, problems)


def test_multipart_upload(make_agent, moto, corpus):
    """A log file larger than `[aws] multipart_part_mb` goes up in parts (the ETag of a
    multipart object ends in -<parts>) and arrives byte-identical."""
    s3 = client("s3", moto)
    bucket = unique("ot-multipart")
    create_bucket(s3, bucket)
    template = next(l for l in read_lines(corpus / "records.jsonl")
                    if ctrules.judge(l).accepted and not ctrules.judge(l).adds_id)
    assert template.endswith(b"}")
    lines = []
    for _ in range(40):
        # ~240 KB of incompressible text per record: the file is > 5 MiB after gzip
        blob = base64.b64encode(os.urandom(180_000))
        lines.append(template[:-1] + b',"opentrailTestBlob":"' + blob + b'"}')
    accepted = expectations(lines)
    assert len(accepted) == len(lines)
    agent = make_agent("multipart", aws={"endpoint_url": moto, "multipart_part_mb": 5},
                       trails=[{"name": "big", "s3_bucket_name": bucket}],
                       delivery_interval_secs=6)
    (agent.root / "in" / "big.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    agent.start()
    agent.settle(len(lines))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    objects = read_bucket(s3, bucket)
    big = [o for o in objects if o.d.size > 5 * 1024 * 1024]
    assert big, [(o.key, o.d.size) for o in objects]
    for o in big:
        etag = o.headers["ETag"].strip('"')
        assert "-" in etag and etag.rsplit("-", 1)[1].isdigit(), etag  # a multipart ETag
        assert o.headers["ServerSideEncryption"] == "AES256"
    problems = compare_delivered([o.d for o in objects], accepted)
    assert not problems, problems
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert not uploads, uploads


def test_local_destination_with_sns(make_agent, moto, corpus):
    """With `[storage] local_root`, files go to the local tree and each is still announced on
    the trail's SNS topic (the notification names the bucket/key the tree mirrors)."""
    notes = Notifications(moto, unique("ot-local-topic"))
    agent = make_agent("local-sns", local_root=True, aws={"endpoint_url": moto}, trails=[{
        "name": "main", "s3_bucket_name": "local-bucket", "sns_topic_arn": notes.topic_arn}])
    lines = read_lines(corpus / "records.jsonl")[:300]
    (agent.root / "in" / "part.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    accepted = expectations(lines)
    agent.start()
    agent.settle(len(accepted))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    files = read_tree(agent.out)
    assert not compare_delivered(files, accepted)
    keys = notified_keys(notes.drain(), "local-bucket")
    tree = {str(f.path.relative_to(agent.out / "local-bucket")) for f in files}
    assert set(keys) == tree and all(n == 1 for n in keys.values()), (keys, tree)
