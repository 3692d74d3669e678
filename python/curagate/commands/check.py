"""Fast check for pre-commit and CI: schema, exact duplicates, golden-set leakage.

Prints one line per violation as `file:line: RULE message` (or GitHub
annotations, SARIF 2.1.0 or JSON with --format) and exits 1 when there is
any; 0 when clean; 2 on bad usage or unreadable input. Leakage is checked
against ./golden_sets when it exists (or --golden DIR).

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
    parser.add_argument("files", nargs="+", help="JSONL/Parquet files (directories and globs too)")
    parser.add_argument(
        "--golden",
        type=Path,
        action="append",  # repeated, every folder is scanned (the last one replaced the others)
        help="golden sets folder or file, repeatable (default: ./golden_sets if it exists)",
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
        "files/exclude, else JSONL/Parquet outside golden_sets/) for "
        "duplicates, reporting only FILES: pre-commit splits a long file list over several "
        "runs, and each must see the others' records (the shipped hook passes this)",
    )
    parser.add_argument(
        "--max-findings",
        type=int,
        metavar="N",
        help="print at most N findings, then say how many of each rule were left out",
    )


# The shipped hook's id, `files` and `exclude` (.pre-commit-hooks.yaml).
HOOK_ID = "curagate-check"
HOOK_FILES = r"(?i)\.(jsonl|jsonl\.gz|jsonl\.zst|parquet)$"
HOOK_EXCLUDE = r"^golden_sets/"


def _hook_selection(root: Path) -> Callable[[str], bool]:
    """Whether pre-commit hands a file (named from the repository root) to this hook, as
    the root's ``.pre-commit-config.yaml`` selects them: its top-level ``files`` and
    ``exclude``, then the hook's own (the shipped ones unless the config gives its own;
    none for a ``local`` hook that runs ``curagate check``). The shipped selection when
    there is no such config or hook, or it is not what pre-commit would run. Files the
    user excluded from the hook were duplicate context all the same: a commit of a copy of
    an excluded archive failed."""
    import re

    from curagate.errors import ConfigError

    try:
        from curagate.yamlio import load_yaml

        text = (root / ".pre-commit-config.yaml").read_text(encoding="utf-8")
        config, _ = load_yaml(text, ".pre-commit-config.yaml")
    except (OSError, UnicodeDecodeError, ConfigError):
        config = None
    patterns = _selection_of(config)
    try:
        files = [re.compile(p) for p in patterns[0]]
        excluded = [re.compile(p) for p in patterns[1]]
    except (re.error, RecursionError):
        files, excluded = [re.compile(HOOK_FILES)], [re.compile(HOOK_EXCLUDE)]
    return lambda name: (
        all(p.search(name) for p in files) and not any(p.search(name) for p in excluded)
    )


def _selection_of(config: object) -> tuple[list[str], list[str]]:
    """(files patterns, exclude patterns) of this hook in a parsed pre-commit config."""
    shipped = ([HOOK_FILES], [HOOK_EXCLUDE])
    if not isinstance(config, dict):
        return shipped

    def pattern(where: dict[Any, Any], key: str, default: str) -> str | None:
        value = where.get(key, default)
        return value if isinstance(value, str) else None  # `files: null` is no pattern

    top = (pattern(config, "files", ""), pattern(config, "exclude", "^$"))
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
            files = [top[0], pattern(h, "files", default[0])]
            excluded = [top[1], pattern(h, "exclude", default[1])]
            if None in files or None in excluded:
                return shipped
            return [str(p) for p in files], [str(p) for p in excluded]
    return shipped


def _runs_check(hook: dict[Any, Any]) -> bool:
    """Whether a local hook's entry runs `curagate check` (`uv run curagate check`,
    `python -m curagate check`, a path to the script)."""
    from itertools import pairwise

    entry = hook.get("entry")
    words = entry.split() if isinstance(entry, str) else []
    return any(w.rsplit("/", 1)[-1] == "curagate" and nxt == "check" for w, nxt in pairwise(words))


def _staged_files() -> list[str]:
    """Staged (added, copied, modified, renamed, type-changed) data files, as the hook
    selects them (:func:`_hook_selection`), relative to the current directory (pre-commit
    runs hooks at the repo root; git names them from the root, so from a subfolder they
    start with ``../``)."""
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
    names = git(
        "diff", "--cached", "--name-only", "-z", "--no-relative", "--diff-filter=ACMRT"
    ).split("\0")
    from curagate.io.readers import SUPPORTED_SUFFIXES

    # Data files only: a local hook without `files` selects every file (its config too).
    selected = _hook_selection(Path(up or "."))
    here = [
        os.path.normpath(up + n)
        for n in names
        if n.lower().endswith(SUPPORTED_SUFFIXES) and selected(n)
    ]
    return [n for n in here if Path(n).is_file()]


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
    findings = check(
        args.files,
        golden=args.golden,
        leakage=not args.no_golden,
        config=config,
        ngram=args.ngram,
        context=_staged_files() if args.staged_context else (),
    )
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
