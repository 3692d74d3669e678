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
        pa.array([10**15], pa.duration("s")),
        pa.array([[{"when": BIG_US}]], pa.list_(pa.struct([("when", pa.timestamp("us"))]))),
    ],
    ids=["timestamp", "date64", "duration", "nested"],
)
def test_a_find_in_rows_holding_values_python_cannot_hold(tmp_path: Path, column: pa.Array) -> None:
    """The scan's find was read back with to_pylist of the whole item row: a year-10000
    date or a duration of 10**15 s in any column raised OverflowError (exit 3 in split)."""
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


DAY_10000 = 2932897 + 1  # days since 1970: in the year 10000


@pytest.mark.parametrize(
    "column",
    [
        pa.array([19000 + i for i in range(29)] + [DAY_10000], pa.date32()),
        pa.array(
            [(19000 + i) * 86_400_000 for i in range(29)] + [DAY_10000 * 86_400_000], pa.date64()
        ),
        pa.array([*range(29), 10**15], pa.duration("s")),
        pa.array(
            [{"when": (19000 + i) * 86_400 * 10**6} for i in range(29)] + [{"when": BIG_US}],
            pa.struct([("when", pa.timestamp("us"))]),
        ),
    ],
    ids=["date32", "date64", "duration", "struct"],
)
@pytest.mark.parametrize("option", ["--time", "--group", "--label"])
def test_split_by_a_column_python_cannot_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: pa.Array, option: str
) -> None:
    """--time/--group/--label on a date past the year 9999, a duration of 10**15 s or a struct
    holding such a timestamp: exit 3 (OverflowError in to_pylist). A date is a time as its
    midnight, a duration or a struct no time (exit 2, naming the column); as a group or a
    label each is one value per row."""
    from curagate.cli import main

    texts = [f"distinct row number {i} with its own words {i * 7}" for i in range(30)]
    src = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": texts, "c": column}), src)
    out = tmp_path / "out"
    code = main(["split", str(src), "--out", str(out), option, "c", "--ratios", "80/10/10"])
    err = capsys.readouterr().err
    if option == "--time" and not pa.types.is_date(column.type):
        assert code == 2, err
        assert "'c'" in err and "use numbers or ISO-8601 times" in err
        return
    assert code == 0, err
    rows = {s: pq.read_table(out / f"{s}.parquet") for s in ("train", "val", "test")}
    assert sum(t.num_rows for t in rows.values()) == 30
    if option == "--time":
        # the year-10000 row is the latest: in test
        assert texts[-1] in rows["test"].column("text").to_pylist()
