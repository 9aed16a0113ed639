"""Consumer compatibility (issue #8): AWS's CloudTrail Processing Library 1.1.3 reads, through
SNS -> SQS -> S3 on moto_server, every log file the agent delivered from the whole corpus plus
deliberately bad records; it must hand over every delivered record exactly once with zero
failures and leave nothing in the queue, while each bad record sits in the agent's quarantine
with a reason naming the field.

A control run feeds CPL a log file the agent never saw (one bad record between two good ones)
and shows that the same checks catch what CPL does to such a file."""

import gzip
import json
import re
import shutil
import signal

import ctrules
from awshelpers import create_bucket, read_bucket, unique
from cplhelpers import (Subscription, client, cloudtrail_file, cpl_problems, crafted_cases,
                        pick_template, run_cpl)
from helpers import match_quarantine, read_lines, read_quarantine

LINE_FILES = ["records.jsonl", "insights.jsonl", "insights_aws_docs_examples.jsonl"]


def names_field(detail: str, field: str) -> bool:
    """True when the quarantine detail names `field` as a whole (not as part of a longer
    member name such as `eventIDs` or `userIdentity.sessionContextX`)."""
    return re.search(r"(?<![\w.])" + re.escape(field) + r"(?![\w])", detail) is not None


def judge_all(inputs):
    """inputs: [raw record bytes] -> (accepted Verdicts, [(trimmed bytes, allowed reasons)])."""
    accepted, rejected = [], []
    for raw in inputs:
        v = ctrules.judge(raw)
        if v.blank:
            continue
        if v.accepted:
            accepted.append(v)
        else:
            rejected.append((raw.strip(ctrules.WS), v.reasons))
    return accepted, rejected


def test_corpus_and_bad_records_through_cpl(make_agent, moto, corpus, tmp_path):
    """The whole corpus (records, insights, whole CloudTrail files, the malformed set) and
    crafted bad records interleaved with good ones, through a lines source and a CloudTrail-file
    source, to S3 + SNS; then CPL 1.1.3 reads everything from a fresh SQS queue."""
    s3 = client("s3", moto)
    bucket = unique("ot-cpl")
    create_bucket(s3, bucket)
    sub = Subscription(moto, "ot-cpl")
    agent = make_agent("cpl", aws={"endpoint_url": moto}, trails=[{
        "name": "main", "s3_bucket_name": bucket, "sns_topic_arn": sub.topic_arn}])

    inputs = []  # every record the agent will judge, as raw bytes
    for name in LINE_FILES:
        shutil.copy(corpus / name, agent.root / "in" / name)
        inputs += read_lines(corpus / name)
    malformed = [json.loads(l)["text"].encode("utf-8")
                 for l in read_lines(corpus / "malformed.jsonl")]
    assert all(b"\n" not in l for l in malformed)
    (agent.root / "in" / "malformed.jsonl").write_bytes(b"\n".join(malformed) + b"\n")
    inputs += malformed

    template = pick_template(read_lines(corpus / "records.jsonl"))
    line_cases = crafted_cases(template, "line-")
    file_cases = crafted_cases(template, "file-")
    (agent.root / "in" / "crafted.jsonl").write_bytes(
        b"\n".join(c.line for c in line_cases) + b"\n")
    (agent.root / "ct" / "crafted.json").write_bytes(
        cloudtrail_file([c.line for c in file_cases]))
    inputs += [c.line for c in line_cases + file_cases]

    ct_files = sorted((corpus / "files").glob("*/*.json")) + sorted(
        (corpus / "files").glob("*/*.json.gz"))
    assert len(ct_files) >= 57
    for f in ct_files:
        shutil.copy(f, agent.root / "ct" / f.name)
        data = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        inputs += [r.encode("utf-8") for r in ctrules.cloudtrail_file_records(data)]

    accepted, rejected = judge_all(inputs)
    cases = line_cases + file_cases
    for c in cases:  # the independent rules model agrees with each crafted case
        v = ctrules.judge(c.line)
        assert v.accepted == c.good, (c.name, v.reasons)
        assert c.good or c.reasons & v.reasons, (c.name, c.reasons, v.reasons)

    agent.start()
    agent.settle_all(len(accepted) + len(rejected), len(accepted))
    assert agent.stop(signal.SIGTERM) == 0, agent.log()

    # What the agent delivered, read back from S3.
    objects = read_bucket(s3, bucket)
    by_key = {o.key: o.d.records for o in objects}
    delivered = [r for o in objects for r in o.d.records]
    assert len(delivered) == len(accepted), (len(delivered), len(accepted))
    for c in cases:
        marker = b'"opentrailCase":"' + c.name.encode() + b'"'
        hits = [r for r in delivered if marker in r]
        assert len(hits) == (1 if c.good else 0), (c.name, len(hits))
        if c.good:
            when = json.loads(hits[0])["eventTime"]
            assert ctrules.EXACT_TIME_RE.match(when), (c.name, when)

    # Every refused record is in the quarantine with an allowed reason; nothing else is.
    quarantine = read_quarantine(agent.data)
    unmatched, unused, wrong = match_quarantine(quarantine, rejected)
    assert not unmatched, f"not quarantined: {unmatched[:3]}"
    assert not wrong, f"quarantined for the wrong reason: {wrong[:3]}"
    assert not unused, [(e["reason"], e["record"][:200]) for e in unused[:3]]
    # A record refused for a field's sake (not for its bytes or syntax) names the field.
    field_reasons = {"missing_field", "wrong_type", "invalid_account", "invalid_region",
                     "invalid_event_time", "invalid_event_id", "invalid_event_version",
                     "duplicate_field"}
    for e in quarantine:
        if e["reason"] in field_reasons:
            assert any(names_field(e["detail"], f) for f in ctrules.KNOWN_TOP), e["detail"]
    for c in cases:
        if c.good:
            continue
        marker = '"opentrailCase":"' + c.name + '"'
        entries = [e for e in quarantine if marker in e["record"]]
        assert len(entries) == 1, (c.name, len(entries))
        e = entries[0]
        assert e["reason"] in c.reasons, (c.name, e["reason"], e["detail"])
        assert names_field(e["detail"], c.field), (c.name, c.field, e["detail"])

    # One SNS notification per object, each in the queue as an SNS envelope.
    depth = sub.depth()
    assert depth["ApproximateNumberOfMessages"] == len(objects), (depth, len(objects))

    run = run_cpl(moto, sub.queue_url, tmp_path / "cpl", expect_messages=len(objects))
    problems = cpl_problems(by_key, run, sub.depth())
    assert not problems, problems[:10] + [run.log[-3000:]]
    assert run.summary["events"] == len(delivered)
    print(f"CPL read {run.summary['events']} records from {len(objects)} objects "
          f"({run.summary['messagesProcessed']} SQS messages) in {run.summary['elapsedMs']} ms; "
          f"{len(quarantine)} records quarantined")


