"""A small golden set's template is no evidence either, whatever its ids.

Found by review: text shared by more than ``max_ngram_items`` (10) golden items is the
set's boilerplate, so a set of 10 items or fewer never had any. A 5-item sentiment set
whose items all end with one instruction flagged every training row written with that
instruction (50 of 50 clean rows in the repro below), though none held a golden review.
A template is now also text shared by at least 2 items and a quarter of their file's items.

And the limit counted owners (file, id): a set whose ``id`` column repeats one value (every
id "0", a passage id) was one item, so its template was never boilerplate, however many
items. Each reference row is its own item now; only the gate, which looks for a
conversation item by several rows, names the rows that are one item.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.leakage import detect

# 13 words: one 13-gram, shared by every item.
SUFFIX = "\nIs this review positive or negative? Answer with one word only, please.\nAnswer:"
PREFIX = (
    "Read the following customer review carefully and decide whether the overall sentiment "
    "expressed is positive or negative.\nReview: "
)
REVIEWS = [
    "The battery died after two days and support never answered my emails.",
    "Absolutely love this blender, it crushes ice in seconds and cleans easily.",
    "The shoes fell apart within a week, the stitching was terrible.",
    "Great value for the price, my kids play with it every single day.",
    "Arrived late and the box was crushed, but the lamp itself works fine.",
    "This jacket keeps me warm on the coldest mornings, worth every cent.",
    "Screen cracked the first time it slipped off the couch onto carpet.",
    "The coffee tastes burnt no matter which setting I choose on it.",
    "Setup took five minutes and the sound fills our whole living room.",
    "Cheap plastic hinges snapped off the lid before the month was over.",
    "My dog ignores every other toy since this rope one arrived home.",
    "The manual was useless but the customer service agent fixed everything.",
    "Colors faded after one wash even though I followed the label exactly.",
    "Fits perfectly, the fabric breathes well and the seams look solid.",
    "It stopped charging after the update and the refund took six weeks.",
]


def suffixed(review: str) -> str:
    return f"Review: {review}{SUFFIX}"


def prefixed(review: str) -> str:
    return f"{PREFIX}{review}\nAnswer:"


def other_reviews(count: int) -> list[str]:
    """Reviews of other products: no golden review's words in a row."""
    rng = random.Random(3)
    adjectives = ["great", "awful", "decent", "terrible", "lovely", "sturdy", "flimsy", "noisy"]
    things = ["kettle", "chair", "phone case", "backpack", "toaster", "headset", "mug", "tent"]
    return [
        f"This {rng.choice(things)} is {rng.choice(adjectives)} and the delivery was "
        f"{rng.choice(adjectives)}, I bought it for my brother in {2000 + k}."
        for k in range(count)
    ]


def golden(path: Path, prompts: list[str], ids: list[str]) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": i, "prompt": p, "reference": "positive"}) + "\n"
            for i, p in zip(ids, prompts, strict=True)
        )
    )
    return path


def corpus(path: Path, prompts: list[str]) -> Path:
    path.write_text(
        "".join(json.dumps({"prompt": p, "completion": "positive"}) + "\n" for p in prompts)
    )
    return path


def found(result) -> set[tuple[int, str]]:
    return {(m.row, leak.item.id) for leak in result.leaks for m in leak.matches}


@pytest.mark.parametrize("template", [suffixed, prefixed], ids=["suffix", "prefix"])
@pytest.mark.parametrize("items", [2, 3, 5, 10])
def test_a_small_sets_template_flags_no_clean_row(tmp_path: Path, template, items: int) -> None:
    ids = [f"r{k}" for k in range(items)]
    ref = golden(tmp_path / "golden.jsonl", [template(r) for r in REVIEWS[:items]], ids)
    rows = [template(r) for r in other_reviews(50)]
    rows.append(template(REVIEWS[1]))  # a golden item, word for word
    # A golden review alone, in another wrapper: the item's own words, no template.
    rows.append(f"Tell me about it: {REVIEWS[0]} What do you think?")
    result = detect(ref, corpus(tmp_path / "train.jsonl", rows))
    assert found(result) == {(50, "r1"), (51, "r0")}
    # Each item's template is counted as such (before: no item had any).
    assert all(item.common_ngrams > 0 for item in result.items)


