"""The pairwise LLM judge in the gate, against canned OpenAI-compatible judges: one that
prefers the candidate, one that always answers ``A`` (pure position bias), one that prefers
the longer answer, and one that agrees with the human labels on 60% of them."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gate_support import CannedServer, write_set

from curagate.artifacts import GatePredicate, GateReportDoc, read_artifact
from curagate.cli import main
from curagate.errors import ConfigError, InputError
from curagate.gate import run_gate
from curagate.gate.judge import PairVerdict, cohen_kappa, parse_verdict, read_human_labels
from curagate.gate.label import label
from curagate.gate.report import REPORT_SCHEMA
from curagate.golden import lock

N = 40
ITEMS = [
    {"id": f"q{i:02d}", "prompt": f"Explain topic {i} briefly.", "reference": f"topic {i}"}
    for i in range(N)
]


def cand_answer(i: int) -> str:
    # Every other candidate answer is longer than the base's, the rest shorter, so a
    # judge that only likes the candidate shows no length preference.
    return f"cand: topic {i}" + (" explained with several useful details" * 2 if i % 2 else "")


def base_answer(i: int) -> str:
    return f"base: something about topic {i}, not quite it"


def _index(prompt: str) -> int:
    m = re.search(r"topic (\d+)", prompt)
    return int(m.group(1)) if m else 0


def _answers(judge_prompt: str) -> tuple[str, str]:
    m = re.search(r"\[Answer A\]\n(.*?)\n\n\[Answer B\]\n(.*?)\n\n", judge_prompt, re.S)
    assert m, judge_prompt
    return m.group(1), m.group(2)


def prefers_candidate(p: str) -> str:
    a, _ = _answers(p)
    return "A" if a.startswith("cand") else "B"


def always_a(p: str) -> str:
    return "A"


def prefers_longer(p: str) -> str:
    a, b = _answers(p)
    return "Verdict: A" if len(a) > len(b) else "B"


def never_decides(p: str) -> str:
    return "Both answers have merits; I cannot choose."


JUDGES: dict[str, Callable[[str], str]] = {
    "candidate": prefers_candidate,
    "always_a": always_a,
    "longer": prefers_longer,
    "undecided": never_decides,
}


@pytest.fixture
def endpoints() -> Iterator[dict[str, CannedServer]]:
    made = {
        "cand": CannedServer(lambda p: cand_answer(_index(p))),
        "base": CannedServer(lambda p: base_answer(_index(p))),
        **{name: CannedServer(fn) for name, fn in JUDGES.items()},
    }
    yield made
    for s in made.values():
        s.close()


def human_labels(agree: int, total: int = 50) -> list[dict[str, str]]:
    """People preferred the candidate on ``agree`` pairs and the base on the rest."""
    return [
        {
            "id": f"q{i:02d}",
            "prompt": ITEMS[i % N]["prompt"],
            "candidate": cand_answer(i),
            "base": base_answer(i),
            "preferred": "candidate" if i < agree else "base",
            "labeller": "ann",
        }
        for i in range(total)
    ]


def make_golden(tmp_path: Path, labels: list[dict[str, str]] | None) -> Path:
    root = tmp_path / "golden"
    d = write_set(root, "chat", "generation", ITEMS)
    if labels is not None:
        (d / "human_labels.jsonl").write_text(
            "".join(json.dumps(r, sort_keys=True) + "\n" for r in labels)
        )
        (d / "set.yaml").write_text(
            (d / "set.yaml").read_text().replace("[data.jsonl]", "[data.jsonl, human_labels.jsonl]")
        )
    lock(root)
    return root


GATE = """\
name: chat
golden_dir: {golden}
generation: {{max_new_tokens: 32, concurrency: 4}}
statistics: {{bootstrap_resamples: 200}}
golden_sets:
  - name: chat
    task: generation
    metrics:
      judge_win_rate: {{min: 0.6}}
    regression:
      rouge_l: {{warn_drop: 0.99, fail_drop: 0.99}}
    judge:
      model: {judge}
      endpoint_model: judge
      identity: canned judge ({name})
