"""Helpers for driving the real `opentrail` binary: config files, processes, metrics, the
delivered tree and the quarantine. Standard library only."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("OPENTRAIL_BIN") or str(ROOT / "target" / "release" / "opentrail")
CORPUS = Path(os.environ.get("OPENTRAIL_CORPUS") or ROOT.parent / "shared" / "corpus")

# Fake credentials, no profile files, no instance-metadata probing: what every suite that talks
# to an AWS API (moto_server or the agent's own) runs with. scripts/lib/moto-suite.sh sets the
# same.
HERMETIC_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def hermetic_aws_env():
    """Sets HERMETIC_AWS (where unset) in this process's environment and removes the variables
    that would send a test's AWS calls elsewhere: profiles, session tokens and every
    AWS_ENDPOINT_URL* (each test names its endpoints itself)."""
    for k, v in HERMETIC_AWS.items():
        os.environ.setdefault(k, v)
    for k in list(os.environ):
        if k in ("AWS_PROFILE", "AWS_SESSION_TOKEN") or k.startswith("AWS_ENDPOINT_URL"):
            del os.environ[k]


def require_binary(corpus: bool = True):
    """For pytest_sessionstart: stops the session with a clear message when the agent binary
    (or, with `corpus`, the corpus) is missing."""
    import pytest

    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(
            f"opentrail binary not found at {BIN}: run `cargo build --release` "
            "or set OPENTRAIL_BIN")
    if corpus and not (CORPUS / "records.jsonl").exists():
        raise pytest.UsageError(f"corpus not found at {CORPUS}: set OPENTRAIL_CORPUS")


def agent_factory(cls, tmp_path: Path):
    """Body of a `make_agent` fixture (`yield from agent_factory(Cls, tmp_path)`): yields
    factory(name="agent", **kwargs) -> cls(tmp_path / name, **kwargs); every agent it made that
    is still running at teardown is killed (by its own pid)."""
    agents = []

    def factory(name="agent", **kw):
        a = cls(tmp_path / name, **kw)
        agents.append(a)
        return a

    yield factory
    for a in agents:
        if a.alive():
            a.kill9()


FILE_NAME_RE = re.compile(
    r"(?P<acct>[0-9]{12})_CloudTrail_(?P<region>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)_"
    r"(?P<ts>(?P<ymd>[0-9]{8})T[0-9]{4}Z)_[A-Za-z0-9]{16}\.json\.gz\Z")


# --------------------------------------------------------------------------------------------
# small utilities

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls pred() until truthy; returns its value or raises AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001 - keep polling; report the last error
            last = e
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {e!r}")
        else:
            if last and not isinstance(last, Exception):
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")
        time.sleep(interval)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def toml_table(d: dict) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items())


def minify_json(text: str) -> str:
    """Removes insignificant whitespace (outside strings) without re-serialising anything."""
    out = []
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch in " \t\r\n":
            continue
        else:
            out.append(ch)
            if ch == '"':
                in_str = True
    return "".join(out)


# --------------------------------------------------------------------------------------------
# the agent process

class Agent:
    """One agent directory (config, inputs, data, output) and its process."""

    def __init__(self, root: Path, *, sources=None, trails=None, top=None, http=False,
                 delivery_interval_secs=1, file_globs=("in/*.jsonl",), file_format="lines",
                 poll_interval_ms=100, max_body_bytes=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "in").mkdir(exist_ok=True)
        self.metrics_port = free_port()
        self.http_port = free_port() if http else None
        self.out = self.root / "out"
        self.data = self.root / "data"
        self.quarantine_path = self.data / "quarantine" / "quarantine.jsonl"
        self.config_path = self.root / "opentrail.toml"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "agent.log"
        self.runs = 0
        cfg = {"data_dir": "data", "account_id": "123456789012"}
        cfg.update(top or {})
        text = toml_table(cfg)
        text += '\n[storage]\nlocal_root = "out"\n'
        if sources is None:
            sources = []
            if file_globs:
                src = {"kind": "file", "paths": list(file_globs), "format": file_format,
                       "poll_interval_ms": poll_interval_ms}
                sources.append(src)
        if http:
            h = {"kind": "http", "listen": f"127.0.0.1:{self.http_port}"}
            if max_body_bytes is not None:
                h["max_body_bytes"] = max_body_bytes
            sources = list(sources) + [h]
        for s in sources:
            text += "\n[[sources]]\n" + toml_table(s)
        text += f'\n[metrics]\nlisten = "127.0.0.1:{self.metrics_port}"\n'
        if trails is None:
            trails = [{"name": "main", "home_region": "us-east-1",
                       "s3_bucket_name": "audit-logs", "is_multi_region_trail": True,
                       "include_global_service_events": True}]
        for t in trails:
            t = dict(t)
            t.setdefault("delivery_interval_secs", delivery_interval_secs)
            text += "\n[[trails]]\n" + toml_table(t)
        self.trails = trails
        self.config_text = text
        self.config_path.write_text(text)

    # -- process control ---------------------------------------------------------------------
    def start(self, cwd=None, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== run {self.runs} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [BIN, "run", "--config", str(self.config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            cwd=str(cwd or self.root), start_new_session=True)
        log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=20):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited early rc={self.proc.returncode}\n{self.log()}")
            try:
                self.metrics_text(timeout=1)
                if self.http_port:
                    with socket.create_connection(("127.0.0.1", self.http_port), timeout=1):
                        pass
                return True
            except OSError:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"agent not ready after {timeout}s\n{self.log()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30) -> int:
        """Sends sig and waits for exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"agent did not exit within {timeout}s of {sig!r}\n{self.log()}")

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self, tail=6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    # -- metrics -----------------------------------------------------------------------------
    def metrics_text(self, timeout=5) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as r:
            assert r.status == 200
            return r.read().decode()

    def metrics(self) -> dict:
        return parse_metrics(self.metrics_text())

    def m(self, name, default=None):
        return self.metrics().get(name, default)

    # -- HTTP source ------------------------------------------------------------------------
    def post(self, body: bytes, content_type="application/x-ndjson", timeout=30):
        """POST /v1/events -> (status, parsed JSON body or raw bytes, headers)."""
        url = f"http://127.0.0.1:{self.http_port}/v1/events"
        req = urllib.request.Request(url, data=body, method="POST")
        if content_type is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw, headers = r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            status, raw, headers = e.code, e.read(), dict(e.headers)
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return status, parsed, headers

    # -- outputs -----------------------------------------------------------------------------
    def delivered(self, strict=True):
        return read_tree(self.out, strict=strict)

    def quarantine(self):
        return read_quarantine(self.data)

    def delivered_count(self):
        return sum(len(f.records) for f in self.delivered())


