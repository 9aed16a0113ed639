"""Event selectors against the real corpus: each operator (Equals, StartsWith, EndsWith,
NotEquals, NotStartsWith, NotEndsWith), resource conditions, several selectors (OR) and basic
selectors, set through the API on live trails. A catch-all config trail receives every record
the agent accepts; each selector trail must receive exactly the records a reference
implementation of CloudTrail's matching rules (written here, independently of the agent)
picks from that set."""

import collections
import time

import pytest

from apihelpers import ApiAgent, log_files, settle
from helpers import CORPUS

CATCH_ALL = {"name": "everything", "home_region": "us-east-1", "s3_bucket_name": "audit-all",
             "is_multi_region_trail": True, "include_global_service_events": True}

# trail name -> advanced selectors (or {"basic": [...]}), in two agents of 4 API trails each
# (the catch-all makes 5, the per-region limit).
ROUNDS = [
    {
        "t-equals": [{"FieldSelectors": [
            {"Field": "eventSource", "Equals": ["s3.amazonaws.com", "kms.amazonaws.com"]}]}],
        "t-starts": [{"FieldSelectors": [
            {"Field": "eventName", "StartsWith": ["Describe", "List"]},
            {"Field": "readOnly", "Equals": ["true"]}]}],
        "t-ends": [{"FieldSelectors": [
            {"Field": "userIdentity.arn", "EndsWith": ["user/christophe", "user/benjamin"]}]}],
        "t-notequals": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "eventSource", "NotEquals": ["ec2.amazonaws.com", "ssm.amazonaws.com"]}]}],
    },
    {
        "t-notstarts": [{"FieldSelectors": [
            {"Field": "eventName", "NotStartsWith": ["Describe", "Get", "List"]}]}],
        "t-notends": [{"FieldSelectors": [
            {"Field": "userIdentity.arn", "NotEndsWith": ["user/bert-jan"]}]}],
        "t-resources": [
            {"Name": "kms keys in us-east-1", "FieldSelectors": [
                {"Field": "resources.type", "Equals": ["AWS::KMS::Key"]},
                {"Field": "resources.ARN", "StartsWith": ["arn:aws:kms:us-east-1:"]}]},
            {"Name": "who am i", "FieldSelectors": [
                {"Field": "eventName", "Equals": ["GetCallerIdentity"]}]}],
        "t-basic": {"basic": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
                               "ExcludeManagementEventSources": ["kms.amazonaws.com"]}]},
    },
]


# -- reference matching (CloudTrail's rules as docs/interfaces.md §3 states them) -------------

def scalar(r, field):
    if field == "eventCategory":
        v = r.get("eventCategory")
        return v if isinstance(v, str) else "Management"
    if field == "readOnly":
        v = r.get("readOnly")
        return {True: "true", False: "false"}.get(v) if isinstance(v, bool) else None
    if field == "userIdentity.arn":
        v = (r.get("userIdentity") or {}).get("arn")
        return v if isinstance(v, str) else None
    v = r.get(field)
    return v if isinstance(v, str) else None


TESTS = {"Equals": lambda v, x: v == x, "StartsWith": lambda v, x: v.startswith(x),
         "EndsWith": lambda v, x: v.endswith(x)}


def holds(value, fs):
    for op, values in fs.items():
        if op in ("Field",):
            continue
        base = op[3:] if op.startswith("Not") else op
        hit = value is not None and any(TESTS[base](value, x) for x in values)
        if hit == op.startswith("Not"):
            return False
    return True


def advanced_match(r, selectors):
    for sel in selectors:
        res_fs = [fs for fs in sel["FieldSelectors"] if fs["Field"].startswith("resources.")]
        other = [fs for fs in sel["FieldSelectors"] if not fs["Field"].startswith("resources.")]
        if not all(holds(scalar(r, fs["Field"]), fs) for fs in other):
            continue
        if res_fs:
            resources = r.get("resources") if isinstance(r.get("resources"), list) else []
            key = {"resources.type": "type", "resources.ARN": "ARN"}

            def one(res):
                return isinstance(res, dict) and all(
                    holds(res.get(key[fs["Field"]]) if isinstance(
                        res.get(key[fs["Field"]]), str) else None, fs) for fs in res_fs)
            if not any(one(x) for x in resources):
                continue
        return True
    return False


