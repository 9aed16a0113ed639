"""Authentication and authorization: every mutating action refused, with AWS's exception and
HTTP status, when unsigned, badly signed, signed by an unknown key, expired, from the future,
replayed, or not granted by the caller's policy; and nothing changes when refused. Also the
first start's generated credentials, the credentials file's permission check, and TLS."""

import datetime
import json
import os
import stat
import subprocess

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from apihelpers import ACCOUNT, USERS, ApiAgent, record, wait_ids
from helpers import BIN
from authprobe import raw_request, send, sign

TRAIL = "protected-orders"
BUCKET = "audit-protected"

# Each mutating action with parameters that would succeed for the admin.
MUTATIONS = {
    # (named protected-* so that the limited user's explicit deny covers it too)
    "CreateTrail": {"Name": "protected-intruder", "S3BucketName": "audit-intruder"},
    "UpdateTrail": {"Name": TRAIL, "S3BucketName": "audit-elsewhere"},
    "DeleteTrail": {"Name": TRAIL},
    "StartLogging": {"Name": TRAIL},
    "StopLogging": {"Name": TRAIL},
    "PutEventSelectors": {"TrailName": TRAIL, "EventSelectors": [
        {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]},
    "PutInsightSelectors": {"TrailName": TRAIL, "InsightSelectors": [
        {"InsightType": "ApiCallRateInsight"}]},
    "AddTags": {"ResourceId": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}",
                "TagsList": [{"Key": "owner", "Value": "mallory"}]},
    "RemoveTags": {"ResourceId": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}",
                   "TagsList": [{"Key": "team"}]},
}


def creds(user):
    key, secret, _ = USERS[user]
    return Credentials(key, secret)


def body(params):
    return json.dumps(params).encode()


def snapshot(agent):
    c = agent.client()
    arn = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{TRAIL}"
    status = c.get_trail_status(Name=TRAIL)
    return {
        "trails": c.describe_trails()["trailList"],
        "logging": status["IsLogging"],
        "selectors": c.get_event_selectors(TrailName=TRAIL)["EventSelectors"],
        "insights": insights(c),
        "tags": c.list_tags(ResourceIdList=[arn])["ResourceTagList"],
        "file": agent.trails_json(),
    }


def insights(c):
    try:
        return c.get_insight_selectors(TrailName=TRAIL).get("InsightSelectors")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InsightNotEnabledException", e
        return None


@pytest.fixture
def protected(tmp_path, agents):
    agent = ApiAgent(tmp_path / "a")
    agents.append(agent.start())
    c = agent.client()
    c.create_trail(Name=TRAIL, S3BucketName=BUCKET, IsMultiRegionTrail=True,
                   TagsList=[{"Key": "team", "Value": "orders"}])
    c.start_logging(Name=TRAIL)
    return agent


def failures(endpoint, op, params):
    """(what, status, answer, expected exception, expected status) for each failure mode."""
    now = datetime.datetime.now(datetime.timezone.utc)
    out = []

    status, answer = send(raw_request(endpoint, op, body(params)))
    out.append(("unsigned", status, answer, "MissingAuthenticationTokenException", 403))

    forged = Credentials(USERS["admin"][0], "wrong-secret-0123456789abcdefghijklmn")
    status, answer = send(sign(raw_request(endpoint, op, body(params)), forged, "us-east-1"))
    out.append(("wrong secret", status, answer, "InvalidSignatureException", 400))

    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("admin"),
                               "us-east-1", service="s3"))
    out.append(("signed for another service", status, answer, "IncompleteSignatureException", 400))

    req = raw_request(endpoint, op, body(params))
    req.headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={USERS['admin'][0]}/"
                                    "20260101/us-east-1/cloudtrail/aws4_request")
    status, answer = send(req)
    out.append(("Authorization without a signature", status, answer,
                "IncompleteSignatureException", 400))

    key, secret, _ = USERS["admin"]
    status, answer = send(sign(raw_request(endpoint, op, body(params)),
                               Credentials(key, secret, "session-token"), "us-east-1"))
    out.append(("session token", status, answer, "UnrecognizedClientException", 400))

    stranger = Credentials("AKIAUNKNOWN000000001", "stranger-secret-0123456789abcdefghij")
    status, answer = send(sign(raw_request(endpoint, op, body(params)), stranger, "us-east-1"))
    out.append(("unknown key", status, answer, "UnrecognizedClientException", 400))

    old = now - datetime.timedelta(minutes=16)
    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("admin"),
                               "us-east-1", when=old))
    out.append(("expired", status, answer, "InvalidSignatureException", 400))

    future = now + datetime.timedelta(minutes=16)
    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("admin"),
                               "us-east-1", when=future))
    out.append(("from the future", status, answer, "InvalidSignatureException", 400))

    tampered = sign(raw_request(endpoint, op, body(params)), creds("admin"), "us-east-1")
    status, answer = send(tampered, body=body({**params, "x": 1}))
    out.append(("body changed after signing", status, answer, "InvalidSignatureException", 400))

    # A request signed by the auditor: refused by policy, and its replay refused as a replay
    # (before the policy is looked at).
    signed = sign(raw_request(endpoint, op, body(params)), creds("auditor"), "us-east-1")
    status, answer = send(signed)
    out.append(("read-only policy", status, answer, "AccessDeniedException", 400))
    status, answer = send(signed)
    out.append(("replayed", status, answer, "InvalidSignatureException", 400))

    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("nobody"),
                               "us-east-1"))
    out.append(("no policy", status, answer, "AccessDeniedException", 400))

    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("limited"),
                               "us-east-1"))
    out.append(("explicit deny on the trail", status, answer, "AccessDeniedException", 400))

    status, answer = send(sign(raw_request(endpoint, op, body(params)), creds("outsider"),
                               "us-east-1"))
    out.append(("another account's principal", status, answer, "AccessDeniedException", 400))
    return out