contamination: {{check: false}}
"""


def gate(tmp_path: Path, golden: Path, judge: CannedServer, name: str) -> Path:
    p = tmp_path / f"gate-{name}.yaml"
    p.write_text(GATE.format(golden=golden, judge=judge.url, name=name))
    return p


def judged(tmp_path, golden, endpoints, judge: str, out: str = "out", **kw: Any) -> Any:
    """The gate over the canned candidate and base, judged by the canned `judge` endpoint."""
    return run_gate(
        gate(tmp_path, golden, endpoints[judge], judge),
        endpoints["cand"].url,
        endpoints["base"].url,
        tmp_path / out,
        **kw,
    )


def check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


@pytest.mark.slow
def test_consistent_calibrated_judge_decides(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, human_labels(agree=45))
    out = judged(tmp_path, golden, endpoints, "candidate")
    r = out.report
    j = r["results"][0]["judge"]
    assert j["metrics"]["judge_win_rate"]["value"] == 1.0
    assert j["metrics"]["judge_loss_rate"]["value"] == 0.0
    assert j["metrics"]["position_disagreement"]["value"] == 0.0
    # The candidate is the longer answer on half the items and wins all: no length preference.
    assert j["metrics"]["length_bias"]["value"] == 0.5
    assert j["counts"]["candidate_wins"] == N and j["counts"]["position_disagreements"] == 0
    assert j["calibration"]["labels"] == 50 and j["calibration"]["agreement"] == 0.9
    assert j["trusted"] is True
    assert check(r, "chat.judge.position")["verdict"] == "pass"
    assert check(r, "chat.judge.calibration")["verdict"] == "pass"
    assert check(r, "chat.judge.length_bias")["verdict"] == "pass"
    win = check(r, "chat.judge_win_rate.threshold")
    assert win["id"] == "GATE001" and win["verdict"] == "pass"
    # a small set; the contamination check turned off in the gate file (a warning)
    assert {c["id"] for c in r["checks"] if c["verdict"] != "pass"} == {"GATE006", "GATE005"}
    assert out.exit_code == 0
    # The judge is named in the report, the attestation predicate and the endpoint log.
    assert r["judges"]["chat"]["stated_identity"] == "canned judge (candidate)"
    assert r["judges"]["chat"]["endpoint"] == endpoints["candidate"].url
    loaded = read_artifact(GateReportDoc, tmp_path / "out" / "gate_report.json")
    pred = GatePredicate.of_report(loaded.doc, loaded.sha256)
    assert pred.judges["chat"].identity == r["judges"]["chat"]["identity"]
    assert pred.judges["chat"].stated_identity == "canned judge (candidate)"
    log = json.loads((tmp_path / "out" / "endpoint_log.json").read_text())
    # 40 items x 2 orders + 50 labelled pairs x 2 orders.
    assert log["judge:chat"]["answers"] == 2 * N + 2 * 50
    # Each item's verdict, in both orders, is in items.jsonl for the item viewer.
    rows = [json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert rows[0]["judge"]["verdict"] == "candidate"
    assert rows[0]["judge"]["candidate_first"]["verdict"] == "candidate"
    assert rows[0]["judge"]["base_first"] == {"verdict": "candidate", "raw": "B"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "### LLM judge" in md and "judge: canned judge (candidate)" in md
    assert (
        "trusted yes; agreement 90.0% on 50 pairs (50 human better/worse labels, each pair "
        "weighing once; 50 in all), kappa" in md
    )
    assert "| judge_win_rate | 1.0000 | [1.0000, 1.0000] | 40 |" in md
    assert "LLM judge" in (tmp_path / "out" / "report.html").read_text()
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(r)


@pytest.mark.slow
def test_position_biased_judge_is_refused(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, human_labels(agree=45))
    out = judged(tmp_path, golden, endpoints, "always_a")
    r = out.report
    j = r["results"][0]["judge"]
    assert j["metrics"]["position_disagreement"]["value"] == 1.0
    assert j["counts"]["ties"] == N  # every flipped verdict became a tie
    assert j["metrics"]["judge_win_rate"]["value"] == 0.5
    pos = check(r, "chat.judge.position")
    assert pos["id"] == "GATE008" and pos["verdict"] == "fail"
    # On the labelled pairs it also says "tie" every time: uncalibrated too.
    assert check(r, "chat.judge.calibration")["verdict"] == "fail"
    win = check(r, "chat.judge_win_rate.threshold")
    assert win["verdict"] == "warn" and win["message"].startswith("not counted")
    rows = [json.loads(x) for x in (tmp_path / "out" / "items.jsonl").read_text().splitlines()]
    assert rows[0]["judge"]["position_disagreement"] is True
    assert rows[0]["judge"]["candidate_first"]["verdict"] == "candidate"
    assert rows[0]["judge"]["base_first"]["verdict"] == "base"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "trusted NO" in md and "order flips 40" in md
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(r)
    assert out.exit_code == 1


def test_a_judge_that_never_gives_a_verdict_is_refused(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, None)
    g = gate(tmp_path, golden, endpoints["undecided"], "undecided")
    g.write_text(
        g.read_text().replace(
            "judge_win_rate: {min: 0.6}",
            "judge_win_rate: {min: 0.6}\n      length_bias: {min: 0.0}",
        )
    )
    out = run_gate(g, endpoints["cand"].url, endpoints["base"].url, tmp_path / "out")
    j = out.report["results"][0]["judge"]
    assert j["counts"]["unparsed"] == 2 * N and j["counts"]["ties"] == N
    # An unparsed verdict is no consistent verdict: counted with the order flips.
    assert j["metrics"]["position_disagreement"]["value"] == 1.0
    assert check(out.report, "chat.judge.position")["verdict"] == "fail"
    assert out.exit_code == 1
    # No decisive verdict: the length bias is undefined, not 0.0 (which passed its bar).
    lb = j["metrics"]["length_bias"]
    assert (lb["value"], lb["ci_low"], lb["ci_high"], lb["items"]) == (None, None, None, 0)
    assert check(out.report, "chat.judge.length_bias")["message"].startswith("not measured")
    bar = check(out.report, "chat.length_bias.threshold")
    assert bar["verdict"] == "fail" and bar["message"].startswith("not measured: length_bias")
    assert "length_bias | - | [-, -] | 0" in (tmp_path / "out" / "report.md").read_text()


def test_an_interval_leaves_out_resamples_that_hold_no_counted_item() -> None:
    """A resample holding none of the metric's items was read as 0.0: one decisive verdict,
    won by the longer answer, had the value 1.0 and the interval [0.0, 1.0]."""
    from curagate.gate.judge import JudgeScores

    verdicts = [PairVerdict("candidate", "candidate", "", "")] + [
        PairVerdict("tie", "tie", "", "") for _ in range(9)
    ]
    scores = JudgeScores.of(verdicts, ["long answer", *["x"] * 9], ["short", *["x"] * 9])
    lb = scores.stats("length_bias", resamples=200, confidence=0.95, seed=0)
    assert (lb["value"], lb["ci_low"], lb["ci_high"], lb["items"]) == (1.0, 1.0, 1.0, 1)
    assert 0 < lb["resamples"] < 200  # those without the item are left out


def test_verdicts_unparsed_in_either_order_count_as_disagreements() -> None:
    def pair(first: str | None, second: str | None) -> PairVerdict:
        return PairVerdict(first, second, "", "")

    for first, second in [(None, None), ("tie", None), (None, "base"), ("candidate", "base")]:
        assert pair(first, second).disagree
    assert not pair("candidate", "candidate").disagree


@pytest.mark.slow
def test_length_biased_judge_is_flagged(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, None)
    out = judged(tmp_path, golden, endpoints, "longer")
    r = out.report
    j = r["results"][0]["judge"]
    assert j["metrics"]["length_bias"]["value"] == 1.0
    assert j["metrics"]["candidate_longer_rate"]["value"] == 0.5
    assert j["metrics"]["position_disagreement"]["value"] == 0.0
    lb = check(r, "chat.judge.length_bias")
    assert lb["id"] == "GATE010" and lb["verdict"] == "warn"
    # No human labels: not calibrated, so its win rate is not counted either way.
    cal = check(r, "chat.judge.calibration")
    assert cal["verdict"] == "warn" and "curagate golden label chat" in cal["message"]
    assert check(r, "chat.judge_win_rate.threshold")["verdict"] == "warn"
    assert out.exit_code == 0  # warnings only
    strict = judged(tmp_path, golden, endpoints, "longer", "out2", strict=True)
    assert strict.exit_code == 1


@pytest.mark.slow
def test_judge_agreeing_with_60_percent_of_labels_is_refused(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, human_labels(agree=30))
    out = judged(tmp_path, golden, endpoints, "candidate")
    r = out.report
    cal = check(r, "chat.judge.calibration")
    assert cal["id"] == "GATE009" and cal["verdict"] == "fail"
    assert cal["candidate"] == 0.6
    assert "60.0%" in cal["message"] and "min_human_agreement 80.0%" in cal["message"]
    assert r["results"][0]["judge"]["calibration"]["cohen_kappa"] == 0.0
    # The judge is consistent and says the candidate wins everything, but it is not trusted.
    assert check(r, "chat.judge.position")["verdict"] == "pass"
    win = check(r, "chat.judge_win_rate.threshold")
    assert win["verdict"] == "warn" and "not counted" in win["message"]
    assert out.exit_code == 1


def test_judge_cli_errors_are_one_line(tmp_path, endpoints, capsys) -> None:
    golden = make_golden(tmp_path, None)
    g = gate(tmp_path, golden, endpoints["candidate"], "x")
    g.write_text(g.read_text().replace("      identity: canned judge (x)\n", ""))
    code = main(
        [
            "gate",
            str(g),
            "--candidate",
            endpoints["cand"].url,
            "--base",
            endpoints["base"].url,
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "an endpoint judge needs 'identity'" in err and "Traceback" not in err
    g.write_text(
        GATE.format(golden=golden, judge=endpoints["candidate"].url, name="x").replace(
            "judge_win_rate: {min: 0.6}",
            "judge_win_rate: {min: 0.6}\n    slices: [{column: id, metrics: {length_bias: {max: 0.7}}}]",
        )
    )
    with pytest.raises(ConfigError, match="judge metrics are set-level only"):
        run_gate(g, endpoints["cand"].url, endpoints["base"].url, tmp_path / "o")


def test_one_pair_labelled_under_fifty_names_does_not_calibrate_the_judge(
    tmp_path, endpoints
) -> None:
    # Fifty rows of one pair, each under another labeller name, made GATE009 pass
    # ("agrees with 50 human better/worse labels") and the judge's win rate count.
    one = human_labels(agree=50)[0]
    copies = [{**one, "labeller": f"reviewer{k}"} for k in range(25)]
    # ... nor the same pair spaced or cased otherwise, under other ids.
    copies += [
        {
            **one,
            "id": f"x{k}",
            "prompt": one["prompt"].upper() + " " * k + "\u200b" * (k % 3) + "." * (k % 2),
            "labeller": f"r{k}",
        }
        for k in range(25)
    ]
    golden = make_golden(tmp_path, copies)
    r = judged(tmp_path, golden, endpoints, "candidate").report
    cal = r["results"][0]["judge"]["calibration"]
    assert (cal["decisive_labels"], cal["decisive_pairs"]) == (50, 1)
    msg = check(r, "chat.judge.calibration")
    assert (
        msg["verdict"] == "warn"
        and "only 1 distinct pairs labelled with a side" in (msg["message"])
    )
    assert r["results"][0]["judge"]["trusted"] is False


@pytest.mark.slow
def test_agreeing_pairs_copied_under_other_names_do_not_raise_the_agreement(
    tmp_path, endpoints
) -> None:
    # Found by attack: the 50-pair minimum counted distinct pairs but the agreement was
    # over rows: the 30 pairs of 50 the judge agreed on, copied under 3 other labeller
    # names, made 120 of 140 labels agree (85.7%) and GATE009 pass a judge right on 60%
    # of the pairs people labelled. Each pair now weighs once.
    labels = human_labels(agree=30)
    copies = [{**r, "labeller": name} for name in ("bob", "cat", "dan") for r in labels[:30]]
    golden = make_golden(tmp_path, labels + copies)
    r = judged(tmp_path, golden, endpoints, "candidate").report
    cal = r["results"][0]["judge"]["calibration"]
    assert (cal["decisive_labels"], cal["decisive_pairs"]) == (140, 50)
    assert cal["agreement"] == 0.6 and cal["agreement_with_ties"] == 0.6
    msg = check(r, "chat.judge.calibration")
    assert msg["verdict"] == "fail" and msg["candidate"] == 0.6
    assert "60.0% of 50 distinct pairs" in msg["message"]
    assert r["results"][0]["judge"]["trusted"] is False
    # People who disagree on a pair split its weight: a pair two labellers saw apart
    # counts half agreed, whichever of them labelled more other pairs.
    split = [{**labels[0], "labeller": "bob", "preferred": "base"}]
    golden = make_golden(tmp_path / "split", labels + split)
    cal = judged(tmp_path, golden, endpoints, "candidate", "out2").report["results"][0]
    assert cal["judge"]["calibration"]["agreement"] == pytest.approx(29.5 / 50)


def test_judge_metrics_named_without_a_bound_write_no_threshold_check(tmp_path) -> None:
    # `length_bias: {}` failed the gate when the answers were of one length ("not
    # measured", a bar nobody set), `position_disagreement: {}` wrote a PASS that checked
    # nothing; and the length-bias reason replaced the untrusted judge's own in the
    # win rate's "not counted" message.
    same = [CannedServer(lambda p: "blue"), CannedServer(lambda p: "pink")]
    judge = CannedServer(always_a)
    try:
        golden = make_golden(tmp_path, None)
        text = GATE.format(golden=golden, judge=judge.url, name="always_a").replace(
            "      judge_win_rate: {min: 0.6}\n",
            "      position_disagreement: {}\n      length_bias: {max: 0.9}\n"
            "      judge_loss_rate: {max: 0.9}\n",
        )
        p = tmp_path / "g.yaml"
        p.write_text(text)
        r = run_gate(p, same[0].url, same[1].url, tmp_path / "out").report
    finally:
        for s in [*same, judge]:
            s.close()
    names = {c["name"] for c in r["checks"] if c["id"] == "GATE001"}
    assert names == {"chat.judge_loss_rate.threshold", "chat.length_bias.threshold"}
    loss = check(r, "chat.judge_loss_rate.threshold")
    assert "undefined" not in loss["message"] and "(GATE008/GATE009)" in loss["message"]
    bias = check(r, "chat.judge.length_bias")["message"]
    assert "longer on none of the items (no answers of different length)" in bias


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"\xff\xfe{question}", "not UTF-8 text (byte 0)"), (None, "not found")],
    ids=["not-utf8", "missing"],
)
def test_a_bad_judge_prompt_stops_the_gate_before_any_model_runs(
    tmp_path, endpoints, content: bytes | None, says: str
) -> None:
    # It was read after both models generated: exit 3 (UnicodeDecodeError) or a config
    # error once the work was done.
    golden = make_golden(tmp_path, None)
    if content is not None:
        (tmp_path / "judge.txt").write_bytes(content)
    text = GATE.format(golden=golden, judge=endpoints["candidate"].url, name="c")
    p = tmp_path / "g.yaml"
    name = "      identity: canned judge (c)\n"
    p.write_text(text.replace(name, f"{name}      prompt: {tmp_path / 'judge.txt'}\n"))
    with pytest.raises(ConfigError, match=rf"judge\.prompt .*judge\.txt: {re.escape(says)}"):
        run_gate(p, endpoints["cand"].url, endpoints["base"].url, tmp_path / "out")
    assert endpoints["cand"].requests == 0


def test_bad_human_label_names_the_line(tmp_path) -> None:
    labels = human_labels(agree=45)
    labels[3]["preferred"] = "A"
    # InputError (exit 2, one line), not any exception: a KeyError or TypeError that
    # happened to mention the field would be an internal bug (exit 3). Locking reads the
    # labels as the gate will, so the error comes before anything is locked.
    message = r"human_labels.jsonl: line 4: field 'preferred' must be one of candidate, base, tie$"
    with pytest.raises(InputError, match=message):
        make_golden(tmp_path, labels)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # One person's label copied 49 times made a judge "calibrated" on one pair.
        (lambda r: r, r"line 3: item 'q00' is labelled twice by 'ann' \(line 1\)"),
        (
            lambda r: {**r, "labeller": " Ann "},
            r"line 3: item 'q00' is labelled twice by ' Ann ' \(line 1\)",
        ),
        (
            lambda r: {**r, "id": "copy"},
            r"line 3: item 'copy' repeats the pair ann labelled as item 'q00' on line 1",
        ),
        # The same pair with its sides swapped and the preference flipped: 25 labels and
        # their mirrors made the 50 "distinct pairs" that let a judge's verdict count.
        (
            lambda r: {
                **r,
                "id": "mirror",
                "candidate": r["base"],
                "base": r["candidate"],
                "preferred": {"candidate": "base", "base": "candidate"}.get(
                    r["preferred"], r["preferred"]
                ),
            },
            r"line 3: item 'mirror' repeats the pair ann labelled as item 'q00' on line 1",
        ),
    ],
)
def test_a_repeated_human_label_is_refused(tmp_path, edit, message: str) -> None:
    labels = human_labels(agree=2, total=2)
    labels.append(edit(dict(labels[0])))
    with pytest.raises(InputError, match=message):
        make_golden(tmp_path, labels)
    path = tmp_path / "golden" / "chat" / "human_labels.jsonl"
    with pytest.raises(InputError, match=message):
        read_human_labels(path)
    # Another person labelling the same pair is a second judgement, not a copy.
    labels[-1] = {**labels[0], "labeller": "bo"}
    path.write_text("".join(json.dumps(r) + "\n" for r in labels))
    assert [lab.labeller for lab in read_human_labels(path)] == ["ann", "ann", "bo"]


def test_verdict_parsing_and_kappa() -> None:
    assert parse_verdict("A") == "A"
    assert parse_verdict("**B**") == "B"
    assert parse_verdict("Verdict: TIE.") == "TIE"
    assert parse_verdict("tie") == "TIE"
    assert parse_verdict("Both are fine") is None
    assert parse_verdict("Final verdict is: B") == "B" and parse_verdict("answer: A") == "A"
    assert parse_verdict("answers A") is None and parse_verdict("Verdict") is None
    # in linear time: 16,000 punctuation characters took 5 s (quadratic regex)
    assert parse_verdict("!" * 200_000) is None
    assert cohen_kappa(["a", "b", "a", "b"], ["a", "b", "a", "b"]) == 1.0
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == 0.0


class Person:
    """A labeller at the terminal: reads what was shown and prefers the candidate's answer
    (the one starting with "cand:"), skipping the third item and quitting after ``stop``."""

    def __init__(self, screen: io.StringIO, stop: int) -> None:
        self.screen = screen
        self.stop = stop
        self.asked = 0

    def readline(self) -> str:
        self.asked += 1
        if self.asked > self.stop:
            return "q\n"
        if self.asked == 3:
            return "s\n"
        shown = self.screen.getvalue().rsplit("REQUEST:", 1)[1]
        first = shown.split("FIRST ANSWER:\n", 1)[1]
        return "1\n" if first.startswith("cand") else "2\n"


@pytest.mark.slow
def test_golden_label_records_choices_by_side(tmp_path, endpoints) -> None:
    golden = make_golden(tmp_path, None)
    judged(tmp_path, golden, endpoints, "candidate")
    items = tmp_path / "out" / "items.jsonl"
    screen = io.StringIO()
    added, path = label(
        golden, "chat", items, labeller="ann", stdin=Person(screen, stop=12), stdout=screen
    )
    assert added == 11 and path == golden / "chat" / "human_labels.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert {r["preferred"] for r in rows} == {"candidate"} and {r["labeller"] for r in rows} == {
        "ann"
    }
    assert all(r["candidate"].startswith("cand") and r["base"].startswith("base") for r in rows)
    # Both orders were shown (the order is random per item, seeded).
    assert "FIRST ANSWER:\ncand" in screen.getvalue() and "FIRST ANSWER:\nbase" in screen.getvalue()
    # The CLI, fed from stdin: the same labeller continues where they stopped, under any
    # spelling of their name (" Ann " was shown ann's items again, and the file then failed
    # to load); "x" is asked again.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "curagate",
            "golden",
            "label",
            "chat",
            "--golden-dir",
            str(golden),
            "--items",
            str(items),
            "--labeller",
            " Ann ",
            "--limit",
            "3",
        ],
        input="x\nt\nt\nt\n",
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 labels added" in proc.stdout and "curagate golden lock" in proc.stdout
    rows2 = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(rows2) == 14 and [r["preferred"] for r in rows2[11:]] == ["tie"] * 3
    assert len({r["id"] for r in rows2}) == 14
    # Locked with the set, the labels calibrate the judge (too few of them yet: a warning).
    (golden / "chat" / "set.yaml").write_text(
        (golden / "chat" / "set.yaml")
        .read_text()
        .replace("[data.jsonl]", "[data.jsonl, human_labels.jsonl]")
    )
    lock(golden)
    out = judged(tmp_path, golden, endpoints, "candidate", "out2")
    cal = out.report["results"][0]["judge"]["calibration"]
    # 11 better/worse choices, all agreeing; the 3 ties count only in the three-way figure.
    assert cal["labels"] == 14 and cal["decisive_labels"] == 11 and cal["agreement"] == 1.0
    assert cal["agreement_with_ties"] == pytest.approx(11 / 14, abs=1e-6)
    assert out.report["results"][0]["items"] == N  # the labels are not items
    msg = check(out.report, "chat.judge.calibration")
    assert (
        msg["verdict"] == "warn"
        and "only 11 distinct pairs labelled with a side (11 such labels, 14" in msg["message"]
    )


def test_golden_label_asks_one_pair_once_in_a_session(tmp_path) -> None:
    # Two items with one prompt and the same two answers (or the two sides swapped): both
    # were asked and written, and the labels file then failed to load ("repeats the pair").
    golden = make_golden(tmp_path, None)
    rows = [
        ("q0", "What is the capital of France?", "Paris", "Lyon"),
        ("q1", "what is the capital of france", "Lyon", "Paris."),
        ("q2", "Other question?", "cand: a", "base: b"),
    ]
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps(
                {"set": "chat", "id": i, "prompt": p, "candidate_output": c, "base_output": b}
            )
            + "\n"
            for i, p, c, b in rows
        )
    )
    screen = io.StringIO()
    added, path = label(
        golden, "chat", items, labeller="ann", stdin=io.StringIO("1\n" * 3), stdout=screen
    )
    assert added == 2
    assert len(read_human_labels(path)) == 2
    # One id twice (two gate runs' items.jsonl put together), another pair each: asked once.
    with items.open("a") as f:
        for p, c, b in (("first of x9", "c1", "b1"), ("second of x9", "c2", "b2")):
            row = {"set": "chat", "id": "x9", "prompt": p, "candidate_output": c}
            f.write(json.dumps({**row, "base_output": b}) + "\n")
    added, _ = label(
        golden, "chat", items, labeller="ann", stdin=io.StringIO("1\n" * 3), stdout=screen
    )
    assert added == 1 and len(read_human_labels(path)) == 3
    # Repeats are dropped before --limit: with a limit of 2, the item after them is asked.
    with items.open("a") as f:
        for k in range(3):
            row = {"set": "chat", "id": "w7", "prompt": f"w7 {k}", "candidate_output": "c"}
            f.write(json.dumps({**row, "base_output": "b"}) + "\n")
        row = {"set": "chat", "id": "last", "prompt": "last one", "candidate_output": "c"}
        f.write(json.dumps({**row, "base_output": "b"}) + "\n")
    added, _ = label(
        golden, "chat", items, labeller="ann", limit=2, stdin=io.StringIO("1\n" * 3), stdout=screen
    )
    assert added == 2


def test_golden_label_errors_are_one_line(tmp_path, capsys) -> None:
    golden = make_golden(tmp_path, None)
    code = main(
        [
            "golden",
            "label",
            "chat",
            "--golden-dir",
            str(golden),
            "--items",
            str(tmp_path / "nope.jsonl"),
            "--labeller",
            "a",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "nope.jsonl: not found" in err and "Traceback" not in err
    code = main(["golden", "label", "chat", "--golden-dir", str(golden)])
    assert code == 2 and "--items" in capsys.readouterr().err


def test_golden_label_with_stdin_closed_an_odd_labeller_or_a_negative_limit(
    tmp_path, capsys
) -> None:
    """Closed stdin (`<&-`) was an AttributeError, a labeller that is not UTF-8 a
    UnicodeEncodeError (exit 3), and --limit -1 labelled all items but the last."""
    golden = make_golden(tmp_path, None)
    items = tmp_path / "items.jsonl"
    row = {"set": "chat", "id": "c1", "prompt": "p", "candidate_output": "a", "base_output": "b"}
    items.write_text(json.dumps(row) + "\n")
    base = ["golden", "label", "chat", "--golden-dir", str(golden), "--items", str(items)]
    with pytest.raises(SystemExit) as e:
        main([*base, "--labeller", "a", "--limit", "-1"])
    assert e.value.code == 2 and "--limit" in capsys.readouterr().err
    assert main([*base, "--labeller", os.fsdecode(b"an\xffa")]) == 2
    assert "an\\xffa: not UTF-8 text" in capsys.readouterr().err
    proc = subprocess.run(
        ["bash", "-c", f"'{sys.executable}' -m curagate {' '.join(base)} --labeller ann <&-"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert proc.returncode == 0 and "internal error" not in proc.stderr, proc.stderr
    assert "0 labels added" in proc.stdout


def test_bundled_judge_and_safety_gates_validate() -> None:
    from curagate.gate import load_gate

    root = Path(__file__).resolve().parents[2]
    example = load_gate(root / "examples" / "judge" / "gate.yaml")
    judged = next(g for g in example.golden_sets if g.name == "user_oriented")
    assert judged.judge is not None and judged.judge.model.startswith("http://127.0.0.1")
    assert example.resolve(judged.judge.prompt or "").is_file()
    safety = load_gate(root / "gates" / "safety.yaml")
    assert {g.name for g in safety.golden_sets} == {
        "safety_refusal",
        "safety_jailbreak",
        "safety_pii",
    }


def test_judge_thresholds_keep_the_default_regression_rule(tmp_path, endpoints) -> None:
    """A set that names only judge thresholds still gets the default regression rule on
    every metric the task computes (the judge does not replace the string metrics)."""
    golden = make_golden(tmp_path, None)
    g = gate(tmp_path, golden, endpoints["candidate"], "c")
    g.write_text(
        g.read_text().replace(
            "    regression:\n      rouge_l: {warn_drop: 0.99, fail_drop: 0.99}\n", ""
        )
    )
    out = run_gate(g, endpoints["cand"].url, endpoints["base"].url, tmp_path / "out")
    names = {c["name"] for c in out.report["checks"] if c["id"] == "GATE002"}
    assert names == {"chat.exact_match.regression", "chat.rouge_l.regression"}


def test_golden_label_shows_outputs_without_what_a_terminal_acts_on(tmp_path) -> None:
    # Found by attack: an output could hide its own text (SGR 8, conceal) or retitle the
    # window while a person labelled the pairs that calibrate the judge.
    golden = make_golden(tmp_path, None)
    items = tmp_path / "items.jsonl"
    row = {
        "set": "chat",
        "id": "c\x1b[2Jx",
        "prompt": "Say hi\nplease",
        "candidate_output": "cand: hi\x1b[8m hidden \x1b[0m\nsecond line",
        "base_output": "base: hello\x1b]0;pwned\x07",
    }
    items.write_text(json.dumps(row) + "\n")
    screen = io.StringIO()
    added, _ = label(
        golden, "chat", items, labeller="ann", stdin=Person(screen, stop=1), stdout=screen
    )
    shown = screen.getvalue()
    assert added == 1 and "\x1b" not in shown and "\x07" not in shown
    assert "hidden" in shown and "second line" in shown and "Say hi\nplease" in shown


@pytest.mark.slow
def test_judge_intervals_of_an_id_less_set_do_not_depend_on_its_line_order(
    tmp_path, endpoints
) -> None:
    # Found by attack: items without ids were drawn in their line order, so the same set
    # shuffled gave other judge intervals for the same verdicts.
    import random

    def mixed(p: str) -> str:  # the candidate wins two items in three
        a, _ = _answers(p)
        return "A" if a.startswith("cand") == (_index(a) % 3 != 0) else "B"

    judge = CannedServer(mixed)
    try:
        items = [{k: v for k, v in it.items() if k != "id"} for it in ITEMS]
        shuffled = list(items)
        random.Random(4).shuffle(shuffled)
        metrics = []
        for name, order in (("given", items), ("shuffled", shuffled)):
            root = tmp_path / name / "golden"
            write_set(root, "chat", "generation", order)
            lock(root)
            out = run_gate(
                gate(tmp_path / name, root, judge, "mixed"),
                endpoints["cand"].url,
                endpoints["base"].url,
                tmp_path / name / "out",
            )
            metrics.append(out.report["results"][0]["judge"]["metrics"])
    finally:
        judge.close()
    assert metrics[0] == metrics[1]
