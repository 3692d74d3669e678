"""Leakage benchmark: GSM8K test items planted in the t0 corpus.

Every GSM8K test question is a reference item. A seeded share of them is planted
into the t0 templates corpus (16,562 real prompt/completion records), one edit kind
per planted item:

  verbatim     the question as the prompt, its answer as the completion
  case         UPPER / lower / Title case
  whitespace   doubled spaces, tabs and line breaks between words
  punctuation  punctuation stripped, or changed (. -> !, quotes added)
  template     wrapped in a prompt template (prefix + suffix), with the answer
  truncated    a contiguous part (50-80 % of the words)
  reworded     sentences reordered, common words swapped (not a target:
               paraphrases are what `--paraphrase` is for)

Measured: recall per kind (the planted record is flagged *for its own item*), false
flags on clean t0 records, false items (unplanted GSM8K items reported), and scan
throughput (MB of record keys per second, one thread, the core scan only, best of
three; CPU seconds of the process, so other load on the machine does not count).
The same records go through lm-evaluation-harness's 13-gram janitor
(`lm_eval.decontamination.janitor`, its Python path: the C++ `janitor_util` is not
on PyPI) when lm-eval is installed.

    .venv/bin/python bench/leakage_bench.py                 # table + bench/results/leakage.json
    .venv/bin/python bench/leakage_bench.py --no-janitor    # skip the peer
    .venv/bin/python bench/leakage_bench.py --sweep         # choose the span criterion

`--sweep` measures the span criterion's two settings (min_span_words, min_span_ratio) on
harder ground: three truncations (50-80 % of the words) of every one of the 1319 items,
plus every item whole, among the clean t0 records (n-gram method only). It reports recall
on the truncations (and on those shorter than 13 words), false flags on t0 records, and
pairs of distinct GSM8K items reported for each other's records (cross-matches).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
DATA = BENCH_DIR.parent.parent / "shared" / "data"
KINDS = ("verbatim", "case", "whitespace", "punctuation", "template", "truncated", "reworded")
TARGET_KINDS = KINDS[:-1]

TEMPLATES = (
    ("Question: ", "\nAnswer:"),
    ("Solve the following math word problem step by step.\n\n", "\n\nShow your work."),
    ("Read the problem below and give the final number.\nProblem: ", ""),
    ("", "\nLet's think step by step."),
    ('Here is a grade-school math question for you:\n"', '"\nWhat is the answer?'),
)
SWAPS = {
    "How many": "What number of",
    "how many": "what number of",
    "How much": "What amount",
    "each": "every",
    "buys": "purchases",
    "has": "owns",
    "total": "overall",
    "If": "Suppose",
    "then": "afterwards",
}


def _jsonl_rows(path: Path, option: str, folder_files: str) -> list[dict[str, str]]:
    """The records of a .jsonl file, or of the ``folder_files`` of a folder; exit 2 naming
    ``option`` when there are none (a single .jsonl given as --t0 loaded 0 clean records,
    then the false-flag rate divided by zero)."""
    files = sorted(path.glob(folder_files)) if path.is_dir() else [path]
    rows: list[dict[str, str]] = []
    for file in files:
        try:
            with file.open(encoding="utf-8") as fh:
                rows += [json.loads(line) for line in fh if line.strip()]
        except OSError as e:
            _refuse(f"{option} {path}: cannot read {file}: {e.strerror}")
    if not rows:
        where = f"no records in {folder_files} under it" if path.is_dir() else "no records"
        _refuse(f"{option} {path}: {where}; give a .jsonl file or a folder of them")
    return rows


def _refuse(message: str) -> NoReturn:
    print(f"leakage_bench.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_gsm8k(path: Path) -> list[dict[str, str]]:
    """GSM8K's test split: its test.jsonl, or the folder holding it."""
    return _jsonl_rows(path, "--gsm8k", "test.jsonl")


def load_t0(path: Path) -> list[dict[str, str]]:
    """The clean corpus: a .jsonl file, or every .jsonl in a folder."""
    return _jsonl_rows(path, "--t0", "*.jsonl")


def edit(kind: str, q: str, rng: random.Random) -> str:
    if kind == "verbatim":
        return q
    if kind == "case":
        return rng.choice((q.upper(), q.lower(), q.title()))
    if kind == "whitespace":
        return "".join(w + rng.choice(("  ", "\t", "\n", " \n ", "   ")) for w in q.split()).strip()
    if kind == "punctuation":
        if rng.random() < 0.5:
            return re.sub(r"[^\w\s]", "", q)
        return q.replace(".", "!").replace(",", " ,").replace("?", "??") + ' "'
    if kind == "template":
        prefix, suffix = rng.choice(TEMPLATES)
        return f"{prefix}{q}{suffix}"
    if kind == "truncated":
        words = q.split()
        size = max(1, round(len(words) * rng.uniform(0.5, 0.8)))
        start = rng.randrange(0, len(words) - size + 1)
        return " ".join(words[start : start + size])
    if kind == "reworded":
        sentences = re.split(r"(?<=[.!?])\s+", q.strip())
        if len(sentences) > 2:
            body, last = sentences[:-1], sentences[-1]
            rng.shuffle(body)
            sentences = [*body, last]
        text = " ".join(sentences)
        for old, new in SWAPS.items():
            text = re.sub(rf"\b{re.escape(old)}\b", new, text)
        return text
    raise ValueError(kind)


