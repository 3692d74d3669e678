"""Re-check an exported bundle against its MANIFEST.json.

Every file's sha256 must match, none may be missing or added. Prints the
bundle's artifact digest (the sha256 of MANIFEST.json, the value the gate and
the registry use). Exit 0 when intact, 1 when anything differs.

example:
  curagate verify exports/support-bot
"""

from __future__ import annotations

import argparse
from pathlib import Path

from curagate.export.manifest import verify_bundle


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="directory written by `curagate export`")


def run(args: argparse.Namespace) -> int:
    result = verify_bundle(args.bundle)
    print(
        f"{args.bundle}: ok, {result.checked} files match MANIFEST.json; artifact digest {result.digest}"
    )
    return 0
