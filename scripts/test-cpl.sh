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
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null; then
    echo "test-cpl: '$tool' not found (the suite needs Java 17 and Maven)" >&2
    exit 1
  fi
done

VENV=${OPENTRAIL_VENV:-$ROOT/.venv}
step "python virtualenv ($VENV)"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/cpl/requirements.txt

if [[ -z "${OPENTRAIL_BIN:-}" ]]; then
  step "cargo build --release -p opentrail"
  cargo build --release -p opentrail
  export OPENTRAIL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/opentrail
fi
export OPENTRAIL_CORPUS=${OPENTRAIL_CORPUS:-$ROOT/../shared/corpus}

step "CPL consumer (mvn package in tests/cpl)"
mvn -q -B -Dstyle.color=never -f tests/cpl/pom.xml package

# Hermetic AWS environment: fake credentials, no profile files, no instance metadata, and no
# endpoint overrides leaking in.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SNS \
  AWS_ENDPOINT_URL_SQS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opentrail-cpl.XXXXXX")
MOTO_PID=
cleanup() {
  if [[ -n "$MOTO_PID" ]]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "moto_server on 127.0.0.1:$PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$MOTO_PID" 2>/dev/null; then
    cat "$WORK/moto.log"
    echo "moto_server exited" >&2
    exit 1
  fi
  sleep 0.1
done
export OPENTRAIL_MOTO_ENDPOINT=http://127.0.0.1:$PORT

step "CPL consumer-compatibility tests (pytest tests/cpl)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider --basetemp="$WORK/pytest" tests/cpl "$@"
