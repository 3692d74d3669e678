"""Fast check for pre-commit and CI: schema, exact duplicates, golden-set leakage.

Prints one line per violation as `file:line: RULE message` and exits 1 when
there is any; 0 when clean; 2 on bad usage or unreadable input. Leakage is
checked against ./golden_sets when it exists (or --golden DIR).

examples:
  curagate check data/*.jsonl
  curagate check data/train.jsonl data/val.jsonl --golden golden_sets/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="JSONL/Parquet files (directories and globs too)")
    parser.add_argument(
        "--golden", type=Path, help="golden sets directory (default: ./golden_sets if it exists)"
    )
    parser.add_argument("--no-golden", action="store_true", help="skip the leakage check")
    parser.add_argument("--ngram", type=int, help="n-gram size for leakage (default 13)")
    parser.add_argument(
        "--config", type=Path, help="audit.yaml: format, text_field, sft, rules switched off"
    )


def run(args: argparse.Namespace) -> int:
    from curagate.audit.config import load_config
    from curagate.check import check
    from curagate.errors import ConfigError

    if args.no_golden and args.golden is not None:
        raise ConfigError("--golden and --no-golden contradict each other; give one")
    if args.ngram is not None and args.ngram < 1:
        raise ConfigError(f"--ngram {args.ngram}: must be a positive number of words (default 13)")
    violations = check(
        args.files,
        golden=args.golden,
        leakage=not args.no_golden,
        config=load_config(args.config),
        ngram=args.ngram,
    )
    for v in violations:
        print(v)
    if violations:
        files = len({v.file for v in violations})
        print(f"curagate check: {len(violations)} violation(s) in {files} file(s)", file=sys.stderr)
        return 1
    return 0
