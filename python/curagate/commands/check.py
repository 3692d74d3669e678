"""Fast check for pre-commit and CI: schema, exact duplicates, golden-set leakage.

Prints one line per violation as `file:line: RULE message` (or GitHub
annotations, SARIF 2.1.0 or JSON with --format) and exits 1 when there is
any; 0 when clean; 2 on bad usage or unreadable input. Leakage is checked
against ./golden_sets and the nearest golden_sets folder beside or above each
file (or --golden DIR); with none, a note on stderr says it was not checked.

examples:
  curagate check data/*.jsonl
  curagate check data/train.jsonl data/val.jsonl --golden golden_sets/
  curagate check data/ --format sarif > curagate.sarif
  curagate check data/ --format github --max-findings 50
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curagate.limits import int_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        help="JSONL/Parquet files (directories and globs too; a directory's _*/.* files are "
        "checked too, .git excepted)",
    )
    parser.add_argument(
        "--golden",
        type=Path,
        action="append",  # repeated, every folder is scanned (the last one replaced the others)
        help="golden sets folder or file, repeatable (default: the --config file's "
        "leakage.reference, else ./golden_sets and the nearest golden_sets folder beside or "
        "above each file)",
    )
    parser.add_argument("--no-golden", action="store_true", help="skip the leakage check")
    parser.add_argument(
        "--ngram", type=int_arg(8, 50), help="words per leakage n-gram, 8..50 (default 13)"
    )
    parser.add_argument(
        "--config", type=Path, help="audit.yaml: format, text_field, sft, rules switched off"
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=("text", "github", "sarif", "json"),
        default="text",
        help="output: text (file:line: RULE message), github (workflow annotations), "
        "sarif (SARIF 2.1.0 for code scanning) or json (default text)",
    )
    parser.add_argument(
        "--staged-context",
        action="store_true",
        help="also read every staged file the hook selects (git; .pre-commit-config.yaml's "
        "files/exclude, else JSONL/Parquet outside any golden_sets/ folder) for "
        "duplicates, reporting only FILES: pre-commit splits a long file list over several "
        "runs, and each must see the others' records (the shipped hook passes this); every "
        "tracked one when FILES are not all staged (pre-commit run --all-files)",
    )
    parser.add_argument(
        "--max-findings",
        type=int,
        metavar="N",
        help="print at most N findings, then say how many of each rule were left out",
    )


# The shipped hook's id, `files` and `exclude` (.pre-commit-hooks.yaml).
HOOK_ID = "curagate-check"
# `files` is curagate.io.readers.HOOK_NAMES: the hook passed `.ndjson` and `.jsonl.bz2`
# files of records without a word ("no files to check", Skipped) that `check data/` in CI
# refused (found by attack); not CSV or a bare `.json` (see there).
HOOK_FILES = (
    r"(?i)\.(jsonl|ndjson|jsonlines)(\.(gz|zst|bz2|xz|lzma|lz4|br))?$"
    r"|\.json\.(gz|zst|bz2|xz|lzma)$"
    r"|\.(parquet|pq|parq)$"
)
HOOK_EXCLUDE = r"(^|/)golden_sets/"


def _hook_selection(root: Path, args: argparse.Namespace | None = None) -> Callable[[str], bool]:
    """Whether pre-commit hands a file (named from the repository root) to this hook, as
    the root's ``.pre-commit-config.yaml`` selects them: its top-level ``files`` and
    ``exclude``, then the hook's own (the shipped ones unless the config gives its own;
    none for a ``local`` hook that runs ``curagate check``). The shipped selection when
    there is no such config or hook, or it is not what pre-commit would run. Files the
    user excluded from the hook were duplicate context all the same: a commit of a copy of
    an excluded archive failed. ``args``: this run's, which tell the running hook from
    other hooks that run ``curagate check`` (see :func:`_selection_of`)."""
    from curagate.errors import ConfigError

    try:
        from curagate.yamlio import load_yaml

        text = (root / ".pre-commit-config.yaml").read_text(encoding="utf-8")
        config, _ = load_yaml(text, ".pre-commit-config.yaml")
    except (OSError, UnicodeDecodeError, ConfigError):
        config = None
    selections = _selection_of(config, None if args is None else _running(root, args))
    chosen = [_selects(sel, root) for sel in selections]
    return lambda name: any(selects(name) for selects in chosen)


def _selects(selection: _Selection, root: Path) -> Callable[[str], bool]:
    """Whether one selection (files patterns, exclude patterns, file types) takes a file
    named from ``root``; the shipped selection for a pattern that is no regex (pre-commit
    would refuse the config). Types as pre-commit reads them (``identify``'s tags, a
    dependency, as pre-commit's hook environment holds only ours: every one of ``types``,
    one of ``types_or`` if any, none of ``exclude_types``): a hook's ``types: [text]`` left
    its Parquet files out, and they were duplicate context all the same (the commit
    refused)."""
    import re

    from identify.identify import tags_from_path

    try:
        files = [re.compile(p) for p in selection[0]]
        excluded = [re.compile(p) for p in selection[1]]
    except (re.error, RecursionError):
        files, excluded = [re.compile(HOOK_FILES)], [re.compile(HOOK_EXCLUDE)]
    types, types_or, exclude_types = (frozenset(t) for t in selection[2])

    def typed(name: str) -> bool:
        try:
            tags = tags_from_path(str(root / name))
        except (OSError, ValueError):
            return True
        return (
            types <= tags and (not types_or or bool(types_or & tags)) and not (exclude_types & tags)
        )

    return lambda name: (
        all(p.search(name) for p in files)
        and not any(p.search(name) for p in excluded)
        and typed(name)
    )


# (files patterns, exclude patterns, (types, types_or, exclude_types))
_Selection = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]
# The shipped hook's types (.pre-commit-hooks.yaml), and pre-commit's defaults for a hook.
HOOK_TYPES: tuple[tuple[str, ...], ...] = ((), ("file", "symlink"), ())
DEFAULT_TYPES: tuple[tuple[str, ...], ...] = (("file",), (), ())


def _selection_of(
    config: object, running: Callable[[dict[Any, Any], bool, _Selection], bool] | None = None
) -> list[_Selection]:
    """The selections (files patterns, exclude patterns) this hook may have in a parsed
    pre-commit config: its context is the files any of them takes. One, unless several
    hooks run ``curagate check`` with other selections and ``running`` cannot tell which
    one this is: then the files each of them would select (the running hook's among
    them; a context file this run cannot read in its format is skipped by
    :func:`curagate.check.check`).

    pre-commit tells a hook nothing of its id, so ``running(hook, local, selection)`` says
    whether a hook may be this run: its arguments are this run's, and it selects every
    file this run was given. The first such hook was taken whichever ran: a second local
    hook for other files, with another ``--config``, read the first one's files as context
    and stopped (exit 2: "no record has field 'prompt' needed by format
    prompt_completion"). Where several may be this run, only the files all of them take
    were context at first: found by the re-attack, three hooks with the same arguments,
    each handed part of its files by pre-commit, each read half of them, and a duplicate
    across the halves passed."""
    shipped: _Selection = ((HOOK_FILES,), (HOOK_EXCLUDE,), HOOK_TYPES)
    if not isinstance(config, dict):
        return [shipped]

    def pattern(where: dict[Any, Any], key: str, default: str) -> str | None:
        value = where.get(key, default)
        return value if isinstance(value, str) else None  # `files: null` is no pattern

    top = (pattern(config, "files", ""), pattern(config, "exclude", "^$"))
    found: list[tuple[dict[Any, Any], bool, _Selection]] = []
    repos = config.get("repos")
    for repo in repos if isinstance(repos, list) else []:
        hooks = repo.get("hooks") if isinstance(repo, dict) else None
        local = isinstance(repo, dict) and repo.get("repo") in ("local", "meta")
        for h in hooks if isinstance(hooks, list) else []:
            if not isinstance(h, dict) or not (
                h.get("id") == HOOK_ID or (local and _runs_check(h))
            ):
                continue
            default = ("", "^$") if local else (HOOK_FILES, HOOK_EXCLUDE)
            files = (top[0], pattern(h, "files", default[0]))
            excluded = (top[1], pattern(h, "exclude", default[1]))
            kinds = tuple(
                _names_in(h.get(key, list(fallback)))
                for key, fallback in zip(
                    ("types", "types_or", "exclude_types"),
                    DEFAULT_TYPES if local else HOOK_TYPES,
                    strict=True,
                )
            )
            if None in files or None in excluded or None in kinds:
                found.append((h, local, shipped))
            else:
                found.append(
                    (
                        h,
                        local,
                        (
                            tuple(map(str, files)),
                            tuple(map(str, excluded)),
                            tuple(k for k in kinds if k is not None),
                        ),
                    )
                )
    if not found:
        return [shipped]
    if len({sel for _, _, sel in found}) > 1 and running is not None:
        # (none that may be this run, e.g. run by hand with other arguments: all of them)
        found = [f for f in found if running(*f)] or found
    return sorted({sel for _, _, sel in found})


def _names_in(value: object) -> tuple[str, ...] | None:
    """A hook's list of type tags, sorted; None for what is no list of strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(sorted(value))


# The shipped hook's `args` (.pre-commit-hooks.yaml): a config's own replace them.
HOOK_ARGS = ("--staged-context", "--")


def _running(
    root: Path, args: argparse.Namespace
) -> Callable[[dict[Any, Any], bool, _Selection], bool]:
    """Whether a hook may be the one this run (``args``) is: pre-commit runs its entry,
    then its ``args``, then file names, so the words after ``curagate check`` and the args,
    followed by this run's files, parse as this run's options; and each of this run's files
    (from the root) is one the hook selects."""
    import contextlib
    import io
    import shlex

    from curagate.cli import build_parser

    mine = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    names = []
    for f in args.files:
        try:
            names.append(Path(os.path.relpath(f, root)))  # (abspath: a link stays the link)
        except ValueError:  # another drive (Windows)
            return lambda hook, local, selection: False

    def running(hook: dict[Any, Any], local: bool, selection: _Selection) -> bool:
        entry = hook.get("entry", "curagate check")
        hook_args = hook.get("args", [] if local else list(HOOK_ARGS))
        if not isinstance(entry, str) or not isinstance(hook_args, list):
            return False
        try:
            words = shlex.split(entry)
        except ValueError:
            words = entry.split()
        after = next(
            (
                i + 2
                for i in range(len(words) - 1)
                if words[i].rsplit("/", 1)[-1] == "curagate" and words[i + 1] == "check"
            ),
            None,
        )
        if after is None or not all(isinstance(a, str) for a in hook_args):
            return False
        try:
            with (
                contextlib.redirect_stderr(io.StringIO()),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                theirs = build_parser("check").parse_args(
                    ["check", *words[after:], *hook_args, *args.files]
                )
        except SystemExit:  # arguments check refuses (or --help): not this run
            return False
        if {k: v for k, v in vars(theirs).items() if not k.startswith("_")} != mine:
            return False
        selects = _selects(selection, root)
        return all(selects(n.as_posix()) for n in names)

    return running


def _runs_check(hook: dict[Any, Any]) -> bool:
    """Whether a local hook's entry runs `curagate check` (`uv run curagate check`,
    `python -m curagate check`, a path to the script)."""
    from itertools import pairwise

    entry = hook.get("entry")
    words = entry.split() if isinstance(entry, str) else []
    return any(w.rsplit("/", 1)[-1] == "curagate" and nxt == "check" for w, nxt in pairwise(words))


def _staged_files(args: argparse.Namespace | None = None) -> list[str]:
    """The data files this run's context is, as the hook this run (``args``) is selects
    them (:func:`_hook_selection`), relative to the current directory (pre-commit runs
    hooks at the repo root; git names them from the root, so from a subfolder they start
    with ``../``): the staged (added, copied, modified, renamed, type-changed) ones when
    this run's files are staged (a commit), else every tracked one (:func:`_context_names`).
    """
    import subprocess

    from curagate.errors import ConfigError

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", b"") or str(e).encode()
            raise ConfigError(
                "--staged-context: cannot list the staged files with git "
                f"({detail.decode(errors='replace').strip()[:200]}); run it inside a git "
                "work tree"
            ) from None
        return done.stdout.decode("utf-8", "surrogateescape")

    up = git("rev-parse", "--show-cdup").strip()  # "" at the root, "../" one folder down
    # T: a link become a file (or back) is handed to the hook by pre-commit, so it is
    # context too; --no-relative: with diff.relative set, git listed only the files below
    # this folder, relative to it, and the ../ prefix made them names of nothing.
    staged = git(
        "diff", "--cached", "--name-only", "-z", "--no-relative", "--diff-filter=ACMRT"
    ).split("\0")
    names = _context_names(staged, args, up, lambda: git("-C", up or ".", "ls-files", "-z"))
    from curagate.io.readers import SUPPORTED_SUFFIXES

    # Data files only: a local hook without `files` selects every file (its config too).
    selected = _hook_selection(Path(up or "."), args)
    here = [
        os.path.normpath(up + n)
        for n in names
        if n.lower().endswith(SUPPORTED_SUFFIXES) and selected(n)
    ]
    return [n for n in here if Path(n).is_file()]


def _context_names(
    staged: list[str], args: argparse.Namespace | None, up: str, tracked: Callable[[], str]
) -> list[str]:
    """The names (from the repository root) the context is taken from: the ``staged`` ones
    when every file this run was given is staged (a commit: pre-commit hands the hook the
    staged files), else every tracked file (``tracked()``, ``git ls-files``): ``pre-commit
    run --all-files`` (how CI and pre-commit.ci run hooks), ``--files`` and
    ``--from-ref/--to-ref`` hand over files that are not staged, and nothing may be staged
    at all. Found by attack: such a run over a long file list is split over several runs
    as a commit's is, each read only its own slice (nothing staged), and a duplicate across
    the runs passed, while ``curagate check data/`` on the same tree failed."""
    given = set(filter(None, staged))
    files = [] if args is None else list(args.files)
    root = up or "."
    try:
        ours = {Path(os.path.relpath(f, root)).as_posix() for f in files}
    except ValueError:  # another drive (Windows): no staged file
        ours = {""}
    if given and ours <= given:
        return sorted(given)
    return tracked().split("\0")


def _files_to_check(files: list[str]) -> list[str]:
    """``files`` less those named as the pre-commit hook selects them (a name of
    :data:`HOOK_FILES`) that no reader takes by name, judged as a folder walk judges them:
    one that holds records (a ``.ndjson``, a ``.jsonl.bz2``, a ``.json`` of JSON Lines or an
    array of objects, a CSV table, Parquet named ``.pq``) is an :class:`InputError` (exit
    2) with the walk's fix; one that holds none (``package.json``, ``tsconfig.json``: a JSON
    document) is no data and is left out, said on stderr. Every other file is checked (or
    refused) as before."""
    import re

    from curagate.errors import InputError
    from curagate.io.readers import RECORD_NAMES, SUPPORTED_SUFFIXES, records_unread

    kept = []
    for name in files:
        path = Path(name)
        if (
            name.lower().endswith(SUPPORTED_SUFFIXES)
            or not re.search("(?i)" + RECORD_NAMES, name)
            or not path.is_file()
        ):
            kept.append(name)
            continue
        unread = records_unread(path)
        if unread is not None:
            raise InputError(
                f"{path.as_posix()}: {unread} (a file that is no training data can be left "
                "out of the pre-commit hook with `exclude:` in .pre-commit-config.yaml)"
            )
        print(
            f"curagate check: {path.as_posix()}: not checked: it holds no records (as "
            "`check` over its folder skips it: a JSON document such as package.json)",
            file=sys.stderr,
        )
    return kept


def run(args: argparse.Namespace) -> int:
    from curagate.check import check, configured_rules
    from curagate.errors import ConfigError

    if args.no_golden and args.golden is not None:
        raise ConfigError("--golden and --no-golden contradict each other; give one")
    if args.ngram is not None and args.ngram < 1:
        raise ConfigError(f"--ngram {args.ngram}: must be a positive number of words (default 13)")
    if args.max_findings is not None and args.max_findings < 0:
        raise ConfigError(f"--max-findings {args.max_findings}: must be 0 or more")
    config = None  # the defaults, without building the pydantic model
    if args.config is not None:
        from curagate.audit.config import load_config

        config = load_config(args.config)
    to_check = _files_to_check(args.files)
    notes: list[str] = []
    findings = (
        check(
            to_check,
            golden=args.golden,
            leakage=not args.no_golden,
            config=config,
            ngram=args.ngram,
            context=_staged_files(args) if args.staged_context else (),
            notes=notes,
        )
        if to_check
        else []
    )  # only JSON documents: nothing to check, an empty report
    for note in notes:  # a hook shows them only when it fails; CI logs always
        print(f"curagate check: note: {note}", file=sys.stderr)
    from curagate import check_output as out
    from curagate.findings import Severity, exit_code

    shown, cut = out.cut(findings, args.max_findings)
    if args.output_format == "text":
        sys.stdout.write(out.render_text(shown))
    elif args.output_format == "github":
        sys.stdout.write(out.render_github(shown, cut))
    elif args.output_format == "json":
        sys.stdout.write(out.render_json(shown, cut))
    else:
        from curagate import __version__

        rules = configured_rules(config)
        sys.stdout.write(out.render_sarif(shown, rules, cut, __version__))
    if cut is not None:
        print(f"curagate check: {cut.summary()}", file=sys.stderr)
    # A commit hook has no report to warn in: any finding fails it, whatever its level.
    code = exit_code(findings, fail_on=Severity.INFO)
    if code:
        files = len({f.file for f in findings})
        print(f"curagate check: {len(findings)} violation(s) in {files} file(s)", file=sys.stderr)
    return code
