#!/usr/bin/env python3
"""Generates corpus-like CloudTrail JSON lines for benchmarks.

Takes the valid records of shared/corpus/records.jsonl (the real ones, ~1.2-1.6 KB each) and
writes N of them round-robin, giving each a fresh eventID and spreading them over A accounts and
R regions (recipientAccountId / awsRegion rewritten in place) -- the shape of the peers'
benchmark in docs/peers.md section 2.x (49 accounts, 40 regions).

usage: gen_corpus.py OUT N [--accounts 49] [--regions 40] [--corpus PATH]
"""
import argparse
import json
import os
import random
import re
import uuid

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def usable(rec):
    ok_bool = all(isinstance(rec.get(k, True), bool) for k in ("readOnly", "managementEvent"))
    return (
        all(isinstance(rec.get(k), str) for k in ("eventSource", "eventName", "awsRegion", "eventTime"))
        and isinstance(rec.get("userIdentity", {}), dict)
        and UUID_RE.match(str(rec.get("eventID", ""))) is not None
        and TIME_RE.match(rec["eventTime"]) is not None
        and re.match(r"^\d+\.\d+$", str(rec.get("eventVersion", "1.0"))) is not None
        and ok_bool
        and rec["eventSource"] not in ("iam.amazonaws.com", "sts.amazonaws.com", "cloudfront.amazonaws.com")
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("n", type=int)
    ap.add_argument("--accounts", type=int, default=49)
    ap.add_argument("--regions", type=int, default=40)
    default_corpus = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus", "records.jsonl")
    ap.add_argument("--corpus", default=os.environ.get("OPENTRAIL_CORPUS_RECORDS", default_corpus))
    args = ap.parse_args()
    rnd = random.Random(42)
    base = [json.loads(l) for l in open(args.corpus, encoding="utf-8")]
    base = [r for r in base if usable(r)]
    accounts = ["%012d" % rnd.randrange(10**11, 10**12) for _ in range(args.accounts)]
    regions = ["bench-region-%d" % i for i in range(args.regions)]
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(args.n):
            r = dict(base[i % len(base)])
            r["eventID"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
            r["recipientAccountId"] = accounts[rnd.randrange(len(accounts))]
            r["awsRegion"] = regions[rnd.randrange(len(regions))]
            out.write(json.dumps(r, separators=(",", ":")))
            out.write("\n")


if __name__ == "__main__":
    main()
