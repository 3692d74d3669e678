"""Gate outputs: gate_report.json, report.md, report.html, junit.xml, terminal summary.

Everything is rendered from the report dict alone, so the JSON is the source
of truth and the other files can be regenerated from it. The HTML is
self-contained (inline CSS and SVG, no scripts, no external resources) so it
can be attached to a CI run or a release ticket and opened offline; it is
``reports/templates/report_gate.html``, drawn from the values ``_html_context``
formats here (the same numbers report.md shows).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from curagate.gate.checks import CONTAMINATION
from curagate.gate.metrics import num, pct
from curagate.io.atomic import write_bytes_atomic, write_text_atomic
from curagate.reports import charts, render_report
from curagate.reports.markdown import md_cell, md_code
from curagate.reports.tables import Cell
from curagate.text import display_width, printable

# The JSON Schema of gate_report.json (schema_version 1), shipped with the package.
REPORT_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).with_name("report_schema.json")).read_text(encoding="utf-8")
)

VERDICT_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


def json_text(value: Any, output: str, **options: Any) -> str:
    """``value`` as JSON with sorted keys, for the gate output named ``output``.

    A NaN or infinity anywhere is a bug upstream (a metric of no items, a NaN setting):
    it raises, naming the output and where the number is, instead of writing the bare
    ``NaN`` that strict JSON parsers (and the report's schema) reject.
    """
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, **options)
    except ValueError as e:
        where = _non_finite_at(value, "")
        if where is None:
            raise
        raise ValueError(f"{output}: {where or '(top level)'} is not a finite number") from e


def _non_finite_at(value: Any, path: str) -> str | None:
    """The path (``checks[3].threshold.min``) of the first NaN or infinity in ``value``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        children = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for child_path, child in children:
        found = _non_finite_at(child, child_path)
        if found is not None:
            return found
    return None


def write_reports(report: dict[str, Any], out_dir: Path) -> bytes:
    """Write the four reports; returns the bytes of ``gate_report.json`` (what a signed
    run attests, never read back from the folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = (json_text(report, "gate_report.json", indent=2) + "\n").encode("utf-8")
    write_bytes_atomic(out_dir / "gate_report.json", raw)
    write_text_atomic(out_dir / "report.md", render_markdown(report))
    write_text_atomic(out_dir / "report.html", render_html(report))
    write_text_atomic(out_dir / "junit.xml", render_junit(report))
    return raw


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return num(x)
    return str(x)


def _check_value(c: dict[str, Any]) -> str:
    """A check's candidate value; GATE005's is a count of leaked items, printed as one
    (``2``: it read ``2.0000``, as if a share)."""
    x = c.get("candidate")
    if c["id"] == CONTAMINATION.id and isinstance(x, float) and x.is_integer():
        return str(int(x))
    return _fmt(x)


def _signed(x: float | None) -> str:
    return "-" if x is None else ("-" if x < 0 else "+") + num(abs(x))


def _ci(m: dict[str, Any]) -> str:
    if m.get("resamples", 0) == 0:
        return "-"
    return _interval(m)


def _interval(st: dict[str, Any]) -> str:
    """A delta's interval as its delta prints (``num``: 4 decimals, or 6 where 4 would
    hide it), signed: ``+.4f`` showed [-0.0000, -0.0000] beside a delta of -0.00004."""
    return f"[{_signed(st['ci_low'])}, {_signed(st['ci_high'])}]"


# How many characters of each failing example's texts gate_report.json keeps
# (``runner._failing_examples``): a text this long may have been cut there.
JSON_TEXT_LIMIT = 1000
# How many failing examples it keeps per set (``runner.MAX_FAILING_EXAMPLES``), first
# the regressions, without counting the rest.
FAILING_KEPT = 10


def _failing_note(res: dict[str, Any]) -> str:
    """Said of a set's failing examples when there may be more than are shown: the list
    stopped at 10 with no word that it had (15 wrong items read as 10)."""
    shown, total = len(res["failing_examples"]), res.get("failing_total")
    if isinstance(total, int) and not isinstance(total, bool):
        if total <= shown:
            return ""
        return (
            f"The first {shown} of {total}: the report keeps at most {FAILING_KEPT} per set; "
            "items.jsonl has every item (candidate_correct)."
        )
    if shown < FAILING_KEPT:  # a report written before failing_total
        return ""
    return (
        f"The first {FAILING_KEPT}: the report keeps at most {FAILING_KEPT} per set; "
        "items.jsonl has every item (candidate_correct)."
    )


def clip(text: str, limit: int, stored: str | None = None) -> tuple[str, str, str]:
    """``text`` within ``limit`` characters as (start, what was cut, end): its start and its
    end, where step-by-step answers put the graded part, around ``… [N more characters] …``
    (a bare ``[:200]`` cut two answers that differ only in their last line to the same
    text). A text at the JSON's own limit (``stored``, the JSON's text where ``text`` is
    it as shown) says that more may have been cut there. The marker is the renderer's,
    kept outside the quoted text, which cannot fake one."""
    at_limit = len(text if stored is None else stored) >= JSON_TEXT_LIMIT
    more = f" (the report keeps {JSON_TEXT_LIMIT})" if at_limit else ""
    if len(text) <= limit:
        return text, (f"[may be cut{more}]" if more else ""), ""
    tail = limit // 4
    head = limit - tail
    return text[:head], f"… [{len(text) - limit} more characters{more}] …", text[-tail:]


def _md_text(text: str, limit: int) -> str:
    """A failing example's text for report.md: code spans, the cut between them. Cut as
    shown, on one line: cut first, an answer followed by 60 spaces kept an end that the
    code span then stripped to nothing (found by re-attack)."""
    head, note, tail = clip(printable(text).strip(), limit, text)
    return " ".join(
        part
        for part in (md_code(head, table=False), note, md_code(tail, table=False) if tail else "")
        if part
    )


def _noise(m: dict[str, Any]) -> str:
    return "within noise" if m.get("within_noise") else "significant"


def _not_checked(reason: object) -> str:
    """The contamination section of a check that did not run: its reason starts with "not
    checked:" already (it is GATE005's message), which the section printed twice."""
    text = str(reason)
    if text.lower().startswith("not checked"):
        return text[:1].upper() + text[1:]
    return f"Not checked: {text}"


