"""Scenario 5: the `lines` file source while it runs: appends, new files, rename rotation,
copytruncate, truncation, partial last lines and CRLF line endings."""

import os
import shutil
import time

from helpers import RecordFactory, TreeWatcher, compare_delivered, wait_until


class Feed:
    def __init__(self, agent):
        self.agent = agent
        self.fac = RecordFactory(limit=400)
        self.n = 0
        self.expected = []

    def recs(self, k):
        out = []
        for _ in range(k):
            self.n += 1
            rec = self.fac.make(self.n)[0]
            self.expected.append(self.fac.verdict(self.n))
            out.append(rec)
        return out

    def append(self, name, k, eol=b"\n"):
        with open(self.agent.root / "in" / name, "ab") as f:
            f.write(b"".join(r + eol for r in self.recs(k)))

    def settle(self, what, timeout=20):
        """Waits until exactly the expected records are delivered (and stay so briefly)."""
        want = len(self.expected)
        wait_until(lambda: self.agent.delivered_count() >= want, timeout,
                   what=f"{want} records delivered after {what}")
        time.sleep(0.4)
        got = self.agent.delivered_count()
        assert got == want, f"after {what}: {got} records delivered, want {want}"
        problems = compare_delivered(self.agent.delivered(), self.expected)
        assert not problems, (what, problems)
        assert self.agent.quarantine() == [], (what, self.agent.quarantine()[:3])


def test_tailing(make_agent):
    agent = make_agent("tail", delivery_interval_secs=1, poll_interval_ms=100)
    feed = Feed(agent)
    indir = agent.root / "in"
    feed.append("a.jsonl", 20)
    watcher = TreeWatcher(agent.out)
    watcher.start()
    agent.start()
    try:
        feed.settle("start")

        # appended while running
        feed.append("a.jsonl", 20)
        feed.settle("append")

        # a new file while running
        feed.append("b.jsonl", 20)
        feed.settle("new file")

        # rename rotation: the writer appends, the file is renamed out of the glob, the writer
        # still appends a few lines to the renamed file, then a new a.jsonl starts
        feed.append("a.jsonl", 10)
        os.rename(indir / "a.jsonl", indir / "a.jsonl.1")
        feed.append("a.jsonl.1", 5)
        feed.append("a.jsonl", 10)
        feed.settle("rename rotation")

        # copytruncate: copy to a name the glob matches, truncate the original, keep writing
        feed.append("b.jsonl", 10)
        shutil.copyfile(indir / "b.jsonl", indir / "b-rotated.jsonl")
        with open(indir / "b.jsonl", "r+b") as f:
            f.truncate(0)
        feed.append("b.jsonl", 10)
        feed.settle("copytruncate")
        feed.append("b.jsonl", 5)
        feed.settle("append after copytruncate")

        # truncation (no copy), then new content
        feed.append("c.jsonl", 10)
        feed.settle("c.jsonl")
        with open(indir / "c.jsonl", "r+b") as f:
            f.truncate(0)
        feed.append("c.jsonl", 7)
        feed.settle("truncation")

        # a partial last line is not consumed until its newline arrives
        (rec,) = feed.recs(1)
        with open(indir / "a.jsonl", "ab") as f:
            f.write(rec[:len(rec) // 2])
        (first,) = feed.recs(1)
        with open(indir / "d.jsonl", "ab") as f:  # a new file whose only line is partial
            f.write(first[:100])
        time.sleep(2.5)  # > several poll and delivery intervals
        assert agent.delivered_count() == len(feed.expected) - 2, "partial line consumed"
        assert agent.quarantine() == [], agent.quarantine()[:2]
        with open(indir / "a.jsonl", "ab") as f:
            f.write(rec[len(rec) // 2:] + b"\n")
        with open(indir / "d.jsonl", "ab") as f:
            f.write(first[100:] + b"\n")
        feed.settle("partial lines completed")

        # CRLF line endings and blank lines
        feed.append("e.jsonl", 10, eol=b"\r\n")
        with open(indir / "e.jsonl", "ab") as f:
            f.write(b"\r\n   \r\n\n")
        feed.append("e.jsonl", 3, eol=b"\r\n")
        feed.settle("CRLF")
        assert agent.alive()

        # a clean restart resumes where it stopped: nothing re-read, appends picked up
        assert agent.stop() == 0, agent.log()
        feed.append("a.jsonl", 5)
        feed.append("f.jsonl", 5)
        agent.start()
        feed.settle("restart")
    finally:
        watcher.stop()
    assert agent.stop() == 0, agent.log()
    assert not watcher.problems, watcher.problems
    problems = compare_delivered(agent.delivered(), feed.expected)
    assert not problems, problems
