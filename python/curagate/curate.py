"""`curagate curate`: read, validate, normalize, deduplicate and write.

Two passes over the inputs keep memory bounded: pass 1 streams every batch
into the Rust deduper (and holds the valid tables while the inputs fit in the
memory budget); pass 2 routes each row to ``kept/`` or ``removed/``, each
written in a thread of its own. Outputs are built in a temporary directory and
renamed into place, so an interrupted run never looks complete.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from curagate._lazy import lazy_import, settle_pyarrow, settling_pyarrow
from curagate.errors import ConfigError, InputError, no_records, text_field_unused

# The config, the steps and the artifacts are pydantic models (the pipeline package
# too), the readers and writers bring zstandard, shutil and hashlib: all are imported
# in the functions that run, so `import curagate.curate` costs little more than the
# package (docs/architecture.md, "Start-up").
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from curagate.config import CurateConfig
    from curagate.digest import FileState
    from curagate.io.ahead import ReadAhead
    from curagate.io.readers import Unreadable
    from curagate.pipeline.step import Step
    from curagate.pipeline.write import ShardWriter
    from curagate.records import Batch, Quarantined
    from curagate.split import SplitResult
else:
    pa = lazy_import("pyarrow")
    pc = lazy_import("pyarrow.compute")
    pq = lazy_import("pyarrow.parquet")

STATS_SCHEMA_VERSION = 1
RUNTIME_ONLY = {"threads", "memory_budget", "spill_dir"}
# The removal reasons the dedup rate counts (not a filter's, leakage's or the split's).
DEDUP_REASONS = ("exact", "near", "semantic")

# Opt-in phase timings for bench/curate_phases.py: with CURAGATE_PHASES=1 in the
# environment at import, each run appends (phase, perf_counter, process_time,
# minor page faults so far) as it leaves a phase; otherwise the hook is one bool
# test per phase.
PHASES: list[tuple[str, float, float, int]] = []
_PHASES_ON = os.environ.get("CURAGATE_PHASES") == "1"


def _phase(name: str) -> None:
    if _PHASES_ON:
        import resource

        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        PHASES.append((name, time.perf_counter(), time.process_time(), faults))


@dataclass
class SourceCounts:
    file: str
    input_rows: int = 0
    quarantined: int = 0
    kept: int = 0
    removed: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "input_rows": self.input_rows,
            "quarantined": self.quarantined,
            "kept": self.kept,
            "removed": dict(sorted(self.removed.items())),
        }


@dataclass(frozen=True)
class CurateResult:
    out: Path
    input_rows: int
    kept: int
    removed: dict[str, int]
    quarantined: int
    stats: dict[str, Any]
    seconds: float
    runtime: dict[str, Any] = field(default_factory=dict)  # facts that may differ between reruns
    split: SplitResult | None = None

    @classmethod
    def of(
        cls,
        out: Path,
        stats: dict[str, Any],
        started: float,
        runtime: dict[str, Any],
        split: SplitResult | None = None,
    ) -> CurateResult:
        """The result of a run that wrote ``stats`` (``started``: its perf_counter start)."""
        totals = stats["totals"]
        return cls(
            out=out,
            input_rows=totals["input_rows"],
            kept=totals["kept"],
            removed=totals["removed"],
            quarantined=totals["quarantined"],
            stats=stats,
            seconds=time.perf_counter() - started,
            runtime=runtime,
            split=split,
        )

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())

    @property
    def dedup_rate(self) -> float:
        valid = self.input_rows - self.quarantined
        dups = sum(self.removed.get(r, 0) for r in DEDUP_REASONS)
        return dups / valid if valid else 0.0


# The command-line option of each override, as errors about its value name it.
OPTION_OF = {
    "threads": "--threads",
    "format": "--format",
    "text_field": "--text-field",
    "near.threshold": "--near-threshold",
    "near.ngram": "--ngram",
    "decontaminate.reference": "--decontaminate",
    "semantic.threshold": "--semantic-threshold",
    "semantic.model": "--embed-model",
    "keep.policy": "--keep",
    "keep.score_column": "--score-column",
    "split.ratios": "--ratios",
    "split.label": "--label",
}


def resolve_config(
    config: str | os.PathLike[str] | CurateConfig | None, **overrides: Any
) -> CurateConfig:
    """A config file (or object) with dotted-key overrides (``near.threshold``)."""
    from pydantic import ValidationError

    from curagate.config import CurateConfig, bounds_of, load_model, validate_model

    base = (
        config
        if isinstance(config, CurateConfig)
        else (load_model(config, CurateConfig) if config is not None else CurateConfig())
    )
    data = base.model_dump()
    for key, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    source = (
        str(config) if config is not None and not isinstance(config, CurateConfig) else "options"
    )
    try:
        cfg = CurateConfig.model_validate(data)
    except ValidationError as e:
        # The file (or object) was valid alone: the value of an option is not. Named as
        # the option and what it takes; it was "options (with command-line options):
        # near.threshold: Input should be less than or equal to 1" for --near-threshold 1.5.
        for err in e.errors():
            key = ".".join(map(str, err["loc"]))
            value = overrides.get(key)
            if value is None or key not in OPTION_OF:
                continue
            shown = f" {value}" if isinstance(value, int | float | str) else ""
            bounds = bounds_of(CurateConfig, err["loc"])
            what = f"must be {bounds}" if bounds else err["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{OPTION_OF[key]}{shown}: {what} (config key {key})") from None
        cfg = validate_model(data, CurateConfig, source=f"{source} (with command-line options)")
    # Options of a step that is off were silently unused (stats.json even recorded them).
    for options, off, fix in (
        (
            {"semantic.model": "--embed-model", "semantic.threshold": "--semantic-threshold"},
            not cfg.semantic.enabled,
            "the semantic step is off; add --semantic (semantic.enabled: true in the config)",
        ),
        (
            {"split.ratios": "--ratios", "split.label": "--label"},
            not cfg.split.enabled,
            "no split is made; add --split (split.enabled: true in the config)",
        ),
        (
            {"near.threshold": "--near-threshold", "near.ngram": "--ngram"},
            not cfg.near.enabled,
            "near dedup is off (--no-near, or near.enabled: false in the config); drop --no-near",
        ),
        (
            {"keep.score_column": "--score-column"},
            cfg.keep.policy != "score",
            "the survivor policy is not score; add --keep score (keep.policy: score)",
        ),
    ):
        idle = [
            f"{flag} ({key})" for key, flag in options.items() if overrides.get(key) is not None
        ]
        if idle and off:
            raise ConfigError(f"{' and '.join(idle)} given, but {fix} or drop them")
    return cfg


def _read_besides(
    config: str | os.PathLike[str] | CurateConfig | None, cfg: CurateConfig
) -> list[tuple[str, str | os.PathLike[str]]]:
    """What a run reads (or writes) besides its inputs and output: the config file, the
    decontamination references and the embedding cache (an --out holding one would delete
    it; a cache inside --out was a change to --out no other run made, exit 2 after all
    the work)."""
    from curagate.config import CurateConfig

    keep = references_read(cfg)
    if cfg.semantic.enabled and cfg.semantic.cache_dir:
        keep.append(("semantic.cache_dir", cfg.semantic.cache_dir))
    if config is not None and not isinstance(config, CurateConfig):
        keep.append(("--config file", config))
    return keep


def references_read(cfg: CurateConfig) -> list[tuple[str, str | os.PathLike[str]]]:
    """What a run reads records from besides its inputs, as (what, path): its
    --decontaminate references (an --out inside one would be read back by the next run,
    one holding one would delete it)."""
    return [("--decontaminate reference", ref) for ref in cfg.decontaminate.reference]


def curate(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | CurateConfig | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> CurateResult:
    """Curate ``inputs`` into ``out``. Keyword ``overrides`` use dotted config
    keys with ``.`` written as ``__`` (``near__threshold=0.8``).

    ``executor="ray"`` (or an fsspec URL among ``inputs`` / ``out``) runs the
    staged pipeline of :mod:`curagate.pipeline.distributed`: same bytes out."""
    early = _take_early_read()
    try:
        return _curate(
            inputs,
            out,
            config,
            threads,
            progress,
            executor,
            ray_address,
            work_dir,
            early,
            overrides,
        )
    finally:
        if early is not None:
            early.reader.close()  # unused (another read was asked for) or done: no-op


def _curate(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    config: str | os.PathLike[str] | CurateConfig | None,
    threads: int | None,
    progress: bool | None,
    executor: str | None,
    ray_address: str | None,
    work_dir: str | os.PathLike[str] | None,
    early: _EarlyRead | None,
    overrides: dict[str, Any],
) -> CurateResult:
    from curagate.config import CurateConfig
    from curagate.digest import file_state
    from curagate.io.atomic import atomic_path
    from curagate.io.outputs import check_output, check_replaceable
    from curagate.io.readers import scan_inputs
    from curagate.pipeline.write import ShardWriter, meta_name, write_pool, write_quarantine
    from curagate.records import RecordFormat

    started = time.perf_counter() if early is None else early.started
    _phase("start")
    cfg = resolve_config(
        config, threads=threads, **{k.replace("__", "."): v for k, v in overrides.items()}
    )
    staged = executor not in (None, "local") or work_dir is not None or _any_url(inputs, out)
    # The CLI's pyarrow runs without numpy (~0.1 s of import, and BLAS threads) unless a
    # step hands Arrow data to numpy: the semantic step, the staged pipeline's stage files.
    settle_pyarrow(numpy=staged or cfg.semantic.enabled)
    if staged:
        from curagate.pipeline.distributed import run

        result: CurateResult = run(
            inputs,
            out,
            cfg,
            executor=executor or "local",
            ray_address=ray_address,
            work_dir=work_dir,
            besides=_read_besides(config, cfg),
        )
        return result
    paths, skipped = scan_inputs(inputs, skip_unreadable=cfg.skip_unreadable)
    key = _ReadKey.of(
        paths, skipped, cfg.format, cfg.text_field, cfg.preference_key, cfg.batch_rows
    )
    # The inputs as the read starts (the early read's, when it is this read): pass 1 must
    # end on the same files, and pass 2 may read them again (past the memory budget).
    if early is not None and early.key == key:
        first_seen = early.states
    else:
        first_seen = [file_state(p) for p in paths]
    out_dir = Path(out)
    claim = check_output(
        out_dir, "curate", inputs, paths, _read_besides(config, cfg), references_read(cfg)
    )
    if progress is None:
        from curagate.progress import enabled

        show = enabled()
    else:
        show = progress

    sources = [SourceCounts(p.as_posix()) for p in paths]
    quarantined: list[Quarantined] = []
    # Pass 1: validate, key, and show every step each batch (a row one step
    # removes is not alive for the next).
    # Inputs larger than the budget are read twice from the start: holding their
    # first tables only to drop them would raise the peak for nothing.
    held: list[_Held] | None = [] if _input_bytes(paths) <= cfg.memory_budget else None
    held_bytes = 0
    id_chunks: list[pa.Array] = []
    valid = 0
    text_read = False  # a file read as text records (with a text_field: by it)
    # Batch k+1 is parsed in a thread while the core sketches batch k (both release
    # the GIL): one batch more alive, for a pass that uses both cores. The first batch
    # is parsed while the steps are imported and built (from the CLI, mostly while
    # the config loaded: read_early).
    with _reading(key, cfg.threads, early) as reading:
        from curagate.pipeline.build import build_steps
        from curagate.pipeline.dedup import keep_priorities
        from curagate.pipeline.step import Fates, Rows

        steps = build_steps(
            cfg,
            source=str(config)
            if config is not None and not isinstance(config, CurateConfig)
            else "options",
        )
        for batch in _progress(reading, show, "reading", None):
            src = sources[batch.source_index]
            src.input_rows += batch.input_rows
            text_read |= batch.format is RecordFormat.TEXT
            src.quarantined += len(batch.quarantined)
            quarantined.extend(batch.quarantined)
            n = batch.table.num_rows
            if n == 0:
                continue
            id_chunks.append(batch.ids)
            alive = pa.repeat(pa.scalar(True), n)
            rows = Rows(batch, batch.keys, keep_priorities(batch, cfg), alive)
            for step in steps:
                removed = step.scan(rows)
                if removed is not None:
                    alive = pc.and_(alive, pc.invert(removed))
                    rows = Rows(batch, rows.keys, rows.priorities, alive)
            valid += n
            if held is not None:
                held_bytes += batch.table.nbytes
                if held_bytes > cfg.memory_budget:
                    held = None  # too big to hold: pass 2 re-reads the inputs
                else:
                    held.append(_Held.of(batch))  # without its keys: pass 2 needs none
            # Let go of the batch (its keys are as large as its text) before the one
            # after the next is read, not after.
            del batch, rows, alive

    input_rows = sum(s.input_rows for s in sources)
    if input_rows == 0:
        raise InputError(no_records(paths))
    if cfg.text_field is not None and not text_read:
        # Each file was read in the format its columns give: the option did nothing.
        raise InputError(text_field_unused(cfg.text_field))

    # Every input must still be the file pass 1 started reading (both paths: a file cut or
    # appended to while it was read had its first part deduplicated as the whole of it).
    _check_unchanged(paths, first_seen)
    _phase("pass1")
    ids = pa.chunked_array(id_chunks, pa.string()).combine_chunks()
    del id_chunks  # combined: a copy
    fates = Fates.everyone_kept(ids)
    for step in steps:
        fates = step.finish(fates, ids)

    _phase("dedup")
    # Pass 2 allocates from jemalloc, not mimalloc's huge pages (write_pool; the CLI also
    # turns those off for the whole process, a library caller's process keeps them).
    with (
        atomic_path(
            out_dir, replaceable=lambda t: check_replaceable(t, "curate"), claim=claim
        ) as tmp,
        write_pool(),
    ):
        tmp.mkdir()
        kept_w, removed_w = ShardWriter(tmp / "kept"), ShardWriter(tmp / "removed")
        # clusters.parquet's columns per batch; the table is built after the
        # batches are gone (its source_file column is one string per row).
        cluster_parts: list[tuple[str, pa.Array, pa.Array, pa.Array, pa.Array]] = []
        digests: dict[Path, str] = {}  # sha256 of the files the lanes wrote, for the manifest
        rereading = held is None
        batches = _drain(held) if held is not None else _reread(key.read())
        held = None
        start = 0
        # Each output's rows are filtered and written in a thread of its own (Arrow
        # releases the GIL), in batch order, so the files are the same bytes.
        with _Lanes(2 if cfg.threads != 1 else 0) as lanes:
            # The Parquet module (~20 ms to import, its filesystems with it) is loaded
            # by the removed/ lane while the kept/ lane filters its first batch.
            lanes.submit(1, importlib.import_module, "pyarrow.parquet")
            for batch in _progress(batches, show, "writing", valid):
                n = batch.table.num_rows
                # The ids pass 1 kept (a re-read batch's own are the same values).
                batch_ids = ids.slice(start, n)
                status = fates.reason.slice(start, n)
                kept_mask = pc.equal(status, "kept")
                lanes.submit(0, _write_rows, kept_w, batch.source_index, [batch.table, kept_mask])
                src = sources[batch.source_index]
                kept_count = kept_mask.true_count
                src.kept += kept_count
                cluster_id = fates.cluster_id.slice(start, n)
                if kept_count < n:
                    meta = {
                        "record_id": batch_ids,
                        "source_file": pa.repeat(pa.scalar(batch.source), n),
                        "source_row": batch.rows,
                        "reason": status,
                        "cluster_id": cluster_id,
                        "kept_id": fates.kept_ids(ids, start, n),
                        "similarity": fates.similarity.slice(start, n),
                        **{name: col.slice(start, n) for name, col in fates.extra.items()},
                    }
                    removed_rows = batch.table
                    for name, column in meta.items():
                        removed_rows = removed_rows.append_column(
                            meta_name(name, removed_rows.column_names), column
                        )
                    removed_mask = pc.invert(kept_mask)
                    lanes.submit(
                        1, _write_rows, removed_w, batch.source_index, [removed_rows, removed_mask]
                    )
                    del removed_rows
                    for item in pc.value_counts(status.filter(removed_mask)).to_pylist():
                        src.removed[item["values"]] = (
                            src.removed.get(item["values"], 0) + item["counts"]
                        )
                cluster_parts.append((batch.source, batch_ids, batch.rows, status, cluster_id))
                start += n
                del batch  # the lanes hold what they still need
            # Each lane closes its files and hashes them for the manifest while the
            # other still writes; clusters.parquet goes to the lighter lane (removed/).
            lanes.submit(0, _close_and_hash, kept_w, digests)
            lanes.submit(1, _close_and_hash, removed_w, digests)
            lanes.submit(1, _write_clusters, tmp / "clusters.parquet", cluster_parts, digests)
            del cluster_parts
        _phase("lanes")
        if rereading:
            _check_unchanged(paths, first_seen)
        if start != valid:  # changed and changed back, or kept its size, inode and time
            raise InputError(
                f"pass 2 read {start} valid records, pass 1 read {valid}: an input changed "
                "while curate ran; run again once nothing writes to the inputs"
            )
        write_quarantine(tmp / "quarantine.jsonl", quarantined)
        stats = build_stats(cfg, sources, steps, skipped)
        rows_written = {
            **kept_w.rows,
            **removed_w.rows,
            tmp / "clusters.parquet": start,
            tmp / "quarantine.jsonl": len(quarantined),
        }
        _phase("stats")
        split_result = seal(steps, tmp, out_dir, stats, rows_written, digests)
        _phase("seal")
    _phase("rename")
    runtime: dict[str, Any] = {}
    for step in steps:
        runtime.update(step.runtime())
    return CurateResult.of(out_dir, stats, started, runtime, split_result)


def seal(
    steps: Sequence[Step],
    tmp: Path,
    out_dir: Path,
    stats: dict[str, Any],
    rows: dict[Path, int],
    digests: Mapping[Path, str] | None = None,
) -> SplitResult | None:
    """Finish an output folder still under its temporary name (one-process and staged
    runs alike): stats through their contract, the manifest, each step's files (the
    split), the marker. ``digests``: sha256 of files already hashed once closed.

    Everything is built inside the temporary folder, so a run killed at any point
    leaves the previous output or the whole new one.
    """
    from curagate.artifacts import CurateStats, validated, write_artifact
    from curagate.io.outputs import write_marker
    from curagate.pipeline.write import write_manifest

    write_artifact(validated(CurateStats, stats, what="stats.json"), tmp / "stats.json")
    split_result: SplitResult | None = None
    for step in steps:
        result = step.seal(tmp, out_dir, stats)
        if result is not None:  # the split step's SplitResult (the others give none)
            split_result = result
    # The manifest comes last: it covers every file, the steps' (splits/) too.
    rows = dict(rows)
    if split_result is not None:
        splits = tmp / "splits"
        for name, count in split_result.counts.items():
            rows[splits / f"{name}.parquet"] = count
        quarantined = split_result.manifest.get("quarantined") or {}
        if quarantined.get("file"):
            rows[splits / quarantined["file"]] = quarantined["rows"]
    write_manifest(tmp, rows, digests)
    write_marker(tmp, "curate", [tmp / "stats.json", tmp / "manifest.json"], list_files=True)
    return split_result


def _any_url(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> bool:
    texts = [os.fspath(x) for x in ([inputs] if isinstance(inputs, str | os.PathLike) else inputs)]
    return any("://" in t for t in [*texts, os.fspath(out)])


def build_stats(
    cfg: CurateConfig,
    sources: list[SourceCounts],
    steps: Sequence[Step],
    skipped: list[Unreadable],
) -> dict[str, Any]:
    """``stats.json``: the read counters, each step's, the per-file and total counts."""
    input_rows = sum(s.input_rows for s in sources)
    quarantined = sum(s.quarantined for s in sources)
    kept = sum(s.kept for s in sources)
    removed: dict[str, int] = {}
    for s in sources:
        for reason, count in s.removed.items():
            removed[reason] = removed.get(reason, 0) + count
    removed_total = sum(removed.values())
    if input_rows != kept + removed_total + quarantined:
        raise RuntimeError(
            f"record accounting broken: {input_rows} in != {kept} kept + {removed_total} removed "
            f"+ {quarantined} quarantined"
        )
    valid = input_rows - quarantined
    rate = sum(removed.get(r, 0) for r in DEDUP_REASONS) / valid if valid else 0.0
    warnings: list[str] = []
    if rate > cfg.dedup_rate_warning:
        warnings.append(
            f"dedup removed {rate:.1%} of valid records (above {cfg.dedup_rate_warning:.0%}): "
            "this usually means a collection problem (templated or scraped-twice data); inspect removed/"
        )
    if quarantined:
        warnings.append(
            f"{quarantined} row(s) quarantined: see quarantine.jsonl for file, line and reason"
        )
    if kept == 0:  # said with or without --split (docs: "with a warning saying so")
        warnings.append(
            "no record was kept: the output has no kept/ folder"
            + (" and no splits/ folder (nothing was split)" if cfg.split.enabled else "")
        )
    if skipped:
        warnings.append(
            f"{len(skipped)} unreadable input path(s) skipped (--skip-unreadable): "
            f"see skipped_inputs in stats.json; first: {skipped[0].path}: {skipped[0].reason}"
        )
    step_stats: dict[str, Any] = {
        "read": {"input_rows": input_rows, "quarantined": quarantined, "valid": valid}
    }
    for step in steps:
        step_stats.update(step.stats(removed))
    # No filters configured: the config reads as it did before filters existed.
    exclude = RUNTIME_ONLY | (set() if cfg.filters else {"filters"})
    from curagate import __version__  # its metadata lookup is slow: only when a run ends

    return {
        "schema_version": STATS_SCHEMA_VERSION,
        "curagate_version": __version__,
        # Settings that cannot change the outputs are left out, so runs with
        # other thread counts or budgets stay byte-identical.
        "config": cfg.model_dump(mode="json", exclude=exclude),
        "steps": step_stats,
        "inputs": [s.to_dict() for s in sources],
        "skipped_inputs": [u.to_dict() for u in skipped],
        "totals": {
            "input_rows": input_rows,
            "kept": kept,
            "removed": dict(sorted(removed.items())),
            "quarantined": quarantined,
            "dedup_rate": round(rate, 6),
        },
        "warnings": warnings,
    }


def _progress(batches: Iterator[Any], show: bool, desc: str, total: int | None) -> Any:
    """Batches, with a bar counting rows (the total once pass 1 knows it)."""
    if not show:
        yield from batches
        return
    from curagate.progress import Bar

    with Bar(total=total, desc=desc, unit="rows") as bar:
        for batch in batches:
            rows = batch.input_rows if total is None else batch.table.num_rows
            yield batch
            del batch  # not held while the next one is read
            bar.update(rows)


class _Held(NamedTuple):
    """What pass 2 needs of a batch: not its keys (as large as its text) nor its
    ids (pass 1 kept them)."""

    source: str
    source_index: int
    table: pa.Table
    rows: pa.Array

    @classmethod
    def of(cls, batch: Batch) -> _Held:
        return cls(batch.source, batch.source_index, batch.table, batch.rows)


def _reading(
    key: _ReadKey, threads: int | None, early: _EarlyRead | None
) -> contextlib.AbstractContextManager[Iterator[Batch]]:
    """The batches of ``key``'s read, read one ahead in a thread (the CLI's early
    read when it is this read), or in this thread at ``--threads 1``."""
    if threads == 1:
        return contextlib.nullcontext(key.read())
    if early is not None and early.key == key:
        return early.reader
    from curagate.io.ahead import ReadAhead

    return ReadAhead(key.read())


class _ReadKey(NamedTuple):
    """Everything that decides which batches a read of the inputs yields."""

    paths: tuple[Path, ...]
    skipped: tuple[str, ...]
    format: str | None
    text_field: str | None
    preference_key: str
    batch_rows: int

    @classmethod
    def of(
        cls,
        paths: Sequence[Path],
        skipped: Sequence[Unreadable],
        format: str | None,
        text_field: str | None,
        preference_key: str = "prompt",
        batch_rows: int | None = None,
    ) -> _ReadKey:
        """The read of ``paths`` with these settings; the defaults are the config's."""
        from curagate.records import DEFAULT_BATCH_ROWS

        return cls(
            tuple(paths),
            tuple(repr(u.to_dict()) for u in skipped),
            None if format == "auto" else format,
            text_field,
            preference_key,
            DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows,
        )

    def read(self) -> Iterator[Batch]:
        from curagate.io import read_batches

        return read_batches(
            self.paths,
            format=self.format,
            text_field=self.text_field,
            preference_key=self.preference_key,
            batch_rows=self.batch_rows,
        )


class _EarlyRead(NamedTuple):
    key: _ReadKey
    reader: ReadAhead[Batch]
    started: float  # perf_counter: the run's time counts from here
    states: list[FileState | None]  # file_state of each input as it began


