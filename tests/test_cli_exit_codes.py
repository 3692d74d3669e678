"""The CLI's exit-code contract for failures nobody planned: a bug is exit 3, never 1."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.commands import verify

ROOT = Path(__file__).resolve().parents[1]


def test_a_bug_exits_3_with_the_traceback_in_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        return {}["missing"]  # type: ignore[no-any-return]  # a KeyError, as a bug would raise

    monkeypatch.setattr(verify, "run", broken)
    assert main(["verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error (KeyError" in err and "Traceback" not in err
    log = Path(err.rsplit("traceback in ", 1)[1].strip())
    assert "KeyError" in log.read_text()
    log.unlink()


def test_a_bug_exits_3_also_when_no_crash_log_can_be_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: out of file descriptors, the crash handler's own temporary file
    # failed ("No usable temporary directory found"): two tracebacks and exit 1, a verdict.
    import tempfile

    def broken(args: object) -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    monkeypatch.setattr(verify, "run", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    assert main(["verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error (KeyError" in err and "with the traceback above" in err
    assert "no crash log could be written" in err and "KeyError: 'missing'" in err


def test_a_panic_in_the_rust_core_exits_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a panic in the leakage index (pyo3's PanicException derives from
    # BaseException, not Exception) escaped the handler: a traceback and exit 1, which CI
    # reads as "leak found".
    from curagate import _core

    def panics(args: object) -> int:
        _core._panic_for_tests()
        return 0

    monkeypatch.setattr(verify, "run", panics)
    assert main(["verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error (PanicException" in err and "Traceback" not in err
    Path(err.rsplit("traceback in ", 1)[1].strip()).unlink()


def test_an_error_the_rust_core_raises_on_bad_parameters_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate import _core

    def reaches_the_core(args: object) -> int:
        _core.Deduper(num_perm=0)  # the core refuses this (ParameterError)
        return 0

    monkeypatch.setattr(verify, "run", reaches_the_core)
    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "num_perm" in err


def _records(path: Path, n: int) -> Path:
    import json

    from tests.curate.conftest import t0_records

    path.write_text("".join(json.dumps(r) + "\n" for r in t0_records(n)), encoding="utf-8")
    return path


def test_a_core_spill_failure_is_a_curagate_error_for_library_callers(tmp_path: Path) -> None:
    from curagate.curate import curate
    from curagate.errors import CuragateError

    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    data = _records(tmp_path / "in.jsonl", 400)
    # memory_budget 0 spills at once; spill_dir is a file, so the spill fails.
    with pytest.raises(CuragateError, match=r"spill I/O failed.*spill_dir") as caught:
        curate([data], tmp_path / "out", memory_budget=0, spill_dir=str(blocker), progress=False)
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_a_core_spill_failure_in_the_cli_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("")
    config = tmp_path / "curate.yaml"
    config.write_text(f"memory_budget: 0\nspill_dir: {blocker}\n", encoding="utf-8")
    data = _records(tmp_path / "in.jsonl", 400)
    rc = main(["curate", str(data), "--out", str(tmp_path / "out"), "--config", str(config)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and "spill_dir" in err and "Traceback" not in err


def test_misusing_the_bindings_is_a_bug_not_a_user_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate import _core

    def finishes_twice(args: object) -> int:
        d = _core.Deduper()
        d.finish()
        d.finish()  # curagate's own code never does this: a bug if it happens
        return 0

    monkeypatch.setattr(verify, "run", finishes_twice)
    assert main(["verify", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "internal error (RuntimeError: the deduper was already finished" in err
    Path(err.rsplit("traceback in ", 1)[1].strip()).unlink()


# Ctrl-C while modules load, simulated by an import hook raising KeyboardInterrupt:
# - at pydantic, under argparse's set-up of the command (main() catches it);
# - at curagate.errors, while curagate.cli itself is imported, before main() is there
#   (the first ~10-30 ms; curagate.__main__.run catches it): under `python -m curagate`,
#   and under the console script, whose wrapper (written by pip from the installed
#   entry point, loaded here as the wrapper loads it) imports only curagate.__main__.
# Either way: no traceback, the one line and 130, as during the run itself.
CONSOLE_SCRIPT = (
    "from importlib.metadata import entry_points\n"
    "(script,) = entry_points(group='console_scripts', name='curagate')\n"
    "sys.exit(script.load()())\n"
)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter in ``cwd``, with this tree's curagate."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("module", "entry"),
    [
        ("pydantic", "from curagate.cli import main\nsys.exit(main())\n"),
        ("curagate.errors", "runpy.run_module('curagate', run_name='__main__', alter_sys=True)\n"),
        ("curagate.errors", CONSOLE_SCRIPT),
    ],
    ids=["main", "python-m", "console-script"],
)
def test_ctrl_c_while_modules_load_is_one_line_and_exit_130(
    tmp_path: Path, module: str, entry: str
) -> None:
    code = (
        "import runpy, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "sys.argv = ['curagate', 'curate', 'd.jsonl', '--out', 'out']\n"
    ) + entry
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    done = _python(code, tmp_path)
    assert done.returncode == 130
    assert done.stderr == "curagate: interrupted; no partial output was published\n"
    assert not (tmp_path / "out").exists()


def test_an_error_after_the_early_read_started_stops_its_thread(tmp_path: Path) -> None:
    # The CLI starts parsing the inputs in a thread before the options are all checked; a
    # usage error (or Ctrl-C) after that left the thread reading while the process ended,
    # and the allocator aborted at exit ("corrupted size vs. prev_size", SIGABRT) now and
    # then instead of the exit code.
    code = (
        "import sys, threading\n"
        "from curagate.cli import main\n"
        "sys.argv = ['curagate', 'curate', 'd.jsonl', '--out', 'out', '--ratios', 'x']\n"
        "rc = main()\n"
        "print(rc, [t.name for t in threading.enumerate() if t.name.startswith('curagate')])\n"
    )
    (tmp_path / "d.jsonl").write_text('{"text": "a"}\n' * 1000, encoding="utf-8")
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "2 []\n"
    assert "--ratios" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["curate", "{data}", "--out", "{out}"],
        ["split", "{data}", "--out", "{out}"],
        ["audit", "{data}", "--out", "{out}"],
        ["leakage", "--reference", "{data}", "--corpus", "{data}", "--out", "{out}"],
        ["keys", "generate", "--out", "{out}"],
        ["registry", "users", "list", "--db", "{out}/r.db"],
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_an_output_under_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """`--out plainfile/sub`: the folder cannot be made (exit 3 after all the work, before)."""
    data = _records(tmp_path / "d.jsonl", 20)
    (tmp_path / "plainfile").write_text("a file, not a folder")
    out = tmp_path / "plainfile" / "sub"
    assert main([a.format(data=data, out=out) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "plainfile is not a folder" in err and "internal error" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["split", "data.jsonl", "--out", "o", "--seed=--"],
        ["leakage", "--reference", "r.jsonl", "--corpus", "c.jsonl", "--ngram=--"],
        ["split", "data.jsonl", "--out=--"],
    ],
)
def test_an_option_given_double_dash_as_its_value_is_a_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Python 3.11's argparse hands `--seed=--` over as [] without the option's type: the
    # command then failed with a TypeError (exit 3).
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "`--` is not a value" in capsys.readouterr().err


def _cli(*args: str, timeout: float = 60, shell_tail: str = "") -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own; ``shell_tail`` is a redirection for bash."""
    line = " ".join([f"'{sys.executable}'", "-m", "curagate", *(f"'{a}'" for a in args)])
    return subprocess.run(
        ["bash", "-c", f"{line} {shell_tail}"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        check=False,
    )


def _small_jsonl(path: Path) -> Path:
    path.write_text(
        "".join(
            f'{{"prompt": "question {i} here", "completion": "answer {i}"}}\n' for i in range(5)
        ),
        encoding="utf-8",
    )
    return path


def test_a_closed_stdout_drops_the_report_and_keeps_the_exit_code(tmp_path: Path) -> None:
    # `>&-`: print() found sys.stdout None (AttributeError, exit 3; --version a traceback).
    data = _small_jsonl(tmp_path / "d.jsonl")
    for args in (["check", str(data), "--no-golden"], ["--version"]):
        proc = _cli(*args, shell_tail=">&-")
        assert (proc.returncode, proc.stderr) == (0, ""), args


def test_a_reader_that_went_away_ends_the_command_with_a_pipes_exit_code(
    tmp_path: Path,
) -> None:
    """`curagate check ... | head` with the reader gone: BrokenPipeError was an internal
    error (exit 3, or 120 unbuffered) and `--version | true` a traceback (exit 1)."""
    data = _small_jsonl(tmp_path / "d.jsonl")
    data.write_text(data.read_text() * 2)  # duplicates: findings to print
    for args in (
        ["check", str(data), "--no-golden"],
        ["--version"],
        ["golden", "list", "golden_sets"],
    ):
        read, write = os.pipe()
        os.close(read)  # no reader: the first write fails
        proc = subprocess.run(
            [sys.executable, "-m", "curagate", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
            check=False,
            timeout=60,
        )
        os.close(write)
        assert (proc.returncode, proc.stderr) == (141, ""), args


def test_a_full_stdout_is_a_usage_error_saying_the_disk_is_full(tmp_path: Path) -> None:
    # /dev/full: ENOSPC with no file name, which was taken for a bug (exit 3).
    proc = _cli(
        "check", str(_small_jsonl(tmp_path / "d.jsonl")), "--no-golden", shell_tail=">/dev/full"
    )
    assert proc.returncode == 2
    assert "No space left on device" in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("device", ["fifo", "/dev/zero"])
@pytest.mark.slow
def test_side_files_that_are_fifos_or_devices_are_refused_not_read_forever(
    tmp_path: Path, device: str
) -> None:
    # Each was read whole: a FIFO with no writer hung, /dev/zero filled memory.
    if device == "fifo":
        device = str(tmp_path / "fifo")
        os.mkfifo(device)
    data = _small_jsonl(tmp_path / "d.jsonl")
    config = tmp_path / "audit.yaml"
    config.write_text(
        f"structured_outputs:\n  - field: completion\n    schema_file: {device}\n", encoding="utf-8"
    )
    (tmp_path / "bundle").mkdir()
    commands = [
        ["split", str(data), "--out", str(tmp_path / "s"), "--templates", device],
        ["verify", str(tmp_path / "bundle"), "--public-key", device],
        [
            "registry",
            "--db",
            str(tmp_path / "r.db"),
            "trust",
            "add",
            device,
            "--role",
            "gate",
            "--name",
            "ci",
        ],
        ["audit", str(data), "--config", str(config)],
    ]
    for args in commands:
        proc = _cli(*args, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "not a regular file" in proc.stderr, args


LEAKAGE = ["leakage", "--reference", "{data}", "--corpus", "{data}", "--out", "{out}"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["split", "{data}", "--out", "{out}", "--model", "/nonexist", "--cache-dir", "/x"],
            "--model and --cache-dir given, but records are not embedded; add --semantic or "
            "drop them",
        ),
        (
            ["split", "{data}", "--out", "{out}", "--semantic-threshold", "5"],
            "--semantic-threshold given, but records are not embedded; add --semantic or drop it",
        ),
        (
            [*LEAKAGE, "--model", "/nonexist", "--paraphrase-threshold", "0.1"],
            "--paraphrase-threshold and --model given, but no paraphrase is looked for; add "
            "--paraphrase or drop them",
        ),
        (
            [*LEAKAGE, "--ray-address", "nowhere:1"],
            "--ray-address given, but the scan runs in this process; add --executor ray",
        ),
        (
            ["curate", "{data}", "--out", "{out}", "--ray-address", "nowhere:1"],
            "--ray-address given, but the run is not on Ray; add --executor ray or drop it",
        ),
    ],
    ids=["split-model", "split-threshold", "leakage-paraphrase", "leakage-ray", "curate-ray"],
)
def test_options_of_a_step_that_is_off_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # Each was silently unused (exit 0), an out-of-range --semantic-threshold too.
    data = str(_small_jsonl(tmp_path / "d.jsonl"))
    out = tmp_path / "out"
    assert main([a.format(data=data, out=out) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_a_ray_address_ray_cannot_parse_is_a_usage_error(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    data = _small_jsonl(tmp_path / "d.jsonl")
    proc = _cli("audit", str(data), "--executor", "ray", "--ray-address", "bogus", timeout=120)
    assert proc.returncode == 2
    assert "--ray-address bogus" in proc.stderr and "internal error" not in proc.stderr


@pytest.mark.parametrize("argv", [["--out", ""], ["--out="], ["--out", " "]])
def test_an_empty_out_path_is_a_usage_error_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # "" is "." to Path: `keys generate --out ""` wrote a private key into the current
    # folder, exit 0.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["keys", "generate", *argv])
    assert e.value.code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "command",
    [
        ["check", "{dir}", "--no-golden"],
        ["curate", "{dir}", "--out", "{tmp}/o"],
        ["audit", "{dir}", "--out", "{tmp}/a"],
        ["split", "{dir}", "--out", "{tmp}/s"],
        ["leakage", "--reference", "{dir}", "--corpus", "{data}", "--out", "{tmp}/l"],
    ],
    ids=lambda c: c[0],
)
def test_a_data_file_whose_name_is_not_utf8_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # Its name went into Arrow strings: UnicodeEncodeError, exit 3, in every data command
    # (and in the pre-commit hook, with such a file staged anywhere).
    folder = tmp_path / "in"
    folder.mkdir()
    _small_jsonl(folder / os.fsdecode(b"x\xff.jsonl"))
    data = _small_jsonl(tmp_path / "d.jsonl")
    args = [a.format(dir=folder, tmp=tmp_path, data=data) for a in command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "x\\xff.jsonl: its name is not UTF-8 text" in err and "rename it" in err


@pytest.mark.parametrize(
    "command",
    [
        ["curate", "{data}", "--out", "{bad}"],
        ["curate", "{data}", "--out", "{tmp}/o", "--work-dir", "{bad}"],
        ["split", "{data}", "--out", "{bad}"],
        ["audit", "{data}", "--out", "{bad}"],
        ["registry", "--db", "{bad}", "list"],
    ],
    ids=["curate-out", "curate-work-dir", "split-out", "audit-out", "registry-db"],
)
def test_an_output_path_that_is_not_utf8_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # curate and split: UnicodeEncodeError writing the name into the manifest, exit 3;
    # audit wrote it into its report as U+FFFD (the file named another one).
    data = _small_jsonl(tmp_path / "d.jsonl")
    bad = str(tmp_path / os.fsdecode(b"o\xff"))
    args = [a.format(tmp=tmp_path, data=data, bad=bad) for a in command]
    assert main(args) == 2
    assert "o\\xff: not UTF-8 text" in capsys.readouterr().err
    assert not any(p.name.startswith("o") and p.name != "o" for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "generate", "--out", "{tmp}/k", "--quiet"],
        ["registry", "--db", "{tmp}/r.db", "list", "--quiet"],
        ["registry", "--db", "{tmp}/r.db", "trust", "list", "--quiet"],
        ["model", "import-gguf", "{tmp}/m.gguf", "--out", "{tmp}/m", "--quiet"],
    ],
    ids=lambda c: " ".join(w for w in c if not w.startswith("{")),
)
def test_quiet_is_taken_after_an_action_name_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # "--quiet on any command": after an action (registry list, keys generate, model
    # import-gguf) it was "unrecognized arguments".
    from curagate import progress

    progress.set_quiet(False)
    code = main([a.format(tmp=tmp_path) for a in command])
    assert "unrecognized arguments" not in capsys.readouterr().err
    assert code in (0, 2)
    assert progress._quiet is True  # taken, and it was set
    progress.set_quiet(False)


def test_keys_generate_on_a_full_disk_leaves_nothing_and_a_rerun_works(tmp_path: Path) -> None:
    # Found by attack: on a full disk the private key was written and the public one left
    # empty (exit 2), and a rerun refused to overwrite them. A file-size limit below the
    # private key's size fails its write as a full disk does (Python ignores SIGXFSZ).
    import resource

    out = tmp_path / "keys"
    p = subprocess.run(
        [sys.executable, "-m", "curagate", "keys", "generate", "--out", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100)),
        check=False,
    )
    assert p.returncode == 2 and "cannot write the keys there" in p.stderr, p.stderr
    assert list(out.iterdir()) == []
    assert main(["keys", "generate", "--out", str(out)]) == 0
    assert sorted(f.name for f in out.iterdir()) == ["signing_key.pem", "signing_key.pub"]
    assert (out / "signing_key.pem").stat().st_mode & 0o777 == 0o600


def test_keys_generate_works_where_the_filesystem_has_no_hard_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The keys are put in place by a hard link (never over a file); FAT and some network
    # shares have none: written exclusively instead.
    import errno

    def no_links(*_: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 0
    names = sorted(f.name for f in (tmp_path / "k").iterdir())
    assert names == ["signing_key.pem", "signing_key.pub"]
    assert (tmp_path / "k" / "signing_key.pem").stat().st_mode & 0o777 == 0o600
    assert main(["keys", "generate", "--out", str(tmp_path / "k")]) == 2  # never overwritten


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        # A newline in a path printed a line of its own after "error:", ESC reached the
        # terminal; argparse's own errors sent a value's ESC as it was.
        (["curate", "nofile\x1b[2J\nline2.jsonl", "--out", "{out}"], "nofile\\x1b[2J\\nline2"),
        (["split", "{data}", "--out", "{out}", "--seed", "1\x1b[31m"], "1\\x1b[31m"),
    ],
    ids=["input-error", "argparse"],
)
def test_an_error_is_one_line_with_control_characters_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], shown: str
) -> None:
    data = str(_small_jsonl(tmp_path / "d.jsonl"))
    args = [a.format(data=data, out=tmp_path / "out") for a in argv]
    with contextlib.suppress(SystemExit):
        assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "\x1b" not in err[-1] and shown in err[-1] and err[-1].count("error") == 1


def test_a_problem_of_a_gate_file_cannot_forge_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A gate file's errors are a line each; a key holding a newline printed one more line
    # ("curagate gate: PASSED, shipping").
    gate = tmp_path / "g.yaml"
    gate.write_text(
        'name: x\ngolden_sets:\n  - name: s\n    task: classification\n    "bogus\\nPASSED": 1\n'
    )
    argv = ["gate", str(gate), "--candidate", "c", "--base", "b", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bogus\\nPASSED" in err[0]