def test_a_phrase_two_items_of_a_large_file_share_is_still_evidence(tmp_path: Path) -> None:
    """The share is of the file's items: two of 15 items sharing a 13-gram (a coincidence,
    or a copy) still flag a row holding it, as any two items of a large set did."""
    shared = "and the courier left it in the rain outside the wrong house again"
    prompts = [f"Review: {r}" for r in REVIEWS]
    prompts[2] = f"Review: {REVIEWS[2]} Also {shared}."
    prompts[7] = f"Review: {REVIEWS[7]} Sadly {shared}."
    ref = golden(tmp_path / "golden.jsonl", prompts, [f"r{k}" for k in range(15)])
    train = corpus(tmp_path / "train.jsonl", [f"My order: {shared}.", "Nothing to see here."])
    assert found(detect(ref, train, methods=("ngram",))) == {(0, "r2"), (0, "r7")}


def test_the_cli_passes_a_small_templated_set_and_fails_a_copy(tmp_path: Path) -> None:
    ref = golden(
        tmp_path / "golden.jsonl", [suffixed(r) for r in REVIEWS[:5]], [f"r{k}" for k in range(5)]
    )
    clean = corpus(tmp_path / "clean.jsonl", [suffixed(r) for r in other_reviews(50)])
    argv = ["leakage", "--reference", str(ref), "--fail-on-leak", "--out"]
    assert main([*argv, str(tmp_path / "out1"), "--corpus", str(clean)]) == 0
    leaky = corpus(tmp_path / "leaky.jsonl", [suffixed(r) for r in other_reviews(50)])
    with leaky.open("a") as f:
        f.write(json.dumps({"prompt": suffixed(REVIEWS[3]), "completion": "positive"}) + "\n")
    assert main([*argv, str(tmp_path / "out2"), "--corpus", str(leaky)]) == 1
    report = json.loads((tmp_path / "out2" / "leakage.json").read_text())
    assert report["summary"]["leaked_reference_items"] == 1
    assert report["summary"]["contaminated_records"] == 1


@pytest.mark.parametrize("items", [5, 15])
@pytest.mark.parametrize("id_kind", ["all-zero", "passage"])
def test_repeated_ids_are_items_of_their_own(tmp_path: Path, items: int, id_kind: str) -> None:
    """Every id "0", or a passage id shared by three questions: each row is still an item,
    so the template they share is boilerplate as it is under distinct ids."""
    ids = ["0"] * items if id_kind == "all-zero" else [f"p{k // 3}" for k in range(items)]
    ref = golden(tmp_path / "golden.jsonl", [suffixed(r) for r in REVIEWS[:items]], ids)
    rows = [suffixed(r) for r in other_reviews(50)]
    rows.append(suffixed(REVIEWS[4]))  # the fifth item, word for word
    result = detect(ref, corpus(tmp_path / "train.jsonl", rows))
    assert {
        (row, leak.item.row) for leak in result.leaks for m in leak.matches for row in [m.row]
    } == {(50, 4)}
    # The same as with distinct ids.
    distinct = golden(
        tmp_path / "distinct.jsonl",
        [suffixed(r) for r in REVIEWS[:items]],
        [str(k) for k in range(items)],
    )
    again = detect(distinct, tmp_path / "train.jsonl")
    assert [i.common_ngrams for i in result.items] == [i.common_ngrams for i in again.items]


# Found by attack: text two items of a small file share is the file's template, so where
# the items are near copies of each other (two numbers of one problem, a question and the
# same question with an instruction after it), their shared text is all of each, and
# copies of them matched nothing (or their own run alone, a few words around the one word
# that differs). An item whose own words outside such a template are too few to find it
# (no n-gram, no span criterion) keeps that text as its evidence.

