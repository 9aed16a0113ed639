"""Helpers for the digest suite: records, an agent with log file validation and the `[api]`
server, and runners for `aws cloudtrail validate-logs` and `opentrail validate-logs`."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

from awshelpers import ACCOUNT, AwsAgent
from helpers import BIN, admin_access, aws_cli, free_port, wait_until

TRAIL = "main"
HOME = "us-east-1"
ARN = f"arn:aws:cloudtrail:{HOME}:{ACCOUNT}:trail/{TRAIL}"


def records(n: int, start: int = 0, *, account: str = ACCOUNT, region: str = HOME,
            pad: int = 0) -> bytes:
    """n valid records (of `account`, in `region`) as JSON lines; `pad` adds that many bytes of
    request parameters to each."""
    out = []
    for i in range(start, start + n):
        record = {
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "accountId": account,
                             "arn": f"arn:aws:iam::{account}:user/alice"},
            "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1767225600 + i)),
            "eventSource": "orders.example.com", "eventName": "CreateOrder",
            "awsRegion": region, "sourceIPAddress": "203.0.113.5",
            "eventID": str(uuid.uuid4()), "eventType": "AwsApiCall", "readOnly": False,
            "recipientAccountId": account,
        }
        if pad:
            record["requestParameters"] = {"note": "x" * pad}
        out.append(json.dumps(record, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


class DigestAgent(AwsAgent):
    """An agent whose one trail has log file validation on, with the control-plane API."""

    def __init__(self, root: Path, *, bucket: str, digest_interval_secs: int,
                 endpoint: str | None = None, local_root=False, kms_key_id: str | None = None,
                 multi_region: bool = False, organization: tuple[str, list] | None = None):
        """`organization`: (id, member accounts) makes the trail an organization trail."""
        self.bucket = bucket
        self.api_port = free_port()
        trail = {"name": TRAIL, "home_region": HOME, "s3_bucket_name": bucket,
                 "is_multi_region_trail": multi_region, "enable_log_file_validation": True,
                 "digest_interval_secs": digest_interval_secs}
        if kms_key_id:
            trail["digest_signing_kms_key_id"] = kms_key_id
        if organization:
            trail["is_organization_trail"] = True
        super().__init__(root, trails=[trail], aws={"endpoint_url": endpoint} if endpoint else None,
                         local_root=local_root, top={"shutdown_grace_secs": 20})
        self.config_text += f'\n[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
        if organization:
            org_id, members = organization
            self.config_text += (f'\n[organization]\nid = "{org_id}"\n'
                                 f'member_accounts = {json.dumps(members)}\n')
        self.config_path.write_text(self.config_text)
        self.api = f"http://127.0.0.1:{self.api_port}"
        admin_access(self.data)

    def set_digest_interval(self, secs: int):
        import re
        self.config_text = re.sub(r"digest_interval_secs = \d+",
                                  f"digest_interval_secs = {secs}", self.config_text)
        self.config_path.write_text(self.config_text)

    def feed(self, name: str, data: bytes):
        tmp = self.root / "in" / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.rename(self.root / "in" / f"{name}.jsonl")


def run_aws_validate(agent: DigestAgent, moto: str, start: str, end: str | None = None,
                     account_id: str | None = None):
    """Runs the unmodified `aws cloudtrail validate-logs` (for an organization trail, with
    `account_id`; the CLI asks Organizations, i.e. moto, for the organization id);
    -> (rc, stdout, stderr)."""
    env = dict(os.environ)
    env["AWS_ENDPOINT_URL_CLOUDTRAIL"] = agent.api
    env["AWS_ENDPOINT_URL_S3"] = moto
    env["AWS_ENDPOINT_URL_ORGANIZATIONS"] = moto
    cmd = [aws_cli(), "cloudtrail", "validate-logs", "--trail-arn", ARN, "--start-time", start,
           "--verbose"]
    if end:
        cmd += ["--end-time", end]
    if account_id:
        cmd += ["--account-id", account_id]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def run_opentrail_validate(agent: DigestAgent, start: str, end: str | None = None):
    cmd = [BIN, "validate-logs", "--config", str(agent.config_path), "--trail", TRAIL,
           "--start-time", start, "--verbose"]
    if end:
        cmd += ["--end-time", end]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def digest_json(data: bytes) -> dict:
    return json.loads(gzip.decompress(data))


def wait_covered(list_digests, list_logs, timeout=60):
    """Waits until every log file is listed by some digest; -> (digests {key: body}, logs)."""
    def covered():
        digests = list_digests()
        listed = {f["s3Object"] for d in digests.values() for f in d["logFiles"]}
        logs = list_logs()
        return (digests, logs) if logs and set(logs) <= listed else None
    return wait_until(covered, timeout, interval=0.5, what="digests covering every log file")
