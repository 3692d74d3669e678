"""Dataset manifests: path, sha256 and row count per file."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from curagate.errors import InputError
from curagate.io.manifest import build_manifest


def test_manifest_lists_each_file_with_sha256_and_rows(
    write_jsonl: Callable[..., Path], write_parquet: Callable[..., Path]
) -> None:
    a = write_jsonl("d/a.jsonl", [{"text": "x"}, "", {"text": "y"}])
    b = write_parquet("d/b.parquet", [{"text": "z"}] * 3)

    manifest = build_manifest([a, b])

    assert manifest == {
        "files": [
            {"path": a.as_posix(), "sha256": hashlib.sha256(a.read_bytes()).hexdigest(), "rows": 2},
            {"path": b.as_posix(), "sha256": hashlib.sha256(b.read_bytes()).hexdigest(), "rows": 3},
        ],
        "total_rows": 5,
    }


def test_manifest_counts_records_inside_compressed_files(write_jsonl: Callable[..., Path]) -> None:
    path = write_jsonl("a.jsonl.zst", [{"text": str(i)} for i in range(4)])

    [entry] = build_manifest([path])["files"]

    assert entry["rows"] == 4
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_of_a_directory_covers_its_shards(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    write_jsonl("d/b.jsonl", [{"text": "x"}])
    write_jsonl("d/a.jsonl", [{"text": "x"}, {"text": "y"}])

    manifest = build_manifest(tmp_path / "d")

    assert [Path(f["path"]).name for f in manifest["files"]] == ["a.jsonl", "b.jsonl"]
    assert manifest["total_rows"] == 3


def test_manifest_of_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        build_manifest([tmp_path / "missing.jsonl"])
