#!/usr/bin/env python3
"""End-to-end benchmark: file source -> local destination, measured from outside.

Generates corpus-like input (benches/gen_corpus.py: real corpus records, fresh eventIDs, spread
over 49 accounts x 40 regions, ~1.28 KB each), runs `opentrail run` on it with the default
settings (gzip level 6, delivery_interval_secs 300: files are cut at the end by the drain), waits
until every record is accepted, sends SIGTERM and waits for the drain. Reports, per run and as the
median of --runs:

  events/s       records / wall time from start to exit (everything delivered)
  MB/s           raw JSON bytes / wall time
  CPU-s/M        (user + system CPU of the agent) per million records
  peak RSS       maximum resident set size of the agent (from wait4 rusage)

--verify decompresses every delivered file and checks the record count.

usage: e2e.py [--records N | --bytes SIZE] [--runs 3] [--verify] [--config-extra TOML]
"""
import argparse
import gzip
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def run_once(binary, input_path, n_records, workdir, extra, verify):
    port = free_port()
    cfg = os.path.join(workdir, "bench.toml")
    with open(cfg, "w") as f:
        f.write(f"""
data_dir = "data"
account_id = "123456789012"
[storage]
local_root = "out"
[[sources]]
kind = "file"
paths = ["{input_path}"]
[metrics]
listen = "127.0.0.1:{port}"
[[trails]]
name = "main"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
{extra}
""")
    start = time.monotonic()
    proc = subprocess.Popen([binary, "run", "--config", cfg], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "agent.log"), "w"))
    accepted_at = None
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"agent exited early with {proc.returncode}; see {workdir}/agent.log")
        a = metric(port, "opentrail_records_accepted_total")
        if a is not None and a >= n_records:
            accepted_at = time.monotonic()
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.monotonic()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"agent exited with {status}; see {workdir}/agent.log")
    wall = end - start
    cpu = usage.ru_utime + usage.ru_stime
    result = {
        "wall_s": round(wall, 3),
        "accept_s": round(accepted_at - start, 3),
        "events_per_s": round(n_records / wall),
        "cpu_s": round(cpu, 2),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "cpu_s_per_million": round(cpu / n_records * 1e6, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }
    out = os.path.join(workdir, "out")
    files = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
    result["files"] = len(files)
    result["compressed_mib"] = round(sum(os.path.getsize(f) for f in files) / 2**20, 1)
    if verify:
        total = 0
        for f in files:
            with gzip.open(f, "rb") as g:
                total += len(json.loads(g.read())["Records"])
        if total != n_records:
            raise SystemExit(f"verify: delivered {total} records, expected {n_records}")
        result["verified_records"] = total
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--bytes", help="input size instead of --records, e.g. 2G")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--verify", action="store_true")
    ap.add_argument("--config-extra", default="", help="TOML appended to the [[trails]] table")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "opentrail"))
    ap.add_argument("--workdir", default=None, help="where input and runs go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep each run's data and output")
    ap.add_argument("--seed", default=None,
                    help="a folder copied into each run's folder first (e.g. one holding "
                         "data/digest/keys, so digest runs measure signing, not key generation)")
    args = ap.parse_args()
    n = args.records
    if args.bytes:
        mult = {"K": 2**10, "M": 2**20, "G": 2**30}
        size = int(float(args.bytes[:-1]) * mult[args.bytes[-1].upper()]) if args.bytes[-1].isalpha() else int(args.bytes)
        n = size // 1279  # average generated record size incl. newline
    base = args.workdir or tempfile.mkdtemp(prefix="ot-bench-")
    os.makedirs(base, exist_ok=True)
    input_path = os.path.join(base, f"input-{n}.jsonl")
    if not os.path.exists(input_path):
        subprocess.check_call([sys.executable, os.path.join(HERE, "gen_corpus.py"), input_path, str(n)])
    raw_bytes = os.path.getsize(input_path)
    results = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdirs = []
    for i in range(args.runs):
        # Each run gets a fresh folder and nothing is deleted until all runs are done: ext4
        # searches past recently freed inodes when it allocates new ones (minutes after a large
        # delete), which would charge one run's clean-up to the next run's CPU time.
        workdir = os.path.join(base, f"run-{stamp}-{i}")
        if args.seed:
            shutil.copytree(args.seed, workdir)
        else:
            os.makedirs(workdir)
        workdirs.append(workdir)
        time.sleep(5 if i else 0)
        r = run_once(args.binary, input_path, n, workdir, args.config_extra, args.verify)
        r["mb_per_s"] = round(raw_bytes / 1e6 / r["wall_s"], 1)
        print(json.dumps(r), flush=True)
        results.append(r)
    if not args.keep:
        for w in workdirs:
            shutil.rmtree(w, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in results) for k in results[0] if isinstance(results[0][k], (int, float))}
    print("median:", json.dumps({"records": n, "input_mb": round(raw_bytes / 1e6, 1), **med}))


if __name__ == "__main__":
    main()
