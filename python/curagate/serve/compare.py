"""Item-by-item comparison of two gate runs (or one run's candidate with its base).

Items are matched by (golden set, item id). "A" is the newer side (a report's
candidate), "B" the one it is compared with (the production version's candidate, or
the report's own base). A flip right→wrong is an item B answered correctly and A
does not. The paired interval is the Wald interval for a difference of paired
proportions (closed form, so a 10,000-item page stays fast); significance is
McNemar's test on the discordant pairs, as in the gate.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from curagate.errors import InputError
from curagate.gate.stats import mcnemar

Z95 = 1.959963984540054
_CACHE: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
_CACHE_SIZE = 8


def parse_items(sha: str, raw: bytes) -> list[dict[str, Any]]:
    """Parse items.jsonl once per content address (the bytes were checked against it)."""
    hit = _CACHE.get(sha)
    if hit is not None:
        _CACHE.move_to_end(sha)
        return hit
    rows = []
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise InputError(f"stored items {sha[:12]}: line {n} is not usable JSON") from None
        if isinstance(row, dict):
            rows.append(row)
    _CACHE[sha] = rows
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return rows


def _text(x: Any) -> str:
    return x if isinstance(x, str) else json.dumps(x, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Row:
    set: str
    id: str
    prompt: str
    reference: str
    slices: dict[str, str]
    a_output: str
    b_output: str
    a_answer: Any
    b_answer: Any
    a_correct: bool
    b_correct: bool
    # The A report's LLM-judge verdict on its candidate vs its base, both orders (or None).
    judge: dict[str, Any] | None = None

    @property
    def flip(self) -> str | None:
        if self.a_correct == self.b_correct:
            return None
        return "wrong→right" if self.a_correct else "right→wrong"

    def to_dict(self) -> dict[str, Any]:
        return {
            "set": self.set,
            "id": self.id,
            "flip": self.flip,
            "prompt": self.prompt,
            "reference": self.reference,
            "slices": self.slices,
            "a_output": self.a_output,
            "b_output": self.b_output,
            "a_correct": self.a_correct,
            "b_correct": self.b_correct,
            "judge": self.judge,
        }


def pair_rows(
    a_items: list[dict[str, Any]], b_items: list[dict[str, Any]] | None
) -> tuple[list[Row], int]:
    """Matched rows, and how many items were in only one report. ``b_items`` None:
    compare each item's candidate with its own base."""
    other: dict[tuple[str, str], dict[str, Any]] = {}
    b_side = "base"
    if b_items is not None:
        other = {(str(r.get("set")), str(r.get("id"))): r for r in b_items}
        b_side = "candidate"
    rows = []
    for r in a_items:
        key = (str(r.get("set")), str(r.get("id")))
        b = r if b_items is None else other.get(key)
        if b is None:
            continue
        rows.append(
            Row(
                set=key[0],
                id=key[1],
                prompt=_text(r.get("prompt", "")),
                reference=_text(r.get("reference", "")),
                slices={str(k): str(v) for k, v in (r.get("slices") or {}).items()},
                a_output=_text(r.get("candidate_output", "")),
                b_output=_text(b.get(f"{b_side}_output", "")),
                a_answer=r.get("candidate_answer"),
                b_answer=b.get(f"{b_side}_answer"),
                a_correct=bool(r.get("candidate_correct")),
                b_correct=bool(b.get(f"{b_side}_correct")),
                judge=r["judge"] if isinstance(r.get("judge"), dict) else None,
            )
        )
    unmatched = 0 if b_items is None else len(a_items) + len(b_items) - 2 * len(rows)
    return rows, unmatched


def paired_stats(rows: Iterable[Row]) -> dict[str, Any]:
    rows = list(rows)
    n = len(rows)
    a = [r.a_correct for r in rows]
    b = [r.b_correct for r in rows]
    fixes = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    regressions = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    pa = sum(a) / n if n else 0.0
    pb = sum(b) / n if n else 0.0
    delta = pa - pb
    var = ((fixes + regressions) - (fixes - regressions) ** 2 / n) / n**2 if n else 0.0
    half = Z95 * math.sqrt(max(var, 0.0))
    test = mcnemar(a, b)
    return {
        "n": n,
        "a": pa,
        "b": pb,
        "delta": delta,
        "ci_low": delta - half,
        "ci_high": delta + half,
        "p_value": test.p_value,
        "significant": test.p_value < 0.05 and n > 0,
        "fixes": fixes,
        "regressions": regressions,
    }


def per_set(rows: list[Row]) -> list[dict[str, Any]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        groups[r.set].append(r)
    out = [{"set": s, **paired_stats(g)} for s, g in sorted(groups.items())]
    if len(groups) > 1:
        out.append({"set": "all", **paired_stats(rows)})
    return out


def per_slice(rows: list[Row]) -> list[dict[str, Any]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        for col, val in r.slices.items():
            groups[f"{col}={val}"].append(r)
    return [{"key": k, **paired_stats(g)} for k, g in sorted(groups.items())]


def select(
    rows: list[Row], *, changed: bool, set_name: str | None, slice_key: str | None
) -> list[Row]:
    col, _, val = (slice_key or "").partition("=")
    return [
        r
        for r in rows
        if (not changed or r.flip is not None)
        and (not set_name or r.set == set_name)
        and (not slice_key or r.slices.get(col) == val)
    ]


def order(rows: list[Row]) -> list[Row]:
    """Regressions first, then fixes, then the rest; stable within each."""
    rank = {"right→wrong": 0, "wrong→right": 1, None: 2}
    return sorted(rows, key=lambda r: rank[r.flip])


__all__ = [
    "Row",
    "order",
    "pair_rows",
    "paired_stats",
    "parse_items",
    "per_set",
    "per_slice",
    "select",
]
