"""Combining marks that are not letters by category are part of their word: Thai and Lao
tone marks, the Indic virama and nukta, an accent NFKC cannot compose (Yoruba). Found by
attack: normalization dropped them with punctuation, so words that differ only by one were
one key, and curate removed the second as an exact copy (`check` said DUP001)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curagate.cli import main

DIFFERENT = [
    "เขาไม่ชอบข้าว",  # he doesn't like rice
    "เขาไม่ชอบข่าว",  # he doesn't like the news
    "ຂ່າວ",  # Lao: news
    "ຂ້າວ",  # rice
    "सत्य",  # Hindi: truth (virama)
    "सतय",
    "क़लम",  # nukta (NFKC decomposes U+0958)
    "कलम",
    "பல் வலி",  # Tamil: toothache (pulli)
    "பல வலி",
    "ọkọ̀",  # Yoruba: hoe (grave on a dot-below letter: no precomposed form)
    "ọkọ",  # husband
    "ọkọ́",  # vehicle
]
# Still copies of rows above: other case, punctuation and spacing.
COPIES = ["«เขาไม่ชอบข้าว»!", "  सत्य.", "ỌKỌ̀?"]


def _jsonl(path: Path, prompts: list[str]) -> Path:
    rows = [json.dumps({"prompt": p, "completion": "ok"}, ensure_ascii=False) for p in prompts]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_words_told_apart_by_a_mark_are_all_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "d.jsonl", DIFFERENT + COPIES)
    out = tmp_path / "out"
    assert main(["curate", str(data), "--out", str(out), "--quiet"]) == 0
    kept = sorted(
        p
        for f in sorted((out / "kept").glob("*.parquet"))
        for p in pq.read_table(f)["prompt"].to_pylist()
    )
    assert kept == sorted(DIFFERENT)
    capsys.readouterr()
    assert main(["check", str(_jsonl(tmp_path / "c.jsonl", DIFFERENT))]) == 0
    assert "DUP001" not in capsys.readouterr().out


def test_a_copy_with_other_case_and_punctuation_is_still_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "d.jsonl", [*DIFFERENT, *COPIES, "İSTANBUL", "i̇stanbul", "istanbul"])
    assert main(["check", str(data)]) == 1
    d = data.as_posix()
    dups = [line for line in capsys.readouterr().out.splitlines() if "DUP001" in line]
    assert [line.split(": DUP001 exact duplicate of ")[0:2] for line in dups] == [
        [f"{d}:14", f"{d}:1 (after normalization); remove one copy or run `curagate curate`"],
        [f"{d}:15", f"{d}:5 (after normalization); remove one copy or run `curagate curate`"],
        [f"{d}:16", f"{d}:11 (after normalization); remove one copy or run `curagate curate`"],
        [f"{d}:18", f"{d}:17 (after normalization); remove one copy or run `curagate curate`"],
        [f"{d}:19", f"{d}:17 (after normalization); remove one copy or run `curagate curate`"],
    ]
