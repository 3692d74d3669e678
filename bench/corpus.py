"""Benchmark corpora: the real t0 templates corpus and deterministic scale-ups of it.

The base corpus holds real templated near-duplicates (one instance rendered through several
prompt templates). Larger corpora append, with a seeded RNG, fresh docs (base records with
half their words replaced) and perturbed copies of recent docs (word deletions,
substitutions from the corpus vocabulary, adjacent swaps), so that some variants stay above
the Jaccard threshold and some fall below it: the ground truth then has pairs on both sides
of the boundary, not only trivial copies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SOURCE = BENCH_DIR.parent.parent / "shared" / "data" / "t0_templates"
CORPORA_DIR = BENCH_DIR / "results" / "corpora"
SEED = 20261129

# Edit rate (fraction of words touched) per variant, drawn from three bands. With word
# 5-grams one edit changes up to 5 shingles, so J ~ (1 - 5p) / (1 + 5p): the first band
# stays well above 0.7, the middle straddles it, the last falls clearly below.
RATE_BANDS = ((0.40, 0.0, 0.02), (0.30, 0.02, 0.08), (0.30, 0.08, 0.25))
FRESH = 0.5  # share of generated docs that start a new cluster
WINDOW = 50_000  # variants copy one of the last WINDOW docs


def load_base(source: Path = DEFAULT_SOURCE) -> list[str]:
    """Keys of the t0 corpus (prompt + "\\n" + completion), files in sorted order."""
    files = sorted(source.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"bench: no *.jsonl under {source}; pass --source DIR")
    texts: list[str] = []
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    texts.append(f"{row['prompt']}\n{row['completion']}")
    return texts


def _edit(words: list[str], rate: float, vocab: list[str], rng: np.random.Generator) -> list[str]:
    words = list(words)
    for _ in range(int(rng.binomial(len(words), rate))):
        if len(words) < 3:
            break
        pos = int(rng.integers(len(words) - 1))
        op = int(rng.integers(3))
        if op == 0:
            del words[pos]
        elif op == 1:
            words[pos] = vocab[int(rng.integers(len(vocab)))]
        else:
            words[pos], words[pos + 1] = words[pos + 1], words[pos]
    return words


def _variants(base: list[str], count: int, seed: int) -> Iterator[str]:
    """Half fresh docs, half near-duplicate variants of a recent doc.

    A fresh doc is a random base doc with half of its words replaced by corpus words (J to
    anything ~0: a new cluster seed). A variant edits one of the last WINDOW docs at a rate
    from RATE_BANDS. Parents come from a sliding window, so each doc gets ~0.5 variants
    whatever the size: the duplicate rate and cluster sizes stay the same from 100K to 10M
    and time can scale linearly (drawing parents from the whole corpus would grow clusters,
    and the candidate pairs of every tool, quadratically).
    """
    rng = np.random.default_rng(seed)
    words_of = [t.split() for t in base]
    vocab = [w for ws in words_of for w in ws]
    probs = np.array([b[0] for b in RATE_BANDS])
    window: list[list[str]] = list(words_of[-WINDOW:])
    for k in range(count):
        if rng.random() < FRESH:
            src = words_of[int(rng.integers(len(base)))]
            words = [vocab[int(rng.integers(len(vocab)))] if rng.random() < 0.5 else w for w in src]
        else:
            lo, hi = RATE_BANDS[int(rng.choice(len(RATE_BANDS), p=probs))][1:]
            words = _edit(window[int(rng.integers(len(window)))], rng.uniform(lo, hi), vocab, rng)
        if len(window) < WINDOW:
            window.append(words)
        else:
            window[k % WINDOW] = words
        yield " ".join(words)


def corpus_path(size: int) -> Path:
    return CORPORA_DIR / f"t0_{size}.jsonl"


def build(size: int | None, source: Path = DEFAULT_SOURCE, seed: int = SEED) -> Path:
    """Write (once) the corpus of `size` docs as JSONL `{"text": ...}`; None = the base corpus.

    The first docs are the base corpus unchanged (truncated if `size` is smaller), the rest
    perturbed variants. Cached on disk: the same size and seed always give the same file.
    """
    base = load_base(source)
    n = len(base) if size is None else size
    path = corpus_path(n)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for text in base[:n]:
            fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        for text in _variants(base, max(0, n - len(base)), seed):
            fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def read(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def count(path: Path) -> int:
    """Docs in a corpus file, without holding them (10M docs of text do not fit in RAM here)."""
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))
