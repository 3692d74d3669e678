"""Leakage reports: ``leakage.json`` (complete), ``leakage.md`` and a
self-contained ``leakage.html`` (summaries for people; no external resources).

Outputs are deterministic: same inputs and options give byte-identical files.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from curagate.artifacts import LeakageReportDoc, validated
from curagate.io.atomic import write_text_atomic

if TYPE_CHECKING:
    from curagate.leakage import LeakageResult, ReferenceLeak

# People read summaries; the JSON keeps everything.
MAX_ITEMS_SHOWN = 200
MAX_MATCHES_SHOWN = 5
SNIPPET_CHARS = 160


def write_report(result: LeakageResult, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "leakage.json",
        "markdown": out / "leakage.md",
        "html": out / "leakage.html",
    }
    write_text_atomic(paths["json"], to_json(result))
    write_text_atomic(paths["markdown"], to_markdown(result))
    write_text_atomic(paths["html"], to_html(result))
    return paths


def to_json(result: LeakageResult) -> str:
    doc = validated(LeakageReportDoc, result.to_dict(), what="leakage.json")
    return doc.to_json_bytes().decode("utf-8")


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _best(leak: ReferenceLeak) -> tuple[float, int]:
    ratio = max((m.ratio for m in leak.matches), default=0.0)
    words = max((m.span.words for m in leak.matches if m.span is not None), default=0)
    return ratio, words


def summary_lines(result: LeakageResult) -> list[str]:
    """The few lines the CLI prints."""
    by = result.by_method()
    lines = [
        f"reference items: {len(result.items)} from {len(result.reference_files)} file(s); "
        f"corpus records scanned: {result.corpus_records} from {len(result.corpus_files)} file(s)",
        f"leaked reference items: {result.leaked_reference_items} "
        f"(exact {by['exact']}, ngram {by['ngram']}, minhash {by['minhash']}); "
        f"contaminated corpus records: {result.contaminated_records}",
    ]
    if result.quarantined:
        lines.append(
            f"quarantined corpus rows (failed format validation): {result.quarantined}, "
            f"of which {result.quarantined_scanned} scanned by their text"
        )
    if result.unreadable:
        first = result.unreadable[0]
        place = first.file if first.line is None else f"{first.file}:{first.line}"
        lines.append(
            f"UNREADABLE corpus rows: {len(result.unreadable)} could not be parsed, so "
            f"they are not known to be clean (first: {place}: {first.reason})"
        )
    if result.too_short_items:
        lines.append(
            f"{len(result.too_short_items)} reference item(s) shorter than "
            f"{result.config['ngram']} words: matched by exact and minhash only"
        )
    if result.empty_items:
        lines.append(
            f"{len(result.empty_items)} reference item(s) empty after normalization: not matched"
        )
    return lines


def _where(leak: ReferenceLeak) -> str:
    place = f"{leak.item.file}:{leak.item.row}"
    return place if leak.item.id == place else f"{leak.item.id} ({place})"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(result: LeakageResult) -> str:
    c = result.config
    out = [
        "# Leakage report",
        "",
        *[f"- {line}" for line in summary_lines(result)],
        f"- methods: {', '.join(c['methods'])}; n-gram: {c['ngram']} words, "
        f"min shared n-grams {c['min_shared_ngrams']}, min ratio {c['min_ratio']}; "
        f"MinHash threshold {c['minhash_threshold']}",
        "",
    ]
    if not result.leaks:
        out += ["No reference item was found in the corpus.", ""]
        return "\n".join(out)
    out += [
        "| reference | methods | records | max ratio | longest span (words) | item |",
        "|---|---|---:|---:|---:|---|",
    ]
    for leak in result.leaks[:MAX_ITEMS_SHOWN]:
        ratio, words = _best(leak)
        ref = _where(leak)
        out.append(
            f"| {_md_cell(ref)} | {', '.join(leak.methods)} | {len(leak.matches)} | "
            f"{ratio:.3f} | {words} | {_md_cell(_snippet(leak.item.text, 80))} |"
        )
    if len(result.leaks) > MAX_ITEMS_SHOWN:
        out.append(f"\n{len(result.leaks) - MAX_ITEMS_SHOWN} more leaked item(s) in leakage.json.")
    out.append("")
    return "\n".join(out)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:4px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}mark{background:#ffd54f}
.num{text-align:right}code{font-size:12px}details{margin:2px 0}
"""


def _marked(text: str, start: int, end: int) -> str:
    """The text with [start, end) highlighted, trimmed around the span."""
    lo, hi = max(0, start - 80), min(len(text), end + 80)
    head = ("…" if lo else "") + html.escape(text[lo:start])
    tail = html.escape(text[end:hi]) + ("…" if hi < len(text) else "")
    return f"{head}<mark>{html.escape(text[start:end])}</mark>{tail}"


def to_html(result: LeakageResult) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Leakage report</title>",
        f"<style>{_CSS}</style></head><body><h1>Leakage report</h1><ul>",
        *[f"<li>{e(line)}</li>" for line in summary_lines(result)],
        "</ul>",
    ]
    if not result.leaks:
        parts.append("<p>No reference item was found in the corpus.</p></body></html>\n")
        return "".join(parts)
    parts.append(
        "<table><tr><th>reference</th><th>methods</th><th class=num>records</th>"
        "<th class=num>max ratio</th><th class=num>span words</th><th>matches</th></tr>"
    )
    for leak in result.leaks[:MAX_ITEMS_SHOWN]:
        ratio, words = _best(leak)
        rows = []
        for m in leak.matches[:MAX_MATCHES_SHOWN]:
            place = f"{m.file}:{m.row}"
            named = place if m.id == place else f"{m.id} ({place})"
            where = f"{named} [{', '.join(m.methods)}]"
            if m.span is not None:
                ref = _marked(leak.item.text, m.span.reference_start, m.span.reference_end)
                body = f"<br><code>{e(where)}</code><br>{ref}"
            else:
                sim = f" similarity {m.similarity:.3f}" if m.similarity is not None else ""
                body = f"<br><code>{e(where)}</code>{e(sim)}"
            rows.append(f"<div>{body}</div>")
        more = len(leak.matches) - MAX_MATCHES_SHOWN
        if more > 0:
            rows.append(f"<div>… {more} more in leakage.json</div>")
        parts.append(
            f"<tr><td><code>{e(_where(leak))}</code></td>"
            f"<td>{e(', '.join(leak.methods))}</td><td class=num>{len(leak.matches)}</td>"
            f"<td class=num>{ratio:.3f}</td><td class=num>{words}</td>"
            f"<td><details><summary>{e(_snippet(leak.item.text, 100))}</summary>"
            f"{''.join(rows)}</details></td></tr>"
        )
    parts.append("</table>")
    if len(result.leaks) > MAX_ITEMS_SHOWN:
        parts.append(
            f"<p>{len(result.leaks) - MAX_ITEMS_SHOWN} more leaked item(s) in leakage.json.</p>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)
