"""Scenarios 1 and 2: the real corpus through the file sources (lines and whole CloudTrail
files), checked record by record against expectations computed from the intake rules."""

import collections
import gzip
import json
import shutil
import signal
import time

import pytest

import ctrules
from helpers import (compare_delivered, delivery_window_ok, match_quarantine, minify_json,
                     read_lines)

REASONS = ["invalid_utf8", "invalid_json", "not_an_object", "duplicate_field", "oversize",
           "missing_field", "wrong_type", "invalid_account", "invalid_region",
           "invalid_event_time", "invalid_event_id", "invalid_event_version", "no_trail"]


def expectations(lines, trails=None, **kw):
    accepted, rejected = [], []
    for line in lines:
        v = ctrules.judge(line, trails=trails, **kw)
        if v.blank:
            continue
        if v.accepted:
            accepted.append(v)
        else:
            rejected.append((line.strip(ctrules.WS), v.reasons))
    return accepted, rejected


def settle(agent, n_in, n_delivered, timeout=90):
    """Waits until every input was judged and n_delivered records were delivered with nothing
    pending. Returns the last metrics snapshot (does not raise: the assertions that follow say
    what is wrong)."""
    deadline = time.monotonic() + timeout
    m = {}
    while time.monotonic() < deadline:
        m = agent.metrics()
        judged = m.get("opentrail_records_accepted_total", 0) + sum(
            m.get(f'opentrail_records_rejected_total{{reason="{r}"}}', 0) for r in REASONS)
        if (judged >= n_in and m.get('opentrail_records_delivered_total{destination="local"}', 0)
                >= n_delivered and m.get("opentrail_records_pending", 1) == 0):
            break
        time.sleep(0.2)
    time.sleep(0.3)
    return agent.metrics()


def check_metrics(m, files, n_accepted, quarantine, n_delivered=None):
    problems = []

    def eq(name, want):
        got = m.get(name)
        if got != want:
            problems.append(f"{name}: got {got}, want {want}")

    eq("opentrail_records_accepted_total", n_accepted)
    eq('opentrail_records_delivered_total{destination="local"}',
       n_accepted if n_delivered is None else n_delivered)
    eq("opentrail_files_delivered_total", len(files))
    eq("opentrail_bytes_delivered_total", sum(f.size for f in files))
    eq("opentrail_duplicates_total", 0)
    eq("opentrail_records_pending", 0)
    by_reason = collections.Counter(e["reason"] for e in quarantine)
    for r in REASONS:
        eq(f'opentrail_records_rejected_total{{reason="{r}"}}', by_reason.get(r, 0))
    return problems


def run_and_check(agent, lines, trails_model=None, copies=1, cwd=None, **judge_kw):
    accepted, rejected = expectations(lines, trails=trails_model, **judge_kw)
    t0 = time.time()
    agent.start(cwd=cwd)
    m = settle(agent, len(accepted) + len(rejected), len(accepted) * copies)
    assert agent.stop(signal.SIGTERM, timeout=30) == 0, agent.log()
    t1 = time.time()
    files = agent.delivered()
    quarantine = agent.quarantine()
    return accepted, rejected, m, files, quarantine, (t0, t1)


def test_corpus_lines_file_source(make_agent, corpus, tmp_path):
    """Scenario 1: every line of records.jsonl through a `lines` file source."""
    agent = make_agent("corpus")
    shutil.copy(corpus / "records.jsonl", agent.root / "in" / "records.jsonl")
    lines = read_lines(corpus / "records.jsonl")
    other_cwd = tmp_path / "elsewhere"
    other_cwd.mkdir()
    accepted, rejected, m, files, quarantine, (t0, t1) = run_and_check(
        agent, lines, cwd=other_cwd)
    assert len(accepted) + len(rejected) == 3253
    assert accepted and rejected

    # relative paths resolved against the config file's folder, not the working directory
    assert not any(other_cwd.iterdir()), list(other_cwd.iterdir())
    assert files, f"nothing delivered\n{agent.log()}"
    assert {f.bucket for f in files} == {"audit-logs"}
    assert {f.prefix for f in files} == {""}
    assert not delivery_window_ok(files, t0, t1)

    problems = compare_delivered(files, accepted)
    assert not problems, problems
    # every account/region directory holds records of that account/region only (checked above)
    # and every expected account/region pair got a directory
    assert {(f.account, f.region) for f in files} == {(v.account, v.region) for v in accepted}

    unmatched, unused, wrong = match_quarantine(quarantine, rejected)
    assert not unmatched, f"not quarantined: {unmatched}"
    assert not wrong, f"quarantined for the wrong reason: {wrong}"
    assert not unused, f"unexpected quarantine entries: {[e['record'][:200] for e in unused]}"
    for e in quarantine:
        assert e["source"] and isinstance(e["detail"], str) and e["detail"]
        assert str(e["position"]) != ""

    assert not check_metrics(m, files, len(accepted), quarantine)


