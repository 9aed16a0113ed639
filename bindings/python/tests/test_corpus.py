"""The whole real-CloudTrail corpus through the binding: every valid record delivered (read back
from the .json.gz files), every invalid one refused with InvalidRecord and the listed reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import canonical, delivered

from opentrail import Agent, InvalidRecord, Status


def test_corpus_single_submits(make_config, out_dir: Path, corpus, corpus_refused) -> None:
    accepted: list[bytes] = []
    refused: dict[int, str] = {}
    with Agent(make_config()) as agent:
        for i, line in enumerate(corpus):
            try:
                agent.submit(line)
                accepted.append(line)
            except InvalidRecord as e:
                assert e.status == Status.INVALID_RECORD
                refused[i] = e.reason or ""
        agent.flush(timeout=120)
        stats = agent.stats()
    assert refused == corpus_refused
    assert len(accepted) == len(corpus) - len(corpus_refused)
    assert stats["records_accepted"] == len(accepted)
    assert stats["records_rejected"] == len(corpus_refused)
    assert stats["records_delivered"] == len(accepted)
    assert sorted(delivered(out_dir)) == sorted(canonical(line) for line in accepted)


def test_corpus_submit_many(make_config, out_dir: Path, corpus, corpus_refused) -> None:
    valid = [line for i, line in enumerate(corpus) if i not in corpus_refused]
    with Agent(make_config(durability="spool")) as agent:
        assert agent.submit_many(b"\n".join(corpus)) == len(valid)
        agent.flush(timeout=120)
        assert agent.stats()["records_delivered"] == len(valid)
    assert sorted(delivered(out_dir)) == sorted(canonical(line) for line in valid)


def test_corpus_submit_many_strict(make_config, corpus, corpus_refused) -> None:
    first = min(corpus_refused)
    with Agent(make_config()) as agent:
        with pytest.raises(InvalidRecord) as info:
            agent.submit_many(corpus, strict=True)
        assert info.value.accepted == len(corpus) - len(corpus_refused)
        assert info.value.reason == corpus_refused[first]
        assert f"line {first}:" in str(info.value)
