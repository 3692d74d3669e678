"""A short golden question copied under another label for it is found (found by attack).

A reading-comprehension item's question is too short for an n-gram of its own (the passage
is the set's template), so its copy is found by its *own run*: the passage's last words, any
tag label or none, then the question (docs/leakage.md, "own run"). `Q:` for the item's
`Question:` was found; `Q1:`, Markdown bold (`**Question:**`), `Q.` and labels with a
full-width colon (`问题\uff1a`) were no label, and such a copy matched nothing.
"""

# ruff: noqa: RUF001  (full-width punctuation in the labels and the Chinese items is the point)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.leakage import detect

PASSAGE = (
    "The lighthouse on Carrow Point was built in 1871 by the engineer Mabel Quist, who "
    "insisted that its lamp burn whale oil long after the rest of the coast had switched to "
    "kerosene. Her assistant, a former sailor named Tobias Wren, kept a logbook of every ship "
    "that passed, and in the winter of 1884 he recorded forty-one wrecks along the reef."
)
QUESTIONS = [
    "Who built the lighthouse?",
    "When was the lighthouse built?",
    "What fuel did the lamp burn?",
    "Who kept the logbook?",
    "What was Tobias Wren's former job?",
    "How many wrecks were recorded in 1884?",
    "What did the rest of the coast use?",
    "What was the name of the point?",
    "In which season were the wrecks recorded?",
    "What did Wren record in his logbook?",
]
LONG_ANSWER = (
    "Let us read the passage carefully: the second sentence introduces the assistant and "
    "describes his duties at the station, so the answer is there."
)


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def found(golden: Path, corpus: Path) -> set[tuple[int, int]]:
    result = detect(golden, corpus, methods=("exact", "ngram"))
    return {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}


@pytest.mark.parametrize(
    "label",
    [
        *["Q1: ", "Question1: ", "**Question:** ", "__Question:__ ", "**Q**: ", "Q. ", "Q) "],
        *["Question 2. ", "问题：", "问题: ", "質問:", "質問：", "질문: ", "Вопрос. "],
    ],
)
def test_a_question_copied_under_another_label_is_found(tmp_path: Path, label: str) -> None:
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"Passage: {PASSAGE}\nQuestion: {q}", "reference": "x"} for q in QUESTIONS],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"Context: {PASSAGE}\n{label}{QUESTIONS[3]}\n**Answer:** {LONG_ANSWER}"},
            {"text": f"{PASSAGE}\n{label}{QUESTIONS[5]} The answer is forty-one."},
            # Not the items: another question under the label, the question alone.
            {"text": f"{PASSAGE}\n{label}Who built the lighthouse keeper's cottage?\nA: x"},
            {"text": f"{label}{QUESTIONS[1]}\n{LONG_ANSWER}"},
        ],
    )
    assert found(golden, corpus) == {(0, 3), (1, 5)}


@pytest.mark.parametrize("label", ["**Question:** ", "Q1. ", "问题：", "Question 3) "])
def test_an_item_with_such_a_label_is_found_under_another(tmp_path: Path, label: str) -> None:
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"Passage: {PASSAGE}\n{label}{q}"} for q in QUESTIONS],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{PASSAGE}\nQ: {QUESTIONS[0]}\nA: {LONG_ANSWER}"},
            {"text": f"{PASSAGE}\n{QUESTIONS[1]}"},
            {"text": f"{PASSAGE}\nQuestion: {QUESTIONS[2]} The answer is whale oil."},
            # Not the items: a word that is no label before the question, another one.
            {"text": f"{PASSAGE}\nMr. {QUESTIONS[3]}"},
            {"text": f"{PASSAGE}\nQ: Who built the lighthouse keeper's cottage?"},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1), (2, 2)}


