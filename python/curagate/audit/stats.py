"""Distribution summaries: percentiles, histograms, IQR outliers.

Pure Python over lists of ints so the audit needs no numpy; numbers are
rounded so that audit.json is byte-identical across platforms.
"""

from __future__ import annotations

import math
from typing import Any


def _r(x: float) -> float:
    return round(x, 4)


def percentile(sorted_vals: list[int], q: float) -> int:
    """Nearest-rank percentile (an actual value, no interpolation)."""
    if not sorted_vals:
        return 0
    k = max(1, math.ceil(q / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def histogram(vals: list[int], bins: int) -> dict[str, list[int]]:
    """Equal-width integer bins from 0 to the maximum (last bin inclusive)."""
    top = max(vals) if vals else 0
    width = max(1, math.ceil((top + 1) / bins))
    edges = [i * width for i in range(bins + 1)]
    counts = [0] * bins
    for v in vals:
        counts[min(v // width, bins - 1)] += 1
    return {"edges": edges, "counts": counts}


def summarize(vals: list[int], bins: int) -> dict[str, Any]:
    s = sorted(vals)
    n = len(s)
    mean = sum(s) / n if n else 0.0
    std = math.sqrt(sum((v - mean) ** 2 for v in s) / n) if n else 0.0
    return {
        "count": n,
        "min": s[0] if n else 0,
        "max": s[-1] if n else 0,
        "mean": _r(mean),
        "std": _r(std),
        "cv": _r(std / mean) if mean else 0.0,
        "p25": percentile(s, 25),
        "p50": percentile(s, 50),
        "p75": percentile(s, 75),
        "p90": percentile(s, 90),
        "p95": percentile(s, 95),
        "p99": percentile(s, 99),
        "histogram": histogram(s, bins),
    }


def outlier_threshold(summary: dict[str, Any], k: float) -> float | None:
    """Q3 + k*IQR; None when the spread is zero (nothing stands out)."""
    iqr = summary["p75"] - summary["p25"]
    if iqr <= 0:
        return None
    return float(summary["p75"] + k * iqr)
