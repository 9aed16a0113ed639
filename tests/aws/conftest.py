import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from helpers import CORPUS, agent_factory, hermetic_aws_env, require_binary  # noqa: E402

hermetic_aws_env()

from awshelpers import AwsAgent, moto_endpoint  # noqa: E402


def pytest_sessionstart(session):
    require_binary()


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """The shared moto endpoint: $OPENTRAIL_MOTO_ENDPOINT (scripts/test-aws.sh starts one), or
    a moto_server started for this session."""
    yield from moto_endpoint(tmp_path_factory)


@pytest.fixture
def make_agent(tmp_path):
    """Factory: make_agent(name, **AwsAgent kwargs). Every process started through it is killed
    (by its own pid) at teardown if still running."""
    yield from agent_factory(AwsAgent, tmp_path)


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS
