"""`curagate split` end to end: real JSONL in, Parquet splits and a manifest out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.split import assign_units

SPLITS = ("train", "val", "test")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def records(n: int) -> list[dict[str, Any]]:
    """Short distinct texts (under 13 words, so no n-gram overlap by accident)."""
    return [
        {
            "id": f"r{i}",
            "text": f"sample {i} talks about item {i * 7919 % 1000}",
            "label": ["pos", "neg", "neutral"][i % 3 if i % 10 else 0],
            "user": f"u{i % 17}",
            "created": f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        }
        for i in range(n)
    ]


def read_split(out: Path, name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = pq.read_table(out / f"{name}.parquet").to_pylist()
    return rows


def split_of(out: Path, column: str) -> dict[Any, set[str]]:
    where: dict[Any, set[str]] = {}
    for name in SPLITS:
        for row in read_split(out, name):
            where.setdefault(row[column], set()).add(name)
    return where


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "split_manifest.json").read_text())
    return data


def test_random_split_writes_every_row_once_in_80_10_10(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(200))
    assert main(["split", str(src), "--out", str(tmp_path / "out")]) == 0
    ids = [r["id"] for name in SPLITS for r in read_split(tmp_path / "out", name)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(200))
    assert manifest(tmp_path / "out")["splits"]["train"]["rows"] == 160
    assert manifest(tmp_path / "out")["splits"]["val"]["rows"] == 20


def test_rerun_writes_byte_identical_files(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(120))
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["split", str(src), "--out", str(out), "--seed", "5"]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]


def test_manifest_records_seed_ratios_and_the_sha256_of_each_output(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(50))
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--seed", "9", "--ratios", "60/20/20"]) == 0
    m = manifest(out)
    assert m["seed"] == 9
    assert m["ratios"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    for name in SPLITS:
        info = m["splits"][name]
        assert info["sha256"] == hashlib.sha256((out / info["file"]).read_bytes()).hexdigest()
    assert m["inputs"]["total_rows"] == 50


def test_stratified_split_reports_label_distribution_per_split(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(300))
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--label", "label"]) == 0
    m = manifest(out)
    assert m["mode"] == "stratified"
    totals: dict[str, int] = {}
    for name in SPLITS:
        for label, count in m["splits"][name]["labels"].items():
            totals[label] = totals.get(label, 0) + count
    for name, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        for label, count in m["splits"][name]["labels"].items():
            assert abs(count - ratio * totals[label]) <= 1


def test_a_missing_label_is_not_the_label_null(tmp_path: Path) -> None:
    # Found by attack: a row without a label and a row labelled "null" were one label,
    # counted together in the manifest (train 'null': 54 of 30 + 24) and one stratum.
    rows = records(300)
    for i, r in enumerate(rows):
        r["label"] = ("null", None, "x")[i % 3]
    out = tmp_path / "out"
    assert main(["split", str(write_jsonl(tmp_path / "d.jsonl", rows)), "--out", str(out),
                 "--label", "label"]) == 0  # fmt: skip
    m = manifest(out)
    for name in SPLITS:
        got = [r["label"] for r in read_split(out, name)]
        info = m["splits"][name]
        # The string "null" is shown quoted, as audit names it: not JSON's null.
        assert info["labels"] == {'"null"': got.count("null"), "x": got.count("x")}
        assert info["labels_missing"] == got.count(None) > 0
        # each of the three strata is split 80/10/10 on its own
        for label in ("null", None, "x"):
            assert abs(got.count(label) - {"train": 80, "val": 10, "test": 10}[name]) <= 1


def test_a_label_written_with_its_quotes_is_its_own_stratum(tmp_path: Path) -> None:
    # Found by attack (on audit, which names labels alike): the string "1" written with its
    # quotes was named as the string 1 is ("1"), one label and one stratum.
    rows = records(200)
    for i, r in enumerate(rows):
        r["label"] = '"1"' if i % 2 else "1"
    out = tmp_path / "out"
    assert main(["split", str(write_jsonl(tmp_path / "d.jsonl", rows)), "--out", str(out),
                 "--label", "label"]) == 0  # fmt: skip
    m = manifest(out)
    for name in SPLITS:
        got = [r["label"] for r in read_split(out, name)]
        labels = m["splits"][name]["labels"]
        assert labels == {'"1"': got.count("1"), '"\\"1\\""': got.count('"1"')}
        for label in ("1", '"1"'):  # each stratum split 80/10/10 on its own
            assert abs(got.count(label) - {"train": 80, "val": 10, "test": 10}[name]) <= 1


def test_equal_numbers_are_one_label_whatever_type_a_file_gives_them(tmp_path: Path) -> None:
    # Found by a helper: split named a label by the JSON of its value as Arrow typed the
    # column per file, so the label 0 of one file and 0.0 of another were two strata and
    # two labels in the manifest (audit counts them as one class).
    ints, floats = records(100), records(100)
    for i, r in enumerate(ints):
        r["label"], r["text"] = i % 2, f"int file {r['text']}"
    for i, r in enumerate(floats):
        r["label"], r["text"] = float(i % 2), f"float file {r['text']}"
    out = tmp_path / "out"
    a, b = write_jsonl(tmp_path / "a.jsonl", ints), write_jsonl(tmp_path / "b.jsonl", floats)
    assert main(["split", str(a), str(b), "--out", str(out), "--label", "label"]) == 0
    m = manifest(out)
    assert sum(m["splits"][name]["labels"].get("0", 0) for name in SPLITS) == 100
    assert sorted({k for name in SPLITS for k in m["splits"][name]["labels"]}) == ["0", "1"]


def test_grouped_split_never_puts_a_group_in_two_splits(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(170))
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--group", "user"]) == 0
    assert all(len(s) == 1 for s in split_of(out, "user").values())


def test_a_split_asked_for_that_gets_no_row_is_warned_and_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: 4 groups of 10 at 0.8,0.1,0.1 were "train 30, val 10, test 0",
    # exit 0, nothing said.
    rows = [
        {"id": i, "text": f"distinct text number {i} with words", "g": i // 10} for i in range(40)
    ]
    src = write_jsonl(tmp_path / "grp.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--group", "g"]) == 0
    got = {k: v["rows"] for k, v in manifest(out)["splits"].items()}
    empty = [name for name in SPLITS if not got[name]]
    assert len(empty) == 1
    warnings = manifest(out)["warnings"]
    assert len(warnings) == 1 and warnings[0].startswith(f"{empty[0]} got 0 rows for ratio 0.1")
    assert "4 units, the largest 10 rows: too few units for the ratios" in warnings[0]
    err = capsys.readouterr().err.splitlines()
    assert err == [f"curagate split: warning: {warnings[0]}"]
    # A split given ratio 0 is not warned about; one with rows neither.
    assert (
        main(["split", str(src), "--out", str(out), "--group", "g", "--ratios", "0.5,0.5,0"]) == 0
    )
    assert manifest(out)["warnings"] == [] and capsys.readouterr().err == ""
    # curate --split says it in its summary too.
    config = tmp_path / "c.yaml"
    config.write_text("split: {enabled: true, group: g}\n")
    assert main(["curate", str(src), "--out", str(tmp_path / "c"), "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert f"curagate curate: warning: split {warnings[0]}" in captured.err.splitlines()
    assert any(line.startswith("  splits ") for line in captured.out.splitlines())
    # With --json, stdout is the JSON alone (the split's lines after it broke `| jq`).
    argv = ["curate", str(src), "--out", str(tmp_path / "c"), "--config", str(config), "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["kept"] > 0
    assert f"curagate curate: warning: split {warnings[0]}" in captured.err.splitlines()


def test_rows_of_one_cluster_id_never_straddle_splits(tmp_path: Path) -> None:
    rows = records(100)
    for i, row in enumerate(rows):
        row["cluster_id"] = f"c{i // 10}" if i < 60 else None
    src = write_jsonl(tmp_path / "data.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--seed", "1"]) == 0
    where = split_of(out, "cluster_id")
    assert all(len(where[f"c{k}"]) == 1 for k in range(6))
    assert manifest(out)["columns"]["cluster"] == "cluster_id"


def test_copies_that_differ_in_case_and_punctuation_stay_together(tmp_path: Path) -> None:
    rows = records(60)
    for i in range(0, 60, 2):
        rows[i + 1]["text"] = rows[i]["text"].upper() + "!!"
    src = write_jsonl(tmp_path / "data.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out)]) == 0
    where = {r["id"]: name for name in SPLITS for r in read_split(out, name)}
    assert all(where[f"r{i}"] == where[f"r{i + 1}"] for i in range(0, 60, 2))
    assert manifest(out)["verification"]["leaks_total"] == 0


def test_time_split_puts_the_oldest_rows_in_train(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(100))
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "created"]) == 0
    train = [r["created"] for r in read_split(out, "train")]
    val = [r["created"] for r in read_split(out, "val")]
    test = [r["created"] for r in read_split(out, "test")]
    assert max(train) <= min(val) and max(val) <= min(test)


def test_a_numeric_time_column_the_reader_keeps_as_strings_is_ordered_as_numbers(
    tmp_path: Path,
) -> None:
    # 2^53 + 1 beside a fraction: the reader keeps the column as its values' strings so
    # the integer stays exact, and --time read "1.5" as a failed ISO time (exit 2).
    src = tmp_path / "t.jsonl"
    times = ["1.5", "9007199254740993", "3", "9007199254740992", "4"]
    src.write_text(
        "".join(
            f'{{"text": "row {w} alpha beta", "ts": {t}}}\n'
            for w, t in zip("abcde", times, strict=True)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "ts", "--ratios", "60/20/20"]) == 0
    assert [r["ts"] for r in read_split(out, "train")] == ["1.5", "3", "4"]
    assert [r["ts"] for r in read_split(out, "val")] == ["9007199254740992"]
    assert [r["ts"] for r in read_split(out, "test")] == ["9007199254740993"]


PASSAGE = "the quick brown fox jumps over the lazy dog near the quiet river bank today"


def rows_sharing_a_passage() -> list[dict[str, Any]]:
    """r0 (oldest) and r9 (newest) share a 15-word passage; nothing else overlaps."""
    rows = records(10)
    for i, row in enumerate(rows):
        row["created"] = f"2024-01-{i + 1:02d}"
    rows[0]["text"] = f"first copy: {PASSAGE}"
    rows[9]["text"] = f"{PASSAGE} and then it slept"
    return rows


def test_a_shared_13_gram_across_splits_is_reported_and_fails_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", rows_sharing_a_passage())
    out = tmp_path / "out"
    argv = ["split", str(src), "--out", str(out), "--time", "created"]
    assert main(argv) == 0
    m = manifest(out)
    passages = m["verification"]["shared_passages"]
    assert (passages["pairs"], passages["rows"], m["verification"]["leaks_total"]) == (1, 1, 1)
    assert passages["examples"][0]["id"] == "r9"
    assert passages["examples"][0]["spans"][0]["text"] == PASSAGE
    assert main([*argv, "--fail-on-leak"]) == 1
    assert "share a passage with an earlier split" in capsys.readouterr().err


def test_join_ngram_keeps_records_sharing_a_13_gram_together(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", rows_sharing_a_passage())
    out = tmp_path / "out"
    argv = ["split", str(src), "--out", str(out), "--time", "created", "--join-ngram"]
    assert main([*argv, "--fail-on-leak"]) == 0
    where = {r["id"]: name for name in SPLITS for r in read_split(out, name)}
    assert where["r0"] == where["r9"] == "train"


def test_missing_label_column_exits_2_and_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--label", "topic"]) == 2
    err = capsys.readouterr().err
    assert "--label 'topic'" in err and "columns are" in err


def test_bad_ratios_exit_2_and_name_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--ratios", "80/30"]) == 2
    assert "--ratios '80/30'" in capsys.readouterr().err


def test_an_unknown_format_exits_2_listing_auto_among_the_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: the list of valid formats left out auto, which split takes.
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    with pytest.raises(SystemExit) as exc:
        main(["split", str(src), "--out", str(tmp_path / "o"), "--format", "bogus"])
    assert exc.value.code == 2
    assert "'bogus' (choose from 'auto', 'text'" in capsys.readouterr().err
    for spelled in ("auto", "text", "prompt-completion"):  # - for _, as before
        out = tmp_path / spelled
        fmt = ["--format", spelled]
        code = main(["split", str(src), "--out", str(out), *fmt])
        assert code == (0 if spelled != "prompt-completion" else 2)  # text records


def test_help_claims_no_near_copy_shingle_the_config_may_change(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Found by attack: `split --help` said word 5-grams even where the config says char.
    with pytest.raises(SystemExit):
        main(["split", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Jaccard of word 5-gram sets" not in text and "Jaccard of word n-gram" not in text
    assert text.count("near.shingle and near.ngram") >= 2 and "default word 5-grams" in text


def test_a_negative_seed_exits_2_instead_of_repeating_the_split_of_its_absolute_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Python's random.Random(-1) is random.Random(1): seed -1 gave seed 1's split.
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    out = str(tmp_path / "o")
    with pytest.raises(SystemExit) as e:
        main(["split", str(src), "--out", out, "--seed", "-1"])
    assert e.value.code == 2
    assert "--seed: must be an integer in 0.." in capsys.readouterr().err
    config = tmp_path / "curate.yaml"
    config.write_text("split:\n  seed: -1\n", encoding="utf-8")
    assert main(["split", str(src), "--out", out, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "curate.yaml:2" in err and "split.seed" in err
    with pytest.raises(InputError, match="seed -1: use 0 or more"):
        assign_units([1, 1, 1], ratios=(0.8, 0.1, 0.1), seed=-1, mode="random")
    assert not (tmp_path / "o").exists()


def test_stratified_mode_without_a_label_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--mode", "stratified"]) == 2
    assert "--label" in capsys.readouterr().err


def test_a_time_that_is_not_iso_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = records(5)
    rows[3]["created"] = "last tuesday"
    src = write_jsonl(tmp_path / "data.jsonl", rows)
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--time", "created"]) == 2
    err = capsys.readouterr().err
    assert "data.jsonl:4" in err and "'last tuesday'" in err


def near_copy_families(n_families: int) -> list[dict[str, Any]]:
    """Pairs of 60-word texts that differ in one word (MinHash Jaccard ~0.9)."""
    rows = []
    for f in range(n_families):
        base = [f"f{f}w{i}" for i in range(60)]
        edited = list(base)
        edited[30] = f"edit{f}"
        rows.append({"id": f"f{f}a", "family": f, "text": " ".join(base)})
        rows.append({"id": f"f{f}b", "family": f, "text": " ".join(edited)})
    return rows


def test_near_copies_stay_together_by_default(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", near_copy_families(20))
    assert main(["split", str(src), "--out", str(tmp_path / "joined")]) == 0
    assert all(len(s) == 1 for s in split_of(tmp_path / "joined", "family").values())
    m = manifest(tmp_path / "joined")
    assert m["verification"]["leaks_total"] == 0
    assert m["join"]["near_links"] == 20
    assert m["repair"] == {"rounds": 1, "pairs_joined": 0, "units_joined": 0}


def test_without_prejoining_repair_joins_the_near_copies_that_straddle(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", near_copy_families(20))
    assert main(["split", str(src), "--out", str(tmp_path / "apart"), "--no-join-near"]) == 0
    assert all(len(s) == 1 for s in split_of(tmp_path / "apart", "family").values())
    m = manifest(tmp_path / "apart")
    assert m["verification"]["near_copies"]["pairs"] == 0
    assert m["repair"]["rounds"] >= 2 and m["repair"]["units_joined"] > 0


def test_clusters_file_from_curate_keeps_its_clusters_together(tmp_path: Path) -> None:
    rows = records(60)
    src = write_jsonl(tmp_path / "data.jsonl", rows)
    clusters = tmp_path / "clusters.parquet"
    pq.write_table(
        pa.table(
            {
                "record_id": [r["id"] for r in rows],
                "status": ["kept"] * 60,
                "cluster_id": pa.array([i // 6 for i in range(60)], pa.int64()),
            }
        ),
        clusters,
    )
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--clusters", str(clusters)]) == 0
    where = {r["id"]: name for name in SPLITS for r in read_split(out, name)}
    for k in range(10):
        assert len({where[f"r{i}"] for i in range(6 * k, 6 * k + 6)}) == 1
    assert manifest(out)["clusters_file"]["matched"] == 60


def test_clusters_file_that_matches_no_record_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    clusters = tmp_path / "clusters.parquet"
    pq.write_table(pa.table({"record_id": ["x", "y"], "cluster_id": [0, 0]}), clusters)
    argv = ["split", str(src), "--out", str(tmp_path / "o"), "--clusters", str(clusters)]
    assert main(argv) == 2
    assert "--clusters" in capsys.readouterr().err


def test_split_and_curate_share_one_near_threshold(tmp_path: Path) -> None:
    from curagate import curate
    from curagate.config import NearConfig

    src = write_jsonl(tmp_path / "data.jsonl", near_copy_families(5))
    assert main(["split", str(src), "--out", str(tmp_path / "default")]) == 0
    # Both default to the documented 0.7 (docs/split.md), written here, not read back.
    assert manifest(tmp_path / "default")["join"]["near_threshold"] == 0.7
    assert NearConfig().threshold == 0.7
    config = tmp_path / "curate.yaml"
    config.write_text("near:\n  threshold: 0.9\n  ngram: 3\n", encoding="utf-8")
    assert main(["split", str(src), "--out", str(tmp_path / "cfg"), "--config", str(config)]) == 0
    join = manifest(tmp_path / "cfg")["join"]
    assert (join["near_threshold"], join["near_ngram"]) == (0.9, 3)
    result = curate([src], tmp_path / "curated", config=config, split__enabled=True)
    assert result.split is not None
    assert result.split.manifest["join"]["near_threshold"] == 0.9
    # The flag has one name: curate takes --near-threshold too.
    argv = ["curate", str(src), "--out", str(tmp_path / "c2"), "--near-threshold", "0.95"]
    assert main([*argv, "--split"]) == 0
    assert manifest(tmp_path / "c2" / "splits")["join"]["near_threshold"] == 0.95


def test_curate_prints_the_split_counts_as_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The summary printed a Python dict: "{'train': 40, 'val': 5, 'test': 5}".
    src = write_jsonl(tmp_path / "data.jsonl", records(50))
    assert main(["curate", str(src), "--out", str(tmp_path / "out"), "--split"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.lstrip().startswith("splits"))
    rows = {k: v["rows"] for k, v in manifest(tmp_path / "out" / "splits")["splits"].items()}
    assert sum(rows.values()) == 50
    assert line.split("   (")[0].split(None, 1)[1] == ", ".join(
        f"{k} {rows[k]}" for k in ("train", "val", "test")
    )


def test_a_bad_split_key_in_the_config_exits_2_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    config = tmp_path / "curate.yaml"
    config.write_text("split:\n  shared_passages: maybe\n", encoding="utf-8")
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "curate.yaml:2" in err and "split.shared_passages" in err


@pytest.mark.parametrize("command", ["split", "curate"])
@pytest.mark.parametrize("ratios", ["[0.8, 0.1, -0.1]", "[0, 0.5, 0.5]", "[0.8, 0.1, .nan]"])
def test_bad_split_ratios_in_the_config_name_the_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, ratios: str
) -> None:
    # Found by attack: "ratios [0.8, 0.1, -0.1]: ... e.g. --ratios 80/10/10", a flag
    # nobody passed, and neither the file nor the key.
    src = write_jsonl(tmp_path / "data.jsonl", records(10))
    config = tmp_path / "c.yaml"
    config.write_text(f"near: {{threshold: 0.9}}\nsplit: {{ratios: {ratios}}}\n", encoding="utf-8")
    argv = [command, str(src), "--out", str(tmp_path / "o"), "--config", str(config)]
    assert main([*argv, *(["--split"] if command == "curate" else [])]) == 2
    err = capsys.readouterr().err
    assert "c.yaml:2: split.ratios" in err and "--ratios" not in err


def test_a_column_typed_differently_in_two_chunks_of_one_file_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One input file, `id` strings in its first chunk and ints in the next: the error
    said "the input files have incompatible columns", with one file given."""
    src = tmp_path / "typ.jsonl"
    rows = [{"id": "a", "text": "one two three"}, {"id": "b", "text": "four five six"}]
    rows += [{"id": 1, "text": "seven eight nine"}, {"id": 2, "text": "ten eleven twelve"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "split.yaml"
    config.write_text("batch_rows: 2\n")
    code = main(
        ["curate", str(src), "--out", str(tmp_path / "out"), "--split", "--config", str(config)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "in different chunks of one file" in err and "kept/part-NNNNN_0001.parquet" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_a_time_that_is_not_a_finite_number_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    # NaN compares false with everything: the sort put time 4 in val, after train's 5.
    lines = [
        json.dumps({"id": f"r{i}", "text": f"row {i} words {i * 7}", "ts": i}) for i in range(9)
    ]
    lines[4] = lines[4].replace('"ts": 4', f'"ts": {bad}')
    src = tmp_path / "data.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--time", "ts"]) == 2
    err = capsys.readouterr().err
    assert "data.jsonl:5" in err and "not a finite number" in err


def test_nanosecond_timestamps_from_parquet_are_ordered(tmp_path: Path) -> None:
    # pyarrow cannot turn timestamp[ns] into Python datetimes without pandas: exit 3.
    start = 1_714_564_800_000_000_001
    order = [5, 3, 0, 1, 9, 2, 6, 7, 4, 8]
    table = pa.table(
        {
            "text": [f"row {i} distinct words {i * 7}" for i in order],
            "ts": pa.array([start + i for i in order], type=pa.timestamp("ns")),
        }
    )
    src = tmp_path / "ns.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "ts", "--ratios", "4/3/3"]) == 0
    got = {
        s: sorted(pq.read_table(out / f"{s}.parquet").column("ts").cast(pa.int64()).to_pylist())
        for s in SPLITS
    }
    assert max(got["train"]) < min(got["val"]) and max(got["val"]) < min(got["test"])


@pytest.mark.parametrize("scale", [19, 0])
def test_a_parquet_decimal_time_column_is_ordered_exactly(tmp_path: Path, scale: int) -> None:
    # Found by attack: a decimal --time column was refused, "(Decimal); use numbers or
    # ISO-8601 times". The times differ past a double's precision (scale 19: 1 + k * 1e-19;
    # scale 0: 10**30 + k), newest first in the file: only exact order puts them right.
    from decimal import Decimal

    order = [5, 3, 0, 1, 9, 2, 6, 7, 4, 8]
    written = [f"1.{k:019d}" if scale else str(10**30 + k) for k in order]  # exact text
    kind = pa.decimal128(38, scale) if scale else pa.decimal256(40, 0)
    table = pa.table(
        {
            "text": [f"row {i} distinct words {i * 7}" for i in order],
            "k": order,
            "t": pa.array([Decimal(w) for w in written], type=kind),
        }
    )
    src = tmp_path / "dec.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "t", "--ratios", "4/3/3"]) == 0
    got = {s: sorted(pq.read_table(out / f"{s}.parquet").column("k").to_pylist()) for s in SPLITS}
    assert got == {"train": [0, 1, 2, 3], "val": [4, 5, 6], "test": [7, 8, 9]}


def decimal_and_double_inputs(tmp_path: Path, big: bool) -> list[Path]:
    """Two Parquet inputs whose column t is a decimal in one and a double in the other."""
    from decimal import Decimal

    if big:  # 10**60 + k * 1e-10: every one of them 1e+60 as a double
        kind, dec = pa.decimal256(76, 10), [Decimal(10**60) + Decimal(k) / 10**10 for k in range(5)]
    else:  # 1700000000.30: 1700000000.3 as a double, which is not that number
        kind, dec = pa.decimal128(12, 2), [Decimal("1700000000.30") + k for k in range(5)]
    d, f = tmp_path / "d.parquet", tmp_path / "f.parquet"
    pq.write_table(
        pa.table({"text": [f"decimal row {i} words {i * 11}" for i in range(5)],
                  "t": pa.array(dec, type=kind)}), d
    )  # fmt: skip
    pq.write_table(
        pa.table({"text": [f"double row {i} other {i * 13}" for i in range(5)],
                  "t": [1700000000.005 + i for i in range(5)]}), f
    )  # fmt: skip
    return [d, f]


@pytest.mark.parametrize("big", [False, True])
def test_a_decimal_column_beside_a_double_one_is_refused_when_a_value_would_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], big: bool
) -> None:
    # Found by attack: Arrow's permissive concat made the column double, casting each
    # decimal unchecked: the 10**60 + k * 1e-10 all read 1e+60, tied, and --time put the
    # newest rows in train; the outputs held other numbers than the inputs, without a word.
    d, f = decimal_and_double_inputs(tmp_path, big)
    out = tmp_path / "out"
    assert main(["split", str(d), str(f), "--out", str(out), "--time", "t"]) == 2
    err = capsys.readouterr().err
    assert "column 't' is decimal" in err and "and double in" in err
    assert str(d) in err and str(f) in err and "one type in every file" in err
    assert not out.exists()


