"""One function per tool: texts in, removed set out.

Each returns a dict with `removed` (sorted doc indices), optional `keeper` (for each removed
doc, the doc kept in its place, when the tool's output allows it), optional `flagged` (docs a
flag-only path marks, keepers included), and `phases` (seconds per step).

The peers have no tokenizer of their own for this task, so all of them receive the same word
5-gram strings (bench/shingles.py); that Python shingling is part of their end-to-end time
and reported separately as `shingle_s`. They emit LSH candidates, not a removed set, so they
share one glue step (`cluster`): keep candidates whose signature-estimated Jaccard (each
tool's own signatures: fraction of equal slots) is >= the threshold, take connected
components, keep the lowest index of each. That is what curagate does (verify, union-find,
survivor `first`), so the removed sets mean the same thing for every tool.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ground_truth import components, removed_from_labels
from shingles import NUM_PERM, THRESHOLD, shingles

LSH_BANDS_POW2 = 16  # rensa and FastSketchLSH need num_perm % bands == 0: 16 x 8 (S-curve ~0.707)
# Each peer's best setting: 32 bands x 4 rows (S-curve midpoint ~0.42; a pair at J = 0.7 becomes
# a candidate with probability 1 - (1 - 0.7^4)^32 = 0.9998) and every candidate verified by the
# exact Jaccard of its shingle sets, so no signature noise reaches the removed set.
BEST_BANDS = 32
SEED = 42

Result = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._t
        self._t = now


def pairs_from_csr(indptr: NDArray[np.int64], flat: NDArray[np.int64]) -> NDArray[np.int64]:
    """Unique (i < j) pairs from per-doc candidate lists."""
    n = len(indptr) - 1
    owner = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    flat = flat.astype(np.int64)
    keep = flat > owner
    packed = np.unique(owner[keep] * n + flat[keep])
    return np.stack((packed // n, packed % n), axis=1)


def pairs_from_lists(cands: list[list[int]]) -> NDArray[np.int64]:
    lens = np.fromiter((len(c) for c in cands), dtype=np.int64, count=len(cands))
    indptr = np.concatenate(([0], np.cumsum(lens)))
    flat = np.fromiter((j for c in cands for j in c), dtype=np.int64, count=int(indptr[-1]))
    return pairs_from_csr(indptr, flat)


def cluster(
    n: int,
    pairs: NDArray[np.int64],
    sigs: NDArray[Any] | None = None,
    threshold: float = THRESHOLD,
    batch: int = 100_000,
    estimate: Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64]] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Verify candidates on signatures, union them, keep the lowest index per component.

    `sigs` is the (docs x slots) signature matrix; a tool whose signatures live in Python
    objects passes `estimate` instead (its own Jaccard estimate for pairs a[k], b[k]), which
    avoids copying every signature into a matrix. Returns removed docs, their keepers, and
    the number of verified pairs (accepted edges).
    """
    label = np.arange(n, dtype=np.int64)
    edges: list[NDArray[np.int64]] = []
    accepted = 0
    for lo in range(0, len(pairs), batch):
        p = pairs[lo : lo + batch]
        p = p[label[p[:, 0]] != label[p[:, 1]]]  # already connected: cannot change anything
        if len(p) == 0:
            continue
        if estimate is not None:
            est = estimate(p[:, 0], p[:, 1])
        else:
            assert sigs is not None
            est = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
        ok = p[est >= threshold]
        accepted += len(ok)
        if len(ok):
            edges.append(ok)
            label = components(n, np.concatenate(edges))
            moved = np.flatnonzero(label != np.arange(n))
            edges = [np.stack((moved, label[moved]), axis=1)]
    removed = removed_from_labels(label)
    return removed, label[removed], accepted


CHUNK_DOCS = 100_000  # shingle + sketch this many docs at a time: bounded memory at 1M+


def _sketch_chunks(
    texts: list[str],
    clk: Clock,
    sketch: Callable[[list[Any]], Any],
    as_bytes: bool = False,
    sets: list[frozenset[int]] | None = None,
) -> list[Any]:
    """Shingle and sketch chunk by chunk (the shingle strings of 1M docs would need ~12 GB);
    returns one sketch output per chunk. Timed as `shingle_s` and `sketch_s`. With `sets`,
    each doc's shingle set (as Python string hashes: 64 bits, collisions negligible) is
    appended there for exact verification, timed as `shingle_s`."""
    out = []
    for lo in range(0, len(texts), CHUNK_DOCS):
        part = texts[lo : lo + CHUNK_DOCS]
        sh: list[Any] = [shingles(t) for t in part]
        if sets is not None:
            sets.extend(frozenset(map(hash, d)) for d in sh)
        if as_bytes:
            sh = [[s.encode("utf-8") for s in d] for d in sh]
        clk.lap("shingle_s")
        out.append(sketch(sh))
        del sh
        clk.lap("sketch_s")
    return out


