"""The Agent API call by call: records in each form, config handling, errors, lifecycle."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from conftest import canonical, delivered, make_record, record_bytes

import opentrail
from opentrail import (
    Agent,
    Busy,
    Closed,
    ConfigError,
    DestinationError,
    IntakeError,
    InvalidRecord,
    OpenTrailError,
    Status,
    Timeout,
)

STATS_KEYS = {
    "records_accepted",
    "records_rejected",
    "records_delivered",
    "records_pending",
    "files_delivered",
    "bytes_delivered",
}


def test_versions() -> None:
    assert opentrail.library_version() == f"opentrail-ffi/{opentrail.__version__}"
    assert opentrail.ABI_VERSION == 1
    assert opentrail.status_str(Status.INVALID_RECORD) == "invalid record"
    assert opentrail.status_str(12345) == "unknown status"


def test_submit_each_form_flush_and_stats(make_config, out_dir: Path) -> None:
    records = [make_record(1), make_record(2), make_record(3), make_record(4)]
    with Agent(make_config()) as agent:
        agent.submit(json.dumps(records[0]).encode())
        agent.submit(json.dumps(records[1]))
        agent.submit(records[2])
        agent.submit(bytearray(json.dumps(records[3]).encode()))
        agent.flush()
        stats = agent.stats()
        assert set(stats) == STATS_KEYS
        assert all(isinstance(v, int) for v in stats.values())
        assert stats["records_accepted"] == 4
        assert stats["records_delivered"] == 4
        assert stats["records_pending"] == 0
        assert stats["files_delivered"] == 1
        assert stats["bytes_delivered"] > 0
    assert sorted(delivered(out_dir)) == sorted(canonical(r) for r in records)


def test_config_as_toml_text(tmp_path: Path) -> None:
    text = f"""
