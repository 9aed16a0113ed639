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
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

VENV=${OPENTRAIL_VENV:-$ROOT/.venv}
step "python virtualenv ($VENV)"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/digest/requirements.txt

if [[ -z "${OPENTRAIL_BIN:-}" ]]; then
  step "cargo build --release -p opentrail"
  cargo build --release -p opentrail
  export OPENTRAIL_BIN=$ROOT/target/release/opentrail
fi
export OPENTRAIL_CORPUS=${OPENTRAIL_CORPUS:-$ROOT/../shared/corpus}

# Hermetic AWS environment (each test points the CLI at moto and at the agent itself).
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SNS \
  AWS_ENDPOINT_URL_CLOUDTRAIL

WORK=$(mktemp -d "${TMPDIR:-/tmp}/opentrail-digest.XXXXXX")
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

step "log file validation tests (pytest tests/digest)"
"$VENV/bin/python" -m pytest -q tests/digest "$@"