def test_curate_split_never_writes_splits_with_other_values_than_kept(tmp_path: Path) -> None:
    # Found by attack: kept/ held the decimals (one part per type), splits/ 1e+60 for each.
    d, f = decimal_and_double_inputs(tmp_path, big=True)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("split: {time: t}\n")
    out = tmp_path / "out"
    assert main(["curate", str(d), str(f), "--out", str(out), "--split", "--config", str(cfg)]) == 2


def test_decimals_a_double_holds_exactly_are_split_beside_doubles(tmp_path: Path) -> None:
    # As an int64 beside a double: merged when no value changes.
    from decimal import Decimal

    d, f = tmp_path / "d.parquet", tmp_path / "f.parquet"
    pq.write_table(pa.table({"text": ["a b c d", "e f g h"],
                             "t": pa.array([Decimal("1.50"), Decimal("3.25")], pa.decimal128(5, 2))}), d)  # fmt: skip
    pq.write_table(pa.table({"text": ["i j k l", "m n o p"], "t": [2.0, 4.0]}), f)
    out = tmp_path / "out"
    args = ["split", str(d), str(f), "--out", str(out), "--time", "t", "--ratios", "2/1/1"]
    assert main(args) == 0
    assert pq.read_table(out / "train.parquet").column("t").to_pylist() == [1.5, 2.0]


