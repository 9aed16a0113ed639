"""Helpers for the trail API suite: an agent with the `[api]` listener and a set of API users,
boto3 and AWS CLI clients for them, record builders and a reader for delivered files (including
organization trails' `AWSLogs/<o-id>/<account>/` layout and digest files)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

from helpers import Agent, aws_cli, free_port, wait_until, write_api_access

ACCOUNT = "123456789012"
MEMBER = "222233334444"
OUTSIDER = "999988887777"
ORG = "o-a1b2c3d4e5"


def _arn(account: str, user: str) -> str:
    return f"arn:aws:iam::{account}:user/{user}"


# name -> (access key id, secret, principal)
USERS = {
    "admin": (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
              _arn(ACCOUNT, "admin")),
    "auditor": ("AKIAAUDITOR000000001", "auditor-secret-0123456789abcdefABCDEF",
                _arn(ACCOUNT, "auditor")),
    "limited": ("AKIALIMITED000000001", "limited-secret-0123456789abcdefABCDEF",
                _arn(ACCOUNT, "limited")),
    "nobody": ("AKIANOBODY0000000001", "nobody-secret-0123456789abcdefABCDEFG",
               _arn(ACCOUNT, "nobody")),
    "member": ("AKIAMEMBER0000000001", "member-secret-0123456789abcdefABCDEFG",
               _arn(MEMBER, "member")),
    # An account that is neither the agent's nor in its organization.
    "outsider": ("AKIAOUTSIDER00000001", "outsider-secret-0123456789abcdefABCD",
                 _arn(OUTSIDER, "outsider")),
}

ALLOW_ALL = {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}
POLICIES = {
    USERS["admin"][2]: {"Version": "2012-10-17", "Statement": [ALLOW_ALL]},
    USERS["auditor"][2]: {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["cloudtrail:Describe*", "cloudtrail:Get*", "cloudtrail:List*",
                   "cloudtrail:LookupEvents"],
        "Resource": "*"}]},
    # Everything, except on trails named protected-*.
    USERS["limited"][2]: {"Version": "2012-10-17", "Statement": [
        ALLOW_ALL,
        {"Effect": "Deny", "Action": "cloudtrail:*",
         "Resource": "arn:aws:cloudtrail:*:*:trail/protected-*"}]},
    USERS["member"][2]: {"Version": "2012-10-17", "Statement": [ALLOW_ALL]},
    USERS["outsider"][2]: {"Version": "2012-10-17", "Statement": [ALLOW_ALL]},
    # "nobody" has a key and no policy.
}


class ApiAgent(Agent):
    """An agent with the control-plane API, no config trails unless given, API users of USERS,
    delivery every second for API-created trails."""

    def __init__(self, root: Path, *, trails=(), org_members=None, tls=None, access=True,
                 digest_interval_secs=3600):
        super().__init__(root, trails=list(trails), delivery_interval_secs=1)
        self.api_port = free_port()
        text = self.config_text
        text += ("\n[trail_defaults]\ndelivery_interval_secs = 1\n"
                 f"digest_interval_secs = {digest_interval_secs}\n")
        text += f'\n[api]\nlisten = "127.0.0.1:{self.api_port}"\n'
        if tls:
            text += f'tls_cert = "{tls[0]}"\ntls_key = "{tls[1]}"\n'
        if org_members is not None:
            text += f'\n[organization]\nid = "{ORG}"\nmember_accounts = {json.dumps(org_members)}\n'
        self.config_text = text
        self.config_path.write_text(text)
        scheme = "https" if tls else "http"
        self.api = f"{scheme}://127.0.0.1:{self.api_port}"
        self.tls_cert = tls[0] if tls else None
        if access:
            write_api_access(self.data, [
                {"access_key_id": k, "secret_access_key": s, "principal": p}
                for k, s, p in USERS.values()], POLICIES)

    def wait_ready(self, timeout=20):
        super().wait_ready(timeout)
        wait_until(lambda: _connects(self.api_port), timeout, what="API listener")

    def client(self, user="admin", region="us-east-1"):
        key, secret, _ = USERS[user]
        return boto3.client("cloudtrail", endpoint_url=self.api, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            verify=self.tls_cert or True,
                            config=BotoConfig(retries={"max_attempts": 1}))

    def feed(self, name: str, lines: list):
        data = "".join(json.dumps(r, separators=(",", ":")) + "\n" if isinstance(r, dict)
                       else r.decode() + "\n" for r in lines)
        tmp = self.root / "in" / f".{name}.tmp"
        tmp.write_text(data)
        tmp.rename(self.root / "in" / f"{name}.jsonl")

    def trails_json(self) -> bytes:
        return (self.data / "trails" / "trails.json").read_bytes()


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def aws(agent: ApiAgent, *args, user="admin", region="us-east-1"):
    """Runs the unmodified `aws cloudtrail <args>` against the agent; -> (rc, parsed stdout or
    None, stderr)."""
    key, secret, _ = USERS[user]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION=region, AWS_MAX_ATTEMPTS="1")
    cmd = [aws_cli(), "cloudtrail", *args, "--endpoint-url", agent.api, "--output", "json"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def record(*, account=ACCOUNT, region="us-east-1", source="orders.example.com",
           name="CreateOrder", read_only=False, category=None, resources=None, **extra) -> dict:
    r = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": account,
                         "arn": f"arn:aws:iam::{account}:user/alice"},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "eventSource": source, "eventName": name, "awsRegion": region,
        "sourceIPAddress": "203.0.113.5", "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall", "recipientAccountId": account,
    }
    if read_only is not None:
        r["readOnly"] = read_only
    if category:
        r["eventCategory"] = category
        if category == "Data":
            r["managementEvent"] = False
    if resources is not None:
        r["resources"] = resources
    r.update(extra)
    return r


class LogFile:
    def __init__(self, path: Path, rel: tuple, records: list):
        self.path = path
        self.rel = rel  # path parts under the output root: bucket, ..., file name
        self.records = records

    @property
    def bucket(self):
        return self.rel[0]


def log_files(agent: Agent, bucket: str | None = None) -> list:
    """Every delivered log file (not digests) under the agent's output root."""
    out = []
    root = agent.out
    if not root.exists():
        return out
    for p in sorted(root.rglob("*.json.gz")):
        rel = p.relative_to(root).parts
        if "CloudTrail" not in rel or (bucket and rel[0] != bucket):
            continue
        body = json.loads(gzip.decompress(p.read_bytes()))
        out.append(LogFile(p, rel, body["Records"]))
    return out