PANGRAM = (
    "The quick brown fox jumps over the lazy dog near the river bank every single morning at dawn."
)
OHIO = (
    "Another question entirely about the tax rules for small businesses in the state of Ohio "
    "this year."
)
PRIME = "Name a prime number between twenty and thirty and explain why it is prime to a child."
MEMO = (
    "The city council voted to close the old library on Maple Street and move its books to a "
    "new community center near the river. Which department will manage the new center, "
    "according to the memo?"
)
BAKERY = (
    "A bakery sells muffins for 3 dollars each and scones for 4 dollars each; on Saturday it "
    "sold 120 muffins and 85 scones. How much money did it take in that day?"
)
FARMER = (
    "A farmer has 17 cows and each cow gives 12 liters of milk every morning and 9 liters "
    "every evening. He sells the milk at the market for 2 dollars per liter. How much money "
    "does he make in one week?"
)
PROBLEMS = [
    "Lena reads 30 pages of her novel on weekdays and twice as many on weekends, and the "
    "novel has 600 pages in total; how many weeks will she need to finish it?",
    "A train leaves the station at 9 in the morning traveling at 80 kilometers per hour, and "
    "a second train leaves two hours later at 120 kilometers per hour; when does the second "
    "catch up?",
    "Sam bakes 4 trays of cookies with 24 cookies on each tray, gives a third of them to his "
    "neighbors and eats 5 himself; how many cookies are left for the school bake sale?",
    "A rectangular garden is 14 meters long and 9 meters wide, and a path one meter wide "
    "runs all the way around the outside; what is the area of the path in square meters?",
]
LIGHTHOUSE = (
    "In 1887 the town of Harwick built a stone lighthouse on the northern cliffs after three "
    "fishing boats were lost in a winter storm. The keeper, Ellen Marsh, kept the lamp burning "
    "for forty years and wrote a diary that is now kept in the county museum."
)
RIVERS = (
    "Name three rivers that flow through more than four countries in Europe and explain "
    "briefly why such rivers matter for trade between those countries."
)
KEEPER = (
    "The keeper named in the passage is Ellen Marsh, who tended the light for four decades "
    "and left a diary behind that historians still read today."
)


