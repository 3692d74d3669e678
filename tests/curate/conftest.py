from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
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


def t0_records(limit: int, files: int = 6) -> list[dict[str, str]]:
    """Real templated records (prompt/completion) with real near-duplicates."""
    paths = sorted((SHARED / "t0_templates").glob("*.jsonl"))[:files]
    out: list[dict[str, str]] = []
    for p in paths:
        with p.open(encoding="utf-8") as f:
            out.extend(json.loads(line) for line in f if line.strip())
    return out[:limit]
