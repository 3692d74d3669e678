"""The split assignment as pure functions: units in, split index per unit out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.errors import ConfigError, InputError
from curagate.ratios import parse_ratios
from curagate.split import (
    CheckOptions,
    assign_rows,
    assign_units,
    build_units,
    template_fragments,
    verify_splits,
)

RATIOS = (0.8, 0.1, 0.1)


def test_random_mode_hits_the_ratios_exactly_for_single_rows() -> None:
    out = assign_units([1] * 1000, ratios=RATIOS, seed=0, mode="random")
    assert Counter(out) == {0: 800, 1: 100, 2: 100}


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = assign_units([1] * 200, ratios=RATIOS, seed=1, mode="random")
    b = assign_units([1] * 200, ratios=RATIOS, seed=1, mode="random")
    c = assign_units([1] * 200, ratios=RATIOS, seed=2, mode="random")
    assert a == b
    assert a != c


def test_stratified_keeps_each_label_in_proportion() -> None:
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    out = assign_units([1] * 1000, ratios=RATIOS, seed=0, mode="stratified", unit_labels=labels)
    per_label = {
        lab: Counter(s for s, x in zip(out, labels, strict=True) if x == lab) for lab in "abc"
    }
    assert per_label["a"] == {0: 480, 1: 60, 2: 60}
    assert per_label["b"] == {0: 240, 1: 30, 2: 30}
    assert per_label["c"] == {0: 80, 1: 10, 2: 10}


def test_stratified_carries_rounding_so_many_small_labels_still_reach_val_and_test() -> None:
    labels = [f"label{i}" for i in range(100) for _ in range(3)]
    out = assign_units([1] * 300, ratios=RATIOS, seed=0, mode="stratified", unit_labels=labels)
    assert Counter(out) == {0: 240, 1: 30, 2: 30}


def test_time_mode_puts_the_oldest_units_in_train() -> None:
    times = [(0, float(t)) for t in (5, 3, 9, 1, 7, 2, 8, 4, 6, 0)]
    out = assign_units([1] * 10, ratios=RATIOS, seed=0, mode="time", unit_times=times)
    by_split = {
        s: sorted(t[1] for t, x in zip(times, out, strict=True) if x == s) for s in range(3)
    }
    assert by_split == {0: [0, 1, 2, 3, 4, 5, 6, 7], 1: [8], 2: [9]}


def test_units_join_rows_sharing_any_constraint_value() -> None:
    clusters = ["c1", None, "c1", None, None]
    groups = [None, "g", None, "g", None]
    keys = ["x", "y", "z", "y2", "x"]
    assert build_units(5, [clusters, groups, keys]) == [0, 1, 0, 1, 0]


def test_grouped_units_of_mixed_sizes_stay_near_the_targets() -> None:
    sizes = [50, 3, 1, 1, 7, 20, 2] + [1] * 100
    out = assign_units(sizes, ratios=RATIOS, seed=3, mode="grouped")
    rows: Counter[int] = Counter()
    for size, s in zip(sizes, out, strict=True):
        rows[s] += size
    total = sum(sizes)
    for s, ratio in enumerate(RATIOS):
        assert abs(rows[s] - ratio * total) <= max(sizes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("80/10/10", (0.8, 0.1, 0.1)),
        ("0.9,0.05,0.05", (0.9, 0.05, 0.05)),
        ("8:1:1", (0.8, 0.1, 0.1)),
    ],
)
def test_ratios_accept_percentages_fractions_and_parts(
    text: str, expected: tuple[float, float, float]
) -> None:
    assert parse_ratios(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["80/20", "a/b/c", "-10/60/50", "0/50/50"])
def test_bad_ratios_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--ratios"):
        parse_ratios(text)


@pytest.mark.parametrize(
    ("text", "which"), [("1/0/1e300", "train"), ("1e-300/1/1", "train"), ("1/1e-9/0", "val")]
)
def test_a_share_that_rounds_to_0_is_refused(text: str, which: str) -> None:
    # 1/0/1e300 passed (train > 0 as written), split 0 rows into train and the manifest
    # recorded train's ratio as 0.0.
    with pytest.raises(
        ConfigError, match=f"--ratios '.*': {which}'s share is .* which rounds to 0"
    ):
        parse_ratios(text)


def test_verify_finds_exact_copies_across_splits_after_normalization() -> None:
    report = verify_splits(
        [["The cat sat on the mat."], ["the CAT sat on the mat"], []],
        [["t1"], ["v1"], []],
    )
    assert report["leaks_total"] == 1
    assert report["exact_copies"]["rows"] == 1
    leak = report["exact_copies"]["examples"][0]
    assert (leak["split"], leak["id"], leak["in_split"], leak["in_id"]) == (
        "val",
        "v1",
        "train",
        "t1",
    )


def test_verify_reports_a_shared_13_gram_with_its_span_but_not_a_12_gram() -> None:
    words = [f"w{i}" for i in range(13)]
    train = ["intro " + " ".join(words) + " outro"]
    test_shared = ["other start " + " ".join(words)]
    test_short = ["other start " + " ".join(words[:12])]
    leaky = verify_splits([train, [], test_shared], [["t"], [], ["x"]])
    clean = verify_splits([train, [], test_short], [["t"], [], ["x"]])
    passages = leaky["shared_passages"]
    assert passages["pairs"] == 1 and leaky["leaks_total"] == 1
    pair = passages["examples"][0]
    assert pair["method"] == "shared_passage" and pair["shared_ngrams"] == 1
    assert pair["spans"] == [{"words": [2, 15], "text": " ".join(words)}]
    assert 0 < pair["similarity"] < 0.7
    assert clean["shared_passages"]["pairs"] == 0
    # 12 of the test item's 14 words in a row inside train: `curagate leakage`'s span.
    assert clean["leakage_scan"]["pairs"] == 1 and clean["leaks_total"] == 1


def test_an_ngram_in_more_than_max_items_rows_is_boilerplate_not_evidence() -> None:
    boiler = "please read the following text very carefully and then answer the question below"
    train = [f"{boiler} train item {i} about topic {i}" for i in range(6)]
    test = [f"{boiler} test item {i} about subject {i}" for i in range(6)]
    strict = verify_splits([train, [], test], [[*"abcdef"], [], [*"uvwxyz"]])
    loose = verify_splits(
        [train, [], test],
        [[*"abcdef"], [], [*"uvwxyz"]],
        CheckOptions(max_ngram_items=12),
    )
    assert strict["leaks_total"] == 0
    assert strict["shared_passages"]["boilerplate_ngrams"] > 0
    assert loose["shared_passages"]["rows"] == 6


def test_ngrams_of_a_given_template_are_not_evidence() -> None:
    template = "{{text}}\n\nplease read the following text very carefully and then answer the question below"
    train = [
        "a review: please read the following text very carefully and then answer the question below"
    ]
    test = [
        "other words: please read the following text very carefully and then answer the question below"
    ]
    plain = verify_splits([train, [], test], [["t"], [], ["x"]])
    listed = verify_splits(
        [train, [], test],
        [["t"], [], ["x"]],
        CheckOptions(templates=tuple(template_fragments(template))),
    )
    assert plain["shared_passages"]["pairs"] == 1
    assert listed["shared_passages"]["pairs"] == 0
    assert listed["shared_passages"]["template_ngrams"] > 0
    # The leakage engine's scan honours the templates too: it flagged the shared template
    # (leaks_total 1) after the shared-passage check had left it out.
    assert plain["leakage_scan"]["pairs"] == 1
    assert listed["leakage_scan"]["pairs"] == 0
    assert listed["leaks_total"] == 0


TEMPLATE = (
    "You are a careful assistant. Read the passage below and answer the question that "
    "follows it in one short sentence, citing the passage where you can.\n\n{passage}\n\n"
    "Question: {q}"
)


def filled(passage: str, question: str) -> str:
    return TEMPLATE.replace("{passage}", passage).replace("{q}", question)


def test_the_leakage_scan_leaves_templates_out_but_finds_a_value_copied_under_one() -> None:
    train = [
        filled("the river floods every spring after the snow melts in the hills", "when?"),
        filled("copper wire conducts heat and electricity very well indeed", "what conducts"),
        "an unrelated train record about baking sourdough bread at home on weekends",
    ]
    ids = [["a", "b", "c"], [], ["x"]]
    # Written in another case and spacing than the template file: still the template.
    other = filled("owls hunt at night using their sharp hearing and silent flight", "how")
    options = CheckOptions(templates=tuple(template_fragments(TEMPLATE)))
    plain = verify_splits([train, [], [other.upper()]], ids)
    named = verify_splits([train, [], [other.upper().replace(" ", "  ")]], ids, options)
    assert plain["leakage_scan"]["pairs"] == 2  # both templated train records
    assert named["leakage_scan"]["pairs"] == 0 and named["leaks_total"] == 0
    # A passage copied under the template is a leak all the same.
    copied = filled("copper wire conducts heat and electricity very well indeed", "which metal?")
    found = verify_splits([train, [], [copied]], ids, options)["leakage_scan"]
    assert found["pairs"] == 1 and found["examples"][0]["in_id"] == "b"


def test_verify_splits_scans_the_records_as_the_cli_does_when_given_them() -> None:
    """A preference record's key is its prompt; the leakage engine reads its answers too
    (`curagate split` scans the records): keys alone missed an answer copied into train."""
    answer = (
        "The mitochondria is the powerhouse of the cell, producing most of the chemical "
        "energy needed to power the biochemical reactions of living organisms."
    )
    train = [
        {"prompt": "Tell me something about biology", "chosen": answer, "rejected": "No."},
        {"prompt": "What is the weather on Mars", "chosen": "Cold and dusty.", "rejected": "Hot."},
    ]
    test = [{"prompt": "Explain organelles to a child", "chosen": answer, "rejected": "Hm."}]
    keys = [[r["prompt"] for r in train], [], [r["prompt"] for r in test]]
    ids = [["a", "b"], [], ["x"]]
    assert verify_splits(keys, ids)["leaks_total"] == 0  # the keys share nothing
    records = [
        pa.Table.from_pylist(train),
        pa.Table.from_pylist(test[:0]),
        pa.Table.from_pylist(test),
    ]
    report = verify_splits(keys, ids, records_by_split=records)
    assert report["leaks_total"] == 1
    assert report["leakage_scan"]["examples"][0]["id"] == "x"
    assert report["leakage_scan"]["examples"][0]["in_id"] == "a"
    with pytest.raises(ConfigError, match="a row per key"):
        verify_splits(keys, ids, records_by_split=records[:2])


def test_verify_split_files_gives_the_verdict_split_writes(tmp_path: Path) -> None:
    from curagate.split import verify_split_files

    answer = (
        "The mitochondria is the powerhouse of the cell, producing most of the chemical "
        "energy needed to power the biochemical reactions of living organisms."
    )
    train = tmp_path / "train.jsonl"
    test = tmp_path / "test.parquet"
    train.write_text(
        json.dumps(
            {"id": "a", "prompt": "Tell me about biology", "chosen": answer, "rejected": "No."}
        )
        + "\n"
    )
    pq.write_table(
        pa.Table.from_pylist(
            [{"id": "x", "prompt": "Organelles for a child?", "chosen": answer, "rejected": "Hm."}]
        ),
        test,
    )
    report = verify_split_files(train, None, test)
    assert report["leaks_total"] == 1
    hit = report["leakage_scan"]["examples"][0]
    assert (hit["split"], hit["id"], hit["in_split"], hit["in_id"]) == ("test", "x", "train", "a")
    with pytest.raises(ConfigError, match="is given for both train and test"):
        verify_split_files(train, None, train)


def test_verify_finds_a_near_copy_by_exact_jaccard() -> None:
    text = " ".join(f"word{i}" for i in range(60))
    edited = text.replace("word30", "changed")
    report = verify_splits([[text], [], [edited]], [["t"], [], ["x"]])
    near = report["near_copies"]
    assert near["pairs"] == 1
    # 56 word 5-grams each, 5 differ: 51 / 61.
    assert near["examples"][0]["similarity"] == round(51 / 61, 6)
    assert near["examples"][0]["method"] == "near"


def test_verify_compares_test_with_val_too() -> None:
    text = "a record that sits in val and again in test"
    report = verify_splits([["unrelated train text"], [text], [text]], [["t"], ["v"], ["x"]])
    assert report["exact_copies"]["examples"][0]["in_split"] == "val"


def test_times_mixing_numbers_and_iso_strings_are_an_input_error() -> None:
    with pytest.raises(InputError, match=r"mixes numbers \(input row 1\) and times"):
        assign_rows(["a", "b", "c"], mode="time", times=["2024-01-01", 5, "2024-01-02"])


def test_assign_rows_keeps_rows_of_one_together_column_in_one_split() -> None:
    keys = [f"text {i}" for i in range(100)]
    clusters = [i // 5 for i in range(100)]
    plan = assign_rows(keys, seed=4, together=[clusters])
    for c in range(20):
        assert len({plan.split[i] for i in range(5 * c, 5 * c + 5)}) == 1
    assert plan.n_units == 20


@pytest.mark.slow
def test_many_templates_are_taken_out_of_the_scanned_records_whatever_their_size() -> None:
    """600 KB of template fragments in one regular expression was over RE2's bound: the
    scan of a split given them stopped with an Arrow error (exit 3)."""
    from curagate.split_pairs import without_templates

    fragments = [" ".join(f"w{i}x{j}" for j in range(30)) for i in range(3000)]
    table = pa.table({"text": [f"{fragments[2999]} kept", "untouched text"]})
    out = without_templates(table, fragments)["text"].to_pylist()
    assert out[0].split() == ["kept"] and out[1] == "untouched text"
