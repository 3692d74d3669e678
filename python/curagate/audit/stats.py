"""Distribution summaries: percentiles, histograms, IQR outliers.

A distribution is kept as an exact integer histogram (value -> count): two
shards' histograms add up to the histogram of both, so every statistic below
(nearest-rank percentiles included) is the same however the data was split.
Pure Python over the distinct values; numbers are rounded so that audit.json
is byte-identical across platforms.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any


def _r(x: float) -> float:
    return round(x, 4)


def percentile(sorted_vals: list[int], q: float) -> int:
    """Nearest-rank percentile (an actual value, no interpolation)."""
    if not sorted_vals:
        return 0
    k = max(1, math.ceil(q / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def counts_of(vals: Iterable[int]) -> dict[int, int]:
    """The exact histogram of ``vals``."""
    out: dict[int, int] = {}
    for v in vals:
        out[v] = out.get(v, 0) + 1
    return out


def add_counts(into: dict[int, int], other: Mapping[int, int]) -> None:
    """Merge histogram ``other`` into ``into`` (exact: counts add)."""
    for v, c in other.items():
        into[v] = into.get(v, 0) + c


def histogram(counts: Mapping[int, int], bins: int) -> dict[str, list[int]]:
    """Equal-width integer bins from 0 to the maximum (last bin inclusive)."""
    top = max(counts) if counts else 0
    width = max(1, math.ceil((top + 1) / bins))
    edges = [i * width for i in range(bins + 1)]
    out = [0] * bins
    for v, c in counts.items():
        out[min(v // width, bins - 1)] += c
    return {"edges": edges, "counts": out}


def _moments(counts: Mapping[int, int]) -> tuple[int, float, float]:
    """(n, mean, std) of the histogram, from exact integer sums (no float accumulation)."""
    items = [(v, c) for v, c in counts.items() if c]
    n = sum(c for _, c in items)
    if not n:
        return 0, 0.0, 0.0
    s1 = sum(v * c for v, c in items)
    s2 = sum(v * v * c for v, c in items)
    return n, s1 / n, math.sqrt(float(Fraction(n * s2 - s1 * s1, n * n)))


def coefficient_of_variation(counts: Mapping[int, int]) -> float:
    """std / mean of the histogram, unrounded (LEN002 compares it to its limit: the
    summary's 4-decimal ``cv`` read 0.0999727 as 0.1, not below 0.1)."""
    _, mean, std = _moments(counts)
    return std / mean if mean else 0.0


def summarize_counts(counts: Mapping[int, int], bins: int) -> dict[str, Any]:
    """Summary of the distribution with exact histogram ``counts``.

    Mean and variance come from exact integer sums (no float accumulation),
    so the result does not depend on the order in which shards were merged.
    """
    items = sorted((v, c) for v, c in counts.items() if c)
    n, mean, std = _moments(counts)

    def pct(q: float) -> int:
        if not n:
            return 0
        k = max(1, math.ceil(q / 100 * n))
        seen = 0
        for v, c in items:
            seen += c
            if seen >= k:
                return v
        return items[-1][0]

    return {
        "count": n,
        "min": items[0][0] if n else 0,
        "max": items[-1][0] if n else 0,
        "mean": _r(mean),
        "std": _r(std),
        "cv": _r(std / mean) if mean else 0.0,
        "p25": pct(25),
        "p50": pct(50),
        "p75": pct(75),
        "p90": pct(90),
        "p95": pct(95),
        "p99": pct(99),
        "histogram": histogram(counts, bins),
    }


def summarize(vals: list[int], bins: int) -> dict[str, Any]:
    """:func:`summarize_counts` of a list of values."""
    return summarize_counts(counts_of(vals), bins)


def outlier_threshold(summary: dict[str, Any], k: float) -> float | None:
    """Q3 + k*IQR; None when the spread is zero (nothing stands out)."""
    iqr = summary["p75"] - summary["p25"]
    if iqr <= 0:
        return None
    return float(summary["p75"] + k * iqr)
