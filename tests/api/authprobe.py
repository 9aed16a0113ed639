#!/usr/bin/env python3
"""Probe the control-plane API's SigV4 authentication with botocore (the pytest suite in this folder imports its signing helpers).

Sends real botocore-signed requests to a running agent and checks each answer against the
contract in docs interfaces.md §2 (exception name + HTTP status). Adapt freely into a pytest
suite; every check is a plain function returning (ok, detail).

Usage:
  python tests/api/authprobe.py --endpoint http://127.0.0.1:4591 \
      --credentials <data_dir>/api/credentials.json [--region us-east-1]
  python tests/api/authprobe.py --endpoint ... --access-key-id AKIA... --secret-access-key ...

Exit status 0 when every check passes. Needs botocore (pip install botocore).
"""

import argparse
import datetime
import json
import sys
import urllib.error
import urllib.request
import uuid

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."


def raw_request(endpoint, op, body=b"{}"):
    return AWSRequest(
        method="POST",
        url=endpoint.rstrip("/") + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET + op,
        },
    )


def sign(req, creds, region, service="cloudtrail", when=None):
    """Signs `req` in place with botocore's SigV4 signer, optionally at a fixed time."""
    signer = botocore.auth.SigV4Auth(creds, service, region)
    if when is None:
        signer.add_auth(req)
        return req
    saved = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda: when
    try:
        signer.add_auth(req)
    finally:
        botocore.auth.get_current_datetime = saved
    return req


def send(req, body=None):
    """Sends a prepared AWSRequest; returns (status, parsed JSON body)."""
    prepared = req.prepare()
    data = prepared.body if body is None else body
    if isinstance(data, str):
        data = data.encode()
    http = urllib.request.Request(
        prepared.url, data=data, method=prepared.method, headers=dict(prepared.headers)
    )
    try:
        with urllib.request.urlopen(http, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            return e.code, json.loads(payload)
        except ValueError:
            return e.code, {"raw": payload.decode(errors="replace")}


def expect_error(status, answer, exception, code):
    ok = answer.get("__type") == exception and status == code
    return ok, f"{status} {answer}"


def checks(endpoint, key_id, secret, region):
    good = Credentials(key_id, secret)
    now = datetime.datetime.now(datetime.timezone.utc)

    def signed_call():
        client = botocore.session.get_session().create_client(
            "cloudtrail",
            region_name=region,
            endpoint_url=endpoint,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        try:
            out = client.describe_trails()
            return True, f"200 trailList={len(out.get('trailList', []))}"
        except ClientError as e:
            return False, str(e)

    def unsigned():
        return expect_error(
            *send(raw_request(endpoint, "DescribeTrails")),
            "MissingAuthenticationTokenException",
            403,
        )

    def wrong_secret():
        req = sign(raw_request(endpoint, "DescribeTrails"), Credentials(key_id, "x" * 40), region)
        return expect_error(*send(req), "InvalidSignatureException", 400)

    def unknown_key():
        req = sign(raw_request(endpoint, "DescribeTrails"), Credentials("AKIAUNKNOWN000000000", secret), region)
        return expect_error(*send(req), "UnrecognizedClientException", 400)

    def session_token():
        req = sign(raw_request(endpoint, "DescribeTrails"), Credentials(key_id, secret, "token"), region)
        return expect_error(*send(req), "UnrecognizedClientException", 400)

    def expired():
        req = sign(raw_request(endpoint, "DescribeTrails"), good, region, when=now - datetime.timedelta(minutes=16))
        ok, detail = expect_error(*send(req), "InvalidSignatureException", 400)
        return ok and "Signature expired" in detail, detail

    def future():
        req = sign(raw_request(endpoint, "DescribeTrails"), good, region, when=now + datetime.timedelta(minutes=16))
        ok, detail = expect_error(*send(req), "InvalidSignatureException", 400)
        return ok and "not yet current" in detail, detail

    def replay():
        # A body unique to this call: identical requests signed in the same second have the same
        # signature, so reusing an earlier check's request would collide with it.
        body = json.dumps({"trailNameList": [f"probe-{uuid.uuid4().hex}"]}).encode()
        req = sign(raw_request(endpoint, "DescribeTrails", body), good, region)
        first = send(req)
        if first[0] != 200:
            return False, f"first send: {first}"
        return expect_error(*send(req), "InvalidSignatureException", 400)

    def tampered_body():
        req = sign(raw_request(endpoint, "GetTrail", b'{"Name": "a"}'), good, region)
        return expect_error(*send(req, body=b'{"Name": "b"}'), "InvalidSignatureException", 400)

    def wrong_service():
        req = sign(raw_request(endpoint, "DescribeTrails"), good, region, service="s3")
        return expect_error(*send(req), "IncompleteSignatureException", 400)

    return [
        ("botocore-signed DescribeTrails succeeds", signed_call),
        ("no Authorization -> MissingAuthenticationTokenException 403", unsigned),
        ("wrong secret -> InvalidSignatureException 400", wrong_secret),
        ("unknown key -> UnrecognizedClientException 400", unknown_key),
        ("session token -> UnrecognizedClientException 400", session_token),
        ("signed 16 min ago -> Signature expired", expired),
        ("signed 16 min ahead -> Signature not yet current", future),
        ("same signature twice -> InvalidSignatureException", replay),
        ("body changed after signing -> InvalidSignatureException", tampered_body),
        ("scope service s3 -> IncompleteSignatureException", wrong_service),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--credentials", help="credentials.json; its first key is used")
    p.add_argument("--access-key-id")
    p.add_argument("--secret-access-key")
    a = p.parse_args()
    if a.credentials:
        with open(a.credentials) as f:
            k = json.load(f)["keys"][0]
        key_id, secret = k["access_key_id"], k["secret_access_key"]
    elif a.access_key_id and a.secret_access_key:
        key_id, secret = a.access_key_id, a.secret_access_key
    else:
        p.error("give --credentials or --access-key-id and --secret-access-key")
    failed = 0
    for name, check in checks(a.endpoint, key_id, secret, a.region):
        try:
            ok, detail = check()
        except Exception as e:  # a probe: report, keep going
            ok, detail = False, f"{type(e).__name__}: {e}"
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
