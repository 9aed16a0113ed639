"""Loads libopentrail_ffi and declares the C ABI (ffi/include/opentrail.h) for ctypes.

The library is looked up in this order: `$OPENTRAIL_FFI_LIB`, then the copy bundled next to this
file at install time. `ctypes.CDLL` releases the GIL for the duration of every call, so a
blocking flush or close in one thread does not stall the others. The declarations below mirror
the header; `tests/test_header.py` checks that they (and the status codes) stay in sync.
"""

from __future__ import annotations

import ctypes
import enum
import os
from pathlib import Path

#: ABI version these declarations were written for (OT_ABI_VERSION in opentrail.h).
ABI_VERSION = 1
#: OT_TIMEOUT_DEFAULT: no practical limit for flush, the configured grace for shutdown.
TIMEOUT_DEFAULT = 0xFFFFFFFF


class Status(enum.IntEnum):
    """`ot_status` codes. Values are stable; see ffi/README.md."""

    OK = 0
    NULL_PARAMETER = 100
    INVALID_UTF8 = 101
    CONFIG_PARSE = 200
    CONFIG_INVALID = 201
    DATA_DIR_LOCKED = 210
    START_FAILED = 211
    INVALID_RECORD = 300
    BUSY = 301
    CLOSED = 302
    TIMEOUT = 303
    SPOOL_FAILED = 310
    DESTINATION_FAILED = 400
    PANIC = 900
    POISONED = 901


STATS_FIELDS = (
    "records_accepted",
    "records_rejected",
    "records_delivered",
    "records_pending",
    "files_delivered",
    "bytes_delivered",
)


class OtStats(ctypes.Structure):
    """`ot_stats`: six uint64_t counters."""

    _fields_ = [(name, ctypes.c_uint64) for name in STATS_FIELDS]


def _library_path() -> str:
    env = os.environ.get("OPENTRAIL_FFI_LIB")
    if env:
        return env
    bundled = Path(__file__).with_name("libopentrail_ffi.so")
    if bundled.exists():
        return str(bundled)
    raise ImportError(
        "libopentrail_ffi.so not found: install the package with `pip install ./bindings/python` "
        "(which builds it) or set OPENTRAIL_FFI_LIB"
    )


lib = ctypes.CDLL(_library_path())

_p = ctypes.c_void_p  # ot_agent *, ot_error * (opaque)
_pp = ctypes.POINTER(ctypes.c_void_p)  # ot_agent **, ot_error **
_status = ctypes.c_uint32

_DECLARATIONS: dict[str, tuple[object, list[object]]] = {
    "ot_version": (ctypes.c_char_p, []),
    "ot_abi_version": (ctypes.c_uint32, []),
    "ot_status_str": (ctypes.c_char_p, [_status]),
    "ot_agent_new": (_status, [ctypes.c_char_p, _pp, _pp]),
    "ot_agent_submit": (_status, [_p, ctypes.c_char_p, ctypes.c_size_t, _pp]),
    "ot_agent_submit_batch": (
        _status,
        [_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), _pp],
    ),
    "ot_agent_flush": (_status, [_p, ctypes.c_uint32, _pp]),
    "ot_agent_stats": (_status, [_p, ctypes.POINTER(OtStats)]),
    "ot_agent_shutdown": (_status, [_p, ctypes.c_uint32, _pp]),
    "ot_agent_free": (None, [_p]),
    "ot_error_message": (ctypes.c_char_p, [_p]),
    "ot_error_status": (_status, [_p]),
    "ot_error_reason": (ctypes.c_char_p, [_p]),
    "ot_error_free": (None, [_p]),
}

for _name, (_restype, _argtypes) in _DECLARATIONS.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes

if lib.ot_abi_version() != ABI_VERSION:
    raise ImportError(
        f"libopentrail_ffi ABI version {lib.ot_abi_version()} does not match the bindings' "
        f"{ABI_VERSION}: reinstall the package"
    )


def library_version() -> str:
    """`ot_version()`: "opentrail-ffi/x.y.z"."""
    raw: bytes = lib.ot_version()
    return raw.decode()


def status_str(status: int) -> str:
    """`ot_status_str()`: a short description of a status code."""
    raw: bytes = lib.ot_status_str(status)
    return raw.decode()
