import os
import sys
from pathlib import Path

import pytest

# Hermetic AWS settings, as in tests/aws (scripts/test-api.sh sets the same).
for k, v in {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
             "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
    os.environ.setdefault(k, v)
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDTRAIL"):
    os.environ.pop(k, None)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

from helpers import BIN, CORPUS  # noqa: E402


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(
            f"opentrail binary not found at {BIN}: run `cargo build --release` "
            "or set OPENTRAIL_BIN")
    if not (CORPUS / "records.jsonl").exists():
        raise pytest.UsageError(f"corpus not found at {CORPUS}: set OPENTRAIL_CORPUS")


@pytest.fixture
def agents():
    """Agents started by a test; any still running at teardown is stopped."""
    started = []
    yield started
    for a in started:
        if a.alive():
            a.stop()
