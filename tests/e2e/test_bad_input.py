"""Scenario 6: hostile and broken input. Each line's fate is computed from the rules; nothing
may be written outside local_root (or data_dir) and the agent keeps running."""

import json
import os
from pathlib import Path

import ctrules
from helpers import RecordFactory, compare_delivered, match_quarantine, wait_until

MAX = 262_144


def base(**over):
    rec = {"eventVersion": "1.08",
           "userIdentity": {"type": "IAMUser", "accountId": "111122223333"},
           "eventTime": "2024-01-02T03:04:05Z", "eventSource": "s3.amazonaws.com",
           "eventName": "GetObject", "awsRegion": "eu-west-1",
           "eventID": "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f", "readOnly": True,
           "requestParameters": {"bucketName": "b"}}
    for k, v in over.items():
        if v is ... and k in rec:
            del rec[k]
        elif v is not ...:
            rec[k] = v
    return rec


def enc(rec) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode()


_uid = 0


def uniq(rec):
    """Gives each case a distinct eventID (when it has a valid one) so outputs are distinct."""
    global _uid
    _uid += 1
    if isinstance(rec, dict) and rec.get("eventID") == "b7d4398e-b2f0-4faa-9c76-e2d316a8d67f":
        rec["eventID"] = f"b7d4398e-b2f0-4faa-9c76-{_uid:012x}"
    return rec


def sized(n: int, **over) -> bytes:
    """A valid record of exactly n bytes (padded in an unknown field)."""
    rec = uniq(base(**over))
    rec["pad"] = ""
    short = enc(rec)
    rec["pad"] = "x" * (n - len(short))
    out = enc(rec)
    assert len(out) == n
    return out


def nested(depth: int, open_="[", close="]") -> bytes:
    rec = uniq(base())
    rec["requestParameters"] = "@@NEST@@"
    return enc(rec).replace(b'"@@NEST@@"', open_.encode() * depth + close.encode() * depth)


def nested_obj(depth: int) -> bytes:
    rec = uniq(base())
    rec["requestParameters"] = "@@NEST@@"
    return enc(rec).replace(b'"@@NEST@@"', b'{"a":' * depth + b"1" + b"}" * depth)


