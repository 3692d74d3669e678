"""Make leakage-free train/val/test splits.

Rows with the same normalized text, MinHash near copies, rows of one dedup
cluster (a `cluster_id` column, or curate's clusters.parquet via --clusters)
and rows of one group (--group) never straddle splits. Writes
DIR/{train,val,test}.parquet and DIR/split_manifest.json (counts, ratios,
label distribution, seed, sha256 of every output, cross-split leak check).

examples:
  curagate split curated/kept/ --out splits/
  curagate split data.jsonl --out splits/ --label category --ratios 90/5/5 --seed 7
  curagate split data.jsonl --out splits/ --group user_id
  curagate split data.jsonl --clusters curated/clusters.parquet --out splits/
  curagate split data.jsonl --out splits/ --time created_at --fail-on-leak
"""

from __future__ import annotations

import argparse
import sys

from curagate.errors import CheckFailed
from curagate.split import DEFAULT_RATIOS, MANIFEST_NAME, MODES, parse_ratios, split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--ratios",
        default="/".join(f"{r * 100:g}" for r in DEFAULT_RATIOS),
        metavar="T/V/T",
        help="train/val/test proportions, e.g. 80/10/10 (default) or 0.9,0.05,0.05",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="default: time if --time, stratified if --label, grouped if --group, else random",
    )
    parser.add_argument("--label", metavar="COLUMN", help="stratify by (and report) this column")
    parser.add_argument("--group", metavar="COLUMN", help="rows with equal values stay together")
    parser.add_argument("--time", metavar="COLUMN", help="oldest rows to train, newest to test")
    parser.add_argument(
        "--cluster-column",
        metavar="COLUMN",
        help="dedup cluster ids that must stay together (default: cluster_id when present)",
    )
    parser.add_argument(
        "--clusters",
        metavar="FILE",
        help="curate's clusters.parquet: rows of one dedup cluster (matched by id) stay together",
    )
    parser.add_argument("--format", help="record format (default: detected from the columns)")
    parser.add_argument("--text-field", metavar="FIELD", help="the text column of text records")
    parser.add_argument(
        "--preference-key",
        choices=("prompt", "prompt+responses"),
        default="prompt",
        help="dedup key of preference records (default: prompt)",
    )
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also keep records that embed alike together (needs curagate[embed])",
    )
    parser.add_argument(
        "--semantic-threshold",
        type=float,
        default=0.92,
        metavar="COS",
        help="cosine similarity that joins records with --semantic (default 0.92)",
    )
    parser.add_argument("--model", metavar="PATH", help="sentence-transformers model directory")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache for --semantic (default: $XDG_CACHE_HOME/curagate/embeddings)",
    )
    parser.add_argument(
        "--no-join-near",
        dest="join_near",
        action="store_false",
        help="do not keep MinHash near copies together (they are still reported)",
    )
    parser.add_argument(
        "--join-ngram",
        action="store_true",
        help="also keep records sharing a word n-gram together (may make large units)",
    )
    parser.add_argument(
        "--join-min-ratio",
        type=float,
        default=0.0,
        metavar="R",
        help="with --join-ngram: join only when this fraction of an item's n-grams is shared",
    )
    parser.add_argument(
        "--near-threshold",
        type=float,
        default=0.8,
        metavar="J",
        help="estimated Jaccard of a near copy, for joining and the leak check (default 0.8)",
    )
    parser.add_argument(
        "--ngram", type=int, default=13, help="word n-gram length of the leak check (default 13)"
    )
    parser.add_argument(
        "--fail-on-leak",
        action="store_true",
        help="exit 1 when the leak check finds overlap between splits",
    )


def run(args: argparse.Namespace) -> int:
    result = split(
        args.inputs,
        args.out,
        ratios=parse_ratios(args.ratios),
        seed=args.seed,
        mode=args.mode,
        label=args.label,
        group=args.group,
        time=args.time,
        cluster_column=args.cluster_column,
        clusters=args.clusters,
        format=args.format,
        text_field=args.text_field,
        preference_key=args.preference_key,
        semantic=args.semantic,
        semantic_threshold=args.semantic_threshold,
        model=args.model,
        cache_dir=args.cache_dir,
        join_near=args.join_near,
        join_ngram=args.join_ngram,
        join_min_ratio=args.join_min_ratio,
        minhash_threshold=args.near_threshold,
        ngram=args.ngram,
    )
    counts = ", ".join(f"{name} {rows}" for name, rows in result.counts.items())
    print(f"split {sum(result.counts.values())} rows: {counts} -> {result.out_dir}")
    if result.leaks:
        message = (
            f"{result.leaks} rows of val/test overlap an earlier split "
            f"(see {result.out_dir / MANIFEST_NAME})"
        )
        if args.fail_on_leak:
            raise CheckFailed(message)
        print(f"curagate split: warning: {message}", file=sys.stderr)
    return 0