@pytest.mark.parametrize("order", [[1, 2], [2, 1]])
def test_iso_times_past_the_microsecond_are_ordered_to_the_nanosecond(
    tmp_path: Path, order: list[int]
) -> None:
    # Found by attack: datetime.fromisoformat kept microseconds, so two times 1 ns apart
    # tied and fell in input order: the later row in train, the earlier in test.
    rows = [{"text": f"row {i} with words of its own", "t": f"2024-05-01T12:00:00.00000000{i}Z"}
            for i in order]  # fmt: skip
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "t", "--ratios", "50/0/50"]) == 0
    assert pq.read_table(out / "train.parquet").column("t").to_pylist() == [
        rows[order.index(1)]["t"]
    ]
    # the seventh digit on, with a comma and an offset, as ISO-8601 allows
    from curagate.split import _time_value

    at = ("f", 0, 1)
    early, late = (
        _time_value(f"2024-05-01 12:00:00,{f}+02:00", at, "t") for f in ("1234567", "1234568")
    )
    assert late[1] - early[1] == 100


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_timestamps_beyond_arrows_nanosecond_range_are_ordered(tmp_path: Path, unit: str) -> None:
    # 1500-01-01 and 9999-12-31 fit a us column, not int64 nanoseconds (refused, exit 2).
    from datetime import datetime

    times = [datetime(1500, 1, 1), datetime(2024, 5, 1), datetime(9999, 12, 31)] * 3
    table = pa.table(
        {
            "text": [f"row {i} distinct words {i * 7}" for i in range(9)],
            "ts": pa.array(times, type=pa.timestamp(unit)),
        }
    )
    src = tmp_path / "hist.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "ts", "--ratios", "3/3/3"]) == 0
    years = {
        s: {t.year for t in pq.read_table(out / f"{s}.parquet").column("ts").to_pylist()}
        for s in SPLITS
    }
    assert years == {"train": {1500}, "val": {2024}, "test": {9999}}