def cases():
    """-> list of lines (bytes)."""
    good = enc(uniq(base()))
    L = [
        # path-like or malformed accounts
        enc(uniq(base(recipientAccountId="../x"))),
        enc(uniq(base(recipientAccountId="../../../../../../escape"))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": "12345678901/"}))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": "..%2f..%2fx"}))),
        enc(uniq(base(recipientAccountId="１２３４５６７８９０１２"))),  # full-width digits
        enc(uniq(base(recipientAccountId=123456789012))),
        enc(uniq(base(userIdentity={"type": "Root"}))),  # falls back to account_id
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": "444455556666"},
                      recipientAccountId="777788889999"))),
        # path-like or malformed regions
        enc(uniq(base(awsRegion="../x"))),
        enc(uniq(base(awsRegion="US-EAST-1"))),
        enc(uniq(base(awsRegion="us-east-1/../../../escape"))),
        enc(uniq(base(awsRegion=".."))),
        enc(uniq(base(awsRegion=""))),
        enc(uniq(base(awsRegion="-us-east-1"))),
        enc(uniq(base(awsRegion="us-east-1-"))),
        enc(uniq(base(awsRegion="a" * 33))),
        enc(uniq(base(awsRegion="b" * 32))),
        enc(uniq(base(awsRegion="us-east-1\u0000"))),
        enc(uniq(base(awsRegion="us east 1"))),
        enc(uniq(base(awsRegion="us-west-2"))).replace(b'"us-west-2"', b'"\\u0075s-west-2"'),
        enc(uniq(base(awsRegion="x"))),
        enc(uniq(base(eventSource="../../../escape"))),
        # global service events are filed under us-east-1 whatever their awsRegion
        enc(uniq(base(eventSource="iam.amazonaws.com", awsRegion="eu-central-1"))),
        enc(uniq(base(eventSource="sts.amazonaws.com", awsRegion="ap-south-1"))),
        # invalid UTF-8
        good.replace(b'"bucketName":"b"', b'"bucketName":"\xff\xfe"'),
        good.replace(b'"bucketName":"b"', b'"bucketName":"\xc0\xaf"'),  # overlong '/'
        good.replace(b'"bucketName":"b"', b'"bucketName":"\xed\xa0\x80"'),  # surrogate
        good[:-1] + b',"x":"\xe2\x82"}',  # truncated sequence
        b"\xef\xbb\xbf" + enc(uniq(base())),  # byte-order mark
        # size limits (the record itself; surrounding whitespace is not counted)
        sized(MAX),
        sized(MAX + 1),
        b"   " + sized(MAX) + b"\t ",
        sized(MAX + 1000, recipientAccountId="../x"),
        # nesting
        nested(100),
        nested_obj(100),
        # JSON shapes
        b"{}",
        b"[]",
        b"[" + good + b"]",
        b'"just a string"',
        b"null",
        b"42",
        b"true",
        good[:-1],
        good[:-1] + b',"x":NaN}',
        good[:-1] + b',"x":01}',
        good + b"}",
        good + b" " + good,
        good.replace(b":", b":\x00", 1),
        good[:-1] + b',"eventName":"Again"}',
        good[:-1] + b',"unknownField":1,"unknownField":2}',
        enc(uniq(base())).replace(b'"accountId":"111122223333"',
                                  b'"accountId":"111122223333","accountId":"222233334444"'),
        # field types and shapes
        enc(uniq(base(eventName=5))),
        enc(uniq(base(eventSource=None))),
        enc(uniq(base(eventTime=...))),
        enc(uniq(base(awsRegion=["us-east-1"]))),
        enc(uniq(base(eventTime="2024-01-02T05:04:05.123+02:00"))),
        enc(uniq(base(eventTime="2024-01-02t03:04:05.999999z"))),
        enc(uniq(base(eventTime="2024-12-31T23:30:00-01:00"))),
        enc(uniq(base(eventTime="2024-02-30T00:00:00Z"))),
        # a leap second (RFC 3339 allows :60) is filed as :59 of that minute
        enc(uniq(base(eventTime="2016-12-31T23:59:60Z"))),
        enc(uniq(base(eventTime="2024-01-02T03:04:60+01:00"))),
        enc(uniq(base(eventTime="2024-01-02T03:04:05"))),
        # RFC 3339 separates date and time with T (§5.6; a space only "by agreement"): refused
        enc(uniq(base(eventTime="2024-01-02 03:04:05Z"))),
        enc(uniq(base(eventTime="2024-01-02 05:04:05+02:00"))),
        enc(uniq(base(eventTime="1704164645"))),
        enc(uniq(base(eventTime=1704164645))),
        enc(uniq(base(eventID=...))),
        enc(base(eventID=..., userIdentity={"type": "IAMUser", "accountId": "121212121212"})),
        enc(uniq(base(eventID="B7D4398E-B2F0-4FAA-9C76-E2D316A8D67F"))),
        enc(uniq(base(eventID="not-a-uuid"))),
        enc(uniq(base(eventID="b7d4398eb2f04faa9c76e2d316a8d67f"))),
        enc(uniq(base(eventID=5))),
        enc(uniq(base(eventVersion="1.0x"))),
        enc(uniq(base(eventVersion="v1"))),
        enc(uniq(base(eventVersion=1.08))),
        enc(uniq(base(eventVersion="1.11"))),
        enc(uniq(base(readOnly="true"))),
        enc(uniq(base(managementEvent=False))),
        enc(uniq(base(userIdentity="x"))),
        enc(uniq(base(userIdentity={"type": "AssumedRole", "accountId": "111122223333",
                                    "sessionContext": []}))),
        enc(uniq(base(resources={}))),
        enc(uniq(base(resources=[1]))),
        enc(uniq(base(resources=[]))),
        enc(uniq(base(resources=[{"ARN": "arn:aws:s3:::b", "type": "AWS::S3::Bucket"}]))),
        enc(uniq(base(resources=[None]))),
        # nested well-known members (docs/intake-rules.md): typed shapes; null where allowed
        enc(uniq(base(userIdentity={"type": {}, "accountId": "111122223333"}))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "arn": None,
                                    "accountId": "111122223333"}))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "principalId": 5,
                                    "accountId": "111122223333"}))),
        enc(uniq(base(userIdentity={"type": "AssumedRole", "accountId": "111122223333",
                                    "sessionContext": {"attributes": {"mfaAuthenticated": False}}}))),
        enc(uniq(base(userIdentity={"type": "AssumedRole", "accountId": "111122223333",
                                    "sessionContext": {"attributes": {"mfaAuthenticated": None,
                                                                      "creationDate": "x"}}}))),
        enc(uniq(base(userIdentity={"type": "AssumedRole", "accountId": "111122223333",
                                    "sessionContext": {"sessionIssuer": []}}))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": "111122223333",
                                    "onBehalfOf": None}))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": "111122223333",
                                    "inScopeOf": None}))),
        # string maps: null values pass (CPL takes them), other non-strings do not
        enc(uniq(base(userIdentity={"type": "WebIdentityUser", "accountId": "111122223333",
                                    "sessionContext": {"webIdFederationData": {
                                        "federatedProvider": "cognito-identity.amazonaws.com",
                                        "attributes": {"cognito:amr": None, "aud": "x"}}}}))),
        enc(uniq(base(userIdentity={"type": "WebIdentityUser", "accountId": "111122223333",
                                    "sessionContext": {"webIdFederationData": {
                                        "attributes": {"aud": 1}}}}))),
        enc(uniq(base(edgeDeviceDetails={"type": "outposts", "deviceId": "d-1",
                                         "attributes": {"rack": None, "site": "s"}}))),
        enc(uniq(base(edgeDeviceDetails={"type": "outposts", "attributes": {"rack": ["a"]}}))),
        enc(uniq(base(tlsDetails=None))),
        enc(uniq(base(tlsDetails="TLSv1.2"))),
        enc(uniq(base(tlsDetails={"tlsVersion": "TLSv1.3", "cipherSuite": 1}))),
        enc(uniq(base(addendum={"reason": "UPDATED_DATA", "updatedFields": ["a", "b"]}))),
        enc(uniq(base(insightDetails={"state": "Start", "insightContext": {"attributions": {}}}))),
        enc(uniq(base(requestParameters="a string"))),
        enc(uniq(base(requestParameters=[1, 2]))),
        enc(uniq(base(responseElements=5))),
        enc(uniq(base(sharedEventID="not-a-uuid"))),
        enc(uniq(base(eventVersion="9.99"))),
        enc(uniq(base())).replace(b'"type":"IAMUser"', b'"type":"IAMUser","type":"Root"'),
    ]
    return L


