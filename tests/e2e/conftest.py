import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import CORPUS, Agent, require_binary  # noqa: E402


def pytest_sessionstart(session):
    require_binary()


@pytest.fixture
def make_agent(tmp_path):
    """Factory: make_agent(name="a", **Agent kwargs) -> Agent. Every process started through it
    is killed (by its own pid) at teardown if still running."""
    agents = []

    def factory(name="agent", **kw):
        a = Agent(tmp_path / name, **kw)
        agents.append(a)
        return a

    yield factory
    for a in agents:
        if a.alive():
            a.kill9()


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS
