#!/usr/bin/env bash
# AWS delivery suite: S3 + SNS against a real moto_server on 127.0.0.1.
#
# Does its own set-up: a Python virtualenv ($OPENTRAIL_VENV or .venv) with tests/aws/requirements.txt
# (moto[server], boto3, pytest), the release binary (built unless $OPENTRAIL_BIN is given),
# a moto_server on a free port (stopped on exit). Then runs the Rust tests that need an S3 API
# (OPENTRAIL_TEST_S3_ENDPOINT) and pytest tests/aws. Extra arguments go to pytest.
# Usage: scripts/test-aws.sh [-k PATTERN ...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/moto-suite.sh
source scripts/lib/moto-suite.sh

suite_venv tests/aws/requirements.txt
suite_binary
suite_hermetic_aws
suite_moto aws

step "cargo test (S3 destination against moto_server)"
OPENTRAIL_TEST_S3_ENDPOINT=$OPENTRAIL_MOTO_ENDPOINT \
  cargo test --release -p opentrail --lib destination::

step "AWS delivery tests (pytest tests/aws)"
"$VENV/bin/python" -m pytest -q tests/aws "$@"
