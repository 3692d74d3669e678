"""bench/leakage_bench.py takes a .jsonl file or a folder for --t0 and --gsm8k.

Found by attack: `--t0 <a single .jsonl file>` globbed it as a folder, loaded 0 clean
records, and crashed dividing the false flags by them (ZeroDivisionError). A file is
read; a path with no records is refused (exit 2) naming the option."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "leakage_bench.py"


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("leakage_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_file_or_a_folder_is_read_and_an_empty_one_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = bench()
    rows = [{"prompt": f"p{i}", "completion": "c"} for i in range(3)]
    file = tmp_path / "t0" / "one.jsonl"
    file.parent.mkdir()
    file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert b.load_t0(file) == rows
    assert b.load_t0(file.parent) == rows
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    assert b.load_gsm8k(tmp_path / "gsm8k") == [{"question": "q"}]
    for path in (tmp_path / "gsm8k" / "absent.jsonl", tmp_path / "empty"):
        path.parent.mkdir(exist_ok=True)
        if path.name == "empty":
            path.mkdir()
        with pytest.raises(SystemExit) as e:
            b.load_t0(path)
        assert e.value.code == 2
        assert f"--t0 {path}" in capsys.readouterr().err
