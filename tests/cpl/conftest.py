"""Fixtures of the consumer-compatibility suite: a moto endpoint, the corpus, and agents that
are killed (by their own pid) if a test leaves them running."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))

from helpers import CORPUS, agent_factory, hermetic_aws_env, require_binary  # noqa: E402

hermetic_aws_env()

from cplhelpers import CplAgent, cpl_classpath  # noqa: E402
from awshelpers import moto_endpoint  # noqa: E402


def pytest_sessionstart(session):
    require_binary()
    try:
        cpl_classpath()
    except FileNotFoundError as e:
        raise pytest.UsageError(str(e))


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """$OPENTRAIL_MOTO_ENDPOINT (scripts/test-cpl.sh starts one), or a moto_server started for
    this session."""
    yield from moto_endpoint(tmp_path_factory)


@pytest.fixture
def make_agent(tmp_path):
    """Factory: make_agent(name, **CplAgent kwargs); still-running agents are killed at
    teardown."""
    yield from agent_factory(CplAgent, tmp_path)


@pytest.fixture(scope="session")
def corpus():
    return CORPUS
