"""Leakage-free train/val/test splits.

A split is only honest if nothing in val or test is also in train. Rows are
first joined into *units* that must land in the same split: rows sharing a
``cluster_id`` (written by curate's exact/near/semantic dedup, even when a
loose keep policy kept several of them), rows sharing a group key, rows with
the same normalized dedup key, and (optionally) rows that semantic dedup puts
in one cluster. Units, never rows, are then assigned to splits:

``random``      units in a seeded random order, each to the split furthest below its target
``stratified``  the same, per label (the label of a unit is its most common one), with
                the rounding carried across labels so the totals stay on target
``grouped``     like ``random``; ``--group`` must be given (groups never straddle)
``time``        units ordered by their oldest timestamp: oldest to train, then val, then test

After writing, the splits are checked against each other for exact, n-gram
and near leakage, and ``split_manifest.json`` records counts, ratios, label
distribution, seed, the findings and the sha256 of every output file.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curagate.audit.keys import fingerprints
from curagate.errors import ConfigError, InputError
from curagate.io.atomic import atomic_path, write_text_atomic
from curagate.io.manifest import sha256_file

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
MODES: tuple[str, ...] = ("random", "stratified", "grouped", "time")
DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
DEFAULT_CLUSTER_COLUMN = "cluster_id"
MANIFEST_NAME = "split_manifest.json"
# Leak examples kept in the manifest; the counts are always complete.
MAX_REPORTED_LEAKS = 100


@dataclass(frozen=True, slots=True)
class SplitResult:
    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]

    @property
    def leaks(self) -> int:
        """Cross-split leaks the verification found (0 for a clean split)."""
        return int(self.manifest["verification"]["leaks_total"])


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse ``--ratios``: ``80/10/10``, ``0.8,0.1,0.1`` or ``8:1:1`` (scaled to sum 1)."""
    parts = [p for p in text.replace(",", "/").replace(":", "/").split("/") if p.strip()]
    if len(parts) != 3:
        raise ConfigError(
            f"--ratios {text!r}: give three numbers for train/val/test, e.g. --ratios 80/10/10"
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"--ratios {text!r}: not numbers; give three numbers, e.g. --ratios 80/10/10"
        ) from None
    return check_ratios(values, option=f"--ratios {text!r}")


def check_ratios(values: Sequence[float], *, option: str = "ratios") -> tuple[float, float, float]:
    if len(values) != 3:
        raise ConfigError(f"{option}: need three values (train, val, test), got {len(values)}")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ConfigError(f"{option}: ratios must be finite and >= 0, e.g. --ratios 80/10/10")
    total = sum(values)
    if values[0] <= 0 or total <= 0:
        raise ConfigError(f"{option}: the train ratio must be > 0, e.g. --ratios 80/10/10")
    return (values[0] / total, values[1] / total, values[2] / total)


# --- units -------------------------------------------------------------------


class _UnionFind:
    __slots__ = ("parent",)

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller root wins, so unit ids do not depend on union order.
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def build_units(n_rows: int, constraints: Iterable[Sequence[Any]]) -> list[int]:
    """Join rows that share a non-null value in any constraint column.

    Returns a dense unit id per row, numbered in order of each unit's first row.
    """
    uf = _UnionFind(n_rows)
    for values in constraints:
        first: dict[Any, int] = {}
        for row, value in enumerate(values):
            if value is None:
                continue
            seen = first.setdefault(value, row)
            if seen != row:
                uf.union(seen, row)
    dense: dict[int, int] = {}
    return [dense.setdefault(uf.find(r), len(dense)) for r in range(n_rows)]


# --- assignment --------------------------------------------------------------


def _greedy_fill(
    order: Sequence[int],
    sizes: Sequence[int],
    targets: list[float],
    counts: list[int],
    ratios: Sequence[float],
    out: list[int],
) -> None:
    """Give each unit to the split furthest below its target (ties: larger ratio, then order)."""
    for u in order:
        best = max(range(3), key=lambda i: (targets[i] - counts[i], ratios[i], -i))
        out[u] = best
        counts[best] += sizes[u]


