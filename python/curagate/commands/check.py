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
from pathlib import Path

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
        help="also read every staged JSONL/Parquet file outside golden_sets/ (git) for "
        "duplicates, reporting only FILES: pre-commit splits a long file list over several "
        "runs, and each must see the others' records (the shipped hook passes this)",
    )
    parser.add_argument(
        "--max-findings",
        type=int,
        metavar="N",
        help="print at most N findings, then say how many of each rule were left out",
    )


# The shipped hook's `files` and `exclude` (.pre-commit-hooks.yaml).
_HOOK_FILES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")
_HOOK_EXCLUDE = "golden_sets/"


def _staged_files() -> list[str]:
    """Staged (added, copied, modified, renamed, type-changed) data files, as the shipped
    hook selects them, relative to the current directory (pre-commit runs hooks at the repo
    root; git names them from the root, so from a subfolder they start with ``../``)."""
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
    here = [
        os.path.normpath(up + n)
        for n in names
        if n.lower().endswith(_HOOK_FILES) and not n.startswith(_HOOK_EXCLUDE)
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
