"""`curagate split` on inputs it cannot use: a damaged shard, rows that are all quarantined,
and curate's clusters.parquet named from another folder (found by attack)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed
from curagate.train.data import read_records


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def texts(n: int, word: str = "item") -> list[dict[str, Any]]:
    return [{"text": f"sample {i} is about {word} {i * 7919 % 1000} and more"} for i in range(n)]


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "split_manifest.json").read_text())
    return data


def damaged_gz(path: Path, rows: int) -> Path:
    """A .jsonl.gz of ``rows`` records damaged early: not one row of it can be read."""
    data = bytearray(
        gzip.compress("".join(json.dumps(r) + "\n" for r in texts(rows, "shard")).encode(), mtime=0)
    )
    data[40:44] = b"\x00\x00\x00\x00"
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_shard_is_named_not_counted_as_a_row_and_strict_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = damaged_gz(tmp_path / "shard.jsonl.gz", 200)
    good = write_jsonl(tmp_path / "good.jsonl", texts(20))
    out = tmp_path / "out"
    assert main(["split", str(bad), str(good), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    files = {Path(f["path"]).name: f for f in manifest(out)["inputs"]["files"]}
    # It said the 200-record file was "rows": 1, and "1 row(s) quarantined".
    assert files["shard.jsonl.gz"]["rows"] == 0
    assert "no row was read" in files["shard.jsonl.gz"]["unreadable"]
    assert "unreadable" not in files["good.jsonl"]
    assert manifest(out)["inputs"]["total_rows"] == 20
    assert "shard.jsonl.gz could not be read to its end (0 row(s) read before)" in err
    assert "row(s) quarantined" not in err
    # --strict as curate's: the output is written, the run fails (exit 1).
    strict = tmp_path / "strict"
    assert main(["split", str(bad), str(good), "--out", str(strict), "--strict"]) == 1
    assert "--strict: 1 input file(s) could not be read" in capsys.readouterr().err
    assert (strict / "quarantine.jsonl").is_file()
    # Recorded as failed, as a failed --fail-on-leak is: verify and train refuse it (it was a
    # complete, verify-ok output that train accepted).
    assert manifest(strict)["strict"] == {"enabled": True, "passed": False}
    assert manifest(out)["strict"] == {"enabled": False, "passed": False}
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(strict)]) == 1
    err = capsys.readouterr().err
    assert "its split run failed --strict" in err and "1 row(s) or input file(s)" in err
    assert "fix or remove the quarantined rows" in err
    with pytest.raises(CheckFailed, match=r"failed --strict.*Fix or remove the quarantined"):
        read_records([str(strict / "train.parquet")], None)
    # curate --split says the same of the same inputs, and its output is refused likewise.
    cur = tmp_path / "cur"
    assert main(["curate", str(bad), str(good), "--out", str(cur), "--split", "--strict"]) == 1
    capsys.readouterr()
    assert main(["verify", str(cur)]) == 1
    assert "its curate run failed --strict" in capsys.readouterr().err
    with pytest.raises(CheckFailed, match="curate run failed --strict"):
        read_records([str(cur / "splits" / "train.parquet")], None)


def test_no_usable_record_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A metadata list of a number and a string: every row is quarantined for that column.
    rows = [{"text": f"row {i} has its own words", "lst": [i, "a"]} for i in range(30)]
    src = write_jsonl(tmp_path / "mixed.jsonl", rows)
    assert main(["split", str(src), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no usable records" in err
    assert f"{src}:1 and 29 more like it: " in err and "changed from number to string" in err
    assert f"`curagate check {src}` lists every one" in err


def test_clusters_match_a_file_however_it_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "noid.jsonl", texts(40))  # no `id`: ids are <file>:<row>
    monkeypatch.chdir(folder)
    assert main(["curate", "noid.jsonl", "--out", "cu"]) == 0
    monkeypatch.chdir(tmp_path)
    clusters = "data/cu/clusters.parquet"
    for spelled in ("data/noid.jsonl", str(folder / "noid.jsonl")):
        out = tmp_path / f"out{len(spelled)}"
        assert main(["split", spelled, "--clusters", clusters, "--out", str(out)]) == 0
        assert manifest(out)["clusters_file"]["matched"] == 40
    # Another file (a copy) is not the file curate read: the error says what was compared.
    shutil.copy(folder / "noid.jsonl", tmp_path / "copy.jsonl")
    capsys.readouterr()
    argv = ["split", "copy.jsonl", "--clusters", clusters, "--out", str(tmp_path / "c")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "it names records as 'noid.jsonl:0'" in err and "this run as 'copy.jsonl:0'" in err
    assert "matched by their file and row" in err and "need the `id` column" not in err
