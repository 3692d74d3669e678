"""curate's pass 2 (kept/, removed/, clusters.parquet, quarantine, stats, manifest):
the same bytes whatever the threads and batch cuts of one config, every file in the
manifest with the sha256 of its bytes, and the process's Arrow state left as found."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.curate import curate
from tests.curate.conftest import EXAMPLE, t0_records


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def t0_corpus(tmp_path: Path) -> Path:
    """Real templated records with real near-duplicates and exact copies, plus a
    quarantined line: several batches at ``batch_rows=97``."""
    rows = t0_records(400)
    path = tmp_path / "t0.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps({"text": r["prompt"] + " " + r["completion"], "n": i}) + "\n")
        f.write(json.dumps({"text": rows[3]["prompt"] + " " + rows[3]["completion"]}) + "\n")
        f.write("{broken\n")
    return path


def test_several_batches_give_the_same_bytes_at_one_and_two_threads(
    t0_corpus: Path, tmp_path: Path
) -> None:
    one = curate([t0_corpus], tmp_path / "one", threads=1, batch_rows=97, progress=False)
    two = curate([t0_corpus], tmp_path / "two", threads=2, batch_rows=97, progress=False)
    assert one.removed_total > 0 and one.quarantined == 1 and one.kept == two.kept
    a, b = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    # Several row groups: the batches really were cut.
    assert pq.ParquetFile(tmp_path / "one" / "kept" / "part-00000.parquet").num_row_groups > 1


def test_the_manifest_holds_the_sha256_and_rows_of_every_file(
    t0_corpus: Path, tmp_path: Path
) -> None:
    # A column that appears only in a later batch makes the writers continue in a
    # second part (part-NNNNN_0001): both parts must be listed and hashed.
    typed = tmp_path / "typed.jsonl"
    with typed.open("w", encoding="utf-8") as f:
        for i in range(120):
            row: dict[str, object] = {"text": f"record {i} " + "word " * (i % 11)}
            if i >= 100:
                row["meta"] = {"k": i}
            f.write(json.dumps(row) + "\n")
    out = tmp_path / "out"
    curate([t0_corpus, EXAMPLE, typed], out, batch_rows=97, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", ".curagate-output.json")
    }
    assert set(listed) == on_disk
    for rel, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((out / rel).read_bytes()).hexdigest(), rel
        if rel.endswith(".parquet"):
            assert entry["rows"] == pq.ParquetFile(out / rel).metadata.num_rows, rel
        elif rel == "quarantine.jsonl":
            assert entry["rows"] == len((out / rel).read_text().splitlines())
    assert [f["path"] for f in manifest["files"]] == sorted(listed)
    assert any(rel.startswith("kept/") and rel.endswith("_0001.parquet") for rel in listed)


def test_arrow_default_pool_is_restored_after_a_run_and_after_a_failure(
    t0_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = pa.default_memory_pool().backend_name
    curate([t0_corpus], tmp_path / "out", progress=False)
    assert pa.default_memory_pool().backend_name == before
    # A failure in the middle of pass 2 (stats.json's atomic write: its os.replace),
    # injected into the standard library so that the real writers run up to there.
    real_replace = os.replace

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == "stats.json":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        curate([t0_corpus], tmp_path / "failed", progress=False)
    assert pa.default_memory_pool().backend_name == before
    assert not (tmp_path / "failed").exists()


def test_a_column_whose_type_changes_between_batches_keeps_each_value_as_read(
    tmp_path: Path,
) -> None:
    """An `id` read as strings in one batch and as ints in the next was cast to the open
    file's string schema (kept id 2 written as "2"). Now only all-null columns and
    fields are filled into the open schema; another type continues in a new part, and
    every kept value equals what json.loads gives for its line."""
    lines = [
        {"id": "a", "text": "one two three", "meta": {"k": "t"}},
        {"id": "b", "text": "four five six", "meta": {"k": "u"}},
        {"id": 1, "text": "seven eight nine", "meta": {"k": "v"}},
        {"id": 2, "text": "ten eleven twelve", "meta": {"k": "w"}},
        {"id": 3, "text": "thirteen fourteen fifteen", "meta": {"k": None}},
        {"id": 4, "text": "sixteen seventeen eighteen", "meta": {"k": None}},
    ]
    src = tmp_path / "typ.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in lines))
    result = curate([src], tmp_path / "out", batch_rows=2)
    assert (result.kept, result.quarantined) == (6, 0)
    parts = sorted((tmp_path / "out" / "kept").glob("*.parquet"))
    # the string ids; the int ids (the last batch's all-null `meta.k` filled in)
    # in name order, which is input order (`-1` sorted before the first part)
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00000_0001.parquet"]
    kept = pq.read_table(parts[0]).to_pylist() + pq.read_table(parts[1]).to_pylist()
    assert kept == lines
    assert pq.read_schema(parts[1]).field("id").type == pa.int64()


def test_an_input_appended_to_while_pass_1_reads_is_an_input_error_in_memory_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inputs were compared with their state at the start only when pass 2 read them
    again: held in memory, a file cut or appended to while it was read was published
    (exit 0) with the rows read before, as if they were all of it."""
    import mmap

    from curagate.errors import InputError

    data = tmp_path / "in"
    data.mkdir()
    for name in ("a", "b"):
        (data / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": f"{name} text number {i}"}) + "\n" for i in range(10))
        )
    real_mmap = mmap.mmap
    opened: list[int] = []

    def mapped(*args: object, **kwargs: object) -> mmap.mmap:
        opened.append(1)
        if len(opened) == 2:  # b is mapped: a was read; another writer appends to it
            with (data / "a.jsonl").open("a") as f:
                f.write(json.dumps({"text": "written while curate ran"}) + "\n")
        return real_mmap(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmap, "mmap", mapped)
    with pytest.raises(InputError, match=r"a\.jsonl: changed while curate ran"):
        curate([data], tmp_path / "out", progress=False)
    assert len(opened) == 2 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("rows", [10, 7])
