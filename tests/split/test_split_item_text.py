"""The leakage scan of split with and without --templates: which finds hold an item's own
text (split_pairs.covers_item_text), and rows the scan reads whatever their other columns
hold (docs/split.md, "Prompt templates")."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.split import CheckOptions, verify_split_files

BIG_US = 253402300800_000000 + 10**12  # microseconds since 1970: past the year 9999


def _words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randrange(20000)}x" for _ in range(n))


@pytest.mark.parametrize(
    "column",
    [
        pa.array([BIG_US], pa.timestamp("us")),
        pa.array([BIG_US // 1000], pa.date64()),
        pa.array([2**62], pa.duration("ns")),
        pa.array([[{"when": BIG_US}]], pa.list_(pa.struct([("when", pa.timestamp("us"))]))),
    ],
    ids=["timestamp", "date64", "duration", "nested"],
)
def test_a_find_in_rows_holding_values_python_cannot_hold(tmp_path: Path, column: pa.Array) -> None:
    """The scan's find was read back with to_pylist of the whole item row: a year-10000
    date or a 2**62 ns duration in any column raised OverflowError (exit 3 in split)."""
    rng = random.Random(0)
    texts = [_words(rng, 12) for _ in range(12)]
    copied = texts[10]
    parts = {"train": [*texts[:8], copied], "val": texts[8:10], "test": texts[10:]}
    files = []
    for name, rows in parts.items():
        values = pa.concat_arrays([column] * len(rows))
        path = tmp_path / f"{name}.parquet"
        pq.write_table(pa.table({"text": rows, "extra": values}), path)
        files.append(path)
    report = verify_split_files(*files, CheckOptions())
    assert report["leaks_total"] == 1
