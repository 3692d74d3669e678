"""`curagate check`: violations as file:line: RULE message, exit codes, no torch."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import curagate
from curagate.cli import main

GOLDEN_ITEM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?"
)


def write(path: Path, records: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


def git_folder(path: Path) -> Path:
    """A ``.git`` folder as git lays one out (a ``HEAD`` file, ``objects/``, ``refs/``): what
    the golden-sets lookup takes for a repository (an empty ``.git`` is none, to git too)."""
    for sub in ("objects", "refs"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    (path / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return path


def pc(i: int) -> dict[str, str]:
    return {"prompt": f"prompt number {i}", "completion": f"completion number {i}"}


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    g = tmp_path / "golden_sets" / "gsm"
    write(g / "data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM, "reference": "72"}])
    (g / "set.yaml").write_text("name: gsm\n", encoding="utf-8")
    return g.parent


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    rc = main(["check", *argv])
    cap = capsys.readouterr()
    return rc, cap.out.splitlines(), cap.err


def test_clean_files_exit_0_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1), pc(2)])
    b = write(tmp_path / "b.jsonl", [pc(3)])
    assert run([str(a), str(b), "--no-golden"], capsys) == (0, [], "")


def test_a_whole_file_problem_names_the_file_without_a_line_or_a_rows_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed "t.jsonl.gz:0: ... (re-create or re-download the file); fix: Fix the row
    # as the message says ...": no line 0 exists, and no row is at fault.
    import gzip

    data = gzip.compress(b"".join(json.dumps(pc(i)).encode() + b"\n" for i in range(50)))
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(data[:20])
    rc, out, _ = run([str(path), "--no-golden"], capsys)
    assert rc == 1
    assert [line.split(" ", 2)[:2] for line in out] == [[f"{path.as_posix()}:", "FMT010"]]
    assert out[0].endswith("(re-create or re-download the file)")


def test_duplicate_within_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(
        tmp_path / "a.jsonl",
        [pc(1), pc(2), {"prompt": "PROMPT number 1!", "completion": "completion number 1"}],
    )
    rc, out, _ = run([str(a)], capsys)
    assert rc == 1
    assert out == [
        f"{a.as_posix()}:3: DUP001 exact duplicate of {a.as_posix()}:1 (after normalization); "
        "remove one copy or run `curagate curate`"
    ]


def test_a_file_name_with_a_newline_still_gives_one_line_per_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A staged file's name printed raw split its finding over two lines, which broke
    # every line-based reader of the output (pre-commit, grep, CI annotations).
    a = write(tmp_path / "odd\nname.jsonl", [pc(1), pc(1)])
    rc, out, _ = run([str(a)], capsys)
    assert rc == 1
    escaped = a.as_posix().replace("\n", "\\n")
    assert out == [
        f"{escaped}:2: DUP001 exact duplicate of {escaped}:1 (after normalization); "
        "remove one copy or run `curagate curate`"
    ]
    # A name with a real backslash-n prints apart from it; NEL (a line break to Python's
    # splitlines) and a bidi override are escaped too.
    others = [
        write(tmp_path / name, [pc(k), pc(k)])
        for k, name in enumerate(("odd\\nname.jsonl", "nel\x85x.jsonl", "bidi\u202ex.jsonl"), 2)
    ]
    rc, out, _ = run([str(a), *map(str, others)], capsys)
    assert rc == 1 and len(out) == 4 and len(set(out)) == 4
    assert all(len(line.splitlines()) == 1 and "\u202e" not in line for line in out)


def test_duplicate_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1)])
    b = write(tmp_path / "b.jsonl", [pc(2), pc(1)])
    rc, out, err = run([str(a), str(b)], capsys)
    assert rc == 1 and len(out) == 1
    assert out[0].startswith(f"{b.as_posix()}:2: DUP001 exact duplicate of {a.as_posix()}:1")
    assert "1 violation(s) in 1 file(s)" in err


def test_texts_that_normalize_to_nothing_are_duplicates_only_of_their_own_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Emoji and punctuation normalize to an empty key; every such record was one
    # "exact duplicate" of the first (curate's core and check/audit now agree: raw bytes).
    texts = ["\U0001f600\U0001f600", "\U0001f389", "!!!", "...", "\U0001f389"]
    a = write(tmp_path / "a.jsonl", [{"text": t} for t in texts])
    rc, out, _ = run([str(a), "--no-golden"], capsys)
    assert rc == 1 and len(out) == 1
    assert out[0].startswith(f"{a.as_posix()}:5: DUP001 exact duplicate of {a.as_posix()}:2")


def test_the_python_fingerprints_agree_with_the_core_on_empty_keys() -> None:
    import pyarrow as pa

    from curagate.audit import keys

    column = pa.array(["\U0001f600", "!!!", "\U0001f600", "Hello, world", "hello world"])
    for prints in (keys.fingerprints(column), keys._python(column)):
        assert prints[0] == prints[2] and prints[3] == prints[4]
        assert len({prints[0], prints[1], prints[3]}) == 3


def test_context_files_are_read_for_duplicates_but_never_reported(tmp_path: Path) -> None:
    from curagate.check import check

    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": "", "completion": "broken"}])
    b = write(tmp_path / "b.jsonl", [pc(2), pc(1)])
    c = write(tmp_path / "c.jsonl", [pc(2)])
    # b as one run of a split pre-commit list: a and c are the other runs' files
    found = check([b], leakage=False, context=[a, b, c])
    assert [(f.file, f.line, f.rule.id) for f in found] == [(b.as_posix(), 2, "DUP001")]
    assert f"duplicate of {a.as_posix()}:1" in found[0].message
    # c's copy of b:1 is reported by the run that owns c
    (only,) = check([c], leakage=False, context=[a, b, c])
    assert (only.file, only.line) == (c.as_posix(), 1) and b.as_posix() in only.message


def test_staged_context_knows_a_file_by_what_it_is_not_how_it_is_spelled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The staged names (git's, from the repo root) were compared with the user's spelling:
    # `$PWD/bad.jsonl`, `sub/../bad.jsonl` or a path through a link was read as context only,
    # every finding dropped (exit 0); from a subfolder, the staged context was empty.
    import subprocess

    repo = tmp_path / "repo"
    bad = write(repo / "bad.jsonl", [{"prompt": "", "completion": "x"}])
    write(repo / "sub" / "y.jsonl", [pc(1)])
    write(repo / "z.jsonl", [pc(1)])
    (repo / "self").symlink_to(".")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "bad.jsonl", "sub", "z.jsonl"], check=True)
    for spelling in ("bad.jsonl", str(bad), "sub/../bad.jsonl", "self/bad.jsonl"):
        rc, out, _ = run(["--no-golden", "--staged-context", "--", spelling], capsys)
        assert rc == 1 and len(out) == 1 and out[0].startswith(f"{spelling}:1:"), (spelling, out)
    for z in ("z.jsonl", str(repo / "z.jsonl")):  # absolute, it sorted before sub/y.jsonl
        rc, out, _ = run(["--no-golden", "--staged-context", "--", z], capsys)
        assert rc == 1 and "DUP001" in out[0] and "sub/y.jsonl:1" in out[0], (z, out)
    monkeypatch.chdir(repo / "sub")
    rc, out, _ = run(["--no-golden", "--staged-context", "--", "../z.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("../z.jsonl:1:") and "y.jsonl:1" in out[0], out


def test_staged_context_reads_files_without_the_text_field_in_their_own_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented hook (`--config audit.yaml --staged-context`) with a text_field: a
    # staged prompt/completion file beside the checked one was exit 2 ("the text field
    # 'body' ... is not a column here"), and blocked every commit.
    import subprocess

    repo = tmp_path / "repo"
    a = write(repo / "a.jsonl", [{"text": "a", "body": "some body text"}, {"body": "other"}])
    write(repo / "b.jsonl", [pc(1)])
    (repo / "aud.yaml").write_text("text_field: body\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "a.jsonl", "b.jsonl"], check=True)
    argv = ["--no-golden", "--config", "aud.yaml", "--staged-context", "--", a.name]
    rc, out, err = run(argv, capsys)
    assert rc == 0, (out, err)


def test_staged_context_levels_a_duplicate_as_one_run_over_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3 repeats in a.jsonl and 1 in b.jsonl are 4 of 40 rows (10%: DUP001 an error, as
    # audit says); checking b alone with a as context counted b's 1 in 40: a warning.
    import subprocess

    from curagate.check import check

    repo = tmp_path / "repo"
    write(repo / "a.jsonl", [pc(i) for i in range(17)] + [pc(0)] * 3)
    b = write(repo / "b.jsonl", [pc(100 + i) for i in range(19)] + [pc(100)])
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "a.jsonl", "b.jsonl"], check=True)
    both = check([repo / "a.jsonl", b], leakage=False)
    alone = check([b], leakage=False, context=[repo / "a.jsonl", b])
    level = {(f.file, f.line): f.severity for f in both}
    assert [(f.severity.value, level[(f.file, f.line)].value) for f in alone] == [
        ("error", "error")
    ]


@pytest.mark.parametrize(
    ("config", "dup"),
    [
        # Found by the re-attack: a config pre-commit would refuse was exit 3 here
        ("repos: 5\n", True),
        ("repos: [{repo: local, hooks: 5}]\n", True),
        ("[1, 2]\n", True),
        ("files: null\nrepos: []\n", True),  # read as the pattern 'None' before
        # a local hook running check another way than `curagate check` excludes old/ too
        ("repos: [{repo: local, hooks: [{id: mine, entry: 'uv run curagate check "
         "--staged-context --', exclude: '^old/'}]}]\n", False),
        ("repos: [{repo: local, hooks: [{id: mine, entry: 'python -m curagate check', "
         "exclude: '^old/'}]}]\n", False),
        ("exclude: '^old/'\nrepos: [{repo: x, hooks: [{id: curagate-check}]}]\n", False),
        ("repos: [{repo: x, hooks: [{id: curagate-check, exclude: '(unclosed'}]}]\n", True),
    ],
)  # fmt: skip
def test_staged_context_reads_the_hook_selection_of_any_config(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: str,
    dup: bool,
) -> None:
    import subprocess

    repo = tmp_path / "repo"
    new = write(repo / "z.jsonl", [pc(1)])  # after old/: its copy is the duplicate
    write(repo / "old" / "v1.jsonl", [pc(1)])
    (repo / ".pre-commit-config.yaml").write_text(config)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "."], check=True)
    rc, out, err = run(["--no-golden", "--staged-context", "--", new.name], capsys)
    assert (rc, any("DUP001" in line for line in out)) == (int(dup), dup), (out, err)


def _two_hooks(repo: Path, hooks: list[dict[str, Any]]) -> None:
    import subprocess

    write(repo / "chat" / "a.jsonl", [{"messages": [CHAT_TURNS[0], CHAT_TURNS[1]]}])
    write(repo / "pc" / "b.jsonl", [pc(1)])
    write(repo / "pc" / "c.jsonl", [pc(1)])  # pre-commit may hand it to a run of its own
    (repo / "chat.yaml").write_text("format: chat\n")
    (repo / "pc.yaml").write_text("format: prompt_completion\n")
    _hooks_config(repo, hooks)
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "."], check=True)


def _hooks_config(repo: Path, hooks: list[dict[str, Any]]) -> None:
    import yaml

    config = {"repos": [{"repo": "local", "hooks": hooks}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))


CHAT_TURNS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]


def _hook(id_: str, config: str, files: str) -> dict[str, Any]:
    args = ["--config", config, "--no-golden", "--staged-context", "--"]
    return {"id": id_, "entry": "curagate check", "args": args, "files": files}


@pytest.fixture
def hook_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder to make a git repository in, the current directory (git looks no
    further up than the test's folder)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return repo


def test_staged_context_reads_the_running_hook_s_selection_not_the_first_one_s(
    hook_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: two local hooks run `curagate check` on other files with another
    # --config; the second read the first one's files as context and stopped (exit 2:
    # "chat/a.jsonl: no record has field 'prompt' needed by format prompt_completion").
    repo = hook_repo
    _two_hooks(
        repo, [_hook("c1", "chat.yaml", r"^chat/.*\.jsonl$"), _hook("c2", "pc.yaml", "^pc/")]
    )
    pc_args = ["--config", "pc.yaml", "--no-golden", "--staged-context", "--"]
    rc, out, err = run([*pc_args, "pc/c.jsonl"], capsys)
    # its own hook's other file is context: the duplicate across the runs is found
    assert rc == 1 and "pc/c.jsonl:1: DUP001 exact duplicate of pc/b.jsonl:1" in out[0], err
    rc, out, err = run(["--config", "chat.yaml", *pc_args[2:], "chat/a.jsonl"], capsys)
    assert (rc, out, err) == (0, [], "")
    # The same arguments: the files this run was handed tell the hooks apart.
    same = [
        {**_hook("c1", "pc.yaml", "^chat/"), "id": "curagate-check"},
        {**_hook("c2", "pc.yaml", "^pc/"), "id": "curagate-check"},
    ]
    _hooks_config(repo, same)
    rc, out, err = run([*pc_args, "pc/c.jsonl"], capsys)
    assert rc == 1 and "DUP001 exact duplicate of pc/b.jsonl:1" in out[0], err
    # No telling which runs (both select the file, with the same arguments): the files
    # either selects are context, and the chat file this run cannot read as prompt/
    # completion is skipped (it is its own hook's to check).
    _hooks_config(repo, [_hook("c1", "pc.yaml", "^(chat|pc)/"), _hook("c2", "pc.yaml", "^pc/")])
    rc, out, err = run([*pc_args, "pc/c.jsonl"], capsys)
    assert rc == 1 and "DUP001 exact duplicate of pc/b.jsonl:1" in out[0], err
    _hooks_config(repo, [_hook("c1", "pc.yaml", "^chat/"), _hook("c2", "pc.yaml", "^pc/")])
    rc, out, err = run(["--no-golden", "--staged-context", "--", "pc/c.jsonl"], capsys)
    assert rc == 1 and "DUP001 exact duplicate of pc/b.jsonl:1" in out[0], "by hand: every hook's"


def test_staged_context_of_hooks_it_cannot_tell_apart_is_every_file_they_select(
    hook_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the re-attack: where several hooks with the same arguments may be this run,
    # only the files all of them select were context. Three hooks (x|y, x|z, y|z files),
    # each handed part of its files by pre-commit: hook a's run of the y files read only
    # the y files (a and c select them), and 1y's copy of 0x passed.
    repo = hook_repo
    for n in ("0x", "1y", "2y", "3x", "4z"):
        write(repo / "d" / f"{n}.jsonl", [pc(1 if n in ("0x", "1y") else int(n[0]) + 10)])
    args = ["--no-golden", "--staged-context", "--"]
    _hooks_config(
        repo,
        [
            {"id": i, "entry": "curagate check", "args": args, "files": f"^d/\\d[{sel}]"}
            for i, sel in (("a", "xy"), ("b", "xz"), ("c", "yz"))
        ],
    )
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "."], check=True)
    rc, out, err = run([*args, "d/1y.jsonl", "d/2y.jsonl"], capsys)
    assert rc == 1 and "d/1y.jsonl:1: DUP001 exact duplicate of d/0x.jsonl:1" in out[0], err


def test_staged_context_outside_a_git_work_tree_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    rc, _, err = run(["--staged-context", "--no-golden", "--", str(a)], capsys)
    assert rc == 2 and "--staged-context: cannot list the staged files with git" in err


def test_schema_violations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(
        tmp_path / "a.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ]
            },
            "{not json",
            {
                "messages": [
                    {"role": "human", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            },
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]},
        ],
    )
    rc, out, _ = run([str(a)], capsys)
    assert rc == 1
    assert [line.split(" ")[:2] for line in out] == [
        [f"{a.as_posix()}:2:", "FMT001"],
        [f"{a.as_posix()}:3:", "FMT002"],
        [f"{a.as_posix()}:4:", "FMT005"],
    ]


def test_leak_against_golden_dir_exact(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM.upper(), "completion": "72"}])
    rc, out, _ = run([str(a), "--golden", str(golden)], capsys)
    assert rc == 1
    assert any(line.startswith(f"{a.as_posix()}:2: LEAK001 contains golden item") for line in out)


def test_a_golden_file_is_scanned_as_a_golden_folder_is(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--golden gsm/data.jsonl` was refused: "no such directory" (for a file that is there).
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM.upper(), "completion": "72"}])
    rc, out, _ = run([str(a), "--golden", str(golden / "gsm" / "data.jsonl")], capsys)
    assert rc == 1
    assert any(line.startswith(f"{a.as_posix()}:2: LEAK001 contains golden item") for line in out)
    rc, _, err = run([str(a), "--golden", str(golden / "nothing.jsonl")], capsys)
    assert rc == 2 and "nothing.jsonl: no such file or folder" in err


@pytest.mark.parametrize("command", ["check", "leakage"])
def test_an_ngram_size_the_index_refuses_is_a_usage_error_naming_the_flag(
    tmp_path: Path, golden: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `check --ngram 3` was taken, then refused by the index: "leakage: invalid parameter
    # `ngram`", naming no flag of the command.
    a = write(tmp_path / "a.jsonl", [pc(1)])
    argv = (
        ["check", str(a), "--golden", str(golden)]
        if command == "check"
        else [
            "leakage",
            "--corpus",
            str(a),
            "--reference",
            str(golden),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--ngram", "3"])
    assert exit_.value.code == 2
    assert "argument --ngram: must be an integer in 8..50, got 3" in capsys.readouterr().err


def test_every_repeated_golden_folder_is_scanned(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a second --golden replaced the first; its leak passed, exit 0.
    other = tmp_path / "other_golden"
    write(
        other / "set.jsonl",
        [{"prompt": "an unrelated golden question of its own", "completion": "x"}],
    )
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM.upper(), "completion": "72"}])
    rc, out, _ = run([str(a), "--golden", str(golden), "--golden", str(other)], capsys)
    assert rc == 1
    assert any(line.startswith(f"{a.as_posix()}:2: LEAK001 contains golden item") for line in out)


def test_a_folder_s_hidden_named_data_files_are_checked_as_the_hook_checks_them(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `check data/` (CI) passed `_`/`.` names by, as an input folder's
    # walk does `_SUCCESS`, while the hook, handed them, checked them: a leak committed
    # with --no-verify in data/_z.jsonl passed CI, exit 0. A version-control folder is
    # still passed by.
    data = tmp_path / "data"
    write(data / "train.jsonl", [pc(1)])
    leak = {"prompt": GOLDEN_ITEM, "completion": "72"}
    hidden = [data / "_z.jsonl", data / "_part" / "x.jsonl", data / ".cache" / "y.jsonl"]
    for path in hidden:
        write(path, [leak])
    (data / ".git").mkdir()
    (data / ".git" / "objects.jsonl").write_text("not json\n")
    # Found by re-attack: JupyterLab's copy of each file it opened was an exact duplicate.
    write(data / ".ipynb_checkpoints" / "train-checkpoint.jsonl", [pc(1)])
    rc, out, _ = run([str(data), "--golden", str(golden)], capsys)
    assert rc == 1
    leaks = sorted(line.split(":")[0] for line in out if "LEAK001" in line)
    assert leaks == sorted(p.as_posix() for p in hidden)
    assert not any(".git" in line or "checkpoint" in line for line in out), out


def test_a_leak_in_a_quarantined_row_is_a_leak_too(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty completion quarantines the row (FMT005), and check said only that: filling
    # it in left the golden item in the data. `curagate leakage` scanned it; check and
    # audit now do too.
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM, "completion": ""}])
    rc, out, _ = run([str(a), "--golden", str(golden)], capsys)
    assert rc == 1
    assert [line.split(" ", 2)[:2] for line in out] == [
        [f"{a.as_posix()}:2:", "FMT005"],
        [f"{a.as_posix()}:2:", "LEAK001"],
    ]
    from curagate.audit import audit
    from curagate.audit.config import AuditConfig

    cfg = AuditConfig.model_validate({"leakage": {"reference": [str(golden)]}})
    report = audit([a], config=cfg, out=tmp_path / "audit")
    leak = next(f for f in report["findings"] if f["rule"] == "LEAK001")
    assert leak["rows"] == [f"{a.as_posix()}:2"]


def test_leak_against_golden_dir_13_gram(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    part = " ".join(GOLDEN_ITEM.split()[2:17])  # 15 words, wrapped in other text
    a = write(
        tmp_path / "a.jsonl",
        [pc(1), {"prompt": f"Here is a task. {part} Answer briefly.", "completion": "72"}],
    )
    rc, out, _ = run([str(a), "--golden", str(golden)], capsys)
    assert rc == 1
    assert out == [
        f"{a.as_posix()}:2: LEAK001 contains golden item gsm_0 "
        "(ngram); remove the record (golden set items must never be trained on)"
    ]


OUTSIDE_KEY = (
    "outside the record's key (in a response, a message's other fields or another column); "
    "remove the record (golden set items must never be trained on)"
)


def test_leak_outside_the_key_is_found_as_leakage_finds_it(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A preference row is keyed by its prompt: DPO trains on `chosen` all the same.
    # A `system` column or a message's reasoning is outside the key too.
    pref = write(
        tmp_path / "pref.jsonl",
        [
            {"prompt": "What is the capital of France?", "chosen": GOLDEN_ITEM, "rejected": "no"},
            {"prompt": "Tell me something", "chosen": "ok", "rejected": "sure"},
        ],
    )
    extra = write(
        tmp_path / "pc.jsonl",
        [{"prompt": "hello there", "completion": "hi", "system": GOLDEN_ITEM}],
    )
    reasoning = write(
        tmp_path / "chat.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello", "reasoning_content": GOLDEN_ITEM},
                ]
            }
        ],
    )
    rc, out, _ = run([str(pref), str(extra), str(reasoning), "--golden", str(golden)], capsys)
    assert rc == 1
    assert out == [
        f"{reasoning.as_posix()}:1: LEAK001 contains golden item gsm_0 (exact+ngram) {OUTSIDE_KEY}",
        f"{extra.as_posix()}:1: LEAK001 contains golden item gsm_0 (exact+ngram) {OUTSIDE_KEY}",
        f"{pref.as_posix()}:1: LEAK001 contains golden item gsm_0 (ngram) {OUTSIDE_KEY}",
    ]


def test_golden_row_the_reader_quarantines_is_still_looked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Row 2's `reference` is a number where row 1's was a string: quarantined, not dropped.
    g = write(
        tmp_path / "golden_sets" / "gsm" / "data.jsonl",
        [
            {"id": "gsm_1", "prompt": "An unrelated golden question about eleven apples", "reference": "1"},
            {"id": "gsm_0", "prompt": GOLDEN_ITEM, "reference": 72},
        ],
    )  # fmt: skip
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM, "completion": "72"}])
    rc, out, _ = run([str(a), "--golden", str(g.parent.parent)], capsys)
    assert rc == 1 and out[0].startswith(f"{a.as_posix()}:2: LEAK001 contains golden item gsm_0")


def test_unreadable_golden_row_is_usage_error_naming_its_line(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = golden / "gsm" / "data.jsonl"
    data.write_text(data.read_text() + '{"id": "gsm_1", "prompt": "cut off\n', encoding="utf-8")
    a = write(tmp_path / "a.jsonl", [pc(1)])
    rc, out, err = run([str(a), "--golden", str(golden)], capsys)
    assert rc == 2 and out == []
    assert f"{data.as_posix()}:2" in err and "could not be read" in err


def test_golden_sets_dir_in_cwd_is_used_by_default(
    tmp_path: Path,
    golden: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    rc, out, _ = run(["a.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("a.jsonl:1: LEAK001")


@pytest.mark.parametrize("shape", ["dangling link", "file"])
def test_golden_sets_there_but_no_folder_is_usage_error_not_no_leakage_check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    shape: str,
) -> None:
    # Golden sets kept on a share that is not mounted: read as "no golden sets", a
    # verbatim golden item passed with exit 0.
    monkeypatch.chdir(tmp_path)
    if shape == "file":
        (tmp_path / "golden_sets").write_text("", encoding="utf-8")
    else:
        (tmp_path / "golden_sets").symlink_to(tmp_path / "share" / "golden")
    write(tmp_path / "a.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    rc, out, err = run(["a.jsonl"], capsys)
    assert rc == 2 and out == []
    assert err.startswith("curagate check: error: golden_sets: ")
    assert ("mount it or fix the link" if shape != "file" else "not a folder") in err
    assert "--no-golden" in err
    assert run(["a.jsonl", "--no-golden"], capsys)[:2] == (0, [])  # asked for: no leakage check


def test_each_file_is_checked_against_the_nearest_golden_sets_above_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A monorepo: pre-commit runs the hook at the root, the data projects are in ml/ and
    # nlp/, each with its own golden sets; there is no ./golden_sets at the root.
    git_folder(tmp_path / ".git")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ml/golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    other = "A wholly different question about the colour of the lighthouse on the far hill."
    write(tmp_path / "nlp/golden_sets/q/data.jsonl", [{"id": "q_0", "prompt": other}])
    for project in ("ml", "nlp"):
        write(
            tmp_path / project / "data/sub/train.jsonl",
            [
                {"prompt": GOLDEN_ITEM, "completion": project},
                {"prompt": other, "completion": project},
            ],
        )
    rc, out, err = run(["ml/data/sub/train.jsonl", "nlp/data/sub/train.jsonl"], capsys)
    assert rc == 1, err
    assert [x.split(" contains ")[0] for x in out] == [
        "ml/data/sub/train.jsonl:1: LEAK001",  # ml's golden item, not nlp's
        "nlp/data/sub/train.jsonl:2: LEAK001",
    ]
    # Without golden sets beside or above it (here: the repository's root ends the walk).
    outside = write(tmp_path / "web/train.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    rc, out, err = run([str(outside.relative_to(tmp_path))], capsys)
    assert (rc, out) == (0, [])


OTHER_ITEM = "A wholly different question about the colour of the lighthouse on the far hill."


@pytest.mark.parametrize(
    ("golden_at", "git"), [("repo", "dir"), ("repo/ml", "dir"), ("repo", "worktree file")]
)
def test_run_in_a_subfolder_the_search_goes_up_to_the_repositorys_root(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    golden_at: str,
    git: str,
) -> None:
    # Found by re-attack: `cd repo/ml/data && curagate check x.jsonl` stopped the search at
    # the current folder and passed a verbatim item of repo/golden_sets (exit 0, a note).
    repo = tmp_path / "repo"
    if git == "dir":
        git_folder(repo / ".git")
    else:  # a linked worktree's .git file: its git folder is elsewhere
        repo.mkdir()
        (repo / ".git").write_text(f"gitdir: {tmp_path}/main/.git/worktrees/repo\n")
    write(
        tmp_path / golden_at / "golden_sets/gsm/data.jsonl",
        [{"id": "gsm_0", "prompt": GOLDEN_ITEM}],
    )
    write(repo / "ml/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    monkeypatch.chdir(repo / "ml" / "data")
    rc, out, err = run(["x.jsonl"], capsys)
    assert rc == 1, err
    assert out[0].startswith("x.jsonl:1: LEAK001") and "gsm_0" in out[0]
    # Never above the repository's root: golden sets beside it are another project's.
    (repo / ".git").rename(repo / "ml" / ".git")
    if golden_at == "repo":
        assert run(["x.jsonl"], capsys)[:2] == (0, [])


def test_a_submodule_is_checked_against_its_superprojects_golden_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A data submodule: its .git file points into the superproject's .git/modules/. Its
    # hook runs at its own root, where the search stopped: the superproject's golden items
    # passed. It goes on to the superproject's root (a submodule's own golden_sets, nearer,
    # still win).
    git_folder(tmp_path / ".git")
    git_folder(tmp_path / ".git" / "modules" / "data")
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    sub = tmp_path / "data"
    write(sub / "train/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (sub / ".git").write_text("gitdir: ../.git/modules/data\n")
    monkeypatch.chdir(sub)
    rc, out, err = run(["train/x.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("train/x.jsonl:1: LEAK001"), err
    write(sub / "golden_sets/q/data.jsonl", [{"id": "q_0", "prompt": OTHER_ITEM}])
    assert run(["train/x.jsonl"], capsys)[:2] == (0, [])


def _superproject(tmp_path: Path, layout: str) -> tuple[Path, Path]:
    """A superproject checkout holding the data submodule ``datasub``, laid out as git 2.47
    lays it out: (the checkout, the submodule's checkout)."""
    main_git = git_folder(tmp_path / "main" / ".git")
    if layout == "main checkout":
        top, modules = tmp_path / "main", main_git / "modules"
    elif layout == "linked worktree":  # `git worktree add ../wt`, then `submodule update`
        top = tmp_path / "wt"
        wt_git = main_git / "worktrees" / "wt"
        wt_git.mkdir(parents=True)
        (wt_git / "HEAD").write_text("0" * 40 + "\n", encoding="utf-8")
        (wt_git / "commondir").write_text("../..\n", encoding="utf-8")
        top.mkdir()
        (top / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n", encoding="utf-8")
        modules = wt_git / "modules"
    else:  # `git init --separate-git-dir ../main.gitdir main`
        top = tmp_path / "main"
        sep = git_folder(tmp_path / "main.gitdir")
        main_git.rename(tmp_path / "unused.git")
        (top / ".git").write_text(f"gitdir: {sep}\n", encoding="utf-8")
        modules = sep / "modules"
    git_folder(modules / "datasub")
    sub = top / "datasub"
    sub.mkdir()
    gitdir = os.path.relpath(modules / "datasub", sub)
    (sub / ".git").write_text(f"gitdir: {gitdir}\n", encoding="utf-8")
    return top, sub


@pytest.mark.parametrize("layout", ["main checkout", "linked worktree", "separate git dir"])
def test_a_submodule_of_a_linked_worktree_or_a_separate_git_dir_is_a_submodule_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    # Found by re-attack: in a linked worktree of the superproject the submodule's .git says
    # `gitdir: ../../main/.git/worktrees/wt/modules/datasub`, with --separate-git-dir
    # `../../main.gitdir/modules/datasub`: read as a repository's own root, so check and
    # audit run in the submodule passed the superproject's golden items (exit 0, "leakage
    # not checked"), which the same branch in the main checkout failed.
    top, sub = _superproject(tmp_path, layout)
    write(top / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    write(sub / "data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    for cwd, name in [(sub, "data/x.jsonl"), (sub / "data", "x.jsonl")]:
        monkeypatch.chdir(cwd)
        rc, out, err = run([name], capsys)
        assert rc == 1 and out[0].startswith(f"{name}:1: LEAK001"), err
    monkeypatch.chdir(sub)
    assert main(["audit", "data/x.jsonl", "--out", str(tmp_path / "aud")]) == 1
    capsys.readouterr()
    report = json.loads((tmp_path / "aud" / "audit.json").read_text(encoding="utf-8"))
    assert report["stats"]["leakage"]["golden_sets"] == [str(top / "golden_sets")]


def test_a_linked_worktree_inside_the_main_checkout_is_its_own_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: a worktree kept in <main>/.worktrees/feat (its .git file points
    # into <main>/.git/worktrees/feat) was read as a submodule: its files were checked
    # against the main checkout's golden sets, another branch's. Its git folder holds a
    # `commondir` file: a linked worktree, whose own root ends the search.
    main_git = git_folder(tmp_path / ".git")
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    wt_git = main_git / "worktrees" / "feat"
    wt_git.mkdir(parents=True)
    (wt_git / "HEAD").write_text("ref: refs/heads/feat\n", encoding="utf-8")
    (wt_git / "commondir").write_text("../..\n", encoding="utf-8")
    feat = tmp_path / ".worktrees" / "feat"
    write(feat / "ml/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (feat / ".git").write_text(f"gitdir: {wt_git}\n", encoding="utf-8")
    monkeypatch.chdir(feat / "ml" / "data")
    rc, out, err = run(["x.jsonl"], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    # Its own golden sets are found, up to its root.
    write(feat / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    assert run(["x.jsonl"], capsys)[0] == 1


def test_a_stray_git_in_a_shared_parent_is_no_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: outside any repository, a `.git` made in a shared parent (anyone
    # may make /tmp/.git) made it a repository's root, and the search read the golden sets
    # there, above the current folder (exit 2 on a golden_sets file, or their items
    # applied); a `.git` FIFO hung check. Neither is a repository to git: outside one the
    # search stops at the current folder, and a `.git` is never opened unless a plain file.
    proj = tmp_path / "me" / "proj"
    write(proj / "data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    monkeypatch.chdir(proj)
    (tmp_path / "golden_sets").write_text("not golden\n", encoding="utf-8")
    (tmp_path / ".git").mkdir()  # empty: no HEAD, objects, refs
    rc, out, err = run(["data/x.jsonl"], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    (tmp_path / "golden_sets").unlink()
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    assert run(["data/x.jsonl"], capsys)[:2] == (0, [])
    if hasattr(os, "mkfifo"):
        (tmp_path / ".git").rmdir()
        os.mkfifo(tmp_path / ".git")  # opened for reading, it blocked until a writer came
        assert run(["data/x.jsonl"], capsys)[:2] == (0, [])


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a .git away needs root"
)
def test_a_git_of_another_users_is_passed_by_as_git_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A repository another user made in a shared parent ends no search (git refuses it too:
    # safe.directory, CVE-2022-24765); the same one of our own is a repository's root.
    monkeypatch.delenv("SUDO_UID", raising=False)
    git = git_folder(tmp_path / ".git")
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    proj = tmp_path / "me" / "proj"
    write(proj / "data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    monkeypatch.chdir(proj)
    assert run(["data/x.jsonl"], capsys)[0] == 1  # ours: its golden sets are ours
    os.chown(git, 54321, 54321)
    rc, out, err = run(["data/x.jsonl"], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    # Under sudo, the user who ran it owns what it may take for a repository, as in git.
    monkeypatch.setenv("SUDO_UID", "54321")
    assert run(["data/x.jsonl"], capsys)[0] == 1


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a folder away needs root"
)
def test_a_git_link_of_another_users_to_a_git_folder_of_ours_is_passed_by(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: another user's folder held `.git`, a link of theirs to a `.git`
    # folder of ours, and golden sets of theirs. Read with stat (the link followed), it was
    # ours: their folder was our repository's root and their golden items applied (exit 1),
    # where git says "detected dubious ownership". git reads the owner of the `.git` itself
    # and of the work tree's folder.
    monkeypatch.delenv("SUDO_UID", raising=False)
    mine = git_folder(tmp_path / "mine" / ".git")
    shared = tmp_path / "shared"
    write(shared / "golden_sets/theirs/data.jsonl", [{"id": "t_0", "prompt": GOLDEN_ITEM}])
    write(shared / "mywork/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (shared / ".git").symlink_to(mine)
    monkeypatch.chdir(shared / "mywork" / "data")
    assert run(["x.jsonl"], capsys)[0] == 1  # all ours: a repository's root, as to git
    os.lchown(shared / ".git", 54321, 54321)
    os.chown(shared, 54321, 54321)
    rc, out, err = run(["x.jsonl"], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    os.lchown(shared / ".git", 0, 0)  # the link ours, in their folder: still theirs to git
    rc, out, err = run(["x.jsonl"], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err


def test_a_head_linked_into_refs_is_a_repositorys_head_even_dangling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: `git -c core.preferSymlinkRefs=true init`, a branch switched and
    # `git pack-refs --all` leave `.git/HEAD` a link to refs/heads/dev, which is in
    # packed-refs: read with stat, HEAD was no file, the repository none, and the search
    # stopped at the current folder (exit 0, "leakage not checked"). git takes a HEAD
    # linked into refs/ (validate_headref).
    git = git_folder(tmp_path / "repo" / ".git")
    (git / "HEAD").unlink()
    (git / "HEAD").symlink_to("refs/heads/dev")
    write(tmp_path / "repo/golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    write(tmp_path / "repo/ml/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    monkeypatch.chdir(tmp_path / "repo" / "ml" / "data")
    rc, out, err = run(["x.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("x.jsonl:1: LEAK001"), err


def test_a_listed_nested_repository_and_a_submodules_worktree_are_part_of_the_superproject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: `git submodule add ./datasub datasub` of an existing repository
    # keeps its `.git` folder, and `git worktree add` in a submodule makes a worktree whose
    # common git folder is `<super>/.git/modules/<name>`: both were read as a repository's
    # root, so the superproject's golden items passed (exit 0, "leakage not checked").
    main_git = git_folder(tmp_path / ".git")
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    git_folder(tmp_path / "datasub" / ".git")
    write(tmp_path / "datasub/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    monkeypatch.chdir(tmp_path / "datasub")
    rc, out, err = run(["data/x.jsonl"], capsys)  # not listed: a nested repository's root
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    (tmp_path / ".gitmodules").write_text(
        '[submodule "datasub"]\n\tpath = datasub\n\turl = ./datasub\n', encoding="utf-8"
    )
    rc, out, err = run(["data/x.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("data/x.jsonl:1: LEAK001"), err
    # A worktree of the submodule `inner`, inside the superproject's checkout.
    wt_git = git_folder(main_git / "modules" / "inner") / "worktrees" / "inner_wt"
    wt_git.mkdir(parents=True)
    (wt_git / "HEAD").write_text("0" * 40 + "\n", encoding="utf-8")
    (wt_git / "commondir").write_text("../..\n", encoding="utf-8")
    wt = tmp_path / "inner_wt"
    write(wt / "data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (wt / ".git").write_text(f"gitdir: {wt_git}\n", encoding="utf-8")
    monkeypatch.chdir(wt)
    rc, out, err = run(["data/x.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("data/x.jsonl:1: LEAK001"), err


@pytest.mark.parametrize(
    "listing",
    [
        "\tpath = datasub ; the data\n",  # a comment after the value
        '\tpath = "data"sub\n',  # quotes inside the value
        "\tpath = datasub # the data\n",
        "# " + "x" * (17 << 20) + "\n\tpath = datasub\n",  # padded past the read limit
    ],
    ids=["semicolon comment", "inner quotes", "hash comment", "padded"],
)
def test_gitmodules_is_read_as_git_reads_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    listing: str,
) -> None:
    # Found by re-attack: each of these lists datasub to git, and check, reading the value
    # by a pattern (or not past 1 MiB), took datasub for a repository's root: the
    # superproject's golden items passed, exit 0.
    git_folder(tmp_path / ".git")
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    git_folder(tmp_path / "datasub" / ".git")
    write(tmp_path / "datasub/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (tmp_path / ".gitmodules").write_text('[submodule "datasub"]\n' + listing, encoding="utf-8")
    monkeypatch.chdir(tmp_path / "datasub")
    rc, out, err = run(["data/x.jsonl"], capsys)
    assert rc == 1 and out[0].startswith("data/x.jsonl:1: LEAK001"), err


def test_outside_any_repository_the_search_never_leaves_the_files_own_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by re-attack: a file outside the current folder and any repository was looked
    # up to the file system's root (a /golden_sets, /home/golden_sets of someone else).
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    x = write(tmp_path / "shared/data/x.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    rc, out, err = run([str(x)], capsys)
    assert (rc, out) == (0, []) and "note: leakage not checked" in err
    # Beside the file it is found; under the current folder, up to it.
    write(x.parent / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    assert run([str(x)], capsys)[0] == 1
    monkeypatch.chdir(tmp_path / "shared")
    assert run(["data/x.jsonl"], capsys)[0] == 1


def test_a_file_under_two_names_is_checked_the_same_in_any_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One file linked into two projects: it was checked against the golden sets of the
    # name given first only, so `check a b` and `check b a` disagreed. It is checked
    # against those of every name it is given by.
    git_folder(tmp_path / ".git")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "ml/golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    write(tmp_path / "nlp/golden_sets/q/data.jsonl", [{"id": "q_0", "prompt": OTHER_ITEM}])
    rows = [{"prompt": GOLDEN_ITEM, "completion": "a"}, {"prompt": OTHER_ITEM, "completion": "b"}]
    write(tmp_path / "ml/data/x.jsonl", rows)
    (tmp_path / "nlp/data").mkdir(parents=True)
    (tmp_path / "nlp/data/x.jsonl").symlink_to(tmp_path / "ml/data/x.jsonl")
    names = ["ml/data/x.jsonl", "nlp/data/x.jsonl"]
    found = []
    for argv in (names, names[::-1]):
        rc, out, err = run(argv, capsys)
        assert rc == 1, err
        # the file is named by its first name given; what is found is the same
        found.append([line.split(":", 1)[1] for line in out])
    assert found[0] == found[1]
    assert [x.split(" contains ")[0] for x in found[0]] == ["1: LEAK001", "2: LEAK001"]


def test_no_golden_sets_found_is_said_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clone without the (often git-ignored) golden sets lost its leak check unsaid.
    git_folder(tmp_path / ".git")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.jsonl", [pc(1)])
    rc, out, err = run(["a.jsonl"], capsys)
    assert (rc, out) == (0, [])
    assert err == (
        "curagate check: note: leakage not checked: no golden_sets folder here or beside or "
        "above the files checked; pass --golden DIR, or --no-golden to silence this\n"
    )
    assert run(["a.jsonl", "--no-golden"], capsys) == (0, [], "")
    write(tmp_path / "ml/golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    write(tmp_path / "ml/b.jsonl", [pc(2)])
    rc, out, err = run(["a.jsonl", "ml/b.jsonl"], capsys)
    assert (rc, out) == (0, [])
    assert "note: leakage not checked in a.jsonl: no golden_sets folder" in err


@pytest.mark.parametrize("how", ["default lookup", "--golden"])
def test_the_golden_sets_walked_as_inputs_are_checked_for_format_not_against_themselves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # `check .` at a repository's root walks golden_sets/ too: each golden item was a
    # LEAK001 of itself, and a clean data folder failed (found by attack).
    git_folder(tmp_path / ".git")
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "golden_sets/gsm/data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM}])
    write(tmp_path / "data/train.jsonl", [pc(1), {"prompt": GOLDEN_ITEM, "completion": "72"}])
    argv = ["."] if how == "default lookup" else [".", "--golden", "golden_sets"]
    rc, out, err = run(argv, capsys)
    assert rc == 1
    assert [line.split(":")[0] for line in out] == [str(Path("data/train.jsonl"))]
    assert "LEAK001" in out[0]
    assert "part of the golden sets checked against, so checked for format only" in err
    # Still checked for format: a golden row that breaks one is reported.
    write(
        tmp_path / "golden_sets/gsm/data.jsonl",
        [{"id": "gsm_0", "prompt": GOLDEN_ITEM}, {"id": "gsm_1", "prompt": ""}],
    )
    rc, out, _ = run(argv, capsys)
    golden_lines = [line for line in out if "LEAK001" not in line]
    assert len(golden_lines) == 1
    assert golden_lines[0].startswith(f"{Path('golden_sets/gsm/data.jsonl')}:2: FMT005")


def test_a_json_document_of_records_in_a_data_folder_is_refused_not_skipped(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: `{"data": [...]}` (as `load_dataset("json", field="data")` reads
    # it) holding a golden item passed `check data/`; in a golden folder it was refused.
    data = tmp_path / "data"
    write(data / "a.jsonl", [pc(1)])
    (data / "package.json").write_text('{"name": "site", "scripts": {"build": "make all"}}\n')
    assert run([str(data), "--golden", str(golden)], capsys)[:2] == (0, [])
    doc = {"version": "1", "data": [{"prompt": GOLDEN_ITEM, "completion": "72"}]}
    (data / "train.json").write_text(json.dumps(doc))
    rc, out, err = run([str(data), "--golden", str(golden)], capsys)
    assert (rc, out) == (
        2,
        [],
    ) and "train.json: records in a file that curagate does not read" in err


def test_a_removed_current_folder_is_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    # Found by re-attack: a shell left in a folder removed since (a temp folder cleaned, a
    # checkout cloned again) made the default golden-set lookup exit 3 with a traceback.
    data = write(tmp_path / "data" / "t.jsonl", [pc(1)])
    gone = tmp_path / "gone"
    gone.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "python")}
    script = f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m curagate check "{data}"'
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "the current folder no longer exists" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_golden_skips_leakage(
    tmp_path: Path, golden: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    assert run([str(a), "--no-golden"], capsys)[:2] == (0, [])


def test_missing_file_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run([str(tmp_path / "missing.jsonl")], capsys)
    assert rc == 2 and out == [] and "missing.jsonl" in err


def test_missing_golden_dir_is_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1)])
    rc, _, err = run([str(a), "--golden", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "--golden" in err


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["check", "--frobnicate", "x.jsonl"])
    assert e.value.code == 2


def test_rules_switched_off_in_config_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write(tmp_path / "a.jsonl", [pc(1), pc(1)])
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("rules:\n  DUP001: {severity: off}\n", encoding="utf-8")
    # Without the config the duplicate fails the check: the rule is really switched off.
    rc, out, _ = run([str(a), "--no-golden"], capsys)
    assert rc == 1 and any("DUP001" in line for line in out)
    assert run([str(a), "--config", str(cfg)], capsys)[:2] == (0, [])


ZEMBLA = "the secret capital of the hidden northern kingdom of zembla is a walled city"


def golden_folder(folder: Path, **fields: str) -> Path:
    """A folder of golden sets holding one item (ZEMBLA), with ``fields`` (an id)."""
    folder.mkdir()
    write(folder / "items.jsonl", [{**fields, "prompt": ZEMBLA, "reference": "x"}])
    return folder


def leaking_file(path: Path) -> Path:
    return write(path, [{"prompt": f"Say: {ZEMBLA}.", "completion": "ok"}])


def test_the_configs_leakage_references_are_the_ones_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `check --config audit.yaml` looked at ./golden_sets only: the hook passed (exit 0)
    # a leak `audit --config audit.yaml` failed with LEAK001.
    monkeypatch.chdir(tmp_path)
    golden_folder(tmp_path / "evals", id="g1")
    leak = leaking_file(tmp_path / "leak.jsonl")
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("leakage: {reference: [evals]}\n", encoding="utf-8")
    rc, out, _ = run([str(leak), "--config", str(cfg)], capsys)
    assert rc == 1 and any("LEAK001 contains golden item g1" in line for line in out), out


def test_a_configs_empty_reference_list_checks_no_golden_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `leakage: {reference: []}` names no golden sets on purpose (audit scans none with
    # it); check scanned ./golden_sets all the same and failed what audit passed.
    monkeypatch.chdir(tmp_path)
    golden_folder(tmp_path / "golden_sets", id="g1")
    leak = leaking_file(tmp_path / "leak.jsonl")
    assert run([str(leak)], capsys)[0] == 1  # the default folder is scanned without a config
    cfg = tmp_path / "audit.yaml"
    # A config that names none (found by re-attack: reading any config marked them named).
    for unnamed in ("sft: true\n", "leakage: {ngram: 13}\n"):
        cfg.write_text(unnamed, encoding="utf-8")
        assert run([str(leak), "--config", str(cfg)], capsys)[0] == 1
    cfg.write_text("leakage: {reference: []}\n", encoding="utf-8")
    assert run([str(leak), "--config", str(cfg)], capsys)[:2] == (0, [])


def test_an_empty_reference_folder_of_the_config_is_the_one_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Of `leakage: {reference: [ga, gb]}` with gb empty, ga (which holds items) was named,
    # with advice to use --golden the user had not given.
    monkeypatch.chdir(tmp_path)
    golden_folder(tmp_path / "ga", id="g1")
    (tmp_path / "gb").mkdir()
    data = write(tmp_path / "d.jsonl", [pc(1)])
    cfg = tmp_path / "audit.yaml"
    cfg.write_text("leakage: {reference: [ga, gb]}\n", encoding="utf-8")
    rc, _, err = run([str(data), "--config", str(cfg)], capsys)
    assert rc == 2 and "gb: no golden item to check leakage against" in err, err
    assert "fix leakage.reference in the --config file" in err


def test_a_golden_item_without_an_id_is_named_by_row_not_as_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "contains golden item g/items.jsonl:0": its 0-based row, read as a line number.
    golden = golden_folder(tmp_path / "g")
    rc, out, _ = run([str(leaking_file(tmp_path / "leak.jsonl")), "--golden", str(golden)], capsys)
    assert rc == 1 and any("items.jsonl row 0 (" in line for line in out), out
    assert not any("items.jsonl:0" in line for line in out)


@pytest.mark.slow
def test_check_never_imports_torch(tmp_path: Path, golden: Path) -> None:
    a = write(tmp_path / "a.jsonl", [pc(i) for i in range(50)] + [pc(3)])
    code = (
        "import sys\n"
        "from curagate.cli import main\n"
        f"rc = main(['check', {str(a)!r}, '--golden', {str(golden)!r}])\n"
        "assert rc == 1, rc\n"
        "print(sorted(m for m in ('torch', 'transformers', 'great_expectations', 'polars') "
        "if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(curagate.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_check_without_a_config_is_check_with_the_default_config(
    tmp_path: Path, golden: Path
) -> None:
    # Without --config, check takes AuditConfig()'s defaults without building the
    # pydantic model: the settings, the rules and every finding must be the same.
    from curagate.audit.config import AuditConfig
    from curagate.check import _settings, check, configured_rules

    assert _settings(None) == _settings(AuditConfig())
    assert configured_rules(None) == configured_rules(AuditConfig())
    a = write(
        tmp_path / "a.jsonl",
        [
            pc(1),
            pc(1),
            {"prompt": GOLDEN_ITEM, "completion": "72"},
            {"prompt": "", "completion": "x"},
        ],
    )
    b = write(tmp_path / "b.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}, pc(1)])
    found = check([a, b], golden=golden)
    assert {f.rule.id for f in found} == {"DUP001", "LEAK001", "FMT001", "FMT004", "FMT005"}
    assert found == check([a, b], golden=golden, config=AuditConfig())


BLANKS = ["a", "", " ", "\t\n", "\u3000", "\x1c", "\u200b", "\u00a0x", None, "  b  "]
BLANKS += ["\u3164\x00", "\u2800\ufe0f", "\u3164x"]


@pytest.mark.parametrize(
    ("fmt", "fields"),
    [
        ("text", ("body",)),
        ("prompt_only", ("prompt",)),
        ("prompt_completion", ("prompt", "completion")),
        ("unpaired_preference", ("prompt", "completion")),
        ("stepwise_supervision", ("prompt",)),
    ],
)
@pytest.mark.parametrize("string_type", ["string", "large_string"])
def test_column_wise_format_rules_equal_format_violations(
    fmt: str, fields: tuple[str, ...], string_type: str
) -> None:
    # check applies format_violations' rule for string fields column by column: the
    # same violations, row by row, as format_violations on each record.
    import pyarrow as pa

    from curagate.audit.formats import format_violations
    from curagate.check import _Settings, _violations
    from curagate.records import RecordFormat

    n = len(BLANKS)
    columns: dict[str, Any] = {
        name: pa.array(BLANKS[k:] + BLANKS[:k], getattr(pa, string_type)())
        for k, name in enumerate(fields)
    }
    columns["id"] = pa.array(range(n))
    columns["meta"] = pa.array([{"x": [i]} for i in range(n)])
    table = pa.table(columns)
    cfg = _Settings(text_field="body" if fmt == "text" else None)
    got = _violations(table, RecordFormat(fmt), cfg)
    want = [
        format_violations(RecordFormat(fmt), r, text_field=cfg.text_field, sft=cfg.sft)
        for r in table.to_pylist()
    ]
    assert got == want
    assert any(got) and not all(got)  # blanks and non-blanks both present
    # A file read in several batches: its columns in chunks, the rows numbered across them.
    chunked = pa.concat_tables([table.slice(0, 3), table.slice(3, 2), table.slice(5)])
    assert chunked.column(0).num_chunks == 3
    assert _violations(chunked, RecordFormat(fmt), cfg) == want


def test_format_rules_on_records_read_fields_only() -> None:
    # Chat and preference rows go through format_violations with the fields it reads.
    import pyarrow as pa

    from curagate.audit.formats import format_violations
    from curagate.check import _Settings, _violations
    from curagate.records import RecordFormat

    chat = pa.table(
        {
            "messages": [
                [{"role": "user", "content": "hi"}, {"role": "user", "content": ""}],
                [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            ],
            "id": ["a", "b"],
        }
    )
    pref = pa.table({"prompt": ["p", "q"], "chosen": ["a", "b"], "rejected": ["a", " "]})
    for fmt, table in ((RecordFormat.CHAT, chat), (RecordFormat.PREFERENCE, pref)):
        want = [format_violations(fmt, r) for r in table.to_pylist()]
        assert _violations(table, fmt, _Settings()) == want
        assert want[0]


def test_a_golden_set_behind_a_linked_folder_is_read_as_leakage_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # check walked golden folders with rglob, which does not follow a linked folder;
    # leakage and curate --decontaminate do: the same golden data, other answers.
    real = tmp_path / "elsewhere" / "gsm"
    write(real / "data.jsonl", [{"id": "gsm_0", "prompt": GOLDEN_ITEM, "reference": "72"}])
    golden = tmp_path / "golden_sets"
    golden.mkdir()
    (golden / "gsm").symlink_to(real, target_is_directory=True)
    a = write(tmp_path / "a.jsonl", [pc(1), {"prompt": GOLDEN_ITEM, "completion": "72"}])
    rc, out, _ = run([str(a), "--golden", str(golden)], capsys)
    assert rc == 1 and any("LEAK001 contains golden item gsm_0" in line for line in out)


# Holes found by attacking the config side; each is a test now.


@pytest.mark.parametrize("content", ["nothing", "an empty file"])
def test_an_empty_default_golden_dir_names_the_flags_of_check(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    content: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "golden_sets" / "gsm").mkdir(parents=True)
    if content == "an empty file":
        write(tmp_path / "golden_sets" / "gsm" / "data.jsonl", [])
    write(tmp_path / "a.jsonl", [pc(1)])
    rc, out, err = run(["a.jsonl"], capsys)
    assert rc == 2 and out == []
    assert "--reference" not in err
    assert err.startswith("curagate check: error: golden_sets: no golden item to check leakage")
    assert "point --golden at your golden sets, or pass --no-golden" in err


def test_a_file_whose_name_starts_with_a_dash_is_checked_after_double_dash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "-bad.jsonl", [pc(1), pc(1)])
    rc, out, _ = run(["--no-golden", "--", "-bad.jsonl"], capsys)
    assert rc == 1 and len(out) == 1
    assert out[0].startswith("-bad.jsonl:2: DUP001 exact duplicate of -bad.jsonl:1")


# Holes found by attacking blank texts; each is a test now.


@pytest.mark.parametrize("blank", ["\u2060", "\ufeff", "\u200c\u200d \u00ad", "\u200b"])
def test_a_text_of_only_format_characters_is_empty_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], blank: str
) -> None:
    a = write(tmp_path / "a.jsonl", [{"text": "real words"}, {"text": blank}])
    rc, out, _ = run([str(a)], capsys)
    assert rc == 1
    assert [line.split(" ")[:2] for line in out] == [[f"{a.as_posix()}:2:", "FMT005"]]


# Found by attack: invisible characters that are not format characters (Cf) passed as
# content: Hangul fillers, variation selectors, the combining grapheme joiner, the blank
# braille pattern, controls (NUL, BEL, DEL, C1).
INVISIBLE_NOT_CF = [
    "\u3164",
    "\uffa0",
    "\u115f",
    "\u1160",
    "\ufe00",
    "\ufe0f",
    "\U000e0100",
    "\U000e01ef",
    "\u034f",
    "\u180b",
    "\u2800",
    "\x00",
    "\x07",
    "\x7f",
    "\x9f",
    "\u3164\x00 \ufe0f\u200b",
    # Found by re-attack: the musical null notehead (So, not default-ignorable, drawn as
    # nothing) and noncharacters (Cn: no text) passed as content.
    "\U0001d159",
    "\ufdd0",
    "\ufdef",
    "\ufffe",
    "\uffff",
    "\U0001fffe",
    "\U0010ffff",
    "\U0001d159 \ufdd0\u3164",
]
# Real text among such characters is content.
WITH_FILLERS = "\u3164 real words \ufe0f\x00\U0001d159\ufdd0"


def blank_record(shape: str, blank: str) -> tuple[dict[str, Any], str]:
    """A record of ``shape`` whose one content field is ``blank``, and the rule for it."""
    if shape == "text":
        return {"text": blank}, "FMT005"
    if shape == "prompt":
        return {"prompt": blank, "completion": "an answer"}, "FMT005"
    if shape == "completion":
        return {"prompt": "a question", "completion": blank}, "FMT005"
    if shape == "preference prompt":
        return {"prompt": blank, "chosen": "yes", "rejected": "no"}, "FMT005"
    if shape == "chosen":
        return {"prompt": "a question", "chosen": blank, "rejected": "no"}, "FMT007"
    if shape == "rejected":
        return {"prompt": "a question", "chosen": "yes", "rejected": blank}, "FMT007"
    turns = [{"role": "user", "content": "a question"}, {"role": "assistant", "content": blank}]
    return {"messages": turns}, "FMT005"


@pytest.mark.parametrize(
    "shape",
    ["text", "prompt", "completion", "preference prompt", "chosen", "rejected", "message"],
)
def test_a_field_of_only_invisible_characters_other_than_cf_is_empty_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str
) -> None:
    good, _ = blank_record(shape, WITH_FILLERS)
    rows = [good] + [blank_record(shape, b)[0] for b in INVISIBLE_NOT_CF]
    rule = blank_record(shape, "")[1]
    a = write(tmp_path / "a.jsonl", rows)
    rc, out, _ = run([str(a), "--no-golden"], capsys)
    assert rc == 1
    assert [line.split(" ")[:2] for line in out] == [
        [f"{a.as_posix()}:{n}:", rule] for n in range(2, len(rows) + 1)
    ]


def test_duplicates_over_the_audits_error_share_are_errors_in_check_as_in_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: two identical rows of two (50%, above DUP001's 5%) made audit fail
    # with an error, while check --format github/json/sarif said warning, with or without a
    # config's DUP001 error_above.
    def levels(copies: int, config: str | None = None) -> set[str]:
        rec = {"prompt": "same question", "completion": "same answer"}
        rows = [rec] * (copies + 1) + [
            {"prompt": f"q {i}", "completion": f"a {i}"} for i in range(39 - copies)
        ]
        data = tmp_path / "d.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = ["check", str(data), "--format", "json"]
        if config is not None:
            (tmp_path / "c.yaml").write_text(config)
            args += ["--config", str(tmp_path / "c.yaml")]
        main(args)
        return {f["level"] for f in json.loads(capsys.readouterr().out)["findings"]}

    # 1 duplicate row of 40 is 2.5%, 3 are 7.5%: DUP001's default bar is 5%
    assert levels(1) == {"warning"} and levels(3) == {"error"}
    assert levels(1, "rules: {DUP001: {error_above: 0.01}}\n") == {"error"}
    # a severity set without error_above drops the default bar, as in audit
    assert levels(3, "rules: {DUP001: {severity: warning}}\n") == {"warning"}


def test_a_rules_error_share_counts_the_context_files_rows_too(tmp_path: Path) -> None:
    # Found by attack: with --staged-context the share divided by the own files' rows only,
    # so one duplicate was an error or a warning depending on how pre-commit split the list.
    from curagate.check import check

    big = tmp_path / "big.jsonl"
    big.write_text("".join(json.dumps({"text": f"row number {i}"}) + "\n" for i in range(100)))
    small = tmp_path / "small.jsonl"
    rows = [{"text": "row number 4"}] + [{"text": f"other row {i}"} for i in range(9)]
    small.write_text("".join(json.dumps(r) + "\n" for r in rows))
    alone = check([big, small], leakage=False)
    split = check([small], leakage=False, context=[big, small])
    assert [(f.rule.id, f.severity.value) for f in alone] == [("DUP001", "warning")]
    assert [(f.rule.id, f.severity.value) for f in split] == [("DUP001", "warning")]


def check_or_audit(command: str, files: list[Path], tmp_path: Path) -> list[str]:
    """The argv that checks ``files`` with `check` (no golden sets) or audits them."""
    if command == "audit":
        return ["audit", *map(str, files), "--out", str(tmp_path / "out")]
    return ["check", *map(str, files), "--no-golden"]


@pytest.mark.parametrize("command", ["check", "audit"])
def test_files_holding_no_record_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: an emptied training file passed both CI commands ("audit passed:
    # 0 error(s)", check silent, exit 0) where curate and split refuse it.
    empty = tmp_path / "train.jsonl"
    empty.write_text("\n\n")
    assert main(check_or_audit(command, [empty], tmp_path)) == 2
    err = capsys.readouterr().err
    assert "no records found in 1 input file(s)" in err and str(empty.as_posix()) in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["check", "audit"])
def test_one_file_holding_no_record_among_others_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: only inputs with no row at all were refused; an emptied training
    # file staged beside a good one passed both (its rows were simply not there).
    good = write(tmp_path / "a.jsonl", [pc(1), pc(2)])
    emptied = tmp_path / "train.jsonl"
    emptied.write_text("")
    assert main(check_or_audit(command, [good, emptied], tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"no records found in 1 of 2 input file(s): {emptied.as_posix()}" in err
    assert not (tmp_path / "out").exists()


def test_an_empty_context_file_is_not_the_staged_files_problem(tmp_path: Path) -> None:
    # --staged-context: only the files checked must hold records.
    from curagate.check import check

    good = write(tmp_path / "a.jsonl", [pc(1), pc(2)])
    other = tmp_path / "other.jsonl"
    other.write_text("\n")
    assert check([good], leakage=False, context=[good, other]) == []


@pytest.mark.parametrize("command", ["check", "audit"])
def test_an_unknown_record_format_names_options_the_command_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: the message told audit users to pass --format and --text-field, which
    # audit does not take (and check's --format is the output format).
    data = tmp_path / "obj.jsonl"
    data.write_text('{"a": 1}\n')
    assert main(check_or_audit(command, [data], tmp_path)) == 2
    err = capsys.readouterr().err
    assert "`format:` / `text_field:` in the config" in err
    # A format the config names that the rows do not hold: "check --format" (check's output
    # format; audit has no such flag).
    data.write_text('{"prompt": "a", "completion": "b"}\n')
    config = tmp_path / "c.yaml"
    config.write_text("format: chat\n")
    assert main([*check_or_audit(command, [data], tmp_path), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "no record has field 'messages' needed by format chat" in err
    assert "`format:` / `text_field:` in the config" in err and "check --format" not in err
    # The same with a malformed line in the file: it held no field, yet made the absent one
    # count as held, and each row was a FMT001 finding (exit 1).
    data.write_text('{"prompt": "a", "completion": "b"}\n{"oops\n')
    assert main([*check_or_audit(command, [data], tmp_path), "--config", str(config)]) == 2
    assert "no record has field 'messages' needed by format chat" in capsys.readouterr().err


def test_staged_context_holds_type_changed_files_and_ignores_diff_relative(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: a staged link turned into a file (git status T) was handed to the hook
    # by pre-commit but left out of the other runs' context, so its duplicate passed when
    # pre-commit split the list; and with `diff.relative` set, from a subfolder, the context
    # was empty (exit 0).
    import subprocess

    repo = tmp_path / "repo"
    write(repo / "store" / "orig.jsonl", [pc(7)])
    (repo / "data").mkdir()
    (repo / "data" / "a.jsonl").symlink_to("../store/orig.jsonl")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "."], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    (repo / "data" / "a.jsonl").unlink()
    write(repo / "data" / "a.jsonl", [pc(1)])  # link -> file: T
    write(repo / "data" / "sub" / "z.jsonl", [pc(1)])
    subprocess.run([*git, "add", "-A"], check=True)
    rc, out, _ = run(["--no-golden", "--staged-context", "--", "data/sub/z.jsonl"], capsys)
    assert rc == 1 and "duplicate of data/a.jsonl:1" in out[0], out
    monkeypatch.chdir(repo / "data" / "sub")
    subprocess.run([*git, "config", "diff.relative", "true"], check=True)
    rc, out, _ = run(["--no-golden", "--staged-context", "--", "z.jsonl"], capsys)
    assert rc == 1 and "duplicate of ../../data/a.jsonl:1" in out[0], out


def test_a_hard_link_is_checked_as_the_second_copy_git_commits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: check read a hard-linked file once (by inode); git commits two blobs,
    # so the hook passed a commit whose clone failed the CI check with a DUP001 per row.
    a = write(tmp_path / "train.jsonl", [pc(1), pc(2)])
    (tmp_path / "copy.jsonl").hardlink_to(a)
    (tmp_path / "link.jsonl").symlink_to("train.jsonl")  # a link is git's link: one copy
    rc, out, _ = run(["--no-golden", str(a), str(tmp_path / "copy.jsonl")], capsys)
    assert rc == 1 and len(out) == 2
    assert all(line.startswith(f"{a}:") and "DUP001 exact duplicate of" in line for line in out)
    rc, out, _ = run(["--no-golden", str(a), str(tmp_path / "link.jsonl")], capsys)
    assert rc == 0 and out == []


def test_staged_context_leaves_out_the_file_types_the_hook_leaves_out(
    hook_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the re-attack: a hook's `types: [text]` keeps pre-commit from handing it the
    # binary Parquet files, but they were context all the same: a copy of one of their
    # records in a JSONL file refused the commit.
    import pyarrow as pa
    import pyarrow.parquet as pq

    write(hook_repo / "data" / "a.jsonl", [pc(1)])
    row = pc(1)
    pq.write_table(pa.table({k: [v] for k, v in row.items()}), hook_repo / "data" / "0.parquet")
    args = ["--no-golden", "--staged-context", "--"]
    hook = {"id": "curagate-check", "entry": "curagate check", "args": args, "files": "^data/"}
    subprocess.run(["git", "init", "-q", "."], check=True)
    for types, dup in (({"types": ["text"]}, False), ({}, True)):
        _hooks_config(hook_repo, [{**hook, **types}])
        subprocess.run(["git", "add", "."], check=True)
        rc, out, err = run([*args, "data/a.jsonl"], capsys)
        assert (rc, any("DUP001" in line for line in out)) == (int(dup), dup), (types, out, err)


@pytest.mark.parametrize("field", ["ctx", "goal"])
def test_a_golden_set_keyed_as_the_gate_reads_lm_eval_items_is_scanned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str
) -> None:
    # Found by attack: a HellaSwag-style set ({"ctx", "endings", "label"}), locked and read
    # by the gate, stopped every commit's check with exit 2 ("cannot tell which field").
    g = tmp_path / "golden_sets" / "hs"
    write(g / "data.jsonl", [{"id": "h0", field: GOLDEN_ITEM, "endings": ["a", "b"], "label": 0}])
    clean = write(tmp_path / "clean.jsonl", [pc(1)])
    leak = write(tmp_path / "leak.jsonl", [{"prompt": GOLDEN_ITEM, "completion": "72"}])
    assert run([str(clean), "--golden", str(g.parent)], capsys) == (0, [], "")
    rc, out, _ = run([str(leak), "--golden", str(g.parent)], capsys)
    assert rc == 1 and " LEAK001 " in out[0]


LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n"
)


@pytest.mark.parametrize(
    "name", ["train.jsonl", "train.jsonl.gz", "train.jsonl.zst", "train.parquet"]
)
def test_a_git_lfs_pointer_is_exit_2_naming_it_and_git_lfs_pull(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # Found by attack: a CI checkout without LFS holds pointers; one was three FMT001 rows
    # ("malformed JSON ...; fix: Fix the row"), exit 1, or a Parquet file of no magic bytes.
    pointer = tmp_path / name
    pointer.write_text(LFS_POINTER)
    rc, out, err = run([str(pointer), "--no-golden"], capsys)
    assert (rc, out) == (2, []), (out, err)
    assert f"{pointer.as_posix()}: a Git LFS pointer file" in err and "git lfs pull" in err


def test_a_git_lfs_pointer_as_a_golden_set_is_named_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pointer = tmp_path / "golden" / "gsm" / "data.jsonl"
    pointer.parent.mkdir(parents=True)
    pointer.write_text(LFS_POINTER)
    data = write(tmp_path / "a.jsonl", [pc(1)])
    rc, _, err = run([str(data), "--golden", str(tmp_path / "golden")], capsys)
    assert rc == 2 and "a Git LFS pointer file" in err and "git lfs pull" in err, err
    assert "which field" not in err


def test_staged_context_with_nothing_staged_is_every_tracked_file_the_hook_selects(
    hook_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `pre-commit run --all-files` hands committed files (nothing staged);
    # the context was the staged files, none, so a split run missed a duplicate across runs.
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@e"}
    write(hook_repo / "a.jsonl", [pc(1)])
    write(hook_repo / "z.jsonl", [pc(1)])
    write(hook_repo / "golden_sets" / "g" / "data.jsonl", [pc(1)])  # excluded by the hook
    subprocess.run(["git", "init", "-q", "."], check=True)
    subprocess.run(["git", "add", "."], check=True)
    subprocess.run(["git", "commit", "-qm", "x"], check=True, env={**os.environ, **env})
    rc, out, _ = run(["--no-golden", "--staged-context", "--", "z.jsonl"], capsys)
    assert (rc, out) == (1, [f"z.jsonl:1: DUP001 exact duplicate of a.jsonl:1 {DUP_TAIL}"])
    # a commit (the run's file staged) keeps the staged files as context
    write(hook_repo / "y.jsonl", [pc(1)])
    subprocess.run(["git", "add", "y.jsonl"], check=True)
    assert run(["--no-golden", "--staged-context", "--", "y.jsonl"], capsys)[:2] == (0, [])


DUP_TAIL = "(after normalization); remove one copy or run `curagate curate`"


@pytest.mark.parametrize(
    "name",
    ["d.ndjson", "d.jsonl.bz2", "d.JSONL.xz", "d.jsonlines", "d.json", "d.json.gz", "d.csv"],
)
def test_a_named_file_of_records_no_reader_takes_is_refused_as_in_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # Found by attack: named, check said "unsupported file type"; it answers with the folder
    # walk's message and fix (the hook hands it the JSON Lines and Parquet names among them).
    import gzip

    from curagate.commands.check import HOOK_FILES
    from curagate.io.readers import HOOK_NAMES

    assert HOOK_FILES == "(?i)" + HOOK_NAMES
    body = "".join(json.dumps(pc(i)) + "\n" for i in range(2)).encode()
    if name.endswith(".csv"):
        body = b"prompt,completion\nq,a\n"
    elif name.endswith(".gz"):
        body = gzip.compress(body)
    elif name.endswith((".bz2", ".xz")):
        body = b"any bytes: the name says records"
    path = tmp_path / "data" / name
    path.parent.mkdir()
    path.write_bytes(body)
    rc, out, err = run([str(path), "--no-golden"], capsys)
    assert (rc, out) == (2, []), err
    assert f"{path.as_posix()}: records in a " in err and "exclude:" in err, err
    rc, _, walked = run([str(path.parent), "--no-golden"], capsys)  # as check data/ says
    assert rc == 2 and f"{path.as_posix()}: records in a " in walked, walked


def test_a_named_json_document_is_no_data_and_is_left_out_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "package.json"
    doc.write_text('{"name": "site", "dependencies": {}}\n')
    rc, out, err = run([str(doc), "--no-golden"], capsys)
    assert (rc, out) == (0, []) and "package.json: not checked: it holds no records" in err
    data = write(tmp_path / "a.jsonl", [pc(1), pc(1)])
    rc, out, _ = run([str(doc), str(data), "--no-golden"], capsys)
    assert rc == 1 and len(out) == 1 and "DUP001" in out[0]
    notes = tmp_path / "notes.txt"  # a name the hook does not select: as before
    notes.write_text("hello\n")
    rc, _, err = run([str(notes), "--no-golden"], capsys)
    assert rc == 2 and "unsupported file type" in err


@pytest.mark.parametrize("command", ["check", "audit"])
def test_the_cr_line_end_fix_as_printed_converts_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # Found by attack: check's text output writes a backslash as two (so an escaped file
    # name differs from one holding the control character) and audit.md's Markdown escapes
    # it too, so the CR hint read `tr '\\r' '\\n' < FILE > FILE.lf.jsonl`: pasted into a
    # shell it turned every "r" into "n" and left the CRs. The command as a user reads it,
    # run by a real shell, converts the file.
    data = b'{"text": "error report one"}\r{"text": "rare error two"}\r'
    path = tmp_path / "mac.jsonl"
    path.write_bytes(data)
    assert main(check_or_audit(command, [path], tmp_path)) in (1, 2)
    shown = capsys.readouterr().out
    if command == "audit":
        shown = (tmp_path / "out" / "audit.md").read_text(encoding="utf-8")
    [fix] = re.findall(r"e\.g\. \\?`(.*?)\\?`", shown)
    subprocess.run(
        ["sh", "-c", fix.replace("FILE", shlex.quote(str(path)))],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    converted = tmp_path / "mac.jsonl.lf.jsonl"
    assert converted.read_bytes() == data.replace(b"\r", b"\n")
