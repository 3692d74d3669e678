"""Exact Jaccard ground truth: an all-pairs similarity join with prefix filtering.

Nothing here is estimated. Shingles get exact integer ids (each word gets an id; a 5-gram is
the tuple of its 5 word ids, packed into two 64-bit words and made unique by sorting), so two
shingles share an id iff their strings are equal. Candidate pairs come from prefix filtering
(tokens ordered rarest first; a set of size n keeps its first n - ceil(t*n) + 1 tokens; any
pair with J >= t shares a prefix token) and a size filter (min/max >= t); every candidate is
verified with exact set intersection, in integer arithmetic (10*|A&B| >= 7*|A|B|| for t=0.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from shingles import NGRAM, words

WORD_BITS = 21
PAD = (1 << WORD_BITS) - 1  # fills the missing words of a text shorter than one shingle


@dataclass
class ShingleSets:
    """Per-doc sorted unique shingle ids, CSR layout."""

    ids: NDArray[np.int64]
    offsets: NDArray[np.int64]
    vocab_size: int

    @property
    def sizes(self) -> NDArray[np.int64]:
        return np.diff(self.offsets)


def shingle_sets(texts: list[str], n: int = NGRAM) -> ShingleSets:
    vocab: dict[str, int] = {}
    flat: list[int] = []
    lens = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        ws = words(text)
        lens[i] = len(ws)
        flat.extend(vocab.setdefault(w, len(vocab)) for w in ws)
    if len(vocab) >= PAD:
        raise SystemExit(f"bench: {len(vocab)} distinct words exceed the {WORD_BITS}-bit packing")
    w = np.asarray(flat, dtype=np.uint64)
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    # Window starts: every position with n words left in its doc; one padded window for
    # docs shorter than n (but not empty).
    nwin = np.where(lens >= n, lens - n + 1, (lens > 0).astype(np.int64))
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), nwin)
    first = np.concatenate(([0], np.cumsum(nwin)[:-1]))
    pos = starts[doc] + (np.arange(len(doc), dtype=np.int64) - first[doc])
    end = (starts + lens)[doc]
    cols = []
    for k in range(n):
        p = pos + k
        cols.append(np.where(p < end, w[np.minimum(p, max(len(w) - 1, 0))], np.uint64(PAD)))
    hi = np.zeros(len(doc), dtype=np.uint64)
    lo = np.zeros(len(doc), dtype=np.uint64)
    split = (n + 1) // 2
    for k, col in enumerate(cols):
        if k < split:
            hi = (hi << np.uint64(WORD_BITS)) | col
        else:
            lo = (lo << np.uint64(WORD_BITS)) | col
    if split * WORD_BITS > 64:
        raise SystemExit(f"bench: n={n} does not pack into 2x64 bits")
    order = np.lexsort((lo, hi))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (hi[order][1:] != hi[order][:-1]) | (lo[order][1:] != lo[order][:-1])
    sid = np.empty(len(order), dtype=np.int64)
    sid[order] = np.cumsum(new) - 1
    nshingles = int(new.sum())
    key = np.unique(doc * nshingles + sid)  # sorted by doc, then id; repeats removed
    d = key // nshingles
    offsets = np.searchsorted(d, np.arange(len(texts) + 1)).astype(np.int64)
    return ShingleSets(ids=key % nshingles, offsets=offsets, vocab_size=nshingles)


def _matrix(s: ShingleSets) -> sp.csr_matrix:
    n = len(s.offsets) - 1
    return sp.csr_matrix(
        (np.ones(len(s.ids), dtype=np.int32), s.ids.astype(np.int64), s.offsets),
        shape=(n, s.vocab_size),
    )


def intersections(
    s: ShingleSets,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    batch: int = 200_000,
    matrix: sp.csr_matrix | None = None,
) -> NDArray[np.int64]:
    """|S(a[k]) & S(b[k])| for every k, exactly (sparse row products: sorted merges in C)."""
    m = _matrix(s) if matrix is None else matrix
    out = np.zeros(len(a), dtype=np.int64)
    for lo in range(0, len(a), batch):
        prod = m[a[lo : lo + batch]].multiply(m[b[lo : lo + batch]])
        out[lo : lo + batch] = np.asarray(prod.sum(axis=1)).ravel()
    return out


def jaccard_at_least(
    s: ShingleSets,
    a: NDArray[np.int64],
    b: NDArray[np.int64],
    threshold: float,
    matrix: sp.csr_matrix | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    t = Fraction(threshold).limit_denominator(1000)
    inter = intersections(s, a, b, matrix=matrix)
    union = s.sizes[a] + s.sizes[b] - inter
    ok = (t.denominator * inter >= t.numerator * union) & (union > 0)
    jac = np.divide(inter, union, out=np.zeros(len(a)), where=union > 0)
    return ok, jac


def candidate_pairs(
    s: ShingleSets, threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs (i < j) sharing a prefix token and passing the size filter, as an (m, 2) array,
    with the number of prefix tokens they share, most shared first.

    The pairs come from P @ P.T over the doc x prefix-token matrix: each distinct pair once,
    without materializing the quadratic number of (pair, shared token) occurrences that big
    templated clusters produce.
    """
    t = Fraction(threshold).limit_denominator(1000)
    sizes = s.sizes
    ndocs = len(sizes)
    doc_of = np.repeat(np.arange(ndocs, dtype=np.int64), sizes)
    df = np.bincount(s.ids, minlength=s.vocab_size)
    rank = np.empty(s.vocab_size, dtype=np.int64)
    rank[np.lexsort((np.arange(s.vocab_size), df))] = np.arange(s.vocab_size)
    r = rank[s.ids]
    order = np.lexsort((r, doc_of))  # each doc's tokens, rarest first
    r = r[order]
    pos_in_doc = np.arange(len(r), dtype=np.int64) - s.offsets[doc_of]
    need = (t.numerator * sizes + t.denominator - 1) // t.denominator  # ceil(t*n)
    prefix_len = sizes - need + 1
    keep = pos_in_doc < prefix_len[doc_of]
    prefix = sp.csr_matrix(
        (np.ones(int(keep.sum()), dtype=np.int32), (doc_of[keep], r[keep])),
        shape=(ndocs, s.vocab_size),
    )
    shared = sp.triu(prefix @ prefix.T, k=1).tocoo()
    i, j, c = shared.row.astype(np.int64), shared.col.astype(np.int64), shared.data.astype(np.int64)
    ok = t.denominator * np.minimum(sizes[i], sizes[j]) >= t.numerator * np.maximum(
        sizes[i], sizes[j]
    )
    i, j, c = i[ok], j[ok], c[ok]
    o = np.lexsort((j, i, -c))
    return np.stack((i[o], j[o]), axis=1), c[o]


