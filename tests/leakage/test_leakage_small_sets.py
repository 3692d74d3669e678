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
