"""Rendering an audit: audit.json, audit.md, report.html and sample.jsonl.

report.html is self-contained (inline CSS and SVG, no scripts, no external
resources) so it can be attached to a CI run or mailed as one file; it is
``reports/templates/report_audit.html`` (autoescaped). No record content appears
in the reports (only the sample file holds records, redacted by default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curagate.audit.engine import AuditResult
from curagate.audit.rules import RULES
from curagate.io.atomic import write_text_atomic
from curagate.reports import charts, render_report
from curagate.reports.markdown import md_cell, md_code
from curagate.text import percent

MD_ROW_REFS = 20  # row references audit.md lists per finding (report.html and audit.json: all kept)

SCHEMA_FILE = Path(__file__).with_name("audit.schema.json")

_SEV_COLOR = {"error": "#c0392b", "warning": "#d68910", "info": "#2e86c1"}


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _label(value: Any) -> str:
    """A label class as shown: itself, or quoted with its invisible parts escaped when it
    has spaces at its ends or characters that do not print ('pos', 'pos ' and 'pos\u200b'
    are three classes; they all showed as pos)."""
    text = str(value)
    return text if text.isprintable() and text == text.strip() else repr(text)


def _fmt_share(x: float) -> str:
    return percent(x)


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
        f"{inp['quarantined_rows']} quarantined by the reader (each under the rule that says why). Formats: "
        + (", ".join(f"{k} ({v})" for k, v in inp["formats"].items()) or "none")
        + "."
        + (
            " Non-text content parts (kept, not read by the text checks): "
            + ", ".join(f"{md_cell(k)} ({v})" for k, v in inp["non_text_parts"].items())
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
            out.append(
                f"| {f['rule']} {f['name']} | {f['severity']} | {f['count']} | "
                f"{md_cell(f['message'])} |"
            )
        out.append("")
        for f in report["findings"]:
            if f["rows"]:
                # Said whenever rows found are left out: 30 rows listed 20 with no word, as
                # rows_truncated (beyond max_row_refs) was false (found by attack).
                shown, found = f["rows"][:MD_ROW_REFS], max(f["count"], len(f["rows"]))
                more = f" (first {len(shown)} of {found} shown)" if len(shown) < found else ""
                out.append(
                    f"- **{f['rule']}** rows{more}: "
                    + ", ".join(md_code(r, table=False) for r in shown)
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
        out += [
            f"## Labels ({md_code(lab['field'], table=False)})",
            "",
            "| label | rows | share |",
            "|---|---|---|",
        ]
        for k, v in lab["counts"].items():
            out.append(f"| {md_cell(_label(k))} | {v} | {_fmt_share(lab['shares'][k])} |")
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
    else:
        out += [
            "## Leakage",
            "",
            "Not checked: no golden sets were read (none named by `leakage.reference` in the "
            "config and no `./golden_sets` folder, `--no-golden`, or LEAK001 switched off).",
            "",
        ]
    sm = report["sample"]
    out += [
        f"Sample for manual review: {md_code(sm['file'], table=False)} ({sm['n']} records, seed {sm['seed']}).",
        "",
    ]
    return "\n".join(out)


def _html_context(report: dict[str, Any]) -> dict[str, Any]:
    """What ``report_audit.html`` draws: the report's own dicts plus placed charts."""
    s = report["summary"]
    findings = report["findings"]
    stats = report["stats"]
    length_charts = []
    for unit, group in sorted(stats["lengths"].items()):
        if isinstance(group, dict):
            for name, st in sorted(group.items()):
                if isinstance(st, dict):
                    length_charts.append(
                        charts.histogram(
                            st["histogram"]["edges"],
                            st["histogram"]["counts"],
                            title=f"{name} length in {unit}: p50 {st['p50']}, p90 {st['p90']}, "
                            f"p99 {st['p99']}, max {st['max']}",
                        )
                    )
    labels = None
    if "labels" in stats:
        lab = stats["labels"]
        labels = {
            "field": lab["field"],
            "chart": charts.hbars(
                [(_label(k), float(v), "#48a868") for k, v in lab["counts"].items()],
                title=f"rows per class of {lab['field']}",
            ),
        }
    mix_chart = None
    if "mix" in stats:
        m = stats["mix"]
        mix_chart = charts.hbars(
            [
                ("single-turn", float(m["single_turn"]), "#5b7db1"),
                ("multi-turn", float(m["multi_turn"]), "#48a868"),
            ],
            title=f"conversations (system prompt in {percent(m['system_prompt_share'], 1)})",
        )
    return {
        "s": s,
        "status": "passed" if s["passed"] else "failed",
        "inp": report["inputs"],
        "findings": findings,
        "findings_chart": charts.hbars(
            [
                (f"{f['rule']} {f['name']}", float(f["count"]) or 1.0, _SEV_COLOR[f["severity"]])
                for f in findings
            ],
            title="Findings by rule (rows affected; dataset-level findings count 1)",
        ),
        "length_charts": length_charts,
        "labels": labels,
        "mix_chart": mix_chart,
        "pii": [[f"{rid} {RULES[rid].name}", n] for rid, n in stats["pii"].items()],
        "sample": report["sample"],
    }


def to_html(report: dict[str, Any]) -> str:
    """report.html from the shared template set (jinja2 is imported on this call only)."""
    return render_report("report_audit.html", **_html_context(report))


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
