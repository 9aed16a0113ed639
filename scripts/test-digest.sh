#!/usr/bin/env bash
# Log file integrity suite: digests checked by the unmodified AWS CLI (`aws cloudtrail
# validate-logs`, installed from PyPI into the virtualenv) against S3 in a real moto_server and
# the agent's own control-plane API, and by `opentrail validate-logs` on a local destination.
#
# Does its own set-up: a Python virtualenv ($OPENTRAIL_VENV or .venv) with
# tests/digest/requirements.txt (moto[server], boto3, pytest, awscli), the release binary (built
# unless $OPENTRAIL_BIN is given), a moto_server on a free port (stopped on exit).
# Usage: scripts/test-digest.sh [-k PATTERN ...]   (extra arguments go to pytest)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/moto-suite.sh
source scripts/lib/moto-suite.sh

suite_venv tests/digest/requirements.txt
suite_binary
suite_hermetic_aws
suite_moto digest

step "log file validation tests (pytest tests/digest)"
"$VENV/bin/python" -m pytest -q tests/digest "$@"