def digest_files(agent: Agent, bucket: str) -> list:
    root = agent.out / bucket
    if not root.exists():
        return []
    return [(p, json.loads(gzip.decompress(p.read_bytes())))
            for p in sorted(root.rglob("*.json.gz")) if "CloudTrail-Digest" in p.parts]


def delivered_ids(agent: Agent, bucket: str) -> list:
    return [r["eventID"] for f in log_files(agent, bucket) for r in f.records]


def wait_ids(agent: Agent, bucket: str, ids, timeout=30):
    want = set(ids)
    wait_until(lambda: want <= set(delivered_ids(agent, bucket)), timeout,
               what=f"{len(want)} records in {bucket}")


def taken(agent: Agent) -> float:
    """Records the agent has read and judged: accepted plus refused (any reason)."""
    m = agent.metrics()
    return m.get("opentrail_records_accepted_total", 0) + sum(
        v for k, v in m.items() if k.startswith("opentrail_records_rejected_total"))


def settle(agent: Agent, total: int, seconds=2.5):
    """Waits until the agent has judged `total` records in all and delivered what it accepted,
    then a little more (so whatever would wrongly land has had time to)."""
    wait_until(lambda: taken(agent) >= total, 30, what=f"{total} records taken in")
    wait_until(lambda: agent.m("opentrail_records_pending", 0) == 0, 30, what="nothing pending")
    time.sleep(seconds)
