#!/usr/bin/env bash
# Runs every test of the project. Does its own set-up: builds the workspace, creates a Python
# virtualenv (.venv, or $OPENTRAIL_VENV) with the packages in tests/requirements.txt, and runs
# each suite. Usage: scripts/test.sh            (all)
#                    SKIP_LINT=1 scripts/test.sh (skip fmt/clippy)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

if [[ -z "${SKIP_LINT:-}" ]]; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy"
  cargo clippy --workspace --all-targets -- -D warnings
fi

step "cargo build --release"
cargo build --release --workspace

step "cargo test"
cargo test --workspace --release

step "python virtualenv"
VENV=${OPENTRAIL_VENV:-$ROOT/.venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

export OPENTRAIL_BIN=$ROOT/target/release/opentrail
export OPENTRAIL_CORPUS=${OPENTRAIL_CORPUS:-$ROOT/../shared/corpus}

step "end-to-end tests (pytest tests/e2e)"
"$VENV/bin/python" -m pytest -q tests/e2e "$@"

for extra in scripts/test-*.sh; do
  [[ -e "$extra" ]] || continue
  step "$extra"
  bash "$extra"
done
step "all test suites passed"
