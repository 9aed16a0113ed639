import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "aws"))
sys.path.insert(0, str(HERE.parent / "e2e"))

from helpers import hermetic_aws_env, require_binary  # noqa: E402

hermetic_aws_env()

from awshelpers import moto_endpoint  # noqa: E402


def pytest_sessionstart(session):
    require_binary(corpus=False)


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """$OPENTRAIL_MOTO_ENDPOINT (scripts/test-digest.sh starts one), or a moto_server started
    for this session."""
    yield from moto_endpoint(tmp_path_factory)


@pytest.fixture
def agents():
    """Agents started by a test; any still running at teardown is killed (by its own pid)."""
    started = []
    yield started
    for a in started:
        if a.alive():
            a.kill9()
