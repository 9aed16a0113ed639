import os
import sys
from pathlib import Path

import pytest

# Hermetic AWS settings for the agent and for boto3: fake credentials, no profile files, no
# instance metadata probing. scripts/test-aws.sh sets the same.
for k, v in {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
             "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
    os.environ.setdefault(k, v)
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_ENDPOINT_URL_SNS"):
    os.environ.pop(k, None)

sys.path.insert(0, os.path.dirname(__file__))

from awshelpers import BIN, AwsAgent, MotoServer  # noqa: E402
from helpers import CORPUS  # noqa: E402


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(
            f"opentrail binary not found at {BIN}: run `cargo build --release` "
            "or set OPENTRAIL_BIN")
    if not (CORPUS / "records.jsonl").exists():
        raise pytest.UsageError(f"corpus not found at {CORPUS}: set OPENTRAIL_CORPUS")


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """The shared moto endpoint: $OPENTRAIL_MOTO_ENDPOINT (scripts/test-aws.sh starts one), or
    a moto_server started for this session."""
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
def make_agent(tmp_path):
    """Factory: make_agent(name, **AwsAgent kwargs). Every process started through it is killed
    (by its own pid) at teardown if still running."""
    agents = []

    def factory(name="agent", **kw):
        a = AwsAgent(tmp_path / name, **kw)
        agents.append(a)
        return a

    yield factory
    for a in agents:
        if a.alive():
            a.kill9()


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS
