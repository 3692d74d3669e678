"""Leakage reports: ``leakage.json`` (complete), ``leakage.md`` and a
self-contained ``leakage.html`` (summaries for people; no external resources;
``reports/templates/report_leakage.html``).

Outputs are deterministic: same inputs and options give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.artifacts import LeakageReportDoc, validated
from curagate.leakage import place_of
from curagate.reports import render_report
from curagate.reports.markdown import md_cell

if TYPE_CHECKING:
    from curagate.io.atomic import Claim
    from curagate.leakage import LeakageResult, ReferenceLeak

# People read summaries; the JSON keeps everything.
MAX_ITEMS_SHOWN = 200
MAX_MATCHES_SHOWN = 5
SNIPPET_CHARS = 160


def write_report(result: LeakageResult, out: Path, claim: Claim | None = None) -> dict[str, Path]:
    """The three reports, published as one folder ``out`` (new, empty or a previous
    leakage output: see :func:`curagate.io.outputs.report_folder`); their paths."""
    from curagate.io.outputs import report_folder

    names = {"json": "leakage.json", "markdown": "leakage.md", "html": "leakage.html"}
    with report_folder(Path(out), "leakage", names["json"], claim) as tmp:
        (tmp / names["json"]).write_text(to_json(result), encoding="utf-8")
        (tmp / names["markdown"]).write_text(to_markdown(result), encoding="utf-8")
        (tmp / names["html"]).write_text(to_html(result), encoding="utf-8")
    return {kind: Path(out) / name for kind, name in names.items()}


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
    ran = set(result.config.get("methods") or ()) | {"paraphrase"}
    by = {m: n for m, n in result.by_method().items() if m in ran}  # not those left out
    lines = [
        f"reference items: {len(result.items)}"
        + (f" (and {len(result.answer_items)} answers)" if result.answer_items else "")
        + f" from {len(result.reference_files)} file(s); "
        f"corpus records scanned: {result.corpus_records} from {len(result.corpus_files)} file(s)",
        f"leaked reference items: {result.leaked_reference_items} "
        f"({', '.join(f'{m} {n}' for m, n in by.items())}); "
        f"contaminated corpus records: {result.contaminated_records}",
    ]
    unread = result.paraphrase_unreadable or {}
    if any(unread.values()):
        lines.append(
            "not judged by paraphrase (the model cannot read them, over 1% of their words "
            f"[UNK]): {unread['reference_items']} reference item(s), {unread['corpus_records']} "
            "corpus record(s)"
        )
    aside = result.media_set_aside or {}
    if any(aside.values()):
        lines.append(
            f"set aside by the media rule (found, but the item and the row hold other media: "
            f"no leaks): {sum(aside.values())} (row, item) pair(s) in "
            f"{sum(1 for n in aside.values() if n)} file(s)"
        )
    if result.quarantined:
        lines.append(
            f"quarantined corpus rows (failed format validation): {result.quarantined}, "
            f"of which {result.quarantined_scanned} scanned by their text"
        )
    if result.unreadable:
        first = result.unreadable[0]
        lines.append(
            f"UNREADABLE corpus rows: {len(result.unreadable)} could not be parsed, so "
            f"they are not known to be clean (first: {place_of(first)}: {first.reason})"
        )
    if result.reference_quarantined:
        lines.append(
            f"quarantined reference rows (failed format validation): "
            f"{result.reference_quarantined}, indexed by their text"
        )
    if result.reference_unreadable:
        first = result.reference_unreadable[0]
        lines.append(
            f"UNREADABLE reference rows: {len(result.reference_unreadable)} could not be "
            f"parsed, so their items were not looked for (first: {place_of(first)}: "
            f"{first.reason})"
        )
    if result.too_short_items:
        c = result.config
        span = c.get("min_span_words", 0)
        # only what ran: with --methods ngram, "matched by exact and minhash" was said of a
        # 7-word item nothing looked for, passed with exit 0 (found by attack)
        unseen = "NOT LOOKED FOR by any method selected (add exact or minhash to --methods)"
        ways = [m for m in ("exact", "minhash") if m in c["methods"]]
        by_span = f"(from {span} words) the span criterion"
        if span and "ngram" in c["methods"]:
            ways.append(by_span)
        if not ways:
            how = unseen
        elif len(ways) == 1:
            how = f"matched by {ways[0]} only"
            shorter = sum(i.words < span for i in result.too_short_items)
            if ways == [by_span] and shorter:  # items under the span's floor: nothing else ran
                how += f"; {shorter} of them shorter than {span} words are {unseen}"
        else:
            how = f"matched by {', '.join(ways[:-1])} and {ways[-1]}"
        lines.append(
            f"{len(result.too_short_items)} reference item(s) shorter than "
            f"{c['ngram']} words: {how}"
        )
    if result.empty_items:
        lines.append(
            f"{len(result.empty_items)} reference item(s) empty after normalization: "
            + (
                "matched only by byte-identical strings (exact)"
                if "exact" in result.config["methods"]
                else "not matched (the exact method is off)"
            )
        )
    return lines


def _where(leak: ReferenceLeak) -> str:
    item = leak.item
    place = _named(item.id, item.file, item.row, None)
    return place if item.part == "prompt" else f"{place}, its {item.part}"


def _named(record_id: str, file: str, row: int, line: int | None) -> str:
    """Where a record is, as check and audit say it (``file:line``, 1-based; ``file row
    N`` where there is no line, a Parquet row), with its id when it has one of its own
    (a default id is ``file:row``, 0-based: printed alone it read as a line number)."""
    place = f"{file}:{line}" if line is not None else f"{file} row {row}"
    return place if record_id == f"{file}:{row}" else f"{record_id} ({place})"


def to_markdown(result: LeakageResult) -> str:
    c = result.config
    out = [
        "# Leakage report",
        "",
        *[f"- {line}" for line in summary_lines(result)],
        f"- methods: {', '.join(c['methods'])}; n-gram: {c['ngram']} words, "
        f"min shared n-grams {c['min_shared_ngrams']}, min ratio {c['min_ratio']}; "
        + (
            f"span: {c['min_span_words']}+ words covering {c['min_span_ratio']} of an item; "
            if c["min_span_words"]
            else "span criterion off; "
        )
        + f"MinHash threshold {c['minhash_threshold']}"
        + (
            f"; paraphrase: cosine >= {c['paraphrase_threshold']} by {c['paraphrase_model']} "
            f"(sha256 {c['paraphrase_model_sha256'][:12]})"
            if "paraphrase_model" in c
            else ""
        ),
        "",
    ]
    if not result.leaks:
        out += ["No reference item was found in the corpus.", ""]
        return "\n".join(out)
    # With paraphrase on, its similarity too: an item it alone found read "max ratio 0.000,
    # longest span 0", its evidence in leakage.json only (found by attack).
    similar = "paraphrase_threshold" in result.config
    out += [
        "| reference | methods | records | max ratio | longest span (words) | "
        + ("max similarity | " if similar else "")
        + "item |",
        "|---|---|---:|---:|---:|" + ("---:|" if similar else "") + "---|",
    ]
    for leak in result.leaks[:MAX_ITEMS_SHOWN]:
        ratio, words = _best(leak)
        ref = _where(leak)
        sims = [m.similarity for m in leak.matches if m.similarity is not None]
        sim = (f"{max(sims):.3f} | " if sims else "- | ") if similar else ""
        out.append(
            f"| {md_cell(ref)} | {', '.join(leak.methods)} | {len(leak.matches)} | "
            f"{ratio:.3f} | {words} | {sim}{md_cell(_snippet(leak.item.text, 80))} |"
        )
    if len(result.leaks) > MAX_ITEMS_SHOWN:
        out.append(f"\n{len(result.leaks) - MAX_ITEMS_SHOWN} more leaked item(s) in leakage.json.")
    out.append("")
    return "\n".join(out)


def _marked(text: str, start: int, end: int) -> dict[str, str]:
    """The text around [start, end), trimmed: ``head``, the ``hit`` to highlight, ``tail``."""
    lo, hi = max(0, start - 80), min(len(text), end + 80)
    return {
        "head": ("…" if lo else "") + text[lo:start],
        "hit": text[start:end],
        "tail": text[end:hi] + ("…" if hi < len(text) else ""),
    }


def _html_leak(leak: ReferenceLeak) -> dict[str, Any]:
    ratio, words = _best(leak)
    matches: list[dict[str, Any]] = []
    for m in leak.matches[:MAX_MATCHES_SHOWN]:
        named = _named(m.id, m.file, m.row, m.line)
        row: dict[str, Any] = {"where": f"{named} [{', '.join(m.methods)}]", "hit": None}
        if m.span is not None:
            row.update(_marked(leak.item.text, m.span.reference_start, m.span.reference_end))
        else:
            row["similarity"] = (
                f" similarity {m.similarity:.3f}" if m.similarity is not None else ""
            )
        matches.append(row)
    return {
        "where": _where(leak),
        "methods": ", ".join(leak.methods),
        "records": len(leak.matches),
        "ratio": f"{ratio:.3f}",
        "words": words,
        "snippet": _snippet(leak.item.text, 100),
        "matches": matches,
        "more": max(0, len(leak.matches) - MAX_MATCHES_SHOWN),
    }


def to_html(result: LeakageResult) -> str:
    """leakage.html from the shared template set (jinja2 is imported on this call only)."""
    return render_report(
        "report_leakage.html",
        summary=summary_lines(result),
        leaks=[_html_leak(leak) for leak in result.leaks[:MAX_ITEMS_SHOWN]],
        more=max(0, len(result.leaks) - MAX_ITEMS_SHOWN),
    )
