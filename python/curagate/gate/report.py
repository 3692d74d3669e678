"""Gate outputs: gate_report.json, report.md, report.html, junit.xml, terminal summary.

Everything is rendered from the report dict alone, so the JSON is the source
of truth and the other files can be regenerated from it. The HTML is
self-contained (inline CSS and SVG, no scripts, no external resources) so it
can be attached to a CI run or a release ticket and opened offline.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from curagate.io.atomic import write_text_atomic

# The JSON Schema of gate_report.json (schema_version 1), shipped with the package.
REPORT_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).with_name("report_schema.json")).read_text(encoding="utf-8")
)

VERDICT_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
COLORS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}


def write_reports(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        out_dir / "gate_report.json", json.dumps(report, indent=2, sort_keys=True) + "\n"
    )
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    write_text_atomic(out_dir / "report.html", render_html(report))
    write_text_atomic(out_dir / "junit.xml", render_junit(report))


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4f}"
    return str(x)


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.4f}"


def _ci(m: dict[str, Any]) -> str:
    if m.get("resamples", 0) == 0:
        return "-"
    return f"[{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]"


def _noise(m: dict[str, Any]) -> str:
    return "within noise" if m.get("within_noise") else "significant"


def _judge_summary(j: dict[str, Any]) -> list[str]:
    """Plain-text lines about a set's judge: who it is, whether it is trusted, and why."""
    who = j["judge"] or {}
    name = who.get("stated_identity") or who.get("spec", "")
    ident = who.get("sha256") or who.get("stated_digest") or "no weights digest"
    out = [f"judge: {name} ({who.get('kind', '')}, {ident})"]
    if "metrics" in j:
        cal = j["calibration"]
        cal_text = (
            f"agreement {cal['agreement']:.1%} with {cal['decisive_labels']} human better/worse "
            f"labels ({cal['labels']} in all), "
            f"kappa {cal['cohen_kappa']:.2f}"
            if cal.get("labels")
            else "no human labels (not calibrated)"
        )
        c = j["counts"]
        out.append(
            f"verdicts: trusted {'yes' if j['trusted'] else 'NO'}; {cal_text}; "
            f"candidate wins {c['candidate_wins']}, base wins {c['base_wins']}, ties "
            f"{c['ties']} (order flips {c['position_disagreements']}, unparsed {c['unparsed']})"
        )
    det = j.get("refusal_detector")
    if det:
        out.append(
            f"refusal detector: judge; differs from the regex on {det['regex_disagreements']} "
            f"of {det['responses']} responses"
        )
    return out


def _judge_rows(j: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (name, _fmt(m["value"]), f"[{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]", str(m["items"]))
        for name, m in j.get("metrics", {}).items()
    ]