def assign_units(
    sizes: Sequence[int],
    *,
    ratios: Sequence[float],
    seed: int,
    mode: str,
    unit_labels: Sequence[str] | None = None,
    unit_times: Sequence[Any] | None = None,
) -> list[int]:
    """Return the split index (0 train, 1 val, 2 test) of every unit.

    A pure function of its arguments: the same inputs give the same split.
    """
    n_units = len(sizes)
    total = sum(sizes)
    out = [0] * n_units
    rng = random.Random(seed)
    if mode == "time":
        if unit_times is None:
            raise ConfigError("--mode time needs --time COLUMN")
        order = sorted(range(n_units), key=lambda u: (unit_times[u], u))
        bounds = [round(ratios[0] * total), round((ratios[0] + ratios[1]) * total), total]
        done = 0
        for u in order:
            out[u] = next((i for i in range(3) if done < bounds[i] and ratios[i] > 0), 2)
            done += sizes[u]
        return out
    if mode == "stratified":
        if unit_labels is None:
            raise ConfigError("--mode stratified needs --label COLUMN")
        strata: dict[str, list[int]] = {}
        for u in range(n_units):
            strata.setdefault(unit_labels[u], []).append(u)
        carry = [0.0, 0.0, 0.0]
        for label in sorted(strata):
            members = strata[label]
            rng.shuffle(members)
            size = sum(sizes[u] for u in members)
            # The rounding left by earlier labels is carried, so small labels
            # do not all round towards train and the totals stay on target.
            targets = [ratios[i] * size + carry[i] for i in range(3)]
            counts = [0, 0, 0]
            _greedy_fill(members, sizes, targets, counts, ratios, out)
            carry = [targets[i] - counts[i] for i in range(3)]
        return out
    if mode not in ("random", "grouped"):
        raise ConfigError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    order = list(range(n_units))
    rng.shuffle(order)
    _greedy_fill(order, sizes, [r * total for r in ratios], [0, 0, 0], ratios, out)
    return out


# --- keys, labels, times -----------------------------------------------------


def _label_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _where(where: tuple[str, int, int | None]) -> str:
    source, row, line = where
    return f"{source}:{line}" if line is not None else f"{source} row {row}"


