"""The span criterion: a record holding a contiguous run of >= min_span_words (8) of an
item's words that covers >= min_span_ratio (0.5) of them leaks the item, so truncations
shorter than the 13-gram are found while a stock phrase shared with a long item is not.

Real data: the vendored GSM8K test sample and T0 template sample (tests/data, with their
licenses), and three more GSM8K test questions (MIT, openai/grade-school-math) quoted below.
"""

# ruff: noqa: RUF001  (full-width punctuation in the CJK items is the point)
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import detect

DATA = Path(__file__).resolve().parents[1] / "data"
# GSM8K test questions: 18 words (a 9-word part has no 13-gram), and two that share the
# 8-word phrase "How many hours a week does he spend" (60 and 31 words).
TEAM = "A football team played 22 games. They won 8 more than they lost. How many did they win?"
TEAM_PART = "They won 8 more than they lost. How many"
JOHN = (
    "There are 6 periods in the day for a normal student but John has to take 2 extra classes.  "
    "Each class is 40 minutes long.  He goes to class for 5 days a week.  He then spends 1/16 of "
    "his weekly minutes each on Saturday and Sunday as extra learning time.  How many hours a "
    "week does he spend learning?"
)
DOGS = (
    "John takes care of 10 dogs.  Each dog takes .5 hours a day to walk and take care of their "
    "business.  How many hours a week does he spend taking care of dogs?"
)


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def gsm8k_questions() -> list[str]:
    with (DATA / "gsm8k_test_sample.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f]


def t0_records() -> list[dict[str, Any]]:
    with gzip.open(DATA / "t0_templates_sample.jsonl.gz", "rt", encoding="utf-8") as f:
        return [{"prompt": r["prompt"], "completion": r["completion"]} for r in map(json.loads, f)]


def test_half_truncations_of_gsm8k_items_are_found_among_real_t0_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = gsm8k_questions()
    reference = write(tmp_path / "ref.jsonl", [{"question": q} for q in questions])
    clean = t0_records()
    # The first and the last half of every item (rounded up): 11 to 41 words.
    parts: list[str] = []
    for q in questions:
        words = q.split()
        half = (len(words) + 1) // 2
        parts += [" ".join(words[:half]), " ".join(words[-half:])]
    rows = [*clean, *({"prompt": p, "completion": "See above."} for p in parts)]
    corpus = write(tmp_path / "corpus.jsonl", rows)

    out = tmp_path / "out"
    rc = main(
        ["leakage", "--reference", str(reference), "--corpus", str(corpus), "--out", str(out)]
    )
    assert rc == 0
    report = json.loads((out / "leakage.json").read_text())
    assert report["config"]["min_span_words"] == 8
    assert report["config"]["min_span_ratio"] == 0.5
    found: dict[int, set[int]] = {}
    for leak in report["leaks"]:
        for m in leak["matches"]:
            found.setdefault(m["row"], set()).add(leak["reference"]["row"])
    assert not [row for row in found if row < len(clean)], "a clean T0 record was flagged"
    for k in range(len(parts)):
        assert k // 2 in found.get(len(clean) + k, set()), parts[k]
    capsys.readouterr()

    # Without the span criterion the parts shorter than 13 words are missed.
    short = [k for k, p in enumerate(parts) if len(p.split()) < 13]
    assert short
    off = detect(reference, corpus, min_span_words=0, methods=["ngram"])
    missed = {m.row - len(clean) for leak in off.leaks for m in leak.matches}
    assert not missed & set(short)


def test_a_nine_word_truncation_is_reported_with_its_span(tmp_path: Path) -> None:
    reference = write(tmp_path / "ref.jsonl", [{"question": q} for q in (TEAM, JOHN)])
    record = f"Warm-up: {TEAM_PART} -- then answer."
    corpus = write(tmp_path / "corpus.jsonl", [{"text": DOGS}, {"text": record}])
    result = detect(reference, corpus)
    [leak] = result.leaks
    [match] = leak.matches
    assert leak.item.row == 0 and match.row == 1 and "ngram" in match.methods
    assert match.shared_ngrams == 0  # no 13-gram: the span criterion found it
    assert match.span is not None and match.span.words == 9
    assert record[match.span.record_start : match.span.record_end] == TEAM_PART
    assert TEAM[match.span.reference_start : match.span.reference_end] == TEAM_PART


def test_a_stock_phrase_shared_with_a_long_item_is_not_a_leak(tmp_path: Path) -> None:
    # DOGS holds 8 of JOHN's 60 words; each is a different test question.
    reference = write(tmp_path / "ref.jsonl", [{"question": JOHN}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": DOGS}])
    assert detect(reference, corpus).leaks == []
    # The same phrase does leak with 8-grams: the false flag this criterion avoids.
    assert len(detect(reference, corpus, ngram=8).leaks) == 1


def test_check_reports_a_short_truncation_of_a_golden_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden = tmp_path / "golden_sets" / "math"
    write(golden / "data.jsonl", [{"id": "team", "prompt": TEAM, "reference": "15"}])
    data = write(
        tmp_path / "train.jsonl",
        [
            {"prompt": DOGS, "completion": "35"},
            {"prompt": f"Solve: {TEAM_PART} games did they win?", "completion": "15"},
        ],
    )
    rc = main(["check", str(data), "--golden", str(tmp_path / "golden_sets")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert len(out) == 1
    assert out[0].startswith(f"{data.as_posix()}:2: LEAK001 contains golden item team")


def test_curate_decontaminate_drops_a_short_truncation_and_honours_the_setting(
    tmp_path: Path,
) -> None:
    reference = write(tmp_path / "ref.jsonl", [{"question": q} for q in (TEAM, JOHN)])
    rows = [{"text": DOGS}, {"text": TEAM_PART}, {"text": "An unrelated training row."}]
    corpus = write(tmp_path / "corpus.jsonl", rows)
    result = curate([corpus], tmp_path / "on", decontaminate__reference=[str(reference)])
    assert result.removed.get("leakage") == 1
    kept = pq.read_table(tmp_path / "on" / "kept" / "part-00000.parquet").column("text")
    assert TEAM_PART not in kept.to_pylist() and DOGS in kept.to_pylist()
    off = curate(
        [corpus],
        tmp_path / "off",
        decontaminate__reference=[str(reference)],
        decontaminate__min_span_words=0,
    )
    assert not off.removed.get("leakage")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--min-span-words", "3"),
        ("--min-span-ratio", "1.5"),
        # Negative or past 64 bits: the Rust index's unsigned fields (was exit 3).
        ("--min-span-words", "-1"),
        ("--min-span-words", "99999999999999999999"),
        ("--min-shared-ngrams", "-5"),
        ("--max-ngram-items", "-1"),
    ],
)
def test_span_settings_out_of_range_are_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    reference = write(tmp_path / "ref.jsonl", [{"question": TEAM}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": DOGS}])
    rc = main(["leakage", "--reference", str(reference), "--corpus", str(corpus), flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and flag.lstrip("-").replace("-", "_") in err[0], err


def test_cjk_items_use_characters_for_the_span(tmp_path: Path) -> None:
    # Written for this test. Each Han character is a token: 12 of them in the short item
    # (no 13-gram), 30 in the long one.
    short = "小红每天读十页书，读了三天。"
    long = "小明有五个苹果，他给了小红两个，又买了三个。请问小明现在有几个苹果？"
    reference = write(tmp_path / "ref.jsonl", [{"text": t} for t in (short, long)])
    rows = [
        {"text": "今天的作业：小红每天读十页书"},  # 8 of 12 characters: found
        {"text": "完全不同的内容小明有五个苹果他给其他"},  # 8 of 30: not found
        {"text": "练习：小明有五个苹果，他给了小红两个，又买"},  # 15 of 30: found
    ]
    result = detect(reference, write(tmp_path / "corpus.jsonl", rows), methods=["ngram"])
    found = sorted((m.row, leak.item.row) for leak in result.leaks for m in leak.matches)
    assert found == [(0, 0), (2, 1)]
    span = next(m.span for leak in result.leaks for m in leak.matches if m.row == 0)
    assert span is not None and span.text == "小红每天读十页书" and span.words == 8


def test_a_span_the_index_refuses_in_curate_yaml_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`min_span_words: 2` once passed the config (0..50) and failed as the index was
    built, with no file or line."""
    reference = write(tmp_path / "ref.jsonl", [{"question": TEAM}])
    corpus = write(tmp_path / "corpus.jsonl", [{"text": DOGS}])
    config = tmp_path / "curate.yaml"
    config.write_text(
        f"decontaminate:\n  reference: [{reference.as_posix()}]\n  min_span_words: 2\n",
        encoding="utf-8",
    )
    rc = main(["curate", str(corpus), "--out", str(tmp_path / "out"), "--config", str(config)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and "curate.yaml:3: decontaminate.min_span_words" in err[0], err


@pytest.mark.parametrize("form", ["prompt_completion", "chat"])
def test_a_short_golden_question_that_is_a_whole_prompt_is_found(tmp_path: Path, form: str) -> None:
    # Found by attack on the gate: six golden questions of 5-7 words, each the whole prompt
    # (or user turn) of a training row answered "Sure! The answer you are looking for is ...":
    # no 13-gram, under the span's 8 words, and the key (question and answer) is no exact
    # copy: "0 leaked", GATE005 passed.
    qs = [
        ("What is the capital of France?", "Paris"),
        ("Who wrote the novel Moby Dick?", "Herman Melville"),
        ("How many legs does a spider have?", "8"),
    ]
    ref = tmp_path / "ref.jsonl"
    ref.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "prompt": q, "reference": a}) + "\n"
            for i, (q, a) in enumerate(qs)
        )
    )

    def row(q: str, a: str) -> dict[str, Any]:
        answer = f"Sure! The answer you are looking for is {a}."
        if form == "chat":
            turns = [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]
            return {"messages": turns}
        return {"prompt": q, "completion": answer}

    corpus = tmp_path / "train.jsonl"
    # a control: the question inside a longer prompt is no whole prompt (and no 8-word span)
    rows = [row(q, a) for q, a in qs] + [row("Quick one. " + qs[0][0] + " Thanks a lot.", "Paris")]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect([ref], [corpus])
    found = sorted((m.row, leak.item.row) for leak in result.leaks for m in leak.matches)
    assert found == [(0, 0), (1, 1), (2, 2)]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize("form", ["preference", "prompt_only"])
def test_a_short_golden_question_that_is_a_one_turn_prompt_is_found(
    tmp_path: Path, form: str
) -> None:
    # Found by the re-attack: a preference row's (or a prompt-only row's) prompt as one user
    # turn has the key "user: Q": no exact copy of Q, no n-gram, no span: "0 leaked".
    q = "Name the largest desert on Earth."
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "g1", "prompt": q}) + "\n")
    row: dict[str, Any] = {"prompt": [{"role": "user", "content": q}]}
    if form == "preference":
        row["chosen"] = [{"role": "assistant", "content": "Antarctica is the largest desert."}]
        row["rejected"] = [{"role": "assistant", "content": "The Sahara."}]
    corpus = tmp_path / "train.jsonl"
    corpus.write_text(json.dumps(row) + "\n")
    result = detect([ref], [corpus])
    assert result.leaked_reference_items == 1
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


@pytest.mark.parametrize(
    "turns",
    [
        # the answer over two lines: its second line was glued to the user's turn
        [("user", "Q"), ("assistant", "Paris.\nIt is on the Seine.")],
        # a system prompt of two lines
        [("system", "You are helpful.\nBe concise."), ("user", "Q"), ("assistant", "Paris.")],
        # the question is the second of two user turns
        [("user", "Hi there"), ("assistant", "Hello!\nAsk away."), ("user", "Q"),
         ("assistant", "Paris.")],
        # ... or the third, after a long one (past the joined turns' 24 words)
        [("user", "Hi"), ("assistant", "Hello!"), ("user", " ".join(["long"] * 40)),
         ("assistant", "ok"), ("user", "Q"), ("assistant", "Paris.")],
        # roles other than the four: a developer turn first (no user view at all), ShareGPT's
        # human and gpt, a capital User
        [("developer", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"), ("user", "Q"),
         ("assistant", "Paris.")],
        [("human", "Hi"), ("gpt", "Hello!\nAsk."), ("human", "Q"), ("gpt", "Paris.")],
        [("system", "Be brief."), ("User", "Q"), ("Assistant", "Paris.")],
        # record separators in another turn's text: each cut it, and 17 of them pushed the
        # user's turn past the views of single turns
        [("system", " ".join(f"Rule {i}: cite.\x1e" for i in range(17))), ("user", "Q"),
         ("assistant", "Paris is the capital.")],
    ],
)  # fmt: skip
def test_a_short_golden_question_that_is_one_user_turn_of_many_lines_or_turns_is_found(
    tmp_path: Path, turns: list[tuple[str, str]]
) -> None:
    # Found by the re-attack: a whole user turn was found only when every other turn was
    # one line; a second line of an answer or a system prompt stayed in the user's view
    # (most answers have more than one line), and a conversation's second user turn was
    # seen only joined to its first: "0 leaked", check passed.
    q = "What is the capital of France?"
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "g1", "prompt": q, "reference": "Paris"}) + "\n")
    row = {"messages": [{"role": r, "content": q if c == "Q" else c} for r, c in turns]}
    corpus = tmp_path / "train.jsonl"
    # a control: the question inside a longer user turn is no whole turn
    near = {"messages": [{"role": "user", "content": f"Quick one. {q} Thanks."}]}
    corpus.write_text(json.dumps(row) + "\n" + json.dumps(near) + "\n")
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]
    assert all("exact" in m.methods for leak in result.leaks for m in leak.matches)


def test_only_the_first_user_turns_of_a_conversation_are_each_a_view(tmp_path: Path) -> None:
    from curagate.leakage.texts import MAX_TURN_VIEWS

    q = "What is the capital of France?"
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "g1", "prompt": q}) + "\n")

    def chat(at: int) -> dict[str, Any]:
        users = [q if k == at else f"Question number {k}?" for k in range(MAX_TURN_VIEWS + 4)]
        return {"messages": [m for u in users for m in ({"role": "user", "content": u},
                                                       {"role": "assistant", "content": "ok"})]}  # fmt: skip

    corpus = tmp_path / "train.jsonl"
    rows = [chat(MAX_TURN_VIEWS - 1), chat(MAX_TURN_VIEWS)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect([ref], [corpus])
    assert [m.row for leak in result.leaks for m in leak.matches] == [0]


def test_a_short_question_padded_with_symbols_is_still_a_short_prompt(tmp_path: Path) -> None:
    # Found by the re-attack: the view counted words at whitespace, so a spaced-out formula
    # of 7 words and 26 tokens got none, and nothing matched it; and a run of letters was
    # not cut into many "words" (a long word-free CJK prompt is one).
    import pyarrow as pa

    from curagate.leakage.texts import _short

    formula = "Evaluate : ( ( 3 + 4 ) * ( 5 - 2 ) ) / ( ( 1 + 1 ) ) = ?"
    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps({"id": "q1", "prompt": formula, "reference": "10.5"}) + "\n")
    corpus = tmp_path / "train.jsonl"
    row = {"prompt": formula, "completion": "Sure! The answer you are looking for is 10.5."}
    corpus.write_text(json.dumps(row) + "\n")
    assert detect([ref], [corpus]).leaked_reference_items == 1
    texts = [" ".join(["w"] * 24), " ".join(["w"] * 25), "中文" * 100]
    kept = _short(pa.array(texts, pa.large_string())).to_pylist()
    assert [bool(t) for t in kept] == [True, False, True]
