"""Scenarios 8 and 9: SIGTERM/SIGINT drain with a long delivery interval, and the Prometheus
metrics endpoint."""

import collections
import re
import signal
import time
import urllib.request

import pytest

import ctrules
from helpers import RecordFactory, compare_delivered, delivery_window_ok, wait_until

REQUIRED = ["opentrail_records_accepted_total", "opentrail_records_rejected_total",
            "opentrail_records_delivered_total", "opentrail_files_delivered_total",
            "opentrail_bytes_delivered_total", "opentrail_duplicates_total",
            "opentrail_records_pending", "opentrail_records_replayed_total",
            "opentrail_retries_total"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_drains_everything_read(make_agent, sig):
    fac = RecordFactory()
    agent = make_agent("drain", http=True, delivery_interval_secs=300)
    n_file, n_http = 3000, 200
    with open(agent.root / "in" / "a.jsonl", "wb") as f:
        f.write(b"".join(fac.make(i)[0] + b"\n" for i in range(n_file)))
        partial = fac.make(n_file + n_http)[0]
        f.write(partial[:300])  # not consumed until completed
    t0 = time.time()
    agent.start()
    body = b"\n".join(fac.make(i)[0] for i in range(n_file, n_file + n_http))
    st, resp, _ = agent.post(body)
    assert st == 200 and resp["accepted"] == n_http, resp
    total = n_file + n_http
    wait_until(lambda: agent.m("opentrail_records_accepted_total") == total, 30,
               what="everything read")
    # pending = accepted and not yet delivered (may trail `accepted` by a moment)
    wait_until(lambda: agent.m("opentrail_records_pending") == total, 10,
               what=f"opentrail_records_pending == {total}")
    m = agent.metrics()
    assert m["opentrail_files_delivered_total"] == 0, "delivered before the interval"
    assert not list(agent.out.rglob("*.gz"))

    start = time.monotonic()
    rc = agent.stop(sig, timeout=30)
    took = time.monotonic() - start
    assert rc == 0, agent.log()
    assert took < 10, f"drain took {took:.1f}s"
    files = agent.delivered()
    assert not delivery_window_ok(files, t0, time.time())
    expected = [fac.verdict(i) for i in range(total)]
    problems = compare_delivered(files, expected)
    assert not problems, problems

    # the partial line was not consumed; completed, it is delivered after a restart, once
    with open(agent.root / "in" / "a.jsonl", "ab") as f:
        f.write(partial[300:] + b"\n")
    agent.start()
    wait_until(lambda: agent.m("opentrail_records_accepted_total") == 1, 20,
               what="completed line read")
    assert agent.stop(sig, timeout=30) == 0
    expected.append(fac.verdict(total))
    problems = compare_delivered(agent.delivered(), expected)
    assert not problems, problems
    assert agent.quarantine() == []


def test_metrics_endpoint(make_agent, corpus):
    fac = RecordFactory(limit=100)
    agent = make_agent("metrics", http=True, delivery_interval_secs=1)
    good = [fac.make(i)[0] for i in range(40)]
    bad = [b"{}", b"[1]", b"{", b'{"eventSource":"s3.amazonaws.com","eventName":"X",'
           b'"awsRegion":"../x","eventTime":"2024-01-01T00:00:00Z"}',
           good[0].replace(b'"eventID":"', b'"eventID":"x', 1),
           b"\xff\xfe{}"]
    reasons = collections.Counter()
    for b in bad:
        (r,) = ctrules.judge(b).reasons if len(ctrules.judge(b).reasons) == 1 else (None,)
        assert r, b
        reasons[r] += 1
    with open(agent.root / "in" / "m.jsonl", "wb") as f:
        f.write(b"\n".join(good[:30] + bad) + b"\n")
    agent.start()
    st, resp, _ = agent.post(b"\n".join(good[30:] + bad[:2]))
    assert st == 200 and resp["accepted"] == 10
    reasons["missing_field"] += 1
    reasons["not_an_object"] += 1
    wait_until(lambda: agent.m('opentrail_records_delivered_total{destination="local"}') == 40
               and agent.m("opentrail_records_pending") == 0, 30, what="delivery")
    time.sleep(0.5)

    with urllib.request.urlopen(f"http://127.0.0.1:{agent.metrics_port}/metrics",
                                timeout=5) as r:
        assert r.status == 200
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode()
    assert ctype.startswith("text/plain"), ctype
    # well-formed exposition: every sample line is `name{labels} value`
    sample = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_]+="[^"]*"(,[a-zA-Z_]+="[^"]*")*\})?'
                        r" [-+]?[0-9.eE+-]+\Z")
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split()
            types[name] = typ
        elif line and not line.startswith("#"):
            assert sample.match(line), line
    for name in REQUIRED:
        assert name in types, f"{name} has no # TYPE line"
        assert types[name] == ("gauge" if name == "opentrail_records_pending" else "counter")

    m = agent.metrics()
    files = agent.delivered()
    assert m["opentrail_records_accepted_total"] == 40
    for r in ["invalid_utf8", "invalid_json", "not_an_object", "missing_field",
              "invalid_region", "invalid_event_id", "no_trail", "oversize"]:
        assert m.get(f'opentrail_records_rejected_total{{reason="{r}"}}', 0) == reasons.get(r, 0), r
    assert sum(v for k, v in m.items() if k.startswith("opentrail_records_rejected_total{")) \
        == sum(reasons.values())
    assert m['opentrail_records_delivered_total{destination="local"}'] == 40
    assert m["opentrail_files_delivered_total"] == len(files)
    assert m["opentrail_bytes_delivered_total"] == sum(f.size for f in files)
    assert m["opentrail_duplicates_total"] == 0
    assert m["opentrail_records_pending"] == 0
    assert m["opentrail_records_replayed_total"] == 0
    assert m["opentrail_retries_total"] == 0
    assert len(agent.quarantine()) == sum(reasons.values())
    assert agent.stop() == 0