def parse_metrics(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


# --------------------------------------------------------------------------------------------
# delivered tree

@dataclass
class Delivered:
    path: Path
    bucket: str
    prefix: str
    account: str
    region: str
    ts: str  # YYYYMMDDTHHmmZ
    size: int
    records: list  # raw bytes of each record


def check_gzip_file(data: bytes) -> bytes:
    """Single-member gzip -> decompressed bytes (asserts there is nothing after the member)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    body = d.decompress(data) + d.flush()
    assert d.eof, "gzip stream is truncated"
    assert d.unused_data == b"", "bytes after the first gzip member"
    return body


def split_records(body: bytes) -> list:
    """Raw bytes of each record of a `{"Records":[...]}` body (asserts the exact layout)."""
    head = b'{"Records":['
    assert body.startswith(head), body[:40]
    assert body.endswith(b"]}"), body[-40:]
    text = body.decode("utf-8")
    dec = json.JSONDecoder()
    recs = []
    i = len(head)
    end = len(text) - 2
    if i == end:
        return recs
    while True:
        try:
            obj, j = dec.raw_decode(text, i)
        except RecursionError:  # very deep nesting: find the end without recursion
            obj, j = {}, value_end(text, i)
        assert isinstance(obj, dict) and text[i] == "{", "a record is not an object"
        recs.append(text[i:j].encode("utf-8"))
        if j == end:
            break
        assert text[j] == ",", f"records not joined by ',' at {j}"
        i = j + 1
    assert head + b",".join(recs) + b"]}" == body
    return recs


def value_end(text: str, i: int) -> int:
    """End index of the JSON object/array starting at text[i], found iteratively (brackets and
    strings only; for values too deep for the json module)."""
    depth = 0
    in_str = esc = False
    for j in range(i, len(text)):
        c = text[j]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return j + 1
    raise AssertionError("unterminated JSON value")


def parse_key(rel: Path):
    parts = rel.parts
    assert "AWSLogs" in parts, rel
    i = parts.index("AWSLogs")
    bucket, prefix = parts[0], "/".join(parts[1:i])
    rest = parts[i + 1:]
    assert len(rest) == 7, f"unexpected key layout {rel}"
    acct, ct, region, yyyy, mm, dd, name = rest
    assert ct == "CloudTrail", rel
    m = FILE_NAME_RE.match(name)
    assert m, f"bad file name {name}"
    assert m["acct"] == acct and m["region"] == region, f"name/dir mismatch {rel}"
    assert m["ymd"] == yyyy + mm + dd, f"date dirs do not match the name {rel}"
    return bucket, prefix, acct, region, m["ts"]


def read_tree(root: Path, strict=True) -> list:
    """Every delivered object under root, checked (name, layout, single gzip member, JSON)."""
    files = []
    if not Path(root).exists():
        return files
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            rel = p.relative_to(root)
            bucket, prefix, acct, region, ts = parse_key(rel)
            data = p.read_bytes()
            body = check_gzip_file(data)
            recs = split_records(body)
            if strict:
                try:
                    json.loads(body)  # the whole file parses too
                except RecursionError:
                    pass  # deeply nested record: split_records checked its structure
                assert recs, f"empty log file {rel}"
            files.append(Delivered(p, bucket, prefix, acct, region, ts, len(data), recs))
    return files


class TreeWatcher(threading.Thread):
    """Scans local_root in a loop; records any path that is not a complete final object."""

    def __init__(self, root: Path, interval=0.02):
        super().__init__(daemon=True)
        self.root = Path(root)
        self.interval = interval
        self.stop_evt = threading.Event()
        self.checked = set()
        self.problems = []
        self.scans = 0

    def run(self):
        while not self.stop_evt.is_set():
            self.scan()
            time.sleep(self.interval)

    def scan(self):
        self.scans += 1
        if not self.root.exists():
            return
        for dirpath, _dirs, names in os.walk(self.root):
            for n in names:
                p = Path(dirpath) / n
                if p in self.checked:
                    continue
                rel = p.relative_to(self.root)
                try:
                    parse_key(rel)
                    data = p.read_bytes()
                    body = check_gzip_file(data)
                    assert body.startswith(b'{"Records":[') and body.endswith(b"]}"), \
                        f"not a CloudTrail log body: {body[:40]!r}...{body[-10:]!r}"
                except FileNotFoundError:
                    self.problems.append(f"{rel}: vanished (a final object must stay)")
                    continue
                except (AssertionError, zlib.error, OSError) as e:
                    self.problems.append(f"{rel}: {e}")
                self.checked.add(p)

    def stop(self):
        self.stop_evt.set()
        self.join(timeout=10)
        self.scan()


# --------------------------------------------------------------------------------------------
# quarantine

QUARANTINE_KEYS = {"time", "reason", "detail", "source", "position", "record_bytes", "record"}


def aws_cli() -> str:
    """The AWS CLI of the running virtualenv (pip install awscli), else the one on PATH."""
    import shutil
    import sys
    exe = Path(sys.executable).parent / "aws"
    if exe.exists():
        return str(exe)
    found = shutil.which("aws")
    assert found, "the AWS CLI is not installed (pip install awscli)"
    return found


def write_api_access(data_dir: Path, keys: list[dict], policies: dict) -> None:
    """Writes the API's credentials file (mode 0600) and policies file into `data_dir/api`.
    `keys`: [{"access_key_id", "secret_access_key", "principal"}]; `policies`: {principal: doc}."""
    api = Path(data_dir) / "api"
    api.mkdir(parents=True, exist_ok=True)
    cred = api / "credentials.json"
    fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"keys": keys}, f)
    os.chmod(cred, 0o600)
    (api / "policies.json").write_text(json.dumps(policies))


def admin_access(data_dir: Path, account: str = "123456789012") -> None:
    """The API grants everything to the environment's AWS key (the one boto3 and the AWS CLI
    sign with in the suites)."""
    principal = f"arn:aws:iam::{account}:user/tester"
    write_api_access(data_dir, [{"access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                                 "secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
                                 "principal": principal}],
                     {principal: {"Version": "2012-10-17", "Statement": [
                         {"Effect": "Allow", "Action": "cloudtrail:*", "Resource": "*"}]}})


def read_quarantine(data_dir: Path) -> list:
    p = Path(data_dir) / "quarantine" / "quarantine.jsonl"
    if not p.exists():
        return []
    entries = []
    for line in p.read_bytes().split(b"\n"):
        if not line:
            continue
        e = json.loads(line)
        assert set(e) >= QUARANTINE_KEYS, f"quarantine entry lacks keys: {sorted(e)}"
        entries.append(e)
    return entries


def _lossy(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def match_quarantine(entries: list, expected: list):
    """expected: [(trimmed input bytes, allowed reasons)]. Returns (unmatched expected, unused
    entries, wrong-reason list). An entry matches an input when its `record` is a prefix of the
    input (excerpts may be cut) and record_bytes is the input's length."""
    by_len = collections.defaultdict(list)
    for idx, e in enumerate(entries):
        by_len[e["record_bytes"]].append(idx)
    used = set()
    unmatched, wrong = [], []
    for rec, reasons in expected:
        text = _lossy(rec)
        found = None
        for idx in by_len.get(len(rec), []):
            if idx in used:
                continue
            r = entries[idx]["record"].rstrip("\ufffd")
            if r and _norm(text).startswith(_norm(r)):
                found = idx
                break
        if found is None:
            unmatched.append((rec[:200], reasons))
            continue
        used.add(found)
        if entries[found]["reason"] not in reasons:
            wrong.append((rec[:200], reasons, entries[found]["reason"], entries[found]["detail"]))
    unused = [entries[i] for i in range(len(entries)) if i not in used]
    return unmatched, unused, wrong


