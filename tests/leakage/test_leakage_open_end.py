"""A golden sentence copied whole is found whatever follows it on its line (found by attack).

An item whose own words are few (the rest its set's template) is found by its *own run*,
and a run that ends the item's line had to end a line in the record too, or a sentence
with the item's mark followed by 8 words at most (a short answer): a 2-word review
("Love it!") opens longer reviews. So a GSM8K-style question of 10-15 words copied with a
worked solution after it on its line, and a whole 18-word item of three near variants
with more text after it, matched nothing. When the item's sentence that holds the run's
own words (from its start, after a line break, a sentence mark or a label's colon) is 8
words or more, a record holding it whole may go on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.leakage import detect

HEAD = "Solve the following grade school math problem. Give only the final number."
THINGS = ["apples", "pears", "plums", "books", "pens", "cards", "shells", "coins", "rocks"]
THINGS += ["cups", "hats", "toys"]
QUESTIONS = [
    f"What is the total cost if you buy {3 + i} {t} at {2 + i} dollars each?"
    for i, t in enumerate(THINGS)
]
SOLUTION = (
    " Let's think step by step. First we multiply the number of things by the price of "
    "each one, then we check the units of the result. The answer is 6."
)
REVIEWS = ["Love it!", "Works great.", "Total waste of money.", "Broke after one day."]
REVIEWS += ["Would buy again!", "Not worth it.", "Five stars.", "Terrible quality."]
REVIEWS += ["Highly recommend!", "Do not buy.", "Exceeded expectations.", "Is it worth it?"]


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def found(golden: Path, corpus: Path) -> set[tuple[int, int]]:
    result = detect(golden, corpus, methods=("exact", "ngram"))
    return {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches}


@pytest.mark.parametrize("head", ["", f"{HEAD}\n"])
def test_a_question_copied_with_a_worked_solution_on_its_line_is_found(
    tmp_path: Path, head: str
) -> None:
    golden = write(
        tmp_path / "golden.jsonl", [{"prompt": f"{head}{q}", "reference": "6"} for q in QUESTIONS]
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{head}{QUESTIONS[0]}{SOLUTION}"},
            {"prompt": f"{head}Q1: {QUESTIONS[1]}{SOLUTION}", "completion": "6"},
            {"text": f"Here is one. {QUESTIONS[2]}{SOLUTION}"},
            # Not the items: another number, a longer question opening with an item's
            # words.
            {"text": f"{head}What is the total cost if you buy 3 apples at 5 dollars each?"},
            {"text": f"{head}{QUESTIONS[4][:-1]} and 4 pears?{SOLUTION}"},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1), (2, 2)}


def test_a_whole_item_of_three_near_variants_with_more_after_it_is_found(
    tmp_path: Path,
) -> None:
    # Their shared text is the file's template (three items), so each item's own word
    # is its last ("noon"), its own run ends the item, and more than 8 words after it
    # on the line hid the copy.
    base = "The old train leaves the northern station at nine and travels slowly to reach the city by {}."
    items = [base.format(w) for w in ("noon", "dusk", "dawn")]
    items += ["Write a short poem about the autumn leaves falling in the quiet park tonight."]
    golden = write(tmp_path / "golden.jsonl", [{"prompt": p} for p in items])
    more = " After that the passengers walk to the market and buy fresh bread and cheese for lunch."
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": items[0] + more},
            {"text": "A story for the class. " + items[1] + more},
            # Not the items: another last word.
            {"text": base.format("bus") + more},
            {"text": base.format("midnight") + more},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1)}


@pytest.mark.parametrize("layout", ["Review: {}\nSentiment:", "Review: {}", "{}"])
def test_a_short_text_opening_a_longer_one_stays_no_copy(tmp_path: Path, layout: str) -> None:
    # The limit stays where the sentence is short: a longer review opening with an
    # item's 2-word review is another review, under a label or on a line of its own.
    head = "Classify the sentiment of the following product review as positive or negative."
    golden = write(
        tmp_path / "golden.jsonl", [{"prompt": f"{head}\n{layout.format(r)}"} for r in REVIEWS]
    )
    longer = [
        "Love it! The battery lasts a whole week and the screen is bright even outdoors.",
        "Total waste of money. I returned it after two days because the hinge snapped off.",
        "Is it worth it? Absolutely not, it broke after a day and the seller ignored me.",
    ]
    corpus = write(
        tmp_path / "train.jsonl", [{"prompt": f"{head}\n{layout.format(r)}"} for r in longer]
    )
    assert found(golden, corpus) == set()


def test_a_prompt_ending_with_the_answers_label_copied_with_its_answer_is_found(
    tmp_path: Path,
) -> None:
    # Found beside the attack's relabelled copies: the item's line ended with "Answer:"
    # (no sentence mark), so a copy with the answer after the label on its line matched
    # nothing, under any label.
    passage = (
        "The lighthouse on Carrow Point was built in 1871 by the engineer Mabel Quist, who "
        "insisted that its lamp burn whale oil long after the rest of the coast had switched."
    )
    questions = ["Who built the lighthouse?", "When was the lighthouse built?"]
    questions += ["What fuel did the lamp burn?", "What was the name of the point?"]
    questions += ["What did the rest of the coast do?", "Who insisted on whale oil?"]
    golden = write(
        tmp_path / "golden.jsonl",
        [{"prompt": f"{passage}\nQuestion: {q} Answer:"} for q in questions],
    )
    corpus = write(
        tmp_path / "train.jsonl",
        [
            {"text": f"{passage}\nQuestion: {questions[0]} Answer: Mabel Quist."},
            {"text": f"{passage}\n**Question:** {questions[1]} **Answer:** In 1871.{SOLUTION}"},
            {"text": f"{passage}\nQ1. {questions[2]} Answer : whale oil"},
            # Not the items: another question opening with an item's, no label after it.
            {"text": f"{passage}\nQuestion: Who built the lighthouse keeper's hut? Answer: x"},
            {"text": f"{passage}\nQuestion: {questions[3]} Answer the question in French."},
        ],
    )
    assert found(golden, corpus) == {(0, 0), (1, 1), (2, 2)}
