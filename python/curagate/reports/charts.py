"""Inline SVG charts for the static reports, as data for ``partials/chart.html``.

Python places the shapes (arithmetic reads better here than in a template) and the
one chart partial draws any of them, escaping every label. Coordinates are formatted
to fixed decimals so the same input gives byte-identical SVG. No jinja2 here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Anchor = Literal["start", "middle", "end"]


@dataclass(frozen=True)
class Rect:
    x: str
    y: str
    width: str
    height: str
    fill: str
    tip: str = ""
    kind: str = "rect"


@dataclass(frozen=True)
class Text:
    x: str
    y: str
    text: str
    anchor: Anchor = "start"
    cls: str = ""
    kind: str = "text"


@dataclass(frozen=True)
class Line:
    x1: str
    y1: str
    x2: str
    y2: str
    stroke: str
    stroke_width: str = "1"
    tip: str = ""
    kind: str = "line"


Shape = Rect | Text | Line


@dataclass(frozen=True)
class Chart:
    """One SVG: ``title`` is its accessible name and its heading line."""

    title: str
    width: int
    height: int
    shapes: tuple[Shape, ...]


def _n(x: float) -> str:
    return f"{x:.1f}"


def hbars(items: list[tuple[str, float, str]], *, title: str, width: int = 640) -> Chart | None:
    """Horizontal bars, one per (label, value, colour); None when there is nothing to draw."""
    if not items:
        return None
    top = max(v for _, v, _ in items) or 1.0
    bar_h, label_w = 20, 220
    height = 30 + bar_h * len(items)
    shapes: list[Shape] = [Text("0", "16", title, cls="t")]
    for i, (label, v, colour) in enumerate(items):
        y = 26 + i * bar_h
        w = (width - label_w - 60) * v / top
        shapes += [
            Text(str(label_w - 6), str(y + 14), label[:32], anchor="end"),
            Rect(str(label_w), str(y + 2), _n(w), str(bar_h - 4), colour, f"{label}: {v:g}"),
            Text(_n(label_w + w + 4), str(y + 14), f"{v:g}"),
        ]
    return Chart(title, width, height, tuple(shapes))


def histogram(
    edges: list[float], counts: list[int], *, title: str, colour: str = "#5b7db1", width: int = 640
) -> Chart | None:
    """Vertical bars over ``len(counts)`` bins bounded by ``edges``; the axis shows the range."""
    if not counts:
        return None
    labels = [f"{edges[i]}-{edges[i + 1]}" for i in range(len(counts))]
    top = float(max(counts)) or 1.0
    height, base, left = 200, 170, 40
    bw = (width - left - 10) / len(counts)
    shapes: list[Shape] = [
        Text("0", "16", title, cls="t"),
        Text(str(left - 4), "34", f"{top:g}", anchor="end"),
        Line(str(left), str(base), str(width - 10), str(base), "#888"),
    ]
    for i, (label, c) in enumerate(zip(labels, counts, strict=True)):
        h = (base - 30) * c / top
        x = left + i * bw
        shapes.append(
            Rect(_n(x + 1), _n(base - h), _n(max(bw - 2, 1)), _n(h), colour, f"{label}: {c:g}")
        )
    shapes += [
        Text(str(left), str(base + 16), f"{edges[0]}"),
        Text(str(width - 10), str(base + 16), f"{edges[len(counts)]}", anchor="end"),
    ]
    return Chart(title, width, height + 20, tuple(shapes))


CANDIDATE, BASE, THRESHOLD = "#0969da", "#8c959f", "#cf222e"


def _value(x: float | None) -> str:
    """A gate value as the gate report's tables print it."""
    from curagate.gate.metrics import num  # gate charts only: audit reports stay off gate

    return "-" if x is None else num(float(x))


def paired_bars(
    title: str,
    values: dict[str, tuple[float | None, float | None]],
    thresholds: dict[str, dict[str, float | None]] | None = None,
) -> Chart:
    """Candidate vs base bars per metric on a 0..1 axis, with min/max threshold lines."""
    thresholds = thresholds or {}
    row_h, label_w, bar_w = 34, 170, 420
    height = 30 + row_h * len(values) + 20
    shapes: list[Shape] = [
        Text("0", "16", title, cls="t"),
        Rect(str(label_w), "22", "10", "8", CANDIDATE),
        Text(str(label_w + 14), "30", "candidate"),
        Rect(str(label_w + 90), "22", "10", "8", BASE),
        Text(str(label_w + 104), "30", "base"),
        Line(str(label_w + 160), "26", str(label_w + 176), "26", THRESHOLD, "2"),
        Text(str(label_w + 180), "30", "threshold"),
    ]
    for i, (name, (cand, base)) in enumerate(values.items()):
        y = 40 + i * row_h
        c = max(0.0, min(1.0, float(cand or 0)))
        b = max(0.0, min(1.0, float(base or 0)))
        shapes += [
            Text("0", str(y + 14), name),
            Rect(str(label_w), str(y), _n(c * bar_w), "11", CANDIDATE),
            Rect(str(label_w), str(y + 13), _n(b * bar_w), "11", BASE),
            # The values as the report's tables print them (bars are clipped to 0..1).
            Text(str(label_w + bar_w + 8), str(y + 10), _value(cand)),
            Text(str(label_w + bar_w + 8), str(y + 23), _value(base)),
        ]
        for key in ("min", "max"):
            t = thresholds.get(name, {}).get(key)
            if t is not None:
                x = _n(label_w + max(0.0, min(1.0, float(t))) * bar_w)
                shapes.append(Line(x, str(y - 2), x, str(y + 26), THRESHOLD, "2", f"{key} {t}"))
    shapes.append(Line(str(label_w), "36", str(label_w), str(height - 14), "#d0d7de"))
    return Chart(title, label_w + bar_w + 150, height, tuple(shapes))


__all__ = ["Chart", "Line", "Rect", "Text", "hbars", "histogram", "paired_bars"]
