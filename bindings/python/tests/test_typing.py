"""The package type-checks under mypy --strict (skipped when mypy is not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    # Check the installed package (as users import it), from a folder without sources.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-p", "opentrail"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
