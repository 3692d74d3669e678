"""`curagate split` replaces its --out as a whole, as curate does: a run killed at
any point leaves the previous output or none, never a mix of two runs; a rerun
leaves no file of the previous one (quarantine.jsonl); only a previous split
output is replaced; an --out that is an input file is an input error."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.io.atomic import remove_stale
from curagate.io.outputs import MARKER_NAME, read_marker
from tests import kill_support
from tests.split.test_split_cli import manifest, records, write_jsonl


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def temporaries(out: Path) -> list[Path]:
    """What runs were writing at ``out``: each in its temporary folder, held by its run
    (``.NAME.PID.HOST.XXXXXXXX.curagate.tmp/o``)."""
    return [p / "o" for p in sorted(out.parent.glob(f".{out.name}.*.tmp"))]


@pytest.fixture
def previous(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A split (seed 0) of data with one quarantined row, and the same records
    without it, for a second run (seed 1) that puts them in other splits."""
    rows = records(300)
    first = write_jsonl(tmp_path / "a.jsonl", rows)
    with first.open("a", encoding="utf-8") as f:
        f.write('{"text": "broken\n')
    second = write_jsonl(tmp_path / "b.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(first), "--out", str(out), "--seed", "0"]) == 0
    before = snapshot(out)
    assert "quarantine.jsonl" in before and MARKER_NAME in before
    return out, second, before


# split is killed at the first os.replace once a new train.parquet exists anywhere next to
# the output (the splits are being written, the manifest is not yet there), or at the swap.
TRAINS = """
def trains():
    return {(p, p.stat().st_ino) for p in out.parent.rglob("train.parquet")}
old = trains()
"""


def run_killed(out: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    return kill_support.run_killed(
        "split", out, mode, *args, writing="trains() - old", setup=TRAINS
    )


@pytest.mark.slow
def test_kill_9_while_writing_leaves_the_previous_split(
    previous: tuple[Path, Path, dict[str, bytes]],
) -> None:
    out, second, before = previous
    done = run_killed(out, "write", str(second), "--seed", "1")
    assert done.returncode == -signal.SIGKILL, done.stderr

    # The new train.parquet was written, but not over the previous output's.
    assert snapshot(out) == before
    (left,) = temporaries(out)
    assert (left / "train.parquet").is_file() and read_marker(left) is None

    # The next run removes the killed run's temporary and replaces the output whole:
    # no quarantine.jsonl of the first run is left beside a manifest that counts 0.
    assert main(["split", str(second), "--out", str(out), "--seed", "1"]) == 0
    assert temporaries(out) == []
    assert not (out / "quarantine.jsonl").exists()
    assert manifest(out)["quarantined"] == {"rows": 0}
    assert manifest(out)["seed"] == 1 and read_marker(out) is not None


@pytest.mark.slow
def test_kill_9_between_the_two_renames_gives_the_previous_split_back(
    previous: tuple[Path, Path, dict[str, bytes]],
) -> None:
    out, second, before = previous
    done = run_killed(out, "swap", str(second), "--seed", "1")
    assert done.returncode == -signal.SIGKILL, done.stderr

    assert not out.exists()  # nothing under the output's name looks complete
    remove_stale(out)  # what every run does first
    assert snapshot(out) == before


def test_quarantined_rows_are_said_on_the_console_and_a_rerun_without_them_leaves_no_file(
    previous: tuple[Path, Path, dict[str, bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    # The console said only "split N rows: ...": rows in no split went unmentioned.
    out, second, _ = previous
    assert main(["split", str(out.parent / "a.jsonl"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"warning: 1 row(s) quarantined: see {out / 'quarantine.jsonl'}" in err
    assert main(["split", str(second), "--out", str(out)]) == 0
    assert "quarantined" not in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [
        MARKER_NAME,
        "split_manifest.json",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]


def test_a_folder_that_is_not_a_split_output_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(30))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.parquet").write_text("my own file")
    assert main(["split", str(src), "--out", str(mine)]) == 2
    assert "not a curagate output" in capsys.readouterr().err
    assert snapshot(mine) == {"train.parquet": b"my own file"}


@pytest.mark.parametrize("out", ["data.jsonl", "other.jsonl"])
def test_an_out_that_is_a_file_exits_2_and_the_file_is_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    """`split c.jsonl --out c.jsonl` was an internal error (FileExistsError, exit 3)."""
    src = write_jsonl(tmp_path / "data.jsonl", records(30))
    (tmp_path / "other.jsonl").write_text("x\n")
    before = snapshot(tmp_path)
    assert main(["split", str(src), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {tmp_path / out}" in err
    assert ("is the input file" if out == "data.jsonl" else "not a directory") in err
    assert snapshot(tmp_path) == before


def test_curate_split_writes_a_marked_split_output_naming_paths_relative_to_the_output(
    tmp_path: Path,
) -> None:
    """curate --split goes through the same writer: its splits/ is a complete split
    output, and reruns are byte-identical (the marker hashes the final manifest); its
    inputs are named relative to the curate output, so --out does not change its bytes."""
    src = write_jsonl(tmp_path / "data.jsonl", records(60))
    out = tmp_path / "out"
    outputs = []
    for _ in range(2):
        assert main(["curate", str(src), "--out", str(out), "--split"]) == 0
        marker = read_marker(out / "splits")
        assert marker is not None and marker["command"] == "split"
        paths = [f["path"] for f in manifest(out / "splits")["inputs"]["files"]]
        assert paths == ["kept/part-00000.parquet"]
        outputs.append(snapshot(out / "splits"))
    assert outputs[0] == outputs[1]


def test_curate_split_run_twice_gives_the_same_bytes_with_shared_passages(
    tmp_path: Path,
) -> None:
    # Shared-passage examples name records by id; a record without one is <path>:<row>,
    # and that path was the run's temporary folder: each run wrote other bytes.
    import json
    import random

    rng = random.Random(5)
    words = [f"w{i}" for i in range(20)]
    passages = [
        " ".join(f"{rng.choice(words)}{rng.randrange(1000)}" for _ in range(16)) for _ in range(20)
    ]
    rows = []
    for i in range(200):
        own = " ".join(f"{rng.choice(words)}{rng.randrange(1000)}" for _ in range(40))
        rows.append(
            {"prompt": f"{own} {passages[i % 20]}" if i < 40 else own, "completion": f"a{i}"}
        )
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    snapshots = []
    for _ in range(2):
        assert main(["curate", str(data), "--out", str(out), "--split", "--quiet"]) == 0
        snapshots.append(
            {
                p.relative_to(out).as_posix(): p.read_bytes()
                for p in sorted(out.rglob("*"))
                if p.is_file()
            }
        )
    manifest_text = snapshots[0]["splits/split_manifest.json"].decode()
    assert ".tmp" not in manifest_text and "shared" in manifest_text
    assert snapshots[0] == snapshots[1]


@pytest.mark.parametrize("command", ["split", "curate"])
def test_an_out_that_is_a_symlink_exits_2(tmp_path: Path, command: str) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", records(20))
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert main([command, str(data), "--out", str(link), "--quiet"]) == 2
    assert link.is_symlink() and list(real.iterdir()) == []


def test_an_input_appended_to_while_split_reads_it_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest's sha256 of an input was taken after the read: a file appended to in
    between was recorded with rows the split never saw (exit 0)."""
    import json
    import mmap

    data = tmp_path / "in"
    data.mkdir()
    rows = records(60)
    a = write_jsonl(data / "a.jsonl", rows[:30])
    write_jsonl(data / "b.jsonl", rows[30:])
    real_mmap = mmap.mmap
    mapped: list[int] = []

    def appending(*args: object, **kwargs: object) -> mmap.mmap:
        mapped.append(1)
        if len(mapped) == 2:  # b is mapped: a was read; another writer appends to it
            with a.open("a") as f:
                f.write(json.dumps({"text": "written while split ran"}) + "\n")
        return real_mmap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmap, "mmap", appending)
    assert main(["split", str(data), "--out", str(tmp_path / "out")]) == 2
    assert "a.jsonl: changed while split read it" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_kept_in_both_content_forms_splits_as_one_table(tmp_path: Path) -> None:
    # Strings in the first batch, parts in the second: curate keeps the file in two parts
    # of two forms, and split refused them ("content: string vs list"; docs/formats.md).
    import json

    import pyarrow.parquet as pq

    def chat(i: int, parts: bool) -> dict[str, object]:
        text = f"question number {i} about things {i * 7}"
        return {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": text}] if parts else text},
                {"role": "assistant", "content": f"answer {i} is here"},
            ]
        }

    src = tmp_path / "chat.jsonl"
    rows = [chat(i, parts=i >= 60) for i in range(100)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "c.yaml"
    config.write_text("batch_rows: 50\n")
    assert main(["curate", str(src), "--out", str(tmp_path / "c"), "--config", str(config)]) == 0
    assert len(list((tmp_path / "c" / "kept").iterdir())) == 2
    out = tmp_path / "s"
    assert main(["split", str(tmp_path / "c" / "kept"), "--out", str(out)]) == 0
    got = [
        r
        for name in ("train", "val", "test")
        for r in pq.read_table(out / f"{name}.parquet").to_pylist()
    ]
    assert len(got) == 100
    first = {m["content"][0]["text"] for r in got for m in r["messages"] if m["role"] == "user"}
    assert first == {f"question number {i} about things {i * 7}" for i in range(100)}


def test_a_curate_output_and_a_split_output_are_named_as_such_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: split --out <a curate output> said "not a curagate output (no
    # complete split marker ...)", and curate --out <a split output> the same of curate.
    src = write_jsonl(tmp_path / "data.jsonl", records(30))
    curated, splits = tmp_path / "curated", tmp_path / "splits"
    assert main(["curate", str(src), "--out", str(curated)]) == 0
    assert main(["split", str(src), "--out", str(splits)]) == 0
    capsys.readouterr()
    before = snapshot(curated), snapshot(splits)
    assert main(["split", str(src), "--out", str(curated)]) == 2
    assert (
        f"--out {curated}: is a curagate curate output ({MARKER_NAME}), which split does not "
        "replace; give split another --out, or delete that output first"
    ) in capsys.readouterr().err
    assert main(["curate", str(src), "--out", str(splits)]) == 2
    assert f"--out {splits}: is a curagate split output ({MARKER_NAME}), which curate does" in (
        capsys.readouterr().err
    )
    assert (snapshot(curated), snapshot(splits)) == before