_early_read: _EarlyRead | None = None


def read_early(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    format: str | None,
    text_field: str | None,
    skip_unreadable: bool,
) -> None:
    """Start parsing ``inputs`` in a thread now, before the config model, the steps
    and the artifacts load: ~0.15 s of Python that the Rust parse (GIL released)
    runs beside. The CLI calls this when nothing but its options decides the read
    and numpy is not needed (no config file, no semantic step, the local executor);
    pyarrow is settled without numpy here. Nothing starts in a host program (which
    did not ask for settling) or when an input or ``out`` is a URL (a staged run).
    The next :func:`curate` uses the reader only if its validated config reads
    exactly these inputs so (same paths, format, fields and batch size) and closes
    it otherwise. Input problems are left for :func:`curate` to report, in its order."""
    global _early_read
    from curagate.errors import CuragateError
    from curagate.io.ahead import ReadAhead
    from curagate.io.readers import scan_inputs

    stale = _take_early_read()  # at most one
    if stale is not None:
        stale.reader.close()
    if _any_url(inputs, out) or not settling_pyarrow():
        return
    settle_pyarrow(numpy=False)
    from curagate.digest import file_state

    try:
        paths, skipped = scan_inputs(inputs, skip_unreadable=skip_unreadable)
        key = _ReadKey.of(paths, skipped, format, text_field)
        states = [file_state(p) for p in paths]
        batches = key.read()
    except CuragateError:
        return
    _early_read = _EarlyRead(key, ReadAhead(batches), time.perf_counter(), states)