def rows_of(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def items_by_row(result) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for leak in result.leaks:
        for m in leak.matches:
            out.setdefault(m.row, set()).add(leak.item.id)
    return out


def test_items_that_differ_in_their_last_word_are_found_by_a_copy(tmp_path: Path) -> None:
    """Two of four items differ in their last word ("dawn." / "dusk."): a copy of one with
    more words after it on its line matched nothing (its one own word ends no sentence)."""
    ref = golden(
        tmp_path / "golden.jsonl",
        [PANGRAM, PANGRAM.replace("dawn.", "dusk."), OHIO, PRIME],
        ["a", "b", "c", "d"],
    )
    copies = [
        PANGRAM[:-1] + ", said the teacher before the typing test began this morning in class.",
        PANGRAM[:-1] + " and then some more words follow here on the same line",
        PANGRAM + " I typed this sentence twice for my keyboard practice today and it went well.",
    ]
    train = rows_of(tmp_path / "train.jsonl", [{"text": c} for c in copies])
    found = items_by_row(detect(ref, train))
    # Each copy is the first item's (and, but for its last word, the second's).
    assert all("a" in found.get(row, set()) for row in range(3)), found
    # Without the limit (which the share rule is part of) the same rows were found.
    assert set(items_by_row(detect(ref, train, max_ngram_items=0))) == {0, 1, 2}


def test_an_item_inside_another_is_found_by_a_copy_with_a_long_answer(tmp_path: Path) -> None:
    """Item i1 is item i0 and "Answer in one sentence.": all of i0 was the file's template,
    so i0 copied with a long answer (or one name changed) matched nothing."""
    ref = golden(
        tmp_path / "golden.jsonl",
        [MEMO, MEMO + " Answer in one sentence.", BAKERY],
        ["i0", "i1", "i2"],
    )
    answer = "The parks department will manage it, as the memo says in its second paragraph."
    train = rows_of(
        tmp_path / "train.jsonl",
        [
            {"prompt": MEMO, "completion": answer},
            {"prompt": MEMO.replace("Maple Street", "Oak Street"), "completion": answer},
        ],
    )
    found = items_by_row(detect(ref, train))
    assert found == {0: {"i0", "i1"}, 1: {"i0", "i1"}}


def test_two_numbers_of_one_problem_are_found_by_reworded_copies(tmp_path: Path) -> None:
    """Items q0 and q1 differ in one number ("2 dollars", "3 dollars"): their shared text was
    the file's template, and q0 with another number, or its first 120 characters, matched
    nothing."""
    ref = golden(
        tmp_path / "golden.jsonl",
        [FARMER, FARMER.replace("2 dollars", "3 dollars"), *PROBLEMS],
        [f"q{k}" for k in range(6)],
    )
    long_answer = (
        "Each day the cows give 17 times 21 liters, that is 357 liters, and at 5 dollars a "
        "liter that is 1785 dollars a day, so in seven days he makes 12495 dollars in total."
    )
    train = rows_of(
        tmp_path / "train.jsonl",
        [
            {"prompt": FARMER.replace("2 dollars", "5 dollars"), "completion": long_answer},
            {"prompt": "Solve this: " + FARMER[:120], "completion": "ok"},
            {"prompt": FARMER, "completion": "He makes 17*21*2*7 = 4998 dollars."},
        ],
    )
    found = items_by_row(detect(ref, train))
    assert all("q0" in found.get(row, set()) for row in range(3)), found
    assert all(found[row] <= {"q0", "q1"} for row in found)


def test_a_passage_two_short_questions_share_is_their_evidence(tmp_path: Path) -> None:
    """Two of four items are one passage and a short question each: the passage was the
    file's template, and its item with the question first, or as one conversation's system
    and user turns, matched nothing (a question of 5 words is too few of its own). The
    passage is now the evidence of both, with the item's question line: found by attack,
    the passage alone was a leak of both (as the few-shot block of a 2-item set, below,
    with any other question), while for three items or more it is the set's text."""
    questions = ["Who kept the lamp burning?", "Why was the lighthouse built?"]
    ref = golden(
        tmp_path / "golden.jsonl",
        [f"{LIGHTHOUSE}\n{questions[0]}", f"{LIGHTHOUSE}\n{questions[1]}", BAKERY, RIVERS],
        ["i0", "i1", "i2", "i3"],
    )
    train = rows_of(
        tmp_path / "train.jsonl",
        [
            {"prompt": f"{questions[0]}\n{LIGHTHOUSE}", "completion": KEEPER},
            {
                "prompt": f"Context: {LIGHTHOUSE}\nQuestion: {questions[0]}\nAnswer:",
                "completion": KEEPER,
            },
            {
                "messages": [
                    {"role": "system", "content": LIGHTHOUSE},
                    {"role": "user", "content": questions[0]},
                    {"role": "assistant", "content": KEEPER},
                ]
            },
            {"prompt": LIGHTHOUSE, "completion": KEEPER},
            {"prompt": f"{LIGHTHOUSE}\nWho wrote the diary?", "completion": KEEPER},
        ],
    )
    found = items_by_row(detect(ref, train))
    assert found == {0: {"i0"}, 1: {"i0"}, 2: {"i0"}}, found


def test_a_copy_of_a_near_duplicate_item_fails_check_and_is_decontaminated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check --golden` and `curate --decontaminate` find the copy too (one index)."""
    sets = tmp_path / "golden_sets" / "memo"
    sets.mkdir(parents=True)
    golden(
        sets / "data.jsonl", [MEMO, MEMO + " Answer in one sentence.", BAKERY], ["i0", "i1", "i2"]
    )
    answer = "The parks department will manage it, as the memo says in its second paragraph."
    train = rows_of(
        tmp_path / "train.jsonl",
        [{"prompt": MEMO, "completion": answer}, {"prompt": "Say hi.", "completion": "Hi there."}],
    )
    assert main(["check", str(train), "--golden", str(tmp_path / "golden_sets")]) == 1
    out = capsys.readouterr().out
    assert f"{train.as_posix()}:1: LEAK001" in out and ":2: LEAK001" not in out, out
    from curagate.curate import curate

    result = curate([train], tmp_path / "out", decontaminate__reference=[str(sets)])
    assert result.removed.get("leakage") == 1


# Found by attack: text in every item of a small few-shot set (its exemplar block) was the
# evidence of each item, as near copies' shared text is, since a short question has too
# few words of its own: 100 clean rows with the block and another question flagged all 10
# items. Near copies come in pairs; text three items or more share is the set's format,
# and each item's own question (its own run) still finds a copy of it. Two items that share
# the block keep it as their evidence with their own question's line.
FEW_SHOT = (
    "Answer each question with a short fact.\n"
    "Q: What is the largest planet in our solar system?\nA: Jupiter\n"
    "Q: Which element has the chemical symbol O?\nA: Oxygen\n"
    "Q: How many continents are there on Earth?\nA: Seven\n"
    "Q: Who painted the ceiling of the Sistine Chapel?\nA: Michelangelo\n"
)
TITLES = ["Hamlet", "Faust", "Ulysses", "Dracula", "Emma", "Beloved", "Rebecca", "Carrie"]


@pytest.mark.parametrize("items", [3, 5, 8])
@pytest.mark.parametrize("methods", [("exact", "ngram"), ("exact", "ngram", "minhash")])
def test_a_few_shot_block_of_every_item_flags_no_clean_row(
    tmp_path: Path, items: int, methods: tuple[str, ...]
) -> None:
    prompts = [f"{FEW_SHOT}Q: Who wrote {t}?\nA:" for t in TITLES[:items]]
    ref = golden(tmp_path / "golden.jsonl", prompts, [f"g{k}" for k in range(items)])
    rows = [
        {"prompt": f"{FEW_SHOT}Q: What is {k} plus {k + 3}?\nA:", "completion": str(2 * k + 3)}
        for k in range(40)
    ]
    rows.append({"prompt": prompts[1], "completion": "Goethe"})  # a copy of item g1
    train = rows_of(tmp_path / "train.jsonl", rows)
    # Found by attack: MinHash compared whole texts, and found every row a near duplicate
    # of every item (~95% of each is the block). It leaves an item's template out now.
    assert items_by_row(detect(ref, train, methods=methods)) == {40: {"g1"}}
    if "minhash" in methods:
        # MinHash alone: the prompt copied is a near copy of its item, and of it alone.
        copy = rows_of(tmp_path / "copy.jsonl", [{"text": prompts[1]}, *rows[:5]])
        assert items_by_row(detect(ref, copy, methods=("minhash",))) == {0: {"g1"}}


@pytest.mark.parametrize("methods", [("exact", "ngram"), ("exact", "ngram", "minhash")])
def test_a_few_shot_block_of_two_items_flags_no_clean_row(
    tmp_path: Path, methods: tuple[str, ...]
) -> None:
    """Found by attack: with two items the block is their shared text, which stays the
    evidence of an item too short to be found otherwise (near copies), so 100 clean rows
    written with the block and another question flagged both. Whole lines shared around a
    line of each item's own are evidence with that line only; near copies that differ
    inside a line (above) are found as before."""
    prompts = [f"{FEW_SHOT}Q: Who wrote {t}?\nA:" for t in TITLES[:2]]
    ref = golden(tmp_path / "golden.jsonl", prompts, ["g0", "g1"])
    rows = [
        {"prompt": f"{FEW_SHOT}Q: What is {k} plus {k + 3}?\nA:", "completion": str(2 * k + 3)}
        for k in range(40)
    ]
    rows += [
        {"prompt": prompts[1], "completion": "Goethe"},
        {"prompt": f"{FEW_SHOT}Question: Who wrote Hamlet? Give the full name.\nA:"},
        {"prompt": f"Who wrote Hamlet?\n{FEW_SHOT}", "completion": "Shakespeare"},
    ]
    train = rows_of(tmp_path / "train.jsonl", rows)
    found = items_by_row(detect(ref, train, methods=methods))
    assert found == {40: {"g1"}, 41: {"g0"}, 42: {"g0"}}, found


def test_numbered_variants_of_one_text_are_measured_whole_by_minhash(tmp_path: Path) -> None:
    # Found by a test of the gate (an export's lineage scan): items that are one 18-word
    # text and a number each ("... by the sea (0)", "(1)", "(2)") have that text as their
    # template, and MinHash, leaving templates out, measured the numbers alone: a row with
    # the text was no near copy of any. Their numbers are no text of their own: measured
    # whole, as before templates were left out.
    ids = ["z0", "z1", "z2"]
    ref = golden(tmp_path / "golden.jsonl", [f"{ZEMBLA} ({i})" for i in range(3)], ids)
    rows = [f"Q: {ZEMBLA}? A: onhava", "Q: an unrelated question about the weather today? A: rain"]
    result = detect(ref, corpus(tmp_path / "train.jsonl", rows), methods=("minhash",))
    assert_near_copy_of_all(result, ids)


# 50 words: a row holding them, its label, an answer and its completion is a near copy of
# the text and a tag, Jaccard 48/53 = 0.91 of 3-word shingles, clearly above the 0.8
# threshold (with the 17 words first used here it was 15/20 = 0.75, found only because
# the 128-permutation estimate came out at 0.81: found by review).
ZEMBLA = (
    "the secret capital of the hidden northern kingdom of zembla is the walled city by the "
    "sea, where an old harbour keeps a lighthouse of green glass that the fishermen climb "
    "on every winter night to watch for the silver boats coming home from the far islands "
    "beyond the reef"
)


def assert_near_copy_of_all(result, ids: list[str]) -> None:
    """Row 0 is a near copy of every item, by a clear margin; row 1 of none."""
    matches = [(m.row, leak.item.id, m.similarity) for leak in result.leaks for m in leak.matches]
    assert {(row, item) for row, item, _ in matches} == {(0, i) for i in ids}, matches
    assert min(s for _, _, s in matches) >= 0.85, matches


@pytest.mark.parametrize(
    "tags",
    [
        ["0", "1", "2"],
        ["a", "b", "c"],
        ["v1", "v2", "v3"],
        ["ii", "iii", "iv"],
        ["1.1", "1.2", "1.3"],
    ],
)
def test_minhash_tells_variants_by_their_tag(tmp_path: Path, tags: list[str]) -> None:
    # Found by attack: items that are one question and a number each were measured
    # whole, and every clean row asking it of another number or word leaked all of them;
    # variants tagged (a) or (v1) were measured by the tag alone, and a row holding their
    # shared text leaked none (with numbers, all).
    question = (
        "You are a careful tutor for primary school students. Read the problem below and "
        "work it out step by step before answering, then reply with only the resulting "
        "value, with no units, words or punctuation around it. Problem: what is the "
        "smallest prime number that is strictly greater than {}"
    )
    numbers = [233, 417, 598, 771, 802, 139, 356, 644, 905, 128, 451, 690]
    ref = golden(
        tmp_path / "q.jsonl", [question.format(n) for n in numbers], [f"g{n}" for n in numbers]
    )
    rows = [question.format(x) for x in (377, 812, "seven", "forty", 233)]
    # found by re-attack: a copy with words after its tag was no variant of any item
    rows += [question.format(233) + " Answer:", question.format(598) + ", and show your work."]
    result = detect(ref, corpus(tmp_path / "t.jsonl", rows), methods=("minhash",))
    assert found(result) == {(4, "g233"), (5, "g233"), (6, "g598")}
    ref = golden(tmp_path / "z.jsonl", [f"{ZEMBLA} ({t})" for t in tags], ["z0", "z1", "z2"])
    rows = [f"Q: {ZEMBLA}? A: onhava", "Q: an unrelated question about the weather today? A: rain"]
    result = detect(ref, corpus(tmp_path / "z.train.jsonl", rows), methods=("minhash",))
    assert_near_copy_of_all(result, ["z0", "z1", "z2"])


def test_a_few_shot_block_and_questions_of_short_words_flag_no_clean_row(tmp_path: Path) -> None:
    # Found by review of the tags above: any ASCII word of up to 3 letters was a tag, so
    # items that are a 4-shot block and `Q: Can a cat fly?` were variants of one text,
    # measured whole by MinHash, and a colon after the block's last `Q` was a sentence's
    # end that left the tag's slot empty: every clean row with the block and another
    # question was a near copy of them.
    questions = ["Can a cat fly?", "Can a dog fly?", "Can a cow fly?", "Can an owl fly?"]
    prompts = [f"{FEW_SHOT}Q: {q}\nA:" for q in questions]
    ref = golden(tmp_path / "golden.jsonl", prompts, [f"g{k}" for k in range(4)])
    rows = [
        {"prompt": f"{FEW_SHOT}Q: What is {k} plus {k + 3}?\nA:", "completion": str(2 * k + 3)}
        for k in range(20)
    ]
    rows.append({"prompt": prompts[1], "completion": "no"})
    train = rows_of(tmp_path / "train.jsonl", rows)
    assert found(detect(ref, train, methods=("minhash",))) == set()
    assert found(detect(ref, train)) == {(20, "g1")}  # the copy, by its own run


@pytest.mark.parametrize(
    ("tags", "others"),
    [
        ([f"1.{k}" for k in range(1, 11)], [f"1.{k}" for k in range(11, 21)]),
        ([f"{k}.5" for k in range(1, 11)], [f"{k}.5" for k in range(11, 21)]),
        ([f"{k}.5" for k in range(1, 11)], [f"{k}.25" for k in range(1, 11)]),
        ([str(k) for k in range(1, 11)], [f"{k}.5" for k in range(11, 21)]),
        ([str(k) for k in range(1, 11)], [f"2/{k}" for k in range(1, 10)]),
    ],
    ids=["1.1-vs-1.11", "1.5-vs-15.5", "2.5-vs-2.25", "5-vs-15.5", "2-vs-2/3"],
)
@pytest.mark.parametrize("where", ["after", "before"])
def test_decimal_tags_tell_variants_apart(
    tmp_path: Path, tags: list[str], others: list[str], where: str
) -> None:
    # Found by review: the view of a row with its punctuation read as spaces cut 15.5
    # into `15 5` and 1.11 into `1 11` (1.5 is `15`, 1.1 `11`: normalization drops the
    # point), holding the tag of another variant: clean rows asking another number leaked
    # one (1 of 10 with the tag after the text, 9 or 10 with it first). A record's tag
    # must end the record or a sentence (open it, for a tag first). (1.5 and 15 are one
    # tag: a known limit.)
    text = (
        "the secret capital of the hidden northern kingdom of zembla is the walled city by the sea"
    )

    def item(tag: str) -> str:
        return f"{text} ({tag})" if where == "after" else f"({tag}) {text}"

    ref = golden(tmp_path / "golden.jsonl", [item(t) for t in tags], [f"g{t}" for t in tags])
    rows = [item(t) for t in others] + [item(tags[3])]
    result = detect(ref, corpus(tmp_path / "t.jsonl", rows), methods=("minhash",))
    assert found(result) == {(len(others), f"g{tags[3]}")}


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_row_carrying_one_variants_tag_is_no_copy_of_the_others(
    tmp_path: Path, where: str
) -> None:
    # Found by attack: items `(a) T` to `(e) T` and a clean row whose tag sat next to a
    # period or a line break (`Part e. T`, `T. (e)`) or after the text (`T (e)`) was a
    # near copy of all five. A row carrying a variant's tag, on either side of the text,
    # is that variant only; a label (`A:`) is no tag, and a row with the text and no tag
    # is still a near copy of every variant. Found by re-attack: `(f) T` was a near copy of
    # every item `T (a)`, ...
    tags = "abcde"
    item = (lambda t: f"({t}) {ZEMBLA}") if where == "before" else (lambda t: f"{ZEMBLA} ({t})")
    ids = [f"g{t}" for t in tags]
    ref = golden(tmp_path / "golden.jsonl", [item(t) for t in tags], ids)
    carrying = [
        f"Part e. {ZEMBLA}",
        f"Part e.\n{ZEMBLA}",
        f"e.\n{ZEMBLA}",
        f"{ZEMBLA}. (e)",
        f"{ZEMBLA}.\n(e)",
        f"{ZEMBLA} (e)",
        f"(e) {ZEMBLA}",
    ]
    # (a tag in brackets that is no variant's is none of them, on either side)
    rows = [*carrying, f"Q: {ZEMBLA}? A: onhava", f"(f) {ZEMBLA}", f"{ZEMBLA} (f)"]
    result = detect(ref, corpus(tmp_path / "t.jsonl", rows), methods=("minhash",))
    expected = {(k, "ge") for k in range(len(carrying))}
    expected |= {(len(carrying), i) for i in ids}
    assert found(result) == expected
