"""Scenario 3: the HTTP source (POST /v1/events)."""

import json
import threading
import time

import ctrules
from helpers import RecordFactory, compare_delivered, match_quarantine, wait_until

GOOD_NO_ID = (b'{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"210987654321"},'
              b'"eventTime":"2024-01-02T05:04:05.123+02:00","eventSource":"s3.amazonaws.com",'
              b'"eventName":"GetObject","awsRegion":"eu-west-1","readOnly":true}')
MISSING_NAME = (b'{"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com",'
                b'"awsRegion":"eu-west-1"}')
BAD_REGION = (b'{"eventTime":"2024-01-02T03:04:05Z","eventSource":"s3.amazonaws.com",'
              b'"eventName":"X","awsRegion":"../../etc"}')


def reason_ok(err_reason: str, allowed: set) -> bool:
    """An error's reason names the rule: exactly the reason, or the reason then ': detail'."""
    name = err_reason.split(":", 1)[0].strip()
    return name in allowed


def test_http_source(make_agent):
    fac = RecordFactory(limit=300)
    agent = make_agent("http", http=True, file_globs=(), max_body_bytes=300_000,
                       delivery_interval_secs=300)
    agent.start()
    expected = []  # Verdicts of everything that must be delivered
    rejected = []  # (bytes, reasons) that must be quarantined
    n = 0

    def good():
        nonlocal n
        n += 1
        return fac.make(n)[0], fac.verdict(n)

    # 1. ndjson: valid, invalid, blank line, rewritten time + added id, not JSON, CRLF
    g1, v1 = good()
    g3, v3 = good()
    body = b"\n".join([g1, MISSING_NAME, b"", GOOD_NO_ID, b"{not json", g3 + b"\r"]) + b"\n"
    status, resp, _ = agent.post(body)
    assert status == 200, resp
    assert resp["accepted"] == 3 and resp["rejected"] == 2, resp
    errs = resp["errors"]
    assert [e["index"] for e in errs] == [1, 4], resp
    assert reason_ok(errs[0]["reason"], {"missing_field"}), errs
    assert reason_ok(errs[1]["reason"], {"invalid_json"}), errs
    v_noid = ctrules.judge(GOOD_NO_ID)
    assert v_noid.accepted and v_noid.adds_id and v_noid.out != GOOD_NO_ID
    expected += [v1, v_noid, v3]
    rejected += [(MISSING_NAME, {"missing_field"}), (b"{not json", {"invalid_json"})]

    # 2. no Content-Type: JSON lines by default
    g, v = good()
    status, resp, _ = agent.post(g + b"\n", content_type=None)
    assert status == 200 and resp["accepted"] == 1 and resp["rejected"] == 0, resp
    assert resp["errors"] == []
    expected.append(v)

    # 3. application/json array: positions are array indexes
    g, v = good()
    body = b"[" + b",".join([g, b"5", BAD_REGION]) + b"]"
    status, resp, _ = agent.post(body, content_type="application/json")
    assert status == 200, resp
    assert (resp["accepted"], resp["rejected"]) == (1, 2), resp
    assert [e["index"] for e in resp["errors"]] == [1, 2], resp
    assert reason_ok(resp["errors"][0]["reason"], {"not_an_object"}), resp
    assert reason_ok(resp["errors"][1]["reason"], {"invalid_region"}), resp
    expected.append(v)
    rejected += [(b"5", {"not_an_object"}), (BAD_REGION, {"invalid_region"})]

    # 4. application/json single object
    g, v = good()
    status, resp, _ = agent.post(g, content_type="application/json")
    assert status == 200 and (resp["accepted"], resp["rejected"]) == (1, 0), resp
    expected.append(v)

    # 5. no valid record -> 400 with the same JSON answer
    status, resp, _ = agent.post(MISSING_NAME + b"\n" + BAD_REGION + b"\n")
    assert status == 400, (status, resp)
    assert (resp["accepted"], resp["rejected"]) == (0, 2), resp
    assert [e["index"] for e in resp["errors"]] == [0, 1], resp
    rejected += [(MISSING_NAME, {"missing_field"}), (BAD_REGION, {"invalid_region"})]
    status, resp, _ = agent.post(MISSING_NAME, content_type="application/json")
    assert status == 400 and resp["accepted"] == 0 and resp["rejected"] == 1, resp
    rejected.append((MISSING_NAME, {"missing_field"}))

    # 6. more than 100 errors: only the first 100 listed
    g, v = good()
    lines = [b'{"n":%d}' % i for i in range(150)] + [g]
    status, resp, _ = agent.post(b"\n".join(lines))
    assert status == 200, resp
    assert (resp["accepted"], resp["rejected"]) == (1, 150), {k: resp[k] for k in
                                                            ("accepted", "rejected")}
    assert [e["index"] for e in resp["errors"]] == list(range(100))
    expected.append(v)
    rejected += [(l, {"missing_field"}) for l in lines[:150]]

    # 7. body size: exactly max_body_bytes is fine, one byte more is 413 and nothing is taken
    before = agent.metrics()
    recs = []
    size = 0
    while True:
        g, v = good()
        if size + len(g) + 1 > 300_000 - 2000:
            break
        recs.append((g, v))
        size += len(g) + 1
    body = b"\n".join(g for g, _ in recs) + b"\n"
    pad = 300_000 - len(body)
    body_exact = body + b" " * (pad - 1) + b"\n"
    assert len(body_exact) == 300_000
    body_over = body_exact + b"\n"
    status, resp, _ = agent.post(body_over)
    assert status == 413, (status, resp)
    mid = agent.metrics()
    assert mid["opentrail_records_accepted_total"] == before["opentrail_records_accepted_total"]
    status, resp, _ = agent.post(body_exact)
    assert status == 200 and resp["accepted"] == len(recs) and resp["rejected"] == 0, (
        status, resp if not isinstance(resp, dict) else {k: resp[k] for k in ("accepted", "rejected")})
    expected += [v for _, v in recs]

    # 8. concurrent clients
    results = []
    lock = threading.Lock()
    batches = []
    for _t in range(6):
        b = [good() for _ in range(5)]
        batches.append(b)
        expected += [v for _, v in b]

    def client(batch):
        st, rs, _ = agent.post(b"\n".join(g for g, _ in batch))
        with lock:
            results.append((st, rs))
    threads = [threading.Thread(target=client, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 6 and all(st == 200 and rs["accepted"] == 5 for st, rs in results), \
        results

    # 9. 200 means durable: kill -9 right now (delivery_interval is 300 s: nothing delivered
    # yet), restart and drain: every acknowledged record is delivered
    wait_until(lambda: agent.m("opentrail_records_pending") == len(expected), 10,
               what=f"opentrail_records_pending == {len(expected)}")
    m = agent.metrics()
    assert m["opentrail_records_accepted_total"] == len(expected)
    assert m["opentrail_files_delivered_total"] == 0
    agent.kill9()
    agent.start()
    wait_until(lambda: agent.m("opentrail_records_replayed_total") == len(expected), 10,
               what=f"opentrail_records_replayed_total == {len(expected)}")
    assert agent.stop(timeout=30) == 0, agent.log()
    files = agent.delivered()
    problems = compare_delivered(files, expected)
    assert not problems, problems
    unmatched, unused, wrong = match_quarantine(agent.quarantine(), rejected)
    assert not unmatched and not wrong and not unused, (unmatched[:3], wrong[:3], unused[:3])


def test_http_bad_requests_keep_agent_alive(make_agent):
    """Garbage bodies, wrong paths and methods are answered; the agent keeps taking records."""
    fac = RecordFactory(limit=5)
    agent = make_agent("http2", http=True, file_globs=())
    agent.start()
    for body, ctype in [(b"[1,", "application/json"), (b"", "application/x-ndjson"),
                        (b"\xff\xfe\x00", "application/json"), (b"{}", "application/json"),
                        (b"[]", "application/json"), (b"null", "application/json")]:
        status, resp, _ = agent.post(body, content_type=ctype)
        assert 400 <= status < 500, (body, status, resp)
    import urllib.request
    import urllib.error
    for method, path in [("GET", "/v1/events"), ("POST", "/nope")]:
        req = urllib.request.Request(f"http://127.0.0.1:{agent.http_port}{path}", method=method,
                                     data=b"{}" if method == "POST" else None)
        try:
            urllib.request.urlopen(req, timeout=10)
            code = 200
        except urllib.error.HTTPError as e:
            code = e.code
        assert code in (404, 405), (method, path, code)
    rec, *_ = fac.make(1)
    status, resp, _ = agent.post(rec)
    assert status == 200 and resp["accepted"] == 1, resp
    wait_until(lambda: agent.delivered_count() == 1, 20, what="delivery")
    assert agent.alive()
    assert agent.stop() == 0
    assert not compare_delivered(agent.delivered(), [fac.verdict(1)])
    json.dumps(agent.quarantine())
    time.sleep(0)