def close_early_read() -> None:
    """Stop the early read if nothing took it (the CLI, when an error or Ctrl-C came
    before :func:`curate` did: a thread left parsing as the process ended made the
    allocator abort at exit now and then)."""
    early = _take_early_read()
    if early is not None:
        early.reader.close()


def _take_early_read() -> _EarlyRead | None:
    """The early read, if any, now owned by the caller (who closes it)."""
    global _early_read
    early, _early_read = _early_read, None
    return early


def _input_bytes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        with contextlib.suppress(OSError):  # reading it will say what is wrong
            total += path.stat().st_size
    return total


def _drain(items: list[_Held]) -> Iterator[_Held]:
    """The items in order, each let go of once the next is asked for."""
    items.reverse()
    while items:
        yield items.pop()


def _check_unchanged(paths: Sequence[Path], before: Sequence[FileState | None]) -> None:
    from curagate.digest import require_unchanged

    require_unchanged(
        paths, before, while_="curate ran", so="its rows may not be the ones deduplicated"
    )


def _reread(batches: Iterator[Batch]) -> Iterator[_Held]:
    """Pass 2 reading the inputs again: no batch is held while the next is read."""
    for batch in batches:
        if batch.table.num_rows:
            held = _Held.of(batch)
            del batch
            yield held
            del held