@pytest.mark.parametrize(
    "column",
    [pa.array(range(5), type=pa.time32("s")), pa.array(range(5), type=pa.duration("s"))],
    ids=["time of day", "duration"],
)
def test_a_time_of_day_or_a_duration_is_not_a_point_in_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], column: pa.Array
) -> None:
    table = pa.table({"text": [f"row {i} words {i * 7}" for i in range(5)], "t": column})
    src = tmp_path / "t.parquet"
    pq.write_table(table, src)
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--time", "t"]) == 2
    err = capsys.readouterr().err
    assert "t.parquet" in err and "use numbers or ISO-8601 times" in err


def test_files_with_different_timestamp_units_keep_dates_beyond_2262(tmp_path: Path) -> None:
    # A us file holding 9999-12-31 (a warehouse's "no end" date) beside a ns file: Arrow's
    # permissive concat chose ns for both, which cannot hold year 9999 (exit 2). The
    # column takes the finest unit every file's values fit: us here, nothing truncated.
    from datetime import datetime

    far = pa.table(
        {
            "text": [f"far row {i} distinct words {i * 7}" for i in range(3)],
            "ts": pa.array([datetime(9999, 12, 31)] * 3, type=pa.timestamp("us")),
        }
    )
    near = pa.table(
        {
            "text": [f"near row {i} other words {i * 11}" for i in range(6)],
            "ts": pa.array(
                [1_500_000_000_000_000_000 + i * 1000 for i in range(6)], type=pa.timestamp("ns")
            ),
        }
    )
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(far, src / "a_far.parquet")
    pq.write_table(near, src / "b_near.parquet")
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--time", "ts", "--ratios", "3/3/3"]) == 0
    years = {
        s: sorted(t.year for t in pq.read_table(out / f"{s}.parquet").column("ts").to_pylist())
        for s in SPLITS
    }
    assert years == {"train": [2017] * 3, "val": [2017] * 3, "test": [9999] * 3}