def _contamination_found(cont: dict[str, Any]) -> str:
    """The checked contamination scan in words, saying when --train-data replaced the run's
    own record of its training files."""
    given = (
        " given by --train-data, in place of the files the run record names"
        if cont.get("replaced_run_record")
        else ""
    )
    found = f"{cont['leaked_reference_items']} golden items found in the training data{given}"
    if "methods" not in cont:  # a report from before the methods were recorded
        return f"{found} ({cont['ngram']}-gram overlap)."
    # Named by the methods the scan ran: "(13-gram overlap)" was printed of items found by
    # exact match, MinHash or the span rule, and of a scan that ran no n-gram method.
    span = int(cont.get("min_span_words") or 0)
    how = {
        "exact": "exact match",
        "ngram": f"{cont['ngram']}-gram overlap" + (f" or a run of {span}+ words" if span else ""),
        "minhash": "MinHash near-duplicates",
    }
    methods = [m for m in how if m in cont["methods"]]
    by = Counter[str]()
    for one in (cont.get("golden_sets") or {}).values():
        by.update(one.get("by_method") or {})
    short = {"exact": "exact match", "ngram": "n-gram or span", "minhash": "MinHash"}
    counts = ", ".join(f"{short[m]} {by[m]}" for m in methods)
    looked = ", ".join(how[m] for m in methods[:-1])
    looked = f"{looked} and {how[methods[-1]]}" if looked else how[methods[-1]]
    return f"{found} (looked for by {looked}; found by {counts}; an item may count under several)."