def test_corpus_routing_single_region_trails(make_agent, corpus):
    """Scenario 1, routing: single-region trails, global service events, key prefix, no_trail."""
    trails = [
        {"name": "east", "home_region": "us-east-1", "s3_bucket_name": "east-logs",
         "s3_key_prefix": "team/audit", "is_multi_region_trail": False,
         "include_global_service_events": True},
        {"name": "north", "home_region": "us-north-2r", "s3_bucket_name": "north-logs",
         "is_multi_region_trail": False, "include_global_service_events": False},
    ]
    model = [{"home_region": "us-east-1", "multi_region": False, "include_global": True},
             {"home_region": "us-north-2r", "multi_region": False, "include_global": False}]
    agent = make_agent("routing", trails=trails)
    shutil.copy(corpus / "records.jsonl", agent.root / "in" / "records.jsonl")
    lines = read_lines(corpus / "records.jsonl")
    accepted, rejected, m, files, quarantine, _ = run_and_check(agent, lines, trails_model=model)
    east = [v for v in accepted if v.region == "us-east-1"]
    north = [v for v in accepted if v.region == "us-north-2r"]
    assert len(east) + len(north) == len(accepted)
    assert any(v.global_service for v in east), "corpus should have global service events"
    assert any(r == {"no_trail"} for _, r in rejected)

    east_files = [f for f in files if f.bucket == "east-logs"]
    north_files = [f for f in files if f.bucket == "north-logs"]
    assert len(east_files) + len(north_files) == len(files)
    assert {f.prefix for f in east_files} == {"team/audit"}
    assert {f.prefix for f in north_files} == {""}
    assert {f.region for f in east_files} == {"us-east-1"}
    assert {f.region for f in north_files} == {"us-north-2r"}
    assert not compare_delivered(east_files, east)
    assert not compare_delivered(north_files, north)

    unmatched, unused, wrong = match_quarantine(quarantine, rejected)
    assert not unmatched and not wrong and not unused, (unmatched[:3], wrong[:3], unused[:3])
    assert not check_metrics(m, files, len(accepted), quarantine)


def test_malformed_corpus(make_agent, corpus):
    """Scenario 2a: the `text` of every malformed.jsonl line, judged by the rules."""
    agent = make_agent("malformed")
    lines = [json.loads(l)["text"].encode("utf-8") for l in read_lines(corpus / "malformed.jsonl")]
    assert all(b"\n" not in l for l in lines)
    (agent.root / "in" / "malformed.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    accepted, rejected, m, files, quarantine, _ = run_and_check(agent, lines)
    assert len(accepted) + len(rejected) == len(lines)
    problems = compare_delivered(files, accepted)
    assert not problems, problems
    unmatched, unused, wrong = match_quarantine(quarantine, rejected)
    assert not unmatched, unmatched
    assert not wrong, wrong
    assert not unused, unused
    assert not check_metrics(m, files, len(accepted), quarantine)


def test_cloudtrail_format_files(make_agent, corpus):
    """Scenario 2b: whole CloudTrail log files (compact .json, pretty .json and .json.gz)."""
    agent = make_agent("ctfiles", file_globs=("in/*.json", "in/*.json.gz"),
                       file_format="cloudtrail")
    src_files = sorted((corpus / "files").glob("*/*.json")) + sorted(
        (corpus / "files").glob("*/*.json.gz"))
    assert len(src_files) >= 57
    want_exact = []  # Verdicts from compact files: byte-identical
    want_min = []  # Verdicts from pretty files: compared after whitespace minification
    rejected = []
    n_records = 0
    for f in src_files:
        shutil.copy(f, agent.root / "in" / f.name)
        data = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        pretty = b"\n  " in data
        for raw in ctrules.cloudtrail_file_records(data):
            n_records += 1
            v = ctrules.judge(raw.encode("utf-8"))
            if not v.accepted:
                rejected.append((raw.encode("utf-8"), v.reasons))
            elif pretty:
                v.out = minify_json(v.out.decode()).encode()
                want_min.append(v)
            else:
                want_exact.append(v)
    assert want_min and want_exact
    n_acc = len(want_exact) + len(want_min)
    agent.start()
    m = settle(agent, n_records, n_acc)
    assert agent.stop(timeout=30) == 0, agent.log()
    files = agent.delivered()
    quarantine = agent.quarantine()

    exact_set = {v.out for v in want_exact}
    exact_files, min_files = [], []
    from helpers import Delivered
    for f in files:
        ex = [r for r in f.records if r in exact_set]
        mi = [minify_json(r.decode()).encode() for r in f.records if r not in exact_set]
        exact_files.append(Delivered(f.path, f.bucket, f.prefix, f.account, f.region, f.ts,
                                     f.size, ex))
        min_files.append(Delivered(f.path, f.bucket, f.prefix, f.account, f.region, f.ts,
                                   f.size, mi))
    p1 = compare_delivered(exact_files, want_exact)
    p2 = compare_delivered(min_files, want_min)
    assert not p1, p1
    assert not p2, p2
    unmatched, unused, wrong = match_quarantine(quarantine, rejected)
    assert not unmatched and not wrong, (unmatched[:3], wrong[:3])
    assert not unused, [(e["reason"], e["record"][:200]) for e in unused[:5]]
    assert not check_metrics(m, files, n_acc, quarantine)