def test_an_input_replaced_before_pass_2_rereads_it_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int
) -> None:
    """Past the memory budget pass 2 reads the inputs again; a file replaced in between
    (same rows or fewer) gave rows the dedup never saw, under its decisions, exit 0
    (or an internal error, exit 3, when the rows no longer counted up)."""
    from curagate.errors import InputError

    data = tmp_path / "in"
    data.mkdir()
    (data / "a.jsonl").write_text(
        "".join(json.dumps({"text": "one same text"}) + "\n" for _ in range(10))
    )
    new = tmp_path / "b.jsonl"
    new.write_text(
        "".join(json.dumps({"text": f"unseen text number {i}"}) + "\n" for i in range(rows))
    )
    real_mkdir = Path.mkdir

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]
        # Pass 2's output, made in its temporary folder (.out.PID.HOST.XXXXXXXX.curagate.tmp/o).
        if self.parent.name.startswith(".out.") and new.exists():
            new.replace(data / "a.jsonl")  # another writer renames a new file over the input

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(InputError, match=r"a\.jsonl: changed while curate ran"):
        curate([data], tmp_path / "out", memory_budget=0, progress=False)
    assert not new.exists()  # the swap happened
    assert not (tmp_path / "out").exists()


def test_a_split_of_kept_parts_keeps_input_order(tmp_path: Path) -> None:
    # A later chunk adding a column continues kept/ in a second part; its name sorted
    # before the first part's (`part-00000-1` < `part-00000.`), so the split read the
    # later records first and every split's rows were out of input order.
    lines = [{"text": f"record {i} with words of its own {i * 7919}"} for i in range(12)]
    lines[9]["meta"] = "m"
    src = tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in lines))
    curate([src], tmp_path / "out", batch_rows=4, split__enabled=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "out" / "kept").iterdir()) == [
        "part-00000.parquet",
        "part-00000_0001.parquet",
    ]
    seen = 0
    for part in sorted((tmp_path / "out" / "splits").glob("*.parquet")):
        order = [int(t.split()[1]) for t in pq.read_table(part).column("text").to_pylist()]
        assert order == sorted(order), part.name
        seen += len(order)
    assert seen == 12


