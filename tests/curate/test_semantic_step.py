"""curate --semantic: paraphrases that share few shingles are removed (extra `embed`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curagate.curate import curate

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")

ROWS = [
    {"text": "How do I reset my password if I forgot it?"},
    {"text": "What is the capital city of Australia?"},
    {"text": "I forgot my password, how can I reset it?"},
    {"text": "Which city is the capital of Australia?"},
    {"text": "Give me a recipe for banana bread."},
    {"text": "How do I reset my password if I forgot it??"},
]


@pytest.mark.slow
def test_paraphrases_are_removed_and_survivors_repointed(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    path = write_jsonl("d.jsonl", ROWS)
    result = curate(
        [path],
        tmp_path / "out",
        semantic__enabled=True,
        semantic__threshold=0.85,
        semantic__cache_dir=str(tmp_path / "cache"),
    )
    assert result.removed == {"exact": 1, "semantic": 2}
    assert result.input_rows == result.kept + result.removed_total
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    by_row = {r["source_row"]: r for r in removed}
    assert by_row[2]["reason"] == "semantic" and by_row[2]["kept_id"].endswith(":0")
    assert by_row[3]["reason"] == "semantic" and by_row[3]["kept_id"].endswith(":1")
    assert 0.85 <= by_row[2]["similarity"] < 1.0
    assert by_row[5]["reason"] == "exact"
    assert result.runtime["semantic"]["encoded"] == 5

    again = curate(
        [path],
        tmp_path / "out2",
        semantic__enabled=True,
        semantic__threshold=0.85,
        semantic__cache_dir=str(tmp_path / "cache"),
    )
    assert again.runtime["semantic"] == {"encoded": 0, "cached": 5}  # all from the cache
    assert (tmp_path / "out" / "stats.json").read_bytes() == (
        tmp_path / "out2" / "stats.json"
    ).read_bytes()


# Holes found by attacking curate's data path; each is a test now.


@pytest.mark.slow
def test_texts_without_words_never_join_a_semantic_cluster(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Emoji-only texts normalize to nothing: kept, never compared by embedding.
    rows = [{"text": t} for t in ("😀😀😀", "😀😀", "😀", "🎉🎉")]
    path = write_jsonl("d.jsonl", rows)
    result = curate(
        [path],
        tmp_path / "out",
        semantic__enabled=True,
        semantic__threshold=0.5,
        semantic__cache_dir=str(tmp_path / "cache"),
    )
    assert result.kept == 4 and result.removed == {}
