"""Fixtures of the consumer-compatibility suite: a moto endpoint, the corpus, and agents that
are killed (by their own pid) if a test leaves them running."""

import os
import sys

import pytest

# Hermetic AWS settings for the agent, boto3 and the Java consumer: fake credentials, no
# profile files, no instance metadata probing. scripts/test-cpl.sh sets the same.
for k, v in {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
             "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
             "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
    os.environ.setdefault(k, v)
for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
          "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"):
    os.environ.pop(k, None)

sys.path.insert(0, os.path.dirname(__file__))

from cplhelpers import CplAgent, cpl_classpath  # noqa: E402
from awshelpers import BIN, MotoServer  # noqa: E402
from helpers import CORPUS  # noqa: E402


def pytest_sessionstart(session):
    if not os.access(BIN, os.X_OK):
        raise pytest.UsageError(
            f"opentrail binary not found at {BIN}: run `cargo build --release` "
            "or set OPENTRAIL_BIN")
    if not (CORPUS / "records.jsonl").exists():
        raise pytest.UsageError(f"corpus not found at {CORPUS}: set OPENTRAIL_CORPUS")
    try:
        cpl_classpath()
    except FileNotFoundError as e:
        raise pytest.UsageError(str(e))


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """$OPENTRAIL_MOTO_ENDPOINT (scripts/test-cpl.sh starts one), or a moto_server started for
    this session."""
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
    """Factory: make_agent(name, **CplAgent kwargs); still-running agents are killed at
    teardown."""
    agents = []

    def factory(name="agent", **kw):
        a = CplAgent(tmp_path / name, **kw)
        agents.append(a)
        return a

    yield factory
    for a in agents:
        if a.alive():
            a.kill9()


@pytest.fixture(scope="session")
def corpus():
    return CORPUS
