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
  steady CPU-s/M the agent's CPU per million records accepted between 20% and 80% of the input
                 (from /proc/PID/stat): the per-record cost without start-up and without the
                 drain at shutdown (last files cut, final digests signed)

--verify decompresses every delivered file and checks the record count.

--s3 ENDPOINT delivers to S3 at that endpoint instead of the local tree (a fresh bucket per run;
--s3 moto starts moto_server from the project's .venv on a free port; needs boto3, so run the
script with .venv/bin/python). The agent's CPU and RSS
are its own; the S3 server's CPU is reported separately when the bench started it.

--api-trails N creates N multi-region trails through the agent's API (SigV4-signed with boto3:
run with .venv/bin/python) instead of the one config trail, each delivering every record to its
own bucket; --selectors advanced gives each 10 advanced event selectors (ADVANCED below: nine
that select nothing in this input, over all six operators and eleven fields, then one that
selects everything, so every record is matched against all ten and the output is the same as
with the default selectors). Input is moved in once the trails log.

usage: e2e.py [--records N | --bytes SIZE] [--runs 3] [--verify] [--config-extra TOML] [--s3 E]
              [--api-trails N [--selectors default|advanced]]
"""
import argparse
import gzip
import json
import os
import re
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
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from helpers import free_port, write_api_access  # noqa: E402  (tests/e2e/helpers.py, stdlib only)


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    return int(m.group(1)) if m else None


def cpu_ticks(pid):
    """User + system CPU of every thread of pid so far, in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)


def s3_client(endpoint):
    """A boto3 S3 client for the bench endpoint (needs boto3: run with the project's .venv)."""
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def s3_objects(client, bucket):
    """[(key, size)] of every object in the bucket."""
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return out


# Ten advanced selectors per trail: nine realistic ones that take nothing of the bench input
# (whose records are management events of corpus services), then one that takes everything.
ADVANCED = [
    {"Name": "s3 data in audit buckets", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::audit-", "arn:aws:s3:::logs-"]}]},
    {"Name": "lambda invokes", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]},
        {"Field": "resources.type", "Equals": ["AWS::Lambda::Function"]}]},
    {"Name": "console logins", "FieldSelectors": [
        {"Field": "eventName", "Equals": ["ConsoleLogin", "SwitchRole", "ExitRole"]},
        {"Field": "eventSource", "Equals": ["signin.amazonaws.com"]}]},
    {"Name": "org changes", "FieldSelectors": [
        {"Field": "eventSource", "StartsWith": ["organizations.", "account."]},
        {"Field": "readOnly", "Equals": ["false"]}]},
    {"Name": "denied calls of break-glass users", "FieldSelectors": [
        {"Field": "errorCode", "Equals": ["AccessDenied", "UnauthorizedOperation"]},
        {"Field": "userIdentity.arn", "EndsWith": ["/break-glass", "/incident-response"]}]},
    {"Name": "vpce traffic", "FieldSelectors": [
        {"Field": "vpcEndpointId", "StartsWith": ["vpce-0ff"]},
        {"Field": "eventSource", "NotEquals": ["s3.amazonaws.com"]}]},
    {"Name": "network activity", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["NetworkActivity"]}]},
    {"Name": "non-api events", "FieldSelectors": [
        {"Field": "eventType", "Equals": ["AwsServiceEvent", "AwsConsoleSignIn"]},
        {"Field": "eventName", "NotStartsWith": ["Describe", "List", "Get"]},
        {"Field": "eventName", "NotEndsWith": ["Status", "Health"]}]},
    {"Name": "dynamodb writes", "FieldSelectors": [
        {"Field": "resources.type", "Equals": ["AWS::DynamoDB::Table"]},
        {"Field": "readOnly", "Equals": ["false"]}]},
    {"Name": "everything else", "FieldSelectors": [
        {"Field": "eventSource", "NotEquals": ["nothing.example.com"]}]},
]
BENCH_KEY = ("AKIABENCH00000000001", "bench-secret-0123456789abcdefghijklmn")


def setup_api_trails(workdir, api_port, n, selectors):
    """Creates n logging trails through the API; with selectors == "advanced", ADVANCED."""
    import boto3
    c = boto3.client("cloudtrail", endpoint_url=f"http://127.0.0.1:{api_port}",
                     region_name="us-east-1", aws_access_key_id=BENCH_KEY[0],
                     aws_secret_access_key=BENCH_KEY[1])
    for i in range(n):
        name = f"trail-{i}"
        c.create_trail(Name=name, S3BucketName=f"audit-logs-{i}", IsMultiRegionTrail=True)
        if selectors == "advanced":
            c.put_event_selectors(TrailName=name, AdvancedEventSelectors=ADVANCED)
        c.start_logging(Name=name)


