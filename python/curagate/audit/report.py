"""Rendering an audit: audit.json, audit.md, report.html and sample.jsonl.

report.html is self-contained (inline CSS and SVG, no scripts, no external
resources) so it can be attached to a CI run or mailed as one file. All
data-derived text is HTML-escaped; no record content appears in the reports
(only the sample file holds records, redacted by default).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from curagate.audit.engine import AuditResult
from curagate.audit.rules import RULES
from curagate.io.atomic import write_text_atomic

SCHEMA_FILE = Path(__file__).with_name("audit.schema.json")

_SEV_COLOR = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _fmt_share(x: float) -> str:
    return f"{x:.2%}"


def to_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    inp = report["inputs"]
    status = "PASSED" if s["passed"] else "FAILED"
    out = [
        "# curagate audit",
        "",
        f"**{status}**: {s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info.",
        "",
        f"{inp['total_rows']} rows in {len(inp['files'])} file(s); {inp['valid_rows']} valid, "
        f"{inp['quarantined_rows']} unreadable. Formats: "
        + (", ".join(f"{k} ({v})" for k, v in inp["formats"].items()) or "none")
        + "."
        + (
            " Non-text content parts (kept, not read by the text checks): "
            + ", ".join(f"{k} ({v})" for k, v in inp["non_text_parts"].items())
            + "."
            if inp.get("non_text_parts")
            else ""
        ),
        "",
        "## Findings",
        "",
    ]
    if report["findings"]:
        out += ["| rule | severity | rows | message |", "|---|---|---|---|"]
        for f in report["findings"]:
            msg = f["message"].replace("|", "\\|")
            out.append(f"| {f['rule']} {f['name']} | {f['severity']} | {f['count']} | {msg} |")
        out.append("")
        for f in report["findings"]:
            if f["rows"]:
                more = " (first shown)" if f["rows_truncated"] else ""
                out.append(
                    f"- **{f['rule']}** rows{more}: " + ", ".join(f"`{r}`" for r in f["rows"][:20])
                )
        out.append("")
    else:
        out += ["No findings.", ""]
    lengths = report["stats"]["lengths"]
    out += [
        "## Lengths",
        "",
        "| series | count | min | p50 | p90 | p99 | max | cv |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for unit, group in sorted(lengths.items()):
        if not isinstance(group, dict):
            continue
        for name, st in sorted(group.items()):
            if isinstance(st, dict):
                out.append(
                    f"| {name} {unit} | {st['count']} | {st['min']} | {st['p50']} | {st['p90']} | "
                    f"{st['p99']} | {st['max']} | {st['cv']} |"
                )
    out.append("")
    if "labels" in report["stats"]:
        lab = report["stats"]["labels"]
        out += [f"## Labels (`{lab['field']}`)", "", "| label | rows | share |", "|---|---|---|"]
        for k, v in lab["counts"].items():
            out.append(
                f"| {k.replace('|', chr(92) + '|')} | {v} | {_fmt_share(lab['shares'][k])} |"
            )
        out.append("")
    if "mix" in report["stats"]:
        m = report["stats"]["mix"]
        out += [
            "## Conversation mix",
            "",
            f"{m['conversations']} conversations: {m['single_turn']} single-turn, {m['multi_turn']} "
            f"multi-turn ({_fmt_share(m['multi_turn_share'])}); system prompt in "
            f"{_fmt_share(m['system_prompt_share'])}.",
            "",
        ]
    pii = report["stats"]["pii"]
    out += ["## PII and secrets (counts only)", ""]
    out += [f"- {rid} {RULES[rid].name}: {n}" for rid, n in pii.items()]
    out.append("")
    if "leakage" in report["stats"]:
        lk = report["stats"]["leakage"]
        out += [
            "## Leakage",
            "",
            f"{lk['leaking_rows']} row(s) leak {lk['leaked_reference_items']} golden item(s) "
            f"({lk['ngram']}-gram).",
            "",
        ]
    sm = report["sample"]
    out += [f"Sample for manual review: `{sm['file']}` ({sm['n']} records, seed {sm['seed']}).", ""]
    return "\n".join(out)


def _svg_bars(
    items: list[tuple[str, float, str]], *, title: str, width: int = 640, horizontal: bool = False
) -> str:
    """A bar chart as inline SVG; items are (label, value, colour)."""
    esc = html.escape
    if not items:
        return ""
    top = max(v for _, v, _ in items) or 1.0
    if horizontal:
        bar_h, label_w = 20, 220
        height = 30 + bar_h * len(items)
        parts = [
            f'<svg role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{esc(title)}</title>',
            f'<text x="0" y="16" class="t">{esc(title)}</text>',
        ]
        for i, (label, v, colour) in enumerate(items):
            y = 26 + i * bar_h
            w = (width - label_w - 60) * v / top
            parts.append(
                f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{esc(label[:32])}</text>'
                f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="{colour}">'
                f"<title>{esc(label)}: {v:g}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{v:g}</text>'
            )
        parts.append("</svg>")
        return "".join(parts)
    height, base, left = 200, 170, 40
    bw = (width - left - 10) / len(items)
    parts = [
        f'<svg role="img" width="{width}" height="{height + 20}" '
        f'viewBox="0 0 {width} {height + 20}"><title>{esc(title)}</title>',
        f'<text x="0" y="16" class="t">{esc(title)}</text>',
        f'<text x="{left - 4}" y="34" text-anchor="end">{top:g}</text>',
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#888"/>',
    ]
    for i, (label, v, colour) in enumerate(items):
        h = (base - 30) * v / top
        x = left + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{esc(label)}: {v:g}</title></rect>'
        )
    first, last = items[0][0].split("-")[0], items[-1][0].split("-")[-1]
    parts.append(f'<text x="{left}" y="{base + 16}">{esc(first)}</text>')
    parts.append(f'<text x="{width - 10}" y="{base + 16}" text-anchor="end">{esc(last)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hist_svg(title: str, st: dict[str, Any]) -> str:
    edges, counts = st["histogram"]["edges"], st["histogram"]["counts"]
    items = [(f"{edges[i]}-{edges[i + 1]}", float(c), "#5b7db1") for i, c in enumerate(counts)]
    return _svg_bars(items, title=title)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;max-width:70rem;color:#222}
h1{margin-bottom:.2rem}.pass{color:#1e8449}.fail{color:#c0392b}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top;font-size:.9rem}th{background:#f3f3f3}
.sev-error{color:#c0392b;font-weight:600}.sev-warning{color:#b9770e;font-weight:600}.sev-info{color:#2e86c1}
svg{display:block;margin:.5rem 0 1rem;font-size:11px}svg .t{font-size:13px;font-weight:600}
code{font-size:.85rem}details{margin:.2rem 0}
"""


