"""report.md, report.html and the terminal summary say what gate_report.json says: what a
cut text left out, the rule numbers are printed by, strictness, and the items a rate is on."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from curagate.gate.report import render_html, render_markdown, terminal_summary
from curagate.text import display_width


def _metric(**over: Any) -> dict[str, Any]:
    m = {
        "candidate": 0.5,
        "base": 0.75,
        "delta": -0.25,
        "ci_low": -0.5,
        "ci_high": 0.0,
        "confidence": 0.95,
        "resamples": 100,
        "p_value": 0.5,
        "significant": False,
        "within_noise": True,
    }
    return m | over


def _report(*, failing: list[dict[str, Any]] | None = None, **over: Any) -> dict[str, Any]:
    side = {"spec": "http://x/v1", "sha256": None}
    r: dict[str, Any] = {
        "gate": {"name": "g", "file": "g.yaml", "sha256": "0" * 64},
        "verdict": "fail",
        "strict": False,
        "exit_code": 1,
        "candidate": side,
        "base": side,
        "attestation": {"signed": False, "keyid": None, "file": None},
        "summary": {"pass": 0, "warn": 0, "fail": 0},
        "checks": [],
        "results": [
            {
                "golden_set": "s",
                "task": "generation",
                "items": 10,
                "max_new_tokens": 8,
                "metrics": {"exact_match": _metric()},
                "slices": [],
                "failing_examples": failing or [],
            }
        ],
        "regression_suite": None,
        "contamination": {"checked": False, "reason": "off"},
        "golden_sets": [
            {
                "name": "s",
                "task": "generation",
                "version": "1",
                "size": 10,
                "sha256": "1" * 64,
                "provenance": "p",
                "license": "CC0-1.0",
            }
        ],
    }
    return r | over


STEPS = "Let me think step by step. " * 10


def _example(cand: str, base: str) -> dict[str, Any]:
    return {
        "id": "q1",
        "input": "question 1",
        "expected": "1",
        "candidate_output": cand,
        "base_output": base,
        "base_correct": True,
    }


def test_a_cut_failing_example_says_so_and_keeps_the_end_where_answers_are() -> None:
    # Two 277-character answers differing in their last character: report.md cut both at
    # [:200], unmarked, so candidate and base read the same beside "(base was right)".
    ex = _example(STEPS + "#### 2", STEPS + "#### 1")
    md = render_markdown(_report(failing=[ex]))
    cand = next(line for line in md.splitlines() if line.startswith("  - candidate: "))
    base = next(line for line in md.splitlines() if line.startswith("  - base: "))
    assert cand != base
    assert cand.endswith("#### 2`") and base.endswith("#### 1`")
    assert f"… [{len(STEPS) + 6 - 200} more characters] …" in cand
    # The marker stands outside the quoted text (a model could write one inside it).
    assert "` … [76 more characters] … `" in cand
    # A short text is shown whole, unmarked.
    assert "  - expected: `1`" in md.splitlines()


def test_a_cut_text_keeps_an_end_that_shows() -> None:
    # Found by re-attack: the end kept was the raw text's, and the code span strips the
    # spaces and line breaks it turns control characters into: an answer followed by 60
    # spaces showed an empty end, the graded "answer is 7" hidden in the cut.
    ex = _example("x" * 150 + " answer is 7" + " " * 60 + "\n", "short")
    md = render_markdown(_report(failing=[ex]))
    cand = next(line for line in md.splitlines() if line.startswith("  - candidate: "))
    assert cand.endswith(" answer is 7`"), cand


def test_a_text_at_the_json_limit_says_it_may_have_been_cut() -> None:
    # The JSON keeps 1000 characters of each text; one that long may have been longer.
    long = "x" * 999 + "y"
    ex = _example(long, "short")
    md = render_markdown(_report(failing=[ex]))
    assert "[800 more characters (the report keeps 1000)]" in md
    page = html.unescape(render_html(_report(failing=[ex])))
    assert "[may be cut (the report keeps 1000)]" in page
    assert "<pre>short</pre></td>" in page


def test_an_interval_prints_by_the_rule_its_delta_does() -> None:
    # A delta of -0.00004 printed at 6 decimals beside the interval [-0.0000, -0.0000].
    m = _metric(candidate=0.8, base=0.80004, delta=-0.00004, ci_low=-0.00004, ci_high=-0.00001)
    r = _report()
    r["results"][0]["metrics"] = {"exact_match": m}
    r["checks"] = [
        {
            "id": "GATE002",
            "rule": "regression",
            "name": "s.exact_match.regression",
            "verdict": "pass",
            "message": "drop",
            "golden_set": "s",
            "metric": "exact_match",
            "slice": None,
            "candidate": 0.8,
            "base": 0.80004,
            "delta": -0.00004,
            "threshold": {},
            "stats": {"ci_low": -0.00004, "ci_high": 0.25, "p_value": 1.0, "significant": False},
        }
    ]
    want = "[-0.00004, -0.00001]"
    assert f"| -0.00004 | {want} |" in render_markdown(r)
    assert f"delta -0.00004  {want}" in terminal_summary(r, Path("o"))
    page = html.unescape(render_html(r))
    assert want in page and "[-0.00004, +0.2500]" in page
    assert "0.0000," not in page


def test_the_terminal_says_warnings_fail_under_strict() -> None:
    # --strict: the headline read "WARN" beside exit code 1, without report.md's note.
    r = _report(verdict="warn", strict=True, summary={"pass": 3, "warn": 2, "fail": 0})
    head = terminal_summary(r, Path("o")).splitlines()[0]
    assert head == "gate g: WARN  (3 pass, 2 warn, 0 fail; strict: warnings fail)"
    assert "(strict: warnings fail)" in render_markdown(r)
    r["strict"] = False
    assert terminal_summary(r, Path("o")).splitlines()[0].endswith("(3 pass, 2 warn, 0 fail)")


def test_failing_examples_at_the_cap_say_there_may_be_more() -> None:
    # 15 wrong items showed as a list of 10, with nothing saying it had stopped.
    many = [_example("a", "b") | {"id": f"q{i}"} for i in range(10)]
    note = "The first 10: the report keeps at most 10 per set; items.jsonl has every item"
    assert note in render_markdown(_report(failing=many))
    assert note in html.unescape(render_html(_report(failing=many)))
    assert note not in render_markdown(_report(failing=many[:9]))
    assert note not in html.unescape(render_html(_report(failing=many[:9])))
    # With the count the gate now writes: "10 of 15", and nothing when all are shown.
    r = _report(failing=many)
    r["results"][0]["failing_total"] = 15
    of = "The first 10 of 15: the report keeps at most 10 per set"
    assert of in render_markdown(r) and of in html.unescape(render_html(r))
    r["results"][0]["failing_total"] = 10
    assert "The first" not in render_markdown(r)
    assert "The first" not in html.unescape(render_html(r))


def test_a_rate_on_part_of_a_set_says_on_how_many_items() -> None:
    # false_refusal_rate on the 7 benign items of 10: the JSON said items 7 and slice cells
    # "(on 7)", the set's table, the terminal and the check messages said nothing.
    r = _report()
    r["results"][0]["metrics"] = {"accuracy": _metric(), "false_refusal_rate": _metric(items=7)}
    md = render_markdown(r)
    assert "| false_refusal_rate (on 7) | 0.5000 |" in md
    assert "| accuracy | 0.5000 |" in md
    term = terminal_summary(r, Path("o"))
    assert "    false_refusal_rate (on 7) cand 0.5000" in term
    assert "    accuracy                  cand 0.5000" in term  # its column fits the longest
    page = html.unescape(render_html(r))
    assert "false_refusal_rate (on 7)" in page and "accuracy (on" not in page


def test_answers_past_the_context_are_a_warning_in_every_report() -> None:
    # Found by re-attack: a set's past_context (a RoPE model's answers that may run past its
    # context) was a WARNING in report.md and the terminal, and not in report.html.
    r = _report()
    past = {"id": "q1", "side": "candidate", "prompt_tokens": 90, "context": 96}
    r["results"][0]["past_context"] = [past | {"max_new_tokens": 8}]
    line = "WARNING: 1 answer(s) may run past the model's context"
    assert line in render_markdown(r) and line in terminal_summary(r, Path("o"))
    page = html.unescape(render_html(r))
    assert '<p class="past-context sev-warning">' + line in page
    assert "q1 (candidate: 90 + 8 > 96)" in page
    assert "past-context" not in render_html(_report())


def test_the_terminal_metric_table_fits_a_long_name_with_its_item_count() -> None:
    # Found by attack: the metric column was 20 characters, so a name with "(on 7)" pushed
    # the rest of its row right and the table no longer lined up; values of other widths
    # (a delta of 6 decimals, "-" for none) moved the columns after them too.
    r = _report()
    r["results"][0]["metrics"] = {
        "accuracy": _metric(),
        "false_refusal_rate_on_benign_prompts": _metric(items=7, delta=-0.00004),
        "exact_match": _metric(base=None, delta=None, resamples=0),
    }
    r["results"].append(r["results"][0] | {"golden_set": "t", "metrics": {"f1": _metric()}})
    r["regression_suite"] = {
        "tasks": {
            "a_regression_task_with_a_long_name": _metric(),
            "b": _metric(candidate=0.25, delta=-0.00004),
        }
    }
    lines = terminal_summary(r, Path("o")).splitlines()
    rows = [line for line in lines if " cand " in line]
    assert len(rows) == 6
    assert rows[1].startswith("    false_refusal_rate_on_benign_prompts (on 7) cand 0.5000")
    for word in ("cand ", "base ", "delta "):
        suite = [row.index(word) for row in rows[4:]]
        assert len(set(suite)) == 1, (word, rows[4:])
        metrics = [row.index(word) for row in rows[:4]]
        assert len(set(metrics)) == 1, (word, rows[:4])
    starts = {row.index("[-0.") for row in rows[:4] if "[-0." in row}
    assert len(starts) == 1, rows[:4]
    assert all(row == row.rstrip() for row in rows)


def test_the_terminal_suite_table_aligns_wide_and_combining_task_names() -> None:
    # Found by attack: the columns were sized by len(), so a CJK or emoji task name (two
    # terminal columns a character) pushed its row's values right, and combining accents
    # (no column of their own) pulled them left. Task names are free text in the config.
    r = _report()
    r["regression_suite"] = {
        "tasks": {
            "日本語タスク日本語タスク日本語": _metric(),
            "emoji😀😀😀😀😀😀😀😀": _metric(),
            "e\u0301\u0301\u0301combining": _metric(),
            "b": _metric(candidate=0.25, delta=-0.00004),
        }
    }
    lines = terminal_summary(r, Path("o")).splitlines()
    rows = [line for line in lines if " cand " in line][1:]  # the suite's, after the set's
    assert len(rows) == 4

    def column(row: str, word: str) -> int:  # where ``word`` starts on a terminal
        return display_width(row[: row.index(word)])

    for word in ("cand ", "base ", "delta "):
        assert len({column(row, word) for row in rows}) == 1, (word, rows)
    assert column(rows[0], "cand ") == 4 + 30 + 1  # 15 wide characters: 30 columns
    assert display_width("e\u0301\u0301\u0301combining") == len("ecombining")


def test_set_check_messages_name_the_items_a_rate_is_measured_on() -> None:
    from curagate.gate.checks import Scope, metric_checks
    from curagate.gate.config import Regression, Threshold

    def run(on: int) -> list[str]:
        return [
            c.message
            for c in metric_checks(
                Scope("s", 10),
                {"false_refusal_rate": Threshold(max=0.2)},
                {"false_refusal_rate": Regression(warn_drop=0.1, fail_drop=0.5)},
                values=lambda m: (0.428571, 0.0),
                stats=lambda m: (
                    {"candidate": 0.428571, "base": 0.0, "delta": 0.428571, "ci_low": 0.1}
                    | {"ci_high": 0.7, "p_value": 0.25, "significant": False}
                ),
                higher_is_better=lambda m: False,
                fail_only_if_significant=False,
                measured_on=lambda m: (on, ""),
            )
        ]

    assert [m.rsplit(" on ", 1)[-1] for m in run(7)] == ["7 items", "7 items"]
    assert not any(" on " in m for m in run(10))