def test_timestamp_units_no_common_unit_holds_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Year 9999 needs us or coarser; a value with nanoseconds needs ns: no unit holds both
    # without losing data, so the error says which column and what to do.
    from datetime import datetime

    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(
        pa.table(
            {
                "text": ["far row one words"],
                "ts": pa.array([datetime(9999, 1, 1)], pa.timestamp("us")),
            }
        ),
        src / "a.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "text": ["near row two words"],
                "ts": pa.array([1_500_000_000_000_000_001], pa.timestamp("ns")),
            }
        ),
        src / "b.parquet",
    )
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--time", "ts"]) == 2
    err = capsys.readouterr().err
    assert "'ts'" in err and "timestamp" in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["flag", "config"])
def test_a_max_ngram_items_past_any_corpus_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    # 2^63 reached Arrow's compare kernel as an int it cannot take: exit 3.
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a b c d e f g h"}\n{"text": "i j k l m n o p"}\n')
    big = str(2**63)
    if how == "flag":
        argv = ["split", str(data), "--out", str(tmp_path / "s"), "--max-ngram-items", big]
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    else:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"split: {{enabled: true, max_ngram_items: {big}}}\n")
        assert main(["curate", str(data), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 2
    assert "max_ngram_items" in capsys.readouterr().err.replace("-", "_")


def test_inputs_of_several_formats_are_refused_not_written_as_one_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A text file and a prompt/completion file were written as one train.parquet with
    # both files' columns: read back, the rows of one format were quarantined.
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "hello there world"}\n{"text": "another row"}\n')
    (folder / "b.jsonl").write_text('{"prompt": "q one", "completion": "a one"}\n')
    assert main(["split", str(folder), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "several formats: text" in err and "prompt_completion" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("staged", [False, True], ids=["in-process", "staged"])
def test_curate_split_of_several_formats_names_the_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], staged: bool
) -> None:
    # curate --split refused them after the dedup, naming its temporary folder's files
    # (deleted by then): `.o.1234.5bce98f7.tmp/kept/part-00000.parquet`; staged, the
    # kept/ parts (kept/part-00000.parquet) until its sketch tasks passed the formats on.
    (tmp_path / "a.jsonl").write_text('{"text": "hello there world"}\n')
    (tmp_path / "b.jsonl").write_text('{"prompt": "q one", "completion": "a one"}\n')
    out = tmp_path / "o"
    extra = ["--work-dir", str(tmp_path / "w")] if staged else []
    argv = ["curate", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--out", str(out)]
    assert main([*argv, "--split", "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert ".tmp" not in err and "kept/part" not in err, err
    assert all(n in err for n in ["a.jsonl", "b.jsonl"]), err
    assert not out.exists()


def test_a_dictionary_encoded_text_column_beside_a_plain_one_is_split(tmp_path: Path) -> None:
    # Found by attack: pandas' categorical text in one Parquet input and a plain string
    # column in another were "incompatible columns" (exit 2); they hold the same values.
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"record number {i} says something of its own {i * 7}" for i in range(8)]
    pq.write_table(
        pa.table({"text": pa.array(texts[:4]).dictionary_encode()}), tmp_path / "a.parquet"
    )
    pq.write_table(pa.table({"text": pa.array(texts[4:])}), tmp_path / "b.parquet")
    out = tmp_path / "s"
    assert (
        main(["split", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"), "--out", str(out)])
        == 0
    )
    got = sorted(
        t
        for name in ("train", "val", "test")
        for t in pq.read_table(out / f"{name}.parquet")["text"].to_pylist()
    )
    assert got == sorted(texts)


def test_join_ngram_and_another_shared_passages_policy_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: --join-ngram is --shared-passages join; given with another policy,
    # the last one won without a word (the manifest said "ignore").
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"text": "one record of some words"}) + "\n")
    argv = ["split", str(src), "--out", str(tmp_path / "s")]
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--join-ngram", "--shared-passages", "ignore"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_an_option_from_the_config_file_is_named_as_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `split: {label: nope}` in --config was named "--label 'nope'", a
    # flag the user never gave (curate --split already said split.label).
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"text": f"record {i} of words"}) + "\n" for i in range(4)))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("split: {label: nope}\n")
    argv = ["split", str(src), "--out", str(tmp_path / "s"), "--config", str(cfg)]
    assert main(argv) == 2
    assert f"split.label (in {cfg}) 'nope': no such column" in capsys.readouterr().err
    assert main([*argv, "--label", "nah"]) == 2  # the command line's own: its flag
    assert "--label 'nah': no such column" in capsys.readouterr().err


