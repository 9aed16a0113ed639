"""Helpers for the consumer-compatibility suite: the deliberately bad records, an agent with a
line source and a CloudTrail-file source, an SNS topic with a fresh SQS queue, the CPL consumer
process (tests/cpl, Java) and the comparison of what CPL handed over with what S3 holds.

Everything the agent delivered is read back from S3 with boto3 (tests/aws/awshelpers.py), never
through the agent's own view; expectations come from the independent rules model
(tests/e2e/ctrules.py)."""

from __future__ import annotations

import collections
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "aws"))
sys.path.insert(0, str(HERE.parent / "e2e"))

import ctrules  # noqa: E402  (tests/e2e/ctrules.py)
from awshelpers import AwsAgent, client, unique  # noqa: E402  (tests/aws/awshelpers.py)
from helpers import toml_table  # noqa: E402  (tests/e2e/helpers.py)

CPL_MAIN = "dev.opentrail.cpl.CplConsumer"


# --------------------------------------------------------------------------------------------
# deliberately bad records (and good ones that need the agent's eventTime normalisation)

@dataclass
class Case:
    """One crafted record. `reasons` is empty for a record the agent must accept; otherwise the
    quarantine reasons the rules allow, and `field` is the field the quarantine detail must
    name."""
    name: str
    line: bytes
    reasons: set = field(default_factory=set)
    field: str | None = None

    @property
    def good(self) -> bool:
        return not self.reasons


def _set(path: str, value):
    """A mutation setting the member at dotted `path` (e.g. userIdentity.sessionContext)."""
    def mutate(rec: dict):
        *parents, last = path.split(".")
        obj = rec
        for p in parents:
            obj = obj[p]
        obj[last] = value
    return mutate


# (name, mutation, allowed reasons, field the detail must name). Every one of these makes CPL
# 1.1.3 throw or desynchronise (issue #8), or breaks CPL's eventTime parser.
BAD_MUTATIONS = [
    ("event-id-example", _set("eventID", "3038ebd2-c98a-4c65-9b6e-EXAMPLE"),
     {"invalid_event_id"}, "eventID"),
    ("event-id-braced", _set("eventID", "{6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}"),
     {"invalid_event_id"}, "eventID"),
    ("event-id-null", _set("eventID", None), {"wrong_type"}, "eventID"),
    ("event-id-number", _set("eventID", 12345), {"wrong_type"}, "eventID"),
    ("read-only-string", _set("readOnly", "true"), {"wrong_type"}, "readOnly"),
    ("management-event-string", _set("managementEvent", "false"), {"wrong_type"},
     "managementEvent"),
    ("event-version-three-parts", _set("eventVersion", "1.08.1"), {"invalid_event_version"},
     "eventVersion"),
    ("event-version-word", _set("eventVersion", "latest"), {"invalid_event_version"},
     "eventVersion"),
    ("event-version-number", _set("eventVersion", 1.08), {"wrong_type"}, "eventVersion"),
    ("user-identity-string", _set("userIdentity", "IAMUser"), {"wrong_type"}, "userIdentity"),
    ("user-identity-array", _set("userIdentity", [{"type": "IAMUser"}]), {"wrong_type"},
     "userIdentity"),
    ("session-context-string", _set("userIdentity.sessionContext", "x"), {"wrong_type"},
     "userIdentity.sessionContext"),
    ("session-context-array", _set("userIdentity.sessionContext", []), {"wrong_type"},
     "userIdentity.sessionContext"),
    ("session-issuer-type-object", _set("userIdentity.sessionContext.sessionIssuer",
                                        {"type": {"name": "Role"}}),
     {"wrong_type"}, "userIdentity.sessionContext.sessionIssuer.type"),
    ("session-attribute-boolean", _set("userIdentity.sessionContext.attributes.mfaAuthenticated",
                                       False),
     {"wrong_type"}, "userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ("resources-object", _set("resources", {"ARN": "arn:aws:s3:::b"}), {"wrong_type"},
     "resources"),
    ("resources-strings", _set("resources", ["arn:aws:s3:::b"]), {"wrong_type"},
     "resources[0]"),
    ("tls-details-string", _set("tlsDetails", "TLSv1.2"), {"wrong_type"}, "tlsDetails"),
    ("event-time-no-zone", _set("eventTime", "2023-07-10T11:42:44"), {"invalid_event_time"},
     "eventTime"),
    ("event-time-epoch-text", _set("eventTime", "1688989364"), {"invalid_event_time"},
     "eventTime"),
    ("event-time-month-13", _set("eventTime", "2023-13-10T11:42:44Z"), {"invalid_event_time"},
     "eventTime"),
    ("event-time-number", _set("eventTime", 1688989364), {"wrong_type"}, "eventTime"),
    ("event-time-null", _set("eventTime", None), {"wrong_type", "missing_field"}, "eventTime"),
]

