"""`Agent`: an embedded OpenTrail agent owning one `ot_agent *`.

Thread safety: every method may be called from any thread. The C handle is freed only by
`close()`, after the agent is shut down and no other thread is inside a C call on it: each call
registers its thread in `_inflight` before it checks `_closing`, and `close()` sets `_closing`
before it waits for `_inflight` to empty (both steps are atomic under the GIL), so a call either
sees the agent closing and raises `Closed`, or is waited for.
"""

from __future__ import annotations

import ctypes
import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, Optional, Union

from . import _toml
from ._errors import Closed, InvalidRecord, error_from
from ._ffi import STATS_FIELDS, TIMEOUT_DEFAULT, OtStats, Status, lib

Record = Union[bytes, bytearray, memoryview, str, Mapping[str, Any]]

_submit = lib.ot_agent_submit
_submit_batch = lib.ot_agent_submit_batch
_byref = ctypes.byref
_c_void_p = ctypes.c_void_p
_get_ident = threading.get_ident


def _encode(record: Record) -> bytes:
    """One record as JSON bytes. Strings are UTF-8 (lone surrogates pass through as invalid
    UTF-8, which the agent then refuses like any invalid record)."""
    if isinstance(record, bytes):
        return record
    if isinstance(record, str):
        return record.encode("utf-8", "surrogatepass")
    if isinstance(record, (bytearray, memoryview)):
        return bytes(record)
    if isinstance(record, Mapping):
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
    raise TypeError(f"a record is bytes, str or dict, not {type(record).__name__}")


def _timeout_ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return TIMEOUT_DEFAULT
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    return min(int(timeout * 1000), TIMEOUT_DEFAULT - 1)


class Agent:
    """An OpenTrail agent running inside this process.

    `config` is the agent's TOML configuration, as text or as a dict with the same keys
    (relative paths resolve against the current directory). Use as a context manager, or call
    `close()`: it drains (delivers everything submitted) and is idempotent.
    """

    def __init__(self, config: Union[str, Mapping[str, Any]]) -> None:
        self._ptr: Optional[ctypes.c_void_p] = None
        self._inflight: set[int] = set()
        self._closing = False
        self._close_lock = threading.Lock()
        self._final_stats: Optional[dict[str, int]] = None
        text = config if isinstance(config, str) else _toml.dumps(config)
        ptr, err = _c_void_p(), _c_void_p()
        st = lib.ot_agent_new(text.encode("utf-8", "surrogatepass"), _byref(ptr), _byref(err))
        if st:
            raise error_from(st, err)
        self._ptr = ptr

    # ---- handle guard -------------------------------------------------------------------

    def _enter(self) -> ctypes.c_void_p:
        me = _get_ident()
        self._inflight.add(me)
        ptr = self._ptr
        if self._closing or ptr is None:
            self._inflight.discard(me)
            raise Closed(Status.CLOSED, "the agent is closed")
        return ptr

    def _leave(self) -> None:
        self._inflight.discard(_get_ident())

    # ---- records ------------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Validates and takes one record (a JSON object as bytes or str, or a dict).

        Raises InvalidRecord (with `.reason`) when it is refused, Busy when the memory budget
        stays full for submit_timeout_ms, Closed after close()."""
        data = _encode(record)
        err = _c_void_p()
        ptr = self._enter()
        try:
            st = _submit(ptr, data, len(data), _byref(err))
        finally:
            self._leave()
        if st:
            raise error_from(st, err)

    def submit_many(
        self, records: Union[bytes, bytearray, memoryview, Iterable[Record]], *, strict: bool = False
    ) -> int:
        """Submits many records in one call and returns how many were accepted.

        `records` is either JSON-lines bytes or an iterable of records. Each record is judged
        alone: valid ones are taken even when others are refused. Refused records do not raise
        unless `strict` is true (then InvalidRecord, with `.accepted` set). Other failures (Busy,
        Closed, ...) always raise; then nothing was taken."""
        extra_accepted = 0
        first_refusal: Optional[InvalidRecord] = None
        if isinstance(records, (bytes, bytearray, memoryview)):
            data = bytes(records)
        else:
            lines = []
            for record in records:
                encoded = _encode(record)
                if b"\n" in encoded:
                    # A multi-line (pretty-printed) record cannot be one JSON line: send it alone.
                    try:
                        self.submit(encoded)
                        extra_accepted += 1
                    except InvalidRecord as e:
                        first_refusal = first_refusal or e
                    continue
                lines.append(encoded)
            data = b"\n".join(lines)
        accepted = ctypes.c_size_t(0)
        err = _c_void_p()
        ptr = self._enter()
        try:
            st = _submit_batch(ptr, data, len(data), _byref(accepted), _byref(err))
        finally:
            self._leave()
        total = accepted.value + extra_accepted
        if st == Status.INVALID_RECORD:
            exc = error_from(st, err)
            assert isinstance(exc, InvalidRecord)
            first_refusal = first_refusal or exc
        elif st:
            raise error_from(st, err)
        if first_refusal is not None and strict:
            first_refusal.accepted = total
            raise first_refusal
        return total

    # ---- delivery -----------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> None:
        """Delivers every record submitted so far (cuts open files now). Waits at most
        `timeout` seconds (None: no limit); raises Timeout or DestinationError when it ran out."""
        ms = _timeout_ms(timeout)
        err = _c_void_p()
        ptr = self._enter()
        try:
            st = lib.ot_agent_flush(ptr, ms, _byref(err))
        finally:
            self._leave()
        if st:
            raise error_from(st, err)

    def stats(self) -> dict[str, int]:
        """Counters: records_accepted, records_rejected, records_delivered, records_pending,
        files_delivered, bytes_delivered. After close(), the final values."""
        if self._final_stats is not None:
            return dict(self._final_stats)
        out = OtStats()
        try:
            ptr = self._enter()
        except Closed:
            if self._final_stats is not None:
                return dict(self._final_stats)
            raise
        try:
            st = lib.ot_agent_stats(ptr, _byref(out))
        finally:
            self._leave()
        if st:
            raise error_from(st, _c_void_p())
        return {name: int(getattr(out, name)) for name in STATS_FIELDS}

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._ptr is None or self._closing

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops taking records, delivers everything taken (waiting at most `timeout` seconds;
        None: the configured shutdown_grace_secs) and frees the agent. Idempotent: later calls
        return at once. Raises Timeout / DestinationError when not everything was delivered in
        time (the rest stays in data_dir for the next agent); the agent is closed either way."""
        with self._close_lock:
            ptr = self._ptr
            if ptr is None:
                return
            self._closing = True
            err = _c_void_p()
            st = lib.ot_agent_shutdown(ptr, _timeout_ms(timeout), _byref(err))
            while self._inflight:  # calls in flight return CLOSED promptly after shutdown
                time.sleep(0.0005)
            out = OtStats()
            if lib.ot_agent_stats(ptr, _byref(out)) == Status.OK:
                self._final_stats = {name: int(getattr(out, name)) for name in STATS_FIELDS}
            self._ptr = None
            lib.ot_agent_free(ptr)
        if st:
            raise error_from(st, err)

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if getattr(self, "_ptr", None) is not None:
                self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    def __repr__(self) -> str:
        return f"<opentrail.Agent {'closed' if self.closed else 'running'}>"