def build(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Write reference and corpus files; return what was planted where."""
    rng = random.Random(args.seed)
    gsm = load_gsm8k(args.gsm8k)
    t0 = load_t0(args.t0)
    order = list(range(len(gsm)))
    rng.shuffle(order)
    planted: list[tuple[int, str]] = []  # (gsm index, kind)
    for k, kind in enumerate(KINDS):
        planted += [(i, kind) for i in order[k * args.per_kind : (k + 1) * args.per_kind]]
    records: list[dict[str, Any]] = [
        {"prompt": r["prompt"], "completion": r["completion"], "_plant": None} for r in t0
    ]
    for i, kind in planted:
        q, a = gsm[i]["question"], gsm[i]["answer"]
        text = edit(kind, q, rng)
        completion = a if kind in ("verbatim", "template") else "See the worked answer above."
        records.append({"prompt": text, "completion": completion, "_plant": [i, kind]})
    rng.shuffle(records)
    corpus = workdir / "corpus.jsonl"
    truth: list[Any] = []
    with corpus.open("w", encoding="utf-8") as fh:
        for rec in records:
            truth.append(rec.pop("_plant"))
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    reference = workdir / "gsm8k_test.jsonl"
    with reference.open("w", encoding="utf-8") as fh:
        for r in gsm:
            fh.write(json.dumps({"question": r["question"]}, ensure_ascii=False) + "\n")
    part_words = {
        row: len(rec_prompt.split())
        for row, rec_prompt in enumerate(json.loads(line)["prompt"] for line in corpus.open())
        if truth[row] is not None and truth[row][1] == "truncated"
    }
    return {
        "reference": reference,
        "corpus": corpus,
        "truth": truth,
        "questions": [r["question"] for r in gsm],
        "part_words": part_words,
        "planted_items": {i for i, _ in planted},
    }


def score(flagged: dict[int, set[int]], setup: dict[str, Any], ngram: int) -> dict[str, Any]:
    """flagged: corpus row -> reference items reported for it."""
    truth = setup["truth"]
    per_kind: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    long_parts = [0, 0]
    short_parts = [0, 0]
    clean = false_flags = 0
    reported_items: set[int] = set()
    for row, plant in enumerate(truth):
        items = flagged.get(row, set())
        reported_items |= items
        if plant is None:
            clean += 1
            false_flags += bool(items)
            continue
        item, kind = plant
        hit = item in items
        per_kind[kind][0] += hit
        per_kind[kind][1] += 1
        if kind == "truncated":
            parts = long_parts if setup["part_words"][row] >= ngram else short_parts
            parts[0] += hit
            parts[1] += 1
    return {
        "recall": {k: (h / n if n else None) for k, (h, n) in per_kind.items()},
        "counts": {k: {"found": h, "planted": n} for k, (h, n) in per_kind.items()},
        "recall_truncated_at_least_n_words": long_parts[0] / long_parts[1]
        if long_parts[1]
        else None,
        "truncated_shorter_than_n_words": {"found": short_parts[0], "planted": short_parts[1]},
        "clean_records": clean,
        "false_flags": false_flags,
        "false_flag_rate": false_flags / clean,
        "false_items": len(reported_items - setup["planted_items"]),
    }


def run_curagate(
    setup: dict[str, Any],
    methods: tuple[str, ...],
    threads: int,
    ngram: int = 13,
    min_span_words: int = 8,
) -> dict[str, Any]:
    from curagate.io import read_batches
    from curagate.leakage import LeakageIndex, detect

    t = time.perf_counter()
    result = detect(
        [setup["reference"]],
        [setup["corpus"]],
        methods=methods,
        ngram=ngram,
        min_span_words=min_span_words,
        reference_text_field="question",
        threads=threads,
    )
    end_to_end = time.perf_counter() - t
    flagged: dict[int, set[int]] = {}
    for leak in result.leaks:
        for m in leak.matches:
            flagged.setdefault(m.row, set()).add(leak.item.index)
    out = score(flagged, setup, ngram)
    out["end_to_end_s"] = end_to_end

    # Core scan throughput: keys already in memory, one thread, best of three.
    index = LeakageIndex.build(
        [setup["reference"]],
        text_field="question",
        methods=methods,
        ngram=ngram,
        min_span_words=min_span_words,
        threads=1,
    )
    batches = [b.keys for b in read_batches([setup["corpus"]])]
    nbytes = sum(len(k.buffers()[2]) if k.buffers()[2] is not None else 0 for k in batches)
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        for keys in batches:
            index.scan(keys)
        best = min(best, time.process_time() - t)
    out["scan_mb"] = nbytes / 1e6
    out["scan_cpu_s"] = best
    out["mb_per_s_per_core"] = nbytes / 1e6 / best
    return out


def run_janitor(setup: dict[str, Any], limit: int | None) -> dict[str, Any] | None:
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            from lm_eval.decontamination.janitor import Janitor, word_ngrams_indices
    except ImportError:
        return None
    from curagate.io import read_batches

    janitor = Janitor(ngram_n=13)
    # One janitor per item would be needed to know *which* item leaked; the janitor only
    # answers "contaminated or not", so the contaminant set maps n-gram -> items here.
    t = time.perf_counter()
    for q in setup["questions"]:
        janitor.register_contaminant_python(q)
    build_s = time.perf_counter() - t
    owners: dict[str, set[int]] = {}
    for i, q in enumerate(setup["questions"]):
        for g in _janitor_ngrams(janitor, q):
            owners.setdefault(g, set()).add(i)
    keys: list[str] = []
    for b in read_batches([setup["corpus"]]):
        keys += b.keys.to_pylist()
    rows = range(len(keys)) if limit is None else range(min(limit, len(keys)))
    flagged: dict[int, set[int]] = {}
    nbytes = 0
    t = time.process_time()
    for row in rows:
        text = keys[row]
        nbytes += len(text.encode("utf-8"))
        for gram, _ in word_ngrams_indices(text, 13):
            norm = janitor.normalize_string(gram)
            if norm in janitor.dirt_ngrams:
                flagged.setdefault(row, set()).update(owners.get(norm, ()))
    scan_s = time.process_time() - t
    out = score(flagged, setup, 13)
    out.update(
        build_s=build_s,
        scan_cpu_s=scan_s,
        scan_mb=nbytes / 1e6,
        mb_per_s_per_core=nbytes / 1e6 / scan_s,
    )
    return out


def _janitor_ngrams(janitor: Any, text: str) -> list[str]:
    words = janitor.normalize_string(text).split()
    return [" ".join(words[i : i + 13]) for i in range(len(words) - 12)]


SWEEP = ((0, 0.5), (8, 0.3), (8, 0.4), (8, 0.5), (8, 0.6), (6, 0.5), (10, 0.5), (12, 0.5))


def sweep(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    from curagate.leakage import detect

    rng = random.Random(args.seed)
    questions = [r["question"] for r in load_gsm8k(args.gsm8k)]
    texts = [f"{r['prompt']}\n{r['completion']}" for r in load_t0(args.t0)]
    truth: list[tuple[str, int] | None] = [None] * len(texts)
    for i, q in enumerate(questions):
        for _ in range(3):
            texts.append(edit("truncated", q, rng))
            truth.append(("truncated", i))
        texts.append(q)
        truth.append(("whole", i))
    reference = workdir / "gsm8k_test.jsonl"
    reference.write_text("".join(json.dumps({"question": q}) + "\n" for q in questions))
    corpus = workdir / "sweep.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    rows: list[dict[str, Any]] = []
    for words, ratio in SWEEP:
        result = detect(
            [reference],
            [corpus],
            methods=("ngram",),
            min_span_words=words,
            min_span_ratio=ratio,
            reference_text_field="question",
            threads=args.threads,
        )
        flagged: dict[int, set[int]] = {}
        for leak in result.leaks:
            for m in leak.matches:
                flagged.setdefault(m.row, set()).add(leak.item.index)
        found = planted = short_found = short_planted = false_flags = 0
        cross: set[tuple[int, int]] = set()
        for row, plant in enumerate(truth):
            items = flagged.get(row, set())
            if plant is None:
                false_flags += bool(items)
                continue
            kind, i = plant
            cross |= {(min(i, j), max(i, j)) for j in items if j != i}
            if kind == "truncated":
                planted += 1
                found += i in items
                if len(texts[row].split()) < 13:
                    short_planted += 1
                    short_found += i in items
        rows.append(
            {
                "min_span_words": words,
                "min_span_ratio": ratio,
                "truncated": {"found": found, "planted": planted},
                "truncated_under_13_words": {"found": short_found, "planted": short_planted},
                "false_flags": false_flags,
                "clean_records": sum(t is None for t in truth),
                "cross_item_pairs": len(cross),
            }
        )
    return rows


def sweep_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| min_span_words | min_span_ratio | truncated recall | parts < 13 words "
        "| false flags (t0) | cross-item pairs |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t, s = r["truncated"], r["truncated_under_13_words"]
        lines.append(
            f"| {r['min_span_words'] or 'off'} | {r['min_span_ratio']} "
            f"| {100 * t['found'] / t['planted']:.2f}% ({t['found']} / {t['planted']}) "
            f"| {s['found']} / {s['planted']} | {r['false_flags']} / {r['clean_records']} "
            f"| {r['cross_item_pairs']} |"
        )
    return "\n".join(lines)


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    for kind in KINDS:
        label = f"recall {kind}" + ("" if kind in TARGET_KINDS else " (not a target)")
        row(label, [pct(results[n]["recall"][kind]) for n in names])
    row(
        "recall truncated, parts >= n words",
        [pct(results[n]["recall_truncated_at_least_n_words"]) for n in names],
    )
    row(
        "truncated parts < n words found",
        [
            "{found} / {planted}".format(**results[n]["truncated_shorter_than_n_words"])
            for n in names
        ],
    )
    row(
        "false flags on clean records",
        [
            f"{results[n]['false_flags']} / {results[n]['clean_records']} "
            f"({pct(results[n]['false_flag_rate'])})"
            for n in names
        ],
    )
    row("unplanted items reported", [str(results[n]["false_items"]) for n in names])
    row("scan MB/s per core", [f"{results[n]['mb_per_s_per_core']:.1f}" for n in names])
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--gsm8k", type=Path, default=DATA / "gsm8k" / "test.jsonl")
    p.add_argument("--t0", type=Path, default=DATA / "t0_templates")
    p.add_argument("--per-kind", type=int, default=150, help="GSM8K items planted per edit kind")
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument("--threads", type=int, default=1, help="threads for the end-to-end run")
    p.add_argument("--no-janitor", action="store_true")
    p.add_argument("--janitor-limit", type=int, default=None, help="scan only the first N records")
    p.add_argument("--sweep", action="store_true", help="sweep the span criterion's settings")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results" / "leakage.json")
    args = p.parse_args()
    if args.sweep:
        with tempfile.TemporaryDirectory() as tmp:
            rows = sweep(args, Path(tmp))
        print(sweep_table(rows))
        out = args.out.with_name("leakage_sweep.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"seed": args.seed, "rows": rows}, indent=2) + "\n")
        return 0
    if args.per_kind * len(KINDS) > 1319:
        p.error("--per-kind too large: GSM8K test has 1319 items")
    with tempfile.TemporaryDirectory() as tmp:
        setup = build(args, Path(tmp))
        print(
            f"corpus: {sum(t is None for t in setup['truth'])} clean t0 records + "
            f"{sum(t is not None for t in setup['truth'])} planted; reference: "
            f"{len(setup['questions'])} GSM8K test questions",
            file=sys.stderr,
        )
        results: dict[str, dict[str, Any]] = {
            "curagate (all methods)": run_curagate(
                setup, ("exact", "ngram", "minhash"), args.threads
            ),
            "curagate (ngram only)": run_curagate(setup, ("ngram",), args.threads),
            "curagate (ngram only, no span)": run_curagate(
                setup, ("ngram",), args.threads, min_span_words=0
            ),
            "curagate (ngram only, n=8, no span)": run_curagate(
                setup, ("ngram",), args.threads, 8, min_span_words=0
            ),
        }
        if not args.no_janitor:
            jan = run_janitor(setup, args.janitor_limit)
            if jan is not None:
                results["lm-eval janitor (13-gram, python)"] = jan
    print(table(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": {
            "per_kind": args.per_kind,
            "seed": args.seed,
            "ngram": 13,
            "cpu_count": os.cpu_count(),
        },
        "results": results,
    }
    args.out.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
