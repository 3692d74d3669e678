"""A reference item is looked for by every text a model reads of it, row by row
(:func:`curagate.golden.item_texts`): each field of :data:`curagate.golden.ITEM_TEXT_FIELDS`
its row holds and its rendered ``messages``, whatever field its file is read by."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import REFERENCE_FIELDS, detect

TOPICS = ["rivers", "volcanoes", "glaciers", "deserts", "forests", "islands", "caves", "reefs"]
# Short items (under the span's 8 words, no 13-gram): found only as a whole text, so one
# matched only as all its row's strings joined is missed.
PROMPTS = [f"How do {t} shape the land?" for t in TOPICS]


def _items(**extra: str) -> list[dict[str, Any]]:
    return [
        {"id": f"s{k}", "prompt": p, "reference": "Positive", "length": "short", **extra}
        for k, p in enumerate(PROMPTS)
    ]


NOTE = {"id": "hdr", "text": "Sentiment reviews, version 2"}
# Each shape hid every copied item from `leakage --reference` and `curate --decontaminate`
# (found by re-attack), or lost some of them (mixed shapes, matched as all strings joined).
SHAPES: dict[str, tuple[str, list[dict[str, Any]] | str]] = {
    # a first row with a null prompt and a note: the file was read by its `text` column
    "null_prompt_first": (
        "data.jsonl",
        [{**_items(text="note")[0], "prompt": None}, *_items(text="note")[1:], _items()[0]],
    ),
    # a `.json` array whose first element is a note row
    "note_first_json_array": ("data.json", json.dumps([NOTE, *_items(text="note")])),
    # a first row holding only `text`
    "text_only_first": ("data.jsonl", [NOTE, *_items(text="note")]),
    # HellaSwag's `ctx` beside a `text` note: `text` came first
    "ctx_beside_text": (
        "data.jsonl",
        [{"id": f"s{k}", "ctx": p, "text": "note"} for k, p in enumerate(PROMPTS)],
    ),
    # SQuAD: the passage beside the question
    "context_beside_question": (
        "data.jsonl",
        [{"id": f"s{k}", "question": "Which?", "context": p} for k, p in enumerate(PROMPTS)],
    ),
    # the first item a conversation, the others prompts
    "messages_then_prompts": (
        "data.jsonl",
        [
            {
                "id": "m0",
                "messages": [{"role": "user", "content": "hello there, what is up"}],
                "text": "note",
            },
            *_items(text="note"),
        ],
    ),
    # prompts and questions mixed
    "prompts_and_questions": (
        "data.jsonl",
        [
            {"id": i["id"], "question": i["prompt"], "text": "note"} if k % 2 else i
            for k, i in enumerate(_items(text="note"))
        ],
    ),
}


def _write(folder: Path, name: str, rows: list[dict[str, Any]] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def _corpus(tmp_path: Path) -> Path:
    clean = [{"prompt": f"Write a haiku about the number {n}.", "completion": "ok"} for n in (1, 2)]
    rows = [clean[0], *({"prompt": p, "completion": "ok"} for p in PROMPTS), clean[1]]
    return _write(tmp_path, "train.jsonl", rows)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_leakage_finds_every_copied_item_whatever_shape_its_rows_have(
    tmp_path: Path, shape: str
) -> None:
    name, rows = SHAPES[shape]
    ref = _write(tmp_path / "golden" / "s", name, rows)
    corpus = _corpus(tmp_path)
    out = tmp_path / "out"
    args = ["--reference", str(ref.parent), "--corpus", str(corpus), "--out", str(out)]
    assert main(["leakage", *args, "--fail-on-leak"]) == 1
    report = json.loads((out / "leakage.json").read_text())
    schema = resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    jsonschema.validate(report, json.loads(schema))
    assert report["summary"]["leaked_reference_items"] == len(PROMPTS)
    # Counted once per row: the views are no items of their own.
    assert report["reference"]["items"] == len(rows if isinstance(rows, list) else [NOTE, *PROMPTS])


@pytest.mark.parametrize("shape", list(SHAPES))
def test_decontaminate_removes_every_copied_item_whatever_shape_its_rows_have(
    tmp_path: Path, shape: str
) -> None:
    name, rows = SHAPES[shape]
    ref = _write(tmp_path / "golden" / "s", name, rows)
    result = curate([_corpus(tmp_path)], tmp_path / "out", decontaminate__reference=[str(ref)])
    assert result.removed.get("leakage") == len(PROMPTS)


def test_each_field_found_is_named_as_the_items_part(tmp_path: Path) -> None:
    rows = [
        {"id": "q0", "question": "Which?", "context": PROMPTS[0]},
        {"id": "q1", "question": PROMPTS[1], "context": "A passage nobody trained on at all."},
        {"id": "n2", "text": PROMPTS[2]},
        {"id": "m3", "question": "Other?", "prompt": PROMPTS[3]},
    ]
    ref = _write(tmp_path, "ref.jsonl", rows)
    result = detect(reference=[str(ref)], corpus=[str(_corpus(tmp_path))])
    # Read by `prompt` (a row holds one): the others' keys are their strings joined, and
    # each field they hold is an item's text of its own.
    parts = {(leak.item.id, leak.item.part) for leak in result.leaks}
    assert parts == {("q0", "context"), ("q1", "question"), ("n2", "prompt"), ("m3", "prompt")}
    assert result.leaked_reference_items == 4
    assert result.to_dict()["reference"]["items"] == len(rows)
    # A prompt beside a conversation, the key of a file of conversations.
    chats = [
        {"id": f"c{k}", "messages": [{"role": "user", "content": f"Say {k}."}], "prompt": p}
        for k, p in enumerate(PROMPTS[:2])
    ]
    ref = _write(tmp_path, "chats.jsonl", chats)
    result = detect(reference=[str(ref)], corpus=[str(_corpus(tmp_path))])
    parts = {(leak.item.id, leak.item.part) for leak in result.leaks}
    assert parts == {("c0", "prompt field"), ("c1", "prompt field")}


def test_a_named_reference_field_is_read_alone(tmp_path: Path) -> None:
    rows = [{"id": f"s{k}", "question": "Which?", "context": p} for k, p in enumerate(PROMPTS)]
    ref = _write(tmp_path, "ref.jsonl", rows)
    corpus = _corpus(tmp_path)
    named = detect(reference=[str(ref)], corpus=[str(corpus)], reference_text_field="question")
    assert named.leaked_reference_items == 0


def test_the_fields_of_an_item_are_its_model_read_texts_only() -> None:
    from curagate.item_fields import ITEM_TEXT_FIELDS, item_text_field, item_texts

    row = {
        "id": "x1",
        "label": 1,
        "answer": "forty",
        "prompt": "Classify:",
        "input": "the review",
        "text": " ",
        "context": None,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert item_texts(row) == {"prompt": "Classify:", "input": "the review", "messages": "user: hi"}
    # The file's field: by every row, `text` only when no row holds another.
    assert item_text_field([{"text": "note"}, {"prompt": None}, {"question": "q"}]) == "question"
    assert item_text_field([{"text": "note"}, {"messages": []}]) == "text"
    assert item_text_field([{"messages": []}, None]) is None
    # The leakage reader's fallback fields are the gate's, but `text` (read by the format).
    assert (*REFERENCE_FIELDS, "text") == ITEM_TEXT_FIELDS


def test_a_short_field_beside_the_key_is_no_item_of_its_own(tmp_path: Path) -> None:
    # Found by re-attack: each field beside the key was looked for as a whole text too,
    # so a golden set's stock "Classify", "N/A" or "Which one?" matched every training
    # row (or chat turn) that said only that: 889 of 6,240 clean rows were removed.
    side = {
        "instruction": "Classify",
        "input": "N/A",
        "question": "Which one?",
        "query": "Answer yes or no.",
    }
    rows = [
        {"id": "s1", "prompt": "Title: great kettle. Is the review positive?", **side},
        # a longer field, and one written without spaces, are still looked for
        {"id": "s2", "prompt": "Title: broke in a week.", "context": PROMPTS[0]},
        {"id": "s3", "prompt": "Title: cold tea.", "context": "河流如何塑造陆地的形状呢"},
    ]
    ref = _write(tmp_path / "golden", "set.jsonl", rows)

    def chat(*turns: str) -> dict[str, Any]:
        roles = ("user", "assistant")
        return {"messages": [{"role": roles[k % 2], "content": t} for k, t in enumerate(turns)]}

    corpus = _write(
        tmp_path,
        "chat.jsonl",
        [
            chat("Suggest two names for a grey kitten.", "Smoky or Ash.", "Which one?", "Smoky."),
            chat("Sort these words: run, table, jump.", "Nouns: table.", "N/A", "Okay."),
            chat("Classify", "What should I classify?"),
            chat("Is the sky green?", "Please clarify.", "Answer yes or no.", "No."),
            chat(PROMPTS[0], "Rivers carve valleys."),
            chat("河流如何塑造陆地的形状呢", "侵蚀。"),
        ],
    )
    result = detect(reference=[str(ref)], corpus=[str(corpus)])
    assert sorted(m.row for leak in result.leaks for m in leak.matches) == [4, 5]
    assert {(leak.item.id, leak.item.part) for leak in result.leaks} == {
        ("s2", "context"),
        ("s3", "context"),
    }


# Passages of scripts written without spaces, each with a space or three between its
# phrases (a number, a sentence's end, Thai's phrase breaks).
UNSPACED_PASSAGES = [
    "2008年 北京奥运会于八月八日晚上八点在国家体育场隆重开幕，来自二百零四个国家和地区的"  # noqa: RUF001
    "一万多名运动员参加了本届奥运会的各项比赛。",
    "長城は中国の北方に築かれた長大な城壁で、総延長は二万キロメートルを超える。 秦の始皇帝の"
    "時代に既存の城壁が連結された。",
    "แม่น้ำเจ้าพระยาเป็นแม่น้ำสายหลักของประเทศไทย ไหลผ่านกรุงเทพมหานครและหลายจังหวัดในภาคกลาง "
    "เกิดจากการรวมตัวของแม่น้ำปิง วัง ยม และน่าน",
]


def test_a_passage_written_without_spaces_beside_the_key_is_looked_for(tmp_path: Path) -> None:
    # Found by re-attack: a field beside the key of 2 to 4 space-separated "words" was
    # short, however long: a Thai passage of 168 characters with three spaces between its
    # phrases, a Chinese one with a space after its year, was never looked for.
    rows = [
        {"id": f"c{k}", "question": f"Question number {k}: what is described?", "context": p}
        for k, p in enumerate(UNSPACED_PASSAGES)
    ]
    ref = _write(tmp_path / "golden", "set.jsonl", rows)
    corpus = _write(
        tmp_path,
        "train.jsonl",
        [{"prompt": f"Summarize: {p}", "completion": "ok"} for p in UNSPACED_PASSAGES]
        + [{"prompt": "请回答以下问题：", "completion": "好的"}],  # noqa: RUF001
    )
    result = detect(reference=[str(ref)], corpus=[str(corpus)])
    assert sorted(m.row for leak in result.leaks for m in leak.matches) == [0, 1, 2]


def test_a_stock_instruction_beside_every_key_is_boilerplate_not_an_item(tmp_path: Path) -> None:
    # Found by re-attack: an 8-word instruction beside each item's key was looked for as a
    # text of its own, and its copies count once for the n-gram bar, so every training row
    # holding it was flagged (80 of 6,240 clean rows). A passage two of twenty items share
    # (a SQuAD context under two questions) is no stock text, and is still found.
    stock = "Pick the best answer from the following options:"
    passage = "The delta formed as the river slowed and dropped its silt over many centuries."
    rows = [
        {
            "id": f"s{k}",
            "question": f"In the region numbered {k}, which of the rivers floods each spring?",
            "instruction": stock,
            **({"context": passage} if k < 2 else {}),
        }
        for k in range(20)
    ]
    ref = _write(tmp_path / "golden", "set.jsonl", rows)
    corpus = _write(
        tmp_path,
        "train.jsonl",
        [
            {"prompt": f"{stock} which colour is the sky? A) blue B) red", "completion": "A"},
            {"prompt": f"Read this: {passage} Where is the silt?", "completion": "delta"},
        ],
    )
    result = detect(reference=[str(ref)], corpus=[str(corpus)])
    assert {m.row for leak in result.leaks for m in leak.matches} == {1}
    assert {leak.item.part for leak in result.leaks} == {"context"}