def test_a_chinese_question_copied_under_another_label_is_found(tmp_path: Path) -> None:
    passage = (
        "灯塔位于卡罗角，建于1871年，由工程师梅布尔·奎斯特设计。她坚持灯塔的灯必须燃烧鲸油，"
        "尽管海岸其他地方早已改用煤油。"
    )
    questions = ["谁建造了灯塔？", "灯塔建于哪一年？", "灯燃烧什么燃料？", "海岸其他地方用什么？"]
    questions.append("工程师叫什么名字？")
    golden = write(
        tmp_path / "golden.jsonl", [{"prompt": f"{passage}\n问题：{q}"} for q in questions]
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{passage}\nQ: {questions[0]}"},
            {"text": f"{passage}\n問題：{questions[1]}\n答案：1871年。"},
            {"text": f"{passage}\n{questions[2]}"},
            {"text": f"{passage}\n**问题：** {questions[3]}"},
            # Not an item: another question that starts with one.
            {"text": f"{passage}\n问题：谁建造了灯塔旁边的小屋？"},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1), (2, 2), (3, 3)}


@pytest.mark.parametrize("copy_label", ["Note. ", "Mr. ", "Step) ", "Antonym. "])
def test_a_word_ended_by_a_full_stop_is_no_label(tmp_path: Path, copy_label: str) -> None:
    # `.` and `)` end a label only where it names a question (`Q.`, `Question 2)`): any
    # other word before a full stop is text, not a label to swap for `Question:`.
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"Passage: {PASSAGE}\nQuestion: {q}"} for q in QUESTIONS],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [{"text": f"{PASSAGE}\n{copy_label}{q}\nA: x"} for q in QUESTIONS[:4]],
    )
    assert found(golden, corpus) == set()


INSTRUCTION = "Read the short text below and say whether its tone is positive, negative or neutral."
TEXTS = [
    "Love it!",
    "Broke after a day.",
    "It is a chair.",
    "Best purchase ever.",
    "Never again.",
    "Works as described.",
    "Too small for me.",
    "Arrived on time.",
    "Smells awful.",
    "Great value.",
]


@pytest.mark.parametrize(
    ("item_label", "copy_label"),
    [
        ("Excerpt", "Passage"),
        ("Passage", "Excerpt"),
        ("Snippet", "Text"),
        ("Scenario", "Context"),
        ("Situation", "Context"),
        ("Request", "Input"),
        ("Input", "Request"),
        ("Context", "Kontext"),
        ("Kontext", "Contexte"),
        ("Contesto", "Context"),
        ("Questão", "Question"),
        ("Vraag", "Q"),
        ("Vraag", "Pregunta"),
        ("Texte", "Text"),
        ("Tekst", "Testo"),
        ("Entrada", "Input"),
    ],
)
def test_a_slot_label_swapped_for_another_is_found(
    tmp_path: Path, item_label: str, copy_label: str
) -> None:
    # Found by review: `Excerpt:`, `Scenario:`, `Request:`, `Questão:`, `Vraag:`,
    # `Kontext:`... name the slot the text fills, but were missing from SLOT_LABELS, so a
    # golden item copied with `Passage:` for its `Excerpt:` matched nothing.
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"{INSTRUCTION}\n{item_label}: {t}", "reference": "x"} for t in TEXTS],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{INSTRUCTION}\n{copy_label}: {TEXTS[2]}\nAnswer: neutral"},
            # Not an item: another text under the label.
            {"text": f"{INSTRUCTION}\n{copy_label}: It is a table.\nAnswer: neutral"},
        ],
    )
    assert found(golden, corpus) == {(0, 2)}


@pytest.mark.parametrize(
    ("item_label", "copy_label"), [("Antonym", "Synonym"), ("French", "German")]
)
def test_a_task_label_is_still_no_slot(tmp_path: Path, item_label: str, copy_label: str) -> None:
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"{INSTRUCTION}\n{item_label}: {t}", "reference": "x"} for t in TEXTS],
    )
    corpus = write(tmp_path / "train.jsonl", [{"text": f"{INSTRUCTION}\n{copy_label}: {TEXTS[2]}"}])
    assert found(golden, corpus) == set()


