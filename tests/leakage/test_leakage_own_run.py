"""A golden item whose own words are too few for an n-gram is found by all of them.

Found by attack on the template rule (tests/leakage/test_leakage_template.py): a
reading-comprehension set, 12 items that share one long passage, each the passage and a
question of under 8 words. The passage is the set's template, so each item's own words
(its question) had no n-gram and no span: the set copied word for word into training
data was found by MinHash alone, and with a long answer by nothing. A row holding the
whole question next to the set's template (the item's *own run*) leaks it; the question
alone, or another question after the passage, does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.leakage import detect

PASSAGE = (
    "The lighthouse on Carrow Point was built in 1871 by the engineer Mabel Quist, who "
    "insisted that its lamp burn whale oil long after the rest of the coast had switched to "
    "kerosene. Her assistant, a former sailor named Tobias Wren, kept a logbook of every ship "
    "that passed, and in the winter of 1884 he recorded forty-one wrecks along the reef "
    "before the lamp was finally rebuilt with a Fresnel lens imported from Paris."
)
QUESTIONS = [
    "Who built the lighthouse?",
    "When was the lighthouse built?",
    "What fuel did the lamp burn?",
    "Who kept the logbook?",
    "What was Tobias Wren's former job?",
    "How many wrecks were recorded in 1884?",
    "Where was the Fresnel lens imported from?",
    "What did the rest of the coast use?",
    "What was the name of the point?",
    "What kind of lens replaced the lamp?",
    "In which season were the wrecks recorded?",
    "What did Wren record in his logbook?",
]
ANSWERS = ["Mabel Quist", "1871", "whale oil", "Tobias Wren", "sailor", "forty-one"]
ANSWERS += ["Paris", "kerosene", "Carrow Point", "Fresnel", "winter", "ships"]
LONG_ANSWER = (
    "Let us look at the passage carefully. The second sentence introduces the assistant and "
    "describes his duties at the station in some detail, including the records he maintained "
    "through many hard winters on the reef, so the person we are asked about is clearly "
    "identified there. Other characters are mentioned but they did not keep any records of "
    "passing vessels, which rules them out as candidates for this answer. The answer is "
    "Tobias Wren."
)


def prompt(q: str) -> str:
    return f"Read the passage and answer.\n\n{PASSAGE}\n\nQuestion: {q}"


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    path = tmp_path / "golden.jsonl"
    rows = [{"prompt": prompt(q), "completion": a} for q, a in zip(QUESTIONS, ANSWERS, strict=True)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def clean(i: int) -> dict[str, object]:
    return {
        "prompt": f"Write a haiku about topic number {i} and the sea at night.",
        "completion": "ok",
    }


@pytest.mark.parametrize("methods", [("exact", "ngram"), ("exact", "ngram", "minhash")])
def test_a_reading_comprehension_item_copied_with_a_long_answer_is_found(
    tmp_path: Path, golden: Path, methods: tuple[str, ...]
) -> None:
    corpus = tmp_path / "t_long.jsonl"
    rows = [clean(i) for i in range(5)]
    rows.append({"prompt": prompt(QUESTIONS[3]), "completion": LONG_ANSWER})
    rows.append(
        {
            "messages": [
                {"role": "user", "content": prompt(QUESTIONS[6])},
                {"role": "assistant", "content": "From Paris, France."},
            ]
        }
    )
    rows += [clean(i) for i in range(5, 10)]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=methods)
    by_ngram = {
        (m.row, leak.item.row)
        for leak in result.leaks
        for m in leak.matches
        if "ngram" in m.methods
    }
    # Item 3 in row 5, item 6 in row 6; no other item by its words (before the template
    # rule item 0 was flagged too, by "Question: Who" after the passage).
    assert by_ngram == {(5, 3), (6, 6)}
    if "minhash" not in methods:
        assert {leak.item.row for leak in result.leaks} == {3, 6}


def test_the_passage_with_another_question_or_a_question_alone_is_no_leak(
    tmp_path: Path, golden: Path
) -> None:
    corpus = tmp_path / "clean.jsonl"
    rows = [
        {"prompt": f"{PASSAGE}\n\nQuestion: Who painted the lighthouse?", "completion": "no one"},
        {"prompt": f"Question: {QUESTIONS[0]}", "completion": "Gustave Eiffel"},
        {"prompt": f"Read about the Eiffel tower. {QUESTIONS[1]}", "completion": "1889"},
        # Found by attack: another question that starts with an item's question (its own
        # run held; the item's line ends after its question, the record's did not).
        {
            "prompt": prompt("Who built the lighthouse keeper's cottage next to it?"),
            "completion": "?",
        },
        {"prompt": prompt("What was the name of the point's first keeper?"), "completion": "?"},
        {"prompt": prompt("Who kept the logbook after Wren died?"), "completion": "unknown"},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect(golden, corpus, methods=("exact", "ngram")).leaks == []


def test_an_arithmetic_item_is_not_another_sum_in_its_template(tmp_path: Path) -> None:
    # Found by attack: normalization drops symbols ("2+2" and "2-2" are one word "22"),
    # so "What is 2-2?" in the set's template held the own run of "What is 2+2?".
    head = "Answer the following arithmetic question. Reply with the number only, nothing else."
    tail = "Think carefully before answering and double check your work."
    golden = tmp_path / "golden.jsonl"
    rows = [{"prompt": f"{head}\nWhat is {i + 2}+{2 + i * 3 % 7}?\n{tail}"} for i in range(12)]
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = tmp_path / "train.jsonl"
    asks = ["2-2", "2*2", "2^2", "2/2", "2+2"]
    rows = [
        {"prompt": f"{head}\nWhat is {q}?\n{tail}", "completion": "Let me think."} for q in asks
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    assert {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches} == {(4, 0)}


def test_a_copy_with_other_labels_is_found(tmp_path: Path, golden: Path) -> None:
    # Found by QA: the item's own run held its label ("Question:") between the passage and
    # the question, so a copy that wrote "Q:" (or "Context:" and "A:" around it) matched
    # nothing, however long the answer it kept. The passage tail, another label (or none),
    # then the whole question on its line is the item.
    corpus = tmp_path / "relabelled.jsonl"
    rows = [
        {"text": f"Context: {PASSAGE}\nQ: {QUESTIONS[3]}\nA: {LONG_ANSWER}"},
        {"prompt": f"Passage: {PASSAGE}\nQ: {QUESTIONS[0]}", "completion": f"A: {LONG_ANSWER}"},
        {"text": f"{PASSAGE} Question 5: {QUESTIONS[5]}\nAnswer: {LONG_ANSWER}"},
        {"text": f"{PASSAGE}\n{QUESTIONS[6]}\n{LONG_ANSWER}"},
        # Not the items: another question, a longer one, the question alone, too many
        # words (no label) between the passage and the question.
        {"text": f"Context: {PASSAGE}\nQ: Who painted the lighthouse?\nA: {LONG_ANSWER}"},
        {"text": f"Context: {PASSAGE}\nQ: Who built the lighthouse keeper's cottage?\nA: x"},
        {"text": f"Q: {QUESTIONS[1]}\nA: {LONG_ANSWER}"},
        {"text": f"Context: {PASSAGE}\nAnd then tell me, {QUESTIONS[8].lower()}\nA: x"},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
    assert found == {(0, 3), (1, 0), (2, 5), (3, 6)}
    assert all(m.span is not None for leak in result.leaks for m in leak.matches)


def test_a_short_question_with_its_answer_on_its_line_is_found(tmp_path: Path) -> None:
    # Found by QA: a question of a few own words (the set's instruction before it) must end
    # a line where the item's does, so a copy answered on the same line ("... 4? The answer
    # is 160.") matched nothing. A copy whose sentence ends there, with the item's mark,
    # is the item; a longer question that starts with the item's is not.
    head = "Solve the following grade school math problem. Give only the final number."
    golden = tmp_path / "golden.jsonl"
    asks = [f"What is {10 + i} times {2 + i % 7}?" for i in range(12)]
    golden.write_text("".join(json.dumps({"prompt": f"{head}\n{q}"}) + "\n" for q in asks))
    corpus = tmp_path / "train.jsonl"
    rows = [
        {"text": f"{head}\nWhat is 10 times 2? The answer is 20."},
        {"prompt": f"{head}\nWhat is 11 times 3? The answer is", "completion": " 33."},
        # Not the items: another mark, a longer question, the question alone.
        {"text": f"{head}\nWhat is 12 times 4! Then 48."},
        {"text": f"{head}\nWhat is 13 times 5 plus 1? The answer is 66."},
        {"text": f"{head}\nWhat is 14 times 6. The answer is 84."},
        {"text": f"{head}\nWhat is 15 times 7 apples? 105."},
        {"text": "What is 16 times 2? The answer is 32."},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
    assert found == {(0, 0), (1, 1)}


def test_a_relabelled_question_whose_first_words_are_the_sets_is_found(tmp_path: Path) -> None:
    # Found by QA: a question's first words that many items share ("What is") are the
    # set's template, so the line's label ("Question:") did not end right before the
    # question's own words, and a copy with another label was missed.
    head = "Solve the following grade school math problem. Give only the final number."
    golden = tmp_path / "golden.jsonl"
    asks = [f"Question: What is {10 + i} times {2 + i % 7}?" for i in range(12)]
    golden.write_text("".join(json.dumps({"prompt": f"{head}\n{q}"}) + "\n" for q in asks))
    corpus = tmp_path / "train.jsonl"
    rows = [
        {"text": f"{head}\nQ: What is 10 times 2? The answer is 20."},
        {"text": f"{head}\nWhat is 11 times 3?\n33"},
        {"text": f"{head}\nQ: So what is 12 times 4?\n48"},
        {"text": f"{head}\nQ: What is 13 times 5 plus 1?\n66"},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
    assert found == {(0, 0), (1, 1)}


def test_a_short_review_going_on_in_a_longer_one_is_no_copy(tmp_path: Path) -> None:
    # Found by attack: a sentence mark ended the own run of a 2-word review ("Love it!"),
    # so a clean row whose longer review opened with those words was a leak. A mark ends
    # the item's words only where the rest of the record's line is a short answer.
    head = (
        "Classify the sentiment of the following product review as positive or negative. "
        "Reply with a single word."
    )
    reviews = [
        "Love it!",
        "Works great.",
        "Total waste of money.",
        "Broke after one day.",
        "Would buy again!",
        "Not worth it.",
        "Five stars.",
        "Terrible quality.",
        "Highly recommend!",
        "Do not buy.",
        "Exceeded expectations.",
        "Meh.",
    ]
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(
            json.dumps({"prompt": f"{head}\nReview: {r}\nSentiment:", "reference": "x"}) + "\n"
            for r in reviews
        )
    )
    corpus = tmp_path / "train.jsonl"
    longer = [
        "Love it! The battery lasts a whole week and the screen is bright even outdoors.",
        "Works great. I use it every morning for my coffee and it has never jammed once.",
        "Five stars. My daughter plays with this puzzle every single evening after school.",
        "Do not buy. It smells like burnt plastic whenever it is switched on.",
    ]
    rows = [{"prompt": f"{head}\nReview: {r}\nSentiment:", "completion": "x"} for r in longer]
    rows.append({"prompt": f"{head}\nReview: Not worth it.\nSentiment:", "completion": "x"})
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    assert {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches} == {(4, 5)}


@pytest.mark.parametrize(
    ("item_label", "copy_label"),
    [
        ("Translate to French:", "Translate to German:"),
        ("Give the antonym:", "Give a synonym:"),
        # Found by attack: a one-word label that names the task is no slot either.
        ("Antonym:", "Synonym:"),
        ("Synonym:", "Antonym:"),
        ("French:", "German:"),
        ("French:", "Spanish 2:"),
    ],
)
def test_a_label_that_states_the_task_is_no_label_to_swap(
    tmp_path: Path, item_label: str, copy_label: str
) -> None:
    # Found by attack: any 3 words ending with ':' were a label a copy may swap, so the
    # same sentence under another task ("Translate to German:") was the item. A label is
    # one word, or a word and a number, ending with ':' (Q:, Context:, Question 5:), and
    # the word names a slot of the prompt (question, input, passage...), not a task.
    head = (
        "This is an exercise for learners of English at the intermediate level. Keep the "
        "meaning and the tone of the original exactly."
    )
    words = [
        "happy",
        "ancient",
        "I love cats.",
        "Where is the train station?",
        "bright",
        "The soup is cold.",
        "quickly",
        "narrow",
        "We missed the bus.",
        "generous",
        "Open the window, please.",
        "fragile",
    ]
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(json.dumps({"prompt": f"{head}\n{item_label} {w}"}) + "\n" for w in words)
    )
    corpus = tmp_path / "train.jsonl"
    rows = [{"prompt": f"{head}\n{copy_label} {w}", "completion": "x"} for w in words[:4]]
    # Nor is a tag for the task (the item's line is the task and its words).
    rows.append({"prompt": f"{head}\nQ: {words[5]}", "completion": "x"})
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    assert {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches} == set()


def test_labels_that_name_a_slot_are_swapped_and_a_task_label_copied_is_found(
    tmp_path: Path,
) -> None:
    # The closed list of slot labels (docs/leakage.md): a copy that writes Input: (or
    # Problem 3:, or Question: with a look-alike letter) for the item's Question: is the
    # item; an item whose label names its task is found with that label, not another.
    head = (
        "This is an exercise for learners of English at the intermediate level. Keep the "
        "meaning and the tone of the original exactly."
    )
    words = ["happy", "ancient", "bright", "quickly", "narrow", "generous"]
    words += ["fragile", "polite", "brave", "noisy", "humble", "rapid"]
    golden = tmp_path / "golden.jsonl"
    rows = [{"prompt": f"{head}\nQuestion: {w}"} for w in words[:6]]
    rows += [{"prompt": f"{head}\nAntonym: {w}"} for w in words[6:]]
    golden.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = tmp_path / "train.jsonl"
    copies = [
        f"{head}\nInput: {words[0]}",
        f"{head}\nProblem 3: {words[1]}",
        f"{head}\nQu\u0435stion: {words[2]}",  # a Cyrillic e
        f"{head}\n{words[3]}",
        f"{head}\nAntonym: {words[6]}",
        f"{head}\nQ: Antonym: {words[7]}",
        # Not the items: a task label for a slot, another task.
        f"{head}\nSynonym: {words[4]}",
        f"{head}\nSynonym: {words[8]}",
    ]
    corpus.write_text("".join(json.dumps({"text": c}) + "\n" for c in copies))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
    assert found == {(0, 0), (1, 1), (2, 2), (3, 3), (4, 6), (5, 7)}


def test_a_short_question_after_a_stock_phrase_is_no_copy(tmp_path: Path) -> None:
    # Found by attack: an own run was widened into the set's text to 8 words in all, so
    # the run of "What is the capital of France?" (its "What is the" the set's, as five
    # items start with it) was "following question. What is the capital of France", and
    # rows asking it after a stock phrase were the item. A run holds 8 words of the set's
    # text besides the question's line (the item's instruction, not its question words).
    head = (
        "The following is a closed-book trivia evaluation used to measure factual recall of "
        "language models. Do not explain. Answer the following question."
    )
    questions = [
        "What is the capital of France?",
        "Who wrote Romeo and Juliet?",
        "What is the largest ocean?",
        "How many planets are in the solar system?",
        "What is the chemical symbol for gold?",
        "Who painted the Mona Lisa?",
        "What is the boiling point of water?",
        "Who discovered penicillin?",
        "What is the square root of 81?",
        "Who discovered gravity?",
        "What language is spoken in Brazil?",
        "What is the tallest animal?",
    ]
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(json.dumps({"prompt": f"{head}\n{q}", "reference": "x"}) + "\n" for q in questions)
    )
    corpus = tmp_path / "train.jsonl"
    rows = [
        f"Answer the following question. {questions[0]} Answer: Paris.",
        f"Answer the following question.\n{questions[5]}\nLeonardo da Vinci painted it.",
        f"Please answer the following question: {questions[2].lower()} The Pacific.",
        f"Do not explain. Answer the following question.\n{questions[4]}\nAu",  # 7 words
        # Copies: the item, and its question after the last 8 words of the set's text.
        f"{head}\n{questions[6]}\n100 degrees Celsius.",
        f"Models. Do not explain. Answer the following question. {questions[8]} 9.",
        f"of language models. Do not explain. Answer the following question.\nQ: {questions[9]}",
    ]
    corpus.write_text("".join(json.dumps({"text": r}) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    found = {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}
    assert found == {(4, 6), (5, 8), (6, 9)}
