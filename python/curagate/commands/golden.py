"""Manage versioned golden sets: lock their hashes on purpose, verify them.

examples:
  curagate golden lock golden_sets                      # (re)lock every set
  curagate golden lock golden_sets --set amazon_sentiment
  curagate golden verify golden_sets                    # exit 1 when a set changed
  curagate golden list golden_sets
  curagate golden label chat --items gate-out/items.jsonl --labeller ana   # calibrate a judge

`label` shows each item's request and the candidate's and base's answers from a gate run
in random order, asks which is better (1, 2, t = tie, s = skip, q = quit), and records the
choice with both texts in SET/human_labels.jsonl (label 50-100 items; add the file to the
set's `files` and re-lock it; docs/gate.md, "LLM judge").

exit codes: 0 ok, 1 a set no longer matches its lock, 2 usage or input error
"""

from __future__ import annotations

import argparse
import sys

from curagate.limits import MAX_SEED, int_arg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["lock", "verify", "list", "label"])
    parser.add_argument(
        "golden_dir",
        nargs="?",
        default="golden_sets",
        help="golden-set directory (default: %(default)s); for label: the set's name",
    )
    parser.add_argument(
        "--golden-dir",
        dest="label_dir",
        default="golden_sets",
        help="label only: the golden-set directory (default: %(default)s)",
    )
    parser.add_argument("--items", help="label only: items.jsonl of a gate run that gated the set")
    parser.add_argument(
        "--labeller", help="label only: your name or handle, recorded with each label"
    )
    parser.add_argument(
        "--limit",
        type=int_arg(1, 10**6),
        default=100,
        help="label only: at most this many items (default 100)",
    )
    parser.add_argument(
        "--seed",
        type=int_arg(0, MAX_SEED),
        default=0,
        help="label only: seed of the item and answer order",
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

    if args.action == "label":
        from curagate.errors import InputError
        from curagate.gate.label import label

        if not args.items or not args.labeller:
            raise InputError(
                "golden label SET needs --items (a gate run's items.jsonl) and --labeller NAME"
            )
        if not args.labeller.isprintable():
            # Bytes that are not UTF-8 (lone surrogates) could not be written (exit 3).
            raise InputError(f"--labeller {args.labeller!r}: give a name in printable UTF-8 text")
        added, path = label(
            args.label_dir,
            args.golden_dir,
            args.items,
            labeller=args.labeller,
            limit=args.limit,
            seed=args.seed,
            stdin=sys.stdin,
            stdout=sys.stdout,
        )
        print(
            f"\n{added} labels added to {path}; review it, list {path.name} in the set's files "
            f"and re-lock: curagate golden lock {args.label_dir} --set {args.golden_dir}"
        )
        return 0
    if args.action == "lock":
        doc = golden.lock(
            args.golden_dir,
            args.sets or None,
            warn=lambda text: print(f"curagate golden lock: warning: {text}", file=sys.stderr),
        )
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
            raise CheckFailed.of_lines(problems)
        print(f"{args.golden_dir}: every golden set matches its lock")
        return 0
    for name, e in sorted(golden.list_locked(args.golden_dir).items()):
        print(
            f"{name:<24} v{e['version']:<4} {e['task']:<16} {e['size']:>6} items  {e.get('license', '')}"
        )
    sys.stdout.flush()
    return 0
