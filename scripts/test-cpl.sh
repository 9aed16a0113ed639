#!/usr/bin/env bash
# Consumer-compatibility suite (issue #8): AWS's CloudTrail Processing Library 1.1.3 reads,
# through SNS -> SQS -> S3 on a real moto_server, everything the agent delivered from the whole
# corpus plus deliberately bad records (tests/cpl).
#
# Does its own set-up: a Python virtualenv ($OPENTRAIL_VENV or .venv) with
# tests/cpl/requirements.txt (moto[server], boto3, pytest), the release binary (built unless
# $OPENTRAIL_BIN is given), the Java consumer (`mvn package` in tests/cpl; Java 17 + Maven, CPL
# and its AWS SDK v1 from Maven Central), a moto_server on a free port (stopped on exit).
# Extra arguments go to pytest.
# Usage: scripts/test-cpl.sh [-k PATTERN ...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=lib/moto-suite.sh
source scripts/lib/moto-suite.sh

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-cpl: '$tool' not found (the suite needs Java 17 and Maven)" >&2
    exit 1
  fi
done

suite_venv tests/cpl/requirements.txt
suite_binary

step "CPL consumer (mvn package in tests/cpl)"
mvn -q -B -Dstyle.color=never -f tests/cpl/pom.xml package
suite_hermetic_aws
suite_moto cpl

step "CPL consumer-compatibility tests (pytest tests/cpl)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest" tests/cpl "$@"