def test_control_cpl_breaks_on_bad_records(moto, corpus, tmp_path):
    """Control: log files the agent never saw, each [good, bad, good], put straight into S3 and
    announced on SNS. For a non-UUID eventID and a string readOnly CPL's exception handler is
    called; for a numeric eventVersion CPL throws outside it (an uncaught exception in its thread
    pool). Each time CPL hands over the first record, drops the rest of the file and keeps the
    message: the checks of the main test report all of it."""
    s3 = client("s3", moto)
    bucket = unique("ot-cpl-control")
    create_bucket(s3, bucket)
    sub = Subscription(moto, "ot-cpl-control")
    template = pick_template(read_lines(corpus / "records.jsonl"))
    cases = crafted_cases(template, "control-")
    acct = "123456789012"
    objects = {}
    for n, bad_name in enumerate(["control-event-id-example", "control-event-version-number",
                                  "control-read-only-string"]):
        i = next(i for i, c in enumerate(cases) if c.name == bad_name)
        first, bad, last = cases[i - 1], cases[i], cases[i + 1]
        assert first.good and last.good and not bad.good
        assert not ctrules.judge(bad.line).accepted
        key = (f"AWSLogs/{acct}/CloudTrail/us-east-1/2023/07/10/"
               f"{acct}_CloudTrail_us-east-1_20230710T1145Z_ControlFile000{n}.json.gz")
        objects[key] = [first.line, bad.line, last.line]
        s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(cloudtrail_file(objects[key])))
        sub.sns.publish(TopicArn=sub.topic_arn, Message=json.dumps(
            {"s3Bucket": bucket, "s3ObjectKey": [key]}, separators=(",", ":")))

    run = run_cpl(moto, sub.queue_url, tmp_path / "cpl", expect_messages=len(objects),
                  timeout_secs=60)
    for key, records in objects.items():
        handed = [e["raw"].encode("utf-8") for e in run.events if e["key"] == key]
        assert handed == records[:1], (key, [h[:80] for h in handed])
    assert any(f.get("state") == "uncaughtException" for f in run.failures), run.failures
    problems = cpl_problems(objects, run, sub.depth())
    assert sum(p.startswith("CPL failure") for p in problems) >= len(objects), problems
    for key in objects:
        assert any(f"{key}: CPL handed over 1 records, S3 holds 3" in p for p in problems), \
            problems
    assert any(f"{len(objects)} messages left in the queue" in p for p in problems), problems
