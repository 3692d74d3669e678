"""Validate, normalize and deduplicate JSONL/Parquet shards.

Every input row ends up kept (OUT/kept/), removed with a reason
(OUT/removed/) or quarantined with file, line and reason (OUT/quarantine.jsonl);
OUT/stats.json has the counts per step and per file.

examples:
  curagate curate data/*.jsonl --out curated/
  curagate curate shards/ --out curated/ --config curate.yaml --threads 8
  curagate curate chat.parquet --out curated/ --format chat --near-threshold 0.8 --keep longest
  curagate curate shards/ --out curated/ --executor ray --ray-address auto
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from curagate.curate import CurateResult, curate, read_early
from curagate.limits import MAX_THREADS, float_arg, int_arg, refuse_idle
from curagate.ratios import parse_ratios
from curagate.records import FORMAT_CHOICES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files, directories or globs of shards"
    )
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--config", help="curate.yaml (see docs/curate.md)")
    p.add_argument(
        "--threads",
        type=int_arg(1, MAX_THREADS),
        help=f"worker threads for the Rust core, 1..{MAX_THREADS} (default: all cores)",
    )
    p.add_argument("--format", choices=["auto", *FORMAT_CHOICES])
    p.add_argument("--text-field", help="column holding the text (text format)")
    p.add_argument(
        "--near-threshold",
        "--threshold",
        dest="threshold",
        type=float,
        help="near-dup Jaccard threshold, config near.threshold (default 0.7); also the split's",
    )
    p.add_argument("--ngram", type=int, help="shingle size (default 5 words)")
    p.add_argument("--keep", choices=["first", "longest", "score"], help="survivor policy")
    p.add_argument("--score-column", help="column maximized by --keep score")
    p.add_argument("--no-near", action="store_true", help="exact dedup only")
    p.add_argument(
        "--semantic", action="store_true", help="also remove paraphrases (extra `embed`)"
    )
    p.add_argument(
        "--semantic-threshold",
        type=float_arg(-1, 1),
        help="cosine threshold in [-1, 1] (default 0.92)",
    )
    p.add_argument("--embed-model", help="local sentence-transformers model directory")
    p.add_argument(
        "--decontaminate",
        action="append",
        metavar="REF",
        help="remove records containing items of these reference files/dirs (repeatable)",
    )
    p.add_argument("--split", action="store_true", help="also write OUT/splits/ (train/val/test)")
    p.add_argument("--ratios", help="split ratios, e.g. 0.8,0.1,0.1 (with --split)")
    p.add_argument("--label", help="stratify the split by this column (with --split)")
    p.add_argument("--strict", action="store_true", help="exit 1 if any row was quarantined")
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="skip unreadable folders, broken links and FIFOs inside input folders (listed in "
        "stats.json) instead of exit 2",
    )
    p.add_argument(
        "--json", action="store_true", help="print stats.json to stdout instead of a summary"
    )
    p.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: stage tasks on a Ray cluster "
        "(extra `ray`), same output bytes",
    )
    p.add_argument(
        "--ray-address",
        help="Ray cluster to join (`auto`, HOST:PORT, ray://...); default: start a local one",
    )
    p.add_argument(
        "--work-dir",
        help="stage files and completion markers of the staged run, seen by every worker "
        "(default OUT.curagate-work); a killed run resumes from it",
    )


def run(args: argparse.Namespace) -> int:
    refuse_idle(
        {"--ray-address": args.ray_address},
        args.executor != "ray",
        "the run is not on Ray; add --executor ray",
    )
    if _reads_as_options_say(args):
        read_early(
            args.inputs,
            args.out,
            format=args.format,
            text_field=args.text_field,
            skip_unreadable=args.skip_unreadable,
        )
    result = curate(
        args.inputs,
        args.out,
        config=args.config,
        threads=args.threads,
        format=args.format,
        text_field=args.text_field,
        near__threshold=args.threshold,
        near__ngram=args.ngram,
        near__enabled=False if args.no_near else None,
        decontaminate__reference=args.decontaminate,
        semantic__enabled=True if args.semantic else None,
        semantic__threshold=args.semantic_threshold,
        semantic__model=args.embed_model,
        keep__policy=args.keep,
        keep__score_column=args.score_column,
        split__enabled=True if args.split else None,
        split__ratios=parse_ratios(args.ratios) if args.ratios else None,
        split__label=args.label,
        strict=True if args.strict else None,
        skip_unreadable=True if args.skip_unreadable else None,
        executor=args.executor,
        ray_address=args.ray_address,
        work_dir=args.work_dir,
    )
    if args.json:
        json.dump(result.stats, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print_summary(result)
    failed = bool(result.stats["config"]["strict"] and result.quarantined)
    if failed:
        # An exit 1 beside a summary and a warning read as a run that passed (found by
        # attack); split --strict says it failed and why, so does curate.
        flag = "--strict" if args.strict else f"strict (in {args.config})"
        print(
            f"curagate curate: error: {flag}: {result.quarantined:,} row(s) quarantined (see "
            f"{result.out / 'quarantine.jsonl'}); fix or remove them, or drop {flag}; the "
            "output is written for inspection and recorded as failing it: `curagate verify` "
            "and `curagate train` refuse it",
            file=sys.stderr,
        )
    if result.split is not None:
        # With --json, stdout is the JSON alone (the summary line after it broke `| jq`:
        # found by attack); the warnings go to stderr, as `curagate split` writes them.
        counts = ", ".join(f"{name} {n:,}" for name, n in result.split.counts.items())
        summary = f"  splits          {counts}   (splits/split_manifest.json)"
        print(summary, file=sys.stderr if args.json else sys.stdout)
        for warning in result.split.manifest.get("warnings", []):  # an empty split asked for
            print(f"curagate curate: warning: split {warning}", file=sys.stderr)
        leaks = result.split.leaks
        fail_on_leak = result.stats["config"]["split"]["fail_on_leak"]
        if leaks and fail_on_leak:
            # An exit-1 run said "warning" (found by attack); its splits are kept for
            # inspection and recorded as failed, which verify and train refuse.
            print(
                f"curagate curate: error: {leaks} cross-split leak(s) (split.fail_on_leak); "
                "see splits/split_manifest.json; the splits are written for inspection and "
                "recorded as failing the check: `curagate verify` and `curagate train` "
                "refuse them",
                file=sys.stderr,
            )
            failed = True
        elif leaks:
            print(
                f"curagate curate: warning: {leaks} cross-split leak(s); see "
                "splits/split_manifest.json",
                file=sys.stderr,
            )
    return 1 if failed else 0


def _reads_as_options_say(args: argparse.Namespace) -> bool:
    """Whether the options alone say how the inputs are read and that numpy is not
    needed: no config file (it may set either), the local executor (staged runs
    use numpy), no semantic step (it does), reading in a thread (not ``--threads 1``)."""
    return not (
        args.config is not None
        or args.executor != "local"
        or args.work_dir is not None
        or args.semantic
        or args.threads == 1
    )


def print_summary(r: CurateResult) -> None:
    steps = r.stats["steps"]
    near = steps["near"]
    near_detail = (
        f"({near['clusters']:,} clusters; LSH {near['bands']}x{near['rows']}; "
        f"{near['verified_pairs']:,} pairs verified, {near['rejected_pairs']:,} rejected)"
        if near["enabled"]
        else "(near dedup disabled)"
    )
    exact_detail = "" if steps["exact"]["enabled"] else "   (exact dedup disabled)"
    lines = [
        f"curagate curate -> {r.out}",
        f"  input rows      {r.input_rows:>10,}",
        f"  quarantined     {r.quarantined:>10,}   (quarantine.jsonl)",
        f"  removed exact   {r.removed.get('exact', 0):>10,}{exact_detail}",
        f"  removed near    {r.removed.get('near', 0):>10,}   {near_detail}",
    ]
    for reason, count in sorted(r.removed.items()):
        if reason not in ("exact", "near"):
            lines.append(f"  removed {reason:<8}{count:>10,}")
    if steps.get("decontaminate", {}).get("media_set_aside"):
        lines.append(
            f"  set aside       {steps['decontaminate']['media_set_aside']:>10,}   "
            "(found, but of other media than the row's: no leaks)"
        )
    lines += _not_judged(steps.get("semantic", {}))
    lines += [
        f"  kept            {r.kept:>10,}   {'(kept/)' if r.kept else '(none: no kept/ folder)'}",
        f"  dedup rate      {r.dedup_rate:>10.1%}",
        f"  time            {r.seconds:>9.2f}s"
        + (
            ""  # nothing was read: a rate would be made up
            if r.runtime.get("resumed") == "all"
            else f"   ({_rate(r.input_rows / max(r.seconds, 1e-9))} rows/s)"
        ),
    ]
    if "executor" in r.runtime:
        lines.append(
            f"  executor        {r.runtime['executor']:>10}   ({r.runtime['tasks']} tasks, "
            f"{r.runtime['resumed']} resumed from an earlier attempt)"
        )
    elif r.runtime.get("resumed") == "all":
        lines.append("  executor        nothing to do: this output is complete (work dir markers)")
    if r.runtime.get("spilled_bytes"):
        lines.append(
            f"  spilled         {r.runtime['spilled_bytes'] / 2**20:>9,.1f}M   "
            "(near dedup past memory_budget, to spill_dir; removed)"
        )
    for w in r.stats["warnings"]:
        lines.append(f"warning: {w}")
    print("\n".join(lines))


def _rate(per_second: float) -> str:
    """A throughput as the summary prints it: whole rows at 10 a second or more, else
    two significant digits (11 rows in 29 s printed as "0 rows/s": found by attack)."""
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.2g}"


def _not_judged(semantic: dict[str, Any]) -> list[str]:
    """Lines for the records semantic dedup left out of every cluster (kept unless another
    step removed them), where there are any: stats.json alone said so."""
    lines = []
    if semantic.get("unreadable_by_model"):
        lines.append(
            f"  not semantic    {semantic['unreadable_by_model']:>10,}   "
            "(the embedding model cannot read them, over 1% of their words [UNK]: not compared)"
        )
    if semantic.get("longer_than_model_window"):
        lines.append(
            f"  not semantic    {semantic['longer_than_model_window']:>10,}   "
            "(longer than the embedding model's window: not compared, see stats.json)"
        )
    return lines
