"""`--time` over number strings (a JSONL string field, a Parquet string column, a JSON
number column the reader keeps as its values' strings): ordered as the exact numbers.

Found by attack: a decimal string was read as a double, so "1700000000.123456789" and
"...788" were one time and fell in input order (the later row in train, the earlier in
test); an epoch-nanosecond string such as "1701011210000000000" (2023-11-26) was taken
by Python's lenient ISO parser for 1701-01-12, 10 seconds later tied with it, and a column
of such strings beside ones it could not read (month 00) was refused as mixing numbers and
times; "1e400" was refused as not finite; a JSON number 20240101 kept as a string was an
ISO date (YYYYMMDD) beside the column's numbers, so the split was refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main

SPLITS = ("train", "val", "test")
# Newest first in every input: a tie (input order) puts the newest row in train.
ORDER = [2, 1, 0]


def times_by_split(out: Path, column: str = "t") -> dict[str, list[Any]]:
    return {s: pq.read_table(out / f"{s}.parquet").column(column).to_pylist() for s in SPLITS}


def one_each(oldest_first: list[str]) -> dict[str, list[str]]:
    return {s: [v] for s, v in zip(SPLITS, oldest_first, strict=True)}


def write_rows(path: Path, values: list[Any]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"text": f"row {k} distinct words {k * 7}", "t": v}) + "\n"
            for k, v in enumerate(values)
        ),
        encoding="utf-8",
    )
    return path


def split(src: Path, out: Path) -> int:
    return main(["split", str(src), "--out", str(out), "--time", "t", "--ratios", "1/1/1"])


@pytest.mark.parametrize(
    "oldest_first",
    [
        # 1 ns apart, as decimal epoch seconds: one double.
        ["1700000000.123456787", "1700000000.123456788", "1700000000.123456789"],
        # epoch ns of 2023-11-26, 10 s apart: each parses in Python as 1701-01-12.
        ["1701011200000000000", "1701011210000000000", "1701011220000000000"],
        # epoch ns, some of which Python parses as a date (1701-01-12), some not (month 00).
        ["1700000000000000000", "1701011200000000000", "1701011210000000001"],
        # epoch ms, 13 digits: parsed as 1701-01-12 11:00 and so on.
        ["1701011100000", "1701011200000", "1701011210000"],
        # past a double's precision and range
        ["999.99999999999999999", "1e3", "1000.0000000000000001"],
        ["1e399", "1e400", "2e400"],
        ["-1e400", "-5", "1" * 5000],
    ],
    ids=[
        "decimal-ns",
        "epoch-ns-as-1701",
        "epoch-ns-mixed",
        "epoch-ms",
        "exponent",
        "huge",
        "long",
    ],
)
def test_number_strings_are_ordered_exactly(tmp_path: Path, oldest_first: list[str]) -> None:
    values = [oldest_first[k] for k in ORDER]
    assert split(write_rows(tmp_path / "t.jsonl", values), tmp_path / "out") == 0
    assert times_by_split(tmp_path / "out") == one_each(oldest_first)


def test_a_parquet_string_column_of_numbers_is_ordered_exactly(tmp_path: Path) -> None:
    oldest_first = ["1700000000.123456788", "1701011200000000000", "1701011210000000000"]
    table = pa.table(
        {
            "text": [f"row {k} distinct words {k * 7}" for k in ORDER],
            "t": pa.array([oldest_first[k] for k in ORDER], type=pa.large_string()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    assert split(tmp_path / "t.parquet", tmp_path / "out") == 0
    assert times_by_split(tmp_path / "out") == one_each(oldest_first)


def test_a_kept_number_column_holding_a_yyyymmdd_number_is_numbers(tmp_path: Path) -> None:
    # 2^53 + 1 beside a fraction: the reader keeps the column as strings, and 20240101
    # became "20240101", an ISO date to --time: "mixes numbers ... and times", exit 2.
    src = tmp_path / "t.jsonl"
    src.write_text(
        "".join(
            f'{{"text": "row {k} distinct words {k * 7}", "t": {v}}}\n'
            for k, v in enumerate(["9007199254740993", "20240101", "1.5"])
        ),
        encoding="utf-8",
    )
    assert split(src, tmp_path / "out") == 0
    assert times_by_split(tmp_path / "out") == {
        "train": ["1.5"],
        "val": ["20240101"],
        "test": ["9007199254740993"],
    }


def test_yyyymmdd_strings_stay_dates_beside_iso_times(tmp_path: Path) -> None:
    oldest_first = ["20240501", "2024-05-01T12:00:00Z", "20240502"]
    values = [oldest_first[k] for k in ORDER]
    assert split(write_rows(tmp_path / "t.jsonl", values), tmp_path / "out") == 0
    assert times_by_split(tmp_path / "out") == one_each(oldest_first)


def test_number_strings_beside_iso_times_exit_2_naming_both_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_rows(tmp_path / "t.jsonl", ["2024-05-01", "1701011200000000000", "20240502"])
    assert split(src, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "--time column 't' mixes numbers (" in err and "t.jsonl:2) and times (" in err, err
    assert "t.jsonl:1); write every time as a number" in err, err
    assert not (tmp_path / "out").exists()


def test_a_number_string_beyond_any_exponent_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_rows(tmp_path / "t.jsonl", ["1", "2", "1e9999999999999999999999"])
    assert split(src, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "t.jsonl:3" in err and "'t'" in err and "Traceback" not in err, err


def test_curate_split_orders_number_strings_exactly(tmp_path: Path) -> None:
    oldest_first = ["1700000000.123456787", "1700000000.123456788", "1700000000.123456789"]
    src = write_rows(tmp_path / "t.jsonl", [oldest_first[k] for k in ORDER])
    cfg = tmp_path / "c.yaml"
    cfg.write_text("split:\n  enabled: true\n  time: t\n  ratios: [1, 1, 1]\n")
    out = tmp_path / "cur"
    assert main(["curate", str(src), "--out", str(out), "--config", str(cfg)]) == 0
    got = times_by_split(out / "splits")
    assert got == one_each(oldest_first)
