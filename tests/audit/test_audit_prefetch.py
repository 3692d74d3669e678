"""Reading ahead in the audit (audit/prefetch.py): its reports do not depend on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_support import write_records

from curagate.audit import audit
from curagate.audit.config import AuditConfig
from curagate.audit.engine import audit_context, finish, run_audit
from curagate.audit.prefetch import read_ahead
from curagate.audit.shard import audit_shard
from curagate.io import expand_inputs, read_batches


def _corpus(root: Path) -> list[Path]:
    rows = [
        {"prompt": f"prompt {i} " * (1 + i % 7), "completion": f"answer {i}"} for i in range(300)
    ]
    rows[7] = {"prompt": "mail jane.doe@acme-corp.com", "completion": "ok"}
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