def null_cases():
    """Fields that are present with the value null. The rules say a present recipientAccountId /
    userIdentity.accountId / eventID / eventVersion must be a string, readOnly/managementEvent a
    boolean, userIdentity/sessionContext an object and resources an array: null is none of
    those, so each is wrong_type."""
    return [
        enc(uniq(base(recipientAccountId=None))),
        enc(uniq(base(userIdentity={"type": "IAMUser", "accountId": None}))),
        enc(uniq(base(eventID=None))),
        enc(uniq(base(eventVersion=None))),
        enc(uniq(base(readOnly=None))),
        enc(uniq(base(managementEvent=None))),
        enc(uniq(base(userIdentity=None, recipientAccountId="111122223333"))),
        enc(uniq(base(userIdentity={"type": "AssumedRole", "accountId": "111122223333",
                                    "sessionContext": None}))),
        enc(uniq(base(resources=None))),
    ]


def expected(lines):
    acc, rej = [], []
    for line in lines:
        v = ctrules.judge(line, max_record_bytes=MAX)
        if v.blank:
            continue
        if v.accepted:
            acc.append(v)
        else:
            rej.append((line.strip(ctrules.WS), v.reasons))
    return acc, rej


def snapshot(root: Path):
    return {p for p in root.rglob("*")}


