#!/usr/bin/env bash
# Builds and tests the C ABI (ffi/) and its Python and Go bindings. Does its own set-up and is
# idempotent; exits non-zero on the first failure. Run from anywhere:
#   scripts/test-ffi.sh
# Environment: OPENTRAIL_VENV (virtualenv; default .venv), OPENTRAIL_CORPUS (corpus folder;
# default ../shared/corpus), OT_FFI_CHECKER (valgrind | asan | none; default valgrind when
# installed, else asan).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never
export OPENTRAIL_CORPUS=${OPENTRAIL_CORPUS:-$ROOT/../shared/corpus}

step() { printf '\n==> %s\n' "$*"; }

step "cargo build --release -p opentrail-ffi"
cargo build --release -p opentrail-ffi --lib
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

if [[ -z "${OT_FFI_CHECKER:-}" ]]; then
  if command -v valgrind >/dev/null; then OT_FFI_CHECKER=valgrind; else OT_FFI_CHECKER=asan; fi
fi
export OT_FFI_CHECKER
step "cargo test --release -p opentrail-ffi (header freshness; C suites under $OT_FFI_CHECKER)"
cargo test --release -p opentrail-ffi
# The C suites ran against a system-allocator build (for the checker): put the default build
# (mimalloc) back for the bindings.
cargo build --release -p opentrail-ffi --lib

step "python: pip install ./bindings/python, pytest"
VENV=${OPENTRAIL_VENV:-$ROOT/.venv}
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"$VENV/bin/python" -c 'import pytest, mypy' 2>/dev/null || "${PIP[@]}" install --quiet pytest mypy
"${PIP[@]}" install --quiet --force-reinstall --no-deps ./bindings/python
(cd bindings/python && "$VENV/bin/python" -m pytest -q tests)

step "go: vet, test, test -tags debug (GC forced before every C call)"
export CGO_LDFLAGS="-L$TARGET_DIR/release ${CGO_LDFLAGS:-}"
(
  cd bindings/go
  go vet ./...
  go vet -tags debug ./...
  go test -count=1 ./...
  go test -count=1 -tags debug ./...
)

step "ffi: all suites passed"
