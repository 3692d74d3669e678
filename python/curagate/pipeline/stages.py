"""Curate as stages linked by files, each a pure function of its inputs.

The streaming deduper (:mod:`curagate.pipeline.dedup`) holds all its state in
one process. Here the same work is split so that any executor
(:mod:`curagate.executors`) can run it, shard by shard, on many workers:

1. ``sketch(shard)``: read and validate one input file, scan it for leakage,
   and write per clean record its content hash, survivor priority, LSH band
   keys (grouped by band partition) and verification data (shingle set or
   signature) to ``WORK/sketch/NNNNN/``;
2. ``groups``: exact groups over every shard's content hashes (one node,
   16 bytes per record), ``WORK/groups/``;
3. ``bucket(p)``: for band partition ``p`` (of 64) the candidate pairs and
   the verdict of every pair; the shingle sets are read by id from the
   sketch files (memory maps), ``WORK/bucket/PP/``;
4. ``cluster``: union-find over the verdicts, replayed in the streaming
   deduper's order (smallest id is the root), survivors by priority,
   ``WORK/cluster/``;
5. ``filter(shard)``: re-read the shard and write its kept / removed rows,
   cluster rows and counts, ``WORK/filter/NNNNN/``;
6. ``finish``: the output directory, assembled from the shard files.

Every task writes into a temporary folder renamed into place with a
``done.json`` marker, so a killed job resumes where it stopped and a rerun
after completion does nothing. The union-find is replayed with the streaming
deduper's chunking, so outputs *and* counters are byte-identical to
``curate`` run in one process (tested).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import mmap
import os
import resource
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curagate.config import CurateConfig
from curagate.errors import ConfigError, InputError
from curagate.io import read_batches
from curagate.pipeline.dedup import STATUS_NAMES, DedupStep, keep_priorities
from curagate.pipeline.write import ShardWriter, meta_name, write_json, write_quarantine
from curagate.records import Batch, RecordFormat

PARTITIONS = 64
# 2: a sketch task of curate --split records its input's rows (split_rows.json).
# 3: a sketch task records the whole-file digest of its input (INPUT_DIGEST).
WORK_SCHEMA = 3
DONE = "done.json"
# A sketch task's done.json: the whole-file digest of the input it read, which the filter
# task compares with the file it reads (:func:`check_same_bytes`).
INPUT_DIGEST = "input_digest"


@dataclass(frozen=True)
class Shard:
    """One input file: ``index`` in the sorted input list, ``path`` to read
    it from, and ``name``, the ``source`` written into outputs and ids."""

    index: int
    path: str
    name: str


@dataclass(frozen=True)
class Reference:
    """The leakage reference index, built once by the driver and shipped to
    the sketch tasks (pickled as the Rust core's checked blob: see
    :meth:`curagate.leakage.LeakageIndex.__getstate__`), never rebuilt there.
    ``digest`` names its content (for the resume fingerprint and the
    per-worker cache)."""

    options: dict[str, Any]
    index: Any  # curagate.leakage.LeakageIndex, frozen
    digest: str


@dataclass(frozen=True)
class Plan:
    """Everything a stage needs (picklable, sent to every task)."""

    cfg: CurateConfig
    shards: list[Shard]
    work: str
    reference: Reference | None = None
    threads: int | None = None
    # The digest of the run's plan (config, inputs and their file state, references) and
    # each shard's entry in it ([name, file state]), aligned with ``shards``: what a task's
    # done.json records as its identity (:func:`_identity`).
    digest: str = ""
    states: tuple[Any, ...] = ()
    # Each shard's identity as the driver reads it (:func:`curagate.digest.sample_identity`),
    # aligned with ``shards``: a task checks the file it reads is that one (a node seeing
    # other bytes or no file at the path).
    inputs: tuple[Any, ...] = ()

    @property
    def dedup(self) -> bool:
        return self.cfg.exact.enabled or self.cfg.near.enabled

    def dir(self, *parts: str) -> Path:
        return Path(self.work, *parts)


# --------------------------------------------------------------------------- markers


def done(path: Path) -> dict[str, Any] | None:
    """The result a finished task recorded, or None (also for a marker that does not
    read as one: the task runs again)."""
    marker = path / DONE
    if not marker.is_file():
        return None
    try:
        result = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


# done.json's record of the task's files: relative path -> [size, sha256].
FILES = "files"


def _file_digests(folder: Path) -> dict[str, list[Any]]:
    from curagate.io.manifest import sha256_file

    return {
        p.relative_to(folder).as_posix(): [p.stat().st_size, sha256_file(p)]
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != DONE
    }


# done.json's digest of everything else it records: a count edited by hand makes the task
# run again (an edited done.json put its numbers into stats.json and manifest.json, exit 0:
# kept records, removals moved from one reason to another, a sketch's input and quarantined
# rows, the cluster task's pairs and clusters, which no file of the task holds).
SEAL = "sealed"


def _seal(result: dict[str, Any]) -> str:
    body = {k: v for k, v in result.items() if k != SEAL}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _intact(folder: Path, recorded: Any) -> bool:
    """Whether ``folder`` holds exactly the files its task recorded, unchanged: a file
    truncated, edited, added or deleted since (by hand, a disk problem) makes the task
    run again instead of its files being trusted into the output."""
    return isinstance(recorded, dict) and _file_digests(folder) == recorded


# done.json's record of which task wrote the folder (:func:`_identity`).
TASK = "task"


def _identity(plan: Plan, stage: str, task: str | None, shard: Shard | None = None) -> Any:
    """What a task is: its stage, its index (a shard's, a band partition's; None for the
    one-node stages), the plan it ran under and, for a shard's task, the input it read with
    that input's file state. Recorded in done.json and compared on resume: two finished
    filter/ folders swapped by hand were each sealed and intact, so each was resumed as
    the other shard's task (stats.json's per-input counts swapped, clusters.parquet not
    the one-process run's, verify ok)."""
    identity: dict[str, Any] = {"stage": stage, "task": task, "plan": plan.digest}
    if shard is not None:
        i = plan.shards.index(shard)
        identity["input"] = {
            "name": shard.name,
            "state": plan.states[i] if i < len(plan.states) else None,
        }
    return json.loads(json.dumps(identity))  # as done.json reads back (tuples as lists)


def _task(final: Path, identity: Any, body: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body`` into a fresh temporary folder, then rename it to ``final``.

    A finished task is skipped (its recorded result returned) when its done.json is
    sealed, its files are intact and it records this task's ``identity``; a folder of
    another task (moved or copied there by hand) runs again. A retried or duplicate
    attempt that loses the rename race discards its own folder: every attempt computes
    the same bytes.
    """
    previous = done(final)
    if (
        previous is not None
        and _seal(previous) == previous.get(SEAL)
        and previous.get(TASK) == identity
        and _intact(final, previous.get(FILES))
    ):
        return {**previous, "resumed": True}
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir()
    started = time.perf_counter()
    try:
        result = body(tmp)
        result[TASK] = identity
        # Facts of this attempt, for benchmarks (never written into outputs).
        result["seconds"] = round(time.perf_counter() - started, 4)
        result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result[FILES] = _file_digests(tmp)
        result[SEAL] = _seal(result)
        write_json(tmp / DONE, result)
        if final.exists():  # a half-written leftover never has done.json
            shutil.rmtree(final, ignore_errors=True)
        try:
            tmp.rename(final)
        except OSError:
            if done(final) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**result, "resumed": False}


# --------------------------------------------------------------------------- helpers


def _deduper(plan: Plan) -> DedupStep:
    return DedupStep(plan.cfg.model_copy(update={"threads": plan.threads}))


def check_input(plan: Plan, shard: Shard) -> None:
    """The file at ``shard.path`` is the one the driver listed (:attr:`Plan.inputs`)."""
    from curagate.build import require_same_file

    i = plan.shards.index(shard)
    require_same_file(shard.name, shard.path, plan.inputs[i] if i < len(plan.inputs) else None)


def _open(plan: Plan, shard: Shard) -> str | None:
    """Check the input against the driver's sampled identity (cheap), then digest every
    byte of it (:func:`curagate.digest.whole_digest`), before :func:`_read` reads it.

    Hashed before the read, not from the bytes the reader parses: the readers (the Rust
    JSON Lines reader, gzip, zstd, pyarrow's Parquet) open the file themselves. So
    :func:`_read` checks the sampled identity again once the file is read (a writer during
    the read), and a filter task compares this digest with its sketch task's
    (:func:`check_same_bytes`)."""
    from curagate.digest import whole_digest

    check_input(plan, shard)
    digest = whole_digest(shard.path)
    if digest is None:
        check_input(plan, shard)  # says it cannot be read (or the filter refuses the None)
    return digest


def check_same_bytes(plan: Plan, shard: Shard, digest: str | None) -> None:
    """The filter applies the sketch's decisions to the rows it reads by position: the file
    it reads (``digest``, from :func:`_open`) must hold the bytes the sketch task read, not
    only the same size and sampled windows (a same-length edit in place between the two
    stages, or another node's stale copy, kept and removed other rows under other ids,
    exit 0)."""
    from curagate.build import require_same_bytes

    sketched = done(plan.dir("sketch", f"{shard.index:05d}"))
    recorded = None
    if sketched is not None and _seal(sketched) == sketched.get(SEAL):
        recorded = sketched.get(INPUT_DIGEST)
    copy = Path(shard.path).is_relative_to(plan.dir("inputs"))
    require_same_bytes(shard.name, shard.path, digest, recorded, copy=copy)


def _read(plan: Plan, shard: Shard) -> Iterator[Batch]:
    """The batches of the shard (after :func:`_open`), its sampled identity checked again
    once they are read."""
    cfg = plan.cfg
    yield from read_batches(
        [shard.path],
        format=None if cfg.format == "auto" else cfg.format,
        text_field=cfg.text_field,
        preference_key=cfg.preference_key,
        batch_rows=cfg.batch_rows,
        names=[shard.name],
        first_index=shard.index,
    )
    check_input(plan, shard)


_LEAKAGE_CACHE: dict[str, Any] = {}


def _leakage(plan: Plan) -> Any:
    """The shipped reference index, loaded once per worker process."""
    ref = plan.reference
    if ref is None:
        return None
    index = _LEAKAGE_CACHE.get(ref.digest)
    if index is None:
        index = ref.index
        _LEAKAGE_CACHE.clear()
        _LEAKAGE_CACHE[ref.digest] = index
    return index


def reference_of(index: Any, options: dict[str, Any], threads: int | None = None) -> Reference:
    """A built LeakageIndex ready to ship: its content digest is the sha256 of
    the core blob and the item metadata, so an equal index has an equal digest.
    ``threads`` sizes the Rust pool of the copy each worker loads."""
    state = index.__getstate__()
    h = hashlib.sha256(state["core"])
    h.update(json.dumps([options, state["items"], state["reference_files"]]).encode())
    index.ship_threads = threads
    return Reference(options, index, h.hexdigest())


def _drop_pages(*maps: np.ndarray[Any, Any]) -> None:
    """Unmap the pages of read-only file maps from this process (MADV_DONTNEED:
    the bytes stay in the page cache and fault back in when read again)."""
    for array in maps:
        handle = getattr(array, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
            handle.madvise(mmap.MADV_DONTNEED)


def _np(path: Path) -> np.ndarray[Any, Any]:
    array: np.ndarray[Any, Any] = np.load(path, mmap_mode="r")
    return array


def _save(path: Path, array: np.ndarray[Any, Any]) -> None:
    try:
        np.save(path, np.ascontiguousarray(array), allow_pickle=False)
    except OSError as e:
        if e.errno is not None:
            raise
        # numpy's short write ("174870 requested and 47072 written") carries no errno: a
        # full disk, which was exit 3 where every other write's is exit 2.
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None


# --------------------------------------------------------------------------- 1. sketch


def sketch(plan: Plan, shard: Shard) -> dict[str, Any]:
    """Read, validate and sketch one shard (stage 1)."""
    task = f"{shard.index:05d}"
    return _task(
        plan.dir("sketch", task),
        _identity(plan, "sketch", task, shard),
        lambda tmp: _sketch(plan, shard, tmp),
    )


def _sketch(plan: Plan, shard: Shard, tmp: Path) -> dict[str, Any]:
    # The verification data (the largest part) streams to raw files as it is
    # computed, so a sketch worker holds ~0.4 KB per record of its shard.
    with (tmp / "data.bin").open("wb") as sets, (tmp / "offsets.bin").open("wb") as offsets:
        offsets.write(np.zeros(1, "<u8").tobytes())
        return _sketch_into(plan, shard, tmp, sets, offsets)


def _sketch_into(
    plan: Plan, shard: Shard, tmp: Path, sets: BinaryIO, offsets: BinaryIO
) -> dict[str, Any]:
    cfg = plan.cfg
    leakage = _leakage(plan)
    dedup = _deduper(plan) if plan.dedup else None
    near = cfg.near.enabled and dedup is not None
    bands = dedup.bands_rows[0] if dedup is not None else 0
    input_rows = 0
    quarantined = []
    ids: list[pa.Array] = []
    leaked: list[pa.Array] = []
    ref_ids: list[pa.Array] = []
    methods: list[pa.Array] = []
    clean_pos: list[np.ndarray[Any, Any]] = []
    prio: list[np.ndarray[Any, Any]] = []
    hashes: list[np.ndarray[Any, Any]] = []
    empty: list[np.ndarray[Any, Any]] = []
    keys: list[np.ndarray[Any, Any]] = []
    valid = 0
    data_base = 0
    text_read = False  # a batch read as text records (with a text_field: by it)
    # pairs the media rule set aside (DecontaminateStep.media_set_aside); None: no media
    set_aside = 0 if leakage is not None and leakage.holds_media else None
    split_rows = None
    if cfg.split.enabled:
        # What the reader says of the rows (their lines, the columns it keeps as JSON
        # numbers' strings, the formats), kept for curate --split as one process keeps it.
        from curagate.pipeline.split_step import InputRows

        split_rows = InputRows()
    digest = _open(plan, shard)
    for batch in _read(plan, shard):
        input_rows += batch.input_rows
        text_read |= batch.format is RecordFormat.TEXT
        quarantined.extend(batch.quarantined)
        n = batch.table.num_rows
        if n == 0:
            continue
        if split_rows is not None:
            split_rows.add(batch)
        ids.append(batch.ids)
        batch_keys, priorities, media = batch.keys, keep_priorities(batch, cfg), batch.media
        clean = None
        if leakage is not None:
            aside: set[tuple[int, int]] = set()
            leaks = leakage.scan_batch(batch, cfg.text_field, cfg.preference_key, aside)
            if set_aside is not None:
                set_aside += len(aside)
            leaked.append(leaks.leaked)
            ref_ids.append(leaks.reference_ids)
            methods.append(leaks.methods)
            clean = pc.invert(leaks.leaked)
            batch_keys, priorities = batch_keys.filter(clean), priorities.filter(clean)
            media = None if media is None else media.filter(clean)
        positions = (
            np.arange(n, dtype=np.int64)
            if clean is None
            else np.flatnonzero(clean.to_numpy(zero_copy_only=False)).astype(np.int64)
        )
        clean_pos.append(positions + valid)
        valid += n
        if dedup is None or len(batch_keys) == 0:
            continue
        p = priorities.combine_chunks() if isinstance(priorities, pa.ChunkedArray) else priorities
        p = pc.fill_null(p.cast(pa.float64()), float("-inf"))
        p_np = p.to_numpy(zero_copy_only=False).astype(np.float64)
        prio.append(np.where(np.isnan(p_np), -np.inf, p_np))
        out = dedup._core.sketch(batch_keys, media)
        hashes.append(np.frombuffer(out.hashes, dtype="<u8").reshape(-1, 2))
        empty.append(np.frombuffer(out.empty, dtype=np.uint8))
        sets.write(out.data)
        ends = np.frombuffer(out.data_end, dtype="<u8") + np.uint64(data_base)
        offsets.write(ends.astype("<u8").tobytes())
        data_base += len(out.data) // 4
        keys.append(np.frombuffer(out.keys, dtype="<u8"))

    write_quarantine(tmp / "quarantine.jsonl", quarantined)
    if split_rows is not None:
        from curagate.pipeline.split_step import SPLIT_ROWS

        write_json(tmp / SPLIT_ROWS, split_rows.to_json())
    meta: dict[str, pa.Array] = {"id": pa.chunked_array(ids, pa.string()).combine_chunks()}
    if leakage is not None:
        meta["leaked"] = pa.chunked_array(leaked, pa.bool_()).combine_chunks()
        meta["leaked_reference_id"] = pa.chunked_array(ref_ids, pa.string()).combine_chunks()
        meta["leak_method"] = pa.chunked_array(methods, pa.string()).combine_chunks()
    pq.write_table(pa.table(meta), tmp / "meta.parquet")
    cat = _concat
    positions_all = cat(clean_pos, np.int64)
    _save(tmp / "clean_pos.npy", positions_all)
    clean_n = len(positions_all)
    if dedup is not None:
        _save(tmp / "priority.npy", cat(prio, np.float64))
        _save(tmp / "hashes.npy", np.concatenate(hashes) if hashes else np.zeros((0, 2), "<u8"))
        empty_all = cat(empty, np.uint8)
        _save(tmp / "empty.npy", empty_all)
        band_keys = cat(keys, np.uint64)
        if near and clean_n:
            # Band entries of the records that can start a group: non-empty,
            # and first of their content hash in this shard.
            h = _concat_hashes(hashes)
            _, first = np.unique(h.view("V16").ravel(), return_index=True)
            starts = np.zeros(clean_n, dtype=bool)
            starts[first] = True
            starts &= empty_all == 0
            rec = np.repeat(np.arange(clean_n, dtype=np.uint32), bands)
            take = np.repeat(starts, bands)
            band_keys, rec = band_keys[take], rec[take]
            part = ((band_keys >> np.uint64(40)) & np.uint64(PARTITIONS - 1)).astype(np.int64)
            order = np.argsort(part, kind="stable")
            band_keys, rec, part = band_keys[order], rec[order], part[order]
            bounds = np.searchsorted(part, np.arange(PARTITIONS + 1))
        else:
            band_keys, rec = np.zeros(0, np.uint64), np.zeros(0, np.uint32)
            bounds = np.zeros(PARTITIONS + 1, dtype=np.int64)
        _save(tmp / "band_keys.npy", band_keys)
        _save(tmp / "band_rec.npy", rec)
        _save(tmp / "band_bounds.npy", bounds.astype(np.int64))
    return {
        INPUT_DIGEST: digest,
        "input_rows": input_rows,
        "quarantined": len(quarantined),
        "valid": valid,
        "clean": clean_n,
        "text_read": text_read,
        "media_set_aside": set_aside,
        # record format -> this input (curate --split refuses several at once)
        "formats": split_rows.formats if split_rows is not None else {},
    }


def _concat(parts: list[np.ndarray[Any, Any]], dtype: Any) -> np.ndarray[Any, Any]:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _concat_hashes(parts: list[np.ndarray[Any, Any]]) -> np.ndarray[Any, Any]:
    return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, 2), "<u8")


def _concat_files(
    paths: list[Path], dtype: Any, tail: tuple[int, ...] = (), add: list[int] | None = None
) -> np.ndarray[Any, Any]:
    """The arrays of ``paths`` one after the other (each plus ``add[i]``), as ``dtype``,
    with one file mapped at a time: a list of every shard's map held a descriptor per
    shard (Python's mmap keeps its own), and a folder of 300 inputs under a 200-file limit
    died with EMFILE."""
    sizes = [len(_np(path)) for path in paths]
    out = np.empty((sum(sizes), *tail), dtype)
    pos = 0
    for i, (path, size) in enumerate(zip(paths, sizes, strict=True)):
        part = _np(path)
        out[pos : pos + size] = part if add is None else part + add[i]
        pos += size
        del part  # its map and descriptor go now
    return out


# --------------------------------------------------------------------------- 2. groups


@dataclass
class Layout:
    """Where every shard's records start in the global (read) order."""

    counts: list[dict[str, Any]]
    clean_off: np.ndarray[Any, Any] = field(init=False)
    valid_off: np.ndarray[Any, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.clean_off = np.concatenate([[0], np.cumsum([c["clean"] for c in self.counts])])
        self.valid_off = np.concatenate([[0], np.cumsum([c["valid"] for c in self.counts])])


def layout(plan: Plan) -> Layout:
    counts = []
    for shard in plan.shards:
        c = done(plan.dir("sketch", f"{shard.index:05d}"))
        if c is None:
            # Every sketch task finished before this one started: their files are in
            # another folder than the one this node sees at the same path.
            from curagate.build import where

            raise InputError(
                f"--work-dir {plan.work}: {where()} does not see the files other nodes wrote "
                f"there (the sketch of {shard.name}); the work folder must be on a file system "
                "every node shares, at the same path"
            )
        counts.append(c)
    return Layout(counts)


def groups(plan: Plan) -> dict[str, Any]:
    """Exact groups (stage 2): group ids in order of first occurrence."""
    return _task(
        plan.dir("groups"), _identity(plan, "groups", None), lambda tmp: _groups(plan, tmp)
    )


def _groups(plan: Plan, tmp: Path) -> dict[str, Any]:
    lay = layout(plan)
    hashes = _concat_files(
        [plan.dir("sketch", f"{s.index:05d}", "hashes.npy") for s in plan.shards], "<u8", (2,)
    )
    n = len(hashes)
    if n:
        _, first, inverse = np.unique(
            hashes.view("V16").ravel(), return_index=True, return_inverse=True
        )
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(first), dtype=np.uint32)
        rank[order] = np.arange(len(first), dtype=np.uint32)
        record_group = rank[inverse.ravel()]
        group_first = first[order].astype(np.int64)
    else:
        record_group = np.zeros(0, np.uint32)
        group_first = np.zeros(0, np.int64)
    shard_of = (np.searchsorted(lay.clean_off, group_first, side="right") - 1).astype(np.uint32)
    local = (group_first - lay.clean_off[shard_of]).astype(np.uint32)
    _save(tmp / "record_group.npy", record_group)
    _save(tmp / "group_first.npy", group_first)
    _save(tmp / "group_shard.npy", shard_of)
    _save(tmp / "group_local.npy", local)
    return {"records": n, "groups": len(group_first)}


def _raw(path: Path, dtype: str) -> np.ndarray[Any, Any]:
    """A raw little-endian array file, memory-mapped (numpy cannot map 0 bytes)."""
    if path.stat().st_size == 0:
        return np.zeros(0, dtype)
    return np.memmap(path, dtype=dtype, mode="r")


def _shard_data(plan: Plan) -> tuple[list[Any], list[Any]]:
    """Per shard: verification data offsets (u64, one more than records) and words (u32)."""
    dirs = [plan.dir("sketch", f"{s.index:05d}") for s in plan.shards]
    return [_raw(d / "offsets.bin", "<u8") for d in dirs], [
        _raw(d / "data.bin", "<u4") for d in dirs
    ]


# --------------------------------------------------------------------------- 3. bucket


def bucket(plan: Plan, partition: int) -> dict[str, Any]:
    """Candidate pairs of one band partition and the verdicts the replay can need (stage 3)."""
    task = f"{partition:02d}"
    return _task(
        plan.dir("bucket", task),
        _identity(plan, "bucket", task),
        lambda tmp: _bucket(plan, partition, tmp),
    )


# Bytes one band entry costs while its sub-partition's candidate pairs are
# made: the u64 key and u32 group in numpy, then a (u64, u32) tuple (16 bytes
# with padding) in the core's sort.
ENTRY_COST = 28
READ_CHUNK = 1 << 20  # band entries read from a shard's files at a time
MAX_SUBPARTITIONS = 1 << 12


def subpartitions(raw_entries: int, memory_budget: int) -> int:
    """How many key ranges a partition is cut into so that one range's entries
    fit half the task's ``memory_budget`` (a power of two; 1: no spill)."""
    share = max(memory_budget // 2, 1 << 12)
    need = -(-raw_entries * ENTRY_COST // share)
    return min(1 << max(need - 1, 0).bit_length(), MAX_SUBPARTITIONS)


def _bucket(plan: Plan, p: int, tmp: Path) -> dict[str, Any]:
    from curagate import _core

    lay = layout(plan)
    g = plan.dir("groups")
    record_group, group_first = _np(g / "record_group.npy"), _np(g / "group_first.npy")
    sketches = [plan.dir("sketch", f"{s.index:05d}") for s in plan.shards]
    ranges = []
    for i, d in enumerate(sketches):
        bounds = _np(d / "band_bounds.npy")
        ranges.append((i, d, int(bounds[p]), int(bounds[p + 1])))
    raw = sum(hi - lo for _, _, lo, hi in ranges)
    # Buckets are equal keys, so cutting the partition by more key bits (above
    # the 6 partition bits) keeps every bucket whole: each range gives its own
    # candidate pairs, and their sorted union is the partition's, unchanged.
    subs = subpartitions(raw, plan.cfg.memory_budget)
    spill = tmp / "spill"
    held: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    entries = 0
    for i, d, lo, hi in ranges:
        for start in range(lo, hi, READ_CHUNK):
            end = min(start + READ_CHUNK, hi)
            k = np.asarray(_np(d / "band_keys.npy")[start:end])
            rec = np.asarray(_np(d / "band_rec.npy")[start:end]).astype(np.int64)
            rec += int(lay.clean_off[i])
            grp = np.asarray(record_group[rec])
            first = np.asarray(group_first[grp]) == rec  # only a group's first record has entries
            k, grp = k[first], grp[first].astype(np.uint32)
            entries += len(k)
            # Random reads map pages of these per-record files: drop them so
            # they do not pile up in RSS over the chunks (they stay in the page cache).
            _drop_pages(record_group, group_first)
            if subs == 1:
                held.append((k, grp))
                continue
            sub = ((k >> np.uint64(46)) & np.uint64(subs - 1)).astype(np.int64)
            order = np.argsort(sub, kind="stable")
            k, grp, sub = k[order], grp[order], sub[order]
            cuts = np.searchsorted(sub, np.arange(subs + 1))
            spill.mkdir(exist_ok=True)
            for nonempty in np.flatnonzero(np.diff(cuts)).tolist():
                a, b = int(cuts[nonempty]), int(cuts[nonempty + 1])
                with (spill / f"{nonempty:04d}.keys").open("ab") as f:
                    f.write(k[a:b].tobytes())
                with (spill / f"{nonempty:04d}.groups").open("ab") as f:
                    f.write(grp[a:b].tobytes())
    runs: list[np.ndarray[Any, Any]] = []
    if subs == 1:
        k_all = _concat([k for k, _ in held], np.uint64)
        g_all = _concat([grp for _, grp in held], np.uint32)
        del held
        pairs = np.frombuffer(_core.dedup_candidate_pairs(k_all, g_all), dtype="<u4")
        del k_all, g_all
    else:
        for j in range(subs):
            keys_file = spill / f"{j:04d}.keys"
            if not keys_file.is_file():
                continue
            k_sub = np.fromfile(keys_file, dtype="<u8")
            g_sub = np.fromfile(spill / f"{j:04d}.groups", dtype="<u4")
            got = np.frombuffer(_core.dedup_candidate_pairs(k_sub, g_sub), dtype="<u8")
            runs.append(got.copy())  # (a, b) pairs as one little-endian u64: b << 32 | a
            del k_sub, g_sub
        shutil.rmtree(spill, ignore_errors=True)
        # Sorted by (a, b) and deduplicated across the ranges, as the one-pass
        # rule makes them (a pair can come from buckets in several ranges).
        merged = _concat(runs, np.uint64)
        del runs
        if len(merged):
            packed = (merged << np.uint64(32)) | (merged >> np.uint64(32))  # a << 32 | b
            packed = np.unique(packed)
            merged = ((packed & np.uint64(0xFFFFFFFF)) << np.uint64(32)) | (packed >> np.uint64(32))
        pairs = merged.astype("<u8").view("<u4")
    offsets, data = _shard_data(plan)
    dedup = _deduper(plan)
    verdicts = np.frombuffer(
        _core.dedup_verify_pairs(
            pairs,
            _np(g / "group_shard.npy"),
            _np(g / "group_local.npy"),
            offsets,
            data,
            verify=plan.cfg.near.verify,
            words_per_value=dedup._core.words_per_value,
            threshold=plan.cfg.near.threshold,
            threads=plan.threads,
            # The sets, offsets and group arrays are file maps (_raw, _np): the pages
            # a slice of pairs read are dropped after it, or the whole corpus's sets
            # would end up in this task's RSS.
            relieve_maps=True,
        ),
        dtype=np.uint8,
    )
    _save(tmp / "pairs.npy", pairs)
    _save(tmp / "verdicts.npy", verdicts)
    return {"entries": entries, "candidates": len(pairs) // 2, "subpartitions": subs}


# --------------------------------------------------------------------------- 4. cluster


def cluster(plan: Plan) -> dict[str, Any]:
    """Union-find over the verdicts and survivors by priority (stage 4, one node)."""
    return _task(
        plan.dir("cluster"), _identity(plan, "cluster", None), lambda tmp: _cluster(plan, tmp)
    )


def _cluster(plan: Plan, tmp: Path) -> dict[str, Any]:
    from curagate import _core

    cfg = plan.cfg
    lay = layout(plan)
    g = plan.dir("groups")
    record_group = np.asarray(_np(g / "record_group.npy")).astype(np.int64)
    group_first = np.asarray(_np(g / "group_first.npy"))
    n, n_groups = len(record_group), len(group_first)
    dedup = _deduper(plan)
    bands, rows = dedup.bands_rows
    sketches = [plan.dir("sketch", f"{s.index:05d}") for s in plan.shards]
    priority = _concat_files([d / "priority.npy" for d in sketches], np.float64)
    empty = _concat_files([d / "empty.npy" for d in sketches], np.uint8)
    group_empty = empty[group_first] != 0 if cfg.near.enabled else np.ones(n_groups, bool)

    if cfg.near.enabled:
        pair_list, verdict_list = [], []
        for p in range(PARTITIONS):
            b = plan.dir("bucket", f"{p:02d}")
            info = done(b)
            if info is None:
                raise RuntimeError(f"bucket {p} is not done")
            pair_list.append(np.asarray(_np(b / "pairs.npy")))
            verdict_list.append(np.asarray(_np(b / "verdicts.npy")))
        replay = _core.dedup_replay_union(n_groups, pair_list, verdict_list)
        roots = np.frombuffer(replay.roots, dtype="<u4").astype(np.int64)
        candidates, verified = replay.candidate_pairs, replay.verified_pairs
        rejected = replay.rejected_pairs
    else:
        roots = np.arange(n_groups, dtype=np.int64)
        candidates = verified = rejected = 0

    idx = np.arange(n, dtype=np.int64)
    neg = -priority
    cluster_of = roots[record_group] if n else np.zeros(0, np.int64)
    best_in_cluster = _best(cluster_of, neg, idx, n_groups)
    survivor = best_in_cluster[cluster_of] if n else np.zeros(0, np.int64)
    survivor_group = record_group[survivor] if n else np.zeros(0, np.int64)
    status = np.full(n, 1, dtype=np.uint8)
    status[survivor == idx] = 0
    # As the streaming deduper: only copies of the survivor are exact; every other
    # removed record (exact copies of a near-removed one too) is near, at its group's
    # similarity to the survivor.
    near = (survivor != idx) & (record_group != survivor_group)
    status[near] = 2
    similarity = np.ones(n, dtype=np.float32)
    if near.any():
        pairs = np.stack([record_group[near], survivor_group[near]], axis=1).astype("<u4")
        offsets, data = _shard_data(plan)
        sims = _core.dedup_verify_pairs(
            pairs.ravel(),
            _np(g / "group_shard.npy"),
            _np(g / "group_local.npy"),
            offsets,
            data,
            verify=cfg.near.verify,
            words_per_value=dedup._core.words_per_value,
            threshold=cfg.near.threshold,
            similarity=True,
            threads=plan.threads,
        )
        similarity[near] = np.frombuffer(sims, dtype="<f4")
    sizes = np.bincount(roots, minlength=n_groups) if n_groups else np.zeros(0, np.int64)
    stats = {
        "records": n,
        "distinct": n_groups,
        "exact_removed": int((status == 1).sum()),
        "near_removed": int((status == 2).sum()),
        "near_clusters": int((sizes > 1).sum()),
        "empty_keys": int(group_empty.sum()) if cfg.near.enabled else 0,
        "candidate_pairs": int(candidates),
        "verified_pairs": int(verified),
        "rejected_pairs": int(rejected),
        "bands": bands,
        "rows": rows,
    }
    # Survivors as read-order indices over every valid record (leaked ones too).
    positions = _concat_files(
        [d / "clean_pos.npy" for d in sketches],
        np.int64,
        add=[int(lay.valid_off[i]) for i in range(len(sketches))],
    )
    survivor_valid = positions[survivor] if n else np.zeros(0, np.int64)
    for i, shard in enumerate(plan.shards):
        lo, hi = int(lay.clean_off[i]), int(lay.clean_off[i + 1])
        _save(tmp / f"status-{shard.index:05d}.npy", status[lo:hi])
        _save(tmp / f"survivor-{shard.index:05d}.npy", survivor_valid[lo:hi])
        _save(tmp / f"similarity-{shard.index:05d}.npy", similarity[lo:hi])
    return {"stats": stats}


def _best(
    key: np.ndarray[Any, Any], neg_priority: np.ndarray[Any, Any], idx: np.ndarray[Any, Any], m: int
) -> np.ndarray[Any, Any]:
    """Per key value: the record with the highest priority, ties to the earliest."""
    best = np.full(m, -1, dtype=np.int64)
    if len(key) == 0:
        return best
    order = np.lexsort((idx, neg_priority, key))
    k = key[order]
    first = np.concatenate([[True], k[1:] != k[:-1]])
    best[k[first]] = order[first]
    return best


# --------------------------------------------------------------------------- 5. filter


def filter_shard(plan: Plan, shard: Shard) -> dict[str, Any]:
    """Kept / removed rows, cluster rows and counts of one shard (stage 5)."""
    task = f"{shard.index:05d}"
    return _task(
        plan.dir("filter", task),
        _identity(plan, "filter", task, shard),
        lambda tmp: _filter(plan, shard, tmp),
    )


def _filter(plan: Plan, shard: Shard, tmp: Path) -> dict[str, Any]:
    check_same_bytes(plan, shard, _open(plan, shard))
    cfg = plan.cfg
    lay = layout(plan)
    i = plan.shards.index(shard)
    s = plan.dir("sketch", f"{shard.index:05d}")
    meta = pq.read_table(s / "meta.parquet")
    ids = meta.column("id").combine_chunks()
    n = len(ids)
    clean_pos = np.asarray(_np(s / "clean_pos.npy"))
    leaking = "leaked" in meta.column_names
    clean_mask = np.zeros(n, dtype=bool)
    clean_mask[clean_pos] = True
    clean = pa.array(clean_mask)
    if plan.dedup:
        c = plan.dir("cluster")
        status = np.asarray(_np(c / f"status-{shard.index:05d}.npy"))
        survivors = np.asarray(_np(c / f"survivor-{shard.index:05d}.npy"))
        similarity = pa.array(np.asarray(_np(c / f"similarity-{shard.index:05d}.npy")))
        table = STATUS_NAMES if cfg.exact.enabled else ("kept", "near", "near")
        names = pc.take(pa.array(table), pa.array(status))
    else:
        survivors = clean_pos + int(lay.valid_off[i])
        names = pa.repeat(pa.scalar("kept"), len(clean_pos))
        similarity = pa.repeat(pa.scalar(1.0, pa.float32()), len(clean_pos))
    kept_ids = _ids_at(plan, lay, survivors)
    reason = pc.replace_with_mask(pa.repeat(pa.scalar("leakage"), n), clean, names)
    cluster_id = pc.replace_with_mask(
        pa.nulls(n, pa.int64()), clean, pa.array(survivors, pa.int64())
    )
    kept_id = pc.replace_with_mask(pa.nulls(n, pa.string()), clean, kept_ids)
    sim = pc.replace_with_mask(pa.nulls(n, pa.float32()), clean, similarity)
    if leaking:
        ref_ids = meta.column("leaked_reference_id").combine_chunks()
        methods = meta.column("leak_method").combine_chunks()

    kept_w, removed_w = ShardWriter(tmp / "kept"), ShardWriter(tmp / "removed")
    clusters = None
    kept_total = 0
    removed: dict[str, int] = {}
    start = 0
    for batch in _read(plan, shard):
        n_rows = batch.table.num_rows
        if n_rows == 0:
            continue
        # Mirrors curate.curate's pass 2 row for row: the byte-identity tests
        # compare the two.
        status_s = reason.slice(start, n_rows)
        kept_mask = pc.equal(status_s, "kept")
        kept_w.write(batch.source_index, batch.table.filter(kept_mask))
        kept_count = pc.sum(pc.cast(kept_mask, pa.int64())).as_py() or 0
        kept_total += kept_count
        cluster_s = cluster_id.slice(start, n_rows)
        if kept_count < n_rows:
            meta_cols = {
                "record_id": batch.ids,
                "source_file": pa.repeat(pa.scalar(batch.source), n_rows),
                "source_row": batch.rows,
                "reason": status_s,
                "cluster_id": cluster_s,
                "kept_id": kept_id.slice(start, n_rows),
                "similarity": sim.slice(start, n_rows),
            }
            if leaking:
                meta_cols["leaked_reference_id"] = ref_ids.slice(start, n_rows)
                meta_cols["leak_method"] = methods.slice(start, n_rows)
            rem = batch.table
            for name, column in meta_cols.items():
                rem = rem.append_column(meta_name(name, rem.column_names), column)
            removed_mask = pc.invert(kept_mask)
            removed_w.write(batch.source_index, rem.filter(removed_mask))
            for item in pc.value_counts(status_s.filter(removed_mask)).to_pylist():
                removed[item["values"]] = removed.get(item["values"], 0) + item["counts"]
        part = pa.table(
            {
                "record_id": batch.ids,
                "source_file": pa.repeat(pa.scalar(batch.source), n_rows),
                "source_row": batch.rows,
                "status": status_s,
                "cluster_id": cluster_s,
            }
        )
        if clusters is None:
            clusters = pq.ParquetWriter(tmp / "clusters.parquet", part.schema)
        clusters.write_table(part)  # one row group per batch: read back as the same chunks
        start += n_rows
    kept_w.close()
    removed_w.close()
    if clusters is not None:
        clusters.close()
    if start != n:
        raise InputError(
            f"{shard.name}: the filter read {start} valid records, the sketch {n}: the input "
            "changed while curate ran; run again once nothing writes to the inputs"
        )
    rows = {p.relative_to(tmp).as_posix(): r for p, r in {**kept_w.rows, **removed_w.rows}.items()}
    return {"kept": kept_total, "removed": dict(sorted(removed.items())), "rows": rows}


def _ids_at(plan: Plan, lay: Layout, positions: np.ndarray[Any, Any]) -> pa.Array:
    """Record ids at global read-order positions (they may be in other shards):
    each shard's ids are read once, for all the positions that fall in it."""
    if len(positions) == 0:
        return pa.array([], pa.string())
    shard_of = np.searchsorted(lay.valid_off, positions, side="right") - 1
    order = np.argsort(shard_of, kind="stable")
    sorted_shards = shard_of[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_shards[1:] != sorted_shards[:-1]]))
    bounds = [*starts.tolist(), len(order)]
    parts: list[pa.Array] = []
    for lo, hi in itertools.pairwise(bounds):
        j = int(sorted_shards[lo])
        d = plan.dir("sketch", f"{plan.shards[j].index:05d}")
        ids = pq.read_table(d / "meta.parquet", columns=["id"]).column(0).combine_chunks()
        local = positions[order[lo:hi]] - int(lay.valid_off[j])
        parts.append(pc.take(ids, pa.array(local)))
    gathered = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order), dtype=np.int64)
    return pc.take(gathered, pa.array(inverse))


def check_supported(cfg: CurateConfig) -> None:
    if cfg.semantic.enabled:
        # Its FAISS search holds every kept record's embedding in one index: spread
        # over tasks it would need a sharded neighbour search and a cluster merge.
        raise ConfigError(
            "semantic dedup runs on one machine only, not in the staged pipeline "
            "(--executor ray, --work-dir, fsspec URLs); run --semantic with --executor local "
            "on local paths, or curate the kept output of this run again with --semantic "
            "(docs/curate.md#executors-local-and-ray)"
        )
    if cfg.filters:
        raise ConfigError(
            "quality filters (filters:) run in the one-process pipeline only for now, not "
            "in the staged one (--executor ray, --work-dir, fsspec URLs); run on local paths "
            "without --work-dir and --executor ray, or remove filters: from the config"
        )
