"""Audit a dataset: format, lengths, token limits, labels, conversation mix, PII, duplicates, leakage.

Writes audit.json, audit.md, report.html and sample.jsonl into --out; with
--gx also a Great Expectations suite and validation result. Exit code 1 when
an error-level finding is reported (see docs/audit.md for every rule).
Leakage is checked against the config's leakage.reference, else ./golden_sets
when it exists (as check).

examples:
  curagate audit data/train.jsonl --out audit/
  curagate audit data/ --config audit.yaml --out audit/ --gx
  curagate audit shards/ --out audit/ --executor ray --ray-address auto
"""

from __future__ import annotations

import argparse
from pathlib import Path

from curagate.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", help="JSONL/Parquet files, directories or globs")
    parser.add_argument(
        "--config", type=Path, help="audit.yaml (rules, thresholds, tokenizer, ...)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("audit"), help="output directory (default: audit)"
    )
    parser.add_argument(
        "--no-golden",
        action="store_true",
        help="skip the golden-set leakage check (the config's leakage.reference and ./golden_sets)",
    )
    parser.add_argument(
        "--gx", action="store_true", help="also validate with Great Expectations (extra: audit)"
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        help="audit each input file as a task and merge the statistics (same output bytes); "
        "ray: on a Ray cluster (extra `ray`); default: one pass in this process",
    )
    parser.add_argument(
        "--ray-address",
        help="Ray cluster to join (`auto`, HOST:PORT, ray://...); default: start a local one",
    )


def run(args: argparse.Namespace) -> int:
    from curagate.audit import audit

    if args.ray_address and args.executor != "ray":
        raise ConfigError("--ray-address needs --executor ray")
    report = audit(
        args.data,
        config=args.config,
        out=args.out,
        gx=args.gx,
        executor=args.executor,
        ray_address=args.ray_address,
        # As check reads them (./golden_sets and the nearest beside or above each input):
        # the hook failed a leak audit passed unsaid; one that is there but no folder (a
        # dangling link) is audit()'s to refuse.
        nearest_golden=True,
        leakage=not args.no_golden,
    )
    s = report["summary"]
    for f in report["findings"]:
        print(f"{f['rule']} {f['severity']}: {f['message']}")
    status = "passed" if s["passed"] else "FAILED"
    print(
        f"audit {status}: {s['errors']} error(s), {s['warnings']} warning(s), "
        f"{s['infos']} info; report: {args.out / 'report.html'}"
    )
    if args.gx:
        print(f"Great Expectations validation result: {args.out / 'gx' / 'validation_result.json'}")
    return 0 if s["passed"] else 1
