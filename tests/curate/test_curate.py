"""curate end to end on real files: accounting, determinism, atomicity, policies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate import _core
from curagate.curate import curate
from curagate.errors import ConfigError, InputError
from tests.curate.conftest import EXAMPLE, t0_records
from tests.ray.cluster import output_files
from tests.test_check import INVISIBLE_NOT_CF, WITH_FILLERS, blank_record

LONG = (
    "the committee met on tuesday to review the annual budget and after a long debate it "
    "approved new funding for the public library the river park and the school lunch program "
    "while postponing the vote on road repairs until the spring session"
)


def read_dir(d: Path) -> pa.Table | None:
    files = sorted(d.glob("*.parquet"))
    return (
        pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        if files
        else None
    )


def count_rows(d: Path) -> int:
    t = read_dir(d)
    return 0 if t is None else t.num_rows


def test_every_input_row_is_kept_removed_or_quarantined(tmp_path: Path) -> None:
    result = curate([EXAMPLE], tmp_path / "out")
    out = tmp_path / "out"
    kept, removed = count_rows(out / "kept"), count_rows(out / "removed")
    quarantined = sum(1 for _ in (out / "quarantine.jsonl").open())
    raw_lines = sum(1 for p in EXAMPLE.glob("*.jsonl") for line in p.open() if line.strip())
    assert result.input_rows == raw_lines
    assert (kept, removed, quarantined) == (result.kept, result.removed_total, result.quarantined)
    assert kept + removed + quarantined == raw_lines
    for s in result.stats["inputs"]:
        assert s["input_rows"] == s["kept"] + sum(s["removed"].values()) + s["quarantined"]


def test_example_corpus_has_real_near_duplicates_and_broken_rows(tmp_path: Path) -> None:
    result = curate([EXAMPLE], tmp_path / "out")
    assert result.removed.get("near", 0) > 20
    assert result.removed.get("exact", 0) > 0
    assert result.quarantined > 0
    for line in (tmp_path / "out" / "quarantine.jsonl").open():
        q = json.loads(line)
        assert q["file"].endswith(".jsonl") and q["line"] >= 1 and q["reason"]


@pytest.mark.parametrize("batch_rows", [65536, 7])
def test_same_input_and_config_give_byte_identical_outputs(tmp_path: Path, batch_rows: int) -> None:
    # One thread reads in the caller's thread; more read one batch ahead (7 rows: many
    # batches, with quarantined rows among them) and write in lanes.
    curate([EXAMPLE], tmp_path / "a", threads=1, batch_rows=batch_rows)
    curate([EXAMPLE], tmp_path / "b", threads=2, batch_rows=batch_rows)
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    files_b = sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    assert files_a == files_b
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_removed_records_point_at_a_kept_record(tmp_path: Path) -> None:
    curate([EXAMPLE], tmp_path / "out")
    removed = read_dir(tmp_path / "out" / "removed")
    clusters = pq.read_table(tmp_path / "out" / "clusters.parquet").to_pylist()
    kept_ids = {c["record_id"] for c in clusters if c["status"] == "kept"}
    assert removed is not None
    for r in removed.to_pylist():
        assert r["kept_id"] in kept_ids
        assert r["reason"] in {"exact", "near"}
        if r["reason"] == "near":
            assert 0.0 < r["similarity"] <= 1.0
        else:
            assert r["similarity"] == 1.0
    # Original columns are preserved beside ours.
    assert {"prompt", "completion"} <= set(removed.column_names)


def test_exact_copies_differing_in_case_space_and_punctuation(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    path = write_jsonl(
        "d.jsonl", [{"text": LONG}, {"text": "  " + LONG.upper() + "!!"}, {"text": "other"}]
    )
    result = curate([path], tmp_path / "out")
    assert result.removed == {"exact": 1}
    removed = read_dir(tmp_path / "out" / "removed")
    assert removed is not None and removed.column("source_row").to_pylist() == [1]


def test_near_copy_is_removed_and_a_different_text_kept(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    near = LONG.replace("spring session", "spring sessions")
    path = write_jsonl(
        "d.jsonl", [{"text": LONG}, {"text": near}, {"text": "a short unrelated note"}]
    )
    result = curate([path], tmp_path / "out")
    assert result.removed == {"near": 1} and result.kept == 2


@pytest.mark.parametrize("staged", [False, True])
def test_an_exact_copy_of_a_near_copy_is_a_near_copy_of_the_survivor(
    write_jsonl: Callable, tmp_path: Path, staged: bool
) -> None:
    # Row 2 repeats row 1, a near copy of row 0. It came out `exact`, similarity 1.0,
    # kept_id row 0: read as an exact copy of a text it is not.
    near = LONG.replace("spring session", "spring sessions")
    path = write_jsonl("d.jsonl", [{"text": LONG}, {"text": near}, {"text": near}])
    extra = {"executor": "local", "work_dir": tmp_path / "w"} if staged else {}
    result = curate([path], tmp_path / "out", **extra)
    assert result.removed == {"near": 2}
    removed = read_dir(tmp_path / "out" / "removed")
    assert removed is not None
    rows = {r["source_row"]: r for r in removed.to_pylist()}
    assert rows[1]["kept_id"] == rows[2]["kept_id"] == f"{path.as_posix()}:0"
    assert 0.7 <= rows[2]["similarity"] == rows[1]["similarity"] < 1.0
    assert result.stats["steps"]["near"]["removed"] == 2


def test_threshold_decides(write_jsonl: Callable, tmp_path: Path) -> None:
    near = LONG.replace("spring session", "spring sessions")
    path = write_jsonl("d.jsonl", [{"text": LONG}, {"text": near}])
    assert curate([path], tmp_path / "strict", near__threshold=0.99).removed == {}


def test_longest_policy_keeps_the_longest(write_jsonl: Callable, tmp_path: Path) -> None:
    longer = LONG + " and so it was"
    path = write_jsonl("d.jsonl", [{"text": LONG}, {"text": longer}])
    curate([path], tmp_path / "out", keep__policy="longest")
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept is not None and kept.column("text").to_pylist() == [longer]


def test_score_policy_keeps_the_best_score(write_jsonl: Callable, tmp_path: Path) -> None:
    rows = [
        {"text": LONG, "q": 0.1},
        {"text": LONG.upper(), "q": 0.9},
        {"text": LONG + ".", "q": None},
    ]
    path = write_jsonl("d.jsonl", rows)
    curate([path], tmp_path / "out", keep__policy="score", keep__score_column="q")
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept is not None and kept.column("q").to_pylist() == [0.9]


@pytest.mark.parametrize(
    "scores",
    [
        [2**53, 2**53 + 1],  # int64: was "must be numeric (found int64)"
        [2**53, 2**53 + 1, 1.5],  # kept exact as strings beside a fraction: they tied
        [2**64, 2**64 + 1],  # past 64 bits, strings: they tied, the lower kept
        ['"9007199254740992.0"', '"9007199254740993e0"'],  # number-like text
    ],
    ids=["int64", "strings-beside-a-fraction", "past-64-bits", "float-like-text"],
)
def test_integer_scores_past_2_53_are_refused_not_tied(tmp_path: Path, scores: list[float]) -> None:
    texts = [LONG, LONG, "other words entirely"]
    path = tmp_path / "d.jsonl"
    path.write_text(  # the numbers as written, past what json.dumps of a float would keep
        "".join(
            f'{{"text": {json.dumps(t)}, "q": {q}}}\n' for t, q in zip(texts, scores, strict=False)
        )
    )
    with pytest.raises(InputError, match=r"holds \S+, at or past ±2\^53"):
        curate([path], tmp_path / "out", keep__policy="score", keep__score_column="q")
    # below 2^53 integers compare exactly: the higher wins
    path.write_text(
        "".join(
            json.dumps({"text": t, "q": q}) + "\n"
            for t, q in ((LONG, 2**53 - 2), (LONG, 2**53 - 1))
        )
    )
    curate([path], tmp_path / "ok", keep__policy="score", keep__score_column="q")
    kept = read_dir(tmp_path / "ok" / "kept")
    assert kept is not None and kept.column("q").to_pylist() == [2**53 - 1]


@pytest.mark.parametrize("kind", ["decimal", "dictionary"])
def test_decimal_and_categorical_scores_past_2_53_are_refused_too(
    tmp_path: Path, kind: str
) -> None:
    # They skipped the check: cast to doubles, 2^53 and 2^53 + 1 tied, the lower kept.
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind == "decimal":
        q = pa.array([Decimal(2**53), Decimal(2**53 + 1)], pa.decimal128(20, 0))
    else:
        q = pa.array([str(2**53), str(2**53 + 1)]).dictionary_encode()
    pq.write_table(pa.table({"text": [LONG, LONG], "q": q}), tmp_path / "d.parquet")
    with pytest.raises(InputError, match="at or past ±2\\^53"):
        curate(
            [tmp_path / "d.parquet"],
            tmp_path / "out",
            keep__policy="score",
            keep__score_column="q",
        )


def test_missing_score_column_is_an_input_error(write_jsonl: Callable, tmp_path: Path) -> None:
    path = write_jsonl("d.jsonl", [{"text": LONG}])
    with pytest.raises(InputError, match="score_column 'q'"):
        curate([path], tmp_path / "out", keep__policy="score", keep__score_column="q")


def test_failed_run_leaves_previous_output_untouched(write_jsonl: Callable, tmp_path: Path) -> None:
    path = write_jsonl("d.jsonl", [{"text": LONG}, {"text": "x"}])
    out = tmp_path / "out"
    curate([path], out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(InputError):
        curate([path], out, keep__policy="score", keep__score_column="missing")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_refuses_to_replace_a_directory_that_is_not_an_output(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    path = write_jsonl("d.jsonl", [{"text": LONG}])
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(InputError, match="not a curagate output"):
        curate([path], precious)
    assert (precious / "thesis.tex").exists()


def test_spilling_to_disk_changes_nothing(tmp_path: Path, write_jsonl: Callable) -> None:
    path = write_jsonl("t0.jsonl", t0_records(3000))
    default = curate([path], tmp_path / "mem")
    spilled = curate(
        [path], tmp_path / "spill", memory_budget=0, spill_dir=str(tmp_path / "spilldir")
    )
    assert spilled.runtime["spilled_bytes"] > 0 and default.runtime["spilled_bytes"] == 0
    # Every byte, stats.json, manifest.json and the marker's run id included (stats.json
    # held spilled_bytes, so a budget changed the manifest and the run id).
    assert output_files(tmp_path / "mem") == output_files(tmp_path / "spill")
    assert default.removed == spilled.removed
    assert list((tmp_path / "spilldir").iterdir()) == []  # spill files are cleaned up


def test_a_run_killed_while_spilling_leaves_its_spill_files_to_the_next(
    tmp_path: Path, write_jsonl: Callable
) -> None:
    """A run killed while it spilled (SIGKILL, the OOM killer) left its curagate-spill-*
    folder for good: nothing removed it. The next run removes it (its lock is free)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = write_jsonl("t0.jsonl", t0_records(20000))
    spill = tmp_path / "spilldir"
    code = (
        "import sys\nfrom curagate.curate import curate\n"
        "curate([sys.argv[1]], sys.argv[2], memory_budget=0, spill_dir=sys.argv[3])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "python")}
    argv = [sys.executable, "-c", code, str(path), str(tmp_path / "killed"), str(spill)]
    proc = subprocess.Popen(argv, env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(f.name != ".curagate-spill" for f in spill.glob("curagate-spill-*/*")):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.001)
    if proc.wait() != -signal.SIGKILL:
        pytest.skip("the run finished before it could be killed while spilling")
    (left,) = spill.iterdir()
    assert left.name.startswith("curagate-spill-")
    assert curate([path], tmp_path / "next", memory_budget=0, spill_dir=str(spill)).kept > 0
    assert list(spill.iterdir()) == []


def test_every_format_is_curated(tmp_path: Path) -> None:
    for fmt in ("chat", "preference"):
        result = curate([EXAMPLE.parent / fmt], tmp_path / fmt)
        assert result.input_rows == result.kept + result.removed_total + result.quarantined
        assert result.stats["totals"]["input_rows"] > 0


def test_bad_config_value_names_the_key(tmp_path: Path, write_jsonl: Callable) -> None:
    path = write_jsonl("d.jsonl", [{"text": LONG}])
    cfg = tmp_path / "curate.yaml"
    cfg.write_text("near:\n  ngram: 5\n  threshold: 1.7\n")
    with pytest.raises(ConfigError, match=re.escape("curate.yaml:3: near.threshold")):
        curate([path], tmp_path / "out", config=cfg)


def test_unknown_config_key_names_file_line_and_key(tmp_path: Path, write_jsonl: Callable) -> None:
    path = write_jsonl("d.jsonl", [{"text": LONG}])
    cfg = tmp_path / "curate.yaml"
    cfg.write_text("keep:\n  policy: first\nnear:\n  treshold: 0.8\n")
    with pytest.raises(ConfigError, match=re.escape("curate.yaml:4: near.treshold: unknown key")):
        curate([path], tmp_path / "out", config=cfg)


@pytest.mark.slow
def test_near_dedup_agrees_with_exact_jaccard_ground_truth(
    tmp_path: Path, write_jsonl: Callable
) -> None:
    """On real templated data, the removed set matches brute-force exact Jaccard >= 0.7."""
    records = t0_records(1200)
    path = write_jsonl("t0.jsonl", records)
    curate([path], tmp_path / "out", exact__enabled=True, near__verify="exact")
    clusters = pq.read_table(tmp_path / "out" / "clusters.parquet").to_pylist()
    removed = {c["source_row"] for c in clusters if c["status"] != "kept"}

    sets = []
    for r in records:
        text = _core.normalize(r["prompt"] + "\n" + r["completion"])
        sets.append(frozenset(_core.shingles(text, ngram=5)))
    # Ground truth: union-find over all pairs with exact J >= 0.7, keep the first.
    parent = list(range(len(sets)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            a, b = sets[i], sets[j]
            if a == b or (a and b and len(a & b) / len(a | b) >= 0.7):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    truth = {i for i in range(len(sets)) if find(i) != i}
    assert truth, "the sample must contain near duplicates"
    recall = len(removed & truth) / len(truth)
    precision = len(removed & truth) / len(removed)
    assert recall >= 0.95, recall
    assert precision >= 0.98, precision


def test_a_column_whose_type_changes_between_chunks_is_not_lost(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Chunk 1 (2 rows) has no `meta` column at all; chunk 2 has it.
    rows = [{"text": f"record number {i} with its own words"} for i in range(2)]
    rows += [{"text": f"another record {i} that differs", "meta": {"k": i}} for i in range(2)]
    path = write_jsonl("d.jsonl", rows)
    result = curate([path], tmp_path / "out", batch_rows=2)
    kept = read_dir(tmp_path / "out" / "kept")
    assert result.kept == 4 and kept is not None and kept.num_rows == 4


@pytest.mark.parametrize("batch_rows", [1, 2, 3])
def test_a_records_fate_does_not_depend_on_the_rows_sharing_its_chunk(
    write_jsonl: Callable, tmp_path: Path, batch_rows: int
) -> None:
    # Found by attack: Arrow gives each row of a chunk every field and the widest type of
    # its neighbours. One turn with a `name` made every preference pair of its chunk differ
    # at turn 0 ("no implicit prompt": all quarantined), and a 19.5 beside a tool call's 21
    # made it 21.0, another key than the same bytes in the next chunk (both kept).
    def pair(q: str, good: str, bad: str, **extra: str) -> dict[str, Any]:
        user = {"role": "user", "content": q}
        return {
            "chosen": [user, {"role": "assistant", "content": good, **extra}],
            "rejected": [user, {"role": "assistant", "content": bad}],
        }

    prefs = [
        pair("what colour is the sky", "blue", "green"),
        pair("how many legs has a spider", "eight", "six"),
        pair("what is two plus two", "four", "five", name="helper"),
    ]
    result = curate([write_jsonl("p.jsonl", prefs)], tmp_path / "p", batch_rows=batch_rows)
    assert (result.kept, result.quarantined) == (3, 0)

    def call(celsius: float, q: str) -> dict[str, Any]:
        fn = {"name": "set_temp", "arguments": {"celsius": celsius}}
        return {
            "messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": fn}]},
                {"role": "assistant", "content": "done"},
            ]
        }  # fmt: skip

    same = call(21, "set the living room to twenty one degrees")
    calls = [same, call(19.5, "set the bedroom to nineteen and a half"), same]
    result = curate([write_jsonl("t.jsonl", calls)], tmp_path / "t", batch_rows=batch_rows)
    assert (result.kept, result.removed.get("exact")) == (2, 1)


