from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"  # vendored excerpts, each with its license and provenance
EXAMPLE = ROOT / "examples" / "corpus"


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, list[object]], Path]:
    def write(name: str, records: list[object]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for r in records:
                f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
        return path

    return write


def t0_records(limit: int) -> list[dict[str, str]]:
    """Real templated records (prompt/completion) with real near-duplicates: the first
    ``limit`` of the vendored T0 sample (40 rows of each of 56 templates, in template
    order; row i of every template of one dataset is the same instance)."""
    with gzip.open(DATA / "t0_templates_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows[:limit]]