# Accepted, but only readable by CPL because the agent rewrites eventTime to its canonical form
# (CPL parses exactly yyyy-MM-dd'T'HH:mm:ss'Z'); an upper-case UUID is a valid eventID.
GOOD_MUTATIONS = [
    ("event-time-fraction", _set("eventTime", "2023-07-10T11:42:44.123Z")),
    ("event-time-offset", _set("eventTime", "2023-07-10T13:42:44+02:00")),
    ("event-time-lower-case", _set("eventTime", "2023-07-10t11:42:44z")),
    ("event-id-upper-case", lambda r: r.__setitem__("eventID", str(uuid.uuid4()).upper())),
]


def pick_template(lines: list) -> dict:
    """The first corpus record the rules accept that has every member the bad cases touch."""
    for line in lines:
        if not ctrules.judge(line).accepted:
            continue
        rec = json.loads(line)
        ctx = rec.get("userIdentity", {}).get("sessionContext", {})
        if ({"attributes", "sessionIssuer"} <= set(ctx)
                and "mfaAuthenticated" in ctx["attributes"]
                and {"eventID", "eventVersion", "readOnly", "managementEvent", "resources",
                     "tlsDetails"} <= set(rec)):
            return rec
    raise AssertionError("no corpus record carries every member the bad cases need")