def basic_match(r, selectors):
    if scalar(r, "eventCategory") != "Management":
        return False
    ro = scalar(r, "readOnly")
    for s in selectors:
        if not s.get("IncludeManagementEvents", True):
            continue
        if r.get("eventSource") in s.get("ExcludeManagementEventSources", []):
            continue
        rw = s.get("ReadWriteType", "All")
        if rw == "All" or (rw == "ReadOnly" and ro == "true") or (rw == "WriteOnly" and ro == "false"):
            return True
    return False


def by_trail(agent):
    got = {}
    for f in log_files(agent):
        got.setdefault(f.bucket, []).extend(f.records)
    return got


@pytest.mark.parametrize("round_no", [0, 1])
def test_each_operator_against_the_corpus(tmp_path, agents, round_no):
    trails = ROUNDS[round_no]
    agent = ApiAgent(tmp_path / "a", trails=[CATCH_ALL])
    agents.append(agent.start())
    c = agent.client()
    for name, sel in trails.items():
        c.create_trail(Name=name, S3BucketName=f"audit-{name}", IsMultiRegionTrail=True)
        if isinstance(sel, dict):
            out = c.put_event_selectors(TrailName=name, EventSelectors=sel["basic"])
            assert out["EventSelectors"][0]["ReadWriteType"] == sel["basic"][0]["ReadWriteType"]
        else:
            out = c.put_event_selectors(TrailName=name, AdvancedEventSelectors=sel)
            assert [s["FieldSelectors"] for s in out["AdvancedEventSelectors"]] == \
                [s["FieldSelectors"] for s in sel]
        c.start_logging(Name=name)
    time.sleep(1.1)
    lines = [ln for ln in (CORPUS / "records.jsonl").read_bytes().split(b"\n") if ln.strip()]
    agent.feed("corpus", lines)
    settle(agent, len(lines), seconds=2)
    got = by_trail(agent)
    everything = got["audit-all"]
    assert len(everything) > 3000, len(everything)
    for name, sel in trails.items():
        if isinstance(sel, dict):
            want = [r for r in everything if basic_match(r, sel["basic"])]
        else:
            want = [r for r in everything if advanced_match(r, sel)]
        have = got.get(f"audit-{name}", [])
        assert 0 < len(want) < len(everything), f"{name}: selector does not split the corpus"
        w = collections.Counter(r["eventID"] for r in want)
        h = collections.Counter(r["eventID"] for r in have)
        missing, extra = w - h, h - w
        assert not missing and not extra, \
            f"{name}: {len(missing)} missing (e.g. {list(missing)[:3]}), " \
            f"{len(extra)} extra (e.g. {list(extra)[:3]})"


def test_invalid_selectors_are_refused_with_aws_exceptions(tmp_path, agents):
    from botocore.exceptions import ClientError
    agent = ApiAgent(tmp_path / "a")
    agents.append(agent.start())
    c = agent.client()
    c.create_trail(Name="sel-trail", S3BucketName="audit-s")
    cases = [
        ({"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "readOnly", "StartsWith": ["t"]}]}]}, "InvalidEventSelectorsException"),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "noSuchField", "Equals": ["x"]}]}]}, "InvalidEventSelectorsException"),
        ({"AdvancedEventSelectors": [{"FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Nonsense"]}]}]}, "InvalidEventSelectorsException"),
        ({"EventSelectors": [{"DataResources": [{"Type": "AWS::S3::Object",
                                                 "Values": ["not-an-arn"]}]}]},
         "InvalidEventSelectorsException"),
        ({"EventSelectors": [{"ReadWriteType": "All"}] * 6}, "InvalidEventSelectorsException"),
        ({"EventSelectors": [{"ReadWriteType": "All"}],
          "AdvancedEventSelectors": [{"FieldSelectors": [
              {"Field": "eventName", "Equals": ["x"]}]}]}, "InvalidParameterCombinationException"),
    ]
    for params, exception in cases:
        with pytest.raises(ClientError) as e:
            c.put_event_selectors(TrailName="sel-trail", **params)
        assert e.value.response["Error"]["Code"] == exception, params
    # Nothing stuck: the default selectors remain.
    out = c.get_event_selectors(TrailName="sel-trail")
    assert out["EventSelectors"][0]["ReadWriteType"] == "All"
    assert c.describe_trails()["trailList"][0]["HasCustomEventSelectors"] is False
