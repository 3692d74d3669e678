"""A Parquet string column may hold bytes that are not UTF-8 (its writer did not check):
the row is quarantined with file, row and column, the other rows are read, and every
command says so instead of failing on the whole file (or crashing)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.io import read_batches


@pytest.fixture
def bad_parquet(tmp_path: Path) -> Path:
    prompts = pa.array(
        [b"hello there friend", b"caf\xe9 au lait", b"third row here", b"fourth \xed\xa0\x80"],
        pa.binary(),
    ).view(pa.string())
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"prompt": prompts, "completion": ["a", "b", "c", "d"]}), path)
    return path


def test_rows_with_invalid_utf8_are_quarantined_with_row_and_column(bad_parquet: Path) -> None:
    batches = list(read_batches([bad_parquet]))
    kept = [r for b in batches for r in b.rows.to_pylist()]
    quarantined = [q for b in batches for q in b.quarantined]
    assert kept == [0, 2]
    assert [(q.file, q.row) for q in quarantined] == [
        (bad_parquet.as_posix(), 1),
        (bad_parquet.as_posix(), 3),
    ]
    assert all("column 'prompt' is not valid UTF-8" in q.reason for q in quarantined)


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (["check", "{f}", "--no-golden"], 1),
        (["split", "{f}", "--out", "{o}"], 0),
        (["curate", "{f}", "--out", "{o}", "--quiet"], 0),
    ],
)
def test_commands_read_the_valid_rows(
    bad_parquet: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    code: int,
) -> None:
    argv = [w.format(f=bad_parquet, o=tmp_path / "out") for w in words]
    assert main(argv) == code
    assert "internal error" not in capsys.readouterr().err


def test_a_file_whose_every_row_is_bad_reports_every_row(tmp_path: Path) -> None:
    # None valid: the quarantine waited for a valid row to tell the format, and was lost.
    latin1 = pa.array([b"caf\xe9 one", b"caf\xe9 two", b"na\xefve"], pa.binary()).view(pa.string())
    path = tmp_path / "latin1.parquet"
    pq.write_table(pa.table({"prompt": latin1, "completion": ["a", "b", "c"]}), path)
    quarantined = [q for b in read_batches([path]) for q in b.quarantined]
    assert [q.row for q in quarantined] == [0, 1, 2]


def _nested(kind: str) -> pa.Array:
    good, bad = b"fine text", b"caf\xe9"
    values = pa.array([good, good, bad, good], pa.binary()).view(pa.string())
    if kind == "list<struct>":
        inner = pa.StructArray.from_arrays([values], ["k"])
        return pa.ListArray.from_arrays(pa.array([0, 1, 2, 3, 4], pa.int32()), inner)
    if kind == "dictionary":
        return pa.DictionaryArray.from_arrays(pa.array([0, 1, 2, 3], pa.int32()), values)
    keys = pa.array(["a", "b", "c", "d"])
    return pa.MapArray.from_arrays(pa.array([0, 1, 2, 3, 4], pa.int32()), keys, values)


@pytest.mark.parametrize("kind", ["list<struct>", "dictionary", "map"])
def test_one_bad_value_in_a_nested_column_quarantines_its_row_only(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "nested.parquet"
    table = pa.table({"prompt": [f"question {i}" for i in range(4)], "extra": _nested(kind)})
    pq.write_table(table, path)
    batches = list(read_batches([path]))
    assert [q.row for b in batches for q in b.quarantined] == [2]
    assert [r for b in batches for r in b.rows.to_pylist()] == [0, 1, 3]


@pytest.mark.parametrize("command", ["curate", "split", "check", "audit", "leakage"])
def test_a_column_name_that_is_not_utf8_is_a_file_problem_not_a_crash(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: pyarrow decodes the footer's names, and every data command was exit 3.
    path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": ["a b c", "d e f"], "zz": [1, 2]}), path)
    path.write_bytes(path.read_bytes().replace(b"zz", b"\xff\xfe"))
    [batch] = list(read_batches([path]))
    [q] = batch.quarantined
    assert q.row is None and "column name in the Parquet schema is not UTF-8" in q.reason
    out = str(tmp_path / "out")
    argv = {
        "curate": ["curate", str(path), "--out", out, "--quiet"],
        "split": ["split", str(path), "--out", out],
        "check": ["check", str(path), "--no-golden"],
        "audit": ["audit", str(path), "--out", out],
        "leakage": ["leakage", "--reference", str(path), "--corpus", str(path), "--out", out],
    }[command]
    assert main(argv) in (0, 1, 2)
    assert "internal error" not in capsys.readouterr().err


def _secret_beside_bad_bytes(tmp_path: Path) -> Path:
    prompts = pa.array(
        [b"normal prompt 0", b"bad \xff prompt", b"normal prompt 2"], pa.binary()
    ).view(pa.string())
    completions = ["c0", "my key is AKIAIOSFODNN7EXAMPLQ, mail maria.gonzalez@telefonica.es", "c2"]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"prompt": prompts, "completion": completions}), path)
    return path


@pytest.mark.parametrize("kind", ["plain", "list<struct>", "dictionary", "map"])
def test_a_quarantined_row_shows_its_other_columns_and_the_bad_bytes_replaced(
    tmp_path: Path, kind: str
) -> None:
    # As a JSONL line with such bytes: the row as text, U+FFFD for the bytes, lossy.
    path = tmp_path / "p.parquet"
    if kind == "plain":
        path = _secret_beside_bad_bytes(tmp_path)
        wanted = {"prompt": "bad \ufffd prompt", "completion": "my key is AKIAIOSFODNN7EXAMPLQ"}
    else:
        table = pa.table({"prompt": [f"question {i}" for i in range(4)], "extra": _nested(kind)})
        pq.write_table(table, path)
        wanted = {"prompt": "question 2"}
    [q] = [q for b in read_batches([path]) for q in b.quarantined]
    assert q.raw is not None and q.lossy
    row = json.loads(q.raw)
    for name, text in wanted.items():
        assert row[name].startswith(text)
    if kind != "plain":
        assert "caf\ufffd" in q.raw


def test_audit_scans_the_other_columns_of_a_row_with_bytes_that_are_not_utf8(
    tmp_path: Path,
) -> None:
    # Found by attack: only FMT001 was reported (the same row as JSONL: FMT001, SEC001
    # and PII001), and the key and the address were in no finding.
    from curagate.audit import audit

    report = audit([_secret_beside_bad_bytes(tmp_path)], out=tmp_path / "out")
    rows = {f["rule"]: f["rows"] for f in report["findings"]}
    assert {r: [x.rsplit(":", 1)[1] for x in rows.get(r, [])] for r in ("FMT001", "SEC001")} == {
        "FMT001": ["2"],
        "SEC001": ["2"],
    }
    assert [x.rsplit(":", 1)[1] for x in rows.get("PII001", [])] == ["2"]
    for p in (tmp_path / "out").iterdir():
        assert "AKIAIOSFODNN7EXAMPLQ" not in p.read_text(encoding="utf-8"), p.name


def test_leakage_finds_a_golden_item_beside_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    # The row's other strings are scanned; it is still listed as unreadable (what the
    # replaced bytes held cannot be shown clean), and --fail-on-leak still exits 2.
    question = "What is the boiling point of liquid nitrogen at sea level in kelvin exactly"
    prompts = pa.array([b"normal prompt 0", b"bad \xff prompt"], pa.binary()).view(pa.string())
    corpus = tmp_path / "c.parquet"
    pq.write_table(pa.table({"prompt": prompts, "completion": ["c0", question]}), corpus)
    golden = tmp_path / "g.jsonl"
    golden.write_text(json.dumps({"prompt": question, "completion": "77 K"}) + "\n")
    out = tmp_path / "out"
    argv = ["leakage", "--reference", str(golden), "--corpus", str(corpus), "--out", str(out)]
    assert main([*argv, "--fail-on-leak"]) == 2
    report = json.loads((out / "leakage.json").read_text(encoding="utf-8"))
    assert report["summary"]["leaked_reference_items"] == 1
    assert [m["row"] for leak in report["leaks"] for m in leak["matches"]] == [1]
    assert [r["row"] for r in report["corpus"]["unreadable_rows"]] == [1]
