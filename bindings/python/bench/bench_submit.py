"""Submit cost from one Python thread: durability = "memory", 1.2 KB records, while the
pipeline drains them (validation, WAL, batching, gzip and delivery all run).

    python bindings/python/bench/bench_submit.py [records=100000] [record_bytes=1200]

Reports ns/record and records/s for: submit(bytes) in a loop; submit_many(list of 1000 bytes);
submit_many(JSON-lines bytes of 1000 records); plus end-to-end rates including the final flush.
A fresh agent and data dir per mode. See ffi/BENCHMARKS.md.

memory_limit_mb = 1024 gives a 256 MB queue, so the default 100,000 records (120 MB) measure
submit cost "into the queue" rather than the pipeline's drain rate. The submitting thread's CPU
time (time.thread_time) is reported too: it does not grow when other processes or the
pipeline's threads take the cores.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import opentrail

POOL = 1024
BATCH = 1000


def record(n: int, size: int) -> bytes:
    """The record ffi/benches/bench_submit.c and the Go benchmark use, padded to `size` bytes."""
    head = (
        '{"eventVersion":"1.08","userIdentity":{"type":"IAMUser",'
        '"principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice",'
        '"accountId":"123456789012","userName":"alice"},'
        '"eventTime":"2024-05-01T12:00:00Z","eventSource":"s3.amazonaws.com",'
        '"eventName":"GetObject","awsRegion":"eu-west-1",'
        '"sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15",'
        f'"requestParameters":{{"bucketName":"data","key":"k/{n}"}},'
        '"responseElements":null,"eventType":"AwsApiCall",'
        '"recipientAccountId":"123456789012",'
        f'"eventID":"{n:08x}-0000-4000-8000-{n:012x}","pad":"'
    )
    return (head + "x" * max(0, size - len(head) - 2) + '"}').encode()


def config(root: Path) -> dict:
    return {
        "data_dir": str(root / "data"),
        "account_id": "123456789012",
        "durability": "memory",
        "submit_timeout_ms": 60000,
        "memory_limit_mb": 1024,
        "storage": {"local_root": str(root / "out")},
        "trails": [{"name": "main", "s3_bucket_name": "audit-logs", "is_multi_region_trail": True}],
    }


def run(mode: str, n: int, pool: list[bytes], work: Path) -> None:
    root = work / mode
    with opentrail.Agent(config(root)) as agent:
        lines = pool[:BATCH]
        joined = b"\n".join(lines)
        c0, t0 = time.thread_time(), time.perf_counter()
        if mode == "submit":
            submit = agent.submit
            for i in range(n):
                submit(pool[i % POOL])
            done = n
        elif mode == "many-list":
            done = 0
            while done < n:
                done += agent.submit_many(lines)
        else:
            done = 0
            while done < n:
                done += agent.submit_many(joined)
        t1, c1 = time.perf_counter(), time.thread_time()
        agent.flush()
        t2 = time.perf_counter()
        stats = agent.stats()
        assert stats["records_delivered"] == done, stats
    print(
        f"{mode:10} {done:8d} records  submit {(t1 - t0) * 1e9 / done:7.0f} ns/record "
        f"{done / (t1 - t0):10.0f} records/s  thread CPU {(c1 - c0) * 1e9 / done:6.0f} ns/record "
        f"({done / (c1 - c0):9.0f} records/CPU-s)  end-to-end (with flush) "
        f"{done / (t2 - t0):10.0f} records/s  {stats['files_delivered']} files"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1200
    pool = [record(i, size) for i in range(POOL)]
    print(f"{opentrail.library_version()}, Python {sys.version.split()[0]}, {len(pool[0])}-byte records")
    with tempfile.TemporaryDirectory(prefix="ot-pybench-") as work:
        for mode in ("submit", "many-list", "many-bytes"):
            run(mode, n, pool, Path(work))


if __name__ == "__main__":
    main()
