# Shared set-up of the suites that run against a real moto_server (sourced by
# scripts/test-aws.sh, test-cpl.sh, test-digest.sh; not a test script itself).
#
#   suite_venv REQUIREMENTS   virtualenv ($OPENTRAIL_VENV or .venv) with those requirements; sets VENV
#   suite_binary              builds the release binary unless $OPENTRAIL_BIN is given; exports it
#                             and OPENTRAIL_CORPUS
#   suite_hermetic_aws        fake credentials, no profile files, no instance metadata, and no
#                             AWS_ENDPOINT_URL* override leaking in (each test sets its own)
#   suite_moto NAME           a work dir and a moto_server on a free 127.0.0.1 port, both removed
#                             on exit; exports OPENTRAIL_MOTO_ENDPOINT; sets WORK
# Expects ROOT (the repository root, also the current directory).

export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

suite_venv() {
  VENV=${OPENTRAIL_VENV:-$ROOT/.venv}
  step "python virtualenv ($VENV)"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$1"
}

suite_binary() {
  if [[ -z "${OPENTRAIL_BIN:-}" ]]; then
    step "cargo build --release -p opentrail"
    cargo build --release -p opentrail
    export OPENTRAIL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/opentrail
  fi
  export OPENTRAIL_CORPUS=${OPENTRAIL_CORPUS:-$ROOT/../shared/corpus}
}

suite_hermetic_aws() {
  # AWS's documented example key: moto takes any key, and the agent's API (which checks
  # signatures) is given the same one by the suites that call it.
  export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
  export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN
  local v
  for v in $(compgen -v AWS_ENDPOINT_URL); do
    unset "$v"
  done
}

MOTO_PID=
suite_cleanup() {
  if [[ -n "$MOTO_PID" ]]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  if [[ -n "${WORK:-}" ]]; then
    rm -rf "$WORK"
  fi
}

suite_moto() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/opentrail-$1.XXXXXX")
  trap suite_cleanup EXIT
  local port
  port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  step "moto_server on 127.0.0.1:$port"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      cat "$WORK/moto.log"
      echo "moto_server exited" >&2
      exit 1
    fi
    sleep 0.1
  done
  export OPENTRAIL_MOTO_ENDPOINT=http://127.0.0.1:$port
}
