"""Parquet inputs with nanosecond times: a quarantined row's ``raw`` shows them to the
nanosecond, and no command needs pandas to read them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_support import cli


@pytest.mark.slow
def test_nanosecond_times_of_a_quarantined_row_are_shown_as_written(tmp_path: Path) -> None:
    # Found by attack: the row's raw JSON came from to_pylist, which raises on a
    # nanosecond value Python's datetime cannot hold: exit 3 in split, leakage and staged
    # curate (plain curate passed only because something on its path imported pandas).
    ns = 1714564800123456789
    table = pa.table(
        {
            "text": ["hello there world", "", "another row of text"],
            "created": pa.array([ns] * 3, pa.timestamp("ns")),
            "at": pa.array([1, 2, 3], pa.time64("ns")),
            "waits": pa.array([[1], [2], [3]], pa.list_(pa.duration("ns"))),
            "tags": pa.array(
                [[("k", ns)], [("k", ns + 1)], [("k", ns)]],
                pa.map_(pa.string(), pa.timestamp("ns", "UTC")),
            ),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    (tmp_path / "ref.jsonl").write_text(json.dumps({"prompt": "a golden question here"}) + "\n")
    runs = {
        "split": ["split", "in.parquet", "--out", "s"],
        "staged": ["curate", "in.parquet", "--out", "c", "--work-dir", "w"],
        "leakage": ["leakage", "--reference", "ref.jsonl", "--corpus", "in.parquet", "--out", "l"],
    }
    for name, args in runs.items():
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, (name, done.stderr[-2000:])
    for out in ("s", "c"):
        [row] = [
            json.loads(x) for x in (tmp_path / out / "quarantine.jsonl").read_text().splitlines()
        ]
        assert row["row"] == 1 and row["reason"] == "field 'text' is empty"
        raw = json.loads(row["raw"])
        assert raw["created"] == "2024-05-01 12:00:00.123456789"
        assert raw["at"] == "00:00:00.000000002"
        assert raw["tags"] == [["k", "2024-05-01 12:00:00.123456790Z"]]
