"""Concurrency: many threads on one agent, close racing submits, and the GIL released during
blocking calls."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import delivered, make_record, record_bytes

from opentrail import Agent, Closed, DestinationError, Timeout

THREADS = 4
PER_THREAD = 400


def test_concurrent_submit_flush_stats(make_config, out_dir: Path) -> None:
    errors: list[BaseException] = []
    with Agent(make_config()) as agent:

        def submitter(t: int) -> None:
            try:
                for i in range(PER_THREAD):
                    n = t * 1_000_000 + i
                    if i % 10 == 0:
                        agent.submit_many([record_bytes(n)], strict=True)
                    else:
                        agent.submit(record_bytes(n))
                    if i % 100 == 0:
                        agent.stats()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def flusher() -> None:
            try:
                for _ in range(5):
                    agent.flush(timeout=30)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=submitter, args=(t,)) for t in range(THREADS)]
        threads.append(threading.Thread(target=flusher))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        agent.flush(timeout=30)
        assert agent.stats()["records_delivered"] == THREADS * PER_THREAD
    assert len(delivered(out_dir)) == THREADS * PER_THREAD


def test_close_races_submits(make_config, out_dir: Path) -> None:
    agent = Agent(make_config())
    ok = [0] * THREADS
    other: list[BaseException] = []

    def submitter(t: int) -> None:
        for i in range(100_000):
            try:
                agent.submit(record_bytes(t * 1_000_000 + i))
                ok[t] += 1
            except Closed:
                return
            except BaseException as e:  # noqa: BLE001
                other.append(e)
                return

    threads = [threading.Thread(target=submitter, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    agent.close()
    for t in threads:
        t.join()
    assert not other, other
    stats = agent.stats()
    assert stats["records_accepted"] == sum(ok)
    assert stats["records_delivered"] == sum(ok)
    assert len(delivered(out_dir)) == sum(ok)


def test_gil_released_during_blocking_flush(make_config, tmp_path: Path) -> None:
    """flush() blocks in C for ~1 s (the destination fails); Python threads keep running."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "audit-logs").write_text("not a folder")
    agent = Agent(make_config())
    agent.submit(make_record(1))
    done = threading.Event()
    raised: list[BaseException] = []

    def flush() -> None:
        try:
            agent.flush(timeout=1.0)
        except (DestinationError, Timeout) as e:
            raised.append(e)
        finally:
            done.set()

    t = threading.Thread(target=flush)
    t.start()
    spins = 0
    start = time.monotonic()
    while not done.is_set():
        spins += 1
    elapsed = time.monotonic() - start
    t.join()
    assert raised, "flush should time out against a failing destination"
    assert elapsed >= 0.5
    assert spins > 10_000, f"main thread barely ran during flush ({spins} spins)"
    try:
        agent.close(timeout=0.2)
    except (DestinationError, Timeout):
        pass
