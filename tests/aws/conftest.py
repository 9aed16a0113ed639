import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from helpers import CORPUS, hermetic_aws_env, require_binary  # noqa: E402

hermetic_aws_env()

from awshelpers import AwsAgent, MotoServer  # noqa: E402


def pytest_sessionstart(session):
    require_binary()


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
