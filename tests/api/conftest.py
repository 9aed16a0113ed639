import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

from helpers import hermetic_aws_env, require_binary  # noqa: E402

hermetic_aws_env()


def pytest_sessionstart(session):
    require_binary()


@pytest.fixture
def agents():
    """Agents started by a test; any still running at teardown is stopped."""
    started = []
    yield started
    for a in started:
        if a.alive():
            a.stop()
