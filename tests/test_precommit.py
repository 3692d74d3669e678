"""The shipped pre-commit hook, run by the real `pre-commit` tool in a throwaway git repo.

Most tests declare the hook `repo: local` with `language: system` (calling this
interpreter's curagate) so they run in seconds; one test installs the shipped manifest as
users do (pre-commit builds curagate from source with pip, minutes). Every
other field (files, exclude, require_serial, ...) is copied from the shipped
.pre-commit-hooks.yaml, so the test pins what users get.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import curagate

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
GOLDEN = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four."
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PRE_COMMIT.exists() or shutil.which("git") is None, reason="needs pre-commit and git"
    ),
]


def shipped_hook() -> dict[str, Any]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "curagate-check"]
    return dict(hook)


def jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "data-repo"
    repo.mkdir()
    hook = shipped_hook()
    assert hook["entry"].split()[:2] == ["curagate", "check"]
    hook["entry"] = shlex.join([sys.executable, "-m", "curagate", *hook["entry"].split()[1:]])
    hook["language"] = "system"
    hook.pop("minimum_pre_commit_version", None)
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    jsonl(
        repo / "golden_sets" / "gsm" / "data.jsonl",
        [{"id": "gsm_0", "prompt": GOLDEN, "reference": "18"}],
    )
    jsonl(
        repo / "data" / "train.jsonl",
        [{"prompt": f"q {i}", "completion": f"a {i}"} for i in range(5)],
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "--no-verify", "-m", "initial")
    subprocess.run(
        [str(PRE_COMMIT), "install"], cwd=repo, env=env(repo), check=True, capture_output=True
    )
    return repo


def env(repo: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
        "PYTHONPATH": str(Path(curagate.__file__).parents[1]),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, env=env(repo), capture_output=True, text=True)


def commit(
    repo: Path, name: str, records: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    jsonl(repo / "data" / name, records)
    git(repo, "add", f"data/{name}")
    return git(repo, "commit", "-m", f"add {name}")


def test_clean_commit_passes(repo: Path) -> None:
    res = commit(repo, "more.jsonl", [{"prompt": "new question", "completion": "new answer"}])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "curagate check" in res.stdout + res.stderr
    assert git(repo, "status", "--porcelain").stdout == ""


def test_duplicated_record_is_refused(repo: Path) -> None:
    rec = {"prompt": "same question", "completion": "same answer"}
    res = commit(repo, "dups.jsonl", [rec, {"prompt": "other", "completion": "x"}, rec])
    assert res.returncode != 0
    assert (
        "data/dups.jsonl:3: DUP001 exact duplicate of data/dups.jsonl:1" in res.stdout + res.stderr
    )
    assert git(repo, "log", "--oneline").stdout.count("\n") == 1


def test_leaking_record_is_refused(repo: Path) -> None:
    res = commit(
        repo, "leak.jsonl", [{"prompt": f"Solve: {GOLDEN} How many eggs?", "completion": "9"}]
    )
    assert res.returncode != 0
    assert "data/leak.jsonl:1: LEAK001 contains golden item gsm_0" in res.stdout + res.stderr


def test_a_data_project_in_a_subfolder_is_checked_against_its_own_golden_sets(
    repo: Path,
) -> None:
    # A monorepo: pre-commit runs the hook at the root, which has no ./golden_sets; the
    # leak check was silently off and the golden item was committed.
    (repo / "ml").mkdir()
    git(repo, "mv", "data", "golden_sets", "ml/")
    git(repo, "commit", "-q", "--no-verify", "-m", "move")
    # A golden item added there is no data: the hook's exclude is any golden_sets/ folder
    # (it was the root's alone, and the new item was checked as data, a leak of itself).
    more = repo / "ml" / "golden_sets" / "gsm" / "more.jsonl"
    jsonl(
        more, [{"id": "gsm_1", "prompt": "How many legs do three spiders have?", "reference": "24"}]
    )
    git(repo, "add", "ml/golden_sets/gsm/more.jsonl")
    res = git(repo, "commit", "-m", "a golden item")
    assert res.returncode == 0, res.stdout + res.stderr
    jsonl(repo / "ml" / "data" / "leak.jsonl", [{"prompt": GOLDEN, "completion": "18"}])
    git(repo, "add", "ml/data/leak.jsonl")
    res = git(repo, "commit", "-m", "add leak")
    assert res.returncode != 0
    assert "ml/data/leak.jsonl:1: LEAK001 contains golden item gsm_0" in res.stdout + res.stderr


def test_upper_case_extensions_are_checked_as_every_reader_reads_them(repo: Path) -> None:
    # The hook's `files:` pattern was case-sensitive: train.JSONL (read by audit, curate
    # and train alike) was skipped, and left out of the staged context's duplicates.
    rec = {"prompt": "same question", "completion": "same answer"}
    jsonl(repo / "data" / "a.jsonl", [rec])
    git(repo, "add", "data/a.jsonl")
    res = commit(repo, "more.JSONL", [{"prompt": "fresh", "completion": "x"}, rec])
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "data/more.JSONL:2: DUP001 exact duplicate of data/a.jsonl:1" in out, out


def test_a_staged_symbolic_link_to_a_data_file_is_checked(repo: Path, tmp_path: Path) -> None:
    # Found by attack: with `types: [file]` pre-commit handed the hook no link ("no files to
    # check", Skipped) and a link to a broken file was committed.
    target = tmp_path / "ext" / "bad.jsonl"
    target.parent.mkdir()
    target.write_text('{"prompt": "", "completion": "x"}\n{broken\n', encoding="utf-8")
    (repo / "data" / "link.jsonl").symlink_to(target)
    git(repo, "add", "data/link.jsonl")
    res = git(repo, "commit", "-m", "add a link")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "data/link.jsonl:1: FMT005" in out and "data/link.jsonl:2: FMT001" in out, out


def test_the_shipped_manifest_installs_and_runs_as_users_get_it(repo: Path) -> None:
    """`language: python` as shipped: pre-commit builds curagate from this checkout (pip, maturin,
    cargo; dependencies from PyPI) into its own environment and runs the hook from there.

    Slow (a release build of the Rust extension, sped up by sharing this checkout's cargo
    target folder); it is the only test that installs curagate the way hook users do.
    """
    bad = [{"prompt": "same", "completion": "x"}, {"prompt": "same", "completion": "x"}]
    jsonl(repo / "data" / "dups.jsonl", bad)
    git(repo, "add", "data/dups.jsonl")
    build_env = {
        **env(repo),
        "CARGO_TARGET_DIR": str(ROOT / "target"),
        # The hook must run from its own install: neither this checkout nor this venv.
        "PYTHONPATH": "",
        "PATH": os.pathsep.join(
            p
            for p in os.environ.get("PATH", "").split(os.pathsep)
            if Path(p) != Path(sys.executable).parent
        ),
    }
    res = subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "curagate-check", "--files", "data/dups.jsonl"],
        cwd=repo,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "data/dups.jsonl:2: DUP001 exact duplicate of data/dups.jsonl:1" in out
    assert "Installing environment for" in out  # built its own, as for any hook user


# Holes found by attacking the config side; each is a test now.


def test_a_staged_file_whose_name_starts_with_a_dash_is_checked(repo: Path) -> None:
    rec = {"prompt": "same question", "completion": "same answer"}
    jsonl(repo / "-bad.jsonl", [rec, rec])
    git(repo, "add", "--", "-bad.jsonl")
    res = git(repo, "commit", "-m", "add -bad.jsonl")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "-bad.jsonl:2: DUP001 exact duplicate of -bad.jsonl:1" in out, out
    assert "usage:" not in out


def _too_many_names_for_one_run(repo: Path) -> None:
    """Stage 1,402 data files whose names fill several command lines, the first and the
    last (aaa, zzz) holding one record twice."""
    rec = {"prompt": "the same duplicated prompt text here", "completion": "same answer"}
    jsonl(repo / "data" / "aaa.jsonl", [rec])
    jsonl(repo / "data" / "zzz.jsonl", [rec])
    for i in range(1400):
        jsonl(
            repo / "data" / f"m_{i:05d}_{'x' * 90}.jsonl", [{"prompt": f"p {i}", "completion": "c"}]
        )
    git(repo, "add", "data")


def test_a_commit_too_long_for_one_command_line_still_finds_duplicates_across_runs(
    repo: Path,
) -> None:
    # pre-commit splits ~128 KiB of file names over several runs of the hook; require_serial
    # only orders them, so a duplicate between the first and the last staged file passed.
    _too_many_names_for_one_run(repo)
    res = git(repo, "commit", "-m", "bulk import")
    assert res.returncode != 0, res.stdout + res.stderr
    assert "data/zzz.jsonl:1: DUP001 exact duplicate of data/aaa.jsonl:1" in res.stdout + res.stderr


def test_files_the_user_excluded_from_the_hook_are_no_duplicate_context(repo: Path) -> None:
    # Found by attack: --staged-context read every staged data file outside golden_sets/,
    # whatever the config's `exclude`: committing a copy of an excluded archive with it
    # failed with DUP001 against the archive (committed one after the other, it passed).
    from curagate.commands.check import HOOK_EXCLUDE, HOOK_FILES

    assert (shipped_hook()["files"], shipped_hook()["exclude"]) == (HOOK_FILES, HOOK_EXCLUDE)
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    config["repos"][0]["hooks"][0]["exclude"] = "^(golden_sets|data/archive)/"
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git(repo, "commit", "-q", "-a", "--no-verify", "-m", "exclude the archive")
    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(4)]
    jsonl(repo / "data" / "archive" / "train_v1.jsonl", rows)
    git(repo, "add", "data/archive")
    res = commit(repo, "v2.jsonl", rows)
    assert res.returncode == 0, res.stdout + res.stderr
    # ... while a duplicate of a file the hook selects is still found across files
    jsonl(repo / "data" / "c.jsonl", rows[:1])
    git(repo, "add", "data/c.jsonl")
    res = commit(repo, "d.jsonl", [*rows[:1], {"prompt": "new", "completion": "x"}])
    assert res.returncode != 0 and "DUP001" in res.stdout + res.stderr


def test_all_files_over_a_long_file_list_still_finds_duplicates_across_runs(repo: Path) -> None:
    # Found by attack: `pre-commit run --all-files` (how CI and pre-commit.ci run hooks)
    # splits a long file list over several runs as a commit does, but nothing is staged, so
    # --staged-context gave each run no context and a duplicate across the runs passed.
    _too_many_names_for_one_run(repo)
    git(repo, "commit", "-q", "--no-verify", "-m", "bulk import")
    res = subprocess.run(
        [str(PRE_COMMIT), "run", "--all-files"],
        cwd=repo,
        env=env(repo),
        capture_output=True,
        text=True,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "data/zzz.jsonl:1: DUP001 exact duplicate of data/aaa.jsonl:1" in out, out
    # ... and a file the hook does not select is no context (golden_sets/ is excluded)
    assert "golden_sets" not in out, out


@pytest.mark.parametrize("name", ["leak.ndjson", "leak.jsonl.bz2", "leak.jsonl.xz"])
def test_record_files_check_refuses_in_a_folder_reach_the_hook(repo: Path, name: str) -> None:
    # Found by attack: `files:` took only the names check reads, so a golden item in a
    # .ndjson, .jsonl.bz2, .jsonl.xz or .json array was committed ("(no files to check)
    # Skipped") while `curagate check data/` in CI refused the same tree with exit 2.
    import bz2
    import lzma

    rec = {"prompt": GOLDEN, "completion": "18"}
    text = json.dumps(rec) + "\n"
    data = {
        ".ndjson": text.encode(),
        ".bz2": bz2.compress(text.encode()),
        ".xz": lzma.compress(text.encode()),
    }[Path(name).suffix]
    (repo / "data" / name).write_bytes(data)
    (repo / "package.json").write_text('{"name": "site", "private": true}\n')  # no records
    git(repo, "add", f"data/{name}", "package.json")
    res = git(repo, "commit", "-m", "add records")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert f"data/{name}: records in a " in out and "(no files to check)" not in out, out
    assert git(repo, "log", "--oneline").stdout.count("\n") == 1  # nothing committed
    # ... as check over the folder (CI) refuses it, with the same message
    ci = subprocess.run(
        [sys.executable, "-m", "curagate", "check", "data/"],
        cwd=repo,
        env=env(repo),
        capture_output=True,
        text=True,
    )
    assert ci.returncode == 2 and f"data/{name}: records in a " in ci.stderr, ci.stderr


def test_ordinary_files_beside_the_data_pass_the_hook(repo: Path) -> None:
    # Found by re-attack: the hook selected every .json, CSV and `.jsonl.<any>` name, so a
    # JSON fixture (an array of objects), a metrics CSV, a checksum or DVC's pointer beside
    # the data blocked every commit.
    (repo / "package.json").write_text('{"name": "site", "private": true}\n')
    (repo / "users.json").write_text('[{"name": "ann", "bio": "likes long walks"}]\n')
    (repo / "metrics.csv").write_text("step,loss\n1,0.5\n2,0.4\n")
    (repo / "data" / "train.jsonl.md5").write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    (repo / "data" / "train.jsonl.dvc").write_text("outs:\n- md5: d41d8cd9\n  path: x\n")
    names = ["package.json", "users.json", "metrics.csv", "data/train.jsonl.md5"]
    git(repo, "add", *names, "data/train.jsonl.dvc")
    res = git(repo, "commit", "-m", "config, fixtures, metrics")
    assert res.returncode == 0, res.stdout + res.stderr