def _close_and_hash(writer: ShardWriter, digests: dict[Path, str]) -> None:
    """Close ``writer``'s files, then hash them for the manifest (never written again)."""
    from curagate.digest import sha256_file

    writer.close()
    for path in writer.rows:
        digests[path] = sha256_file(path)


def _write_clusters(
    path: Path,
    parts: list[tuple[str, pa.Array, pa.Array, pa.Array, pa.Array]],
    digests: dict[Path, str],
) -> None:
    """clusters.parquet: every valid record's id, source, row, status and cluster_id,
    from each batch's columns (its source_file column is built only now: one string
    per row)."""
    from curagate.pipeline.write import no_clusters

    clusters = (
        pa.concat_tables(
            [
                pa.table(
                    {
                        "record_id": part_ids,
                        "source_file": pa.repeat(pa.scalar(source), len(part_ids)),
                        "source_row": part_rows,
                        "status": status,
                        "cluster_id": cluster_id,
                    }
                )
                for source, part_ids, part_rows, status, cluster_id in parts
            ]
        )
        if parts
        else no_clusters()
    )
    parts.clear()
    pq.write_table(clusters, path, compression="zstd")
    del clusters
    from curagate.digest import sha256_file

    digests[path] = sha256_file(path)


def _write_rows(writer: ShardWriter, source_index: int, parts: list[Any]) -> None:
    """Write the rows of ``parts`` = [table, mask]: the list is emptied, so the
    whole table is let go of once filtered, while the rows are compressed."""
    table, mask = parts
    parts.clear()
    rows = table.filter(mask)
    del table, mask
    writer.write(source_index, rows)


