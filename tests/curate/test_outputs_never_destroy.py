"""Outputs that never destroy: only a complete previous curagate output is replaced,
``--split`` output is complete or absent even under kill -9, temporaries of killed
runs are cleaned up, and an output inside an input is refused."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.errors import InputError
from curagate.io.atomic import HOST_TAG, hold, release, remove_stale
from curagate.io.outputs import MARKER_NAME, read_marker

REPO = Path(__file__).resolve().parents[2]
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
]


def corpus(path: Path, n: int) -> Path:
    rng = random.Random(7)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(30))
            f.write(json.dumps({"text": f"record {i}: {text}"}) + "\n")
    return path


def test_a_user_folder_with_manifest_and_stats_is_not_replaced(tmp_path: Path) -> None:
    data = corpus(tmp_path / "d.jsonl", 20)
    mine = tmp_path / "mine"
    mine.mkdir()
    for name, text in {"manifest.json": "{}", "stats.json": "{}", "notes.txt": "keep"}.items():
        (mine / name).write_text(text)
    with pytest.raises(InputError, match="not a curagate output"):
        curate([data], mine)
    assert sorted(p.name for p in mine.iterdir()) == ["manifest.json", "notes.txt", "stats.json"]


def test_a_marker_nested_past_the_recursion_limit_is_not_a_marker(tmp_path: Path) -> None:
    # json.loads raised RecursionError out of read_marker: exit 3 for a hostile file.
    data = corpus(tmp_path / "d.jsonl", 20)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / MARKER_NAME).write_text("[" * 200_000)
    assert read_marker(mine) is None
    with pytest.raises(InputError, match="not a curagate output"):
        curate([data], mine)


def test_a_complete_output_has_a_marker_and_is_replaced_by_a_rerun(tmp_path: Path) -> None:
    data = corpus(tmp_path / "d.jsonl", 20)
    curate([data], tmp_path / "out")
    marker = read_marker(tmp_path / "out")
    assert marker is not None and marker["command"] == "curate" and len(str(marker["run_id"])) == 16
    curate([data], tmp_path / "out")  # replaces its own output
    assert read_marker(tmp_path / "out") == marker  # same inputs, same run id: byte-identical


@pytest.mark.parametrize("command", ["curate", "split"])
def test_files_a_user_added_to_a_previous_output_are_never_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: notes and an analysis folder put into a curate or split output were
    # deleted by the next run into it, exit 0 (report folders already refused this).
    data = corpus(tmp_path / "d.jsonl", 20)
    out = tmp_path / "out"
    argv = [command, str(data), "--out", str(out)]
    assert main(argv) == 0
    (out / "NOTES.md").write_text("my notes")
    (out / "analysis").mkdir()
    assert main(argv) == 2
    assert "holds NOTES.md, analysis, which the previous" in capsys.readouterr().err
    assert (out / "NOTES.md").read_text() == "my notes" and (out / "analysis").is_dir()
    (out / "NOTES.md").unlink()
    (out / "analysis").rmdir()
    # Re-attack: inside one of the output's own folders too.
    inner = out / ("kept" if command == "curate" else ".") / "mine.txt"
    inner.write_text("mine")
    assert main(argv) == 2 and inner.read_text() == "mine"
    inner.unlink()
    assert main(argv) == 0  # its own output alone is replaced


@pytest.mark.parametrize("command", ["leakage", "foo", "other"])
def test_a_split_output_is_replaced_only_by_curate_when_marked_curate(
    tmp_path: Path, command: str
) -> None:
    data = corpus(tmp_path / "d.jsonl", 20)
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER_NAME).write_text(
        json.dumps({"tool": "curagate", "command": command, "run_id": "x", "complete": True})
    )
    (out / "file").write_text("x")
    # Found by attack: a hand-made marker naming `foo` was "a curagate foo output": only
    # a command that writes markers is named, anything else is no curagate output.
    told = (
        r"is a curagate leakage output .* which curate does not"
        if command == "leakage"
        else r"exists and is not a curagate output \(no complete curate marker"
    )
    with pytest.raises(InputError, match=told):
        curate([data], out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER_NAME, "file"]


def test_output_inside_an_input_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "data"
    corpus(folder / "d.jsonl", 20)
    assert main(["curate", str(folder), "--out", str(folder / "curated")]) == 2
    assert "inside input folder" in capsys.readouterr().err
    assert main(["split", str(folder), "--out", str(folder)]) == 2
    assert "inside input folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["d.jsonl"]


@pytest.mark.parametrize(
    ("inputs", "out", "why"),
    [
        (["g/**/*.jsonl"], "g/o", "the input pattern g/**/*.jsonl would match the outputs"),
        (["g/*"], "g/o", "the input pattern g/* would match the outputs"),
        (["g/*/*.jsonl"], "g/o", "the input pattern g/*/*.jsonl would match the outputs"),
        (["h"], "ext/o", "is inside input folder h (through"),
    ],
)
def test_an_output_a_glob_or_a_followed_link_would_read_back_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    inputs: list[str],
    out: str,
    why: str,
) -> None:
    # Only folders given as such were compared with --out: the first run wrote where
    # the pattern (or the folder a link in the input leads to) reaches, and the same
    # command then failed on its rerun.
    monkeypatch.chdir(tmp_path)
    corpus(tmp_path / "g" / "sub" / "a.jsonl", 5)
    corpus(tmp_path / "ext" / "b.jsonl", 5)
    corpus(tmp_path / "h" / "c.jsonl", 5)
    (tmp_path / "h" / "ext").symlink_to("../ext")
    for command in ("curate", "split"):
        assert main([command, *inputs, "--out", out]) == 2
        assert why in capsys.readouterr().err
        assert not (tmp_path / out).exists()


@pytest.mark.parametrize(
    ("pattern", "out", "refused"),
    [
        ("g/**/*.jsonl", "ext/o", True),
        ("g/*/*/*", "ext/o", True),  # g/sub/lnk/* is ext/*: the output folder itself
        ("g/**/*.jsonl", "ext/.o", False),  # glob's wildcards skip hidden names
        ("g/*/*.jsonl", "ext/o", False),  # g/sub/lnk is no *.jsonl: nothing through it
        ("g/**/*.jsonl", "other/o", True),  # g/sub/lnk2 leads to other/ (empty): the same
        ("g/**/*.jsonl", "fresh/o", False),  # no link leads there
    ],
)
def test_an_output_a_glob_reaches_through_a_link_is_refused_on_the_first_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pattern: str,
    out: str,
    refused: bool,
) -> None:
    # Found by attack: `'f/**/*.jsonl' --out e/o5` with `f/sub/lnk -> ../../e` ran (glob
    # follows the link, the pattern's names never named e/), and the rerun read
    # f/sub/lnk/o5/quarantine.jsonl back: exit 2 "contains input". Refused up front now.
    monkeypatch.chdir(tmp_path)
    corpus(tmp_path / "g" / "sub" / "a.jsonl", 5)
    corpus(tmp_path / "ext" / "b.jsonl", 5)
    (tmp_path / "other").mkdir()
    (tmp_path / "g" / "sub" / "lnk").symlink_to("../../ext")
    (tmp_path / "g" / "sub" / "lnk2").symlink_to("../../other")
    for command in ("curate", "split", "audit"):
        args = [command, pattern, "--out", out, *(["--quiet"] if command == "curate" else [])]
        rc = main(args)
        err = capsys.readouterr().err
        if refused:
            assert rc == 2, err
            assert f"the input pattern {pattern} would match the outputs" in err, err
            assert f"through the symbolic link {tmp_path / 'g/sub/lnk'}" in err, err  # or lnk2
            assert not (tmp_path / out).exists()
        else:
            assert rc in (0, 1), err
            assert main(args) in (0, 1)  # the rerun reads the same inputs
            shutil.rmtree(tmp_path / out)


@pytest.mark.parametrize(
    ("pattern", "out", "refused"),
    [
        ("f/s*/../[so]*/*.jsonl", "f/o5", True),  # f/sub/.. is f: f/o5/*.jsonl
        ("f/s*/../*", "f/o5", True),
        ("f/*/../s*/../[so]*/*.jsonl", "f/o5", True),
        ("f/s*/../[s]*/*.jsonl", "f/o5", False),  # f/o5 is no [s]*
    ],
)
def test_an_output_a_glob_reaches_through_dot_dot_after_a_wildcard_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pattern: str,
    out: str,
    refused: bool,
) -> None:
    # Found by attack: the pattern was compared with --out name by name, and `..` after a
    # wildcard matches no name: `'f/s*/../[so]*/*.jsonl' --out f/o5` ran, and its rerun
    # read its own quarantine.jsonl back (exit 2, "contains input").
    monkeypatch.chdir(tmp_path)
    corpus(tmp_path / "f" / "sub" / "a.jsonl", 5)
    args = ["curate", pattern, "--out", out, "--quiet"]
    rc = main(args)
    err = capsys.readouterr().err
    if refused:
        assert rc == 2, err
        assert f"the input pattern {pattern} would match the outputs" in err, err
        assert not (tmp_path / out).exists()
    else:
        assert rc in (0, 1), err
        assert main(args) in (0, 1), capsys.readouterr().err


def test_the_patterns_a_dot_dot_resolves_to_are_walked_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: each pattern `h/c/**/../**/x.jsonl` resolved to (one per folder
    # under h/c) walked its folder's whole subtree, so the --out check read the tree's
    # folders once per folder above them: 51 s on 300 nested folders, the reader's glob
    # 0.9 s. Counted here in folder listings, not timed.
    from curagate.io.outputs import refuse_overlap

    folder = tmp_path / "h"
    for _ in range(40):
        folder = folder / "c"
        (folder / "leaf").mkdir(parents=True)
    corpus(folder / "x.jsonl", 2)
    listed = 0
    scandir = os.scandir

    def counted(path: Any) -> Any:
        nonlocal listed
        listed += 1
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    refuse_overlap(tmp_path / "out", [f"{tmp_path}/h/c/**/../**/x.jsonl"], [])
    folders = 2 * 40 + 1
    assert listed <= 2 * folders, listed


@pytest.mark.slow  # a subprocess per command (0.5-1.1 s)
@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage"])
def test_a_recursive_glob_over_links_back_up_the_tree_is_checked_without_hanging(
    tmp_path: Path, command: str
) -> None:
    # Found by attack: two links back up the tree (k/s/up -> .., k/s/up2 -> ..) made every
    # command hang before any work: the --out overlap check expanded the pattern with
    # glob.glob, which follows links without remembering where it has been (the reader's
    # own walk visits each folder once). The check walks with the reader's glob now.
    corpus(tmp_path / "k" / "s" / "x.jsonl", 5)
    (tmp_path / "k" / "s" / "up").symlink_to("..")
    (tmp_path / "k" / "s" / "up2").symlink_to("..")
    pattern, out = "k/**/*.jsonl", str(tmp_path / "elsewhere" / "o")
    args = {
        "curate": ["curate", pattern, "--out", out, "--quiet"],
        "split": ["split", pattern, "--out", out],
        "audit": ["audit", pattern, "--out", out],
        "leakage": ["leakage", "--reference", pattern, "--corpus", pattern, "--out", out],
    }[command]
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    done = subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,  # it never finished before; it takes about a second
    )
    assert done.returncode in (0, 1), done.stderr
    assert (tmp_path / "elsewhere" / "o").is_dir()


@pytest.mark.parametrize(
    ("inputs", "out"),
    [
        (["*.jsonl"], "curated"),
        (["g/sub/*.jsonl"], "g/o"),
        (["g/*/*.jsonl"], "g/sub/o"),
        # glob's wildcards skip hidden names, and the reader skips them in the folders it walks
        (["g/*"], "g/.out"),
        (["g/**/*.jsonl"], "g/.cache/out"),
        (["g/*"], "g/sub/.out"),
        (["g"], "g/_curated"),
    ],
)
def test_a_glob_that_cannot_reach_the_output_is_no_obstacle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[str], out: str
) -> None:
    monkeypatch.chdir(tmp_path)
    corpus(tmp_path / "top.jsonl", 5)
    corpus(tmp_path / "g" / "sub" / "a.jsonl", 5)
    for _ in range(2):  # the rerun reads the same inputs
        assert main(["curate", *inputs, "--out", out]) == 0


def test_outputs_and_inputs_under_a_folder_named_tilde_stay_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pyarrow expands a leading "~" of the relative paths it is given: curate and split
    # wrote their Parquet files into the home folder (exit 3), and a Parquet input at
    # ./~/in.parquet was read from the home folder instead.
    import pyarrow as pa
    import pyarrow.parquet as pq

    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    (work / "~").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    pq.write_table(pa.table({"text": ["the one in the work folder"]}), work / "~" / "in.parquet")
    pq.write_table(pa.table({"text": ["the one at home"]}), home / "in.parquet")
    assert main(["curate", "~/in.parquet", "--out", "~/curated"]) == 0
    kept = pq.read_table(work / "~" / "curated" / "kept").column("text").to_pylist()
    assert kept == ["the one in the work folder"]
    assert main(["split", "~/in.parquet", "--out", "~/splits"]) == 0
    assert read_marker(work / "~" / "splits") is not None
    assert sorted(p.name for p in home.iterdir()) == ["in.parquet"]


def test_an_output_where_no_folder_can_be_made_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = corpus(tmp_path / "d.jsonl", 5)
    assert main(["curate", str(data), "--out", "/proc/curagate-out"]) == 2
    assert "/proc/curagate-out: cannot write there" in capsys.readouterr().err


def _kill_when(proc: subprocess.Popen[bytes], parent: Path, part: str) -> Path | None:
    """SIGKILL ``proc`` as soon as a temporary output holding ``part`` appears."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        for tmp in parent.glob(".out.*.tmp"):
            if (tmp / "o" / part).exists():  # the output inside its held folder
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return tmp
        time.sleep(0.001)
    return None