def render_markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# Gate `{r['gate']['name']}`: {VERDICT_MARK[r['verdict']]}",
        "",
        f"- candidate: `{r['candidate']['spec']}` (sha256 `{_sha(r['candidate'])}`)",
        f"- base: `{r['base']['spec']}` (sha256 `{_sha(r['base'])}`)",
        f"- gate file: `{r['gate']['file']}` (sha256 `{r['gate']['sha256']}`)",
        f"- attestation: {_attestation_line(r)}",
        f"- checks: {r['summary']['pass']} pass, {r['summary']['warn']} warn, {r['summary']['fail']} fail"
        + (" (strict: warnings fail)" if r["strict"] else ""),
        "",
        "## Checks",
        "",
        "| verdict | id | check | candidate | base | delta | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in sorted(
        r["checks"], key=lambda c: ({"fail": 0, "warn": 1, "pass": 2}[c["verdict"]], c["name"])
    ):
        lines.append(
            f"| {VERDICT_MARK[c['verdict']]} | {c['id']} | {c['name']} | {_fmt(c['candidate'])} | "
            f"{_fmt(c['base'])} | {_signed(c['delta'])} | {_md_cell(c['message'])} |"
        )
    for res in r["results"]:
        lines += [
            "",
            f"## Golden set `{res['golden_set']}` ({res['task']}, {res['items']} items)",
            "",
            "| metric | candidate | base | delta | CI | p | |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in res["metrics"].items():
            p = m.get("mcnemar", {}).get("p_value", m["p_value"])
            lines.append(
                f"| {name} | {_fmt(m['candidate'])} | {_fmt(m['base'])} | {_signed(m['delta'])} | "
                f"{_ci(m)} | {_fmt(p)} | {_noise(m)} |"
            )
        if "judge" in res:
            lines += ["", "### LLM judge", ""]
            lines += [f"- {_md_cell(t)}" for t in _judge_summary(res["judge"])]
            rows = _judge_rows(res["judge"])
            if rows:
                lines += ["", "| judge metric | value | CI | items |", "|---|---|---|---|"]
                lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
        if "per_class" in res:
            lines += [
                "",
                "| class | precision (cand) | recall (cand) | precision (base) | recall (base) |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {_md_cell(c)} | {cp} | {cr} | {bp} | {br} |"
                for c, cp, cr, bp, br in _per_class_rows(res)
            ]
        for table in res["slices"]:
            metric_names = list(res["metrics"])
            lines += [
                "",
                f"### Slices by `{table['column']}`",
                "",
                "| value | n | " + " | ".join(f"{m} (cand / base)" for m in metric_names) + " |",
                "|---|---|" + "---|" * len(metric_names),
            ]
            for row in table["rows"]:
                cells = [
                    f"{_fmt(row['metrics'][m]['candidate'])} / {_fmt(row['metrics'][m]['base'])}"
                    for m in metric_names
                ]
                n = f"{row['n']}" + ("" if row["checked"] else " (too few, not checked)")
                lines.append(f"| {_md_cell(row['value'])} | {n} | " + " | ".join(cells) + " |")
        if res["failing_examples"]:
            lines += ["", "### Failing examples (candidate wrong; regressions first)", ""]
            for ex in res["failing_examples"]:
                lines += [
                    f"- `{ex['id']}`" + (" (base was right)" if ex["base_correct"] else ""),
                    f"  - input: {_md_cell(ex['input'][:300])}",
                    f"  - expected: {_md_cell(ex['expected'][:200])}",
                    f"  - candidate: {_md_cell(ex['candidate_output'][:200])}",
                    f"  - base: {_md_cell(ex['base_output'][:200])}",
                ]
    suite = r.get("regression_suite")
    if suite and suite.get("tasks"):
        lines += [
            "",
            "## General-capability regression suite (lm-eval)",
            "",
            "| task | candidate | base | delta | CI | McNemar p | |",
            "|---|---|---|---|---|---|---|",
        ]
        for task, t in suite["tasks"].items():
            lines.append(
                f"| {task} | {_fmt(t['candidate'])} | {_fmt(t['base'])} | {_signed(t['delta'])} | "
                f"{_ci(t)} | {_fmt(t['mcnemar']['p_value'])} | {_noise(t)} |"
            )
    cont = r["contamination"]
    lines += ["", "## Contamination", ""]
    if cont.get("checked"):
        lines.append(
            f"{cont['leaked_reference_items']} golden items found in the training data "
            f"({cont['ngram']}-gram overlap)."
        )
    else:
        lines.append(f"Not checked: {cont.get('reason')}")
    lines += [
        "",
        "## Golden sets",
        "",
        "| name | task | version | items | sha256 | license |",
        "|---|---|---|---|---|---|",
    ]
    for g in r["golden_sets"]:
        lines.append(
            f"| {g['name']} | {g['task']} | {g['version']} | {g['size']} | `{g['sha256'][:16]}` | "
            f"{_md_cell(g['license'])} |"
        )
    return "\n".join(lines) + "\n"


def _attestation_line(r: dict[str, Any]) -> str:
    att = r.get("attestation") or {}
    if att.get("signed"):
        return f"signed by key {str(att.get('keyid'))[:16]} ({att.get('file')})"
    return "unsigned (no --sign-key): this report cannot back a production promotion"


def _sha(side: dict[str, Any]) -> str:
    sha = side.get("sha256")
    return str(sha) if sha else "n/a (HTTP endpoint: weights not visible)"


def _per_class_rows(res: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(class, candidate P, candidate R, base P, base R) for a classification result."""
    cand, base = res["per_class"]["candidate"], res["per_class"]["base"]
    return [
        (
            lab,
            _fmt(cand[lab]["precision"]),
            _fmt(cand[lab]["recall"]),
            _fmt(base[lab]["precision"]),
            _fmt(base[lab]["recall"]),
        )
        for lab in cand
    ]


def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ").strip()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#1f2328;max-width:1200px}
h1 .v{padding:.1em .5em;border-radius:.3em;color:#fff}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top;font-size:.9em}
th{background:#f6f8fa} .pass{color:#1a7f37} .warn{color:#9a6700} .fail{color:#cf222e;font-weight:600}
pre{white-space:pre-wrap;margin:0;max-width:28em;font-size:.85em}
code{font-size:.85em} .muted{color:#656d76}
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _bar_chart(
    title: str, metrics: dict[str, dict[str, Any]], thresholds: dict[str, dict[str, Any]]
) -> str:
    """Candidate vs base bars per metric on a 0..1 axis, with min/max threshold lines."""
    names = list(metrics)
    row_h, label_w, bar_w = 34, 170, 420
    height = 30 + row_h * len(names) + 20
    parts = [
        f'<svg width="{label_w + bar_w + 150}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="0" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
        f'<rect x="{label_w}" y="22" width="10" height="8" fill="#0969da"/>'
        f'<text x="{label_w + 14}" y="30" font-size="11">candidate</text>'
        f'<rect x="{label_w + 90}" y="22" width="10" height="8" fill="#8c959f"/>'
        f'<text x="{label_w + 104}" y="30" font-size="11">base</text>'
        f'<line x1="{label_w + 160}" y1="26" x2="{label_w + 176}" y2="26" stroke="#cf222e" stroke-width="2"/>'
        f'<text x="{label_w + 180}" y="30" font-size="11">threshold</text>',
    ]
    for i, name in enumerate(names):
        m = metrics[name]
        y = 40 + i * row_h
        c = max(0.0, min(1.0, float(m["candidate"] or 0)))
        b = max(0.0, min(1.0, float(m["base"] or 0)))
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{_e(name)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{c * bar_w:.1f}" height="11" fill="#0969da"/>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 13}" width="{b * bar_w:.1f}" height="11" fill="#8c959f"/>'
        )
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 10}" font-size="11">{c:.3f}</text>')
        parts.append(f'<text x="{label_w + bar_w + 8}" y="{y + 23}" font-size="11">{b:.3f}</text>')
        for key in ("min", "max"):
            t = thresholds.get(name, {}).get(key)
            if t is not None:
                x = label_w + max(0.0, min(1.0, float(t))) * bar_w
                parts.append(
                    f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + 26}" '
                    f'stroke="#cf222e" stroke-width="2"><title>{key} {t}</title></line>'
                )
    parts.append(
        f'<line x1="{label_w}" y1="36" x2="{label_w}" y2="{height - 14}" stroke="#d0d7de"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def render_html(r: dict[str, Any]) -> str:
    v = r["verdict"]
    out = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>curagate gate {_e(r['gate']['name'])}: {VERDICT_MARK[v]}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>Gate <code>{_e(r["gate"]["name"])}</code> <span class="v" style="background:{COLORS[v]}">'
        f"{VERDICT_MARK[v]}</span></h1>",
        "<table>",
        f"<tr><th>candidate</th><td><code>{_e(r['candidate']['spec'])}</code><br>"
        f'<span class="muted">sha256 {_e(r["candidate"].get("sha256"))}</span></td></tr>',
        f"<tr><th>base</th><td><code>{_e(r['base']['spec'])}</code><br>"
        f'<span class="muted">sha256 {_e(r["base"].get("sha256"))}</span></td></tr>',
        f"<tr><th>gate file</th><td><code>{_e(r['gate']['file'])}</code><br>"
        f'<span class="muted">sha256 {_e(r["gate"]["sha256"])}</span></td></tr>',
        f"<tr><th>checks</th><td>{r['summary']['pass']} pass, {r['summary']['warn']} warn, "
        f"{r['summary']['fail']} fail{' (strict: warnings fail)' if r['strict'] else ''}</td></tr>",
        "</table>",
        "<h2>Checks</h2><table><tr><th>verdict</th><th>id</th><th>check</th><th>candidate</th>"
        "<th>base</th><th>delta</th><th>CI</th><th>detail</th></tr>",
    ]
    for c in sorted(
        r["checks"], key=lambda c: ({"fail": 0, "warn": 1, "pass": 2}[c["verdict"]], c["name"])
    ):
        st = c.get("stats") or {}
        ci = f"[{st['ci_low']:+.4f}, {st['ci_high']:+.4f}]" if "ci_low" in st else "-"
        out.append(
            f'<tr><td class="{c["verdict"]}">{VERDICT_MARK[c["verdict"]]}</td><td>{c["id"]}</td>'
            f"<td>{_e(c['name'])}</td><td>{_fmt(c['candidate'])}</td><td>{_fmt(c['base'])}</td>"
            f"<td>{_signed(c['delta'])}</td><td>{ci}</td><td>{_e(c['message'])}</td></tr>"
        )
    out.append("</table>")
    for res in r["results"]:
        name = res["golden_set"]
        thresholds = {
            c["metric"]: c["threshold"]
            for c in r["checks"]
            if c["id"] == "GATE001" and c["golden_set"] == name
        }
        out.append(
            f'<h2>Golden set <code>{_e(name)}</code> <span class="muted">{_e(res["task"])}, '
            f"{res['items']} items</span></h2>"
        )
        out.append(_bar_chart(f"{name}: candidate vs base", res["metrics"], thresholds))
        out.append(
            "<table><tr><th>metric</th><th>candidate</th><th>base</th><th>delta</th><th>CI</th>"
            "<th>p</th><th></th></tr>"
        )
        for m_name, m in res["metrics"].items():
            p = m.get("mcnemar", {}).get("p_value", m["p_value"])
            out.append(
                f"<tr><td>{_e(m_name)}</td><td>{_fmt(m['candidate'])}</td><td>{_fmt(m['base'])}</td>"
                f"<td>{_signed(m['delta'])}</td><td>{_ci(m)}</td><td>{_fmt(p)}</td>"
                f"<td>{_noise(m)}</td></tr>"
            )
        out.append("</table>")
        if "judge" in res:
            out.append("<h3>LLM judge</h3><ul>")
            out += [f"<li>{_e(t)}</li>" for t in _judge_summary(res["judge"])]
            out.append("</ul>")
            rows = _judge_rows(res["judge"])
            if rows:
                out.append(
                    "<table><tr><th>judge metric</th><th>value</th><th>CI</th><th>items</th></tr>"
                )
                out += [
                    f"<tr><td>{_e(a)}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>"
                    for a, b, c, d in rows
                ]
                out.append("</table>")
        if "per_class" in res:
            out.append(
                "<h3>Per class</h3><table><tr><th>class</th><th>precision (cand)</th>"
                "<th>recall (cand)</th><th>precision (base)</th><th>recall (base)</th></tr>"
            )
            for c, cp, cr, bp, br in _per_class_rows(res):
                out.append(
                    f"<tr><td>{_e(c)}</td><td>{cp}</td><td>{cr}</td><td>{bp}</td><td>{br}</td></tr>"
                )
            out.append("</table>")
        if "confusion_matrix" in res:
            cm = res["confusion_matrix"]["candidate"]
            cols = list(next(iter(cm.values())).keys()) if cm else []
            out.append(
                "<h3>Confusion matrix (candidate; rows = expected)</h3><table><tr><th></th>"
                + "".join(f"<th>{_e(c)}</th>" for c in cols)
                + "</tr>"
            )
            for ref, row in cm.items():
                out.append(
                    f"<tr><th>{_e(ref)}</th>"
                    + "".join(f"<td>{row[c]}</td>" for c in cols)
                    + "</tr>"
                )
            out.append("</table>")
        for table in res["slices"]:
            metric_names = list(res["metrics"])
            out.append(
                f"<h3>Slices by <code>{_e(table['column'])}</code></h3><table><tr><th>value</th>"
                "<th>n</th>"
                + "".join(f"<th>{_e(m)}<br>cand / base</th>" for m in metric_names)
                + "</tr>"
            )
            for row in table["rows"]:
                cells = []
                for m in metric_names:
                    mm = row["metrics"][m]
                    cls = f' class="{mm["verdict"]}"' if "verdict" in mm else ""
                    cells.append(f"<td{cls}>{_fmt(mm['candidate'])} / {_fmt(mm['base'])}</td>")
                n = f"{row['n']}" + (
                    "" if row["checked"] else ' <span class="muted">(not checked)</span>'
                )
                out.append(f"<tr><td>{_e(row['value'])}</td><td>{n}</td>{''.join(cells)}</tr>")
            out.append("</table>")
        if res["failing_examples"]:
            out.append(
                "<h3>Failing examples</h3><table><tr><th>id</th><th>input</th><th>expected</th>"
                "<th>candidate</th><th>base</th></tr>"
            )
            for ex in res["failing_examples"]:
                flag = ' <span class="fail">regression</span>' if ex["base_correct"] else ""
                out.append(
                    f"<tr><td><code>{_e(ex['id'])}</code>{flag}</td><td><pre>{_e(ex['input'])}</pre></td>"
                    f"<td><pre>{_e(ex['expected'])}</pre></td><td><pre>{_e(ex['candidate_output'])}</pre></td>"
                    f"<td><pre>{_e(ex['base_output'])}</pre></td></tr>"
                )
            out.append("</table>")
    suite = r.get("regression_suite")
    if suite and suite.get("tasks"):
        out.append("<h2>General-capability regression suite (lm-eval)</h2>")
        out.append(_bar_chart("regression suite", suite["tasks"], {}))
        out.append(
            "<table><tr><th>task</th><th>candidate</th><th>base</th><th>delta</th><th>CI</th>"
            "<th>McNemar p</th><th></th></tr>"
        )
        for task, t in suite["tasks"].items():
            out.append(
                f"<tr><td>{_e(task)}</td><td>{_fmt(t['candidate'])}</td><td>{_fmt(t['base'])}</td>"
                f"<td>{_signed(t['delta'])}</td><td>{_ci(t)}</td><td>{_fmt(t['mcnemar']['p_value'])}</td>"
                f"<td>{_noise(t)}</td></tr>"
            )
        out.append("</table>")
    cont = r["contamination"]
    out.append("<h2>Contamination</h2>")
    if cont.get("checked"):
        out.append(
            f"<p>{cont['leaked_reference_items']} golden items found in the training data "
            f"({cont['ngram']}-gram overlap).</p>"
        )
    else:
        out.append(f"<p>Not checked: {_e(cont.get('reason'))}</p>")
    out.append(
        "<h2>Golden sets</h2><table><tr><th>name</th><th>task</th><th>version</th><th>items</th>"
        "<th>sha256</th><th>provenance</th><th>license</th></tr>"
    )
    for g in r["golden_sets"]:
        out.append(
            f"<tr><td>{_e(g['name'])}</td><td>{_e(g['task'])}</td><td>{_e(g['version'])}</td>"
            f"<td>{g['size']}</td><td><code>{_e(g['sha256'][:16])}</code></td>"
            f"<td>{_e(g['provenance'])}</td><td>{_e(g['license'])}</td></tr>"
        )
    out.append("</table></body></html>\n")
    return "\n".join(out)


def render_junit(r: dict[str, Any]) -> str:
    """One testcase per check; warnings are failures under --strict, else noted in system-out."""
    checks = r["checks"]
    failing = [
        c for c in checks if c["verdict"] == "fail" or (r["strict"] and c["verdict"] == "warn")
    ]
    suites = ET.Element(
        "testsuites",
        name=f"curagate gate {r['gate']['name']}",
        tests=str(len(checks)),
        failures=str(len(failing)),
        errors="0",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"gate.{r['gate']['name']}",
        tests=str(len(checks)),
        failures=str(len(failing)),
        errors="0",
        skipped="0",
    )
    for c in checks:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=f"gate.{c['golden_set'] or 'gate'}",
            name=f"{c['id']} {c['name']}",
        )
        if c in failing:
            f = ET.SubElement(tc, "failure", message=c["message"], type=c["verdict"])
            f.text = json.dumps(c, sort_keys=True)
        else:
            so = ET.SubElement(tc, "system-out")
            so.text = f"{VERDICT_MARK[c['verdict']]}: {c['message']}"
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def terminal_summary(
    r: dict[str, Any], out_dir: Path, *, cache: tuple[int, int] | None = None
) -> str:
    """One screen: verdict, failing and warning checks first, then the metric table."""
    lines = [
        f"gate {r['gate']['name']}: {VERDICT_MARK[r['verdict']]}  "
        f"({r['summary']['pass']} pass, {r['summary']['warn']} warn, {r['summary']['fail']} fail)"
    ]
    bad = [c for c in r["checks"] if c["verdict"] != "pass"]
    for c in sorted(bad, key=lambda c: (c["verdict"] != "fail", c["name"]))[:12]:
        lines.append(f"  {VERDICT_MARK[c['verdict']]} {c['id']} {c['name']}: {c['message']}")
    if len(bad) > 12:
        lines.append(f"  ... {len(bad) - 12} more in report.md")
    for res in r["results"]:
        lines.append(f"  {res['golden_set']} ({res['items']} items)")
        for name, m in res["metrics"].items():
            lines.append(
                f"    {name:<20} cand {m['candidate']:.4f}  base {m['base']:.4f}  "
                f"delta {m['delta']:+.4f}  {_ci(m)}  {_noise(m)}"
            )
        if "judge" in res:
            lines += [f"    {t}" for t in _judge_summary(res["judge"])]
            for a, b, c, _ in _judge_rows(res["judge"]):
                lines.append(f"    {a:<20} {b}  {c}")
    suite = r.get("regression_suite")
    if suite and suite.get("tasks"):
        lines.append("  regression suite")
        for task, t in suite["tasks"].items():
            lines.append(
                f"    {task:<20} cand {t['candidate']:.4f}  base {t['base']:.4f}  "
                f"delta {t['delta']:+.4f}  {_noise(t)}"
            )
    if cache is not None:
        lines.append(f"  generations: {cache[0]} cached, {cache[1]} generated")
    lines.append(f"  attestation: {_attestation_line(r)}")
    lines.append(f"  reports: {out_dir}/gate_report.json, report.md, report.html, junit.xml")
    return "\n".join(lines)