class _Lanes:
    """``lanes`` worker threads, each running the calls submitted to it in order
    (0: every call runs at once, in the caller's thread). A lane holds at most
    one call waiting, so pass 2 keeps at most a few batches alive.
    Leaving the ``with`` block waits for every call; the first error is raised
    there (or at the next ``submit``), after the other calls have stopped."""

    _DEPTH = 1

    def __init__(self, lanes: int) -> None:
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        self._pools = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="curagate-write")
            for _ in range(lanes)
        ]
        self._pending: list[deque[Future[Any]]] = [deque() for _ in range(lanes)]

    def submit(self, lane: int, fn: Any, *args: Any) -> None:
        if not self._pools:
            fn(*args)
            return
        pending = self._pending[lane]
        while len(pending) >= self._DEPTH:
            pending.popleft().result()
        pending.append(self._pools[lane].submit(fn, *args))

    def __enter__(self) -> _Lanes:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        error: BaseException | None = None
        for pool, pending in zip(self._pools, self._pending, strict=True):
            if exc_type is not None:
                for future in pending:
                    future.cancel()
            pool.shutdown(wait=True)
            for future in pending:
                if not future.cancelled() and future.exception() is not None and error is None:
                    error = future.exception()
        if error is not None and exc_type is None:
            raise error