def _norm(s: str) -> str:
    return re.sub("\ufffd+", "\ufffd", s)


# --------------------------------------------------------------------------------------------
# comparing deliveries with expectations

def compare_delivered(files: list, expected: list, exact_once=True):
    """expected: [(Verdict, note)] for accepted inputs. Checks every delivered record is one of
    the expected ones (byte-identical, or with only the documented eventID addition), filed under
    the expected account/region. Returns a dict of problems (empty = fine)."""
    from ctrules import strip_added_id

    want_with_id = collections.Counter()
    want_no_id = collections.Counter()
    where = {}
    for v in expected:
        key = v.out
        (want_no_id if v.adds_id else want_with_id)[key] += 1
        where[key] = (v.account, v.region)
    got_with_id = collections.Counter()
    got_no_id = collections.Counter()
    misplaced, unknown, added_ids = [], [], []
    for f in files:
        for r in f.records:
            if r in want_with_id:
                got_with_id[r] += 1
                key = r
            else:
                s = strip_added_id(r)
                if s is not None and s[0] in want_no_id:
                    got_no_id[s[0]] += 1
                    added_ids.append(s[1])
                    key = s[0]
                elif s is not None and s[0] in want_with_id:
                    # the agent appended an id although one was present? (cannot be: dup key)
                    unknown.append(r[:300])
                    continue
                else:
                    unknown.append(r[:300])
                    continue
            if where[key] != (f.account, f.region):
                misplaced.append((r[:120], where[key], (f.account, f.region)))
    problems = {}
    missing = (want_with_id - got_with_id) + (want_no_id - got_no_id)
    if missing:
        problems["missing"] = [k[:200] for k in list(missing)[:10]] + [f"total {sum(missing.values())}"]
    if exact_once:
        extra = (got_with_id - want_with_id) + (got_no_id - want_no_id)
        if extra:
            problems["duplicated"] = [k[:200] for k in list(extra)[:10]] + [f"total {sum(extra.values())}"]
    if unknown:
        problems["unexpected"] = unknown[:10] + [f"total {len(unknown)}"]
    if misplaced:
        problems["misplaced"] = misplaced[:10] + [f"total {len(misplaced)}"]
    if len(set(added_ids)) != len(added_ids):
        problems["added_ids_not_unique"] = len(added_ids) - len(set(added_ids))
    return problems


