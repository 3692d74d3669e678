"""Helpers that write real JSONL files and run the audit on them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from audit_support import Record, write_records

from curagate.audit import audit


@pytest.fixture
def run_audit(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """``run_audit(records, config=None)``: audit one JSONL file, return audit.json."""
    counter = iter(range(1000))

    def _run(records: Sequence[Record], config: dict[str, Any] | None = None) -> dict[str, Any]:
        n = next(counter)
        data = write_records(tmp_path / f"data{n}" / "train.jsonl", records)
        cfg_path = None
        if config is not None:
            cfg_path = tmp_path / f"audit{n}.yaml"
            cfg_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return audit([data], config=cfg_path, out=tmp_path / f"out{n}")

    return _run
