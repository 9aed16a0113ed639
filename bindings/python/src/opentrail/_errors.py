"""Exceptions: one root, one subclass per status block, and named classes for the statuses
callers handle (after delta-rs's hierarchy). `error_from` turns a C status and `ot_error` into
the right exception, copying the message and freeing the C object at once."""

from __future__ import annotations

import ctypes
from typing import Optional

from ._ffi import Status, lib, status_str


class OpenTrailError(Exception):
    """Any failure reported by the agent. `status` is the C `ot_status` code."""

    def __init__(self, status: int, message: str, reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        #: For refused records: the stable reason ("invalid_json", "oversize", ...).
        self.reason = reason

    @property
    def status_name(self) -> str:
        try:
            return Status(self.status).name
        except ValueError:
            return str(self.status)


class UsageError(OpenTrailError):
    """1xx: the binding or the caller passed something the C ABI refuses."""


class ConfigError(OpenTrailError):
    """2xx: the configuration is invalid, or the agent could not start with it."""


class IntakeError(OpenTrailError):
    """3xx: a record or batch was not taken."""


class InvalidRecord(IntakeError):
    """A record was refused (invalid UTF-8 or JSON, oversize, missing or malformed fields).

    For `submit_many(strict=True)`, `accepted` is how many lines were taken anyway."""

    accepted: int = 0


class Busy(IntakeError):
    """The memory budget stayed full for submit_timeout_ms; retry later."""


class Closed(IntakeError):
    """The agent is closed."""


class Timeout(IntakeError):
    """A flush or close did not finish within its timeout."""


class SpoolError(IntakeError):
    """The write-ahead log failed."""


class DestinationError(OpenTrailError):
    """4xx: delivery to a destination failed."""


class InternalError(OpenTrailError):
    """9xx: an internal fault (a caught panic, or an agent poisoned by one)."""


class Panic(InternalError):
    """A panic was caught inside the library; the agent is now poisoned."""


class Poisoned(InternalError):
    """An earlier call panicked; close the agent and start a new one."""


_BY_STATUS: dict[int, type[OpenTrailError]] = {
    Status.INVALID_RECORD: InvalidRecord,
    Status.BUSY: Busy,
    Status.CLOSED: Closed,
    Status.TIMEOUT: Timeout,
    Status.SPOOL_FAILED: SpoolError,
    Status.PANIC: Panic,
    Status.POISONED: Poisoned,
}
_BY_BLOCK: dict[int, type[OpenTrailError]] = {
    1: UsageError,
    2: ConfigError,
    3: IntakeError,
    4: DestinationError,
    9: InternalError,
}


def error_class(status: int) -> type[OpenTrailError]:
    """The exception class for a status code."""
    return _BY_STATUS.get(status) or _BY_BLOCK.get(status // 100, OpenTrailError)


def error_from(status: int, err: ctypes.c_void_p) -> OpenTrailError:
    """Builds the exception for a failed call and frees the C error object."""
    if err.value:
        message = lib.ot_error_message(err).decode("utf-8", "replace")
        raw_reason = lib.ot_error_reason(err)
        lib.ot_error_free(err)
        err.value = None
    else:
        message, raw_reason = status_str(status), None
    reason = raw_reason.decode() if raw_reason else None
    return error_class(status)(status, message, reason)
