"""Curate steps: a quality filter added through the extension point (one class,
registered, named in the config) runs inside curate with full accounting."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from curagate.cli import main
from curagate.curate import curate
from curagate.errors import ConfigError
from curagate.pipeline.step import FILTERS, Filter, FilterParams, Rows, register_filter
from tests.curate.conftest import t0_records


class BannedWordParams(FilterParams):
    word: str = Field(min_length=1)


@register_filter("banned_word")
class BannedWordFilter(Filter):
    """Drops records whose text contains ``word`` (case-sensitive, before normalization)."""

    Params = BannedWordParams

    def keep(self, rows: Rows) -> pa.Array:
        p = self.params
        assert isinstance(p, BannedWordParams)
        return pc.invert(pc.match_substring(rows.keys, p.word))


def table(d: Path) -> list[dict[str, object]]:
    files = sorted(d.glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def test_a_filter_defined_outside_the_package_runs_with_full_accounting(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    records: list[object] = list(t0_records(300))
    # A record the filter removes, then its exact copy (after normalization) that it
    # does not: the copy must be kept, not removed as a duplicate of a filtered record.
    records.insert(10, {"prompt": "Is this review positive? FORBIDDEN words", "completion": "yes"})
    records.insert(11, {"prompt": "is this review positive forbidden words", "completion": "Yes"})
    records.insert(50, "{not json")  # quarantined
    expected_filtered = sum(
        1 for r in records if isinstance(r, dict) and "FORBIDDEN" in r["prompt"] + r["completion"]
    )
    assert expected_filtered == 1
    corpus = write_jsonl("corpus.jsonl", records)
    config = tmp_path / "curate.yaml"
    config.write_text("filters:\n  - banned_word: {word: FORBIDDEN}\n", encoding="utf-8")

    result = curate([corpus], tmp_path / "out", config=config)

    assert result.input_rows == len(records)
    assert result.quarantined == 1
    assert result.removed["banned_word"] == 1
    assert result.kept + result.removed_total + result.quarantined == result.input_rows
    out = tmp_path / "out"
    removed = table(out / "removed")
    kept = table(out / "kept")
    assert len(kept) == result.kept and len(removed) == result.removed_total
    by_reason = [r for r in removed if r["reason"] == "banned_word"]
    assert [(r["source_row"], r["kept_id"], r["cluster_id"]) for r in by_reason] == [
        (10, None, None)
    ]
    assert any(r["prompt"] == "is this review positive forbidden words" for r in kept)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["steps"]["banned_word"] == {"enabled": True, "word": "FORBIDDEN", "removed": 1}
    assert stats["config"]["filters"] == [{"banned_word": {"word": "FORBIDDEN"}}]
    assert stats["totals"]["removed"]["banned_word"] == 1
    assert stats["inputs"][0]["removed"]["banned_word"] == 1


def test_length_filter_removes_short_texts_before_dedup(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    texts = [
        "ok",
        "a sentence long enough to keep around for training",
        "tiny",
        "another sentence that is long enough to be kept here",
        "OK",  # exact copy of row 0: filtered too, not counted as a duplicate
        "A SENTENCE LONG ENOUGH TO KEEP AROUND FOR TRAINING!",  # exact copy of row 1
    ]
    corpus = write_jsonl("d.jsonl", [{"text": t} for t in texts])
    result = curate([corpus], tmp_path / "out", filters=[{"length": {"min_chars": 10}}])
    assert result.removed == {"length": 3, "exact": 1}
    removed = {r["source_row"]: r["reason"] for r in table(tmp_path / "out" / "removed")}
    assert removed == {0: "length", 2: "length", 4: "length", 5: "exact"}
    assert [r["text"] for r in table(tmp_path / "out" / "kept")] == [texts[1], texts[3]]


def test_without_filters_the_config_in_stats_has_no_filters_key(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    result = curate([corpus], tmp_path / "out")
    assert "filters" not in result.stats["config"]
    assert set(result.stats["steps"]) == {"read", "exact", "near", "decontaminate", "semantic"}


def test_unknown_filter_names_the_entry_and_the_known_filters(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    with pytest.raises(
        ConfigError, match=r"filters\[0\]: unknown filter 'lenght' \(known: .*length"
    ):
        curate([corpus], tmp_path / "out", filters=[{"lenght": {"min_chars": 3}}])
    assert not (tmp_path / "out").exists()


def test_bad_filter_parameter_names_the_key(write_jsonl: Callable, tmp_path: Path) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    config = tmp_path / "curate.yaml"
    config.write_text("filters:\n  - length: {min_chars: -1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{config}:2: filters[0].length.min_chars")):
        curate([corpus], tmp_path / "out", config=config)
    with pytest.raises(ConfigError, match=re.escape("filters[0].length.min_char")):
        curate([corpus], tmp_path / "out", filters=[{"length": {"min_char": 3}}])


def test_a_filter_entry_naming_two_filters_is_refused_with_its_line(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    config = tmp_path / "curate.yaml"
    config.write_text(
        "near:\n  threshold: 0.8\nfilters:\n  - length: {min_chars: 3}\n    banned_word: {word: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"curate\.yaml:\d+: filters.*must name one filter"):
        curate([corpus], tmp_path / "out", config=config)


def test_a_filter_named_twice_is_refused_with_its_line(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Found by attack: stats.json's steps.length held the second entry's settings with both
    # entries' removals, and removed/ gave both the reason "length".
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    config = tmp_path / "curate.yaml"
    config.write_text(
        "filters:\n  - length: {min_chars: 3}\n  - length: {max_chars: 600}\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"curate\.yaml:\d+: filters.*filters\[1\] is 'length' again"
    ):
        curate([corpus], tmp_path / "out", config=config)
    assert not (tmp_path / "out").exists()


def test_staged_run_refuses_filters(write_jsonl: Callable, tmp_path: Path) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    with pytest.raises(
        ConfigError, match=r"one-process pipeline only .* without --work-dir and --executor ray"
    ):
        curate(
            [corpus],
            tmp_path / "out",
            work_dir=tmp_path / "work",
            filters=[{"length": {"min_chars": 3}}],
        )


def test_a_filter_may_not_take_a_built_in_reason() -> None:
    with pytest.raises(ValueError, match="built-in"):
        register_filter("exact")(BannedWordFilter)
    assert FILTERS["banned_word"] is BannedWordFilter


def test_cli_unknown_filter_is_one_line_exit_2(
    write_jsonl: Callable, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_jsonl("d.jsonl", [{"text": "one record of text"}])
    config = tmp_path / "curate.yaml"
    config.write_text("filters:\n  - lenght: {min_chars: 3}\n", encoding="utf-8")
    code = main(["curate", str(corpus), "--out", str(tmp_path / "out"), "--config", str(config)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        f"curagate curate: error: {config}: filters[0]: unknown filter 'lenght' (known: "
        + ", ".join(sorted(FILTERS))
        + ")"
    ]


# Holes found by attacking the config side; each is a test now.


def test_records_a_filter_removed_are_not_reported_as_dedup(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    rows = [{"text": f"record {i} " + "with distinct words " * (i % 3)} for i in range(20)]
    corpus = write_jsonl("d.jsonl", [*rows, rows[1], rows[2]])  # 2 exact copies of 22: 9%
    result = curate([corpus], tmp_path / "out", filters=[{"length": {"min_chars": 20}}])
    assert result.removed["length"] == 7 and result.removed["exact"] == 2
    assert not any("dedup removed" in w for w in result.stats["warnings"])
    copies = curate([corpus], tmp_path / "o2", dedup_rate_warning=0.05)
    assert any("dedup removed 9.1%" in w for w in copies.stats["warnings"])