@pytest.mark.parametrize("op", sorted(MUTATIONS))
def test_refused_mutation_changes_nothing(protected, op):
    agent = protected
    before = snapshot(agent)
    bad = []
    for what, status, answer, exception, code in failures(agent.api, op, MUTATIONS[op]):
        if answer.get("__type") != exception or status != code:
            bad.append(f"{what}: got {status} {answer}, want {code} {exception}")
        elif exception == "AccessDeniedException" and what != "another account's principal":
            assert f"cloudtrail:{op}" in answer["message"], answer
    assert not bad, "\n".join(bad)
    assert snapshot(agent) == before, f"a refused {op} changed something"
    # The trail still delivers.
    recs = [record() for _ in range(3)]
    agent.feed(f"after-{op}", recs)
    wait_ids(agent, BUCKET, [r["eventID"] for r in recs])


def test_granted_calls_work_and_messages_name_the_principal(protected):
    agent = protected
    # The auditor reads; the limited user acts on other trails but not on protected-*.
    assert agent.client("auditor").describe_trails()["trailList"][0]["Name"] == TRAIL
    limited = agent.client("limited")
    limited.create_trail(Name="other-trail", S3BucketName="audit-other")
    limited.start_logging(Name="other-trail")
    with pytest.raises(ClientError) as e:
        limited.stop_logging(Name=TRAIL)
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert USERS["limited"][2] in err["Message"] and "explicit deny" in err["Message"], err
    for user in ("nobody", "outsider"):
        with pytest.raises(ClientError) as e:
            agent.client(user).describe_trails()
        assert e.value.response["Error"]["Code"] == "AccessDeniedException", user
    # Identical read calls within one second are all answered (reads are not replay checked:
    # botocore signs nothing unique per call).
    c = agent.client("auditor")
    answers = [c.list_trails()["Trails"] for _ in range(5)]
    assert all(len(a) == 2 for a in answers), answers


def test_first_start_creates_an_admin_key(tmp_path, agents):
    agent = ApiAgent(tmp_path / "a", access=False)
    agents.append(agent.start())
    cred = agent.data / "api" / "credentials.json"
    assert stat.S_IMODE(os.stat(cred).st_mode) == 0o600
    key = json.loads(cred.read_text())["keys"][0]
    assert key["principal"] == f"arn:aws:iam::{ACCOUNT}:user/opentrail-admin"
    log = agent.log()
    assert str(cred) in log, "the created file's path is logged"
    assert key["secret_access_key"] not in log, "the secret is never logged"
    import boto3
    c = boto3.client("cloudtrail", endpoint_url=agent.api, region_name="us-east-1",
                     aws_access_key_id=key["access_key_id"],
                     aws_secret_access_key=key["secret_access_key"])
    c.create_trail(Name="first-trail", S3BucketName="audit-first")
    assert [t["Name"] for t in c.describe_trails()["trailList"]] == ["first-trail"]


def test_readable_credentials_file_is_refused(tmp_path):
    agent = ApiAgent(tmp_path / "a")
    cred = agent.data / "api" / "credentials.json"
    os.chmod(cred, 0o644)
    p = subprocess.run([BIN, "run", "--config", str(agent.config_path)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert str(cred) in p.stderr, p.stderr
    assert USERS["admin"][1] not in p.stderr + p.stdout


def test_tls(tmp_path, agents):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    agent = ApiAgent(tmp_path / "a", tls=(cert, key))
    agents.append(agent.start())
    c = agent.client()
    c.create_trail(Name="tls-trail", S3BucketName="audit-tls")
    assert c.get_trail(Name="tls-trail")["Trail"]["Name"] == "tls-trail"
    # Plain HTTP on the TLS port gets no API answer.
    import urllib.request
    with pytest.raises(Exception):
        urllib.request.urlopen(agent.api.replace("https", "http"), timeout=5)
