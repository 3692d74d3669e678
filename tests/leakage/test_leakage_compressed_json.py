"""Reference sets kept as ``.json.gz`` / ``.json.zst`` (a JSON array, or JSON Lines) are read
to the end of the file, every gzip member and zstd frame; a cut or damaged one is refused."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard

from curagate.cli import main
from curagate.errors import InputError
from curagate.leakage import detect

ITEMS = [
    "the first golden item asks which planet has the longest day of all in the solar system",
    "the second golden item asks how many bones an adult human hand holds when counted",
    "the third golden item explains how quantum tunnelling lets electrons pass thin barriers",
]


def _array_parts() -> list[bytes]:
    """A JSON array of the three items cut in three parts (one per member / frame)."""
    text = json.dumps([{"question": q} for q in ITEMS]).encode()
    a, b = text.index(b"{", 2), text.rindex(b"{")
    return [text[:a], text[a:b], text[b:]]


def _gz(parts: list[bytes]) -> bytes:
    return b"".join(gzip.compress(p) for p in parts)


def _zst(parts: list[bytes]) -> bytes:
    c = zstandard.ZstdCompressor(write_checksum=True)
    return b"".join(c.compress(p) for p in parts)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"text": "filler row about nothing in particular"}, {"text": ITEMS[2]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _leakage(tmp_path: Path, reference: Path, corpus: Path) -> int:
    out = tmp_path / "lk"
    argv = ["leakage", "--reference", str(reference), "--corpus", str(corpus), "--out", str(out)]
    return main([*argv, "--fail-on-leak", "--quiet"])


@pytest.mark.parametrize(("suffix", "pack"), [(".json.gz", _gz), (".json.zst", _zst)])
def test_items_in_later_members_or_frames_are_read(
    tmp_path: Path, corpus: Path, suffix: str, pack: object
) -> None:
    # Found by attack: one gzip member / zstd frame only was decoded, so the items after it
    # were never indexed: "reference items: 2", 0 leaked, exit 0, for a verbatim copy.
    assert callable(pack)
    ref = tmp_path / f"golden{suffix}"
    ref.write_bytes(pack(_array_parts()))
    result = detect(ref, corpus)
    assert [i.text for i in result.items] == ITEMS
    assert [leak.item.text for leak in result.leaks] == [ITEMS[2]]
    assert _leakage(tmp_path, ref, corpus) == 1
    # JSON Lines kept so too (one line per member)
    lines = [json.dumps({"question": q}).encode() + b"\n" for q in ITEMS]
    ref.write_bytes(pack(lines))
    assert [leak.item.text for leak in detect(ref, corpus).leaks] == [ITEMS[2]]
    # the other readers of reference sets read all of it as well
    assert main(["check", str(corpus), "--golden", str(ref), "--quiet"]) == 1
    out = tmp_path / "cur"
    argv = ["curate", str(corpus), "--out", str(out), "--decontaminate", str(ref), "--quiet"]
    assert main([*argv, "--no-near"]) == 0
    assert json.loads((out / "stats.json").read_text())["totals"]["removed"] == {"leakage": 1}


@pytest.mark.parametrize(("suffix", "pack"), [(".json.gz", _gz), (".json.zst", _zst)])
@pytest.mark.parametrize("folder", [False, True])
def test_a_cut_compressed_reference_is_refused(
    tmp_path: Path,
    corpus: Path,
    suffix: str,
    pack: object,
    folder: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by attack: a cut .json.zst was read to the cut without a word (the same bytes
    # named .jsonl.zst were refused), its lost items never looked for: exit 0.
    assert callable(pack)
    whole = pack([json.dumps([{"question": q} for q in ITEMS]).encode()])
    (tmp_path / "golden").mkdir()
    ref = tmp_path / "golden" / f"ref{suffix}"
    ref.write_bytes(whole[: len(whole) - 12])
    given = ref.parent if folder else ref
    with pytest.raises(InputError, match=rf"ref{suffix}: .*truncated.*re-download"):
        detect(given, corpus)
    capsys.readouterr()
    assert _leakage(tmp_path, given, corpus) == 2
    assert f"ref{suffix}" in capsys.readouterr().err
    assert main(["check", str(corpus), "--golden", str(given), "--quiet"]) == 2


def test_a_damaged_member_of_a_compressed_reference_is_refused(
    tmp_path: Path, corpus: Path
) -> None:
    parts = [gzip.compress(p) for p in _array_parts()]
    bad = bytearray(parts[1])
    bad[-8] ^= 0xFF  # its CRC
    ref = tmp_path / "a" / "golden.json.gz"  # named by its path: b/golden.json.gz may be whole
    ref.parent.mkdir()
    ref.write_bytes(parts[0] + bytes(bad) + parts[2])
    with pytest.raises(InputError) as e:
        detect(ref, corpus)
    assert str(e.value).startswith(f"{ref}: a gzip member fails its checksum")
    assert _leakage(tmp_path, ref, corpus) == 2


def test_the_gate_reads_every_member_of_a_json_set(tmp_path: Path) -> None:
    # gate/runner.py reads a set's .json files through json_as_jsonl
    from curagate.io.readers import json_as_jsonl

    ref = tmp_path / "set.json.zst"
    ref.write_bytes(_zst(_array_parts()))
    out = json_as_jsonl(ref, tmp_path / "out.jsonl")
    assert [json.loads(line)["question"] for line in out.read_text().splitlines()] == ITEMS
    whole = _zst([json.dumps([{"question": q} for q in ITEMS]).encode()])
    ref.write_bytes(whole[:-12])
    with pytest.raises(InputError, match=r"set\.json\.zst: .*truncated"):
        json_as_jsonl(ref, tmp_path / "out2.jsonl")
