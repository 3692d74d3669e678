"""The generation cache of signed runs: only entries a signed run with the same key wrote
are read (an HMAC under a secret derived from the signing key), so a signed attestation
never covers answers someone planted in the cache folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.gate.models import GenerationCache
from curagate.signing import cache_mac_key, generate_keypair


@pytest.fixture
def keys(tmp_path: Path) -> tuple[bytes, bytes]:
    ours, _ = generate_keypair(tmp_path / "ours")
    theirs, _ = generate_keypair(tmp_path / "theirs")
    assert cache_mac_key(ours) == cache_mac_key(ours)  # deterministic: reruns hit
    return cache_mac_key(ours), cache_mac_key(theirs)


def _entry(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.json"


def test_a_signed_cache_reads_back_only_what_its_key_wrote(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    ours, theirs = keys
    root = tmp_path / "cache"
    signed = GenerationCache(root, mac_key=ours)
    signed.put("a" * 64, "Positive")
    assert signed.get("a" * 64) == "Positive"
    # Planted by hand, written by an unsigned run, or by a signed run with another key.
    _entry(root, "b" * 64).parent.mkdir(parents=True, exist_ok=True)
    _entry(root, "b" * 64).write_text(json.dumps({"output": "Positive"}))
    GenerationCache(root).put("c" * 64, "Positive")
    GenerationCache(root, mac_key=theirs).put("d" * 64, "Positive")
    assert [signed.get(k * 64) for k in "bcd"] == [None, None, None]
    assert signed.rejected == 3
    # An authentic entry edited, or moved to another key, no longer checks.
    doc = json.loads(_entry(root, "a" * 64).read_text())
    _entry(root, "a" * 64).write_text(json.dumps({**doc, "output": "Negative"}))
    _entry(root, "e" * 64).parent.mkdir(parents=True, exist_ok=True)
    _entry(root, "e" * 64).write_text(json.dumps(doc))
    assert signed.get("a" * 64) is None and signed.get("e" * 64) is None
    # An unsigned run reads every entry, whoever wrote it.
    assert [GenerationCache(root).get(k * 64) for k in "abcd"] == ["Negative", *["Positive"] * 3]


def test_a_signed_cache_authenticates_suite_results_too(
    tmp_path: Path, keys: tuple[bytes, bytes]
) -> None:
    ours, theirs = keys
    root = tmp_path / "cache"
    scores = {"acc": 0.5, "tasks": ["csqa"]}
    GenerationCache(root, mac_key=ours).put_json("lm_eval", "k1", scores)
    GenerationCache(root, mac_key=theirs).put_json("lm_eval", "k2", scores)
    GenerationCache(root).put_json("lm_eval", "k3", scores)
    signed = GenerationCache(root, mac_key=ours)
    assert signed.get_json("lm_eval", "k1") == scores
    assert signed.get_json("lm_eval", "k2") is None and signed.get_json("lm_eval", "k3") is None
    path = root / "lm_eval" / "k1.json"
    path.write_text(path.read_text().replace("0.5", "0.9"))
    assert signed.get_json("lm_eval", "k1") is None
    assert GenerationCache(root).get_json("lm_eval", "k1") == {"acc": 0.9, "tasks": ["csqa"]}


@pytest.mark.parametrize("body", ["", "not json", "[1, 2]", '{"output": 7}', "[" * 100_000])
def test_unreadable_entries_are_misses(tmp_path: Path, body: str) -> None:
    root = tmp_path / "cache"
    _entry(root, "f" * 64).parent.mkdir(parents=True)
    _entry(root, "f" * 64).write_text(body)
    assert GenerationCache(root).get("f" * 64) is None