def test_the_config_text_field_is_the_column_split_keeps_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: split --config ignored text_field (and format, preference_key):
    # exact copies of the config's `body` column straddled splits, exit 0.
    rows = [
        {"text": f"unique title {i} of its own", "body": f"the shared body number {i % 10} here"}
        for i in range(60)
    ]
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("text_field: body\n")
    out = tmp_path / "s"
    assert main(["split", str(src), "--out", str(out), "--config", str(cfg)]) == 0
    assert all(len(where) == 1 for where in split_of(out, "body").values())
    # The flag wins over the file: by text, the copies of body are rows of their own.
    flag = tmp_path / "f"
    argv = ["split", str(src), "--out", str(flag), "--config", str(cfg), "--text-field", "text"]
    assert main(argv) == 0
    assert any(len(where) > 1 for where in split_of(flag, "body").values())
    # A column no input has is refused, as curate refuses it.
    cfg.write_text("text_field: nosuchcolumn\n")
    assert main(["split", str(src), "--out", str(tmp_path / "n"), "--config", str(cfg)]) == 2
    assert "'nosuchcolumn'" in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_the_config_format_and_preference_key_are_split_s_defaults(tmp_path: Path) -> None:
    # preference_key: prompt+responses makes the responses part of the key: one prompt with
    # different answers is several records, not one unit.
    rows = [
        {"prompt": f"question {i % 4} asked", "chosen": f"answer {i}", "rejected": f"no {i}"}
        for i in range(40)
    ]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("format: preference\npreference_key: prompt+responses\n")
    out = tmp_path / "s"
    assert main(["split", str(src), "--out", str(out), "--config", str(cfg)]) == 0
    assert manifest(out)["units"]["count"] == 40
    assert main(["split", str(src), "--out", str(tmp_path / "d")]) == 0
    assert manifest(tmp_path / "d")["units"]["count"] == 4
    cfg.write_text("format: chat\n")  # not the format of these records: refused
    assert main(["split", str(src), "--out", str(tmp_path / "c"), "--config", str(cfg)]) == 2


