"""Manage versioned golden sets: lock their hashes on purpose, verify them.

examples:
  curagate golden lock golden_sets                      # (re)lock every set
  curagate golden lock golden_sets --set amazon_sentiment
  curagate golden verify golden_sets                    # exit 1 when a set changed
  curagate golden list golden_sets

exit codes: 0 ok, 1 a set no longer matches its lock, 2 usage or input error
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["lock", "verify", "list"])
    parser.add_argument(
        "golden_dir",
        nargs="?",
        default="golden_sets",
        help="golden-set directory (default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="only this set (repeatable; lock only)",
    )


def run(args: argparse.Namespace) -> int:
    from curagate import golden
    from curagate.errors import CheckFailed

    if args.action == "lock":
        doc = golden.lock(args.golden_dir, args.sets or None)
        for name in args.sets or sorted(doc["sets"]):
            e = doc["sets"][name]
            small = (
                f"  (warning: < {golden.SMALL_SET_ITEMS} items)"
                if e["size"] < golden.SMALL_SET_ITEMS
                else ""
            )
            print(
                f"locked {name} v{e['version']} {e['task']} {e['size']} items {e['sha256'][:16]}{small}"
            )
        return 0
    if args.action == "verify":
        problems = golden.verify(args.golden_dir)
        if problems:
            raise CheckFailed("\n".join(problems))
        print(f"{args.golden_dir}: every golden set matches its lock")
        return 0
    for name, e in sorted(golden.list_locked(args.golden_dir).items()):
        print(f"{name:<24} v{e['version']:<4} {e['task']:<16} {e['size']:>6} items  {e['license']}")
    sys.stdout.flush()
    return 0
