"""The ctypes declarations and status codes match ffi/include/opentrail.h."""

from __future__ import annotations

import re

from conftest import REPO

from opentrail import Status
from opentrail._ffi import _DECLARATIONS, ABI_VERSION, TIMEOUT_DEFAULT

HEADER = (REPO / "ffi" / "include" / "opentrail.h").read_text()


def test_status_codes_match_header() -> None:
    in_header = {
        name: int(value) for name, value in re.findall(r"OT_STATUS_(\w+) = (\d+)", HEADER)
    }
    assert in_header == {s.name: int(s) for s in Status}


def test_functions_match_header() -> None:
    in_header = set(re.findall(r"\b(ot_\w+)\(", HEADER))
    assert in_header == set(_DECLARATIONS)


def test_constants_match_header() -> None:
    assert f"#define OT_ABI_VERSION {ABI_VERSION}\n" in HEADER
    assert f"#define OT_TIMEOUT_DEFAULT {TIMEOUT_DEFAULT}\n" in HEADER
