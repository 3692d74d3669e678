"""Disguised copies share their original's split: look-alike letters, accents and the
digits of other scripts are folded as the leakage scanner folds them; zero-width spaces for
spaces stay word breaks. Before, the dedup key's normalization kept them apart, so such a
copy could land in test while its original trained, and the split's own check said clean."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curagate.cli import main

WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "market",
    "garden",
    "window",
    "silver",
    "basket",
    "rocket",
    "pencil",
    "castle",
    "forest",
    "planet",
    "bridge",
    "candle",
    "mirror",
    "engine",
    "harbor",
    "meadow",
    "pepper",
    "saddle",
    "tunnel",
    "violin",
]
CYRILLIC = str.maketrans(
    {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}
)

# Found by attack: a "small caps" font pasted as text (`ᴛʜᴇ`), Cherokee letters drawn like
# Latin ones, and Greek sigma for o crossed splits and no leakage scan matched them.
SMALL_CAPITALS = str.maketrans(
    dict(
        zip(
            "abcdefghijklmnopqrstuvwyz",
            "\u1d00\u0299\u1d04\u1d05\u1d07\ua730\u0262\u029c\u026a\u1d0a\u1d0b"
            "\u029f\u1d0d\u0274\u1d0f\u1d18\ua7af\u0280\ua731\u1d1b\u1d1c\u1d20"
            "\u1d21\u028f\u1d22",
            strict=True,
        )
    )
)
CHEROKEE = str.maketrans({"a": "\u13aa", "e": "\u13ac", "t": "\u13a2", "c": "\u13df"})
# Found by re-attack: Lisu letters drawn like Latin capitals, a "fancy text" font of negative
# squared capitals crossed splits.
LISU = str.maketrans({"a": "\ua4ee", "e": "\ua4f0", "o": "\ua4f3", "t": "\ua4d4", "r": "\ua4e3"})
NEGATIVE_SQUARED = str.maketrans({chr(97 + k): chr(0x1F170 + k) for k in range(26)})


def _disguise(text: str, how: str) -> str:
    if how == "lookalikes":  # Cyrillic letters drawn like Latin a, e, o, p, c
        return text.translate(CYRILLIC)
    if how == "small-capitals":
        return text.translate(SMALL_CAPITALS)
    if how == "cherokee":
        return text.translate(CHEROKEE)
    if how == "sigma":
        return text.replace("o", "\u03c3")
    if how == "lisu":
        return text.translate(LISU)
    if how == "negative-squared":
        return text.translate(NEGATIVE_SQUARED)
    if how == "accents":
        return text.replace("e", "\u00e9").replace("a", "\u00e0")
    if how == "digits":  # Arabic-Indic digits for the numbers
        return text.translate({ord(str(d)): chr(0x0660 + d) for d in range(10)})
    # zero-width spaces for the spaces (a word break, as normalization reads it: a re-attack
    # found such copies straddling splits once the split deleted them)
    return "\u200b".join(text.split())


@pytest.mark.parametrize(
    "how",
    [
        "lookalikes",
        "small-capitals",
        "cherokee",
        "sigma",
        "lisu",
        "negative-squared",
        "accents",
        "digits",
        "zero-width-spaces",
    ],
)
def test_a_disguised_copy_shares_its_originals_split(tmp_path: Path, how: str) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(30):
        # Every third word a number (the digits' disguise rewrites them).
        text = " ".join(
            str(rng.randrange(10**4)) if k % 3 == 0 else rng.choice(WORDS) for k in range(40)
        )
        rows.append({"id": f"a{i}", "prompt": text, "completion": "ok"})
        rows.append({"id": f"b{i}", "prompt": _disguise(text, how), "completion": "ok"})
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    out = tmp_path / "out"
    assert main(["split", str(data), "--out", str(out), "--seed", "0"]) == 0
    where = {
        row_id: name
        for name in ("train", "val", "test")
        for row_id in pq.read_table(out / f"{name}.parquet").column("id").to_pylist()
    }
    assert len(where) == 60
    assert [i for i in range(30) if where[f"a{i}"] != where[f"b{i}"]] == []
    manifest = json.loads((out / "split_manifest.json").read_text())
    if how != "zero-width-spaces":  # those have the original's normalized key: one record
        assert manifest["join"]["near_links"] >= 30
