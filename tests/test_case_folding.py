"""Copies that differ only in case are the same record after normalization, also where
lowercasing alone does not make them equal: Greek final sigma (ΟΔΟΣ lowercases to οδοσ,
the word is written οδος), German sharp s (STRASSE / Straße) and Turkish dotted capital I
(İ lowercases to i with a combining dot). Polytonic Greek's iota subscript (ᾳ, uppercased
ΑΙ) is not folded: that needs full Unicode case folding."""

# ruff: noqa: RUF001, RUF002, RUF003  (Greek and Turkish letters are the point)
from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.cli import main

GREEK = (
    "Ο Γιάννης αγόρασε τρεις καινούργιους υπολογιστές για τους μαθητές του σχολείου "
    "και πλήρωσε συνολικά τρεις χιλιάδες ευρώ στους προμηθευτές της πόλης"
)
GERMAN = "Die große Straße führt am Fluss entlang bis zum alten Schloss"
# İ lowercases to i + a combining dot, which normalization drops as it drops input marks.
TURKISH = "İstanbul Büyükşehir Belediyesi şehirde yeni metro seferleri ekledi ve bilet fiyatlarini sabit tuttu"


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


@pytest.mark.parametrize("text", [GREEK, GERMAN, TURKISH])
def test_an_uppercased_copy_is_a_duplicate_and_a_leak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    golden = tmp_path / "golden"
    _jsonl(golden / "g" / "data.jsonl", [{"id": "g1", "prompt": text}])
    (golden / "g" / "set.yaml").write_text("name: g\n", encoding="utf-8")
    # Uppercased as a Turkish writer does (i -> İ); dotless ı has no locale-free fold.
    shouted = text.replace("i", "İ").upper() if text == TURKISH else text.upper()
    data = _jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": shouted, "completion": "ok"},
            {"prompt": "an unrelated question", "completion": "a"},
            {"prompt": text, "completion": "ok"},
        ],
    )
    assert main(["check", str(data), "--golden", str(golden)]) == 1
    out = capsys.readouterr().out.splitlines()
    d = data.as_posix()
    assert f"{d}:3: DUP001 exact duplicate of {d}:1 (after normalization); " in "\n".join(out)
    leaks = [line.split(" ")[0] for line in out if "LEAK001 contains golden item g1" in line]
    assert leaks == [f"{d}:1:", f"{d}:3:"]


def test_zero_width_spaces_between_words_are_spaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A zero-width space is a word break: dropped as a format character it glued the words,
    # so a copy with them in place of spaces was neither a duplicate nor a leak.
    text = "the capital of australia is canberra which was chosen as a compromise between sydney"
    golden = tmp_path / "golden"
    _jsonl(golden / "g" / "data.jsonl", [{"id": "g1", "prompt": text}])
    (golden / "g" / "set.yaml").write_text("name: g\n", encoding="utf-8")
    data = _jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": text, "completion": "ok"},
            {"prompt": text.replace(" ", "\u200b"), "completion": "ok"},
        ],
    )
    assert main(["check", str(data), "--golden", str(golden)]) == 1
    out = capsys.readouterr().out
    d = data.as_posix()
    assert f"{d}:2: DUP001 exact duplicate of {d}:1" in out
    assert f"{d}:2: LEAK001 contains golden item g1" in out