def to_html(report: dict[str, Any]) -> str:
    esc = html.escape
    s = report["summary"]
    inp = report["inputs"]
    status = "passed" if s["passed"] else "failed"
    body = [
        "<h1>curagate audit</h1>",
        f'<p class="{"pass" if s["passed"] else "fail"}"><strong>{status.upper()}</strong>: '
        f"{s['errors']} error(s), {s['warnings']} warning(s), {s['infos']} info.</p>",
        f"<p>{inp['total_rows']} rows in {len(inp['files'])} file(s); {inp['valid_rows']} valid, "
        f"{inp['quarantined_rows']} unreadable.</p>",
        "<h2>Findings</h2>",
    ]
    findings = report["findings"]
    if findings:
        body.append(
            _svg_bars(
                [
                    (
                        f"{f['rule']} {f['name']}",
                        float(f["count"]) or 1.0,
                        _SEV_COLOR[f["severity"]],
                    )
                    for f in findings
                ],
                title="Findings by rule (rows affected; dataset-level findings count 1)",
                horizontal=True,
            )
        )
        body.append("<table><tr><th>rule</th><th>severity</th><th>rows</th><th>message</th></tr>")
        for f in findings:
            rows = ""
            if f["rows"]:
                more = " (first shown)" if f["rows_truncated"] else ""
                rows = (
                    f"<details><summary>row references{more}</summary><code>"
                    + "<br>".join(esc(r) for r in f["rows"])
                    + "</code></details>"
                )
            body.append(
                f"<tr><td>{esc(f['rule'])}<br><small>{esc(f['name'])}</small></td>"
                f'<td class="sev-{esc(f["severity"])}">{esc(f["severity"])}</td>'
                f"<td>{f['count']}</td><td>{esc(f['message'])}{rows}</td></tr>"
            )
        body.append("</table>")
    else:
        body.append("<p>No findings.</p>")
    body.append("<h2>Length distributions</h2>")
    for unit, group in sorted(report["stats"]["lengths"].items()):
        if isinstance(group, dict):
            for name, st in sorted(group.items()):
                if isinstance(st, dict):
                    body.append(
                        _hist_svg(
                            f"{name} length in {unit}: p50 {st['p50']}, p90 {st['p90']}, "
                            f"p99 {st['p99']}, max {st['max']}",
                            st,
                        )
                    )
    if "labels" in report["stats"]:
        lab = report["stats"]["labels"]
        body.append(f"<h2>Label distribution ({esc(lab['field'])})</h2>")
        body.append(
            _svg_bars(
                [(k, float(v), "#48a868") for k, v in lab["counts"].items()],
                title=f"rows per class of {lab['field']}",
                horizontal=True,
            )
        )
    if "mix" in report["stats"]:
        m = report["stats"]["mix"]
        body.append("<h2>Conversation mix</h2>")
        body.append(
            _svg_bars(
                [
                    ("single-turn", float(m["single_turn"]), "#5b7db1"),
                    ("multi-turn", float(m["multi_turn"]), "#48a868"),
                ],
                title=f"conversations (system prompt in {m['system_prompt_share']:.1%})",
                horizontal=True,
            )
        )
    body.append("<h2>PII and secrets (counts only)</h2><table><tr><th>rule</th><th>hits</th></tr>")
    for rid, n in report["stats"]["pii"].items():
        body.append(f"<tr><td>{esc(rid)} {esc(RULES[rid].name)}</td><td>{n}</td></tr>")
    body.append("</table>")
    sm = report["sample"]
    body.append(
        f"<p>Sample for manual review: <code>{esc(sm['file'])}</code> ({sm['n']} records, "
        f"seed {sm['seed']}).</p>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>curagate audit: {status}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def write_outputs(result: AuditResult, out: Path) -> dict[str, Path]:
    """Write every output file atomically; returns them by kind."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "audit.json",
        "markdown": out / "audit.md",
        "html": out / "report.html",
        "sample": out / "sample.jsonl",
    }
    write_text_atomic(paths["json"], to_json(result.report))
    write_text_atomic(paths["markdown"], to_markdown(result.report))
    write_text_atomic(paths["html"], to_html(result.report))
    write_text_atomic(
        paths["sample"],
        "".join(json.dumps(s, sort_keys=True, ensure_ascii=False) + "\n" for s in result.sample),
    )
    return paths
