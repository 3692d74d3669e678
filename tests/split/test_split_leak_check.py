"""split's leak check against what it missed (attack findings F8, F1, F1b, F2): corpora
generated here, checked through the CLI as a user runs it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curagate.cli import main

SPLITS = ("train", "val", "test")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def where(out: Path) -> dict[str, str]:
    return {
        str(r["id"]): name
        for name in SPLITS
        for r in pq.read_table(out / f"{name}.parquet").to_pylist()
    }


def verification(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "split_manifest.json").read_text())
    return data["verification"]  # type: ignore[no-any-return]


def words(rng: random.Random, n: int, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def test_exact_copies_of_an_item_do_not_make_its_ngrams_boilerplate(tmp_path: Path) -> None:
    """F8: an item present 11 times verbatim is one text, not 11 records sharing a
    template; rows were counted, so its n-grams were all over the bar of 10 and the
    record quoting it whole was neither joined nor flagged."""
    rng = random.Random(13)
    vocab = [f"k{i}" for i in range(8000)]
    rows: list[dict[str, Any]] = []
    for i in range(20):
        item = words(rng, 20, vocab)
        rows += [{"id": f"x{i}.{c}", "text": item} for c in range(11)]
        quote = f"{words(rng, 30, vocab)} {item} {words(rng, 30, vocab)}"
        rows.append({"id": f"y{i}", "text": quote})
    rows += [{"id": f"f{i}", "text": words(rng, 40, vocab)} for i in range(150)]
    rng.shuffle(rows)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(data), "--out", str(out), "--ratios", "60/20/20"]) == 0
    w = where(out)
    straddling = sum(w[f"x{i}.0"] != w[f"y{i}"] for i in range(20))
    assert straddling > 0  # the seed puts some quotes apart from their item
    v = verification(out)
    assert v["shared_passages"]["boilerplate_ngrams"] == 0
    assert v["leaks_total"] >= straddling
    joined = tmp_path / "joined"
    argv = ["split", str(data), "--out", str(joined), "--ratios", "60/20/20"]
    assert main([*argv, "--shared-passages", "join"]) == 0
    w = where(joined)
    assert all(w[f"x{i}.0"] == w[f"y{i}"] for i in range(20))
    assert verification(joined)["leaks_total"] == 0