@pytest.mark.parametrize("part", ["kept", "splits"])
@pytest.mark.slow
def test_kill_9_mid_write_leaves_the_previous_output_or_none(tmp_path: Path, part: str) -> None:
    data = corpus(tmp_path / "d.jsonl", 20000)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    argv = [sys.executable, "-m", "curagate", "curate", str(data), "--out", str(out), "--split"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_in = _kill_when(proc, tmp_path, part)
    if killed_in is None:
        pytest.skip("the run finished before it could be killed mid-write")
    assert not out.exists()  # before: stats.json and manifest.json without splits/
    assert killed_in.exists()  # the killed run's temporary is left behind...

    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert not killed_in.exists()  # ...and removed by the next run
    assert (out / "splits" / "split_manifest.json").exists() and read_marker(out) is not None
    manifest = json.loads((out / "splits" / "split_manifest.json").read_text())
    assert ".tmp" not in json.dumps(manifest["inputs"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def _dead_pid() -> int:
    """The id of a process that has exited (and, for a while, names no process)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_live_runs_temporary_is_left_alone(tmp_path: Path) -> None:
    live = tmp_path / f".out.{os.getpid()}.{HOST_TAG}.abcd1234.curagate.tmp"
    dead = tmp_path / f".out.{_dead_pid()}.{HOST_TAG}.abcd1234.curagate.tmp"
    live.mkdir()
    dead.mkdir()
    lock = hold(live)  # as its run holds it
    try:
        assert remove_stale(tmp_path / "out") == [dead]
    finally:
        release(lock)
    assert live.exists() and not dead.exists()


def test_another_outputs_temporary_is_never_taken_for_ours(tmp_path: Path) -> None:
    """For "exp", ".exp.9.<pid>.<random>.curagate.tmp" read as PID 9 (gone): the live
    folder of the run named "exp.9" was deleted."""
    dead = _dead_pid()
    theirs = [
        tmp_path / f".exp.9.{dead}.{HOST_TAG}.abcd1234.curagate.tmp",
        tmp_path / f".exp.9.{dead}.{HOST_TAG}.curagate.old",
        tmp_path / f".exp.2024.{os.getpid()}.{HOST_TAG}.abcd1234.curagate.tmp",
    ]
    ours = tmp_path / f".exp.{dead}.{HOST_TAG}.abcd1234.curagate.tmp"
    for p in (*theirs, ours):
        p.mkdir()
    assert remove_stale(tmp_path / "exp") == [ours]
    assert all(p.exists() for p in theirs)
    assert remove_stale(tmp_path / "exp.9") == [theirs[0]]  # and restores its output
    assert (tmp_path / "exp.9").is_dir() and not theirs[1].exists()


def test_another_hosts_temporary_is_never_judged_by_its_process_id(tmp_path: Path) -> None:
    """A PID from another node on shared storage, or another container, names no process
    here: its live run's folder was deleted as a dead one's."""
    other = "0" * 8 if HOST_TAG != "0" * 8 else "1" * 8
    theirs = [
        tmp_path / f".out.{_dead_pid()}.{other}.abcd1234.curagate.tmp",
        tmp_path / f".out.{_dead_pid()}.{other}.curagate.old",
    ]
    for p in theirs:
        p.mkdir()
    assert remove_stale(tmp_path / "out") == []
    assert all(p.exists() for p in theirs) and not (tmp_path / "out").exists()


def test_a_run_killed_between_the_two_renames_gets_its_previous_output_back(
    tmp_path: Path,
) -> None:
    old = (
        tmp_path / f".out.{_dead_pid()}.{HOST_TAG}.curagate.old"
    )  # moved aside by a process now gone
    old.mkdir()
    (old / "stats.json").write_text("{}")
    remove_stale(tmp_path / "out")
    assert (tmp_path / "out" / "stats.json").exists() and not old.exists()


def test_a_live_runs_previous_output_moved_aside_is_left_alone(tmp_path: Path) -> None:
    aside = (
        tmp_path / f".out.{os.getpid()}.{HOST_TAG}.curagate.old"
    )  # a concurrent run between renames
    aside.mkdir()
    lock = hold(aside)  # as its run holds it
    try:
        assert remove_stale(tmp_path / "out") == []
    finally:
        release(lock)
    assert aside.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "name",
    [
        ".out.old",
        # A date is a number too: 20240501 is above any process id, 2024 may be a dead one.
        ".out.20240501.old",
        ".out.2024.old",
        ".out.{dead}.old",
        ".out.{dead}.draft.tmp",
    ],
)
@pytest.mark.parametrize("out_exists", [False, True])
def test_a_users_own_dot_old_folder_is_never_touched(
    tmp_path: Path, out_exists: bool, name: str
) -> None:
    """``.out.old`` was taken for an output a killed run had moved aside: renamed to
    ``out`` (then replaced and deleted), or deleted at once when ``out`` existed."""
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "one record of text"}) + "\n")
    mine = tmp_path / name.format(dead=_dead_pid())
    mine.mkdir()
    (mine / "notes.txt").write_text("precious")
    if out_exists:
        curate([data], tmp_path / "out")
    curate([data], tmp_path / "out")
    assert (mine / "notes.txt").read_text() == "precious"
    assert read_marker(tmp_path / "out") is not None
