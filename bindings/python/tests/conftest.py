"""Shared fixtures: agent configs in a temporary folder, the corpus, and reading back the
CloudTrail log files a local destination received."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """make_config(**top_level_overrides) -> config dict delivering to tmp_path/out."""

    def make(**overrides: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "account_id": "123456789012",
            "durability": "memory",
            "storage": {"local_root": str(tmp_path / "out")},
            "trails": [
                {
                    "name": "main",
                    "s3_bucket_name": "audit-logs",
                    "is_multi_region_trail": True,
                    "delivery_interval_secs": 300,
                }
            ],
        }
        cfg.update(overrides)
        return cfg

    return make


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


def make_record(n: int, size: int = 0, **fields: Any) -> dict[str, Any]:
    """A valid CloudTrail record with a unique eventID; padded to about `size` bytes."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "userName": "alice"},
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
        "eventID": f"{(n >> 16) & 0xFFFFFFFF:08x}-0000-4000-8000-{n:012x}",
    }
    rec.update(fields)
    if size:
        base = len(json.dumps(rec, separators=(",", ":")).encode())
        pad = size - base - len(',"pad":""')
        if pad > 0:
            rec["pad"] = "x" * pad
    return rec


def record_bytes(n: int, size: int = 0) -> bytes:
    return json.dumps(make_record(n, size), separators=(",", ":")).encode()


def delivered(root: Path) -> list[bytes]:
    """Every record in every delivered *.json.gz under `root`, as canonical JSON bytes. Checks
    each file is one gzip member holding {"Records": [...]} under AWSLogs/<acct>/CloudTrail/."""
    out: list[bytes] = []
    for path in sorted(root.rglob("*.json.gz")):
        rel = path.relative_to(root).parts
        assert rel[0] == "audit-logs" and rel[1] == "AWSLogs" and rel[3] == "CloudTrail", path
        d = zlib.decompressobj(wbits=31)
        text = d.decompress(path.read_bytes())
        assert d.eof and not d.unused_data, f"{path} is not a single gzip member"
        doc = json.loads(text)
        assert list(doc) == ["Records"], path
        out.extend(canonical(r) for r in doc["Records"])
    return out


def canonical(record: Any) -> bytes:
    if isinstance(record, (bytes, str)):
        record = json.loads(record)
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


@pytest.fixture(scope="session")
def corpus() -> list[bytes]:
    base = Path(os.environ.get("OPENTRAIL_CORPUS") or REPO.parent / "shared" / "corpus")
    path = base / "records.jsonl"
    assert path.exists(), f"corpus not found at {path} (set OPENTRAIL_CORPUS)"
    return [line for line in path.read_bytes().split(b"\n") if line]


@pytest.fixture(scope="session")
def corpus_refused() -> dict[int, str]:
    """Line index -> expected rejection reason (ffi/tests/data/corpus_refused.txt)."""
    path = REPO / "ffi" / "tests" / "data" / "corpus_refused.txt"
    refused = {}
    for row in path.read_text().splitlines():
        if row and not row.startswith("#"):
            line, reason = row.split()
            refused[int(line)] = reason
    return refused