def test_bad_input_file_and_http(make_agent, tmp_path):
    lines = cases()
    acc, rej = expected(lines)
    # sanity of the model on a few cases we know by heart
    assert len(acc) >= 20 and len(rej) >= 50
    reasons = set().union(*(r for _, r in rej))
    assert {"invalid_account", "invalid_region", "invalid_utf8", "oversize", "missing_field",
            "wrong_type", "not_an_object", "invalid_json", "duplicate_field",
            "invalid_event_time", "invalid_event_id", "invalid_event_version"} <= reasons
    deep = nested(50_000)
    deep_obj = nested_obj(40_000)
    assert len(deep) < MAX and len(deep_obj) < MAX

    agent = make_agent("bad", http=True)
    before = snapshot(tmp_path)
    agent.start()
    data = b"\n".join(lines) + b"\n"
    (agent.root / "in" / "bad.jsonl").write_bytes(data)
    wait_until(lambda: agent.delivered_count() >= len(acc), 30, what="file records delivered")

    # the same lines over HTTP: per-line reasons in the answer
    status, resp, _ = agent.post(data)
    assert status == 200, (status, resp)
    assert resp["accepted"] == len(acc) and resp["rejected"] == len(rej), \
        (resp["accepted"], resp["rejected"], len(acc), len(rej))
    bad_idx = [i for i, line in enumerate(lines)
               if not ctrules.judge(line, max_record_bytes=MAX).accepted]
    assert [e["index"] for e in resp["errors"]] == bad_idx[:100]
    for e in resp["errors"]:
        allowed = ctrules.judge(lines[e["index"]], max_record_bytes=MAX).reasons
        assert e["reason"].split(":", 1)[0] in allowed, (lines[e["index"]][:200], e, allowed)

    # very deep nesting: valid JSON; the agent may refuse it as invalid_json but must survive
    # and account for it (delivered or quarantined)
    with open(agent.root / "in" / "deep.jsonl", "wb") as f:
        f.write(deep + b"\n" + deep_obj + b"\n")
    st, resp_deep, _ = agent.post(deep + b"\n" + deep_obj)
    assert st in (200, 400), st

    # still alive and taking records
    fac = RecordFactory(limit=3)
    ok_rec = fac.make(1)[0]
    with open(agent.root / "in" / "bad.jsonl", "ab") as f:
        f.write(ok_rec + b"\n")
    total_acc = 2 * len(acc) + 1
    wait_until(lambda: agent.delivered_count() >= total_acc + resp_deep["accepted"], 30,
               what="good record after bad input")
    assert agent.alive()
    assert agent.stop() == 0, agent.log()

    # outputs: exactly the accepted records (twice: file and HTTP), under the right dirs
    files = agent.delivered()
    deep_delivered = [r for f in files for r in f.records 
                      if len(r) >= 100_000 and (b"[" * 1000 in r or b'{"a":' * 1000 in r)]
    want = acc + acc + [fac.verdict(1)]
    others = [f for f in files]
    for f in others:
        f.records = [r for r in f.records if r not in deep_delivered]
    problems = compare_delivered(others, want)
    assert not problems, problems
    regions = {(f.account, f.region) for f in files}
    assert ("111122223333", "us-west-2") in regions  # \u0075s-west-2 decoded
    assert ("111122223333", "us-east-1") in regions  # global service events
    assert ("123456789012", "eu-west-1") in regions  # default account
    assert ("777788889999", "eu-west-1") in regions  # recipientAccountId first

    # quarantine: every refused line, twice (file and HTTP), with an allowed reason
    q = agent.quarantine()
    deep_q = [e for e in q if e["record_bytes"] in (len(deep), len(deep_obj))]
    q = [e for e in q if e not in deep_q]
    unmatched, unused, wrong = match_quarantine(q, rej + rej)
    assert not unmatched, unmatched[:5]
    assert not wrong, wrong[:5]
    assert not unused, [(e["reason"], e["record"][:100]) for e in unused[:5]]
    # the deep records: 4 inputs, each delivered or quarantined as invalid_json
    assert len(deep_delivered) + len(deep_q) == 4, (len(deep_delivered), len(deep_q))
    assert all(e["reason"] == "invalid_json" for e in deep_q), [e["reason"] for e in deep_q]

    # nothing written outside out/ and data/
    after = snapshot(tmp_path)
    new = after - before
    root = agent.root.resolve()
    allowed_dirs = [root / "out", root / "data", root / "in"]
    outside = [p for p in new
               if not any(p.resolve().is_relative_to(d) for d in allowed_dirs)
               and p.resolve() != root / "agent.log"]
    assert not outside, outside
    for p in (root / "out").rglob("*"):
        assert p.resolve().is_relative_to(root / "out")
        assert "escape" not in p.name and ".." not in p.parts
    for p in (root / "data").rglob("*"):
        assert "escape" not in str(p.relative_to(root)), p
    assert not any("escape" in str(p) for p in tmp_path.parent.iterdir())
    assert not Path("/escape").exists()
    assert os.path.isdir(root / "out" / "audit-logs" / "AWSLogs")


def test_null_valued_fields_are_wrong_type(make_agent):
    """A field that is present with the value null is not absent: it has the wrong type."""
    lines = null_cases()
    for line in lines:
        assert ctrules.judge(line).reasons == {"wrong_type"}, line
    agent = make_agent("nulls", http=True, file_globs=())
    agent.start()
    status, resp, _ = agent.post(b"\n".join(lines))
    agent.stop()
    files = agent.delivered()
    accepted_wrongly = []
    errs = {e["index"] for e in resp["errors"]}
    for i, line in enumerate(lines):
        if i not in errs:
            field = [k for k, v in json.loads(line).items() if v is None] or ["(nested)"]
            accepted_wrongly.append(field[0])
    # what became of the eventID:null record: a second eventID member appended?
    dup_id = [r for f in files for r in f.records
              if r.count(b'"eventID":') > 1]
    assert status == 400 and not accepted_wrongly and not dup_id, (
        f"status {status}; accepted although null: {accepted_wrongly}; "
        f"delivered records with two eventID members: {[r[-120:] for r in dup_id]}")
