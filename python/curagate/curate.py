"""`curagate curate`: read, validate, normalize, deduplicate and write.

Two passes over the inputs keep memory bounded: pass 1 streams every batch
into the Rust deduper (and holds the valid tables only while they fit in a
quarter of the memory budget); pass 2 routes each row to ``kept/`` or
``removed/``. Outputs are built in a temporary directory and renamed into
place, so an interrupted run never looks complete.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from curagate import __version__
from curagate.artifacts import CurateStats, validated, write_artifact
from curagate.config import CurateConfig, load_model, validate_model
from curagate.errors import InputError
from curagate.io import read_batches
from curagate.io.atomic import atomic_path
from curagate.io.outputs import check_replaceable, refuse_overlap, write_marker
from curagate.io.readers import Unreadable, scan_inputs
from curagate.leakage import LeakageIndex, RowLeaks
from curagate.pipeline.dedup import STATUS_NAMES, DedupOutcome, DedupStep, keep_priorities
from curagate.pipeline.write import (
    ShardWriter,
    meta_name,
    write_manifest,
    write_quarantine,
)
from curagate.records import Batch, Quarantined

if TYPE_CHECKING:
    from curagate.split import SplitResult

STATS_SCHEMA_VERSION = 1
RUNTIME_ONLY = {"threads", "memory_budget", "spill_dir"}


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
        return self.removed_total / valid if valid else 0.0


def resolve_config(
    config: str | os.PathLike[str] | CurateConfig | None, **overrides: Any
) -> CurateConfig:
    """A config file (or object) with dotted-key overrides (``near.threshold``)."""
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
    return validate_model(data, CurateConfig, source=f"{source} (with command-line options)")


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
    started = time.perf_counter()
    cfg = resolve_config(
        config, threads=threads, **{k.replace("__", "."): v for k, v in overrides.items()}
    )
    if executor not in (None, "local") or work_dir is not None or _any_url(inputs, out):
        from curagate.pipeline.distributed import run

        result: CurateResult = run(
            inputs,
            out,
            cfg,
            executor=executor or "local",
            ray_address=ray_address,
            work_dir=work_dir,
        )
        return result
    paths, skipped = scan_inputs(inputs, skip_unreadable=cfg.skip_unreadable)
    out_dir = Path(out)
    check_replaceable(out_dir, "curate")
    refuse_overlap(out_dir, inputs, paths)
    if progress is None:
        from curagate.progress import enabled

        show = enabled()
    else:
        show = progress

    def read() -> Iterator[Batch]:
        return read_batches(
            paths,
            format=None if cfg.format == "auto" else cfg.format,
            text_field=cfg.text_field,
            preference_key=cfg.preference_key,
            batch_rows=cfg.batch_rows,
        )

    sources = [SourceCounts(p.as_posix()) for p in paths]
    quarantined: list[Quarantined] = []
    dedup = DedupStep(cfg) if (cfg.exact.enabled or cfg.near.enabled) else None
    leakage = _leakage_index(cfg)

    # Pass 1: validate, key, scan for leakage, feed the deduper.
    held: list[Batch] | None = []
    held_bytes = 0
    id_chunks: list[pa.Array] = []
    leak_chunks: list[RowLeaks] = []
    # Semantic dedup runs after the others, over the kept records' keys.
    key_chunks: list[pa.Array] | None = [] if cfg.semantic.enabled else None
    priority_chunks: list[pa.Array] = []
    valid = 0
    for batch in _progress(read(), show, "reading", None):
        src = sources[batch.source_index]
        src.input_rows += batch.input_rows
        src.quarantined += len(batch.quarantined)
        quarantined.extend(batch.quarantined)
        if batch.table.num_rows == 0:
            continue
        valid += batch.table.num_rows
        id_chunks.append(batch.ids)
        keys, priorities = batch.keys, keep_priorities(batch, cfg)
        if key_chunks is not None:
            key_chunks.append(keys)
            priority_chunks.append(priorities)
        if leakage is not None:
            # Contaminated rows never enter dedup: they must not survive a
            # cluster in place of a clean record.
            leaks = leakage.scan_keys(keys)
            leak_chunks.append(leaks)
            clean = pc.invert(leaks.leaked)
            keys, priorities = keys.filter(clean), priorities.filter(clean)
        if dedup is not None:
            dedup.add(keys, priorities)
        if held is not None:
            held_bytes += batch.table.nbytes
            if held_bytes > cfg.memory_budget // 4:
                held = None  # too big to hold: pass 2 re-reads the inputs
            else:
                held.append(batch)

    input_rows = sum(s.input_rows for s in sources)
    if input_rows == 0:
        raise InputError(
            f"no records found in {len(paths)} input file(s): {', '.join(s.file for s in sources[:3])}"
            f"{' ...' if len(sources) > 3 else ''}; check the paths (empty files contain no records)"
        )

    ids = pa.chunked_array(id_chunks, pa.string()).combine_chunks()
    outcome = dedup.finish() if dedup is not None else None
    fates = _fates(outcome, cfg, ids, leak_chunks)
    semantic_stats: dict[str, Any] = {"enabled": False}
    if key_chunks is not None and valid:
        fates, semantic_stats = _semantic(fates, cfg, ids, key_chunks, priority_chunks)

    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        kept_w, removed_w = ShardWriter(tmp / "kept"), ShardWriter(tmp / "removed")
        cluster_tables: list[pa.Table] = []
        batches: Iterator[Batch] = (
            iter(held) if held is not None else (b for b in read() if b.table.num_rows)
        )
        start = 0
        for batch in _progress(batches, show, "writing", valid):
            n = batch.table.num_rows
            status = fates.reason.slice(start, n)
            kept_mask = pc.equal(status, "kept")
            kept_w.write(batch.source_index, batch.table.filter(kept_mask))
            src = sources[batch.source_index]
            kept_count = pc.sum(pc.cast(kept_mask, pa.int64())).as_py() or 0
            src.kept += kept_count
            cluster_id = fates.cluster_id.slice(start, n)
            if kept_count < n:
                meta = {
                    "record_id": batch.ids,
                    "source_file": pa.repeat(pa.scalar(batch.source), n),
                    "source_row": batch.rows,
                    "reason": status,
                    "cluster_id": cluster_id,
                    "kept_id": fates.kept_id.slice(start, n),
                    "similarity": fates.similarity.slice(start, n),
                }
                if leakage is not None:
                    meta["leaked_reference_id"] = fates.leaked_reference_id.slice(start, n)
                    meta["leak_method"] = fates.leak_method.slice(start, n)
                removed = batch.table
                for name, column in meta.items():
                    removed = removed.append_column(
                        meta_name(name, batch.table.column_names), column
                    )
                removed_mask = pc.invert(kept_mask)
                removed_w.write(batch.source_index, removed.filter(removed_mask))
                for item in pc.value_counts(status.filter(removed_mask)).to_pylist():
                    src.removed[item["values"]] = (
                        src.removed.get(item["values"], 0) + item["counts"]
                    )
            cluster_tables.append(
                pa.table(
                    {
                        "record_id": batch.ids,
                        "source_file": pa.repeat(pa.scalar(batch.source), n),
                        "source_row": batch.rows,
                        "status": status,
                        "cluster_id": cluster_id,
                    }
                )
            )
            start += n
        kept_w.close()
        removed_w.close()
        if start != valid:
            raise RuntimeError(
                f"pass 2 saw {start} valid records, pass 1 saw {valid}: inputs changed during the run"
            )

        import pyarrow.parquet as pq

        clusters = (
            pa.concat_tables(cluster_tables)
            if cluster_tables
            else pa.table({"record_id": pa.array([], pa.string())})
        )
        pq.write_table(clusters, tmp / "clusters.parquet", compression="zstd")
        write_quarantine(tmp / "quarantine.jsonl", quarantined)
        stats = _stats(cfg, sources, outcome, semantic_stats, skipped)
        rows = {
            **kept_w.rows,
            **removed_w.rows,
            tmp / "clusters.parquet": clusters.num_rows,
            tmp / "quarantine.jsonl": len(quarantined),
        }
        split_result = seal(cfg, tmp, out_dir, stats, rows)
    runtime = {"semantic": semantic_stats.get("runtime", {})}
    return CurateResult.of(out_dir, stats, started, runtime, split_result)


def seal(
    cfg: CurateConfig, tmp: Path, out_dir: Path, stats: dict[str, Any], rows: dict[Path, int]
) -> SplitResult | None:
    """Finish an output folder still under its temporary name (one-process and staged
    runs alike): stats through their contract, the manifest, the split, the marker.

    The split is part of the output, built inside the temporary folder, so a run killed
    at any point leaves the previous output or the whole new one.
    """
    write_artifact(validated(CurateStats, stats, what="stats.json"), tmp / "stats.json")
    write_manifest(tmp, rows)
    split_result = _split(cfg, tmp, out_dir, stats) if cfg.split.enabled else None
    write_marker(tmp, "curate", [tmp / "stats.json", tmp / "manifest.json"])
    return split_result


def _any_url(inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> bool:
    texts = [os.fspath(x) for x in ([inputs] if isinstance(inputs, str | os.PathLike) else inputs)]
    return any("://" in t for t in [*texts, os.fspath(out)])


@dataclass(frozen=True)
class _Fates:
    """What happens to every valid record, in read order."""

    reason: pa.Array  # "kept" | "exact" | "near" | "leakage"
    cluster_id: pa.Array  # int64: read-order index of the cluster's survivor (null: leakage)
    kept_id: pa.Array  # id of the record kept in this one's place
    similarity: pa.Array  # float32, to that record
    leaked_reference_id: pa.Array  # leakage only: the reference item found
    leak_method: pa.Array  # leakage only: exact / ngram / minhash, "+"-joined


def _fates(
    outcome: DedupOutcome | None, cfg: CurateConfig, ids: pa.Array, leaks: list[RowLeaks]
) -> _Fates:
    n = len(ids)
    if leaks:
        leaked = pa.concat_arrays([chunk.leaked for chunk in leaks])
        ref_ids = pa.concat_arrays([chunk.reference_ids for chunk in leaks])
        methods = pa.concat_arrays([chunk.methods for chunk in leaks])
    else:
        leaked = pa.repeat(pa.scalar(False), n)
        ref_ids = methods = pa.nulls(n, pa.string())
    clean = pc.invert(leaked)
    # Read-order index of each record the deduper saw.
    positions = pc.indices_nonzero(clean)
    if outcome is None:
        names = pa.repeat(pa.scalar("kept"), len(positions))
        survivors = positions
        similarity = pa.repeat(pa.scalar(1.0, pa.float32()), len(positions))
    else:
        table = STATUS_NAMES if cfg.exact.enabled else ("kept", "near", "near")
        # (with exact disabled, exact copies are reported as the near copies they are: J = 1)
        names = pc.take(pa.array(table), outcome.status)
        survivors = pc.take(positions, outcome.kept_index)
        similarity = outcome.similarity
    survivors = pc.cast(survivors, pa.int64())
    return _Fates(
        reason=pc.replace_with_mask(pa.repeat(pa.scalar("leakage"), n), clean, names),
        cluster_id=pc.replace_with_mask(pa.nulls(n, pa.int64()), clean, survivors),
        kept_id=pc.replace_with_mask(pa.nulls(n, pa.string()), clean, pc.take(ids, survivors)),
        similarity=pc.replace_with_mask(pa.nulls(n, pa.float32()), clean, similarity),
        leaked_reference_id=ref_ids,
        leak_method=methods,
    )


def _semantic(
    fates: _Fates,
    cfg: CurateConfig,
    ids: pa.Array,
    key_chunks: list[pa.Array],
    priority_chunks: list[pa.Array],
) -> tuple[_Fates, dict[str, Any]]:
    """Embedding dedup among the records still kept; survivors are re-pointed."""
    from curagate.semantic import semantic_clusters

    sem = cfg.semantic
    kept_pos = pc.indices_nonzero(pc.equal(fates.reason, "kept"))
    keys = pc.take(pa.chunked_array(key_chunks).combine_chunks(), kept_pos)
    policy = cfg.keep.policy
    scores = (
        pc.take(pa.chunked_array(priority_chunks).combine_chunks(), kept_pos)
        if policy == "score"
        else None
    )
    cache_dir = sem.cache_dir or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "curagate" / "embeddings"
    )
    result = semantic_clusters(
        keys,
        model=sem.model,
        threshold=sem.threshold,
        cache_dir=cache_dir,
        batch_size=sem.batch_size,
        keep="max" if policy == "score" else policy,
        scores=scores,
    )
    removed = pa.array(~result.keep)
    n = len(ids)
    everyone = pa.array(range(n), pa.int64())
    # Records removed here, in read order, and the kept record standing for each.
    gone = kept_pos.filter(removed)
    reps = pc.cast(pc.take(kept_pos, pa.array(result.representative)).filter(removed), pa.int64())
    is_gone = pc.is_in(everyone, gone)
    # Final survivor of every record: one removed here hands its cluster (and
    # those of the records it had replaced) to its representative.
    survivor = pc.replace_with_mask(everyone, is_gone, reps)
    cluster_id = pc.take(survivor, fates.cluster_id)
    reason = pc.replace_with_mask(
        fates.reason, is_gone, pa.repeat(pa.scalar("semantic"), len(gone))
    )
    similarity = pc.replace_with_mask(
        fates.similarity, is_gone, pa.array(result.similarity[~result.keep], pa.float32())
    )
    kept_id = pc.take(ids, cluster_id)
    stats = {
        "enabled": True,
        "model": result.model,
        "threshold": result.threshold,
        "index": result.index,
        "clusters": result.n_clusters,
        # Cache hits vary between reruns; reported in CurateResult.runtime,
        # not in stats.json, which must be byte-identical.
        "runtime": {"encoded": result.encoded, "cached": result.cached},
    }
    return (
        _Fates(
            reason, cluster_id, kept_id, similarity, fates.leaked_reference_id, fates.leak_method
        ),
        stats,
    )


def _split(cfg: CurateConfig, tmp: Path, out: Path, stats: dict[str, Any]) -> SplitResult | None:
    """OUT/splits/ (with split_manifest.json), split from the kept records while
    the output is still the temporary folder ``tmp``; the manifest names the
    final paths."""
    from curagate.split import MANIFEST_NAME, SplitResult, split

    if stats["totals"]["kept"] == 0:
        return None
    sc = cfg.split
    result = split(
        [tmp / "kept"],
        tmp / "splits",
        ratios=sc.ratios,
        seed=sc.seed,
        mode=sc.mode,
        label=sc.label,
        group=sc.group,
        time=sc.time,
        join_near=sc.join_near,
        near_threshold=cfg.near.threshold,
        near_ngram=cfg.near.ngram,
        shared_passages="join" if sc.join_ngram else sc.shared_passages,
        ngram=sc.ngram,
        max_ngram_items=sc.max_ngram_items,
        templates=sc.templates,
        max_rounds=sc.max_rounds,
        format=None if cfg.format == "auto" else cfg.format,
        text_field=cfg.text_field,
        preference_key=cfg.preference_key,
    )
    path = tmp / "splits" / MANIFEST_NAME
    text = path.read_text(encoding="utf-8").replace(tmp.as_posix(), out.as_posix())
    path.write_text(text, encoding="utf-8")
    return SplitResult(out / "splits", result.counts, json.loads(text))


def _leakage_index(cfg: CurateConfig) -> LeakageIndex | None:
    d = cfg.decontaminate
    if not d.reference:
        return None
    return LeakageIndex.build(
        d.reference,
        ngram=d.ngram,
        methods=d.methods,
        min_ratio=d.min_ratio,
        threads=cfg.threads,
    )


def _stats(
    cfg: CurateConfig,
    sources: list[SourceCounts],
    outcome: DedupOutcome | None,
    semantic: dict[str, Any],
    skipped: list[Unreadable],
) -> dict[str, Any]:
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
    rate = removed_total / valid if valid else 0.0
    core = dict(outcome.stats) if outcome is not None else {}
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
    if skipped:
        warnings.append(
            f"{len(skipped)} unreadable input path(s) skipped (--skip-unreadable): "
            f"see skipped_inputs in stats.json; first: {skipped[0].path}: {skipped[0].reason}"
        )
    steps: dict[str, Any] = {
        "read": {"input_rows": input_rows, "quarantined": quarantined, "valid": valid},
        "exact": {"enabled": cfg.exact.enabled, "removed": removed.get("exact", 0)},
        "decontaminate": {
            "enabled": bool(cfg.decontaminate.reference),
            "reference": list(cfg.decontaminate.reference),
            "removed": removed.get("leakage", 0),
        },
        "near": {
            "enabled": cfg.near.enabled,
            "removed": removed.get("near", 0),
            "clusters": core.get("near_clusters", 0),
            "candidate_pairs": core.get("candidate_pairs", 0),
            "verified_pairs": core.get("verified_pairs", 0),
            "rejected_pairs": core.get("rejected_pairs", 0),
            "bands": core.get("bands"),
            "rows": core.get("rows"),
            "spilled_bytes": core.get("spilled_bytes", 0),
            "empty_keys": core.get("empty_keys", 0),
        },
        "semantic": {
            **{k: v for k, v in semantic.items() if k != "runtime"},
            "removed": removed.get("semantic", 0),
        },
    }
    return {
        "schema_version": STATS_SCHEMA_VERSION,
        "curagate_version": __version__,
        # Settings that cannot change the outputs are left out, so runs with
        # other thread counts or budgets stay byte-identical.
        "config": cfg.model_dump(mode="json", exclude=RUNTIME_ONLY),
        "steps": steps,
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


def _progress(batches: Iterator[Batch], show: bool, desc: str, total: int | None) -> Any:
    """Batches, with a bar counting rows (the total once pass 1 knows it)."""
    if not show:
        yield from batches
        return
    from curagate.progress import Bar

    with Bar(total=total, desc=desc, unit="rows") as bar:
        for batch in batches:
            yield batch
            bar.update(batch.input_rows if total is None else batch.table.num_rows)
