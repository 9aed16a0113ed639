"""An independent model of OpenTrail's intake and routing rules, written from the interface
description (not from the agent's code). The tests compute their expectations with it.

`judge(line, ...)` returns a `Verdict`: either accepted (with the expected output bytes, the
account and the region the record is filed under) or refused with the *set* of reasons the rules
allow (a record that breaks several rules may legitimately be reported under any of them).
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field

GLOBAL_SOURCES = {"iam.amazonaws.com", "sts.amazonaws.com", "cloudfront.amazonaws.com"}

KNOWN_TOP = {
    "eventSource", "eventName", "awsRegion", "eventTime", "recipientAccountId", "userIdentity",
    "eventID", "eventVersion", "readOnly", "managementEvent", "resources",
}

# Shapes of nested well-known members (docs/intake-rules.md, "The rules"): a present member must
# have the shape; "str?" = string or null; "obj" = object (null refused), "obj?" = object or null;
# "arr_obj" = array of objects; "map_str?" = object whose values are strings or null (CPL reads these
# maps as string maps and takes a null value).
S = "str?"
SESSION_CONTEXT = ("obj", {
    "attributes": ("map_str?", None),
    "sessionIssuer": ("obj", {k: S for k in ("type", "principalId", "arn", "accountId",
                                              "userName")}),
    "webIdFederationData": ("obj", {"federatedProvider": S, "attributes": ("map_str?", None)}),
})
USER_IDENTITY = ("obj", {
    **{k: S for k in ("type", "principalId", "arn", "accessKeyId", "userName", "invokedBy",
                      "identityProvider", "credentialId")},
    "sessionContext": SESSION_CONTEXT,
    "onBehalfOf": ("obj", {"userId": S, "identityStoreArn": S}),
    "inScopeOf": ("obj?", {k: S for k in ("sourceArn", "sourceAccount", "issuerType",
                                          "credentialsIssuedTo")}),
    "invokedByDelegate": ("obj", {"accountId": S}),
})
TOP_SHAPES = {
    "userIdentity": USER_IDENTITY,
    "resources": ("arr_obj", None),
    "tlsDetails": ("obj?", {k: S for k in ("tlsVersion", "cipherSuite",
                                           "clientProvidedHostHeader")}),
    "addendum": ("obj?", {k: S for k in ("reason", "updatedFields", "originalRequestID",
                                         "originalEventID")}),
    "edgeDeviceDetails": ("obj?", {**{k: S for k in ("type", "snowJobId", "deviceId",
                                                      "deviceFamily")},
                                   "attributes": ("map_str?", None)}),
    "insightDetails": ("obj?", {
        **{k: S for k in ("eventName", "eventSource", "insightType", "state", "errorCode")},
        "insightContext": ("obj", {
            "statistics": ("obj", {"baseline": ("obj", {}), "insight": ("obj", {})}),
            "attributions": ("arr_obj", None),
        }),
    }),
}
KNOWN_TOP |= set(TOP_SHAPES)
KNOWN_IDENTITY = {"accountId"} | set(USER_IDENTITY[1])


def shape_ok(v, spec) -> bool:
    kind, sub = spec if isinstance(spec, tuple) else (spec, None)
    if kind == "str?":
        return v is None or isinstance(v, str)
    if kind == "obj?":
        if v is None:
            return True
        kind = "obj"
    if kind == "obj":
        return isinstance(v, dict) and all(shape_ok(v[k], s) for k, s in sub.items() if k in v)
    if kind == "arr_obj":
        return isinstance(v, list) and all(isinstance(x, dict) for x in v)
    if kind == "map_str?":
        return isinstance(v, dict) and all(x is None or isinstance(x, str) for x in v.values())
    raise ValueError(kind)

ACCOUNT_RE = re.compile(r"[0-9]{12}\Z")
REGION_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?\Z")
UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\Z")
EXACT_TIME_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z\Z")
RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})\Z")
# What the agent appends when a record has no eventID.
ADDED_ID_RE = re.compile(
    rb',?"eventID":"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"\}\Z')

WS = b" \t\r\n"


class _Dup(Exception):
    pass


@dataclass
class Verdict:
    accepted: bool
    reasons: set = field(default_factory=set)  # allowed reasons when refused
    out: bytes | None = None  # expected delivered bytes (without an added eventID)
    adds_id: bool = False  # the agent must append an eventID
    account: str | None = None
    region: str | None = None  # filing region (us-east-1 for global services)
    aws_region: str | None = None
    global_service: bool = False
    blank: bool = False


def _valid_date(y, mo, d, h, mi, s):
    if not (1 <= mo <= 12):
        return False
    if not (1 <= d <= calendar.monthrange(y, mo)[1]):
        return False
    # s == 60: RFC 3339 allows a leap second; the agent files it as :59 of that minute.
    return h <= 23 and mi <= 59 and s <= 60


def normalize_time(value: str):
    """-> (canonical text, changed) or None when not RFC 3339."""
    m = EXACT_TIME_RE.match(value)
    if m:
        nums = [int(x) for x in m.groups()]
        if not _valid_date(*nums):
            return None
        if nums[5] == 60:
            return value[:17] + "59Z", True
        return value, False
    m = RFC3339_RE.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x) for x in m.groups()[:6])
    if not _valid_date(y, mo, d, h, mi, s):
        return None
    s = min(s, 59)
    off = m.group(8)
    if off in ("Z", "z"):
        off_s = 0
    else:
        oh, om = int(off[1:3]), int(off[4:6])
        if oh > 23 or om > 59:
            return None
        off_s = (oh * 3600 + om * 60) * (1 if off[0] == "+" else -1)
    # calendar/time handle years 1..9999 only: compute year 0000 (and what an offset moves to
    # -0001) 400 years (one whole Gregorian cycle) later.
    shift = 400 if y < 400 else 0
    secs = calendar.timegm((y + shift, mo, d, h, mi, s, 0, 0, 0)) - off_s  # fraction truncated
    import time as _t
    t = _t.gmtime(secs)
    year = t.tm_year - shift
    if not (0 <= year <= 9999):
        return None
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min,
                                              t.tm_sec), True


def members(text: str, start: int = 0):
    """[(key, value_start, value_end)] of the JSON object text starting at `start`."""
    dec = json.JSONDecoder()
    out = []
    n = len(text)

    def skip(i):
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    i = skip(start + 1)
    if text[i] == "}":
        return out
    while True:
        i = skip(i)
        key, i = json.decoder.scanstring(text, i + 1)
        i = skip(i)
        assert text[i] == ":"
        i = skip(i + 1)
        _, end = dec.raw_decode(text, i)
        out.append((key, i, end))
        i = skip(end)
        if text[i] == "}":
            return out
        assert text[i] == ","
        i += 1


def top_level_spans(text: str):
    spans = {}
    for k, s, e in members(text):
        spans.setdefault(k, (s, e))
    return spans


def _dup_known(text: str) -> bool:
    """A member the agent reads appears twice (at the top level or inside a typed object)."""
    return _dup_in(text, 0, KNOWN_TOP, TOP_SHAPES, top=True)


def _dup_in(text, start, known, shapes, top=False):
    ms = members(text, start)
    keys = [k for k, _, _ in ms]
    if any(keys.count(k) > 1 for k in known):
        return True
    for k, s, e in ms:
        spec = shapes.get(k)
        if not isinstance(spec, tuple) or text[s] != "{":
            continue
        kind, sub = spec
        if kind == "map_str?":
            mk = [x for x, _, _ in members(text, s)]
            if len(mk) != len(set(mk)):
                return True
        elif kind in ("obj", "obj?"):
            sub_known = set(sub) | ({"accountId"} if top and k == "userIdentity" else set())
            if _dup_in(text, s, sub_known, sub):
                return True
    return False


def _reject_constant(name):
    raise ValueError("non-JSON constant " + name)


def _json_type(v):
    return type(v)


def judge(line: bytes, default_account: str | None = "123456789012",
          max_record_bytes: int = 262144, trails=None) -> Verdict:
    """Judges one input line (a record) by the intake rules.

    trails: list of dicts {home_region, multi_region, include_global}; None = one multi-region
    trail that includes global service events.
    """
    rec = line.strip(WS)
    if not rec:
        return Verdict(accepted=False, blank=True)
    reasons = set()
    if len(rec) > max_record_bytes:
        reasons.add("oversize")
    try:
        text = rec.decode("utf-8")
    except UnicodeDecodeError:
        reasons.add("invalid_utf8")
        return Verdict(False, reasons)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
        # serde_json refuses unpaired surrogate escapes; Python keeps them.
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError, RecursionError):
        reasons.add("invalid_json")
        if not text.startswith("{"):
            reasons.add("not_an_object")
        return Verdict(False, reasons)
    if not isinstance(obj, dict):
        reasons.add("not_an_object")
        return Verdict(False, reasons)
    if _dup_known(text):
        reasons.add("duplicate_field")
    field_reasons = _check_fields(obj, default_account)
    reasons |= field_reasons
    if reasons:
        return Verdict(False, reasons)

    aws_region = obj["awsRegion"]
    glob = obj["eventSource"] in GLOBAL_SOURCES
    region = "us-east-1" if glob else aws_region
    account = _account(obj, default_account)
    if not _routed(region, glob, trails):
        return Verdict(False, {"no_trail"})
    out = rec
    canon, changed = normalize_time(obj["eventTime"])
    if changed:
        s, e = top_level_spans(text)["eventTime"]
        out = (text[:s] + '"' + canon + '"' + text[e:]).encode("utf-8")
    return Verdict(True, set(), out=out, adds_id="eventID" not in obj, account=account,
                   region=region, aws_region=aws_region, global_service=glob)


def _routed(region, glob, trails):
    if trails is None:
        return True
    for t in trails:
        if glob and not t.get("include_global", True):
            continue
        if t.get("multi_region") or region == t["home_region"]:
            return True
    return False


def _account(obj, default_account):
    if "recipientAccountId" in obj:
        return obj["recipientAccountId"]
    ui = obj.get("userIdentity")
    if isinstance(ui, dict) and "accountId" in ui:
        return ui["accountId"]
    return default_account


def _check_fields(obj, default_account):
    r = set()
    for k in ("eventSource", "eventName", "awsRegion", "eventTime"):
        if k not in obj:
            r.add("missing_field")
        elif obj[k] is None:
            r |= {"wrong_type", "missing_field"}
        elif not isinstance(obj[k], str):
            r.add("wrong_type")
    if isinstance(obj.get("awsRegion"), str) and not REGION_RE.match(obj["awsRegion"]):
        r.add("invalid_region")
    if isinstance(obj.get("eventTime"), str) and normalize_time(obj["eventTime"]) is None:
        r.add("invalid_event_time")
    for k, spec in TOP_SHAPES.items():
        if k in obj and not shape_ok(obj[k], spec):
            r.add("wrong_type")
    ui = obj.get("userIdentity", {})
    if not isinstance(ui, dict):
        ui = {}
    # account
    if "recipientAccountId" in obj:
        acct = obj["recipientAccountId"]
    elif "accountId" in ui:
        acct = ui["accountId"]
    else:
        acct = default_account
        if acct is None:
            r.add("invalid_account")
    if acct is None:
        if "recipientAccountId" in obj or "accountId" in ui:
            r.add("wrong_type")  # present but null: not a string
    elif not isinstance(acct, str):
        r.add("wrong_type")
    elif not ACCOUNT_RE.match(acct):
        r.add("invalid_account")
    if "eventID" in obj:
        v = obj["eventID"]
        if not isinstance(v, str):
            r.add("wrong_type")
        elif not UUID_RE.match(v):
            r.add("invalid_event_id")
    if "eventVersion" in obj:
        v = obj["eventVersion"]
        if not isinstance(v, str):
            r.add("wrong_type")
        elif not VERSION_RE.match(v):
            r.add("invalid_event_version")
    for k in ("readOnly", "managementEvent"):
        if k in obj and not isinstance(obj[k], bool):
            r.add("wrong_type")
    return r


def strip_added_id(rec: bytes):
    """If rec ends with an eventID member the agent could have appended, returns rec without it
    (and the id); else None."""
    m = ADDED_ID_RE.search(rec)
    if not m:
        return None
    return rec[:m.start()] + b"}", m.group(1).decode()


def array_elements(text: str, start: int):
    """Raw texts of the elements of the JSON array starting at text[start] == '['."""
    dec = json.JSONDecoder()
    out = []
    n = len(text)

    def skip(i):
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    assert text[start] == "["
    i = skip(start + 1)
    if text[i] == "]":
        return out
    while True:
        i = skip(i)
        _, end = dec.raw_decode(text, i)
        out.append(text[i:end])
        i = skip(end)
        if text[i] == "]":
            return out
        assert text[i] == ","
        i += 1


def cloudtrail_file_records(data: bytes):
    """Raw record texts of a whole CloudTrail log file `{"Records":[...]}`."""
    text = data.decode("utf-8")
    i = 0
    while text[i] in " \t\r\n":
        i += 1
    spans = top_level_spans(text[i:])
    s, _ = spans["Records"]
    return array_elements(text[i:], s)
