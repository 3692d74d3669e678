"""Scripts written without spaces: near copies in Chinese (one character changed in 120)
are joined by `split` (so they never straddle splits) and removed by curate's near dedup;
word shingles treated a whole sentence as one word before, so only exact copies matched."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq

from curagate.cli import main

CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可"
)


def _pairs(path: Path, n: int) -> Path:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        base = "".join(rng.choice(CHARS) for _ in range(120))
        rows.append({"id": f"a{i}", "prompt": base, "completion": "好"})
        rows.append({"id": f"b{i}", "prompt": base[:60] + "猫" + base[61:], "completion": "好"})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_chinese_near_copies_share_a_split(tmp_path: Path) -> None:
    data = _pairs(tmp_path / "d.jsonl", 20)
    assert main(["split", str(data), "--out", str(tmp_path / "out"), "--seed", "0"]) == 0
    where = {
        row_id: name
        for name in ("train", "val", "test")
        for row_id in pq.read_table(tmp_path / "out" / f"{name}.parquet").column("id").to_pylist()
    }
    assert [i for i in range(20) if where[f"a{i}"] != where[f"b{i}"]] == []
    manifest = json.loads((tmp_path / "out" / "split_manifest.json").read_text())
    assert manifest["join"]["near_links"] == 20


def test_curate_removes_chinese_near_copies(tmp_path: Path) -> None:
    data = _pairs(tmp_path / "d.jsonl", 20)
    assert main(["curate", str(data), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    removed = pq.read_table(tmp_path / "out" / "removed").column("reason").to_pylist()
    assert removed.count("near") == 20, removed


def test_shared_passage_evidence_names_the_shared_characters(tmp_path: Path) -> None:
    # The span's word offsets count characters (as the n-grams do): its text was cut
    # from a split on spaces, so for Chinese it was empty.
    rng = random.Random(2)
    passages = ["".join(rng.choice(CHARS) for _ in range(20)) for _ in range(20)]
    rows = []
    for i in range(200):
        own = "".join(rng.choice(CHARS) for _ in range(60))
        rows.append({"prompt": own + passages[i % 20] if i < 40 else own, "completion": f"a{i}"})
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert main(["split", str(data), "--out", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "split_manifest.json").read_text())
    examples = manifest["verification"]["shared_passages"]["examples"]
    assert examples
    for example in examples:
        for span in example["spans"]:
            start, end = span["words"]
            assert len(span["text"].split()) == end - start
            assert "".join(span["text"].split()) in passages
