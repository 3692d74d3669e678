"""Find reference (golden/test) items inside a training corpus.

Writes leakage.json (every leaked reference item: corpus rows, methods,
spans, ratios), leakage.md and a self-contained leakage.html into --out.

examples:
  curagate leakage --reference golden_sets/ --corpus data/ --fail-on-leak
  curagate leakage --reference test.jsonl --reference-text-field question \\
      --corpus shards/ --out reports/leakage --min-ratio 0.2
  curagate leakage --reference golden_sets/ --corpus shards/ --executor ray --ray-address auto

Every string of a record is scanned: its key, its other fields (a preference
pair's responses, a message's reasoning, extra and nested columns). Rows that
fail format validation are scanned (corpus) or indexed (reference) by the
strings they hold; rows that cannot be parsed at all (bad JSON, a damaged
compressed file) and fields of bytes that are not UTF-8 are listed as
unreadable.

exit codes: 0 ok (or leaks found without --fail-on-leak), 1 leaks found with
--fail-on-leak, 2 usage or input error (missing path, empty reference set,
records without the needed field; with --fail-on-leak, any unreadable
reference or corpus row: the corpus cannot be shown clean)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from curagate.errors import CheckFailed, InputError, no_records
from curagate.leakage import METHODS, detect, place_of, write_report
from curagate.leakage.report import summary_lines
from curagate.limits import MAX_THREADS, float_arg, given, int_arg, refuse_idle

if TYPE_CHECKING:
    from curagate.io.atomic import Claim


def _methods(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        nargs="+",
        action="extend",  # repeated, the paths add up (the last flag's replaced the others)
        required=True,
        metavar="PATH",
        help="reference files, directories or globs (golden sets, test splits)",
    )
    parser.add_argument(
        "--corpus",
        nargs="+",
        action="extend",  # repeated, the paths add up (the last flag's replaced the others)
        required=True,
        metavar="PATH",
        help="corpus files, directories or globs (training shards)",
    )
    parser.add_argument(
        "--out",
        default="leakage-report",
        metavar="DIR",
        help="report directory (default: leakage-report)",
    )
    parser.add_argument(
        "--fail-on-leak",
        action="store_true",
        help="exit 1 when any reference item leaks, 2 when a reference or corpus row cannot be read",
    )
    parser.add_argument(
        "--ngram",
        type=int_arg(8, 50),
        default=13,
        metavar="N",
        help="words per n-gram, 8..50 (default 13)",
    )
    parser.add_argument(
        "--methods",
        type=_methods,
        default=list(METHODS),
        metavar="LIST",
        help="comma-separated: exact,ngram,minhash (default: all)",
    )
    parser.add_argument(
        "--min-shared-ngrams",
        type=int,
        default=1,
        metavar="K",
        help="distinct shared n-grams needed to flag (default 1)",
    )
    parser.add_argument(
        "--min-ratio",
        type=float,
        default=0.0,
        metavar="R",
        help="shared / item n-grams needed to flag (default 0: any shared n-gram)",
    )
    parser.add_argument(
        "--max-ngram-items",
        type=int,
        default=10,
        metavar="K",
        help="ignore n-grams found in more than K reference items, or in 2+ that are a "
        "quarter of a file's items (boilerplate); 0: keep all",
    )
    parser.add_argument(
        "--min-span-words",
        type=int,
        default=8,
        metavar="M",
        help="also flag a contiguous run of >= M of an item's words (with --min-span-ratio; "
        "finds items and truncations shorter than --ngram); 0: off, else 4..50 (default 8)",
    )
    parser.add_argument(
        "--min-span-ratio",
        type=float,
        default=0.5,
        metavar="S",
        help="share of the item's words such a run must cover (default 0.5)",
    )
    parser.add_argument(
        "--minhash-threshold",
        type=float,
        default=0.8,
        metavar="J",
        help="estimated Jaccard for a MinHash match (default 0.8)",
    )
    parser.add_argument(
        "--no-answers",
        dest="answers",
        action="store_false",
        help="index the reference rows' keys only, not their answer fields (`reference`, "
        "`answer`, ...; see docs/leakage.md)",
    )
    parser.add_argument("--format", default=None, help="corpus record format (default: detect)")
    parser.add_argument("--text-field", default=None, help="corpus text column for format text")
    parser.add_argument("--reference-format", default=None, help="reference record format")
    parser.add_argument(
        "--reference-text-field",
        default=None,
        help="reference text column (e.g. question for GSM8K)",
    )
    parser.add_argument(
        "--threads",
        type=int_arg(1, MAX_THREADS),
        default=None,
        help=f"worker threads, 1..{MAX_THREADS} (default: all cores)",
    )
    parser.add_argument(
        "--paraphrase",
        action="store_true",
        help="also catch reworded items by embedding similarity (extra `embed`)",
    )
    parser.add_argument(
        "--paraphrase-threshold",
        type=float_arg(-1.0, 1.0),
        default=None,
        metavar="C",
        help="cosine similarity for a paraphrase match (default 0.85)",
    )
    parser.add_argument("--model", default=None, help="local sentence-transformers model directory")
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this process (default); ray: one task per corpus file on a Ray cluster "
        "(extra `ray`), the index built once and shared; same report bytes",
    )
    parser.add_argument(
        "--ray-address",
        help="Ray cluster to join (`auto`, HOST:PORT, ray://...); default: start a local one",
    )


def _check_out(out: Path, inputs: list[str], references: list[str]) -> Claim:
    """``--out`` is a report directory: not an existing file (an input, say), not an input
    folder or inside one (the next run would scan the reports), and new, empty or a
    previous leakage output (the reports replace it as one folder)."""
    from curagate.io.outputs import check_output

    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out}: exists and is not a directory; leakage writes its reports "
            "(leakage.json, leakage.md, leakage.html) into a directory: choose a new one"
        )
    # A reference folder's `_`/`.` folders are read too: an --out there is read back.
    return check_output(
        out,
        "leakage",
        inputs,
        [],
        keep=[("input", p) for p in inputs],
        records=[("--reference", p) for p in references],
    )


def run(args: argparse.Namespace) -> int:
    refuse_idle(
        {"--paraphrase-threshold": args.paraphrase_threshold, "--model": args.model},
        not args.paraphrase,
        "no paraphrase is looked for; add --paraphrase",
    )
    refuse_idle(
        {"--ray-address": args.ray_address},
        args.executor != "ray",
        "the scan runs in this process; add --executor ray",
    )
    claim = _check_out(Path(args.out), [*args.reference, *args.corpus], list(args.reference))
    result = detect(
        args.reference,
        args.corpus,
        ngram=args.ngram,
        methods=args.methods,
        min_shared_ngrams=args.min_shared_ngrams,
        min_ratio=args.min_ratio,
        max_ngram_items=args.max_ngram_items,
        min_span_words=args.min_span_words,
        min_span_ratio=args.min_span_ratio,
        minhash_threshold=args.minhash_threshold,
        reference_format=args.reference_format,
        reference_text_field=args.reference_text_field,
        format=args.format,
        text_field=args.text_field,
        threads=args.threads,
        paraphrase=args.paraphrase,
        **given(paraphrase_threshold=args.paraphrase_threshold),
        model=args.model,
        executor=args.executor,
        ray_address=args.ray_address,
        answers=args.answers,
    )
    if not result.corpus_records and not result.quarantined:
        # As curate, split, audit and check refuse it: "corpus records scanned: 0" passed
        # --fail-on-leak, exit 0, for an emptied corpus.
        raise InputError(no_records(result.corpus_files))
    paths = write_report(result, args.out, claim)
    for line in summary_lines(result):
        print(line)
    print(f"report: {paths['json']} ({paths['markdown'].name}, {paths['html'].name})")
    if args.fail_on_leak and result.reference_unreadable:
        first = result.reference_unreadable[0]
        raise InputError(
            f"{len(result.reference_unreadable)} reference row(s) could not be read, so their "
            f"items were not looked for (first: {place_of(first)}: {first.reason}); fix or "
            f"remove them ({result.leaked_reference_items} reference item(s) leaked of those read)"
        )
    if args.fail_on_leak and result.unreadable:
        first = result.unreadable[0]
        raise InputError(
            f"{len(result.unreadable)} corpus row(s) could not be read, so the corpus cannot "
            f"be shown free of leaks (first: {place_of(first)}: {first.reason}); fix or remove them "
            f"({result.leaked_reference_items} reference item(s) leaked in the rows read)"
        )
    if args.fail_on_leak and result.leaked_reference_items:
        raise CheckFailed(
            f"{result.leaked_reference_items} reference item(s) leaked into the corpus; "
            f"see {paths['markdown']}"
        )
    return 0