@pytest.mark.parametrize(
    ("item_label", "copy_label"),
    [
        ("Question: ", "問題 1： "),
        ("Question: ", "質問 12： "),
        ("Question: ", "질문 1: "),
        ("Question: ", "问题 3: "),
        ("問題 1： ", "Q: "),
        ("問題 12： ", "Question 12 : "),
        ("질문 1: ", "Question: "),
    ],
)
def test_a_label_of_three_tokens_is_a_label(
    tmp_path: Path, item_label: str, copy_label: str
) -> None:
    # Found by review: a CJK label's characters are a token each, so `問題 1` and its
    # full-width colon are three tokens, and a label was at most two (`Q1:`, `问题`): a copy
    # under it, or of an item under it, matched nothing. (`Question 12 :` is two tokens
    # and was read already.)
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"Passage: {PASSAGE}\n{item_label}{q}", "reference": "x"} for q in QUESTIONS],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{PASSAGE}\n{copy_label}{QUESTIONS[3]}\nA: {LONG_ANSWER}"},
            # Not an item: another question under the label.
            {"text": f"{PASSAGE}\n{copy_label}Who built the lighthouse keeper's cottage?"},
        ],
    )
    assert found(golden, corpus) == {(0, 3)}


def test_a_chinese_question_under_a_numbered_label_is_found(tmp_path: Path) -> None:
    passage = (
        "灯塔位于卡罗角，建于1871年，由工程师梅布尔·奎斯特设计。她坚持灯塔的灯必须燃烧鲸油，"
        "尽管海岸其他地方早已改用煤油。"
    )
    questions = ["谁建造了灯塔？", "灯塔建于哪一年？", "灯燃烧什么燃料？", "海岸其他地方用什么？"]
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"{passage}\n问题 {k + 1}：{q}"} for k, q in enumerate(questions)],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{passage}\n問題 12：{questions[0]}\n答案：梅布尔·奎斯特。"},
            {"text": f"{passage}\n问题：{questions[1]}"},
            {"text": f"{passage}\nQ: {questions[2]}"},
            # Not an item: another question that starts with one.
            {"text": f"{passage}\n問題 1：谁建造了灯塔旁边的小屋？"},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1), (2, 2)}


def test_a_question_numbered_in_its_item_is_found_numbered_otherwise(tmp_path: Path) -> None:
    # Each item's number is its own word (the set numbers its questions): it was read as
    # the question's first word, not the label's, and a copy numbered otherwise or under
    # `Q:` matched nothing.
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"Passage: {PASSAGE}\nQuestion {k + 1}: {q}"} for k, q in enumerate(QUESTIONS)],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{PASSAGE}\nQ: {QUESTIONS[3]}"},
            {"text": f"{PASSAGE}\nQuestion 7: {QUESTIONS[3]}\nA: {LONG_ANSWER}"},
            # Not an item: another question under the item's label and number.
            {"text": f"{PASSAGE}\nQuestion 4: Who kept the logbook's key?"},
        ],
    )
    assert found(golden, corpus) == {(0, 3), (1, 3)}


ANSWERS = [
    "Mabel Quist",
    "In 1871",
    "Whale oil",
    "Tobias Wren",
    "A sailor",
    "Forty-one",
    "Kerosene",
    "Carrow Point",
    "In winter",
    "Every ship",
]


@pytest.mark.parametrize(
    "line",
    [
        "Q: {q} A: {a}",
        "Question: {q} A: {a}",
        "Q: {q} Answer: {a}",
        "{q} Answer: {a}",
        "**Q:** {q} **A:** {a}",
        "Q1. {q} Ans: {a}",
        "Q: {q} {a}",
    ],
)
def test_an_answer_beside_its_question_under_other_labels_is_found(
    tmp_path: Path, line: str
) -> None:
    # Found by review: the item's line holds its answer after a label (`... Answer: 12`);
    # a copy under `Q:` with `A:` for the `Answer:` (the answer copied beside a question
    # copied under another label) matched nothing: only the first label could differ.
    golden = write(
        tmp_path / "golden.jsonl",
        [
            {"prompt": f"Passage: {PASSAGE}\nQuestion: {q} Answer: {a}"}
            for q, a in zip(QUESTIONS, ANSWERS, strict=True)
        ],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{PASSAGE}\n{line.format(q=QUESTIONS[5], a=ANSWERS[5])}"},
            # Not items: another answer, a word that is no label before the answer.
            {"text": f"{PASSAGE}\n{line.format(q=QUESTIONS[3], a='Mabel Quist')}"},
            {"text": f"{PASSAGE}\nQ: {QUESTIONS[0]} Note: {ANSWERS[0]}"},
            {"text": f"{PASSAGE}\nQ: {QUESTIONS[1]} Antonym: {ANSWERS[1]}"},
        ],
    )
    assert found(golden, corpus) == {(0, 5)}
