"""Leakage detection through the library: each method, short items, spans, per-row scans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from curagate.cli import main
from curagate.errors import ConfigError, InputError
from curagate.golden import HUMAN_LABELS
from curagate.leakage import NOT_ITEMS, LeakageIndex, detect

GSM = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' "
    "market daily for $2 per fresh duck egg. How much in dollars does she make every day at "
    "the farmers' market?"
)
ROBE = (
    "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total "
    "does it take to make the robe when the tailor works alone?"
)
SHORT = "What is the capital of France?"
CLEAN = [
    "The weather in Lisbon stays mild for most of the year, with wet winters.",
    "Classify the news article: Stocks rallied on Monday after the central bank held rates.",
]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return write(tmp_path / "golden.jsonl", [{"text": t} for t in (GSM, ROBE, SHORT)])


def corpus(tmp_path: Path, texts: list[str]) -> Path:
    return write(tmp_path / "corpus.jsonl", [{"text": t} for t in texts])


def test_verbatim_item_inside_a_record_is_an_ngram_leak_with_full_ratio(
    tmp_path: Path, reference: Path
) -> None:
    record = f"Answer the question step by step.\n\n{GSM}\n\nAnswer: 18"
    result = detect(reference, corpus(tmp_path, [*CLEAN, record]))
    [leak] = result.leaks
    [match] = leak.matches
    assert leak.item.row == 0
    assert match.row == 2 and "ngram" in match.methods
    assert match.ratio == 1.0


def test_span_offsets_slice_the_original_texts(tmp_path: Path, reference: Path) -> None:
    record = f"Q:  {GSM.upper()}  (from a forum)"
    result = detect(reference, corpus(tmp_path, [record]), methods=["ngram"])
    span = result.leaks[0].matches[0].span
    assert span is not None
    assert record[span.record_start : span.record_end] == GSM.upper()
    assert GSM[span.reference_start : span.reference_end] == GSM
    assert span.text == GSM.upper()


def test_normalized_copy_is_an_exact_leak(tmp_path: Path, reference: Path) -> None:
    copy = "  " + ROBE.lower().replace(",", "").replace("?", " ?") + "  "
    result = detect(reference, corpus(tmp_path, [copy]), methods=["exact"])
    [leak] = result.leaks
    assert leak.item.row == 1 and leak.methods == ("exact",)


def test_edited_copy_is_a_minhash_leak_with_its_similarity(tmp_path: Path, reference: Path) -> None:
    edited = GSM.replace("farmers' market?", "farmers' stall?")
    result = detect(reference, corpus(tmp_path, [edited]), methods=["minhash"])
    [match] = result.leaks[0].matches
    assert match.methods == ("minhash",)
    assert match.similarity is not None and match.similarity >= 0.8


def test_short_item_is_matched_by_exact_and_listed_as_too_short(
    tmp_path: Path, reference: Path
) -> None:
    result = detect(reference, corpus(tmp_path, ["what is the capital of France"]))
    [leak] = result.leaks
    assert leak.item.too_short_for_ngram and leak.item.row == 2
    assert "exact" in leak.methods and "ngram" not in leak.methods
    assert [i.row for i in result.too_short_items] == [2]


def test_clean_corpus_has_no_leak(tmp_path: Path, reference: Path) -> None:
    result = detect(reference, corpus(tmp_path, CLEAN))
    assert result.leaked_reference_items == 0
    assert result.corpus_records == 2


def test_min_ratio_drops_a_small_overlap(tmp_path: Path, reference: Path) -> None:
    part = " ".join(GSM.split()[:15])  # 3 of the item's 40 13-grams
    path = corpus(tmp_path, [part])
    assert detect(reference, path, methods=["ngram"]).leaked_reference_items == 1
    assert detect(reference, path, methods=["ngram"], min_ratio=0.5).leaked_reference_items == 0


def test_prompt_completion_records_are_scanned_by_their_key(
    tmp_path: Path, reference: Path
) -> None:
    path = write(tmp_path / "pc.jsonl", [{"prompt": "Solve:", "completion": GSM}])
    result = detect(reference, path)
    assert result.leaks[0].matches[0].row == 0


def test_scan_keys_marks_rows_with_reference_id_and_method(reference: Path) -> None:
    index = LeakageIndex.build([reference])
    keys = pa.array([CLEAN[0], f"intro {GSM}", SHORT], pa.large_string())
    rows = index.scan_keys(keys)
    assert rows.leaked.to_pylist() == [False, True, True]
    assert rows.reference_ids.to_pylist() == [
        None,
        f"{reference.as_posix()}:0",
        f"{reference.as_posix()}:2",
    ]
    assert rows.methods.to_pylist()[1] == "ngram+minhash"
    assert rows.methods.to_pylist()[2] == "exact+minhash"


def test_scan_keys_accepts_a_sliced_string_array(reference: Path) -> None:
    index = LeakageIndex.build([reference])
    keys = pa.array(["x", CLEAN[1], GSM], pa.string()).slice(1)
    assert index.scan_keys(keys).leaked.to_pylist() == [False, True]


def test_empty_reference_file_is_an_input_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="reference set is empty"):
        detect(empty, corpus(tmp_path, CLEAN))


def test_reference_of_only_punctuation_is_matched_exactly_or_refused(tmp_path: Path) -> None:
    # Items that normalize to nothing are matched by byte-identical text (exact):
    # such a set was refused as "nothing can be matched" even with exact on.
    ref = write(tmp_path / "punct.jsonl", [{"text": "?!"}, {"text": "..."}])
    texts = corpus(tmp_path, [*CLEAN, "..."])
    result = detect(ref, texts)
    assert [leak.item.text for leak in result.leaks] == ["..."]
    assert len(result.empty_items) == 2
    with pytest.raises(InputError, match="add exact to --methods"):
        detect(ref, texts, methods=["ngram", "minhash"])


def test_unknown_method_is_a_config_error(tmp_path: Path, reference: Path) -> None:
    with pytest.raises(ConfigError, match="unknown leakage method"):
        detect(reference, corpus(tmp_path, CLEAN), methods=["fuzzy"])


def test_ngram_out_of_range_is_a_config_error(tmp_path: Path, reference: Path) -> None:
    with pytest.raises(ConfigError, match=r"8\.\.=50"):
        detect(reference, corpus(tmp_path, CLEAN), ngram=5)


def test_template_shared_by_the_reference_set_is_not_evidence(tmp_path: Path) -> None:
    template = "Read the passage below carefully and answer the question that follows it"
    items = [f"{template}. Passage {i}: the river number {i} floods in spring." for i in range(12)]
    ref = write(tmp_path / "ref.jsonl", [{"text": t} for t in items])
    record = f"{template}. Passage: a recipe for bread with flour, water and salt."
    result = detect(ref, corpus(tmp_path, [record]), methods=["ngram"])
    assert result.leaked_reference_items == 0
    assert result.items[0].common_ngrams > 0
    kept = detect(ref, corpus(tmp_path, [record]), methods=["ngram"], max_ngram_items=0)
    assert kept.leaked_reference_items == 12


def test_golden_set_files_are_read_through_their_prompt(tmp_path: Path) -> None:
    golden = write(
        tmp_path / "data.jsonl", [{"id": "gsm_0", "prompt": GSM, "reference": "#### 18"}]
    )
    result = detect(golden, corpus(tmp_path, [f"Homework: {GSM}"]))
    assert [leak.item.id for leak in result.leaks] == ["gsm_0"]


def test_reference_without_any_known_field_names_the_file(tmp_path: Path) -> None:
    odd = write(tmp_path / "odd.jsonl", [{"body": GSM}])
    with pytest.raises(InputError, match=r"odd\.jsonl: cannot tell which field"):
        detect(odd, corpus(tmp_path, CLEAN))


@pytest.mark.parametrize(("words", "leaked"), [(12, 0), (13, 1)])
def test_one_shared_13_gram_is_a_leak_and_12_words_are_not(
    tmp_path: Path, reference: Path, words: int, leaked: int
) -> None:
    # docs/leakage.md: n = 13 words and any shared 13-gram flags. Counted by hand: the
    # item's first 13 words are one 13-gram, its first 12 words none.
    path = corpus(tmp_path, [" ".join(GSM.split()[:words])])
    assert detect(reference, path, methods=["ngram"]).leaked_reference_items == leaked


# Holes found by attacking items that normalize to nothing; each is a test now.


def test_an_item_that_normalizes_to_nothing_matches_byte_identical_strings(
    tmp_path: Path,
) -> None:
    # "🎉🎉" has no normalized word: no hash or n-gram can match it, but a corpus
    # string that is byte for byte the item is a copy of it (curate calls such
    # records duplicates) and is reported as an exact leak; "🎉" is not.
    ref = write(tmp_path / "golden.jsonl", [{"text": t} for t in (GSM, "🎉🎉")])
    data = corpus(tmp_path, [*CLEAN, "🎉", "🎉🎉 party", "🎉🎉"])
    result = detect(ref, data)
    [leak] = result.leaks
    assert leak.item.text == "🎉🎉" and leak.item.words == 0
    assert [(m.row, m.methods, m.span) for m in leak.matches] == [(4, ("exact",), None)]
    assert [i.text for i in result.empty_items] == ["🎉🎉"]
    # Off with the exact method.
    assert detect(ref, data, methods=["ngram", "minhash"]).leaks == []


@pytest.mark.parametrize("stray", ["{}", "null", "42", '{"id": "b"}', "[1, 2, 3]"])
def test_a_reference_row_without_text_flags_nothing(tmp_path: Path, stray: str) -> None:
    # It became an item of text "": matched byte for byte, it flagged every record that
    # lacked an optional column (its other text was ""), in leakage, check and curate.
    golden = tmp_path / "golden"
    write(
        golden / "a.jsonl",
        [
            {
                "id": "a",
                "prompt": "A robe takes 2 bolts of blue fiber and"
                " half that much white fiber. How many bolts?",
                "reference": "1",
            }
        ],
    )
    with (golden / "a.jsonl").open("a") as f:
        f.write(stray + "\n")
    rows = [{"prompt": f"What is {i} plus {i}?", "completion": "x"} for i in range(5)]
    rows.append({"prompt": "What is 2 plus 3?", "completion": "5", "source": "web"})
    corpus = write(tmp_path / "corpus" / "c.jsonl", rows)
    assert detect(reference=[golden], corpus=[corpus]).leaks == []
    assert main(["check", str(corpus), "--golden", str(golden)]) == 0
    out = tmp_path / "cur"
    assert main(["curate", str(corpus), "--decontaminate", str(golden), "--out", str(out)]) == 0
    assert json.loads((out / "stats.json").read_text())["totals"]["removed"] == {}


def test_a_reference_set_with_no_text_at_all_is_refused(tmp_path: Path) -> None:
    ref = tmp_path / "ref.jsonl"
    # quarantined (an empty text): their fields' names were their items ("text")
    ref.write_text('{"id": 1, "text": ""}\n{"id": 2, "text": " "}\n', encoding="utf-8")
    corpus = write(tmp_path / "c.jsonl", [{"text": "anything at all"}])
    with pytest.raises(InputError, match="none holds any text"):
        detect(reference=[ref], corpus=[corpus])


def test_a_golden_sets_human_labels_are_not_items(tmp_path: Path) -> None:
    # They were read as items of their own: 6 items and 4 leaks where the gate counts 3
    # and 1.
    prompts = [
        "How many apples does the farmer keep in the red barn behind the old mill?",
        "Which river did the three travellers cross before the storm reached the valley?",
        "What colour was the kite that the smallest child flew over the harbour wall?",
    ]
    gset = tmp_path / "golden_sets" / "s1"
    write(gset / "data.jsonl", [{"id": f"i{k}", "prompt": p} for k, p in enumerate(prompts)])
    write(
        gset / "human_labels.jsonl",
        [
            {"id": "i0", "prompt": prompts[0], "output": "4", "label": "correct", "labeller": n}
            for n in ("a", "b", "c")
        ],
    )
    corpus = write(tmp_path / "c.jsonl", [{"text": prompts[0]}])
    result = detect(reference=[tmp_path / "golden_sets"], corpus=[corpus])
    assert len(result.items) == 3
    assert HUMAN_LABELS in NOT_ITEMS  # the name the golden sets use
    assert [leak.item.id for leak in result.leaks] == ["i0"]


def test_copies_of_one_item_under_many_ids_are_not_boilerplate(tmp_path: Path) -> None:
    # Eleven ids of one question: its every n-gram was "in more than 10 items", so
    # boilerplate, and a verbatim copy inside a longer record went unseen (check: 0).
    question = (
        "A robe takes 2 bolts of blue fiber and half that much white fiber. How many "
        "bolts in total does it take to make the robe for the winter festival?"
    )
    golden = write(
        tmp_path / "golden" / "g.jsonl", [{"id": f"q{k}", "prompt": question} for k in range(11)]
    )
    corpus = write(
        tmp_path / "c.jsonl", [{"text": f"homework: {question} Please help, it is due soon."}]
    )
    result = detect(reference=[golden], corpus=[corpus], methods=["ngram"])
    assert sorted(leak.item.id for leak in result.leaks) == sorted(f"q{k}" for k in range(11))
    assert all(item.common_ngrams == 0 for item in result.items)
    assert main(["check", str(corpus), "--golden", str(golden.parent)]) == 1


def test_a_golden_item_used_as_a_key_is_found_in_any_script(tmp_path: Path) -> None:
    # Keys were text only with a space in them: a Chinese or Japanese sentence has none,
    # so a golden item used as a key went unseen, in a quarantined row and in a column.
    item = "日本の首都は東京であり人口は約千四百万人である"
    golden = write(tmp_path / "g.jsonl", [{"id": "g1", "text": item}])
    rows = [
        {"id": "a", "text": "hello there friend", "meta": {"n": 1}},
        {"id": "b", "text": "other", "meta": "not an object here", "votes": {item: 3}},
    ]
    quarantined = write(tmp_path / "q.jsonl", rows)
    in_column = write(tmp_path / "c.jsonl", [{"id": "c", "text": "x y", "votes": {item: 1}}])
    for corpus in (quarantined, in_column):
        result = detect(reference=[golden], corpus=[corpus])
        assert [leak.item.id for leak in result.leaks] == ["g1"], corpus.name


def test_a_golden_item_used_as_a_records_own_key_or_a_column_name_is_found(
    tmp_path: Path,
) -> None:
    # Nested keys were scanned, a record's own keys (and Parquet column names) never:
    # `leakage --fail-on-leak` exited 0 and `curate --decontaminate` kept the row.
    import pyarrow as pa
    import pyarrow.parquet as pq

    item = "the secret golden answer says that purple elephants migrate across frozen lakes"
    golden = write(tmp_path / "g.jsonl", [{"id": "g1", "text": item}])
    rows = [{"id": "a", "text": "cooking pasta"}, {"id": "b", "text": "pasta again", item: 1}]
    as_key = write(tmp_path / "k.jsonl", rows)
    column = tmp_path / "c.parquet"
    pq.write_table(pa.table({"text": ["cooking pasta", "more"], item: ["x", None]}), column)
    for corpus in (as_key, column):
        result = detect(reference=[golden], corpus=[corpus])
        assert [leak.item.id for leak in result.leaks] == ["g1"], corpus.name
        # in the row that gives the key a value only
        assert [m.row for leak in result.leaks for m in leak.matches] == [
            1 if corpus == as_key else 0
        ]


def test_a_passage_every_item_of_a_small_set_shares_is_their_evidence(tmp_path: Path) -> None:
    # Three reading-comprehension questions on one passage. A rule that took an n-gram in
    # every item of three texts or more for a template's once dropped the passage, and a
    # training row copying an item word for word passed (77eadf6, reverted: the template
    # case flagged every row instead, fail-closed). The share rule (two items and a quarter
    # of their file's) made the passage template again, each item found by its own run;
    # but each question has under 8 words of its own, too few to find its item without the
    # passage, and so did near copies (two items that differ in one word: found by attack,
    # their copies matched nothing). Text that only the share makes a template was then the
    # evidence of such items, and the passage with another text a leak of all three; but
    # so a few-shot block before short questions flagged every clean row written with it
    # (found by attack). Near copies come in pairs: text three items or more share is the
    # set's format, and each item's own run (its question to its line's end) finds a copy.
    passage = (
        "Read the passage: The Treaty of Westphalia was signed in 1648 in the cities of "
        "Osnabruck and Munster, ending the Thirty Years War across the Holy Roman Empire."
    )
    questions = ["In what year was it signed?", "Which war did it end?", "Name one city."]
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "".join(json.dumps({"text": f"{passage} Question: {q}"}) + "\n" for q in questions)
    )
    corpus = tmp_path / "train.jsonl"
    rows = [
        f"{passage} Summarize it.",
        "2+2",
        f"{passage} Question: {questions[1]}",
        f"{passage} Question: {questions[2]}\nAnswer: Munster, where it was signed in 1648.",
    ]
    corpus.write_text("".join(json.dumps({"text": r}) + "\n" for r in rows))
    result = detect(golden, corpus, methods=("exact", "ngram"))
    assert {(m.row, leak.item.row) for leak in result.leaks for m in leak.matches} == {
        (2, 1),
        (3, 2),
    }
    # The copied item word for word, by every method.
    exact = [
        (m.row, leak.item.row)
        for leak in result.leaks
        for m in leak.matches
        if "exact" in m.methods
    ]
    assert exact == [(2, 1)]
