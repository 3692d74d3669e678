"""Make leakage-free train/val/test splits.

Rows with the same normalized text, near copies (Jaccard of the n-gram sets
curate's near.shingle and near.ngram in --config give, default word 5-grams,
>= --near-threshold, curate's near.threshold), rows of one dedup cluster (a
`cluster_id` column, or curate's clusters.parquet via --clusters) and rows of
one group (--group) never straddle splits: after assignment every pair is
checked, and any that straddles is joined and the units reassigned. Shared
passages (a 13-gram that is not boilerplate) are reported, or joined with
--shared-passages join. Writes DIR/{train,val,test}.parquet and
DIR/split_manifest.json (counts, ratios, label distribution, seed, sha256 of
every output, repair rounds, the cross-split check).

examples:
  curagate split curated/kept/ --out splits/
  curagate split data.jsonl --out splits/ --label category --ratios 90/5/5 --seed 7
  curagate split data.jsonl --out splits/ --group user_id
  curagate split data.jsonl --clusters curated/clusters.parquet --out splits/
  curagate split data.jsonl --out splits/ --time created_at --fail-on-leak
  curagate split t0/ --out splits/ --templates templates.txt --shared-passages join
"""

from __future__ import annotations

import argparse
import sys
from typing import TypeVar

from curagate.config import CurateConfig, load_model
from curagate.errors import CheckFailed
from curagate.limits import MAX_SEED, given, int_arg, refuse_idle
from curagate.ratios import parse_ratios
from curagate.records import FORMAT_CHOICES, PREFERENCE_KEYS
from curagate.split import (
    MANIFEST_NAME,
    MODES,
    SHARED_PASSAGE_POLICIES,
    Spelling,
    spelled,
    split,
)

T = TypeVar("T")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, directories or globs")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--ratios",
        metavar="T/V/T",
        help="train/val/test proportions, e.g. 80/10/10 (default) or 0.9,0.05,0.05",
    )
    parser.add_argument("--seed", type=int_arg(0, MAX_SEED), help="random seed (default 0)")
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
    parser.add_argument(
        "--format",
        # The choices as curate lists them, auto too: split's own check listed the formats
        # without auto, which it takes (prompt-completion is prompt_completion, as before).
        type=lambda v: v.replace("-", "_").replace("/", "_"),
        choices=["auto", *FORMAT_CHOICES],
        metavar="FORMAT",
        help=f"record format: auto, {', '.join(FORMAT_CHOICES)} (default: config format, "
        "else auto: detected from the columns)",
    )
    parser.add_argument(
        "--text-field",
        metavar="FIELD",
        help="the text column of text records (default: config text_field)",
    )
    parser.add_argument(
        "--preference-key",
        choices=PREFERENCE_KEYS,
        help="dedup key of preference records (default: config preference_key, else prompt)",
    )
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also keep records that embed alike together (needs curagate[embed])",
    )
    parser.add_argument(
        "--semantic-threshold",
        type=float,
        default=None,
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
        "--config",
        metavar="FILE",
        help="curate.yaml: format, text_field, preference_key, batch_rows, near.threshold, "
        "near.ngram, near.shingle and the split keys give the defaults",
    )
    parser.add_argument(
        "--no-join-near",
        dest="join_near",
        action="store_false",
        default=None,
        help="do not join near copies before assignment (repair still joins those that straddle)",
    )
    parser.add_argument(
        "--near-threshold",
        type=float,
        metavar="J",
        help="Jaccard of n-gram sets (config near.shingle and near.ngram, default word "
        "5-grams) that makes a near copy, config near.threshold (default 0.7, as curate)",
    )
    # One or the other: both wrote one setting, the last given won without a word.
    passages = parser.add_mutually_exclusive_group()
    passages.add_argument(
        "--shared-passages",
        choices=SHARED_PASSAGE_POLICIES,
        help="records in two splits sharing a non-boilerplate n-gram: ignore, warn "
        "(default) or join them",
    )
    passages.add_argument(
        "--join-ngram",
        action="store_const",
        const="join",
        dest="shared_passages",
        help="the same as --shared-passages join",
    )
    parser.add_argument(
        "--max-ngram-items",
        type=int_arg(2, 10**9),
        metavar="K",
        help="an n-gram in more than K distinct records (exact copies count once) is boilerplate, not evidence (default 10)",
    )
    parser.add_argument(
        "--templates",
        action="append",
        metavar="FILE",
        help="text file of prompt templates: their text is not evidence of a leak, a copy of "
        "an item's own text still is (repeatable)",
    )
    parser.add_argument(
        "--ngram", type=int, help="word n-gram length of a shared passage (default 13)"
    )
    parser.add_argument(
        "--max-rounds",
        type=int_arg(1, 10**6),
        metavar="N",
        help="repair rounds before giving up with exit 1 (default 20)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=None,
        help="exit 1 if any row was quarantined or an input file could not be read, as "
        "curate's --strict (config strict); the output is still written, recorded as failed",
    )
    parser.add_argument(
        "--fail-on-leak",
        action="store_true",
        default=None,
        help="exit 1 when shared passages cross splits (near copies never do)",
    )