def _encode(name: str, rec: dict) -> bytes:
    """A marker member first (so every quarantine excerpt names the case), then the record."""
    return json.dumps({"opentrailCase": name, **rec}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def crafted_cases(template: dict, prefix: str) -> list:
    """Good and bad records interleaved: good, bad, good, bad, ..., then the good records that
    need eventTime normalisation, then a last good one. Every record gets a fresh eventID (a
    bad eventID case then replaces it); names start with `prefix`."""
    def good(name, mutate=None):
        rec = copy.deepcopy(template)
        rec["eventID"] = str(uuid.uuid4())
        if mutate:
            mutate(rec)
        return Case(f"{prefix}{name}", _encode(f"{prefix}{name}", rec))

    out = []
    for i, (name, mutate, reasons, fld) in enumerate(BAD_MUTATIONS):
        out.append(good(f"good-{i}"))
        rec = copy.deepcopy(template)
        rec["eventID"] = str(uuid.uuid4())
        mutate(rec)
        out.append(Case(f"{prefix}{name}", _encode(f"{prefix}{name}", rec), set(reasons), fld))
    for name, mutate in GOOD_MUTATIONS:
        out.append(good(name, mutate))
    out.append(good("good-last"))
    return out


def cloudtrail_file(lines: list) -> bytes:
    """A CloudTrail log file body holding the given record texts."""
    return b'{"Records":[' + b",".join(lines) + b"]}"


# --------------------------------------------------------------------------------------------
# SNS topic + fresh SQS queue (raw message delivery off: the queue gets the SNS envelope)

class Subscription:
    """A topic and a queue created for this run only (a long poll left open on an older queue
    would take messages meant for this one)."""

    def __init__(self, endpoint: str, name: str):
        self.sns = client("sns", endpoint)
        self.sqs = client("sqs", endpoint)
        self.queue_url = self.sqs.create_queue(QueueName=unique(name + "-q"))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.topic_arn = self.sns.create_topic(Name=unique(name + "-topic"))["TopicArn"]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=arn,
                           Attributes={"RawMessageDelivery": "false"})

    def depth(self) -> dict:
        """Messages visible, in flight (received, not deleted) and delayed."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                 "ApproximateNumberOfMessagesDelayed"]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                              AttributeNames=names)["Attributes"]
        return {n: int(attrs.get(n, 0)) for n in names}


# --------------------------------------------------------------------------------------------
# the agent: lines source (in/*.jsonl) + CloudTrail-file source (ct/*.json, ct/*.json.gz)

class CplAgent(AwsAgent):
    """An S3-delivering agent (tests/aws) with a second source reading whole CloudTrail log
    files from ct/."""

    def __init__(self, root: Path, **kw):
        super().__init__(root, **kw)
        (self.root / "ct").mkdir(exist_ok=True)
        ct = "\n[[sources]]\n" + toml_table(
            {"kind": "file", "paths": ["ct/*.json", "ct/*.json.gz"], "format": "cloudtrail",
             "poll_interval_ms": 100})
        at = self.config_text.index("\n[metrics]")
        self.config_text = self.config_text[:at] + ct + self.config_text[at:]
        self.config_path.write_text(self.config_text)

    def settle_all(self, n_inputs: int, n_delivered: int, timeout=120) -> dict:
        """Waits until every input record was judged (accepted or quarantined), n_delivered
        records were delivered and nothing is pending; returns the last metrics."""
        deadline = time.monotonic() + timeout
        m = {}
        while time.monotonic() < deadline:
            m = self.metrics()
            judged = m.get("opentrail_records_accepted_total", 0) + sum(
                v for k, v in m.items() if k.startswith("opentrail_records_rejected_total"))
            delivered = sum(v for k, v in m.items()
                            if k.startswith("opentrail_records_delivered_total"))
            if (judged >= n_inputs and delivered >= n_delivered
                    and m.get("opentrail_records_pending", 1) == 0):
                return m
            time.sleep(0.2)
        raise AssertionError(f"agent did not settle in {timeout}s: want {n_inputs} judged, "
                             f"{n_delivered} delivered\nmetrics: {m}\n{self.log()}")


# --------------------------------------------------------------------------------------------
# the CPL consumer (Java)

def cpl_classpath() -> str:
    """tests/cpl/target/cpl-consumer.jar plus its dependencies (built by `mvn package`)."""
    jar = HERE / "target" / "cpl-consumer.jar"
    cp = HERE / "target" / "classpath.txt"
    if not jar.exists() or not cp.exists():
        raise FileNotFoundError(
            f"{jar} or {cp} missing: run scripts/test-cpl.sh, or "
            f"`mvn -q -B -f {HERE / 'pom.xml'} package`")
    return f"{jar}{os.pathsep}{cp.read_text().strip()}"


def java_command() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise FileNotFoundError("java not found (set JAVA_HOME or PATH)")
    return found


@dataclass
class CplRun:
    """What the CPL consumer wrote: every record it handed over, every failure, its summary."""
    returncode: int
    events: list
    failures: list
    summary: dict
    log: str


def run_cpl(endpoint: str, queue_url: str, out: Path, expect_messages: int,
            timeout_secs: float = 120) -> CplRun:
    """Runs the CPL consumer until it processed `expect_messages` SQS messages and went quiet
    (or its deadline passed). The JVM is killed if it outlives its own deadline by 30 s."""
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "cpl.log"
    cmd = [java_command(), "-cp", cpl_classpath(), CPL_MAIN,
           "--endpoint", endpoint, "--queue-url", queue_url, "--out", str(out),
           "--expect-messages", str(expect_messages), "--timeout-secs", str(timeout_secs),
           "--quiet-secs", "2", "--threads", "2"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout_secs + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise AssertionError(f"CPL consumer hung past its deadline\n{_tail(log_path)}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def jsonl(name):
        p = out / name
        return [json.loads(l) for l in p.read_text("utf-8").splitlines() if l] if p.exists() \
            else []
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return CplRun(rc, jsonl("events.jsonl"), jsonl("failures.jsonl"), summary, _tail(log_path))


def _tail(path: Path, n=6000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def cpl_problems(objects: dict, run: CplRun, depth_after: dict) -> list:
    """Everything wrong with a CPL run, as readable strings (empty = CPL read every record of
    every object exactly once, in file order, with zero failures, and the queue is empty).

    objects: {s3 key: [raw record bytes, in file order]}, read back from S3 independently."""
    problems = []
    if run.returncode != 0:
        problems.append(f"CPL consumer exited {run.returncode} (3 = deadline passed): "
                        f"{run.summary}")
    for f in run.failures:
        problems.append(f"CPL failure: {f.get('state')}: {f.get('message') or f.get('info')}")
    if run.summary.get("sourcesFailed", 0):
        problems.append(f"{run.summary['sourcesFailed']} SQS messages failed in CPL")
    if run.summary.get("messagesProcessed") != len(objects):
        problems.append(f"CPL processed {run.summary.get('messagesProcessed')} messages for "
                        f"{len(objects)} objects")
    got = collections.defaultdict(list)
    for e in run.events:
        if "raw" not in e:
            problems.append(f"event without raw text: {e}")
            continue
        got[e["key"]].append(e["raw"].encode("utf-8"))
        want_id = json.loads(e["raw"]).get("eventID")
        if not isinstance(want_id, str) or e["eventID"] != want_id.lower():
            problems.append(f"CPL parsed eventID {e['eventID']!r}, record has {want_id!r}")
    for key, recs in objects.items():
        if got.get(key) != recs:
            have = collections.Counter(got.get(key, []))
            missing = [r[:120] for r in recs if not have[r]]
            problems.append(f"{key}: CPL handed over {len(got.get(key, []))} records, S3 holds "
                            f"{len(recs)} (missing e.g. {missing[:2]})")
    for key in set(got) - set(objects):
        problems.append(f"CPL handed over records of an unknown object {key}")
    left = sum(depth_after.values())
    if left:
        problems.append(f"{left} messages left in the queue: {depth_after}")
    return problems
