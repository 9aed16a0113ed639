import os
import sys
from pathlib import Path

import pytest

# Hermetic AWS settings, as in tests/aws.
for k, v in {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
             "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
    os.environ.setdefault(k, v)
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_CLOUDTRAIL"):
    os.environ.pop(k, None)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "aws"))

from awshelpers import BIN, MotoServer  # noqa: E402


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(
            f"opentrail binary not found at {BIN}: run `cargo build --release` "
            "or set OPENTRAIL_BIN")


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """$OPENTRAIL_MOTO_ENDPOINT (scripts/test-digest.sh starts one), or a moto_server started
    for this session."""
    endpoint = os.environ.get("OPENTRAIL_MOTO_ENDPOINT")
    if endpoint:
        yield endpoint
        return
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def agents():
    """Agents started by a test; any still running at teardown is killed (by its own pid)."""
    started = []
    yield started
    for a in started:
        if a.alive():
            a.kill9()