def _time_value(value: Any, where: tuple[str, int, int | None], column: str) -> Any:
    """Make timestamps comparable: ISO strings are parsed, naive times are UTC."""
    if value is None:
        raise InputError(
            f"{_where(where)}: --time column {column!r} is null; every row needs a time"
        )
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(
                f"{_where(where)}: --time column {column!r} has {value!r}, which is not an ISO-8601 "
                "time (e.g. 2024-05-01 or 2024-05-01T12:00:00Z)"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (1, value.timestamp())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if hasattr(value, "isoformat"):  # a date
            return (1, datetime.fromisoformat(value.isoformat()).replace(tzinfo=UTC).timestamp())
        raise InputError(
            f"{_where(where)}: --time column {column!r} has {value!r}; use numbers or ISO-8601 times"
        )
    return (0, float(value))


# --- reading -----------------------------------------------------------------


@dataclass(slots=True)
class _Loaded:
    table: pa.Table
    keys: list[str]
    key_array: pa.LargeStringArray
    ids: list[str]
    where: list[tuple[str, int, int | None]]  # (source, row, line) per row
    files: list[dict[str, Any]]
    quarantined: list[Any]


def _load(
    inputs: Sequence[str | Path],
    *,
    format: str | None,
    text_field: str | None,
    preference_key: str,
) -> _Loaded:
    from curagate.io import expand_inputs, read_batches

    paths = expand_inputs(inputs)
    tables: list[pa.Table] = []
    keys: list[str] = []
    ids: list[str] = []
    where: list[tuple[str, int, int | None]] = []
    quarantined: list[Any] = []
    rows_per_file: Counter[str] = Counter()
    for batch in read_batches(
        paths, format=format, text_field=text_field, preference_key=preference_key
    ):
        tables.append(batch.table)
        keys.extend(batch.keys.to_pylist())
        ids.extend(batch.ids.to_pylist())
        lines = batch.lines.to_pylist() if batch.lines is not None else None
        for i, row in enumerate(batch.rows.to_pylist()):
            where.append((batch.source, row, lines[i] if lines is not None else None))
        quarantined.extend(batch.quarantined)
        rows_per_file[batch.source] += batch.input_rows
    if not tables or sum(t.num_rows for t in tables) == 0:
        raise InputError(
            f"no usable records in {', '.join(str(p) for p in paths)}: nothing to split"
        )
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(
            f"the input files have incompatible columns ({e}); split files with the same "
            "columns together"
        ) from None
    files = [
        {
            "path": Path(p).as_posix(),
            "rows": rows_per_file[Path(p).as_posix()],
            "sha256": sha256_file(Path(p)),
        }
        for p in paths
    ]
    key_array = pa.array(keys, type=pa.large_string())
    return _Loaded(table.combine_chunks(), keys, key_array, ids, where, files, quarantined)


def _column(loaded: _Loaded, name: str, option: str) -> list[Any]:
    if name not in loaded.table.column_names:
        raise InputError(
            f"{option} {name!r}: no such column in "
            f"{', '.join(f['path'] for f in loaded.files)}; "
            f"columns are: {', '.join(loaded.table.column_names)}"
        )
    values: list[Any] = loaded.table.column(name).to_pylist()
    return values


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return value


# --- verification ------------------------------------------------------------


def verify_splits(
    keys_by_split: Sequence[Sequence[str]],
    ids_by_split: Sequence[Sequence[str]],
    *,
    ngram: int = 13,
    methods: Sequence[str] = ("exact", "ngram", "minhash"),
    minhash_threshold: float = 0.8,
) -> dict[str, Any]:
    """Find leakage between splits with the leakage index (exact, n-gram, MinHash).

    Each evaluation split is a reference set and every earlier split its
    corpus: val against train, test against train and val. A row is counted
    once per method that flags it; ``leaks`` lists each leaked row with its
    first match.
    """
    from curagate.leakage import LeakageIndex

    counts = dict.fromkeys(methods, 0)
    leaked_total = 0
    leaks: list[dict[str, Any]] = []
    for s in range(1, len(keys_by_split)):
        if not keys_by_split[s]:
            continue
        earlier = [(cs, cr) for cs in range(s) for cr in range(len(keys_by_split[cs]))]
        if not earlier:
            continue
        index = LeakageIndex(ngram=ngram, methods=methods, minhash_threshold=minhash_threshold)
        index.add_texts(list(keys_by_split[s]), source=SPLIT_NAMES[s])
        corpus = pa.array([keys_by_split[cs][cr] for cs, cr in earlier], type=pa.large_string())
        first: dict[int, tuple[int, set[str], int, float | None]] = {}
        for record, item, exact, ng, mh, shared, _ratio, similarity, _span in index.scan(corpus):
            hit = {
                m
                for m, on in zip(("exact", "ngram", "minhash"), (exact, ng, mh), strict=True)
                if on
            }
            if item not in first:
                first[item] = (record, hit, shared, similarity)
            else:
                first[item][1].update(hit)
        for item in sorted(first):
            record, hit, shared, similarity = first[item]
            leaked_total += 1
            for m in hit:
                counts[m] += 1
            if len(leaks) < MAX_REPORTED_LEAKS:
                cs, cr = earlier[record]
                leaks.append(
                    {
                        "split": SPLIT_NAMES[s],
                        "id": ids_by_split[s][item],
                        "in_split": SPLIT_NAMES[cs],
                        "in_id": ids_by_split[cs][cr],
                        "methods": sorted(hit),
                        "shared_ngrams": shared,
                        "similarity": None if similarity is None else round(similarity, 6),
                    }
                )
    return {
        "methods": list(methods),
        "ngram": ngram,
        "minhash_threshold": minhash_threshold,
        "leaks_total": leaked_total,
        "leaked_rows": counts,
        "leaks": leaks,
    }


@dataclass(frozen=True, slots=True)
class SplitPlan:
    split: list[int]  # per row: 0 train, 1 val, 2 test
    n_units: int  # groups of rows that had to stay together
    largest_unit: int


def assign_rows(
    keys: pa.Array | pa.ChunkedArray | Sequence[str],
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mode: str = "random",
    labels: Sequence[Any] | None = None,
    groups: Sequence[Any] | None = None,
    times: Sequence[Any] | None = None,
    together: Sequence[Sequence[Any]] = (),
    time_column: str = "time",
    where: Sequence[tuple[str, int, int | None]] | None = None,
) -> SplitPlan:
    """Choose the split of every row; the in-memory core of :func:`split`.

    ``keys`` are the dedup keys (rows equal after normalization stay
    together); ``groups`` and every column in ``together`` (e.g. curate's
    ``cluster_id`` of the kept rows) join rows that share a non-null value.
    ``labels`` stratify (mode ``stratified``), ``times`` order (mode ``time``).
    ``where`` gives (file, row, line) per row for error messages.
    """
    fractions = check_ratios(list(ratios), option=f"ratios {list(ratios)}")
    if not isinstance(keys, (pa.Array, pa.ChunkedArray)):
        keys = pa.array(list(keys), type=pa.large_string())
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    n = len(keys)
    constraints: list[Sequence[Any]] = [fingerprints(keys)]
    if groups is not None:
        constraints.append([_hashable(v) for v in groups])
    constraints.extend(together)
    for c in constraints:
        if len(c) != n:
            raise InputError(f"{len(c)} values for {n} rows; give one value per row")
    units = build_units(n, constraints)
    n_units = max(units) + 1 if units else 0
    sizes = [0] * n_units
    for u in units:
        sizes[u] += 1
    unit_labels: list[str] | None = None
    if labels is not None:
        per_unit: list[Counter[str]] = [Counter() for _ in range(n_units)]
        for r, u in enumerate(units):
            per_unit[u][_label_text(labels[r])] += 1
        unit_labels = [min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for c in per_unit]
    unit_times: list[Any] | None = None
    if times is not None:
        unit_times = [None] * n_units
        kinds: dict[int, int] = {}  # 0 number, 1 time -> first row of that kind
        for r, u in enumerate(units):
            at = where[r] if where is not None else ("input", r, None)
            t = _time_value(times[r], at, time_column)
            kinds.setdefault(t[0], r)
            if unit_times[u] is None or t < unit_times[u]:
                unit_times[u] = t
        if len(kinds) > 1:
            number, stamp = kinds[0], kinds[1]
            first = where[number] if where is not None else ("input", number, None)
            other = where[stamp] if where is not None else ("input", stamp, None)
            raise InputError(
                f"--time column {time_column!r} mixes numbers ({_where(first)}) and times "
                f"({_where(other)}); use one kind"
            )
    unit_split = assign_units(
        sizes,
        ratios=fractions,
        seed=seed,
        mode=mode,
        unit_labels=unit_labels,
        unit_times=unit_times,
    )
    return SplitPlan([unit_split[u] for u in units], n_units, max(sizes, default=0))


def overlap_components(
    keys: pa.Array,
    *,
    methods: Sequence[str] = ("minhash",),
    minhash_threshold: float = 0.8,
    ngram: int = 13,
    min_ratio: float = 0.0,
    chunk_rows: int = 2048,
) -> list[int | None]:
    """Per row, the first row of its overlap component (None when alone).

    The same tests the verification runs, applied before the split so that
    overlapping records land together instead of being reported afterwards.
    MinHash (near copies) is cheap and on by default; n-gram joining is
    opt-in: shared boilerplate such as a prompt template links every record
    that uses it, which can make very large units (``min_ratio`` limits
    joining to records that share that fraction of an item's n-grams).
    """
    from curagate.leakage import LeakageIndex

    n = len(keys)
    index = LeakageIndex(
        methods=methods, minhash_threshold=minhash_threshold, ngram=ngram, min_ratio=min_ratio
    )
    index.add_texts(keys.to_pylist(), source="split")
    uf = _UnionFind(n)
    for start in range(0, n, chunk_rows):
        for record, item, *_ in index.scan(keys.slice(start, chunk_rows)):
            if start + record != item:
                uf.union(start + record, item)
    roots = [uf.find(r) for r in range(n)]
    sizes = Counter(roots)
    return [root if sizes[root] > 1 else None for root in roots]


def _clusters_file(path: Path, ids: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Cluster id per row from curate's clusters.parquet, matched by record id."""
    try:
        table = pq.read_table(path, columns=["record_id", "cluster_id"])
    except (OSError, pa.ArrowInvalid, KeyError) as e:
        raise InputError(
            f"--clusters {path.as_posix()!r}: cannot read record_id and cluster_id ({e}); "
            "give the clusters.parquet written by curagate curate"
        ) from None
    cluster_of = dict(
        zip(
            table.column("record_id").to_pylist(),
            table.column("cluster_id").to_pylist(),
            strict=True,
        )
    )
    values = [cluster_of.get(i) for i in ids]
    matched = sum(i in cluster_of for i in ids)
    if ids and not matched:
        raise InputError(
            f"--clusters {path.as_posix()!r}: none of the {len(ids)} record ids of the input "
            "appears in it; the records need the `id` column they had when curated"
        )
    return values, {"path": path.as_posix(), "sha256": sha256_file(path), "matched": matched}


# --- the step ----------------------------------------------------------------


def _infer_mode(mode: str | None, label: str | None, group: str | None, time: str | None) -> str:
    if mode is None:
        if time:
            return "time"
        if label:
            return "stratified"
        if group:
            return "grouped"
        return "random"
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    needs = {
        "stratified": ("--label", label),
        "grouped": ("--group", group),
        "time": ("--time", time),
    }
    if mode in needs and not needs[mode][1]:
        raise ConfigError(f"--mode {mode} needs {needs[mode][0]} COLUMN")
    return mode


def _write_parquet(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def split(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seed: int = 0,
    mode: str | None = None,
    label: str | None = None,
    group: str | None = None,
    time: str | None = None,
    cluster_column: str | None = None,
    clusters: str | Path | None = None,
    format: str | None = None,
    text_field: str | None = None,
    preference_key: str = "prompt",
    semantic: bool = False,
    semantic_threshold: float = 0.92,
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    join_near: bool = True,
    join_ngram: bool = False,
    join_min_ratio: float = 0.0,
    minhash_threshold: float = 0.8,
    ngram: int = 13,
    verify: bool = True,
) -> SplitResult:
    """Split ``inputs`` into ``out``/{train,val,test}.parquet and ``split_manifest.json``.

    ``cluster_column`` names a column whose equal values must stay together;
    when not given, a ``cluster_id`` column is used if the data has one.
    ``clusters`` is curate's ``clusters.parquet``: rows are matched to it by
    record id and rows of one dedup cluster stay together. ``join_near`` keeps
    MinHash near copies (estimated Jaccard >= ``minhash_threshold``) together;
    ``join_ngram`` also rows sharing a word ``ngram`` (see :func:`overlap_components`).
    Returns the counts and the manifest; cross-split leaks are reported in
    ``manifest["verification"]`` (the CLI turns them into exit 1 on request).
    """
    fractions = check_ratios(list(ratios), option=f"ratios {list(ratios)}")
    resolved_mode = _infer_mode(mode, label, group, time)
    if not 0.0 < minhash_threshold <= 1.0:
        raise ConfigError(
            f"--near-threshold {minhash_threshold}: an estimated Jaccard in (0, 1], e.g. 0.8"
        )
    if not 0.0 <= join_min_ratio <= 1.0:
        raise ConfigError(f"--join-min-ratio {join_min_ratio}: a fraction in [0, 1]")
    if not 1 <= ngram <= 1000:
        raise ConfigError(f"--ngram {ngram}: choose a word n-gram length between 1 and 1000")
    from curagate.io import expand_inputs
    from curagate.io.outputs import refuse_overlap

    # `split DIR --out DIR` run twice would read its own outputs back.
    refuse_overlap(Path(out), inputs, expand_inputs(inputs))
    loaded = _load(inputs, format=format, text_field=text_field, preference_key=preference_key)
    n = loaded.table.num_rows

    labels = [_label_text(v) for v in _column(loaded, label, "--label")] if label else None
    together: list[Sequence[Any]] = []
    used_cluster = cluster_column
    if cluster_column is None and DEFAULT_CLUSTER_COLUMN in loaded.table.column_names:
        used_cluster = DEFAULT_CLUSTER_COLUMN
    if used_cluster:
        together.append([_hashable(v) for v in _column(loaded, used_cluster, "--cluster-column")])
    clusters_info: dict[str, Any] | None = None
    if clusters is not None:
        cluster_of, clusters_info = _clusters_file(Path(clusters), loaded.ids)
        together.append(cluster_of)
    join_methods = [m for m, on in (("minhash", join_near), ("ngram", join_ngram)) if on]
    if join_methods:
        together.append(
            overlap_components(
                loaded.key_array,
                methods=join_methods,
                minhash_threshold=minhash_threshold,
                ngram=ngram,
                min_ratio=join_min_ratio,
            )
        )
    semantic_info: dict[str, Any] | None = None
    if semantic:
        from curagate.semantic import default_cache_dir, semantic_clusters

        sem = semantic_clusters(
            loaded.keys,
            model=model,
            threshold=semantic_threshold,
            cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
        )
        together.append([c if c >= 0 else None for c in sem.cluster.tolist()])
        semantic_info = {
            "threshold": semantic_threshold,
            "model": sem.model,
            "clusters": sem.n_clusters,
        }
    plan = assign_rows(
        loaded.key_array,
        ratios=fractions,
        seed=seed,
        mode=resolved_mode,
        labels=labels,
        groups=_column(loaded, group, "--group") if group else None,
        times=_column(loaded, time, "--time") if time else None,
        time_column=time or "time",
        together=together,
        where=loaded.where,
    )

    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    split_rows: list[list[int]] = [[], [], []]
    for r, s in enumerate(plan.split):
        split_rows[s].append(r)
    splits_info: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for s, name in enumerate(SPLIT_NAMES):
        idx = pa.array(split_rows[s], type=pa.int64())
        part = loaded.table.take(idx)
        path = out_dir / f"{name}.parquet"
        _write_parquet(part, path)
        counts[name] = part.num_rows
        info: dict[str, Any] = {
            "file": path.name,
            "rows": part.num_rows,
            "ratio": round(part.num_rows / n, 6),
            "sha256": sha256_file(path),
        }
        if labels is not None:
            info["labels"] = dict(sorted(Counter(labels[r] for r in split_rows[s]).items()))
        splits_info[name] = info

    quarantine_info: dict[str, Any] = {"rows": len(loaded.quarantined)}
    if loaded.quarantined:
        qpath = out_dir / "quarantine.jsonl"
        write_text_atomic(qpath, "".join(q.to_jsonl() for q in loaded.quarantined))
        quarantine_info.update(file=qpath.name, sha256=sha256_file(qpath))

    if verify:
        verification = verify_splits(
            [[loaded.keys[r] for r in rows] for rows in split_rows],
            [[loaded.ids[r] for r in rows] for rows in split_rows],
            ngram=ngram,
            minhash_threshold=minhash_threshold,
        )
    else:
        verification = {"skipped": True, "leaks_total": 0}

    manifest: dict[str, Any] = {
        "schema_version": 1,
        "mode": resolved_mode,
        "seed": seed,
        "ratios": dict(zip(SPLIT_NAMES, (round(f, 6) for f in fractions), strict=True)),
        "join": {"methods": join_methods, "min_ratio": join_min_ratio},
        "columns": {"label": label, "group": group, "time": time, "cluster": used_cluster},
        "inputs": {"files": loaded.files, "total_rows": sum(f["rows"] for f in loaded.files)},
        "units": {"count": plan.n_units, "largest": plan.largest_unit},
        "clusters_file": clusters_info,
        "semantic": semantic_info,
        "splits": splits_info,
        "quarantined": quarantine_info,
        "verification": verification,
    }
    write_text_atomic(
        out_dir / MANIFEST_NAME,
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )
    return SplitResult(out_dir, counts, manifest)
