"""Helpers for the AWS delivery suite: a moto_server process, an agent configured for S3 (no
local_root), and readers that check what landed in S3 and SNS through the AWS APIs (boto3
against moto), never through the agent's own view.

Reuses the end-to-end suite's helpers (tests/e2e): the agent process wrapper, the CloudTrail
key/gzip/body checks, the expectation model (ctrules) and the record comparison."""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

import helpers  # noqa: E402  (tests/e2e/helpers.py)
from helpers import (BIN, Delivered, check_gzip_file, free_port, parse_key,  # noqa: E402,F401
                     split_records, toml_table, wait_until)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


# --------------------------------------------------------------------------------------------
# moto_server

def moto_server_command() -> list:
    exe = Path(sys.executable).parent / "moto_server"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("moto_server")
    if found:
        return [found]
    return [sys.executable, "-m", "moto.server"]


class MotoServer:
    """A moto_server process on 127.0.0.1:port that can be stopped and started again on the
    same port (moto keeps no state across a restart)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout=30):
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            moto_server_command() + ["-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        if log is not subprocess.DEVNULL:
            log.close()

        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server exited rc={self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                return False
        wait_until(up, timeout, interval=0.05, what="moto_server to listen")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def client(self, service: str):
        return client(service, self.endpoint)


def moto_endpoint(tmp_path_factory):
    """Body of a session `moto` fixture (`yield from moto_endpoint(tmp_path_factory)`): yields
    $OPENTRAIL_MOTO_ENDPOINT (the suite's script starts one), or the endpoint of a moto_server
    started for the session and stopped after it."""
    endpoint = os.environ.get("OPENTRAIL_MOTO_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def client(service: str, endpoint: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])


def unique(name: str) -> str:
    return f"{name}-{os.urandom(3).hex()}"


# --------------------------------------------------------------------------------------------
# SNS → SQS

class Notifications:
    """An SQS queue subscribed to an SNS topic; drains and parses CloudTrail notifications."""

    def __init__(self, endpoint: str, topic_name: str, queue_name: str | None = None):
        self.sns = client("sns", endpoint)
        self.sqs = client("sqs", endpoint)
        self.topic_name = topic_name
        self.queue_name = queue_name or topic_name + "-q"
        self.create()

    def create(self):
        """Creates (or re-creates, after a moto restart) the queue, the topic and the
        subscription."""
        self.queue_url = self.sqs.create_queue(QueueName=self.queue_name)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.topic_arn = self.sns.create_topic(Name=self.topic_name)["TopicArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn)
        return self

    def drain(self, quiet_polls=2) -> list:
        """Every message now in the queue -> [(s3Bucket, [keys], raw Message text)]."""
        out = []
        empty = 0
        while empty < quiet_polls:
            r = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=1)
            msgs = r.get("Messages", [])
            if not msgs:
                empty += 1
                continue
            empty = 0
            for m in msgs:
                env = json.loads(m["Body"])
                assert env["Type"] == "Notification", env
                assert env["TopicArn"] == self.topic_arn, env
                body = json.loads(env["Message"])
                assert set(body) == {"s3Bucket", "s3ObjectKey"}, body
                assert isinstance(body["s3ObjectKey"], list) and body["s3ObjectKey"], body
                out.append((body["s3Bucket"], body["s3ObjectKey"], env["Message"]))
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(msgs)])
        return out


def notified_keys(notes: list, bucket: str) -> collections.Counter:
    keys = collections.Counter()
    for b, ks, raw in notes:
        assert b == bucket, (b, bucket)
        # exactly CloudTrail's shape: compact JSON, s3Bucket first
        assert raw == json.dumps({"s3Bucket": b, "s3ObjectKey": ks}, separators=(",", ":")), raw
        keys.update(ks)
    return keys


# --------------------------------------------------------------------------------------------
# reading S3

class S3Object:
    def __init__(self, delivered: Delivered, key: str, headers: dict):
        self.d = delivered
        self.key = key
        self.headers = headers


def read_bucket(s3, bucket: str) -> list:
    """Every object of bucket, checked like the local tree (key layout, one gzip member,
    `{"Records":[...]}`), with its GetObject headers."""
    out = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            key = o["Key"]
            r = s3.get_object(Bucket=bucket, Key=key)
            data = r["Body"].read()
            assert len(data) == o["Size"] == r["ContentLength"], key
            b, prefix, acct, region, ts = parse_key(Path(bucket) / key)
            body = check_gzip_file(data)
            recs = split_records(body)
            assert recs, f"empty log file {key}"
            headers = {k: r.get(k) for k in ("ServerSideEncryption", "SSEKMSKeyId",
                                              "BucketKeyEnabled", "ContentType", "ETag",
                                              "Metadata", "LastModified")}
            out.append(S3Object(Delivered(Path(bucket) / key, b, prefix, acct, region, ts,
                                          len(data), recs), key, headers))
    return out


def create_bucket(s3, bucket: str, versioned=False):
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket,
                                 VersioningConfiguration={"Status": "Enabled"})


# --------------------------------------------------------------------------------------------
# the agent, configured for S3

def delivered_records(m: dict) -> float:
    return sum(v for k, v in m.items() if k.startswith("opentrail_records_delivered_total"))


class AwsAgent(helpers.Agent):
    """An agent directory whose config has no local_root (deliveries go to S3; with
    `local_root=True` to `out/`), an `[aws]` table and trails with the S3/SNS keys; `env` adds
    to the process environment."""

    def __init__(self, root: Path, *, trails: list, aws: dict | None = None,
                 top: dict | None = None, env: dict | None = None, delivery_interval_secs=1,
                 poll_interval_ms=100, local_root: bool = False):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "in").mkdir(exist_ok=True)
        self.metrics_port = free_port()
        self.http_port = None
        self.out = self.root / "out"
        self.data = self.root / "data"
        self.quarantine_path = self.data / "quarantine" / "quarantine.jsonl"
        self.config_path = self.root / "opentrail.toml"
        self.log_path = self.root / "agent.log"
        self.proc = None
        self.runs = 0
        self.env = dict(env or {})
        cfg = {"data_dir": "data", "account_id": ACCOUNT, "shutdown_grace_secs": 5}
        cfg.update(top or {})
        text = toml_table(cfg)
        if local_root:
            text += '\n[storage]\nlocal_root = "out"\n'
        text += "\n[[sources]]\n" + toml_table(
            {"kind": "file", "paths": ["in/*.jsonl"], "poll_interval_ms": poll_interval_ms})
        text += f'\n[metrics]\nlisten = "127.0.0.1:{self.metrics_port}"\n'
        if aws:
            text += "\n[aws]\n" + toml_table(aws)
        for t in trails:
            t = dict(t)
            t.setdefault("delivery_interval_secs", delivery_interval_secs)
            t.setdefault("is_multi_region_trail", True)
            text += "\n[[trails]]\n" + toml_table(t)
        self.trails = trails
        self.config_text = text
        self.config_path.write_text(text)

    def start(self, cwd=None, wait=True, env=None):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        full_env = dict(os.environ)
        full_env.update(self.env)
        full_env.update(env or {})
        log = open(self.log_path, "ab")
        log.write(f"\n===== run {self.runs} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [BIN, "run", "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=full_env,
            cwd=str(cwd or self.root), start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def full_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def settle(self, n_records: int, timeout=90) -> dict:
        """Waits until n_records were delivered and nothing is pending; returns the metrics."""
        def done():
            m = self.metrics()
            if delivered_records(m) >= n_records and m.get("opentrail_records_pending", 1) == 0:
                return m
            return None
        try:
            return wait_until(done, timeout, interval=0.2, what=f"{n_records} records delivered")
        except AssertionError as e:
            raise AssertionError(f"{e}\nmetrics: {self.metrics()}\n{self.log()}") from None
