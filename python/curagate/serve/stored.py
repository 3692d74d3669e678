"""Typed reads of a stored gate report, for display.

The registry keeps every report offered, accepted or not, so a stored report may be any
bytes: ``not json``, ``[1, 2, 3]``, a report.md given as ``--gate-report``. What the pages
show of one (its checks, the gate's own metrics) is read through these models; a report of
another shape is *unreadable* (None), never an error page. Only the fields shown are typed,
with the types ``curagate gate`` writes them in (see ``gate/report_schema.json``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from curagate.gate.report import check_rows


class _Shown(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _Stats(_Shown):
    ci_low: float | None = None
    ci_high: float | None = None


class _Check(_Shown):
    id: str
    name: str
    verdict: Literal["pass", "warn", "fail"]
    message: str
    candidate: float | None = None
    base: float | None = None
    delta: float | None = None
    stats: _Stats | None = None


class _Checks(_Shown):
    checks: list[_Check] = []


class _Metric(_Shown):
    candidate: float | None = None
    base: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None


class _Result(_Shown):
    golden_set: str | None = None
    metrics: dict[str, _Metric] | None = None


class _Results(_Shown):
    results: list[_Result] = []


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def checks(raw: bytes) -> list[dict[str, str]] | None:
    """The report's checks as the checks table shows them (failing first), or None when the
    report is not a JSON object whose checks have the gate's shape."""
    try:
        doc = _Checks.model_validate(_load(raw))
    except ValidationError:
        return None
    rows = []
    for c in doc.checks:
        row = c.model_dump(exclude={"stats"})
        st = c.stats
        if st is not None and st.ci_low is not None and st.ci_high is not None:
            row["stats"] = {"ci_low": st.ci_low, "ci_high": st.ci_high}
        rows.append(row)
    return check_rows({"checks": rows})


def gate_metrics(raw: bytes) -> list[dict[str, Any]] | None:
    """The gate's own metrics per golden set (candidate, base, delta, CI, p, significant),
    or None when the report is not a JSON object whose results have the gate's shape."""
    try:
        doc = _Results.model_validate(_load(raw))
    except ValidationError:
        return None
    return [
        {"set": res.golden_set, "metric": name, **m.model_dump()}
        for res in doc.results
        for name, m in sorted((res.metrics or {}).items())
    ]


def golden_set_digests(raw: bytes) -> dict[str, str]:
    """{golden set name: sha256} as the report lists them ({} when it does not): two
    reports whose set of one name differs matched items that share only an id."""
    doc = _load(raw)
    sets = doc.get("golden_sets") if isinstance(doc, dict) else None
    return {
        str(g["name"]): str(g["sha256"])
        for g in (sets if isinstance(sets, list) else [])
        if isinstance(g, dict) and isinstance(g.get("name"), str) and "sha256" in g
    }


def gate_digest(raw: bytes) -> str | None:
    """The sha256 of the gate file (thresholds, sets, decoding) the report was made with,
    or None when the report does not record one."""
    doc = _load(raw)
    gate = doc.get("gate") if isinstance(doc, dict) else None
    sha = gate.get("sha256") if isinstance(gate, dict) else None
    return sha if isinstance(sha, str) else None
