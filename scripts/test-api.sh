#!/usr/bin/env bash
# Trail API suite: the control-plane API driven by the stock AWS CLI and boto3 (trail lifecycle
# with its effect on delivered files, CloudTrail's limits and home-region rules, organization
# trails, each event selector operator against the corpus, and every authentication and
# authorization failure for every mutating action).
#
# Does its own set-up: a Python virtualenv ($OPENTRAIL_VENV or .venv) with
# tests/api/requirements.txt (boto3, pytest, awscli), the release binary (built unless
# $OPENTRAIL_BIN is given). Needs `openssl` for the TLS test. No AWS endpoint is used: trails
# deliver to a local destination.
# Usage: scripts/test-api.sh [-k PATTERN ...]   (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/moto-suite.sh
source scripts/lib/moto-suite.sh

suite_venv tests/api/requirements.txt
suite_binary
suite_hermetic_aws

step "trail API tests (pytest tests/api)"
"$VENV/bin/python" -m pytest -q tests/api "$@"
