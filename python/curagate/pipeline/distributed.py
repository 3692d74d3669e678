"""Drive the staged curate (:mod:`curagate.pipeline.stages`) on an executor.

``curagate curate --executor ray`` (and any fsspec URL input or output)
comes here. The output has the same bytes as the one-process run for the
same input and config, whatever the executor, worker and shard counts.

The work directory (``--work-dir``, default ``OUT.curagate-work`` next to
the output) holds every stage's files and completion markers: a rerun with
the same inputs and config resumes where a killed one stopped, and a rerun
after completion returns at once. A different config or changed inputs
start it afresh.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from curagate.build import BuildMismatch
from curagate.config import CurateConfig
from curagate.digest import file_state, sample_identity
from curagate.errors import InputError, no_records, text_field_unused
from curagate.executors import Executor, get_executor
from curagate.io.atomic import Claim, atomic_path
from curagate.io.outputs import (
    MARKER_NAME,
    check_output,
    other_output,
    read_marker,
    refuse_inside_output,
    refuse_overlap,
)
from curagate.io.readers import (
    JSON_LINES_NAME,
    JSON_SUFFIXES,
    OTHER_CODEC_JSON_NAME,
    TABLE_NAME,
    Unreadable,
    holds_records,
    json_stream_head,
    records_elsewhere,
    scan_inputs,
)
from curagate.io.verify import check_output_folder
from curagate.pipeline import stages
from curagate.pipeline.build import build_steps
from curagate.pipeline.decontaminate import DecontaminateStep
from curagate.pipeline.stages import Plan, Shard
from curagate.pipeline.write import no_clusters, write_json

if TYPE_CHECKING:
    from curagate.split import SplitResult

_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")


def is_url(value: str | os.PathLike[str]) -> bool:
    text = os.fspath(value)
    return "://" in text and not text.startswith("file://")


def _local_or_url(text: str) -> str:
    """``text``, or the path it names when it is a URL of the local file system
    (``local:///data``): such an input is listed, and such an output checked and
    replaced, as the local path it is (an output there was deleted whatever it held)."""
    if not is_url(text):
        return text
    try:
        fs, path = _fsspec().core.url_to_fs(text)
    except (ImportError, ValueError):
        return text  # listing it says what is wrong
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return str(path) if protocols & {"file", "local"} else text


def _local(value: str | os.PathLike[str]) -> str:
    text = os.fspath(value)
    return text[len("file://") :] if text.startswith("file://") else text


@dataclass(frozen=True)
class Remote:
    """A remote shard: where fsspec reads it and the local copy the stages read.
    ``version`` is what the store says of the object beyond its size (fsspec's checksum
    of its listing: an ETag, a generation, a modification time): a file rewritten in
    place with the same size was resumed, and "nothing to do", on the old copy."""

    fs: Any
    path: str
    size: int
    version: str
    target: Path


def resolve_shards(
    inputs: Sequence[str | os.PathLike[str]], work: Path, *, skip_unreadable: bool = False
) -> tuple[list[Shard], dict[str, Remote], list[Unreadable]]:
    """Input files in the one-process order, and the unreadable local paths skipped
    (``skip_unreadable``, as in one process: it was not passed on, so the staged run
    refused what the flag it advised skips). fsspec URLs are listed here and copied into
    ``WORK/inputs/`` by :func:`download` (once: a resumed or finished run does not
    download again)."""
    from curagate.io import expand_inputs

    local = [_local(i) for i in inputs if not is_url(i)]
    urls = [os.fspath(i) for i in inputs if is_url(i)]
    named: dict[str, str] = {}  # name -> readable local path
    skipped: list[Unreadable] = []
    if local:
        paths, skipped = scan_inputs(local, skip_unreadable=skip_unreadable)
        for p in paths:
            named[p.as_posix()] = str(p.resolve())
    remote = _list_remote(urls, work / "inputs") if urls else {}
    for name, r in remote.items():
        named[name] = str(r.target)
    if not local and not urls:
        expand_inputs([])  # the usual "no input given" error
    names = sorted(named)
    return [Shard(i, named[n], n) for i, n in enumerate(names)], remote, skipped


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        from curagate.errors import MissingExtraError

        raise MissingExtraError("ray", "fsspec") from None
    return fsspec


def _list_remote(urls: list[str], into: Path) -> dict[str, Remote]:
    """Every shard under the URLs (files, folders, globs), by fsspec name."""
    import hashlib

    fsspec = _fsspec()
    found: dict[str, Remote] = {}
    for url in urls:
        try:
            fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as e:
            raise InputError(
                f"{url}: cannot open ({e}); install the fsspec package for it"
            ) from None
        if any(c in path for c in "*?["):
            # As a local pattern: hidden names below its fixed part are not matched.
            fixed = re.split(r"/[^/]*[*?\[]", path, maxsplit=1)[0]
            try:
                globbed = fs.glob(path)
            except ValueError as e:  # fsspec's "Invalid pattern" (`**` inside a name)
                raise InputError(f"{url}: {e}") from None
            matches = [m for m in _visible(globbed, fixed) if fs.isfile(m)]
        elif fs.isdir(path):
            # As a local folder is walked: hidden names (`.cache/`, `_SUCCESS`) skipped,
            # suffixes of any case, JSON Lines under a name no reader takes refused.
            matches = _visible(fs.find(path), path)
            misnamed = [m for m in matches if _suffix(m) is None and _misnamed(fs, m)]
            if misnamed:
                raise InputError(
                    f"{fs.unstrip_protocol(misnamed[0])}: records in a file that curagate does "
                    "not read; if it holds JSON Lines, rename it to .jsonl (or .jsonl.gz / "
                    ".jsonl.zst), if a JSON array, write it as JSON Lines, if Parquet, rename it "
                    "to .parquet, if a CSV/TSV table, convert it to JSON Lines, if compressed "
                    "with bz2 or xz, recompress it with gzip or zstd, else move it out of the "
                    "input folder"
                )
        elif fs.isfile(path):
            matches = [path]
        else:
            raise InputError(f"{url}: no such file or directory")
        shards = [m for m in matches if _suffix(m) is not None]
        if not shards:
            raise InputError(f"{url}: no {', '.join(_SUFFIXES)} file there")
        for m in shards:
            name = fs.unstrip_protocol(m)
            size = int(fs.size(m))
            version = str(fs.checksum(m))
            suffix = _suffix(m)
            digest = hashlib.sha256(f"{name}\0{size}\0{version}".encode()).hexdigest()[:24]
            found[name] = Remote(fs, m, size, version, into / f"{digest}-{size}{suffix}")
    return found


def _misnamed(fs: Any, path: str) -> bool:
    """Records under a name no reader takes, as the local walk refuses them: a JSON Lines
    name (``.ndjson``, ``.jsonl.bz2``), a ``.json`` file holding records or a Parquet file
    named otherwise (their first bytes read from the store); they were skipped without a
    word."""
    import lzma

    lower = path.lower()
    if JSON_LINES_NAME.search(lower):
        return True
    try:
        with fs.open(path, "rb") as f:
            if TABLE_NAME.search(lower) or OTHER_CODEC_JSON_NAME.search(lower):
                # a CSV/TSV table, JSON compressed with bz2 or xz
                return records_elsewhere(path, json_stream_head(f, path, 1 << 18))
            if not lower.endswith(JSON_SUFFIXES):
                return bool(f.read(4) == b"PAR1")  # Parquet named otherwise (.pq)
            return holds_records(json_stream_head(f, path))
    except (OSError, ValueError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError):
        return False  # a file no reader reads is none of our business, as locally


def _visible(paths: list[str], root: str) -> list[str]:
    """``paths`` with no name starting with '.' or '_' below ``root`` (the readers skip
    them: `.cache/`, `_SUCCESS`)."""
    skip = len(root.rstrip("/"))
    return [p for p in paths if not any(n.startswith((".", "_")) for n in p[skip:].split("/"))]


def _suffix(path: str) -> str | None:
    """The shard suffix ``path`` ends with, in any case (as the local reader matches them)."""
    lower = path.lower()
    return next((x for x in sorted(_SUFFIXES, key=len, reverse=True) if lower.endswith(x)), None)


def download(remote: dict[str, Remote]) -> None:
    for r in remote.values():
        if not r.target.is_file():
            r.target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(r.target) as tmp:
                r.fs.get_file(r.path, str(tmp))


def _fingerprint(plan: Plan, remote: dict[str, Remote]) -> dict[str, Any]:
    files: list[list[Any]] = []
    for s in plan.shards:
        if s.name in remote:
            files.append([s.name, remote[s.name].size, remote[s.name].version])
        else:
            files.append([s.name, file_state(s.path)])
    from curagate.build import build_id

    return {
        "schema": stages.WORK_SCHEMA,
        # Another curagate build computes other bytes: its stage files are not resumed.
        "build": build_id(),
        "config": plan.cfg.model_dump(mode="json", exclude={"threads", "spill_dir"}),
        "shards": files,
        "reference": None
        if plan.reference is None
        else [plan.reference.options, plan.reference.digest],
    }


def _check_unchanged(plan: Plan, remote: dict[str, Remote], fingerprint: dict[str, Any]) -> None:
    """An input replaced, rewritten or removed since the plan was made is an InputError:
    its rows would be written under decisions made on other rows."""
    now = _fingerprint(plan, remote)["shards"]
    for was, is_ in zip(fingerprint["shards"], now, strict=True):
        if was != is_:
            raise InputError(
                f"{was[0]}: changed while curate ran (replaced, rewritten or removed since it was "
                "first read), so its rows may not be the ones deduplicated; run again once "
                "nothing writes to the inputs"
            )


def run(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    cfg: CurateConfig,
    *,
    executor: str | Executor = "local",
    ray_address: str | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    besides: Sequence[tuple[str, str | os.PathLike[str]]] | None = None,
) -> Any:
    """Curate ``inputs`` into ``out`` with the staged pipeline; returns a
    :class:`curagate.curate.CurateResult` (``runtime`` says how many tasks
    ran and how many were resumed from a previous attempt). ``besides`` names
    what the run reads besides its inputs (the config file, the references: an
    ``out`` holding one is refused); the references when not given."""
    started = time.perf_counter()
    stages.check_supported(cfg)
    inputs = [_local_or_url(i) for i in _inputs_list(inputs)]
    out_text = _local_or_url(os.fspath(out))
    if work_dir is not None:
        work_dir = _local_or_url(os.fspath(work_dir))
        if is_url(work_dir):
            # It was made a local folder named "memory:/w" (on each Ray node another).
            raise InputError(
                f"--work-dir {work_dir}: a URL; the work folder must be a path every worker "
                "sees (on one machine any folder, on a cluster a shared file system mounted "
                "on every node)"
            )
    if ray_address and executor == "ray":
        # An address that is no Ray cluster is refused before the work folder is made
        # (every refused address left OUT.curagate-work behind, no work done).
        from curagate.executors.ray import check_address

        check_address(ray_address)
    remote_out = is_url(out_text)
    out_local = Path(_local(out_text))
    work = Path(
        work_dir
        if work_dir is not None
        else (
            f"{out_local}.curagate-work"
            if not remote_out
            else Path(os.environ.get("TMPDIR", "/tmp")) / f"curagate-work-{_slug(out_text)}"
        )
    )
    # The work folder inside an input folder: a rerun would read its stage files as input;
    # inside another output, that output would fail its check from then on.
    refuse_inside_output(work, "--work-dir")
    refuse_overlap(work, [i for i in _inputs_list(inputs) if not is_url(i)], [], "--work-dir")
    if not remote_out:
        _refuse_work_and_out_overlap(work, out_local)
    # Made by this run: a refusal before any task ran (the cluster refused, another build)
    # removes it again, as the address refusal above leaves none.
    made = not work.exists()
    try:
        work.mkdir(parents=True, exist_ok=True)
        lock = (work / ".lock").open("a")
    except OSError as e:
        raise InputError(
            f"--work-dir {work}: cannot create or use it ({e.strerror or e}); choose a folder "
            "you can write"
        ) from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another run's plan differs from this one's, so it would delete the stage
            # files that run is still reading (exit 3 there): one run per work folder.
            raise InputError(
                f"--work-dir {work}: another curate run is using it; wait for that run to "
                "finish or give this one its own --work-dir"
            ) from None
        if besides is None:
            from curagate.curate import references_read

            besides = references_read(cfg)
        return _run_in(
            inputs,
            out_text,
            out_local,
            remote_out,
            work,
            cfg,
            executor,
            ray_address,
            started,
            besides,
            made,
        )


def _run_in(
    inputs: Sequence[str | os.PathLike[str]],
    out_text: str,
    out_local: Path,
    remote_out: bool,
    work: Path,
    cfg: CurateConfig,
    executor: str | Executor,
    ray_address: str | None,
    started: float,
    besides: Sequence[tuple[str, str | os.PathLike[str]]],
    made: bool = False,
) -> Any:
    """:func:`run` once its work folder is this process's (locked); ``made``: by this
    run, so removed again when the executor refuses to start."""
    from curagate.curate import CurateResult, references_read

    shards, remote, skipped = resolve_shards(inputs, work, skip_unreadable=cfg.skip_unreadable)
    # A work folder holding an input: its cleanup (and a new plan) deletes the folders it
    # names sketch/, filter/, ... under it, an input folder of that name included.
    # (Remote inputs are downloaded into work/inputs/: those copies are ours.)
    downloads = (work / "inputs").resolve()
    given = [Path(s.path) for s in shards if not is_url(s.path)]
    given = [p for p in given if downloads not in p.resolve().parents]
    local_inputs = [i for i in _inputs_list(inputs) if not is_url(i)]
    refuse_overlap(work, local_inputs, given, "--work-dir")
    claim = None  # a remote output is built in the work folder, this run's alone
    if not remote_out:
        files = [Path(s.path) for s in shards]
        local = [i for i in _inputs_list(inputs) if not is_url(i)]
        claim = check_output(out_local, "curate", local, files, besides, references_read(cfg))
    else:
        _check_remote_out(
            out_text,
            [s.name for s in shards if s.name in remote],
            [i for i in _inputs_list(inputs) if is_url(i)],
        )
    ex_name = executor if isinstance(executor, str) else executor.name
    # A Ray task reserves one CPU: its Rust pool uses one thread, and the
    # cluster's parallelism comes from running tasks side by side.
    threads = 1 if cfg.threads is None and ex_name == "ray" else cfg.threads
    reference = None
    if cfg.decontaminate.reference:
        # Built once here; the sketch tasks get it through the executor (Ray's
        # object store) as the core's serialized index, not rebuilt per worker.
        index = DecontaminateStep(cfg).index
        d = cfg.decontaminate
        settings = {
            "ngram": d.ngram,
            "methods": list(d.methods),
            "min_ratio": d.min_ratio,
            "min_span_words": d.min_span_words,
            "min_span_ratio": d.min_span_ratio,
        }
        reference = stages.reference_of(index, settings, threads)
    plan = Plan(cfg, shards, str(work.resolve()), reference, threads)

    fingerprint = _fingerprint(plan, remote)
    # Each task's done.json records the plan and the input it read (checked on resume).
    plan = dataclasses.replace(
        plan,
        digest=hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest(),
        states=tuple(fingerprint["shards"]),
    )
    _refuse_links(work)
    if not (work / "plan.json").is_file():
        # Not a work folder of curate's (it writes plan.json first): its stage-named
        # folders (output/, filter/, inputs/, ...) would be deleted as leftovers, a user's
        # own files with them, after a run that said it succeeded.
        foreign = sorted(p.name for p in work.iterdir() if p.name != ".lock")
        if foreign:
            raise InputError(
                f"--work-dir {work}: holds {', '.join(foreign[:3])}"
                f"{' ...' if len(foreign) > 3 else ''} but no plan.json, so it is not a work "
                "folder of curate's, whose stage folders a run deletes: give an empty or new folder"
            )
    plan_file = work / "plan.json"
    if not plan_file.is_file() or _read_plan(plan_file) != json.loads(json.dumps(fingerprint)):
        # Another config or changed inputs, or no plan to tell (stage files of another
        # corpus, their plan.json gone, were resumed): nothing here can be reused.
        for child in ("sketch", "groups", "bucket", "cluster", "filter", "inputs", "done.json"):
            target = work / child
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    write_json(plan_file, fingerprint)

    if (work / "done.json").is_file():
        # Finished before with this plan: nothing to do if the output is still the one that
        # run wrote, unchanged. Another run may have replaced it since (another config, a
        # one-process run), or someone edited it: then it is built again.
        if _still_ours(work / "done.json", out_text, out_local, remote_out):
            stats_text = (
                _read_stats(out_text) if remote_out else _read_local(out_local / "stats.json")
            )
            if stats_text is not None:
                _cleanup(work)  # what a run killed after its done.json left behind
                stats = json.loads(stats_text)
                out_path = Path(out_text) if remote_out else out_local
                return CurateResult.of(out_path, stats, started, {"tasks": 0, "resumed": "all"})
        (work / "done.json").unlink()
    download(remote)
    # What each task checks the file it reads against (a node seeing other bytes there).
    plan = dataclasses.replace(plan, inputs=tuple(sample_identity(s.path) for s in shards))

    try:
        ex = get_executor(executor, address=ray_address) if isinstance(executor, str) else executor
    except BaseException:
        # No Ray cluster, one with no CPU, a node of another build: no task ran, and a work
        # folder this run made holds nothing to resume (it was left behind, plan.json and all).
        if made:
            shutil.rmtree(work, ignore_errors=True)
        raise
    # Only the sketch tasks scan for leakage: the other stages do not carry the index.
    plan_rest = dataclasses.replace(plan, reference=None)
    results: list[dict[str, Any]] = []
    timings: dict[str, dict[str, float]] = {}

    def stage(name: str, fn: Any, items: Sequence[Any]) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        out: list[dict[str, Any]] = ex.map(fn, plan if name == "sketch" else plan_rest, items)
        fresh = [r for r in out if not r.get("resumed")]
        timings[name] = {
            "wall_s": round(time.perf_counter() - t0, 3),
            "task_s": round(sum(r.get("seconds", 0.0) for r in fresh), 3),
            "max_task_rss_mib": round(
                max((r.get("peak_rss_kib", 0) for r in fresh), default=0) / 1024, 1
            ),
            "bytes": _tree_bytes(work / ("groups" if name == "groups" else name)),
        }
        if name == "bucket":
            # Key ranges a partition was cut into to stay within memory_budget.
            timings[name]["max_subpartitions"] = max(
                (r.get("subpartitions", 1) for r in out), default=1
            )
        results.extend(out)
        return out

    try:
        sketched = stage("sketch", stages.sketch, shards)
        _check_shared(plan)
        if cfg.split.enabled:
            # As one process says it while reading: naming the inputs, before the dedup.
            from curagate.pipeline.split_step import refuse_formats_of

            refuse_formats_of(r.get("formats", {}) for r in sketched)
        input_rows = sum(r["input_rows"] for r in results)
        if input_rows == 0:
            raise InputError(no_records([s.name for s in shards]))
        if cfg.text_field is not None and not any(r.get("text_read", True) for r in results):
            raise InputError(text_field_unused(cfg.text_field))
        if plan.dedup:
            stage("groups", _call, ["groups"])
            if cfg.near.enabled:
                stage("bucket", stages.bucket, list(range(stages.PARTITIONS)))
            stage("cluster", _call, ["cluster"])
        # The filter reads the inputs again: they must be the bytes the sketch read.
        _check_unchanged(plan, remote, fingerprint)
        stage("filter", stages.filter_shard, shards)
        _check_unchanged(plan, remote, fingerprint)
    except BuildMismatch:
        # A worker of another build may have written stage files under this plan: none
        # is resumed by the next run (nor kept, in a work folder this run made).
        plan_file.unlink(missing_ok=True)
        if made:
            shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        ex.close()

    build = work / "output" if remote_out else out_local
    t0 = time.perf_counter()
    stats, split_result = _finish(plan, build, claim, skipped)
    timings["finish"] = {"wall_s": round(time.perf_counter() - t0, 3)}
    published = _publish(build, out_text) if remote_out else None
    marker = read_marker(build)
    write_json(
        work / "done.json",
        {"out": out_text, "run_id": marker and marker["run_id"], "published": published},
    )
    _cleanup(work)
    runtime = {
        "executor": ex.name,
        "tasks": len(results),
        "resumed": sum(1 for r in results if r.get("resumed")),
        "stages": timings,
    }
    out_path = Path(out_text) if remote_out else out_local
    return CurateResult.of(out_path, stats, started, runtime, split_result)


def _check_shared(plan: Plan) -> None:
    """The sketch tasks' files are where this driver reads them: a --work-dir that is
    another folder on another node (node-local) failed later as an internal error."""
    for shard in plan.shards:
        if stages.done(plan.dir("sketch", f"{shard.index:05d}")) is None:
            raise InputError(
                f"--work-dir {plan.work}: the sketch of {shard.name} finished on a worker, "
                "but this driver does not see its files there; the work folder must be on "
                "a file system every node and the driver share, at the same path"
            )


def _read_plan(path: Path) -> Any:
    """The recorded plan, or None where it does not read (damaged: nothing is reused)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _still_ours(done: Path, out_text: str, out_local: Path, remote_out: bool) -> bool:
    """Whether ``--out`` still holds the output the finished run of ``done`` wrote: its
    marker's run id, and (a local folder) every file as its manifest lists it."""
    try:
        record = json.loads(done.read_text(encoding="utf-8"))
        recorded = record.get("run_id")
    except (OSError, ValueError, AttributeError):
        return False
    if not isinstance(recorded, str):
        return False
    if remote_out:
        # Every object as the store listed it once uploaded (a file rewritten, cut or
        # deleted since left the run "done": only the marker's run id was compared).
        return bool(record.get("published")) and _listing(out_text) == record["published"]
    check = check_output_folder(out_local)
    return check is not None and not check.problems and check.run_id == recorded


def _read_local(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_stats(url: str) -> str | None:
    fs, path = _fsspec().core.url_to_fs(url)
    target = f"{path}/stats.json"
    if not fs.exists(target):
        return None
    text: str = fs.cat(target).decode("utf-8")
    return text


def _check_remote_out(url: str, inputs: Sequence[str], given: Sequence[str]) -> None:
    """The local checks, on a store: a folder is replaced only when it is a complete curate
    output holding nothing but what that output wrote, no input inside it (another
    command's output, a user's file put into it and the inputs themselves were deleted),
    and not inside an input folder (``given``: the next run read the output back)."""
    fsspec = _fsspec()
    fs, path = fsspec.core.url_to_fs(url)
    root = str(path).rstrip("/")
    named = fs.unstrip_protocol(root)  # as the inputs are named (another store: never alike)
    for name in inputs:
        if name == named or name.startswith(named + "/"):
            raise InputError(f"--out {url}: contains input {name}; write outputs elsewhere")
    for item in given:
        fs_in, where = fsspec.core.url_to_fs(item)
        folder = re.split(r"/[^/]*[*?\[]", str(where), maxsplit=1)[0].rstrip("/")
        if named.startswith(fs_in.unstrip_protocol(folder) + "/"):
            raise InputError(
                f"--out {url}: is inside input folder {item}; the next run would read its "
                "outputs back: write outputs elsewhere"
            )
    if not fs.exists(path):
        return
    if not fs.isdir(path):
        raise InputError(f"--out {url}: exists and is not a directory")
    files = [str(f)[len(root) + 1 :] for f in fs.find(path)]
    if not files:
        return
    try:
        marker = json.loads(fs.cat(f"{root}/{MARKER_NAME}"))
    except (OSError, ValueError, RecursionError):
        marker = None
    if marker is None and UPLOAD_NAME in files:
        # An upload of curate's cut short: replaced, if it holds nothing it did not name.
        try:
            upload = json.loads(fs.cat(f"{root}/{UPLOAD_NAME}"))
        except (OSError, ValueError, RecursionError):
            upload = None
        if isinstance(upload, dict) and upload.get("tool") == "curagate":
            marker = {**upload, "complete": True, "tree": upload.get("files")}
    if not (
        isinstance(marker, dict)
        and marker.get("tool") == "curagate"
        and marker.get("complete") is True
    ):
        marker = None
    if marker is not None and (why := other_output(url, marker.get("command"), "curate")):
        raise InputError(why)
    if marker is None or marker.get("command") != "curate":
        raise InputError(
            f"--out {url}: directory exists and is not a curagate output (no complete curate "
            f"marker {MARKER_NAME}); choose a new or empty directory (curate replaces its "
            "output as a whole)"
        )
    tree, listed = marker.get("tree"), marker.get("files")
    if isinstance(tree, list):
        extra = sorted(f for f in files if f not in (MARKER_NAME, UPLOAD_NAME) and f not in tree)
    else:  # a marker too large to list every file names the top level
        top = {f.split("/")[0] for f in files} - {MARKER_NAME}
        extra = sorted(top - set(listed)) if isinstance(listed, list) else sorted(top)
    if extra:
        raise InputError(
            f"--out {url}: holds {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}, which "
            "the previous curate output did not write; curate replaces its output folder as "
            "a whole: move them out, or choose a new directory"
        )


# Uploaded first and deleted last by _publish: names what the upload will hold, so a
# folder left by a run killed during its upload is known for ours and replaced by the rerun.
UPLOAD_NAME = ".curagate-upload.json"


def _publish(build: Path, url: str) -> dict[str, str]:
    """Upload the output folder ``build`` to ``url``; returns the store's listing of it
    (:func:`_listing`). The upload marker goes up first, naming the old files and the new;
    then the previous output's marker is deleted (from then on it no longer reads as
    complete) and its files; then the files, the manifests, the markers (the top one
    last). A run killed on the way leaves a folder no reader takes for an output, and that
    the rerun replaces. (``fs.put`` sent the marker first and manifest.json before most
    files.)"""
    fs, path = _fsspec().core.url_to_fs(url)
    root = str(path).rstrip("/")
    files = sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file())
    # The previous output (checked to be curate's) and the new one, all named before any
    # is deleted: a run killed while the old files go leaves them to the rerun too.
    old = [rel for rel in _listing(url) if rel != UPLOAD_NAME]

    def rank(rel: str) -> tuple[int, int]:
        name = rel.rsplit("/", 1)[-1]
        if name == MARKER_NAME:
            return (2, -rel.count("/"))  # the deepest first, the output's own last
        return (1, 0) if name.endswith("manifest.json") else (0, 0)

    upload = {"tool": "curagate", "command": "curate", "files": sorted({*files, *old})}
    fs.pipe_file(f"{root}/{UPLOAD_NAME}", json.dumps(upload, sort_keys=True).encode())
    if MARKER_NAME in old:
        fs.rm(f"{root}/{MARKER_NAME}")  # from now on it no longer reads as complete
    for rel in old:
        if rel != MARKER_NAME:
            fs.rm(f"{root}/{rel}")
    for rel in sorted(files, key=rank):
        fs.put_file(str(build / rel), f"{root}/{rel}")
    fs.rm(f"{root}/{UPLOAD_NAME}")
    return _listing(url)


def _listing(url: str) -> dict[str, str]:
    """Each object under ``url`` (path relative to it) and fsspec's checksum of its listing
    (size, ETag or generation, modification time)."""
    fs, path = _fsspec().core.url_to_fs(url)
    root = str(path).rstrip("/")
    try:
        found = fs.find(root)
    except (OSError, ValueError):
        return {}
    return {str(f)[len(root) + 1 :]: str(fs.checksum(f)) for f in sorted(found)}


def _call(plan: Plan, name: str) -> dict[str, Any]:
    """The one-node stages, as a task of the same executor."""
    result: dict[str, Any] = getattr(stages, name)(plan)
    return result


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _slug(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


_STAGES = ("sketch", "groups", "bucket", "cluster", "filter", "output", "inputs")
# A task's folder before its rename (stages._task): one of a killed attempt is left behind.
_TASK_TMP = re.compile(r"\.(?:" + "|".join(_STAGES) + r")\.[0-9a-f]{32}\.tmp")


def _refuse_work_and_out_overlap(work: Path, out: Path) -> None:
    """The work folder and --out must be apart: cleanup deletes work/output (and the other
    stage folders), which deleted an --out there after a run that said it succeeded, and
    an --out replaced as a whole takes a work folder inside it along (exit 3)."""
    w, o = work.resolve(), out.resolve()
    if w == o or o in w.parents or w in o.parents:
        raise InputError(
            f"--work-dir {work} and --out {out}: one is inside the other; the run deletes its "
            "stage folders and replaces --out as a whole: give them separate places"
        )


def _refuse_links(work: Path) -> None:
    """What the run deletes and rewrites in its work folder must be its own folders: a link
    there (sketch -> ../elsewhere) was followed for writes, and rmtree refused it (exit 3)."""
    for name in (*_STAGES, "plan.json", "done.json"):
        if (work / name).is_symlink():
            raise InputError(
                f"--work-dir {work}: {name} is a symbolic link; the work folder holds only "
                "what curate writes there: remove the link or give another --work-dir"
            )


def _cleanup(work: Path) -> None:
    """Drop the stage files once the output is in place, and the folders of task attempts
    killed before their rename; the markers of completion (plan.json, done.json) stay so a
    rerun is a no-op."""
    for child in _STAGES:
        shutil.rmtree(work / child, ignore_errors=True)
    for left in work.iterdir():
        if _TASK_TMP.fullmatch(left.name) and left.is_dir() and not left.is_symlink():
            shutil.rmtree(left, ignore_errors=True)


def _finish(
    plan: Plan, out: Path, claim: Claim | None, skipped: list[Unreadable]
) -> tuple[dict[str, Any], SplitResult | None]:
    """Assemble the output directory from the shard files (atomically; ``claim``: see
    :func:`curagate.io.atomic.atomic_path`; ``skipped``: the unreadable inputs
    --skip-unreadable passed over, listed in stats.json)."""
    from curagate.curate import SourceCounts, build_stats, seal

    cfg = plan.cfg
    sources = []
    core_stats: dict[str, Any] = {}
    if plan.dedup:
        info = stages.done(plan.dir("cluster"))
        assert info is not None
        core_stats = dict(info["stats"])
    # The stages did the scanning; the steps report their counters and seal.
    steps = build_steps(cfg, stats_only=True, core_stats=core_stats)
    aside = [stages.done(plan.dir("sketch", f"{s.index:05d}")) for s in plan.shards]
    counts = [sk.get("media_set_aside") for sk in aside if sk is not None]
    for step in steps:
        if isinstance(step, DecontaminateStep) and any(n is not None for n in counts):
            step.media_set_aside = sum(n or 0 for n in counts)
    if cfg.split.enabled:
        # What the sketch tasks kept of their inputs' rows: curate --split names a JSONL
        # row by its line and reads JSON numbers kept as strings as numbers, as in one
        # process (they were strings, and rows were named "data.jsonl row 3").
        from curagate.pipeline.split_step import SPLIT_ROWS, SplitStep

        for step in steps:
            if isinstance(step, SplitStep):
                step.read_staged(
                    plan.dir("sketch", f"{shard.index:05d}", SPLIT_ROWS) for shard in plan.shards
                )
    with atomic_path(out, claim=claim) as tmp:
        tmp.mkdir()
        rows: dict[Path, int] = {}
        cluster_tables: list[pa.Table] = []
        with (tmp / "quarantine.jsonl").open("wb") as quarantine:
            for shard in plan.shards:
                sk = stages.done(plan.dir("sketch", f"{shard.index:05d}"))
                fd = plan.dir("filter", f"{shard.index:05d}")
                fl = stages.done(fd)
                assert sk is not None and fl is not None
                for rel, count in fl["rows"].items():
                    target = tmp / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _move_or_copy(fd / rel, target)
                    rows[target] = count
                if (fd / "clusters.parquet").is_file():
                    pf = pq.ParquetFile(fd / "clusters.parquet")
                    cluster_tables += [pf.read_row_group(k) for k in range(pf.num_row_groups)]
                with plan.dir("sketch", f"{shard.index:05d}", "quarantine.jsonl").open("rb") as q:
                    shutil.copyfileobj(q, quarantine)
                sources.append(
                    SourceCounts(
                        shard.name, sk["input_rows"], sk["quarantined"], fl["kept"], fl["removed"]
                    )
                )
        clusters = pa.concat_tables(cluster_tables) if cluster_tables else no_clusters()
        pq.write_table(clusters, tmp / "clusters.parquet", compression="zstd")
        quarantined = sum(s.quarantined for s in sources)
        stats = build_stats(cfg, sources, steps, skipped)
        rows[tmp / "clusters.parquet"] = clusters.num_rows
        rows[tmp / "quarantine.jsonl"] = quarantined
        split_result = seal(steps, tmp, out, stats, rows)
    return stats, split_result


def _move_or_copy(src: Path, dst: Path) -> None:
    """Move when the work dir and the output share a file system (the finish step then
    costs per file, not per byte), else copy. Never a hard link: a run killed before its
    cleanup would leave output files with a second name in the work folder (`verify`
    fails them, and a write there changes the output). A moved file is missing from its
    task's folder, so should the finish not complete, the rerun redoes that task."""
    try:
        src.rename(dst)
    except OSError:
        shutil.copyfile(src, dst)


def _inputs_list(inputs: Any) -> list[str]:
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    return [os.fspath(x) for x in items]
