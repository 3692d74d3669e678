"""A Parquet date, timestamp or duration Python cannot hold (Spark writes 9999-12-31 and
later as sentinels; a year-10000 date is one): the row is read, quarantined or sampled
like any other, the value shown as Arrow writes it as text. Found by attack: Arrow's
``to_pylist`` raised OverflowError on such a row (exit 3 in check, curate and audit)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.io import read_batches

KEY = "AKIAIOSFODNN7EXAMPLQ"  # the shape of an AWS key id

# (type, a value past what Python's datetime / timedelta holds, how the row's raw shows it:
# Arrow's text, or the count of the unit the file stores: Parquet has no seconds timestamp
# nor date64, and pyarrow writes them as milliseconds and days)
OUT_OF_RANGE = {
    "timestamp[s]": (pa.timestamp("s"), 10**13, "<value out of range: 10000000000000000>"),
    "timestamp[ms]": (pa.timestamp("ms"), 10**16, "<value out of range: 10000000000000000>"),
    "date64": (pa.date64(), 10**16, "<value out of range: 115740740>"),
    "date32": (pa.date32(), 3_000_000, "10183-09-21"),
    "duration[s]": (pa.duration("s"), 10**15, "1000000000000000"),
}


def _not_utf8(values: list[bytes]) -> pa.Array:
    return pa.array(values, pa.binary()).view(pa.string())


def _bad_rows_one_out_of_range(tmp_path: Path, kind: str) -> Path:
    """Rows 1 and 2 hold bytes that are not UTF-8; row 1 a key in its other column, row 2
    the out-of-range value."""
    dtype, huge, _ = OUT_OF_RANGE[kind]
    prompts = _not_utf8([b"good prompt 0", b"bad \xff prompt 1", b"bad \xff prompt 2", b"good 3"])
    completions = ["reply 0", f"my key is {KEY}", "reply 2", "reply 3"]
    when = pa.array([0, 0, huge, 0], dtype)
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"prompt": prompts, "completion": completions, "v": when}), path)
    return path


@pytest.mark.parametrize("kind", sorted(OUT_OF_RANGE))
def test_a_bad_row_with_an_out_of_range_value_keeps_every_rows_raw(
    tmp_path: Path, kind: str
) -> None:
    path = _bad_rows_one_out_of_range(tmp_path, kind)
    batches = list(read_batches([path]))
    assert [r for b in batches for r in b.rows.to_pylist()] == [0, 3]
    quarantined = {q.row: q for b in batches for q in b.quarantined}
    assert sorted(quarantined) == [1, 2]
    assert all(q.raw is not None and q.lossy for q in quarantined.values())
    # The row beside the out-of-range one keeps its raw (so its key is scanned).
    assert json.loads(quarantined[1].raw or "")["completion"] == f"my key is {KEY}"
    row = json.loads(quarantined[2].raw or "")
    assert row["prompt"] == "bad \ufffd prompt 2"
    assert row["v"] == OUT_OF_RANGE[kind][2]


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (["check", "{f}", "--no-golden"], 1),
        (["curate", "{f}", "--out", "{o}", "--quiet"], 0),
        (["audit", "{f}", "--no-golden", "--out", "{o}"], 1),
    ],
)
def test_commands_quarantine_a_bad_row_with_an_out_of_range_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], words: list[str], code: int
) -> None:
    path = _bad_rows_one_out_of_range(tmp_path, "timestamp[s]")
    argv = [w.format(f=path, o=tmp_path / "out") for w in words]
    assert main(argv) == code
    assert "internal error" not in capsys.readouterr().err
    if words[0] == "audit":
        report = json.loads((tmp_path / "out" / "audit.json").read_text(encoding="utf-8"))
        rows = {f["rule"]: [x.rsplit(":", 1)[1] for x in f["rows"]] for f in report["findings"]}
        assert rows["FMT001"] == ["2", "3"]
        assert rows["SEC001"] == ["2"]


def _valid_rows_out_of_range(tmp_path: Path) -> Path:
    path = tmp_path / "d.parquet"
    table = pa.table(
        {
            "prompt": ["a question", "", "another question"],
            "completion": ["x", "y", "z"],
            "d": pa.array([0, 3_000_000, 3_000_000], pa.date32()),
            "t": pa.array([0, 10**13, 0], pa.timestamp("s")),
        }
    )
    pq.write_table(table, path)
    return path


def test_a_row_quarantined_for_its_content_shows_an_out_of_range_value(tmp_path: Path) -> None:
    path = _valid_rows_out_of_range(tmp_path)
    out = tmp_path / "cur"
    assert main(["curate", str(path), "--out", str(out), "--quiet"]) == 0
    [line] = (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert (entry["row"], entry["reason"]) == (1, "field 'prompt' is empty")
    raw = json.loads(entry["raw"])
    assert (raw["d"], raw["t"]) == ("10183-09-21", "<value out of range: 10000000000000000>")


def test_audit_samples_a_row_with_an_out_of_range_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: audit exited 3 (Date32Scalar.as_py) where check and curate passed.
    path = tmp_path / "d.parquet"
    table = pa.table(
        {
            "prompt": ["a question", "another question"],
            "completion": ["x", "y"],
            "d": pa.array([0, 3_000_000], pa.date32()),
        }
    )
    pq.write_table(table, path)
    out = tmp_path / "aud"
    assert main(["audit", str(path), "--no-golden", "--out", str(out)]) == 0
    assert "internal error" not in capsys.readouterr().err
    sample = [json.loads(s) for s in (out / "sample.jsonl").read_text().splitlines()]
    assert sorted(s["record"]["d"] for s in sample) == ["10183-09-21", "1970-01-01"]


def test_a_time_of_day_out_of_range_is_shown_as_its_count_not_wrapped(tmp_path: Path) -> None:
    # Found by attack: a time64[us] of 10^15 (over 24 hours, no time of day) was written to
    # curate's quarantine as "01:46:40": to_pylist wraps it round the clock, a wrong value.
    # At any depth (a struct, a list, a map, a dictionary) and in either time type.
    bad, ok = 10**15, 3_600_000_000
    us = pa.time64("us")
    table = pa.table(
        {
            "prompt": ["a question", "", ""],
            "completion": ["x", "y", "z"],
            "t": pa.array([0, bad, ok], us),
            "t32": pa.array([0, -5, 5_000], pa.time32("ms")),
            "s": pa.StructArray.from_arrays([pa.array([0, bad, ok], us)], ["when"]),
            "l": pa.array([[0], [ok, bad], [ok]], pa.list_(us)),
            "m": pa.array([[("k", 0)], [("k", bad)], [("k", ok)]], pa.map_(pa.string(), us)),
            "d": pa.DictionaryArray.from_arrays(
                pa.array([0, 1, 0], pa.int32()), pa.array([ok, bad], us)
            ),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    out = tmp_path / "cur"
    assert main(["curate", str(path), "--out", str(out), "--quiet"]) == 0
    lines = (out / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()
    raws = {json.loads(line)["row"]: json.loads(json.loads(line)["raw"]) for line in lines}
    shown = f"<value out of range: {bad}>"
    assert raws[1]["t"] == shown
    assert raws[1]["t32"] == "<value out of range: -5>"
    assert raws[1]["s"] == {"when": shown}
    assert raws[1]["l"][1] == shown
    assert shown in json.dumps(raws[1]["m"])
    assert raws[1]["d"] == shown
    assert "01:46:40" not in json.dumps(raws[1])
    # the row beside it, its times in range, as before
    assert (raws[2]["t"], raws[2]["t32"], raws[2]["s"], raws[2]["d"]) == (  # as before
        "01:00:00",
        "00:00:05",
        {"when": "01:00:00"},
        "01:00:00",
    )
