"""The static reports (audit, leakage, gate) from the one Jinja2 template set, on real runs
over the vendored GSM8K excerpt with hostile strings in names, reasons, record text and
model outputs: the HTML shows them only escaped, loads nothing, runs no script and is
byte-identical on a rerun; the Markdown escaping keeps tables whole; the light commands
never import jinja2.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

import curagate
from curagate.cli import main
from curagate.gate import run_gate
from curagate.reports.markdown import md_cell, md_code

from .report_support import HOSTILE, IMG, SCRIPT, gsm8k


class Page(HTMLParser):
    """Tags, attributes and the decoded text of one HTML page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert_and_shown(html: str, *shown: str) -> Page:
    """No script, no event handler, nothing fetched; each hostile string is on the page as text."""
    page = Page(html)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert not {"script", "img", "iframe", "object", "embed", "link", "image", "use"} & set(
        page.tags
    )
    assert not [a for a in page.attrs if a[1].startswith("on")], "event handler attribute"
    fetched = [v for _, k, v in page.attrs if k in ("src", "href", "srcset", "xlink:href")]
    assert not [v for v in fetched if "http://" in v or "https://" in v], fetched
    assert not fetched, "a static report links nothing"
    assert "url(" not in html and "@import" not in html
    text = "".join(page.text)
    for s in shown:
        assert s in text, f"{s!r} is not on the page as text"
    # the stylesheet is inlined (one offline file), and it is the shared one
    assert page.tags.count("style") == 1 and ".badge-fail" in html
    return page


def md_table_widths(md: str) -> list[int]:
    """Cells per table row as GitHub counts them (unescaped pipes)."""
    widths = []
    for line in md.splitlines():
        if line.startswith("|"):
            widths.append(len(line.replace("\\|", "").split("|")) - 2)
    return widths


# --- audit -------------------------------------------------------------------------


def write_audit_data(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    # a hostile file name: it shows in the row references of the findings
    path = root / "<img src=x onerror=alert(3)>.jsonl"
    rows = [
        {"prompt": r["question"], "completion": r["answer"], "label": HOSTILE if i % 2 else "ok"}
        for i, r in enumerate(gsm8k())
    ]
    rows.append(rows[0])  # a duplicate: a finding with a row reference
    rows.append({"prompt": f"{SCRIPT} mail me at x.y@acme-corp.com", "completion": IMG})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_audit(data: Path, out: Path) -> int:
    cfg = out.parent / "audit.yaml"
    cfg.write_text("labels: {field: label}\n", encoding="utf-8")
    return main(["audit", str(data), "--config", str(cfg), "--out", str(out)])


def test_audit_report_escapes_hostile_labels_and_file_names(tmp_path: Path) -> None:
    data = write_audit_data(tmp_path / "d")
    run_audit(data, tmp_path / "a")
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    page = assert_inert_and_shown(html, SCRIPT, "<img src=x onerror=alert(3)>.jsonl:")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert page.tags.count("svg") >= 3  # findings, length histograms, labels
    assert "Label distribution" in html and "DUP001" in html


def test_audit_report_is_byte_identical_on_a_rerun(tmp_path: Path) -> None:
    data = write_audit_data(tmp_path / "d")
    run_audit(data, tmp_path / "a")
    run_audit(data, tmp_path / "b")
    for name in ("report.html", "audit.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_audit_markdown_keeps_hostile_labels_in_their_cells(tmp_path: Path) -> None:
    data = write_audit_data(tmp_path / "d")
    run_audit(data, tmp_path / "a")
    md = (tmp_path / "a" / "audit.md").read_text(encoding="utf-8")
    labels = md.split("## Labels", 1)[1].split("\n## ", 1)[0]
    assert set(md_table_widths(labels)) == {3}
    rendered = MarkdownIt("commonmark").enable("table").render(md)
    assert "<script>" not in rendered and "&lt;script&gt;" in rendered


# --- leakage -----------------------------------------------------------------------


def test_leakage_report_escapes_hostile_ids_and_text(tmp_path: Path) -> None:
    items = gsm8k()[:8]
    hostile_q = f"{items[0]['question']} {HOSTILE}"
    ref = tmp_path / "ref.jsonl"
    ref.write_text(
        "".join(
            json.dumps({"id": f"{SCRIPT}{i}" if i == 0 else f"gsm-{i}", "question": q}) + "\n"
            for i, q in enumerate([hostile_q] + [r["question"] for r in items[1:]])
        ),
        encoding="utf-8",
    )
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps({"id": IMG, "text": f"Q: {hostile_q} A: 42"})
        + "\n"
        + json.dumps({"text": "a clean line with nothing in common"})
        + "\n",
        encoding="utf-8",
    )

    def run(out: Path) -> str:
        rc = main(
            [
                "leakage",
                "--reference",
                str(ref),
                "--reference-text-field",
                "question",
                "--corpus",
                str(corpus),
                "--out",
                str(out),
            ]
        )
        assert rc == 0
        return (out / "leakage.html").read_text(encoding="utf-8")

    html = run(tmp_path / "a")
    page = assert_inert_and_shown(html, f"{SCRIPT}0", IMG)
    assert "mark" in page.tags  # the shared span is highlighted
    assert html == run(tmp_path / "b")
    md = (tmp_path / "a" / "leakage.md").read_text(encoding="utf-8")
    assert set(md_table_widths(md)) == {6}


# --- gate --------------------------------------------------------------------------


def test_gate_report_escapes_hostile_names_outputs_and_reasons(
    tmp_path: Path, gate_setup: dict[str, Any]
) -> None:
    g = gate_setup
    run_gate(g["gate"], g["candidate"], g["base"], tmp_path / "a")
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    # the gate's name, the item ids, prompts, the slice values and the model's output
    page = assert_inert_and_shown(html, f"{SCRIPT}0", IMG, "pipe | in")
    assert "Failing examples" in html and "svg" in page.tags
    report = json.loads((tmp_path / "a" / "gate_report.json").read_text())
    assert report["gate"]["name"] == HOSTILE
    # the verdict badge shows the report's verdict
    assert f'<span class="badge badge-{report["verdict"]}">' in html


def test_gate_report_is_byte_identical_on_a_rerun(
    tmp_path: Path, gate_setup: dict[str, Any]
) -> None:
    g = gate_setup
    run_gate(g["gate"], g["candidate"], g["base"], tmp_path / "a")
    run_gate(g["gate"], g["candidate"], g["base"], tmp_path / "b")
    for name in ("report.html", "report.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_gate_markdown_keeps_hostile_strings_inside_their_cells_and_lines(
    tmp_path: Path, gate_setup: dict[str, Any]
) -> None:
    g = gate_setup
    run_gate(g["gate"], g["candidate"], g["base"], tmp_path / "a")
    md = (tmp_path / "a" / "report.md").read_text(encoding="utf-8")
    checks = md.split("## Checks", 1)[1].split("\n## ", 1)[0]
    assert set(md_table_widths(checks)) == {7}
    slices = md.split("### Slices by", 1)[1].split("\n#", 1)[0]
    assert set(md_table_widths(slices)) == {4}  # value, n, exact_match, rouge_l
    # every failing example is one list item of five lines, whatever its output holds
    section = md.split("### Failing examples", 1)[1].split("\n\n", 1)[1].split("\n\n", 1)[0]
    examples = section.splitlines()
    assert len(examples) == 3 * 5  # the three hostile prompts
    assert all(line.startswith(("- ", "  - ")) for line in examples)
    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(md)
    assert "<script>" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    # Model output, item ids, slice values and the gate's name make no link, image,
    # emphasis or HTML, and no control character reaches the file.
    assert not re.findall(r"<(?:a|img|strong|em|del|blockquote|ol|script)\b", rendered)
    assert "\x1b" not in md and "\x07" not in md
    example = next(line for line in md.splitlines() if line.startswith("  - candidate: "))
    assert "**PASSED** _em_ ~~gone~~ [approve](javascript:alert(3))" in example


def test_model_card_gate_table_keeps_hostile_names_in_their_cells() -> None:
    pytest.importorskip("huggingface_hub")  # the card is written with huggingface_hub
    from curagate.export.card import EVAL_RESULTS_SCHEMA, card_with_eval_results

    row = {"check": "GATE001", "name": HOSTILE, "golden_set": HOSTILE, "metric": "accuracy"}
    row |= {"slice": None, "candidate": 0.5, "base": 0.4, "delta": 0.1, "verdict": "pass"}
    results = {
        "schema": EVAL_RESULTS_SCHEMA,
        "gate": HOSTILE,
        "gate_report_sha256": "a" * 64,
        "candidate_digest": None,
        "verdict": "pass",
        "results": [row],
    }
    card = card_with_eval_results("---\nlicense: mit\n---\n# demo\n", results)
    section = card.split("## Release gate", 1)[1]
    assert set(md_table_widths(section)) == {6}
    rendered = MarkdownIt("commonmark").enable("table").render(section)
    assert "<script>" not in rendered and "<img" not in rendered


# --- the Markdown helpers ----------------------------------------------------------


def _render_cell(cell: str) -> str:
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html = str(md.render(f"| a |\n|---|\n| {cell} |\n"))
    body = html.split("<tbody>", 1)[1]
    return body.split("<td>", 1)[1].split("</td>", 1)[0]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a | b", "a | b"),
        ("line one\nline two", "line one line two"),
        ("run `rm -rf` now", "run `rm -rf` now"),
        ("back\\slash | pipe", "back\\slash | pipe"),
        (SCRIPT, "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("**b** _e_ ~~s~~ *i* __u__ a_b_ _c_d x*y*z", None),
        ("[l](https://x.example) ![i](https://x.example/i.png)", None),
        ("[ref]: https://x.example [ref]", None),
        ("<https://x.example> <b>x</b>", "&lt;https://x.example&gt; &lt;b&gt;x&lt;/b&gt;"),
        ("&lt;b&gt; &#x3C;", "&amp;lt;b&amp;gt; &amp;#x3C;"),
        ("$x^2$ \\[a](b)", None),
        ("red \x1b[31mX\x1b[0m\x07 \u202eevil", "red  [31mX [0m   evil"),
    ],
)
def test_md_cell_renders_as_the_text_in_one_cell(text: str, shown: str | None) -> None:
    assert "\n" not in md_cell(text)
    assert _render_cell(md_cell(text)) == (text if shown is None else shown)