def exact_estimate(
    sets: list[frozenset[int]],
) -> Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.float64]]:
    """Verification by exact Jaccard (1.0 = keep the pair), in the ground truth's integer
    arithmetic (10 |A & B| >= 7 |A | B|) so a pair at exactly 0.7 is judged the same way."""
    num, den = round(THRESHOLD * 10), 10

    def estimate(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.float64]:
        out = np.zeros(len(a), dtype=np.float64)
        for k, (i, j) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
            sa, sb = sets[i], sets[j]
            if not sa or not sb:
                continue
            inter = len(sa & sb)
            if den * inter >= num * (len(sa) + len(sb) - inter):
                out[k] = 1.0
        return out

    return estimate


def run_datasketch(texts: list[str], threads: int, best: bool = False) -> Result:
    """Shared setting: datasketch's own band choice for the threshold, verification on its
    signatures. Best: 32 x 4 bands (`params=`), exact verification."""
    from datasketch import MinHash, MinHashLSH

    clk = Clock()
    sets: list[frozenset[int]] | None = [] if best else None
    chunks = _sketch_chunks(
        texts, clk, lambda sh: MinHash.bulk(sh, num_perm=NUM_PERM), as_bytes=True, sets=sets
    )
    mhs = [m for c in chunks for m in c]
    params = (BEST_BANDS, NUM_PERM // BEST_BANDS) if best else None
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, params=params)
    with lsh.insertion_session() as session:
        for i, m in enumerate(mhs):
            session.insert(i, m, check_duplication=False)
    cands = [lsh.query(m) for m in mhs]
    clk.lap("lsh_s")
    pairs = pairs_from_lists(cands)
    if sets is not None:
        removed, keeper, accepted = cluster(len(texts), pairs, estimate=exact_estimate(sets))
    else:
        sigs = np.stack([m.hashvalues for m in mhs])
        removed, keeper, accepted = cluster(len(texts), pairs, sigs)
    clk.lap("cluster_s")
    return {
        "removed": removed,
        "keeper": keeper,
        "candidates": len(pairs),
        "accepted": accepted,
        "phases": clk.phases,
        "params": {
            "bands_rows": [lsh.b, lsh.r],
            "scheme": "affine32 (default)",
            "verify": "exact Jaccard" if best else "signature estimate",
        },
    }


