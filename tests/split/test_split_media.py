"""split reads rows' media as curate does: rows of other images are never copies (found
by attack: 200 rows of trl's vision format, one question of 200 images with four short
answers, were four units of 50, test got no row, and --fail-on-leak exited 1 on the
"copies"; curate --split did the same after curate had kept every row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curagate.curate import curate
from curagate.split import split, verify_split_files, verify_splits
from curagate.split_pairs import NearIndex

ANSWERS = ["A cat.", "A dog.", "A bird.", "A car."]
LONG = "The picture shows a red bicycle leaning on a white fence under a tall green tree."


def vqa_row(image: int, answer: str) -> dict[str, Any]:
    """trl's vision format: the image in `images`, a placeholder part in the messages."""
    return {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": "What is in this image?"}],
            },
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        ],
        "images": [f"img{image}.png"],
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def split_of(out: Path) -> dict[str, str]:
    """Each row's image -> the split it went to."""
    return {
        row["images"][0]: name
        for name in ("train", "val", "test")
        for row in pq.read_table(out / f"{name}.parquet").to_pylist()
    }


def test_rows_of_other_images_split_as_separate_records(tmp_path: Path) -> None:
    rows = [vqa_row(i, ANSWERS[i % 4]) for i in range(200)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    result = split([path], tmp_path / "sp", fail_on_leak=True)
    assert result.counts == {"train": 160, "val": 20, "test": 20}
    assert result.leaks == 0
    curated = curate([path], tmp_path / "cur", split__enabled=True)
    assert curated.split is not None and curated.split.counts == result.counts
    sp = tmp_path / "sp"
    report = verify_split_files(sp / "train.parquet", sp / "val.parquet", sp / "test.parquet")
    assert report["leaks_total"] == 0


def test_copies_of_one_image_still_share_a_split(tmp_path: Path) -> None:
    rows = [vqa_row(i, LONG) for i in range(60)]
    rows += [vqa_row(i, LONG) for i in range(0, 60, 3)]  # exact copies of image 0, 3, ...
    rows += [vqa_row(i, LONG.replace("tall", "big")) for i in range(1, 60, 3)]  # near copies
    result = split([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "sp")
    assert sum(result.counts.values()) == len(rows)
    where: dict[str, set[str]] = {}
    for name in ("train", "val", "test"):
        for row in pq.read_table(tmp_path / "sp" / f"{name}.parquet").to_pylist():
            where.setdefault(row["images"][0], set()).add(name)
    assert all(len(splits) == 1 for splits in where.values())
    assert len({s for splits in where.values() for s in splits}) == 3  # no unit of them all


def test_verify_splits_with_records_reads_their_media(tmp_path: Path) -> None:
    train = [vqa_row(i, "A cat.") for i in range(3)]
    test = [vqa_row(i, "A cat.") for i in range(3, 6)]
    keys = [["user: What is in this image?\nassistant: A cat."] * 3] * 2
    ids = [[f"a{i}" for i in range(3)], [f"b{i}" for i in range(3)]]
    tables = [pa.Table.from_pylist(train), pa.Table.from_pylist(test)]
    report = verify_splits(keys, ids, records_by_split=tables)
    assert report["leaks_total"] == 0
    same = [pa.Table.from_pylist(train), pa.Table.from_pylist(train)]
    assert verify_splits(keys, ids, records_by_split=same)["leaks_total"] > 0


def test_near_pairs_are_of_one_media() -> None:
    texts = [LONG, LONG.replace("tall", "big"), LONG.replace("tall", "old")]
    assert len(NearIndex(texts, ngram=3, threshold=0.5).pairs()[0]) == 3
    pairs, _ = NearIndex(texts, ngram=3, threshold=0.5, media=[7, 7, 8]).pairs()
    assert [(a, b) for a, b, _ in pairs] == [(0, 1)]


def test_one_text_only_row_does_not_make_every_image_row_one_unit(tmp_path: Path) -> None:
    """Found by re-attack: with a row without media a copy of rows of any media, one such row
    (a failed download, `images: []`) was a near copy of all 200 rows asking one question of
    200 images, and the split went 201/0/0, exit 0."""
    question = (
        "Look at the photograph and describe which species of bird is perched on the fence "
        "post near the barn today."
    )
    answers = ["It is a barn swallow.", "It is a robin.", "It is a blue jay.", "It is a sparrow."]

    def row(i: int, images: list[str]) -> dict[str, Any]:
        turns = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "text": answers[i % 4]}]},
        ]
        return {"messages": turns, "images": images}

    rows = [row(i, [f"img{i}.png"]) for i in range(200)] + [row(3, [])]
    result = split([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "sp")
    assert result.counts["val"] > 0 and result.counts["test"] > 0
    assert result.manifest["units"]["largest"] < 60


def test_a_text_only_copy_of_an_image_row_across_splits_is_a_leak(tmp_path: Path) -> None:
    """It is no copy for units (the test above), but the leakage engine finds its text in
    the image row: the pair is reported, never passed in silence."""

    def answer(i: int) -> str:  # no two rows alike
        return " ".join(f"w{i}x{k}" for k in range(12))

    rows = [vqa_row(i, answer(i)) for i in range(100)]
    bare = [{**vqa_row(i, answer(i)), "images": None} for i in range(30)]
    result = split([write_jsonl(tmp_path / "d.jsonl", rows + bare)], tmp_path / "sp")
    assert result.counts["test"] > 0
    split_of_text: dict[str, set[str]] = {}
    for name in ("train", "val", "test"):
        for row in pq.read_table(tmp_path / "sp" / f"{name}.parquet").to_pylist():
            text = row["messages"][1]["content"][0]["text"]
            split_of_text.setdefault(text, set()).add(name)
    apart = sum(len(s) > 1 for s in split_of_text.values())
    assert apart > 0 and result.leaks > 0