def test_the_config_near_shingle_char_keeps_character_near_copies_together(
    tmp_path: Path,
) -> None:
    # Found by attack: split read near.shingle: char as words. A copy with a typo in every
    # fourth word shares no word 5-gram with its original, but most character 5-grams:
    # curate (char) calls them near copies, and they straddled splits.
    rows = []
    for f in range(30):
        words = [f"w{f}x{i}alpha" for i in range(24)]
        typo = [w + "s" if i % 4 == 0 else w for i, w in enumerate(words)]
        rows += [{"text": " ".join(words), "family": f}, {"text": " ".join(typo), "family": f}]
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("near: {shingle: char, ngram: 5, threshold: 0.7}\n")
    out = tmp_path / "s"
    assert main(["split", str(src), "--out", str(out), "--config", str(cfg)]) == 0
    assert all(len(where) == 1 for where in split_of(out, "family").values())
    join = manifest(out)["join"]
    assert (join["near_shingle"], join["near_links"]) == ("char", 30)
    # By words they are not near copies: the setting is what kept them together.
    assert main(["split", str(src), "--out", str(tmp_path / "w")]) == 0
    assert manifest(tmp_path / "w")["join"]["near_links"] == 0


def test_the_config_batch_rows_is_the_chunk_split_reads(tmp_path: Path) -> None:
    # Found by review: split --config ignored batch_rows, so a file read as curate reads it
    # with the same config was read otherwise. A JSONL chunk's column holds one JSON type:
    # read whole, the string "abc" beside the number before it is quarantined; read a row at
    # a time (batch_rows: 1), the number is one chunk and the string another, which read
    # together are one string column (docs/formats.md): both rows are split.
    src = tmp_path / "a.jsonl"
    src.write_text(
        '{"text": "alpha one distinct words", "g": 18446744073709551617}\n'
        '{"text": "beta two other words", "g": "abc"}\n',
        encoding="utf-8",
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("batch_rows: 1\n")
    out = tmp_path / "s"
    assert main(["split", str(src), "--out", str(out), "--config", str(cfg)]) == 0
    assert manifest(out)["quarantined"]["rows"] == 0
    assert sorted(
        v for s in SPLITS for v in pq.read_table(out / f"{s}.parquet")["g"].to_pylist()
    ) == [
        "18446744073709551617",
        "abc",
    ]
    # Without it, the default chunk holds both rows: the string is quarantined.
    assert main(["split", str(src), "--out", str(tmp_path / "d")]) == 0
    assert manifest(tmp_path / "d")["quarantined"]["rows"] == 1