def run_rensa(texts: list[str], threads: int, best: bool = False) -> Result:
    """Shared setting: 16 x 8 bands, verification on rensa's Jaccard estimate. Best: 32 x 4,
    exact verification."""
    from rensa import RMinHash, RMinHashLSH

    clk = Clock()
    sets: list[frozenset[int]] | None = [] if best else None
    chunks = _sketch_chunks(
        texts, clk, lambda sh: RMinHash.from_token_sets(sh, NUM_PERM, SEED), sets=sets
    )
    mhs = [m for c in chunks for m in c]
    bands = BEST_BANDS if best else LSH_BANDS_POW2
    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, bands)
    lsh.insert_many(mhs)
    cands = lsh.query_all(mhs)
    clk.lap("lsh_s")
    pairs = pairs_from_lists(cands)

    def estimate(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.fromiter(
            (mhs[i].jaccard(mhs[j]) for i, j in zip(a.tolist(), b.tolist(), strict=True)),
            dtype=np.float64,
            count=len(a),
        )

    removed, keeper, accepted = cluster(
        len(texts), pairs, estimate=exact_estimate(sets) if sets is not None else estimate
    )
    clk.lap("cluster_s")
    return {
        "removed": removed,
        "keeper": keeper,
        "candidates": len(pairs),
        "accepted": accepted,
        "phases": clk.phases,
        "params": {
            "bands_rows": [bands, NUM_PERM // bands],
            "sketch": "R-MinHash full set",
            "verify": "exact Jaccard" if best else "signature estimate",
        },
    }


def run_rensa_rho(texts: list[str], threads: int) -> Result:
    """rensa's fastest documented path: rho sketch (samples token positions) + one-shot flags.

    It returns one flag per doc, true for every member of a colliding group (the doc that
    should be kept included) and unverified, so there is no removed set to score; the flags
    are scored against the ground-truth set of docs that have a near duplicate.
    """
    from rensa import RMinHash, RMinHashLSH

    clk = Clock()
    lsh = RMinHashLSH(THRESHOLD, NUM_PERM, LSH_BANDS_POW2)
    flags: list[bool] = []
    one_shot = len(texts) <= CHUNK_DOCS

    def sketch_and_flag(sh: list[Any]) -> None:
        mat = RMinHash.digest_matrix_from_token_sets_rho(sh, NUM_PERM, SEED)
        if one_shot:  # the documented one-shot path (band folding, sparse verification)
            flags.extend(lsh.query_duplicate_flags_matrix_one_shot(mat))
        else:
            # A rho matrix cannot be concatenated: above one chunk, each chunk is inserted
            # and flagged against the docs before it.
            flags.extend(lsh.insert_matrix_and_query_duplicate_flags(mat, start_key=len(flags)))

    _sketch_chunks(texts, clk, sketch_and_flag)
    clk.lap("lsh_s")
    return {
        "removed": None,
        "flagged": np.flatnonzero(flags),
        "phases": clk.phases,
        "params": {
            "bands_rows": [LSH_BANDS_POW2, NUM_PERM // LSH_BANDS_POW2],
            "sketch": "rho (samples tokens)",
            "flags": "one-shot"
            if one_shot
            else "insert_matrix_and_query_duplicate_flags per chunk",
        },
    }


def run_fastsketch(texts: list[str], threads: int, best: bool = False) -> Result:
    """Shared setting: 16 bands, verification on its signatures. Best: 32 bands, exact."""
    from FastSketchLSH import LSH, FastSimilaritySketch

    clk = Clock()
    sets: list[frozenset[int]] | None = [] if best else None
    sketcher = FastSimilaritySketch(size=NUM_PERM, seed=SEED)
    sigs = np.concatenate(
        _sketch_chunks(texts, clk, lambda sh: sketcher.batch(sh, num_threads=threads), sets=sets)
    )
    bands = BEST_BANDS if best else LSH_BANDS_POW2
    lsh = LSH(num_perm=NUM_PERM, num_bands=bands, num_threads=threads)
    lsh.insert(sigs)
    flat, indptr = lsh.query(sigs, format="csr")
    clk.lap("lsh_s")
    pairs = pairs_from_csr(np.asarray(indptr, dtype=np.int64), np.asarray(flat, dtype=np.int64))
    if sets is not None:
        removed, keeper, accepted = cluster(len(texts), pairs, estimate=exact_estimate(sets))
    else:
        removed, keeper, accepted = cluster(len(texts), pairs, sigs)
    clk.lap("cluster_s")
    return {
        "removed": removed,
        "keeper": keeper,
        "candidates": len(pairs),
        "accepted": accepted,
        "phases": clk.phases,
        "params": {
            "bands_rows": [bands, NUM_PERM // bands],
            "sketch": "Fast Similarity Sketch",
            "verify": "exact Jaccard" if best else "signature estimate",
        },
    }


def run_fastsketch_flags(texts: list[str], threads: int) -> Result:
    """FastSketchLSH's fused one-shot path: insert + duplicate flags (keepers flagged too)."""
    from FastSketchLSH import LSH, FastSimilaritySketch

    clk = Clock()
    sketcher = FastSimilaritySketch(size=NUM_PERM, seed=SEED)
    sigs = np.concatenate(
        _sketch_chunks(texts, clk, lambda sh: sketcher.batch(sh, num_threads=threads))
    )
    lsh = LSH(num_perm=NUM_PERM, num_bands=LSH_BANDS_POW2, num_threads=threads)
    flags = np.asarray(lsh.insert_and_query_duplicates(sigs), dtype=bool)
    clk.lap("lsh_s")
    return {
        "removed": None,
        "flagged": np.flatnonzero(flags),
        "phases": clk.phases,
        "params": {
            "bands_rows": [LSH_BANDS_POW2, NUM_PERM // LSH_BANDS_POW2],
            "sketch": "Fast Similarity Sketch",
        },
    }


TOOLS: dict[str, Callable[[list[str], int], Result]] = {
    "datasketch": run_datasketch,
    "datasketch-best": lambda texts, threads: run_datasketch(texts, threads, best=True),
    "rensa": run_rensa,
    "rensa-best": lambda texts, threads: run_rensa(texts, threads, best=True),
    "rensa-rho": run_rensa_rho,
    "fastsketchlsh": run_fastsketch,
    "fastsketchlsh-best": lambda texts, threads: run_fastsketch(texts, threads, best=True),
    "fastsketchlsh-flags": run_fastsketch_flags,
}
