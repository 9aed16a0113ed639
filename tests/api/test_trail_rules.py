"""CloudTrail's rules through boto3: trail names, 5 trails per region (multi-region trails count
in every region), home-region rules and shadow trails, global service events, organization
trails (layout and member rights), tags, insight selectors, and persistence across restarts."""

import time

import pytest
from botocore.exceptions import ClientError

from apihelpers import ACCOUNT, MEMBER, ORG, OUTSIDER, ApiAgent, log_files, record, settle, \
    wait_ids


def code(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"]


@pytest.fixture
def agent(tmp_path, agents):
    a = ApiAgent(tmp_path / "a")
    agents.append(a.start())
    return a


def test_names(agent):
    c = agent.client()
    for bad in ["ab", "-trail", "trail-", "has space", "a" * 129, "x..y", "my_-trail"]:
        assert code(c.create_trail, Name=bad, S3BucketName="audit-b") == \
            "InvalidTrailNameException", bad
    c.create_trail(Name="good.name_1-x", S3BucketName="audit-b")
    time.sleep(1.1)  # the same request within the same second would be refused as a replay
    assert code(c.create_trail, Name="good.name_1-x", S3BucketName="audit-b") == \
        "TrailAlreadyExistsException"
    # UpdateTrail of a trail that does not exist.
    assert code(c.update_trail, Name="no-such-trail", S3BucketName="audit-b") == \
        "TrailNotFoundException"


def test_five_trails_per_region_multi_region_counting_everywhere(agent):
    east, west, eu = (agent.client(region=r) for r in ("us-east-1", "us-west-2", "eu-west-1"))
    for i in range(4):
        east.create_trail(Name=f"east-{i}", S3BucketName="audit-b")
    # A multi-region trail from eu-west-1 counts in us-east-1 too: 4 + 1.
    eu.create_trail(Name="everywhere", S3BucketName="audit-b", IsMultiRegionTrail=True)
    assert code(east.create_trail, Name="east-4", S3BucketName="audit-b") == \
        "MaximumNumberOfTrailsExceededException"
    # ...and in us-west-2: 1 + 4 single-region trails, then full.
    for i in range(4):
        west.create_trail(Name=f"west-{i}", S3BucketName="audit-b")
    assert code(west.create_trail, Name="west-4", S3BucketName="audit-b") == \
        "MaximumNumberOfTrailsExceededException"
    # Another multi-region trail is refused wherever it is created (us-east-1 is full).
    assert code(eu.create_trail, Name="everywhere-2", S3BucketName="audit-b",
                IsMultiRegionTrail=True) == "MaximumNumberOfTrailsExceededException"
    # Turning a single-region trail into a multi-region one counts too.
    assert code(west.update_trail, Name="west-0", IsMultiRegionTrail=True) == \
        "MaximumNumberOfTrailsExceededException"
    east.delete_trail(Name="east-0")
    time.sleep(1.1)  # the same request within the same second would be refused as a replay
    east.create_trail(Name="east-4", S3BucketName="audit-b")
    assert len(east.list_trails()["Trails"]) == 9


def test_home_region_and_shadow_trails(agent):
    eu, east = agent.client(region="eu-west-1"), agent.client(region="us-east-1")
    multi = eu.create_trail(Name="multi-eu", S3BucketName="audit-b", IsMultiRegionTrail=True)
    eu.create_trail(Name="single-eu", S3BucketName="audit-b")
    assert multi["TrailARN"] == f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/multi-eu"
    # From us-east-1: the multi-region trail is visible (a shadow), the single-region one not.
    shadows = east.describe_trails()["trailList"]
    assert [(t["Name"], t["HomeRegion"]) for t in shadows] == [("multi-eu", "eu-west-1")]
    assert east.describe_trails(includeShadowTrails=False)["trailList"] == []
    assert east.get_trail(Name="multi-eu")["Trail"]["HomeRegion"] == "eu-west-1"
    assert code(east.get_trail, Name="single-eu") == "TrailNotFoundException"
    # Changes only from the home region.
    arn = multi["TrailARN"]
    for call, kw in [(east.stop_logging, {"Name": arn}), (east.delete_trail, {"Name": "multi-eu"}),
                     (east.update_trail, {"Name": arn, "S3BucketName": "audit-c"}),
                     (east.put_event_selectors, {"TrailName": arn, "EventSelectors": [
                         {"ReadWriteType": "All"}]}),
                     (east.start_logging, {"Name": arn})]:
        assert code(call, **kw) == "InvalidHomeRegionException", call
    # ListTrails lists every trail of the account, whatever the caller's region.
    assert {t["Name"] for t in east.list_trails()["Trails"]} == {"multi-eu", "single-eu"}
    # Multi-region trails must include global service events.
    assert code(eu.create_trail, Name="multi-noglobal", S3BucketName="audit-b",
                IsMultiRegionTrail=True, IncludeGlobalServiceEvents=False) == \
        "InvalidParameterCombinationException"
    assert code(eu.update_trail, Name="multi-eu", IncludeGlobalServiceEvents=False) == \
        "InvalidParameterCombinationException"
    eu.delete_trail(Name=arn)


def test_regions_and_global_events_are_delivered_once(agent):
    c = agent.client()
    eu = agent.client(region="eu-west-1")
    c.create_trail(Name="all-regions", S3BucketName="audit-all", IsMultiRegionTrail=True)
    c.start_logging(Name="all-regions")
    eu.create_trail(Name="eu-only", S3BucketName="audit-eu")
    eu.start_logging(Name="eu-only")
    time.sleep(1.1)
    regional = [record(region="eu-west-1"), record(region="us-west-2"), record()]
    iam = record(source="iam.amazonaws.com", name="CreateUser", region="us-east-1")
    iam_eu = record(source="sts.amazonaws.com", name="GetCallerIdentity", read_only=True,
                    region="eu-west-1")
    agent.feed("r", regional + [iam, iam_eu])
    wait_ids(agent, "audit-all", [r["eventID"] for r in regional + [iam, iam_eu]])
    settle(agent, 5)
    seen = {}
    for f in log_files(agent, "audit-all"):
        for r in f.records:
            seen.setdefault(r["eventID"], []).append(f.rel[4])
    assert all(len(v) == 1 for v in seen.values()), "each record exactly once"
    assert seen[iam["eventID"]] == ["us-east-1"], "global service events go to us-east-1"
    assert seen[regional[0]["eventID"]] == ["eu-west-1"]
    # The single-region trail in eu-west-1 takes its region's records only.
    eu_ids = {r["eventID"] for f in log_files(agent, "audit-eu") for r in f.records}
    assert regional[0]["eventID"] in eu_ids
    assert regional[1]["eventID"] not in eu_ids and regional[2]["eventID"] not in eu_ids


def test_organization_trail(tmp_path, agents):
    agent = ApiAgent(tmp_path / "org", org_members=[MEMBER])
    agents.append(agent.start())
    admin, member = agent.client(), agent.client("member")
    assert code(member.create_trail, Name="member-trail", S3BucketName="audit-m") == \
        "NotOrganizationMasterAccountException"
    t = admin.create_trail(Name="org-trail", S3BucketName="audit-org", IsMultiRegionTrail=True,
                           IsOrganizationTrail=True)
    assert t["IsOrganizationTrail"] is True
    admin.start_logging(Name="org-trail")
    # Members see the organization trail and cannot change it.
    names = [x["Name"] for x in member.describe_trails()["trailList"]]
    assert names == ["org-trail"]
    assert member.get_trail_status(Name=t["TrailARN"])["IsLogging"] is True
    for call, kw in [(member.stop_logging, {"Name": t["TrailARN"]}),
                     (member.delete_trail, {"Name": t["TrailARN"]}),
                     (member.put_event_selectors, {"TrailName": t["TrailARN"], "EventSelectors": [
                         {"ReadWriteType": "ReadOnly"}]}),
                     (member.update_trail, {"Name": t["TrailARN"], "S3BucketName": "audit-x"})]:
        assert code(call, **kw) == "NotOrganizationMasterAccountException", call
    assert admin.get_trail_status(Name="org-trail")["IsLogging"] is True
    time.sleep(1.1)
    own, mem, out = record(), record(account=MEMBER), record(account=OUTSIDER)
    agent.feed("org", [own, mem, out])
    wait_ids(agent, "audit-org", [own["eventID"], mem["eventID"]])
    settle(agent, 3)
    where = {}
    for f in log_files(agent, "audit-org"):
        for r in f.records:
            where[r["eventID"]] = f.rel
    # audit-org/AWSLogs/<o-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_…
    assert where[own["eventID"]][1:6] == ("AWSLogs", ORG, ACCOUNT, "CloudTrail", "us-east-1")
    assert where[mem["eventID"]][1:6] == ("AWSLogs", ORG, MEMBER, "CloudTrail", "us-east-1")
    assert where[mem["eventID"]][-1].startswith(f"{MEMBER}_CloudTrail_us-east-1_")
    assert out["eventID"] not in where, "accounts outside the organization stay out"
    # Without [organization], organization trails are refused.
    plain = ApiAgent(tmp_path / "plain")
    agents.append(plain.start())
    assert code(plain.client().create_trail, Name="org-trail", S3BucketName="audit-org",
                IsMultiRegionTrail=True, IsOrganizationTrail=True) == \
        "OrganizationsNotInUseException"


def test_tags_insights_and_restart(agent):
    c = agent.client()
    arn = c.create_trail(Name="tagged", S3BucketName="audit-b",
                         TagsList=[{"Key": "team", "Value": "orders"}])["TrailARN"]
    c.add_tags(ResourceId=arn, TagsList=[{"Key": "env", "Value": "prod"}])
    c.remove_tags(ResourceId=arn, TagsList=[{"Key": "team"}])
    assert code(c.add_tags, ResourceId=arn, TagsList=[{"Key": "aws:x", "Value": "v"}]) == \
        "InvalidTagParameterException"
    c.put_insight_selectors(TrailName="tagged",
                            InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    c.put_event_selectors(TrailName="tagged", EventSelectors=[
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True,
         "ExcludeManagementEventSources": ["kms.amazonaws.com"]}])
    before = (c.list_tags(ResourceIdList=[arn])["ResourceTagList"],
              c.get_insight_selectors(TrailName="tagged")["InsightSelectors"],
              c.get_event_selectors(TrailName="tagged")["EventSelectors"],
              c.describe_trails()["trailList"])
    assert before[0] == [{"ResourceId": arn, "TagsList": [{"Key": "env", "Value": "prod"}]}]
    assert before[3][0]["HasCustomEventSelectors"] is True
    assert before[3][0]["HasInsightSelectors"] is True
    agent.stop()
    agent.start()
    c = agent.client()
    after = (c.list_tags(ResourceIdList=[arn])["ResourceTagList"],
             c.get_insight_selectors(TrailName="tagged")["InsightSelectors"],
             c.get_event_selectors(TrailName="tagged")["EventSelectors"],
             c.describe_trails()["trailList"])
    assert after == before