def delivery_window_ok(files: list, t0: float, t1: float):
    """Each file's name timestamp (delivery minute, UTC) lies within [t0, t1]."""
    bad = []
    lo = dt.datetime.fromtimestamp(t0, dt.timezone.utc).strftime("%Y%m%dT%H%MZ")
    hi = dt.datetime.fromtimestamp(t1, dt.timezone.utc).strftime("%Y%m%dT%H%MZ")
    for f in files:
        if not (lo <= f.ts <= hi):
            bad.append((f.path.name, lo, hi))
    return bad


def read_lines(path: Path) -> list:
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def gunzip(path: Path) -> bytes:
    return gzip.decompress(Path(path).read_bytes())


# --------------------------------------------------------------------------------------------
# generated records

class RecordFactory:
    """Makes unique valid records from the corpus: a corpus record with its eventID and
    eventTime replaced (both in place, so the record stays byte-for-byte what we expect)."""

    def __init__(self, corpus: Path = CORPUS, limit=None, exclude_global=False):
        import ctrules
        self.templates = []
        for line in read_lines(Path(corpus) / "records.jsonl"):
            v = ctrules.judge(line)
            if not v.accepted or v.adds_id or (exclude_global and v.global_service):
                continue
            text = line.decode("utf-8")
            spans = ctrules.top_level_spans(text)
            (a, b), (c, d) = sorted([spans["eventID"], spans["eventTime"]])
            first = "id" if spans["eventID"][0] == a else "time"
            self.templates.append((text[:a], text[b:c], text[d:], first, v.account, v.region))
            if limit and len(self.templates) >= limit:
                break
        self.tag = os.urandom(4).hex()
        self.base = int(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp())

    def event_id(self, i: int) -> str:
        return f"{self.tag}-{(i >> 48) & 0xffff:04x}-4000-8000-{i & 0xffffffffffff:012x}"

    def make(self, i: int):
        """-> (record bytes, account, region, eventID)."""
        pre, mid, post, first, acct, region = self.templates[i % len(self.templates)]
        eid = '"' + self.event_id(i) + '"'
        t = time.strftime('"%Y-%m-%dT%H:%M:%SZ"', time.gmtime(self.base + i))
        x, y = (eid, t) if first == "id" else (t, eid)
        return (pre + x + mid + y + post).encode("utf-8"), acct, region, self.event_id(i)

    def verdict(self, i: int):
        import ctrules
        rec, acct, region, _ = self.make(i)
        return ctrules.Verdict(True, out=rec, account=acct, region=region)