@pytest.mark.parametrize(
    "text", ["# h", "## h", "> q", "- l", "+ l", "---", "===", "1. x", "12) y", "3.", "***", "`a`"]
)
def test_md_cell_opens_no_block_at_the_start_of_a_line(text: str) -> None:
    for md in (md_cell(text), f"- {md_cell(text)}", f"text\n{md_cell(text)}"):
        html = MarkdownIt("commonmark").render(md)
        assert not re.findall(r"<(?:h\d|blockquote|ol|hr|code)\b|<ul>\s*<li>\s*<ul>", html), html
        assert text in html.replace("&gt;", ">")


@pytest.mark.parametrize(
    "text", ["0.85", "-0.05", "+1.5", "x > 0.05", "1.5 points", "judge_win_rate", "set_1_v2"]
)
def test_md_cell_leaves_numbers_and_comparisons_as_they_are(text: str) -> None:
    assert md_cell(text) == text


def test_md_code_cannot_be_closed_by_the_text_it_holds() -> None:
    text = "a `` b ``` c ` [x](https://x.example) **y** \x1b[2J"
    for md in (md_code(text, table=False), f"| a |\n|---|\n| {md_code(text)} |\n"):
        html = MarkdownIt("commonmark").enable("table").render(md)
        assert html.count("<code>") == 1, html
        assert "<a " not in html and "<strong>" not in html and "\x1b" not in html


@pytest.mark.parametrize(
    ("text", "code"),
    [("a|b", "a|b"), ("x ` y", "x ` y"), ("``z``", "``z``"), ("two\nlines", "two lines")],
)
def test_md_code_holds_any_text_verbatim_in_a_table_cell(text: str, code: str) -> None:
    assert _render_cell(md_code(text)) == f"<code>{code}</code>"


def test_md_code_outside_a_table_leaves_pipes_alone() -> None:
    html = MarkdownIt("commonmark").render("- " + md_code("a|`b", table=False))
    assert "<code>a|`b</code>" in html


# --- light paths ---------------------------------------------------------------------


@pytest.mark.slow
def test_check_and_curate_never_import_jinja2(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(
        "".join(
            json.dumps({"prompt": r["question"], "completion": r["answer"]}) + "\n" for r in gsm8k()
        ),
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from curagate.cli import main\n"
        f"main(['check', {str(data)!r}])\n"
        "print('check', 'jinja2' in sys.modules, 'curagate.reports' in sys.modules)\n"
        f"main(['curate', {str(data)!r}, '--out', {str(tmp_path / 'o')!r}])\n"
        "print('curate', 'jinja2' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(curagate.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith(("check ", "curate "))]
    # The CLI imports only the command being run, so check loads no report module at all
    # (it used to, through every command's module); jinja2 stays out of both either way.
    assert lines == ["check False False", "curate False"]


def test_a_share_near_a_round_value_is_not_rounded_onto_it() -> None:
    # The service's compare page printed an accuracy of 0.79996 as 80.0%.
    from curagate.reports import environment

    pct = environment().filters["pct"]
    assert (pct(0.79996), pct(0.8), pct(0.25), pct(None)) == ("79.996%", "80.0%", "25.0%", "-")