data_dir = "{tmp_path}/data"
account_id = "123456789012"
durability = "spool"
[storage]
local_root = "{tmp_path}/out"
[[trails]]
name = "main"
s3_bucket_name = "audit-logs"
is_multi_region_trail = true
"""
    with Agent(text) as agent:
        agent.submit(record_bytes(1))
        agent.flush(timeout=30)
    assert len(delivered(tmp_path / "out")) == 1


@pytest.mark.parametrize(
    ("overrides", "status", "mentions"),
    [
        ({"bogus_key": 1}, Status.CONFIG_PARSE, "bogus_key"),
        ({"account_id": "12"}, Status.CONFIG_INVALID, "account_id"),
        ({"memory_limit_mb": 1}, Status.CONFIG_INVALID, "memory_limit_mb"),
        (
            {"trails": [{"name": "main", "s3_bucket_name": "../etc"}]},
            Status.CONFIG_INVALID,
            "s3_bucket_name",
        ),
        ({"durability": "sometimes"}, Status.CONFIG_PARSE, "durability"),
    ],
)
def test_bad_config_raises_config_error(make_config, overrides, status, mentions) -> None:
    with pytest.raises(ConfigError) as info:
        Agent(make_config(**overrides))
    assert info.value.status == status
    assert mentions in str(info.value)
    assert isinstance(info.value, OpenTrailError)


def test_bad_toml_text() -> None:
    with pytest.raises(ConfigError) as info:
        Agent("this is [not toml")
    assert info.value.status == Status.CONFIG_PARSE


def test_data_dir_in_use(make_config) -> None:
    with Agent(make_config()):
        with pytest.raises(ConfigError) as info:
            Agent(make_config())
        assert info.value.status == Status.DATA_DIR_LOCKED


def test_refused_records_raise_invalid_record(make_config) -> None:
    bad = make_record(9)
    bad_utf8 = record_bytes(10).replace(b"alice", b"al\xff\xfece")
    cases = [
        (b"{", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        ("not json", "not_an_object"),
        (bad_utf8, "invalid_utf8"),
        ("{\"eventName\": \"\udcff\"}", "invalid_utf8"),  # lone surrogate -> invalid UTF-8
        ({k: v for k, v in bad.items() if k != "eventSource"}, "missing_field"),
        (make_record(11, eventTime="yesterday"), "invalid_event_time"),
        (b"", None),
    ]
    with Agent(make_config()) as agent:
        for record, reason in cases:
            with pytest.raises(InvalidRecord) as info:
                agent.submit(record)
            err = info.value
            assert err.status == Status.INVALID_RECORD == 300
            assert isinstance(err, IntakeError) and isinstance(err, OpenTrailError)
            if reason:
                assert err.reason == reason, err
            assert str(err)
        stats = agent.stats()
        assert stats["records_rejected"] == len(cases)
        assert stats["records_accepted"] == 0


def test_oversize_boundary(make_config) -> None:
    with Agent(make_config(max_record_bytes=2048)) as agent:
        exact = record_bytes(1, size=2048)
        assert len(exact) == 2048
        agent.submit(exact)
        over = record_bytes(2, size=2049)
        assert len(over) == 2049
        with pytest.raises(InvalidRecord) as info:
            agent.submit(over)
        assert info.value.reason == "oversize"


def test_submit_rejects_unsupported_types(make_config) -> None:
    with Agent(make_config()) as agent:
        with pytest.raises(TypeError):
            agent.submit(123)  # type: ignore[arg-type]


def test_submit_many_forms(make_config, out_dir: Path) -> None:
    with Agent(make_config()) as agent:
        lines = b"\n".join([record_bytes(1), b"{broken", b"", record_bytes(2)]) + b"\r\n"
        assert agent.submit_many(lines) == 2
        mixed = [record_bytes(3), json.dumps(make_record(4)), make_record(5), b"nope"]
        assert agent.submit_many(mixed) == 3
        assert agent.submit_many(iter([make_record(6)])) == 1
        pretty = json.dumps(make_record(7), indent=2)  # multi-line: sent on its own
        assert agent.submit_many([pretty, make_record(8)]) == 2
        assert agent.submit_many([]) == 0
        assert agent.submit_many(b"") == 0
        with pytest.raises(InvalidRecord) as info:
            agent.submit_many([make_record(9), b"{", make_record(10)], strict=True)
        assert info.value.accepted == 2
        assert "line 1" in str(info.value)
        assert agent.submit_many([make_record(11)], strict=True) == 1
        agent.flush()
        assert agent.stats()["records_delivered"] == 11
    assert len(delivered(out_dir)) == 11


def test_close_is_idempotent_and_final(make_config) -> None:
    agent = Agent(make_config())
    agent.submit(make_record(1))
    assert not agent.closed
    agent.close()
    agent.close()
    assert agent.closed
    for call in (
        lambda: agent.submit(make_record(2)),
        lambda: agent.submit_many([make_record(3)]),
        lambda: agent.flush(),
    ):
        with pytest.raises(Closed) as info:
            call()
        assert info.value.status == Status.CLOSED
    stats = agent.stats()  # final counters survive close
    assert stats["records_delivered"] == 1 and stats["records_pending"] == 0
    # The data dir is free again.
    with Agent(make_config()) as again:
        again.submit(make_record(4))


def test_context_manager_closes_on_error(make_config) -> None:
    with pytest.raises(RuntimeError):
        with Agent(make_config()) as agent:
            agent.submit(make_record(1))
            raise RuntimeError("boom")
    assert agent.closed
    assert agent.stats()["records_delivered"] == 1


def test_garbage_collected_agent_delivers(make_config, out_dir: Path) -> None:
    agent = Agent(make_config())
    for i in range(20):
        agent.submit(make_record(i))
    del agent
    gc.collect()
    assert len(delivered(out_dir)) == 20


def test_failing_destination(make_config, tmp_path: Path) -> None:
    """A file where the bucket folder should be: delivery fails, flush times out with
    DestinationError, close reports it too but still closes."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "audit-logs").write_text("not a folder")
    agent = Agent(make_config())
    agent.submit(make_record(1))
    with pytest.raises((DestinationError, Timeout)) as info:
        agent.flush(timeout=1.0)
    assert info.value.status in (Status.DESTINATION_FAILED, Status.TIMEOUT)
    with pytest.raises((DestinationError, Timeout)):
        agent.close(timeout=0.2)
    assert agent.closed
    agent.close()


def test_error_classes() -> None:
    from opentrail._errors import error_class

    assert error_class(Status.INVALID_RECORD) is InvalidRecord
    assert error_class(Status.BUSY) is Busy
    assert error_class(Status.CLOSED) is Closed
    assert error_class(Status.CONFIG_PARSE) is ConfigError
    assert error_class(Status.DATA_DIR_LOCKED) is ConfigError
    assert error_class(Status.DESTINATION_FAILED) is DestinationError
    assert error_class(Status.NULL_PARAMETER) is opentrail.UsageError
    assert error_class(Status.PANIC) is opentrail.Panic
    assert issubclass(opentrail.Poisoned, opentrail.InternalError)
    for cls in (InvalidRecord, Busy, Closed, Timeout):
        assert issubclass(cls, IntakeError)
    e = Busy(Status.BUSY, "full")
    assert e.status_name == "BUSY" and e.status == 301