def write_bench_access(workdir):
    principal = "arn:aws:iam::123456789012:user/bench"
    write_api_access(os.path.join(workdir, "data"),
                     [{"access_key_id": BENCH_KEY[0], "secret_access_key": BENCH_KEY[1],
                       "principal": principal}],
                     {principal: {"Version": "2012-10-17", "Statement": [
                         {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}]}})


def run_once(binary, input_path, n_records, workdir, extra, verify, s3=None, api_trails=0,
             selectors="default"):
    port = free_port()
    cfg = os.path.join(workdir, "bench.toml")
    bucket = "audit-logs"
    if s3:
        bucket = f"bench-{os.getpid()}-{int(time.time() * 1000)}"
        client = s3_client(s3)
        client.create_bucket(Bucket=bucket)
        storage = f'[aws]\nendpoint_url = "{s3}"\nregion = "us-east-1"\n'
    else:
        storage = '[storage]\nlocal_root = "out"\n'
    api_port = free_port()
    if api_trails:
        write_bench_access(workdir)
        os.makedirs(os.path.join(workdir, "in"))
        source = os.path.join(workdir, "in", "*.jsonl")
        trails = f'[api]\nlisten = "127.0.0.1:{api_port}"\n'
    else:
        source = input_path
        trails = f"""[[trails]]
name = "main"
s3_bucket_name = "{bucket}"
is_multi_region_trail = true
{extra}
"""
    with open(cfg, "w") as f:
        f.write(f"""
data_dir = "data"
account_id = "123456789012"
{storage}
[[sources]]
kind = "file"
paths = ["{source}"]
[metrics]
listen = "127.0.0.1:{port}"
{trails}""")
    env = dict(os.environ)
    if s3:
        env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    start = time.monotonic()
    proc = subprocess.Popen([binary, "run", "--config", cfg], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "agent.log"), "w"))
    if api_trails:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", api_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        setup_api_trails(workdir, api_port, api_trails, selectors)
        time.sleep(1.2)  # changes apply to records read from 1 s after the call
        os.link(input_path, os.path.join(workdir, "in", "input.jsonl"))
        start = time.monotonic()
    accepted_at = None
    window = []  # (records accepted, CPU ticks) when 20% and then 80% were accepted
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"agent exited early with {proc.returncode}; see {workdir}/agent.log")
        a = metric(port, "opentrail_records_accepted_total")
        if a is not None and len(window) < 2 and a >= n_records * (0.2, 0.8)[len(window)]:
            window.append((a, cpu_ticks(proc.pid)))
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
    if len(window) == 2 and window[1][0] > window[0][0]:
        ticks = (window[1][1] - window[0][1]) / os.sysconf("SC_CLK_TCK")
        if ticks > 0:  # 0 when --binary is a wrapper that runs the agent as its child
            result["steady_cpu_s_per_million"] = round(ticks / (window[1][0] - window[0][0]) * 1e6, 2)
    if s3:
        objects = s3_objects(client, bucket)
        result["files"] = len(objects)
        result["compressed_mib"] = round(sum(n for _, n in objects) / 2**20, 1)
        files = [(k, lambda k=k: gzip.decompress(
                     client.get_object(Bucket=bucket, Key=k)["Body"].read()))
                 for k, _ in objects]
    else:
        out = os.path.join(workdir, "out")
        paths = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs]
        result["files"] = len(paths)
        result["compressed_mib"] = round(sum(os.path.getsize(f) for f in paths) / 2**20, 1)
        files = [(p, lambda p=p: gzip.open(p, "rb").read()) for p in paths]
    if verify:
        total = 0
        for _, read in files:
            total += len(json.loads(read())["Records"])
        want = n_records * max(api_trails, 1)
        if total != want:
            raise SystemExit(f"verify: delivered {total} records, expected {want}")
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
    ap.add_argument("--s3", default=None,
                    help="deliver to S3 at this endpoint URL ('moto': start moto_server)")
    ap.add_argument("--seed", default=None,
                    help="a folder copied into each run's folder first (e.g. one holding "
                         "data/digest/keys, so digest runs measure signing, not key generation)")
    ap.add_argument("--api-trails", type=int, default=0,
                    help="create this many trails through the API instead of the config trail")
    ap.add_argument("--selectors", choices=["default", "advanced"], default="default",
                    help="with --api-trails: the trails' event selectors")
    args = ap.parse_args()
    moto = None
    if args.s3 == "moto":
        moto_port = free_port()
        moto_bin = os.path.join(ROOT, ".venv", "bin", "moto_server")
        moto = subprocess.Popen([moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args.s3 = f"http://127.0.0.1:{moto_port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", moto_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
    try:
        bench(args)
    finally:
        if moto is not None:
            moto.terminate()
            _, _, usage = os.wait4(moto.pid, 0)
            print("moto_server CPU-s:", round(usage.ru_utime + usage.ru_stime, 1))


def bench(args):
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
        r = run_once(args.binary, input_path, n, workdir, args.config_extra, args.verify,
                     args.s3, args.api_trails, args.selectors)
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