def components(n: int, edges: NDArray[np.int64]) -> NDArray[np.int64]:
    """Label of each node = lowest node index of its connected component."""
    from scipy.sparse.csgraph import connected_components

    if len(edges) == 0:
        return np.arange(n, dtype=np.int64)
    graph = sp.coo_matrix(
        (np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n)
    )
    _, comp = connected_components(graph, directed=False)
    _, first = np.unique(comp, return_index=True)  # lowest index of each component
    label: NDArray[np.int64] = first[comp].astype(np.int64)
    return label


def removed_from_labels(label: NDArray[np.int64]) -> NDArray[np.int64]:
    """All docs but the lowest index of each component."""
    return np.flatnonzero(label != np.arange(len(label)))


@dataclass
class GroundTruth:
    removed: NDArray[np.int64]
    label: NDArray[np.int64]  # lowest doc index of each doc's component
    candidates: int  # pairs left by prefix + size filtering
    verified: int  # candidates whose exact Jaccard was computed
    edges: int  # verified pairs with J >= threshold


def compute(
    texts: list[str], threshold: float, batch: int = 20_000
) -> tuple[GroundTruth, ShingleSets]:
    """Exact components of the J >= threshold graph.

    A candidate whose two docs are already connected cannot change the components, so it is
    skipped: the join only verifies what it must (big templated clusters would otherwise
    cost a quadratic number of exact intersections). Candidates sharing the most prefix
    tokens go first: they are the likeliest edges, so clusters close early.
    """
    s = shingle_sets(texts)
    cand, _ = candidate_pairs(s, threshold)
    m = _matrix(s)
    n = len(texts)
    idx = np.arange(n)
    label = idx.copy()
    verified = edges = 0
    for lo in range(0, len(cand), batch):
        c = cand[lo : lo + batch]
        c = c[label[c[:, 0]] != label[c[:, 1]]]
        if len(c) == 0:
            continue
        ok, _ = jaccard_at_least(s, c[:, 0], c[:, 1], threshold, matrix=m)
        verified += len(c)
        edges += int(ok.sum())
        if ok.any():
            moved = np.flatnonzero(label != idx)
            tree = np.stack((moved, label[moved]), axis=1)
            label = components(n, np.concatenate((tree, c[ok])))
    gt = GroundTruth(
        removed=removed_from_labels(label),
        label=label,
        candidates=len(cand),
        verified=verified,
        edges=edges,
    )
    return gt, s


def _brute_force_removed(texts: list[str], threshold: float) -> NDArray[np.int64]:
    from shingles import shingles

    t = Fraction(threshold).limit_denominator(1000)
    sets = [frozenset(shingles(x)) for x in texts]
    edges = [
        (i, j)
        for i in range(len(sets))
        for j in range(i + 1, len(sets))
        if (inter := len(sets[i] & sets[j])) * t.denominator
        >= t.numerator * (len(sets[i]) + len(sets[j]) - inter)
        and sets[i]
        and sets[j]
    ]
    return removed_from_labels(
        components(len(texts), np.array(edges, dtype=np.int64).reshape(-1, 2))
    )


if __name__ == "__main__":
    # Self-check: the join against all pairs of Python sets on the first N docs of the corpus.
    import argparse

    import corpus

    ap = argparse.ArgumentParser(description="check the exact join against brute force")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--threshold", type=float, default=0.7)
    args = ap.parse_args()
    sample = corpus.read(corpus.build(None))[: args.docs]
    got, _ = compute(sample, args.threshold)
    want = _brute_force_removed(sample, args.threshold)
    same = np.array_equal(got.removed, want)
    print(
        f"{args.docs} docs: join removes {len(got.removed)}, brute force {len(want)}: "
        f"{'identical' if same else 'DIFFERENT'}"
    )
    raise SystemExit(0 if same else 1)