def run(args: argparse.Namespace) -> int:
    refuse_idle(
        {
            "--semantic-threshold": args.semantic_threshold,
            "--model": args.model,
            "--cache-dir": args.cache_dir,
        },
        not args.semantic,
        "records are not embedded; add --semantic",
    )
    cfg = load_model(args.config, CurateConfig) if args.config else CurateConfig()
    sc = cfg.split

    def pick(value: T | None, default: T) -> T:
        return default if value is None else value

    # An option the config file set (and the command line did not) is named as the file's
    # key in split's messages: "--label 'nope': no such column" named a flag never given.
    # (each option's dest is the config key's name: --join-near, args.join_near, split.join_near)
    keys = ("ratios", "seed", "mode", "label", "group", "time", "join_near", "shared_passages",
            "max_ngram_items", "templates", "ngram", "max_rounds")  # fmt: skip
    from_file = {
        "--" + key.replace("_", "-"): f"split.{key} (in {args.config})"
        for key in keys
        if getattr(args, key) is None and key in sc.model_fields_set
    }
    # The records are read as curate reads them from the same file (a config's text_field
    # was ignored: copies of its column straddled splits, and a column no input has was
    # accepted, exit 0). "auto" on either side is the detection.
    record_format = pick(args.format, cfg.format)
    with spelled(Spelling(options=from_file)):
        result = split(
            args.inputs,
            args.out,
            ratios=parse_ratios(args.ratios) if args.ratios else sc.ratios,
            seed=pick(args.seed, sc.seed),
            mode=pick(args.mode, sc.mode),
            label=pick(args.label, sc.label),
            group=pick(args.group, sc.group),
            time=pick(args.time, sc.time),
            cluster_column=args.cluster_column,
            clusters=args.clusters,
            format=None if record_format == "auto" else record_format,
            text_field=pick(args.text_field, cfg.text_field),
            preference_key=pick(args.preference_key, cfg.preference_key),
            semantic=args.semantic,
            **given(semantic_threshold=args.semantic_threshold),
            model=args.model,
            cache_dir=args.cache_dir,
            join_near=pick(args.join_near, sc.join_near),
            near_threshold=pick(args.near_threshold, cfg.near.threshold),
            near_ngram=cfg.near.ngram,
            near_shingle=cfg.near.shingle,
            normalize=cfg.normalize.model_dump(),
            shared_passages=pick(
                args.shared_passages, "join" if sc.join_ngram else sc.shared_passages
            ),
            max_ngram_items=pick(args.max_ngram_items, sc.max_ngram_items),
            templates=pick(args.templates, sc.templates),
            ngram=pick(args.ngram, sc.ngram),
            max_rounds=pick(args.max_rounds, sc.max_rounds),
            fail_on_leak=pick(args.fail_on_leak, sc.fail_on_leak),
            strict=bool(args.strict or cfg.strict),
            batch_rows=cfg.batch_rows,
        )
    counts = ", ".join(f"{name} {rows}" for name, rows in result.counts.items())
    repair = result.manifest["repair"]
    repaired = (
        f"; repair joined {repair['units_joined']} units in {repair['rounds'] - 1} extra round(s)"
        if repair["rounds"] > 1
        else ""
    )
    print(f"split {sum(result.counts.values())} rows: {counts} -> {result.out_dir}{repaired}")
    for warning in result.manifest["warnings"]:  # a split asked for that got no row
        print(f"curagate split: warning: {warning}", file=sys.stderr)
    quarantined = result.manifest["quarantined"]["rows"]
    unreadable = [f for f in result.manifest["inputs"]["files"] if "unreadable" in f]
    for file in unreadable:  # a lost shard is no "1 row" (found by attack)
        print(
            f"curagate split: warning: input {file['path']} could not be read to its end "
            f"({file['rows']:,} row(s) read before): {file['unreadable']}",
            file=sys.stderr,
        )
    if quarantined > len(unreadable):  # not in any split: say so where the counts are read
        print(
            f"curagate split: warning: {quarantined - len(unreadable)} row(s) quarantined: see "
            f"{result.out_dir / 'quarantine.jsonl'} for file, line and reason",
            file=sys.stderr,
        )
    named = pick(args.templates, sc.templates)
    if result.leaks:
        from curagate.io.verify import templates_may_clear

        passages = result.manifest["verification"]["shared_passages"]
        scan = result.manifest["verification"].get("leakage_scan", {})
        scanned, copies = scan.get("pairs", 0), scan.get("item_text_pairs", 0)
        message = (
            f"{result.leaks} rows of val/test share a passage with an earlier split or are "
            "found by `curagate leakage` in train or in the other of val and test "
            f"({passages.get('pairs', 0) + scanned} pairs; n-grams in more than {passages['max_ngram_items']} "
            f"records count as boilerplate; see {result.out_dir / MANIFEST_NAME}); keep them "
            "together with --shared-passages join"
        )
        if copies and named:
            message += (
                f" ({copies} pair(s) hold an item's own text, not template text alone: "
                "copies, which --templates does not clear)"
            )
        elif copies:
            # Without --templates a whole shared string (a system prompt) is the item's
            # text: it said "copies, which --templates does not clear" of a shared system
            # prompt that --templates did clear (found by re-attack).
            message += (
                f" ({copies} pair(s) hold a whole string of an item: copies, unless that "
                "string is a prompt template: then name it with --templates)"
            )
        if templates_may_clear(result.manifest["verification"]):
            # Advising --templates to a run that named them told the user to do what was
            # done (found by review): the text these rows share is not the named templates'.
            message += (
                "; the text they share goes beyond the named templates (--templates): each "
                "pair's shared spans are in the manifest's verification (shared_passages and "
                "leakage_scan examples); if they are another prompt template's text, add that "
                "template to a --templates file"
                if named
                else ", or name prompt templates with --templates"
            )
        if pick(args.fail_on_leak, sc.fail_on_leak):
            raise CheckFailed(
                f"{message}; the splits are written for inspection and recorded as failing "
                "the check (verification.passed: false): `curagate verify` and `curagate "
                "train` refuse them"
            )
        print(f"curagate split: warning: {message}", file=sys.stderr)
    passages = result.manifest["verification"]["shared_passages"]
    if pick(args.fail_on_leak, sc.fail_on_leak) and passages.get("over_bar_ngrams"):
        # What passed is the check as it stands: a passage in more rows than the bar (one
        # article under a dozen templates) is boilerplate to it, neither joined nor flagged.
        # (The named templates' n-grams are not counted: the count was theirs with them,
        # and advised naming templates already named; found by re-attack.)
        print(
            f"curagate split: note: {passages['over_bar_ngrams']:,} n-grams in more than "
            f"{passages['max_ngram_items']} records were left out as boilerplate, not checked; "
            "a passage repeated in more records than that may be among them: "
            f"{'raise' if named else 'name the templates (--templates) and raise'} "
            "--max-ngram-items, or scan the splits with `curagate leakage`",
            file=sys.stderr,
        )
    if quarantined and (args.strict or cfg.strict):
        # curate's --strict: the output is written (for inspection), the run fails.
        flag = "--strict" if args.strict else f"strict (in {args.config})"
        raise CheckFailed(
            f"{flag}: {_quarantine_count(quarantined, len(unreadable))} (see "
            f"{result.out_dir / 'quarantine.jsonl'}); fix or remove them, or drop {flag}; the "
            "splits are written for inspection and recorded as failing it (strict.passed: "
            "false): `curagate verify` and `curagate train` refuse them"
        )
    return 0


def _quarantine_count(entries: int, unreadable: int) -> str:
    """The quarantine as the warnings above count it: rows, and input files not read."""
    parts = [f"{entries - unreadable} row(s) quarantined"] if entries > unreadable else []
    if unreadable:
        parts.append(f"{unreadable} input file(s) could not be read to their end")
    return " and ".join(parts)
