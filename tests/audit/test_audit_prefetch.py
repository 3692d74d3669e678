"""Reading ahead (audit/prefetch.py): the same batches in the same order, errors where
they happened, bounded, stoppable; the audit's reports do not depend on it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_support import write_records

from curagate.audit import audit
from curagate.audit.config import AuditConfig
from curagate.audit.engine import audit_context, finish, run_audit
from curagate.audit.prefetch import ReadAhead, read_ahead
from curagate.audit.shard import audit_shard
from curagate.io import expand_inputs, read_batches


def _counting(n: int, made: list[int], fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise KeyError(f"item {i}")
        made.append(i)
        yield i


def test_items_come_in_order_and_end_once() -> None:
    made: list[int] = []
    with ReadAhead(_counting(50, made)) as items:
        assert list(items) == list(range(50))
        assert next(items, "end") == "end"


def test_the_reader_stays_at_most_ahead_items_ahead() -> None:
    made: list[int] = []
    items = ReadAhead(_counting(20, made), ahead=2)
    for used in range(20):
        assert next(items) == used
        # What the consumer holds, plus at most two read ahead.
        assert len(made) <= used + 1 + 2
    assert list(items) == []


def test_an_error_is_raised_after_the_items_before_it() -> None:
    made: list[int] = []
    items = ReadAhead(_counting(10, made, fail_at=4))
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="item 4"):
        next(items)
    assert next(items, "end") == "end"


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.set()

    items = ReadAhead(source())
    assert next(items) == 0
    items.close()
    assert closed.is_set()
    assert not items._thread.is_alive()
    assert next(items, "end") == "end"
    items.close()  # twice is fine


def test_ahead_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ahead"):
        ReadAhead(iter([1]), ahead=0)


def _corpus(root: Path) -> list[Path]:
    rows = [
        {"prompt": f"prompt {i} " * (1 + i % 7), "completion": f"answer {i}"} for i in range(300)
    ]
    rows[7] = {"prompt": "mail jane.doe@example.com", "completion": "ok"}
    rows[40] = rows[3]
    lines: list[object] = [*rows[:100], "{broken", *rows[100:]]
    return [write_records(root / "a.jsonl", lines), write_records(root / "b.jsonl", rows[::-1])]


def test_reports_are_the_same_read_ahead_or_not(tmp_path: Path) -> None:
    paths = _corpus(tmp_path / "data")
    cfg = AuditConfig.model_validate({"sample": {"n": 5}, "max_row_refs": 4})
    files = expand_inputs([str(p) for p in paths])
    ctx = audit_context(cfg, collect_table=True)
    plain = finish(audit_shard(ctx, read_batches(files, batch_rows=64)), cfg, files)
    with read_ahead(files, cfg, batch_rows=64) as batches:
        ahead = finish(audit_shard(ctx, batches), cfg, files)
    assert (ahead.report, ahead.sample, ahead.table) == (plain.report, plain.sample, plain.table)
    started = run_audit(paths, cfg, collect_table=True, reading=read_ahead(files, cfg))
    assert started.report == run_audit(paths, cfg, collect_table=True).report
    assert audit(paths, config=cfg, out=tmp_path / "out") == plain.report


def test_reading_ahead_is_for_one_local_shard(tmp_path: Path) -> None:
    paths = _corpus(tmp_path / "data")
    cfg = AuditConfig()
    reading = read_ahead(expand_inputs([str(p) for p in paths]), cfg)
    with pytest.raises(ValueError, match="one shard"):
        run_audit(paths, cfg, shards=2, reading=reading)
    assert not reading._thread.is_alive()
