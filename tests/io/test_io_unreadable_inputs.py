"""Nothing inside an input folder is skipped silently: broken links, FIFOs and folders
that cannot be listed are exit 2, or skipped and listed with ``--skip-unreadable``."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.io import expand_inputs
from curagate.io.readers import scan_inputs


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub").mkdir(parents=True)
    (d / "a.jsonl").write_text('{"text": "row a"}\n', encoding="utf-8")
    (d / "sub" / "b.jsonl").write_text('{"text": "row b"}\n', encoding="utf-8")
    return d


def test_a_clean_folder_expands_as_before(folder: Path) -> None:
    assert [p.name for p in expand_inputs([folder])] == ["a.jsonl", "b.jsonl"]


def test_broken_link_is_an_input_error_naming_it(folder: Path) -> None:
    (folder / "sub" / "c.jsonl").symlink_to(folder / "gone.jsonl")
    with pytest.raises(InputError, match=r"sub/c\.jsonl: broken or looping symbolic link"):
        expand_inputs([folder])


def test_fifo_is_an_input_error_and_never_blocks(folder: Path) -> None:
    os.mkfifo(folder / "pipe.jsonl")
    with pytest.raises(InputError, match=r"pipe\.jsonl: not a regular file"):
        expand_inputs([folder])


@pytest.mark.parametrize(
    "name", ["part-1.json", "part-2.NDJSON", "part-3.jsonl.bz2", "part-4.jsonlines"]
)
def test_json_lines_no_reader_takes_are_an_input_error(folder: Path, name: str) -> None:
    # Hugging Face's Dataset.to_json writes JSON Lines to .json: skipping it drops records.
    (folder / "sub" / name).write_text('{"text": "row c"}\n{"text": "row d"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"{re.escape(name)}: records in a file .* \.jsonl"):
        expand_inputs([folder])
    paths, skipped = scan_inputs([folder], skip_unreadable=True)
    assert [p.name for p in paths] == ["a.jsonl", "b.jsonl"]
    assert [Path(u.path).name for u in skipped] == [name]


def test_parquet_under_another_name_is_an_input_error(folder: Path) -> None:
    # Found by attack: a `.pq` (or `.parq`) file in an input folder was skipped without a word.
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": ["row e"]}), folder / "sub" / "part-5.pq")
    with pytest.raises(InputError, match=r"part-5\.pq: a Parquet file not named \.parquet"):
        expand_inputs([folder])
    (folder / "sub" / "NOTES").write_text("PAR")  # a file that only starts alike: left
    (folder / "sub" / "part-5.pq").rename(folder / "sub" / "part-5.parquet")
    assert [p.name for p in expand_inputs([folder])] == ["a.jsonl", "b.jsonl", "part-5.parquet"]


@pytest.mark.parametrize("how", ["plain", "gzip", "zstd", "truncated", "latin-1"])
def test_a_json_array_of_records_in_a_folder_is_an_input_error(folder: Path, how: str) -> None:
    # Found by attack: a dataset saved with json.dump (an lm-eval suite's data) was skipped
    # without a word, its records never read (never deduplicated, never scanned); and on
    # re-attack, so was one compressed, cut short or not UTF-8.
    import gzip

    import zstandard

    data = '[{"text": "row c"}, {"text": "row d caf\u00e9"}]'.encode()
    name = {"gzip": "dump.json.gz", "zstd": "dump.json.zst"}.get(how, "dump.json")
    raw = {
        "gzip": gzip.compress(data),
        "zstd": zstandard.ZstdCompressor().compress(data),
        "truncated": data[:-10],
        "latin-1": data.replace("\u00e9".encode(), b"\xe9"),
    }.get(how, data)
    (folder / "sub" / name).write_bytes(raw)
    with pytest.raises(InputError, match=rf"{re.escape(name)}: records in a file .* a JSON array"):
        expand_inputs([folder])


CSV = "question,answer\nHow much profit did Josh make on the house he flipped?,70000\n"
TSV = CSV.replace(",", "\t")
RECORDS = '[{"question": "How much profit did Josh make?", "answer": "70000"}]'


def _compressed(name: str, data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma

    import zstandard

    codec = name.rsplit(".", 1)[1]
    return {
        "gz": gzip.compress,
        "zst": zstandard.ZstdCompressor().compress,
        "bz2": bz2.compress,
        "xz": lzma.compress,
    }.get(codec, lambda d: d)(data)


@pytest.mark.parametrize(
    ("name", "text", "how"),
    [
        ("test.csv", CSV, "convert it to JSON Lines"),
        ("test.CSV", CSV, "convert it to JSON Lines"),
        ("test.tsv", TSV, "convert it to JSON Lines"),
        ("test.csv.gz", CSV, "convert it to JSON Lines"),
        ("test.csv.zst", CSV, "convert it to JSON Lines"),
        ("test.csv.bz2", CSV, "convert it to JSON Lines"),
        ("test.tsv.xz", TSV, "convert it to JSON Lines"),
        # Found by attack: a table whose header holds no comma was still skipped.
        ("test.csv", "question\nHow many apples are left?\n", "convert it to JSON Lines"),
        ("test.csv", 'question;answer\n"How many apples?";3\n', "convert it to JSON Lines"),
        ("test.tab", "question\tanswer\nHow many apples?\t3\n", "convert it to JSON Lines"),
        ("test.tab.gz", "question\tanswer\nHow many apples?\t3\n", "convert it to JSON Lines"),
        ("words.csv", "some words\n\nmore words\n", "convert it to JSON Lines"),
        # Found by attack: old Mac line endings (a bare CR, Excel's "CSV (Macintosh)").
        ("test.csv", "question\rHow many apples are left?\r", "convert it to JSON Lines"),
        ("test.csv.gz", "question,answer\rHow many apples?,3", "convert it to JSON Lines"),
        ("test.json.xz", RECORDS, "recompress it"),
        ("test.json.bz2", RECORDS, "recompress it"),
        ("test.json.bz2", '{"q": "a"}\n{"q": "b"}\n', "recompress it"),
    ],
)
def test_a_table_or_json_no_reader_takes_is_an_input_error(
    folder: Path, name: str, text: str, how: str
) -> None:
    # Found by attack: a golden set kept as CSV, or as JSON compressed with bz2 or xz, in
    # a reference folder was skipped without a word (`.ndjson` beside it was refused):
    # `leakage --reference DIR --fail-on-leak` passed over a verbatim copy of its item.
    (folder / "sub" / name).write_bytes(_compressed(name, text.encode()))
    with pytest.raises(InputError, match=rf"{re.escape(name)}: records in a .* {how}"):
        expand_inputs([folder])
    paths, skipped = scan_inputs([folder], skip_unreadable=True)
    assert [p.name for p in paths] == ["a.jsonl", "b.jsonl"]
    assert [Path(u.path).name for u in skipped] == [name]


def test_a_reference_folder_with_a_csv_golden_set_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in"
    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "pad.jsonl").write_text('{"question": "a padding item of a few words"}\n')
    (golden / "test.csv").write_text(f'question,answer\n"{item}",70000\n')
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(json.dumps({"prompt": item, "completion": "70000"}) + "\n")
    argv = ["leakage", "--reference", str(golden), "--corpus", str(corpus), "--fail-on-leak"]
    assert main([*argv, "--out", str(tmp_path / "rep")]) == 2
    assert "test.csv: records in a table (CSV/TSV)" in capsys.readouterr().err
    # A .ndjson is named as one too (it was taken for JSON, then refused by the readers
    # for "unsupported file type" under a message about the items' field).
    (golden / "test.csv").unlink()
    (golden / "more.ndjson").write_text('{"question": "x"}\n{"question": "y"}\n')
    assert main([*argv, "--out", str(tmp_path / "rep")]) == 2
    assert "more.ndjson: records in a file that curagate does not read" in capsys.readouterr().err


def test_other_files_in_a_folder_are_not_records(folder: Path) -> None:
    # Documents, a JSON document over several lines (a schema, a lock file), one-line JSON.
    (folder / "schema.json").write_text('{\n  "type": "object"\n}\n', encoding="utf-8")
    (folder / "config.json").write_text('{"a": 1}\n', encoding="utf-8")
    (folder / "list.json").write_text("[1, 2]\n[3]\n", encoding="utf-8")
    for name in ("README.md", "LICENSE", "notes.txt", "data.csv", "config.yaml"):
        (folder / name).write_text("x", encoding="utf-8")
    # A one-line CSV (a header alone, no row): no records. (Two lines are, whatever the
    # separator: see test_a_table_or_json_no_reader_takes_is_an_input_error.)
    (folder / "empty.csv").write_text("question,answer\n", encoding="utf-8")
    (folder / "empty_cr.csv").write_bytes(b"question,answer\r\r\n")
    (folder / "empty.tab").write_text("question\n\n", encoding="utf-8")
    (folder / "doc.json.bz2").write_bytes(_compressed("x.bz2", b'{\n  "type": "object"\n}\n'))
    assert [p.name for p in expand_inputs([folder])] == ["a.jsonl", "b.jsonl"]


def test_a_fifo_given_as_input_is_named_as_one_not_as_missing(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stream.jsonl")
    with pytest.raises(InputError, match=r"stream\.jsonl: not a regular file or directory"):
        expand_inputs([tmp_path / "stream.jsonl"])


def test_link_loops_are_followed_once(folder: Path) -> None:
    (folder / "sub" / "up").symlink_to(folder)
    (folder / "self").symlink_to(folder / "self")
    paths, skipped = scan_inputs([folder], skip_unreadable=True)
    assert sorted(p.name for p in paths) == ["a.jsonl", "b.jsonl"]
    assert [u.path.rsplit("/", 1)[1] for u in skipped] == ["self"]


def test_hidden_entries_stay_ignored(folder: Path) -> None:
    (folder / ".partial.jsonl").symlink_to(folder / "gone.jsonl")
    os.mkfifo(folder / "_tmp.jsonl")
    assert len(expand_inputs([folder])) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unlistable_subfolder_is_an_input_error(folder: Path) -> None:
    (folder / "sub").chmod(0)
    try:
        with pytest.raises(InputError, match="cannot list the folder"):
            expand_inputs([folder])
    finally:
        (folder / "sub").chmod(0o755)


@pytest.mark.slow
def test_curate_exits_2_then_skips_and_lists_with_skip_unreadable(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "c.jsonl").symlink_to(folder / "gone.jsonl")
    os.mkfifo(folder / "sub" / "p.jsonl.gz")
    out = tmp_path / "out"
    assert main(["curate", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "c.jsonl: broken or looping symbolic link (and 1 more)" in err
    assert "--skip-unreadable" in err
    assert not out.exists()

    assert main(["curate", str(folder), "--out", str(out), "--skip-unreadable"]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["totals"]["kept"] == 2
    assert stats["skipped_inputs"] == [
        {"path": (folder / "c.jsonl").as_posix(), "reason": "broken or looping symbolic link"},
        {
            "path": (folder / "sub" / "p.jsonl.gz").as_posix(),
            "reason": "not a regular file (a FIFO, socket or device)",
        },
    ]
    assert any("unreadable input path(s) skipped" in w for w in stats["warnings"])
    # Found by attack: the staged run (--work-dir, Ray, URLs) ignored the flag, and refused
    # the FIFO with advice to give it. The same output, byte for byte.
    staged = tmp_path / "staged"
    argv = ["curate", str(folder), "--out", str(staged), "--skip-unreadable"]
    assert main([*argv, "--work-dir", str(tmp_path / "work")]) == 0
    for name in ("stats.json", "manifest.json", "clusters.parquet", "kept/part-00000.parquet"):
        assert (staged / name).read_bytes() == (out / name).read_bytes(), name


def test_leakage_corpus_with_a_broken_link_exits_2(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "c.jsonl").symlink_to(folder / "gone.jsonl")
    ref = tmp_path / "ref.jsonl"
    ref.write_text('{"text": "a reference item of a few words"}\n', encoding="utf-8")
    argv = ["leakage", "--reference", str(ref), "--corpus", str(folder)]
    assert main([*argv, "--out", str(tmp_path / "r"), "--fail-on-leak"]) == 2
    assert "broken or looping symbolic link" in capsys.readouterr().err