def _agreement_text(cal: dict[str, Any]) -> str:
    """The judge's agreement with people: on how many pairs, each weighing once, when the
    report counts them (reports before it was counted do not: over labels)."""
    labels = f"{cal['decisive_labels']} human better/worse labels"
    if "decisive_pairs" not in cal:
        return f"agreement {pct(cal['agreement'])} with {labels} ({cal['labels']} in all)"
    return (
        f"agreement {pct(cal['agreement'])} on {cal['decisive_pairs']} pairs ({labels}, "
        f"each pair weighing once; {cal['labels']} in all)"
    )


def _judge_summary(j: dict[str, Any]) -> list[str]:
    """Plain-text lines about a set's judge: who it is, whether it is trusted, and why."""
    who = j["judge"] or {}
    name = who.get("stated_identity") or who.get("spec", "")
    ident = who.get("sha256") or who.get("stated_digest") or "no weights digest"
    out = [f"judge: {name} ({who.get('kind', '')}, {ident})"]
    if "metrics" in j:
        cal = j["calibration"]
        cal_text = (
            f"{_agreement_text(cal)}, kappa {cal['cohen_kappa']:.2f}"
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
        f"# Gate {md_code(r['gate']['name'], table=False)}: {VERDICT_MARK[r['verdict']]}",
        "",
        *[
            f"- {label}: {md_code(side['spec'], table=False)} "
            f"(sha256 {md_code(_sha(side), table=False)})"
            for label, side in (("candidate", r["candidate"]), ("base", r["base"]))
        ],
        f"- gate file: {md_code(r['gate']['file'], table=False)} "
        f"(sha256 {md_code(r['gate']['sha256'], table=False)})",
        f"- attestation: {md_cell(_attestation_line(r))}",
        f"- checks: {r['summary']['pass']} pass, {r['summary']['warn']} warn, {r['summary']['fail']} fail"
        + (" (strict: warnings fail)" if r["strict"] else ""),
        "",
        "## Checks",
        "",
        "| verdict | id | check | candidate | base | delta | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in _checks_sorted(r):
        lines.append(
            f"| {VERDICT_MARK[c['verdict']]} | {c['id']} | {md_cell(c['name'])} | {_check_value(c)} | "
            f"{_fmt(c['base'])} | {_signed(c['delta'])} | {md_cell(c['message'])} |"
        )
    for res in r["results"]:
        lines += [
            "",
            f"## Golden set {md_code(res['golden_set'], table=False)} "
            f"({md_cell(res['task'])}, {res['items']} items)",
            "",
            "| metric | candidate | base | delta | CI | p | |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, m in res["metrics"].items():
            p = m.get("mcnemar", {}).get("p_value", m["p_value"])
            lines.append(
                f"| {md_cell(_metric_name(name, m, res['items']))} | {_fmt(m['candidate'])} | "
                f"{_fmt(m['base'])} | {_signed(m['delta'])} | {_ci(m)} | {_fmt(p)} | {_noise(m)} |"
            )
        if res.get("not_measured"):
            lines.append("")
        lines += [
            f"- Not measured: {md_code(name, table=False)} ({md_cell(why)})"
            for name, why in res.get("not_measured", {}).items()
        ]
        if (past := past_context_line(res)) is not None:
            lines += ["", f"- {md_cell(past)}"]
        if "judge" in res:
            lines += ["", "### LLM judge", ""]
            lines += [f"- {md_cell(t)}" for t in _judge_summary(res["judge"])]
            rows = _judge_rows(res["judge"])
            if rows:
                lines += ["", "| judge metric | value | CI | items |", "|---|---|---|---|"]
                lines += [f"| {md_cell(a)} | {b} | {c} | {d} |" for a, b, c, d in rows]
        if "per_class" in res:
            lines += [
                "",
                "| class | precision (cand) | recall (cand) | precision (base) | recall (base) |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {md_cell(c)} | {cp} | {cr} | {bp} | {br} |"
                for c, cp, cr, bp, br in _per_class_rows(res)
            ]
        for table in res["slices"]:
            metric_names = list(res["metrics"])
            lines += [
                "",
                f"### Slices by {md_code(table['column'], table=False)}",
                "",
                "| value | n | "
                + " | ".join(f"{md_cell(m)} (cand / base)" for m in metric_names)
                + " |",
                "|---|---|" + "---|" * len(metric_names),
            ]
            for row in table["rows"]:
                cells = [md_cell(_slice_cell(row["metrics"][m], row["n"])) for m in metric_names]
                n = f"{row['n']}" + ("" if row["checked"] else " (too few, not checked)")
                lines.append(f"| {md_code(row['value'])} | {n} | " + " | ".join(cells) + " |")
        if res["failing_examples"]:
            lines += ["", "### Failing examples (candidate wrong; regressions first)", ""]
            if _failing_note(res):
                lines += [_failing_note(res), ""]
            for ex in res["failing_examples"]:
                lines += [
                    f"- {md_code(ex['id'], table=False)}"
                    + (" (base was right)" if ex["base_correct"] else ""),
                    f"  - input: {_md_text(ex['input'], 300)}",
                    f"  - expected: {_md_text(ex['expected'], 200)}",
                    f"  - candidate: {_md_text(ex['candidate_output'], 200)}",
                    f"  - base: {_md_text(ex['base_output'], 200)}",
                ]
    suite = r.get("regression_suite")
    if suite and suite.get("tasks"):
        lines += [
            "",
            "## General-capability regression suite (lm-eval)",
            "",
            "| task | candidate | base | delta | CI | p | |",
            "|---|---|---|---|---|---|---|",
        ]
        for task, t in suite["tasks"].items():
            lines.append(
                f"| {md_cell(task)} | {_fmt(t['candidate'])} | {_fmt(t['base'])} | "
                f"{_signed(t['delta'])} | {_ci(t)} | {_fmt(t.get('mcnemar', t)['p_value'])} | {_noise(t)} |"
            )
    cont = r["contamination"]
    lines += ["", "## Contamination", ""]
    if cont.get("checked"):
        lines.append(_contamination_found(cont))
    else:
        lines.append(md_cell(_not_checked(cont.get("reason"))))
    lines += [
        "",
        "## Golden sets",
        "",
        "| name | task | version | items | sha256 | license |",
        "|---|---|---|---|---|---|",
    ]
    for g in r["golden_sets"]:
        lines.append(
            f"| {md_cell(g['name'])} | {md_cell(g['task'])} | {md_cell(g['version'])} | "
            f"{g['size']} | {md_code(g['sha256'][:16])} | {md_cell(g['license'])} |"
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


def _checks_sorted(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Failing checks first, then warnings, then passes; by name within each."""
    order = {"fail": 0, "warn": 1, "pass": 2}
    return sorted(r.get("checks") or [], key=lambda c: (order[c["verdict"]], c["name"]))


def check_rows(r: dict[str, Any]) -> list[dict[str, str]]:
    """The checks as ``partials/gate_checks.html`` shows them (the static report and the
    service's version page), failing first, numbers formatted as in report.md."""
    rows = []
    for c in _checks_sorted(r):
        st = c.get("stats") or {}
        rows.append(
            {
                "verdict": c["verdict"],
                "mark": VERDICT_MARK[c["verdict"]],
                "id": c["id"],
                "name": c["name"],
                "candidate": _check_value(c),
                "base": _fmt(c.get("base")),
                "delta": _signed(c.get("delta")),
                "ci": _interval(st) if "ci_low" in st else "-",
                "message": c["message"],
            }
        )
    return rows


def _slice_cell(m: dict[str, Any], n: int) -> str:
    """A slice's ``cand / base``, with the items a rate is measured on when not all of them."""
    text = f"{_fmt(m['candidate'])} / {_fmt(m['base'])}"
    return text if m.get("items", n) == n else f"{text} (on {m['items']})"


def _metric_name(name: str, m: dict[str, Any], n: int | None) -> str:
    """A set's metric with the items it is measured on when not all ``n`` of them (a
    rate on the benign items only), as a slice cell says it."""
    return name if n is None or m.get("items", n) == n else f"{name} (on {m['items']})"


def _metric_row(name: str, m: dict[str, Any], p: Any, n: int | None = None) -> list[Any]:
    return [
        _metric_name(name, m, n),
        _fmt(m["candidate"]),
        _fmt(m["base"]),
        _signed(m["delta"]),
        _ci(m),
        _fmt(p),
        _noise(m),
    ]


def _html_result(r: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    """One golden set's section of report.html, as values for ``report_gate.html``."""
    name = res["golden_set"]
    thresholds = {
        c["metric"]: c["threshold"]
        for c in r["checks"]
        if c["id"] == "GATE001" and c["golden_set"] == name
    }
    metrics = res["metrics"]
    out: dict[str, Any] = {
        "name": name,
        "task": res["task"],
        "n_items": res["items"],
        "chart": charts.paired_bars(
            f"{name}: candidate vs base",
            {k: (m["candidate"], m["base"]) for k, m in metrics.items()},
            thresholds,
        ),
        "metrics": [
            _metric_row(k, m, m.get("mcnemar", {}).get("p_value", m["p_value"]), res["items"])
            for k, m in metrics.items()
        ],
        # Metrics the set computes but could not measure (no item they apply to).
        "not_measured": [
            f"Not measured: {name} ({why})" for name, why in res.get("not_measured", {}).items()
        ],
        # Answers that may run past a local side's context, as report.md warns of them.
        "past_context": past_context_line(res),
        "judge": None,
        "per_class": [list(row) for row in _per_class_rows(res)] if "per_class" in res else None,
        "confusion": None,
        "slices": [],
        # Each text as (start, cut, end): the JSON's are at most JSON_TEXT_LIMIT long.
        "failing_note": _failing_note(res),
        "failing": [
            ex
            | {
                "texts": [
                    clip(ex[k], JSON_TEXT_LIMIT)
                    for k in ("input", "expected", "candidate_output", "base_output")
                ]
            }
            for ex in res["failing_examples"]
        ],
    }
    if "judge" in res:
        out["judge"] = {
            "lines": _judge_summary(res["judge"]),
            "rows": [list(row) for row in _judge_rows(res["judge"])],
        }
    if "confusion_matrix" in res:
        cm = res["confusion_matrix"]["candidate"]
        cols = list(next(iter(cm.values())).keys()) if cm else []
        out["confusion"] = {
            "cols": cols,
            "rows": [[Cell(ref, header=True)] + [row[c] for c in cols] for ref, row in cm.items()],
        }
    for table in res["slices"]:
        rows = []
        for row in table["rows"]:
            cells: list[Any] = [
                row["value"],
                Cell(str(row["n"]), note="" if row["checked"] else "(not checked)"),
            ]
            for m in metrics:
                mm = row["metrics"][m]
                cells.append(
                    Cell(
                        _slice_cell(mm, row["n"]),
                        cls=f"verdict-{mm['verdict']}" if "verdict" in mm else "",
                    )
                )
            rows.append(cells)
        out["slices"].append(
            {
                "column": table["column"],
                "head": ["value", "n", *[f"{m} (cand / base)" for m in metrics]],
                "rows": rows,
            }
        )
    return out


def _html_context(r: dict[str, Any]) -> dict[str, Any]:
    """What ``report_gate.html`` draws, formatted exactly as report.md formats it."""
    summary = (
        f"{r['summary']['pass']} pass, {r['summary']['warn']} warn, {r['summary']['fail']} fail"
        + (" (strict: warnings fail)" if r["strict"] else "")
    )
    header: list[list[Any]] = [
        [
            Cell(label, header=True),
            Cell(str(side["spec"]), kind="code", note=f"sha256 {_sha(side)}"),
        ]
        for label, side in (("candidate", r["candidate"]), ("base", r["base"]))
    ]
    header += [
        [
            Cell("gate file", header=True),
            Cell(str(r["gate"]["file"]), kind="code", note=f"sha256 {r['gate']['sha256']}"),
        ],
        [Cell("attestation", header=True), _attestation_line(r)],
        [Cell("checks", header=True), summary],
    ]
    suite = r.get("regression_suite")
    suite_ctx = None
    if suite and suite.get("tasks"):
        tasks = suite["tasks"]
        suite_ctx = {
            "chart": charts.paired_bars(
                "regression suite", {k: (t["candidate"], t["base"]) for k, t in tasks.items()}
            ),
            "rows": [_metric_row(k, t, t.get("mcnemar", t)["p_value"]) for k, t in tasks.items()],
        }
    cont = r["contamination"]
    return {
        "gate_name": r["gate"]["name"],
        "verdict": r["verdict"],
        "mark": VERDICT_MARK[r["verdict"]],
        "header": header,
        "checks": check_rows(r),
        "results": [_html_result(r, res) for res in r["results"]],
        "suite": suite_ctx,
        "contamination": (
            _contamination_found(cont) if cont.get("checked") else _not_checked(cont.get("reason"))
        ),
        "golden_sets": [
            [
                g["name"],
                g["task"],
                g["version"],
                g["size"],
                Cell(g["sha256"][:16], kind="code"),
                g["provenance"],
                g["license"],
            ]
            for g in r["golden_sets"]
        ],
    }


def render_html(r: dict[str, Any]) -> str:
    """report.html from the shared template set (jinja2 is imported on this call only)."""
    return render_report("report_gate.html", **_html_context(r))


def render_junit(r: dict[str, Any]) -> str:
    """One testcase per check; warnings are failures under --strict, else noted in system-out."""
    checks = r["checks"]
    failing = [
        c for c in checks if c["verdict"] == "fail" or (r["strict"] and c["verdict"] == "warn")
    ]
    # Names and messages carry golden data and model output: printable() drops what XML 1.0
    # forbids (ESC, form feed, lone surrogates), and the rest of the control characters.
    suites = ET.Element(
        "testsuites",
        name=printable(f"curagate gate {r['gate']['name']}"),
        tests=str(len(checks)),
        failures=str(len(failing)),
        errors="0",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=printable(f"gate.{r['gate']['name']}"),
        tests=str(len(checks)),
        failures=str(len(failing)),
        errors="0",
        skipped="0",
    )
    for c in checks:
        tc = ET.SubElement(
            suite,
            "testcase",
            classname=printable(f"gate.{c['golden_set'] or 'gate'}"),
            name=printable(f"{c['id']} {c['name']}"),
        )
        if c in failing:
            f = ET.SubElement(tc, "failure", message=printable(c["message"]), type=c["verdict"])
            f.text = json_text(c, "junit.xml")  # ASCII: JSON escapes the rest
        else:
            so = ET.SubElement(tc, "system-out")
            so.text = printable(f"{VERDICT_MARK[c['verdict']]}: {c['message']}")
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _aligned(rows: list[list[str]], first: int = 20) -> list[str]:
    """Rows of cells as a terminal table: each column as wide as its widest cell (the first,
    the name, at least ``first``), one space after the name and two between the rest. A
    name with its item count ("false_refusal_rate (on 7)") or a wider value moves the
    columns after it for every row, never that row's alone. Cells are made printable first
    and measured in terminal columns, not characters: a CJK or emoji task name (two columns
    a character) or one with combining accents (none) keeps the columns after it aligned."""
    cells = [[printable(c) for c in row] for row in rows]
    widths = (
        [max(display_width(row[i]) for row in cells) for i in range(len(cells[0]))] if cells else []
    )
    if widths:
        widths[0] = max(widths[0], first)
    return [
        (
            _padded(row[0], widths[0])
            + " "
            + "  ".join(_padded(c, w) for c, w in zip(row[1:], widths[1:], strict=True))
        ).rstrip()
        for row in cells
    ]


def _padded(cell: str, width: int) -> str:
    """``cell`` with spaces after it to fill ``width`` terminal columns."""
    return cell + " " * (width - display_width(cell))


def past_context_line(res: dict[str, Any]) -> str | None:
    """A set's warning for answers that may run past a local side's context (its
    ``past_context``, on a RoPE model), or None when none may."""
    past = res.get("past_context") or []
    if not past:
        return None
    shown = ", ".join(
        f"{p['id']} ({p['side']}: {p['prompt_tokens']} + {p['max_new_tokens']} > {p['context']})"
        for p in past[:3]
    )
    more = f" and {len(past) - 3} more" if len(past) > 3 else ""
    return (
        f"WARNING: {len(past)} answer(s) may run past the model's context (prompt tokens + "
        f"max_new_tokens > context tokens), on positions the model never trained on: "
        f"{shown}{more}; lower max_new_tokens for this set to keep them within it"
    )


def terminal_summary(
    r: dict[str, Any], out_dir: Path, *, cache: tuple[int, int] | None = None
) -> str:
    """One screen: verdict, failing and warning checks first, then the metric table."""
    lines = [
        f"gate {r['gate']['name']}: {VERDICT_MARK[r['verdict']]}  "
        f"({r['summary']['pass']} pass, {r['summary']['warn']} warn, {r['summary']['fail']} fail"
        # as report.md says it: under --strict a WARN exits 1
        + ("; strict: warnings fail)" if r["strict"] else ")")
    ]
    bad = [c for c in r["checks"] if c["verdict"] != "pass"]
    for c in sorted(bad, key=lambda c: (c["verdict"] != "fail", c["name"]))[:12]:
        lines.append(f"  {VERDICT_MARK[c['verdict']]} {c['id']} {c['name']}: {c['message']}")
    if len(bad) > 12:
        lines.append(f"  ... {len(bad) - 12} more in report.md")
    # One table across the sets: every column as wide as its widest cell.
    metric_rows = _aligned(
        [
            [
                _metric_name(name, m, res["items"]),
                f"cand {_fmt(m['candidate'])}",
                f"base {_fmt(m['base'])}",
                f"delta {_signed(m['delta'])}",
                _ci(m),
                _noise(m),
            ]
            for res in r["results"]
            for name, m in res["metrics"].items()
        ]
    )
    for res in r["results"]:
        lines.append(f"  {res['golden_set']} ({res['items']} items)")
        lines += [f"    {metric_rows.pop(0)}" for _ in res["metrics"]]
        if (past := past_context_line(res)) is not None:
            lines.append(f"    {past}")
        if "judge" in res:
            lines += [f"    {t}" for t in _judge_summary(res["judge"])]
            judged = [[a, b, c] for a, b, c, _ in _judge_rows(res["judge"])]
            lines += [f"    {row}" for row in _aligned(judged)]
    suite = r.get("regression_suite")
    if suite and suite.get("tasks"):
        lines.append("  regression suite")
        tasks = [
            [
                task,
                f"cand {_fmt(t['candidate'])}",
                f"base {_fmt(t['base'])}",
                f"delta {_signed(t['delta'])}",
                _noise(t),
            ]
            for task, t in suite["tasks"].items()
        ]
        lines += [f"    {row}" for row in _aligned(tasks)]
    if cache is not None:
        lines.append(f"  generations: {cache[0]} cached, {cache[1]} generated")
    lines.append(f"  attestation: {_attestation_line(r)}")
    lines.append(f"  reports: {out_dir}/gate_report.json, report.md, report.html, junit.xml")
    # Names, ids, slice values and messages come from golden data and model output: no
    # control character (a terminal's escape sequence) reaches the terminal or a CI log.
    return "\n".join(printable(line) for line in lines)