def test_split_step_splits_exactly_the_kept_records(tmp_path: Path) -> None:
    # The example has one review under several templates: below the near
    # threshold, but sharing 13-grams. The plain split reports those leaks ...
    plain = curate([EXAMPLE], tmp_path / "plain", split__enabled=True)
    assert plain.split is not None and plain.split.leaks > 0
    # ... and joining on shared n-grams keeps them in one split.
    result = curate([EXAMPLE], tmp_path / "out", split__enabled=True, split__join_ngram=True)
    assert result.split is not None
    assert sum(result.split.counts.values()) == result.kept
    manifest = json.loads((tmp_path / "out" / "splits" / "split_manifest.json").read_text())
    assert manifest["verification"]["leaks_total"] == 0
    for name in ("train", "val", "test"):
        assert (tmp_path / "out" / "splits" / f"{name}.parquet").exists()


# Holes found by attacking curate's data path; each is a test now.


def test_texts_that_normalize_to_nothing_are_not_duplicates_of_each_other(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Emoji, punctuation and a zero-width space all normalize to the empty key:
    # they are different texts, not one exact-duplicate group (only the
    # byte-identical copy of one of them is a duplicate).
    texts = ["😀😀😀", "🎉🎉", "!!!", "...", "😀😀😀", "a normal sentence with words"]
    path = write_jsonl("e.jsonl", [{"text": t} for t in texts])
    for near in (True, False):
        out = tmp_path / f"out-{near}"
        result = curate([path], out, near__enabled=near)
        assert result.kept == 5 and result.removed == {"exact": 1}
        removed = read_dir(out / "removed")
        assert removed is not None
        assert removed.column("text").to_pylist() == ["😀😀😀"]
        assert removed.column("kept_id").to_pylist() == [f"{path}:0"]
        kept = read_dir(out / "kept")
        assert kept is not None and sorted(kept.column("text").to_pylist()) == sorted(set(texts))
    # The near step never sketches them (empty keys are counted, not clustered).
    assert result.stats["steps"]["near"]["removed"] == 0


@pytest.mark.parametrize(
    "blank",
    [
        "\u200b",
        "\u200b \u200b",
        "\u3000",
        " \t",
        # Format characters (category Cf) normalization drops as well.
        "\u2060",
        "\ufeff",
        "\u200c\u200d",
        "\u00ad",
        " \u2060\u200b\ufeff ",
        "\U000e0041\U000e007f",
    ],
)
def test_a_text_of_only_whitespace_or_zero_width_spaces_is_quarantined_as_empty(
    write_jsonl: Callable, tmp_path: Path, blank: str
) -> None:
    # Normalization treats U+200B as whitespace; validation says the same.
    path = write_jsonl("b.jsonl", [{"text": blank}, {"text": "real words here"}])
    result = curate([path], tmp_path / "out")
    assert result.quarantined == 1 and result.kept == 1
    reasons = [
        json.loads(line)["reason"]
        for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
    ]
    assert reasons == ["field 'text' is empty"]


def test_fixed_size_list_message_columns_are_read_as_lists(tmp_path: Path) -> None:
    # Hugging Face's Sequence(length=N) writes fixed_size_list: messages of that type
    # were an internal error (no offsets) in curate, check, split, leakage and audit.
    from curagate.cli import main

    turn = pa.struct([("role", pa.string()), ("content", pa.string())])
    chats = [
        [
            {"role": "user", "content": f"question {i} about the sky"},
            {"role": "assistant", "content": "blue"},
        ]
        for i in range(3)
    ]
    chats.append([{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}])
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.table({"messages": pa.array(chats, pa.list_(turn, 2))}), path)
    result = curate([path], tmp_path / "out")
    assert (result.kept, result.quarantined) == (3, 1)
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept is not None and kept.column("messages").to_pylist() == chats[:3]
    assert main(["check", str(path), "--no-golden"]) == 1  # the empty turn, named
    assert main(["split", str(path), "--out", str(tmp_path / "split")]) == 0
    assert main(["audit", str(path), "--out", str(tmp_path / "audit")]) in (0, 1)
    leak = ["leakage", "--reference", str(path), "--corpus", str(path)]
    assert main([*leak, "--out", str(tmp_path / "leak")]) in (0, 1)


def test_a_parquet_footer_claiming_more_rows_than_its_group_holds_is_refused(
    tmp_path: Path,
) -> None:
    # Patched to 1,500, the footer's count went unchecked: curate read 1,000 rows and said
    # nothing, and count_records (a run's dataset manifest, a model card) said 1,500.
    import struct

    path = tmp_path / "lie.parquet"
    texts = [f"row number {i} of the lying footer test file with words" for i in range(1000)]
    pq.write_table(pa.table({"text": texts}), path, compression="none")
    raw = bytearray(path.read_bytes())
    size = struct.unpack("<I", raw[-8:-4])[0]
    footer = bytes(raw[len(raw) - 8 - size : -8])
    # 1000 and 1500 as zigzag varints (Thrift compact i64), both two bytes long
    forged = footer.replace(bytes([0xD0, 0x0F]), bytes([0xB8, 0x17]))
    assert forged != footer
    path.write_bytes(bytes(raw[: len(raw) - 8 - size]) + forged + raw[-8:])
    with pytest.raises(
        InputError, match="row group 0 holds 1,000 rows but the file's footer says 1,500"
    ):
        curate([path], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_string_view_parquet_columns_are_read_as_strings(tmp_path: Path) -> None:
    # Parquet may store string_view / binary_view columns: curate and split read
    # them as plain strings (every later kernel has those).
    path = tmp_path / "view.parquet"
    pq.write_table(
        pa.table(
            {
                "text": pa.array(["a b c d e f", "a b c d e f", "x y z"], pa.string_view()),
                "blob": pa.array([b"1", b"2", b"3"], pa.binary_view()),
            }
        ),
        path,
    )
    result = curate([path], tmp_path / "out")
    assert result.kept == 2 and result.removed == {"exact": 1}
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept is not None and kept.column("text").to_pylist() == ["a b c d e f", "x y z"]
    assert kept.column("blob").to_pylist() == [b"1", b"3"]
    from curagate.cli import main

    assert main(["split", str(path), "--out", str(tmp_path / "split")]) == 0
    assert main(["audit", str(path), "--out", str(tmp_path / "audit")]) in (0, 1)
    assert (
        main(
            [
                "leakage",
                "--reference",
                str(path),
                "--corpus",
                str(path),
                "--out",
                str(tmp_path / "leak"),
            ]
        )
        == 0
    )


def test_curate_split_gives_the_same_bytes_whatever_out_is(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "deeper" / "b"
    curate([EXAMPLE], first, split__enabled=True)
    curate([EXAMPLE], second, split__enabled=True)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert Path("splits/split_manifest.json") in files
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    split_manifest = json.loads((first / "splits" / "split_manifest.json").read_text())
    assert [f["path"] for f in split_manifest["inputs"]["files"]] == [
        f"kept/part-0000{i}.parquet" for i in range(3)
    ]


def test_the_manifest_covers_the_splits_files(tmp_path: Path) -> None:
    from curagate.digest import sha256_file

    result = curate([EXAMPLE], tmp_path / "out", split__enabled=True)
    assert result.split is not None
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    } - {"manifest.json", ".curagate-output.json"}  # the manifest, and the marker made last
    assert set(listed) == on_disk
    for name, count in result.split.counts.items():
        entry = listed[f"splits/{name}.parquet"]
        assert entry["rows"] == count
        assert entry["sha256"] == sha256_file(tmp_path / "out" / "splits" / f"{name}.parquet")
    assert listed["splits/split_manifest.json"]["sha256"] == sha256_file(
        tmp_path / "out" / "splits" / "split_manifest.json"
    )


def test_split_with_nothing_kept_warns(write_jsonl: Callable, tmp_path: Path) -> None:
    path = write_jsonl("q.jsonl", [{"text": ""}, {"text": "  "}])
    result = curate([path], tmp_path / "out", split__enabled=True)
    assert result.kept == 0 and result.split is None
    assert not (tmp_path / "out" / "splits").exists()
    assert any("nothing was split" in w for w in result.stats["warnings"])


def test_nothing_kept_warns_without_split_too(write_jsonl: Callable, tmp_path: Path) -> None:
    # Found by attack: without --split, "kept 0 (kept/)" named a folder that does not exist
    # and stats.json had no warning, though the docs promise one.
    path = write_jsonl("q.jsonl", [{"text": ""}, {"text": "  "}])
    result = curate([path], tmp_path / "out")
    assert result.kept == 0 and not (tmp_path / "out" / "kept").exists()
    assert "no record was kept: the output has no kept/ folder" in result.stats["warnings"]


def test_blank_is_one_definition_for_python_arrow_and_the_native_reader(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Every whitespace, format, default-ignorable and control character (and U+2800),
    # alone, is blank to is_blank and to the Arrow mask; a visible character among them
    # is not.
    import sys
    import unicodedata

    from curagate.records import BLANK_CHARS, FORMAT_CHARS, blank_mask, is_blank

    if unicodedata.unidata_version == "14.0.0":
        assert {
            chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
        } == FORMAT_CHARS
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    assert FORMAT_CHARS | set(spaces) < BLANK_CHARS
    invisible = sorted(BLANK_CHARS)
    visible = ["a", "-", "\u00e9", "\U0001f389", "\u2801", "\ufffc", "\u2060a", "\u00ad\u00e9"]
    visible += ["\u3164\u3131", "\x00a", "\ufe0f\u2764", "\U0001d158", "\ufdcf", "\ufffd"]
    texts = invisible + visible
    mask = blank_mask(pa.array(texts)).to_pylist()
    assert mask == [is_blank(t) for t in texts] == [True] * len(invisible) + [False] * len(visible)
    # The native implicit prompt of a preference pair: blank when it is only
    # blank characters, in chat lists and in plain strings.
    rows = [
        {"chosen": f"{t} x", "rejected": f"{t} y"}
        for t in (
            "\u2060\ufeff",
            "\u00ad\u200d",
            "\u3164\ufe0f\x07",
            "\U0001d159\ufdd0\U0010ffff",
            "\u00e9",
        )
    ] + [
        {
            "chosen": [
                {"role": "user", "content": "\u2060"},
                {"role": "assistant", "content": "a"},
            ],
            "rejected": [
                {"role": "user", "content": "\u2060"},
                {"role": "assistant", "content": "b"},
            ],
        }
    ]
    path = write_jsonl("p.jsonl", rows)
    result = curate([path], tmp_path / "out")
    reasons = [
        json.loads(line)["reason"]
        for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
    ]
    assert result.kept == 1 and result.quarantined == 5, reasons
    # Strings only: the native reader finds the blank implicit prompts itself.
    path = write_jsonl("s.jsonl", rows[:5])
    result = curate([path], tmp_path / "out_s")
    assert result.kept == 1 and result.quarantined == 4


@pytest.mark.parametrize(
    "shape",
    ["text", "prompt", "completion", "preference prompt", "chosen", "rejected", "message"],
)
def test_content_of_only_invisible_characters_other_than_cf_is_quarantined(
    write_jsonl: Callable, tmp_path: Path, shape: str
) -> None:
    # Found by attack: a completion of Hangul fillers, variation selectors, U+2800 or
    # controls was kept (and passed check's FMT005); it is blank, as check now says too.
    good = blank_record(shape, WITH_FILLERS)[0]
    rows = [good] + [blank_record(shape, b)[0] for b in INVISIBLE_NOT_CF]
    result = curate([write_jsonl("d.jsonl", rows)], tmp_path / "out")
    quarantined = [
        json.loads(line)
        for line in (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
    ]
    assert result.kept == 1 and result.quarantined == len(INVISIBLE_NOT_CF)
    assert [q["line"] for q in quarantined] == list(range(2, len(rows) + 1))
    assert all("empty" in q["reason"] for q in quarantined), quarantined


@pytest.mark.parametrize("staged", [False, True])
def test_input_columns_named_like_ours_and_their_prefixed_names_never_clash(
    tmp_path: Path, write_jsonl: Callable, staged: bool
) -> None:
    """An input with `reason` and `curagate_reason`: ours was prefixed once, onto the
    user's `curagate_reason`, and removed/ held two columns of one name (unreadable)."""
    theirs = {"reason": "a", "curagate_reason": "b", "kept_id": "c", "curagate_kept_id": "d"}
    path = write_jsonl("d.jsonl", [{"text": "the same text again", **theirs}] * 3)
    kwargs = {"executor": "local", "work_dir": tmp_path / "work"} if staged else {}
    curate([path], tmp_path / "out", **kwargs)
    (part,) = sorted((tmp_path / "out" / "removed").glob("*.parquet"))
    table = pq.read_table(part)
    names = table.column_names
    assert len(names) == len(set(names))
    assert table.column("reason").to_pylist() == ["a", "a"]  # the user's, untouched
    assert table.column("curagate_reason").to_pylist() == ["b", "b"]
    assert table.column("curagate_curagate_reason").to_pylist() == ["exact", "exact"]
    assert [
        k.rsplit("/", 1)[-1] for k in table.column("curagate_curagate_kept_id").to_pylist()
    ] == ["d.jsonl:0"] * 2


def test_semantic_options_without_the_semantic_step_are_a_config_error(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # `--embed-model /nonexistent` without --semantic was accepted and never looked at.
    path = write_jsonl("d.jsonl", [{"text": LONG}])
    with pytest.raises(ConfigError, match=r"--embed-model \(semantic\.model\) given, but"):
        curate([path], tmp_path / "out", semantic__model="/nonexistent")
    with pytest.raises(ConfigError, match=r"--semantic-threshold"):
        curate([path], tmp_path / "out", semantic__threshold=0.9)
    # So were --ratios and --label without --split, and --score-column without --keep score.
    with pytest.raises(ConfigError, match=r"--label \(split\.label\) given, but no split"):
        curate([path], tmp_path / "out", split__label="topic")
    with pytest.raises(ConfigError, match=r"--ratios"):
        curate([path], tmp_path / "out", split__ratios=[0.5, 0.25, 0.25])
    with pytest.raises(ConfigError, match=r"--score-column .* not score; add --keep score"):
        curate([path], tmp_path / "out", keep__score_column="quality")
    # Found by attack: --near-threshold / --ngram with --no-near were recorded in stats.json
    # as if in force.
    with pytest.raises(ConfigError, match=r"--near-threshold .* and --ngram .* near dedup is off"):
        curate([path], tmp_path / "out", near__enabled=False, near__threshold=0.3, near__ngram=2)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("staged", [False, True], ids=["in-process", "staged"])
@pytest.mark.parametrize("kind", ["reference", "config"])
def test_an_out_holding_a_reference_or_the_config_is_refused(
    tmp_path: Path, kind: str, staged: bool
) -> None:
    # `--decontaminate o/golden.jsonl --config o/curate.yaml --out o` over a previous
    # output: exit 0, and both files were deleted with the output they sat in (the
    # staged pipeline, given a --work-dir, still deleted the config).
    from curagate.cli import main

    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(json.dumps({"text": f"record number {i} here"}) + "\n" for i in range(5))
    )
    out = tmp_path / "o"
    assert main(["curate", str(data), "--out", str(out), "--quiet"]) == 0
    mine = out / ("golden.jsonl" if kind == "reference" else "curate.yaml")
    mine.write_text(json.dumps({"text": "a golden item"}) + "\n" if kind == "reference" else "{}\n")
    extra = ["--decontaminate", str(mine)] if kind == "reference" else ["--config", str(mine)]
    if staged:
        extra += ["--work-dir", str(tmp_path / "work")]
    assert main(["curate", str(data), "--out", str(out), "--quiet", *extra]) == 2
    assert mine.is_file()


@pytest.mark.parametrize("staged", [False, True])
@pytest.mark.slow
def test_clusters_of_a_run_with_no_valid_record_have_the_columns_of_any_other(
    write_jsonl: Callable, tmp_path: Path, staged: bool
) -> None:
    # Found by attack: with every record quarantined, clusters.parquet held a lone
    # record_id column; code reading several runs' clusters as one dataset failed on it.
    work = {"work_dir": tmp_path / "w"} if staged else {}
    good = write_jsonl("good.jsonl", [{"text": "one record of words"}])
    bad = write_jsonl("bad.jsonl", [{"text": 1}, {"text": 2}])
    curate([good], tmp_path / "good", **work)
    result = curate([bad], tmp_path / "bad", **work)
    assert result.quarantined == 2
    schema = pq.read_schema(tmp_path / "good" / "clusters.parquet")
    assert pq.read_schema(tmp_path / "bad" / "clusters.parquet").equals(schema)


def test_a_file_under_two_names_keeps_the_same_records_in_any_argument_order(
    tmp_path: Path,
) -> None:
    # By attack: with z.jsonl -> a.jsonl, `curate a m z` kept a's records and `curate z m a`
    # m's (copies of them): the order the names were given in decided which survived.
    for name, p in (("a.jsonl", "A"), ("m.jsonl", "M")):
        rows = [
            {"id": f"{p}{i}", "text": f"record number {i} with a few more words"} for i in range(20)
        ]
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "z.jsonl").symlink_to("a.jsonl")
    a, m, z = (tmp_path / n for n in ("a.jsonl", "m.jsonl", "z.jsonl"))
    curate([a, m, z], tmp_path / "o1")
    curate([z, m, a], tmp_path / "o2")

    def kept(out: Path) -> list[str]:
        files = sorted((out / "kept").glob("*.parquet"))
        return [r["id"] for f in files for r in pq.read_table(f).to_pylist()]

    assert kept(tmp_path / "o1") == kept(tmp_path / "o2") == [f"A{i}" for i in range(20)]


def test_curate_keeps_the_same_duplicates_in_any_checkout_location_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # By attack: inputs ordered by real path made `curate data/ <abs>/ext/` keep ext's records
    # in loc/ws/repo and data's in loc/aa/repo: the kept copies hung on where the checkout sat.
    def write(path: Path, prefix: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {"id": f"{prefix}{i}", "text": f"record number {i} with a few more words"}
            for i in range(20)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    ext = tmp_path / "loc" / "ext"
    write(ext / "extra.jsonl", "EXT")
    kept: list[list[str]] = []
    for place in ("aa", "ws"):
        repo = tmp_path / "loc" / place / "repo"
        write(repo / "data" / "mine.jsonl", "MINE")
        monkeypatch.chdir(repo)
        curate([Path("data"), ext], repo / "out")
        files = sorted((repo / "out" / "kept").glob("*.parquet"))
        kept.append([r["id"] for f in files for r in pq.read_table(f).to_pylist()])
    assert kept[0] == kept[1] == [f"EXT{i}" for i in range(20)]


def test_the_documented_code_settings_keep_indentation_variants_apart(tmp_path: Path) -> None:
    # Found by attack: docs/curate.md advised only `strip_punctuation: false` for code, and
    # whitespace collapsing (on by default) made two Python completions differing only in a
    # line's indentation one key: one was removed as an exact copy. The settings the docs
    # name for code keep them apart.
    import yaml

    docs = (Path(__file__).resolve().parents[2] / "docs" / "curate.md").read_text()
    advice = re.search(r"[Cc]ode data[^`]*?set `(normalize: \{[^`]*\})`", docs)
    assert advice is not None, "docs/curate.md names no normalize settings for code"
    config = tmp_path / "code.yaml"
    config.write_text(
        yaml.safe_dump({**yaml.safe_load(advice.group(1)), "near": {"enabled": False}})
    )
    body = "def f(xs):\n    for x in xs:\n        if x:\n            log(x)\n{}total += x\n    return total"
    prompt = "Write f that sums the truthy values of xs and logs them."
    rows = [{"prompt": prompt, "completion": body.format(" " * n)} for n in (8, 12)]
    path = tmp_path / "code.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert curate([path], tmp_path / "out", config=config).kept == 2
    # The default (whitespace collapsed) makes them one key: what the advice is for.
    assert curate([path], tmp_path / "default", near__enabled=False).removed == {"exact": 1}