def test_part_names_sort_in_input_order_past_their_padding(tmp_path: Path) -> None:
    # Input 100000's part sorted before input 10001's, and a file's part 10000 before its
    # part 9999 (zero-padded to 5 and 4 digits): kept/ read in name order lost input order.
    from curagate.pipeline.write import ShardWriter

    writer = ShardWriter(tmp_path)
    for source in (9, 10001, 99999, 100000, 1000000):
        writer.write(source, pa.table({"text": ["x"]}))
    for source, part in ((7, 9999), (7, 10000), (7, 100000)):
        writer._open(source, pa.schema([("text", pa.string())]), part)
    writer.close()
    names = [p.name for p in tmp_path.iterdir()]
    assert sorted(names) == [
        "part-00007_9999.parquet",
        "part-00007_z10000.parquet",
        "part-00007_zz100000.parquet",
        "part-00009.parquet",
        "part-10001.parquet",
        "part-99999.parquet",
        "part-z100000.parquet",
        "part-zz1000000.parquet",
    ]


def many_inputs(tmp_path: Path, limit: tuple[int, int], *extra: str) -> Any:
    """curate of a folder of 300 one-row files under the open-file limit ``limit`` (soft,
    hard); every 3rd row a copy of the one before it (removed/ gets files too)."""
    import resource
    import subprocess
    import sys

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        text = f"tiny record number {i - (i % 3 == 2)} with a few words"
        (folder / f"f{i:04d}.jsonl").write_text(json.dumps({"text": text}) + "\n")
    out = tmp_path / "out"
    return subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(folder), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit),
        check=False,
    )


@pytest.mark.parametrize(
    "staged", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["curate", "staged"]
)
@pytest.mark.slow
def test_a_folder_of_more_inputs_than_open_files_allowed_is_curated(
    tmp_path: Path, staged: bool
) -> None:
    # Found by attack: a kept/ and a removed/ Parquet file stayed open per input until the
    # end, so a folder of 1,100 one-row files died at the usual 1,024 descriptors (exit 1
    # from a crash handler that could not open its log; exit 3 staged). curate keeps at
    # most ShardWriter.MAX_OPEN files open, under a hard limit of 200; a staged run maps
    # a few files per input, so the CLI raises its soft limit to the hard one.
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = (200, hard) if staged else (200, 200)
    if staged and hard != resource.RLIM_INFINITY and hard < 2_000:
        pytest.skip(f"the hard open-file limit here is {hard}")
    extra = ["--work-dir", str(tmp_path / "work")] if staged else []
    p = many_inputs(tmp_path, limit, *extra)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out"
    totals = json.loads((out / "stats.json").read_text())["totals"]
    assert (totals["input_rows"], totals["kept"], totals["removed"]) == (300, 200, {"exact": 100})
    parts = sorted((out / "kept").glob("*.parquet"))
    assert len(parts) == 200 and len(list((out / "removed").glob("*.parquet"))) == 100
    assert pa.concat_tables(pq.read_table(part) for part in parts).num_rows == 200


@pytest.mark.slow  # a staged run of 300 inputs: ~8 s
def test_too_many_open_files_is_a_clear_exit_2(tmp_path: Path) -> None:
    # A staged run under a hard limit below what it maps: the limit named, not a bug.
    p = many_inputs(tmp_path, (200, 200), "--work-dir", str(tmp_path / "work"))
    assert p.returncode == 2, p.stderr
    assert "Too many open files (this process may open 200)" in p.stderr
    assert "ulimit -n" in p.stderr and "Traceback" not in p.stderr
