import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import CORPUS, Agent, agent_factory, require_binary  # noqa: E402


def pytest_sessionstart(session):
    require_binary()


@pytest.fixture
def make_agent(tmp_path):
    """Factory: make_agent(name="a", **Agent kwargs) -> Agent. Every process started through it
    is killed (by its own pid) at teardown if still running."""
    yield from agent_factory(Agent, tmp_path)


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS
