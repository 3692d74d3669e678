"""Versioned golden sets and their lock manifest.

A golden set is a folder under the golden directory (``golden_sets/`` by
default) holding a ``set.yaml`` (name, task, version, provenance, license,
files) and its JSONL data. ``lock.json`` records the sha256 and size of every
set; the gate refuses a set whose files no longer match the lock, so a golden
set never changes silently. ``curagate golden lock`` rewrites the lock on
purpose, after a reviewed change.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from curagate.digest import files_digest, sha256_bytes, sha256_file
from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.gate.tasks import task_names
from curagate.io.atomic import write_text_atomic
from curagate.io.readers import JSON_LINES_NAME
from curagate.item_fields import is_blank
from curagate.records import NotStrictJson, loads_strict
from curagate.yamlio import read_yaml_file

LOCK_FILE = "lock.json"
SET_FILE = "set.yaml"
LOCK_SCHEMA_VERSION = 1
# A set's people-labelled judge comparisons (see curagate.gate.judge): locked with the
# set, but not items.
HUMAN_LABELS = "human_labels.jsonl"
SMALL_SET_ITEMS = 200
# Besides the gate's task types: an lm-evaluation-harness suite (the gate's regression_suite).
LM_EVAL_TASK = "lm_eval"
MULTIPLE_CHOICE = "multiple_choice"


def task_types() -> tuple[str, ...]:
    """What a set's ``task`` may be: a registered gate task type, or lm_eval."""
    return (*task_names(), LM_EVAL_TASK)


@dataclass(frozen=True)
class GoldenSet:
    """One locked golden set, resolved to absolute file paths."""

    name: str
    task: str
    version: str
    sha256: str
    size: int
    files: dict[str, str]
    root: Path
    provenance: str = ""
    license: str = ""
    license_file: str | None = None
    description: str = ""
    # Where a snapshot's files were copied from (None: ``root`` is the set folder itself).
    origin: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.root / rel for rel in sorted(self.files)]

    def to_lock_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "task": self.task,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "files": dict(sorted(self.files.items())),
            "provenance": self.provenance,
            "license": self.license,
            "description": self.description,
        }
        if self.license_file:
            entry["license_file"] = self.license_file
        return entry


def is_item_file(path: Path) -> bool:
    """Whether a set's file holds items (JSONL, not the human labels)."""
    return path.suffix == ".jsonl" and path.name != HUMAN_LABELS


def jsonl_values(path: Path) -> Iterator[Any]:
    """The JSON value of each non-blank line of a JSONL file, its lines split as the item
    and corpus readers split them (at ``\\n`` only, :func:`is_blank`); None for a line
    that does not parse (the readers quarantine it). Read as text (universal newlines), a
    bare ``\\r`` where JSON allows whitespace split an item, which then parsed as nothing
    (found by attack)."""
    with path.open("rb") as f:
        for raw in f:
            if is_blank(raw):
                continue
            try:
                yield json.loads(raw)
            except (ValueError, RecursionError):
                yield None


def count_items(path: Path) -> int:
    if not is_item_file(path):
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if not is_blank(line))


# A set's name: it names the set in the lock, gate files, reports and printed lines.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _read_set_yaml(path: Path) -> dict[str, Any]:
    try:
        data, _ = read_yaml_file(path)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys name, task, version, files")
    for key in ("name", "task", "version", "files"):
        if key not in data:
            raise ConfigError(f"{path}: missing key {key!r}; add it (see docs/gate.md#golden-sets)")
    name = data["name"]
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name):
        # A list was stringified into the lock, and a newline forged a line of its output.
        raise ConfigError(
            f"{path}: key 'name': {name!r} must be a name of letters, digits, '.', '_' and "
            "'-' (it names the set in the lock, gate files and reports)"
        )
    if data["task"] not in task_types():
        raise ConfigError(
            f"{path}: key 'task': {data['task']!r} is not one of {', '.join(task_types())}"
        )
    if not isinstance(data["files"], list) or not data["files"]:
        raise ConfigError(
            f"{path}: key 'files' must be a non-empty list of paths in the set folder"
        )
    if not isinstance(data["version"], str):
        # Unquoted, YAML reads 1.10 as 1.1, 010 as 8 and yes as true: a bump went unseen.
        raise ConfigError(
            f"{path}: key 'version': {data['version']!r} is read by YAML as a "
            f'{type(data["version"]).__name__}, not as written; quote it (version: "1.10")'
        )
    for key in ("version", "license"):
        value = data.get(key, "")
        if not isinstance(value, str) or not value.isprintable():
            # A newline in either forged a line of `golden lock` / `golden list`.
            raise ConfigError(f"{path}: key {key!r}: {value!r} must be one line of printable text")
    _check_files(path, data["files"], items_in_jsonl=data["task"] != LM_EVAL_TASK)
    if data["task"] == LM_EVAL_TASK:
        _check_suite_data(path, data["files"])
    return data


def _check_files(path: Path, files: list[Any], *, items_in_jsonl: bool) -> None:
    """Every listed file is named once and lies inside the set folder: the leakage checks
    (`leakage --reference`, `curate --decontaminate`) read the folder, so a file outside it
    was locked and scored but never scanned. No name on the way starts with '_' or '.', and
    (``items_in_jsonl``: every task but lm_eval, whose suite reads its own data) JSON Lines
    are named .jsonl."""
    root = path.parent.resolve()
    seen: set[str] = set()
    for rel in files:
        if not isinstance(rel, str) or not rel.strip():
            raise ConfigError(f"{path}: key 'files': {rel!r} is not a file name")
        name = os.path.normpath(rel)
        if Path(rel).is_absolute() or name == ".." or name.startswith(("../", "..\\")):
            raise ConfigError(
                f"{path}: key 'files': {rel!r} is outside the set folder; move the file into "
                f"{path.parent} and list it by its name there"
            )
        if root not in (path.parent / rel).resolve().parents:
            raise ConfigError(
                f"{path}: key 'files': {rel!r} leads outside the set folder (a symbolic "
                f"link); copy the file into {path.parent}"
            )
        if name in seen:
            raise ConfigError(f"{path}: key 'files': {rel!r} is listed twice; list it once")
        seen.add(name)
        if any(part.startswith((".", "_")) for part in Path(name).parts):
            # The data readers skip such names (as _SUCCESS, .cache): `leakage --reference`
            # read 1 item of a set whose other 11, in `_more/`, were locked and scored.
            raise ConfigError(
                f"{path}: key 'files': {rel!r}: a name starting with '_' or '.' (the data "
                "readers skip such files and folders, so leakage checks would miss its items); "
                "rename it"
            )
        if Path(name).name == HUMAN_LABELS and rel != HUMAN_LABELS:
            # Found by attack: `more/human_labels.jsonl` was locked (in the set's sha256),
            # but neither read as items (the name is the labels') nor by the judge, which
            # reads the set folder's own file: its 30 items were never scored or scanned.
            raise ConfigError(
                f"{path}: key 'files': {rel!r}: the judge reads human labels only from "
                f"{HUMAN_LABELS} in the set folder, and items are never read from a file of "
                f"that name; list the labels as {HUMAN_LABELS!r} (moved into {path.parent}), "
                "or rename a file of items"
            )
        lower = name.lower()
        if (
            items_in_jsonl
            and not name.endswith(".jsonl")
            and (JSON_LINES_NAME.search(lower) or lower.endswith(".jsonl"))
        ):
            # Items are read from `.jsonl` files only: `hard.JSONL` was locked (its bytes in
            # the set's sha256) and its 30 items were never scored or scanned.
            raise ConfigError(
                f"{path}: key 'files': {rel!r}: items are read from files named .jsonl only; "
                "rename it to .jsonl (uncompressed)"
            )


def _check_suite_data(path: Path, files: list[str]) -> None:
    """An lm_eval set's task YAMLs read only files the set locks: a `data_files` entry
    outside `files` could change under the unchanged sha256 of the set. So each task
    reads a local file builder's `data_files` (json, csv, parquet, text), all listed, and
    has no `include:` (lm-eval merges the included YAML, which may name any data)."""
    listed = {os.path.normpath(rel) for rel in files}
    tasks: dict[str, str] = {}  # task name -> the YAML defining it
    for rel in files:
        if not rel.endswith((".yaml", ".yml")) or not (path.parent / rel).is_file():
            continue
        task_file = path.parent / rel
        try:
            doc, _ = read_yaml_file(task_file)
        except OSError as e:
            raise ConfigError(f"{task_file}: cannot read: {e.strerror or e}") from None
        if not isinstance(doc, dict):
            continue
        task = str(doc.get("task"))
        if task in tasks:
            # lm-eval keeps one of them (which, depends on how it walks the folder) and
            # skips the other's documents with a log line: the suite scored part of the set.
            raise ConfigError(
                f"{task_file}: task {task!r} is also defined by {tasks[task]} in {path}; give "
                "each task YAML of a set its own task name"
            )
        tasks[task] = rel
        if "include" in doc:
            raise ConfigError(
                f"{task_file}: 'include' is not supported in a golden set's task YAML (the "
                "included file may name data the lock does not cover); write its keys here"
            )
        source = doc.get("dataset_path")
        if source not in LOCAL_BUILDERS:
            raise ConfigError(
                f"{task_file}: dataset_path {source!r}: a golden set's task reads its locked "
                f"files through one of {', '.join(LOCAL_BUILDERS)} with dataset_kwargs."
                "data_files (a Hub name or a folder would read data the lock does not cover)"
            )
        kwargs = doc.get("dataset_kwargs") or {}
        if not isinstance(kwargs, dict) or "data_dir" in kwargs or not suite_data_files(doc):
            # data_dir (or no data_files) makes `datasets` read a whole folder: any file.
            raise ConfigError(
                f"{task_file}: a golden set's task names its data in dataset_kwargs.data_files "
                "(each one of the set's files), without data_dir"
            )
        for item in suite_data_files(doc):
            where = os.path.normpath(Path(rel).parent / str(item))
            if not isinstance(item, str) or where not in listed:
                raise ConfigError(
                    f"{task_file}: data_files {item!r} is not one of the set's files in "
                    f"{path}; add it to 'files' (inside the set folder), so the lock covers "
                    "the data the suite reads"
                )
            if not _has_documents(path.parent / where, str(source)):
                # lm-eval stops on a task without documents (StopIteration, exit 3) once
                # both models are loaded.
                raise ConfigError(
                    f"{task_file}: data_files {item!r} holds no documents; add them, or "
                    "drop the file (and the task, if it has no other)"
                )


# The `datasets` builders that read local files (dataset_path of a golden set's task).
LOCAL_BUILDERS = ("json", "csv", "parquet", "text")


def _has_documents(path: Path, builder: str) -> bool:
    """Whether ``builder`` reads at least one document from ``path`` (one row of a Parquet
    file, a CSV row under its header, a line of text, a JSON Lines object or an element
    of a JSON array)."""
    if builder == "parquet":
        import pyarrow.parquet as pq

        try:
            return bool(pq.read_metadata(path).num_rows)
        except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
            raise ConfigError(f"{path}: not a readable Parquet file ({e})") from None
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    if builder == "csv":
        return len(lines) > 1
    if builder == "json" and lines and lines[0].lstrip().startswith(b"["):
        try:
            return bool(json.loads(b"\n".join(lines)))
        except ValueError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
    return bool(lines)


def suite_data_files(doc: dict[str, Any]) -> list[Any]:
    """Every ``data_files`` entry of a task YAML: a string, a list, or a split -> string or
    list mapping, flattened."""
    data = (doc.get("dataset_kwargs") or {}).get("data_files")
    named = data.values() if isinstance(data, dict) else [data] if data is not None else []
    return [item for entry in named for item in (entry if isinstance(entry, list) else [entry])]


def discover_sets(golden_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Map set name -> its ``set.yaml`` for every set folder under ``golden_dir``."""
    root = Path(golden_dir)
    if not root.is_dir():
        raise InputError(f"{root}: golden-set directory not found")
    found: dict[str, Path] = {}
    for set_yaml in sorted(root.glob(f"*/{SET_FILE}")):
        if set_yaml.parent.name.startswith((".", "_")):
            # The data readers skip such folders (as _SUCCESS, .cache): `leakage` and
            # `curate --decontaminate` would never see the set this lock and the gate use.
            raise ConfigError(
                f"{set_yaml.parent}: a golden set folder's name may not start with '_' or '.' "
                "(the data readers skip such folders, so leakage checks would miss the set); "
                "rename it"
            )
        name = str(_read_set_yaml(set_yaml)["name"])
        if name in found:
            raise ConfigError(f"{set_yaml}: set name {name!r} also used by {found[name]}")
        found[name] = set_yaml
    return found


def _described(meta: dict[str, Any]) -> dict[str, Any]:
    """What a set.yaml says of its set, as the lock entry records it."""
    return {
        "task": str(meta["task"]),
        "version": str(meta["version"]),
        "files": sorted(str(rel) for rel in meta["files"]),
        "provenance": str(meta.get("provenance", "")).strip(),
        "license": str(meta.get("license", "")),
        "license_file": meta.get("license_file") or None,
        "description": str(meta.get("description", "")).strip(),
    }


def _holds_json_records(path: Path) -> bool:
    """A ``.json`` (``.gz``, ``.zst``) file of JSON Lines or of an array of objects."""
    from curagate.io.readers import JSON_SUFFIXES, looks_like_records

    return path.name.lower().endswith(JSON_SUFFIXES) and looks_like_records(path)


def _hash_set(set_yaml: Path) -> GoldenSet:
    meta = _read_set_yaml(set_yaml)
    said = _described(meta)
    root = set_yaml.parent
    files: dict[str, str] = {}
    for rel in meta["files"]:
        p = root / str(rel)
        if not p.is_file():
            raise InputError(f"{set_yaml}: listed file {rel!r} not found in {root}")
        if said["task"] != LM_EVAL_TASK and _holds_json_records(p):
            # Locked and hashed, never scored (the gate reads items from .jsonl), while
            # `leakage --reference` read them: the tools disagreed on what the set holds.
            raise ConfigError(
                f"{set_yaml}: key 'files': {rel!r} holds records but items are read from "
                ".jsonl files only; write them as JSON Lines in a .jsonl file"
            )
        files[str(rel)] = sha256_file(p)
    # Read as the gate will: a line it cannot read or a repeated id fails the lock, not a gate.
    # So do items with one input: each copy counted as one more independent item.
    items = items_of(
        [root / rel for rel in sorted(files)],
        distinct=said["task"] != LM_EVAL_TASK,
        task=said["task"],
    )
    if not items and said["task"] != LM_EVAL_TASK:  # locked as "0 items"; the gate refused it
        raise InputError(
            f"{set_yaml}: golden set {meta['name']!r} has no items in {', '.join(files)}; "
            "add its items before locking it"
        )
    if HUMAN_LABELS in files:
        from curagate.gate.judge import read_human_labels  # the gate's reader (imports this module)

        read_human_labels(root / HUMAN_LABELS)
    return GoldenSet(
        name=str(meta["name"]),
        task=said["task"],
        version=said["version"],
        sha256=files_digest(files),
        size=len(items),
        files=files,
        root=root,
        provenance=said["provenance"],
        license=said["license"],
        license_file=said["license_file"],
        description=said["description"],
    )


def lock(
    golden_dir: str | os.PathLike[str],
    names: list[str] | None = None,
    *,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Hash the named sets (all when ``names`` is empty) and rewrite ``lock.json``.

    Sets not named keep their existing lock entry, so locking one reviewed
    change never re-blesses another set's unreviewed edit. ``warn`` is told of every set
    locked again with changed files under an unchanged version.
    """
    root = Path(golden_dir)
    found = discover_sets(root)
    if not found:  # a typo'd folder was locked as "0 sets", and verify then passed it
        raise InputError(
            f"{root}: no golden set here (no subfolder holds a set.yaml); point "
            "`golden lock` at the folder of your golden sets"
        )
    unknown = sorted(set(names or []) - set(found))
    if unknown:
        raise InputError(
            f"{root}: no golden set named {', '.join(unknown)}; known: {', '.join(found)}"
        )
    lock_path = root / LOCK_FILE
    chosen = names or list(found)
    # One writer at a time: two `golden lock --set` runs read, changed and rewrote the
    # manifest side by side, and the later rename dropped the other's entry.
    with (root / ".lock.json.writer").open("a") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX)
        # The entries being locked again may be broken (that is how they are repaired).
        existing = _read_lock(lock_path, repairing=chosen)["sets"] if lock_path.exists() else {}
        entries: dict[str, Any] = {n: e for n, e in existing.items() if n in found}
        for name in chosen:
            entry = _hash_set(found[name]).to_lock_entry()
            changed = _same_version_change(name, existing.get(name), entry)
            if changed is not None and warn is not None:
                warn(changed)
            entries[name] = entry
        doc = {"schema_version": LOCK_SCHEMA_VERSION, "sets": dict(sorted(entries.items()))}
        write_text_atomic(lock_path, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return doc


def _same_version_change(name: str, before: Any, after: dict[str, Any]) -> str | None:
    """The warning for a set whose files changed since it was locked while its ``version``
    stayed: two reports then name "S v1" for different items (only the sha256 tells them
    apart), which a reviewed edit locked on purpose may still want to say."""
    if before is None or _lock_entry_problem(before) is not None:
        return None  # a new set, or a broken entry being repaired
    if before["files"] == after["files"] or before["version"] != after["version"]:
        return None
    return (
        f"golden set {name}: its files changed since it was locked, and it is still version "
        f"{before['version']} (sha256 {before['sha256'][:12]}... -> {after['sha256'][:12]}...); "
        "reports name a set by version: raise `version` in its set.yaml and lock again"
    )


def _read_lock(lock_path: Path, repairing: Sequence[str] = ()) -> dict[str, Any]:
    """The lock manifest, every set's entry checked (but those in ``repairing``)."""
    if not lock_path.is_file():
        raise InputError(
            f"{lock_path}: no lock manifest; create it with: curagate golden lock {lock_path.parent}"
        )
    try:
        # Strict: Python's reader keeps the last of a key given twice, so a reviewer reading
        # a set's first entry saw other files and hashes than the gate checked (found by
        # attack); set.yaml and the items refuse a repeated key already.
        doc = loads_strict(lock_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{lock_path}: line {e.lineno}: not valid JSON: {e.msg}") from None
    except NotStrictJson as e:
        raise ConfigError(
            f"{lock_path}: not strict JSON: {e} (a key given twice, or NaN/Infinity); the "
            "file was edited by hand: restore it, or review every set, delete it and run: "
            f"curagate golden lock {lock_path.parent}"
        ) from None
    except (UnicodeDecodeError, RecursionError, ValueError) as e:
        raise ConfigError(f"{lock_path}: not a usable JSON file ({type(e).__name__})") from None
    if (
        not isinstance(doc, dict)
        or doc.get("schema_version") != LOCK_SCHEMA_VERSION
        or not isinstance(doc.get("sets"), dict)
    ):
        raise ConfigError(f"{lock_path}: unsupported lock manifest (schema_version 1 expected)")
    for name, entry in doc["sets"].items():
        problem = None if name in repairing else _lock_entry_problem(entry)
        if not _PLAIN_NAME.fullmatch(name):  # a newline in it forged a line of golden list
            problem = "the set name is not a plain name (letters, digits, '.', '_', '-')"
        if problem is not None:
            raise ConfigError(
                f"{lock_path}: golden set {name!r}: {problem}; the file was edited by hand: "
                f"restore it, or run: curagate golden lock {lock_path.parent} --set {name}"
            )
    return dict(doc)


def _lock_entry_problem(entry: Any) -> str | None:
    """What is wrong with one set's lock entry (the shape ``golden lock`` writes), if anything."""
    if not isinstance(entry, dict):
        return "the entry is not an object"
    files = entry.get("files")
    if not isinstance(files, dict) or not files:
        return "'files' must be an object of file -> sha256"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        return "'files' must map file names to sha256 strings"
    for key in ("task", "version", "sha256"):
        if not isinstance(entry.get(key), str):
            return f"{key!r} must be a string"
    for key in ("version", "license"):
        value = entry.get(key, "")
        if not isinstance(value, str) or not value.isprintable():
            return f"{key!r} must be one line of printable text"
    if entry["task"] not in task_types():
        return f"'task' {entry['task']!r} is not one of {', '.join(task_types())}"
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "'size' must be a whole number of items"
    return None


def load_locked(golden_dir: str | os.PathLike[str], name: str) -> GoldenSet:
    """Return the locked set ``name`` after checking its files still match the lock.

    Raises :class:`CheckFailed` (exit 1) when a file changed: a golden set
    that changed silently must not decide a release.
    """
    root = Path(golden_dir)
    doc = _read_lock(root / LOCK_FILE)
    entry = doc["sets"].get(name)
    if entry is None:
        raise ConfigError(
            f"{root / LOCK_FILE}: golden set {name!r} is not locked; "
            f"known: {', '.join(sorted(doc['sets'])) or '(none)'}; "
            f"lock it with: curagate golden lock {root} --set {name}"
        )
    found = discover_sets(root)
    if name not in found:
        where = root / name / "set.yaml"
        raise InputError(
            f"{root}: golden set {name!r} is locked but "
            + (f"{where} is missing" if where.parent.is_dir() else "its folder is missing")
            + "; restore it, or lock the sets again without it"
        )
    set_root = found[name].parent
    # set.yaml too: a new version, license or file list must not pass under the lock's.
    locked = {**entry, "files": sorted(entry["files"])}
    for key, value in _described(_read_set_yaml(found[name])).items():
        if locked.get(key, None if key == "license_file" else "") != value:
            raise CheckFailed(
                f"golden set {name!r}: {found[name]}: {key!r} is {value!r} but the lock has "
                f"{locked.get(key)!r}; golden sets never change silently: restore set.yaml, or "
                f"review the change and run: curagate golden lock {root} --set {name}"
            )
    actual: dict[str, str] = {}
    for rel in entry["files"]:
        p = set_root / rel
        if not p.is_file():
            raise CheckFailed(f"golden set {name!r}: locked file {p} is missing")
        actual[rel] = sha256_file(p)
    changed = sorted(rel for rel in entry["files"] if actual[rel] != entry["files"][rel])
    if changed:
        raise CheckFailed(
            f"golden set {name!r}: {', '.join(str(set_root / c) for c in changed)} no longer "
            f"match the sha256 in {root / LOCK_FILE}; golden sets never change silently: "
            f"restore the file, or review the change and run: curagate golden lock {root} --set {name}"
        )
    # The set's digest and size as reports name them: from the files read, never copied
    # from the entry, which a hand edit may have left naming other data.
    digest = files_digest(actual)
    size = sum(count_items(set_root / rel) for rel in actual)
    if (entry.get("sha256"), entry.get("size")) != (digest, size):
        raise CheckFailed(
            f"golden set {name!r}: {root / LOCK_FILE} gives sha256 {entry.get('sha256')} and "
            f"size {entry.get('size')}, but its locked files give sha256 {digest} and {size} "
            "items (the entry was edited by hand); golden sets never change silently: restore "
            f"{LOCK_FILE}, or review the set and run: curagate golden lock {root} --set {name}"
        )
    return GoldenSet(
        name=name,
        task=str(entry["task"]),
        version=str(entry["version"]),
        sha256=digest,
        size=size,
        files=dict(entry["files"]),
        root=set_root,
        provenance=str(entry.get("provenance", "")),
        license=str(entry.get("license", "")),
        license_file=entry.get("license_file"),
        description=str(entry.get("description", "")),
    )


def snapshot(golden: GoldenSet, into: Path) -> GoldenSet:
    """``golden`` read once into ``into/<name>/`` and checked there against its lock: the
    gate scores, runs and scans those bytes, whatever happens to the set folder meanwhile."""
    root = into / golden.name
    changed = []
    for rel, sha in golden.files.items():
        data = (golden.root / rel).read_bytes()
        if sha256_bytes(data) != sha:
            changed.append(rel)
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if changed:
        raise CheckFailed(
            f"golden set {golden.name!r}: {', '.join(changed)} changed while the gate read it; "
            "golden sets never change silently: run the gate again once nothing writes to it"
        )
    return dataclasses.replace(golden, root=root, origin=golden.root)


def verify(golden_dir: str | os.PathLike[str]) -> list[str]:
    """Check every locked set; return problems (empty when all match)."""
    root = Path(golden_dir)
    doc = _read_lock(root / LOCK_FILE)
    problems: list[str] = []
    for name in sorted(doc["sets"]):
        try:
            locked = load_locked(root, name)
            if locked.task != LM_EVAL_TASK:
                read_items(locked)  # what the gate refuses, the lock covering it or not
        except (CheckFailed, InputError) as e:
            problems.append(str(e))
    for name in sorted(set(discover_sets(root)) - set(doc["sets"])):
        problems.append(f"golden set {name!r} has a set.yaml but is not locked")
    return problems


def jsonl_objects(path: Path, shown: Path | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line (:func:`is_blank`) of a JSONL file of
    objects; a line that is not UTF-8 JSON or not an object is an error naming the file and
    line (``shown``: the path errors name, the set folder's for the gate's private copy);
    so is a path that is no readable regular file (a FIFO would block)."""
    name = path if shown is None else shown
    if not path.is_file():
        raise InputError(
            f"{name}: {'not a regular file' if path.exists() else 'no such file'}; give a "
            "JSONL file"
        )
    try:
        f = path.open("rb")
    except OSError as e:
        raise InputError(f"{name}: cannot read it ({e.strerror or e})") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            if is_blank(raw):
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{name}: line {lineno}: not valid UTF-8") from None
            if not line.strip():
                odd = sorted({f"U+{ord(c):04X}" for c in line if not is_blank(c.encode())})
                raise InputError(
                    f"{name}: line {lineno}: a line of whitespace other than ASCII's "
                    f"({', '.join(odd)}) is neither blank nor JSON; delete the line"
                )
            try:
                row = loads_strict(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{name}: line {lineno}: not valid JSON: {e.msg}") from None
            except NotStrictJson as e:
                raise InputError(
                    f"{name}: line {lineno}: not strict JSON: {e}; write the item as RFC 8259 "
                    "JSON (no NaN or Infinity, each key once)"
                ) from None
            except (RecursionError, ValueError) as e:  # nesting or integers beyond any item
                raise InputError(
                    f"{name}: line {lineno}: not a usable JSON line ({type(e).__name__})"
                ) from None
            if not isinstance(row, dict):
                raise InputError(f"{name}: line {lineno}: expected a JSON object")
            try:
                # A \ud800-style escape decodes to a lone surrogate, which no report,
                # items.jsonl or terminal can write.
                json.dumps(row, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"{name}: line {lineno}: holds a lone surrogate escape (such as \\ud800), "
                    "which is not a character; fix the escape"
                ) from None
            yield lineno, row


# The field each item read (:func:`items_of`) carries its draw key in (:func:`draw_key`):
# a plain field, so a copy of the item, ``{**item}`` or a JSON round trip keeps it. An item
# file may not use it.
DRAW_KEY = "_draw_key"


def default_id(path: Path, lineno: int) -> str:
    """An item's id when it has none: ``<file stem>:<line>``."""
    return f"{path.stem}:{lineno}"


def content_key(row: dict[str, Any]) -> str:
    """``sha256:`` and a hash of an item's fields as its line gives them (no ``id``)."""
    fields = {k: v for k, v in row.items() if k not in ("id", DRAW_KEY)}
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + sha256_bytes(body.encode("utf-8"))


def draw_key(item: dict[str, Any]) -> str:
    """What the gate's statistics order an item by (the resampling draws items in this
    order): its id, or, for an item with no id of its own (its default id is its line),
    ``sha256:`` and a hash of its fields (:func:`content_key`), so the interval and p-value
    are the same however the set's lines are ordered. Found by attack: an id-less set
    shuffled gave another report for the same answers. Items of a set differ in their
    input, so do their keys. :func:`items_of` stores it in the item (:data:`DRAW_KEY`);
    found by attack: it was told by the type of the default id (a ``str`` subclass), which
    any rebuilt item dict (a copy, a JSON round trip) lost, falling back to line order. An
    item not read so is ordered by its id."""
    key = item.get(DRAW_KEY)
    return key if isinstance(key, str) else str(item["id"])


def items_of(
    paths: Iterable[Path],
    *,
    distinct: bool = False,
    shown: Callable[[Path], Path] | None = None,
    task: str | None = None,
) -> list[dict[str, Any]]:
    """The items of a set's files (:func:`read_items`); two items with one id (compared as
    text, so ``7`` and ``"7"`` are one, as is an id equal to another item's default id) are
    an error naming both lines. With ``distinct``, so are items with one input
    (:func:`check_distinct`, for a set of ``task``); ``shown`` maps a file read to the path
    errors name."""
    items: list[dict[str, Any]] = []
    located: list[tuple[Path, int, dict[str, Any]]] = []
    seen: dict[str, tuple[Path, int, bool]] = {}
    for path in paths:
        if not is_item_file(path):
            continue
        where = (shown or (lambda q: q))(path)  # a snapshot's copy is deleted at exit
        for lineno, row in jsonl_objects(path, where):
            given = "id" in row
            if DRAW_KEY in row:
                raise InputError(
                    f"{where}: line {lineno}: field {DRAW_KEY!r} is curagate's (the order the "
                    "gate's statistics draw items in); rename the field"
                )
            row.setdefault("id", default_id(path, lineno))
            if isinstance(row["id"], bool) or not isinstance(row["id"], str | int):
                # null, [1, 2] and true became the ids "None", "[1, 2]" and "True".
                raise InputError(
                    f"{where}: line {lineno}: field 'id' is {json.dumps(row['id'])[:40]}; an "
                    "item id is a string or an integer (or leave it out: <file stem>:<line>)"
                )
            key = str(row["id"])
            if key in seen:
                first, first_line, first_given = seen[key]
                raise InputError(
                    f"{where}: line {lineno}: item id {key!r} is also the id of the item on "
                    f"{first}: line {first_line}"
                    + ("" if first_given else " (which has no 'id', so its id is the default)")
                    + ("" if given else " (this line has no 'id', so its id is the default)")
                    + "; give each item its own 'id'"
                )
            seen[key] = (where, lineno, given)
            if task == MULTIPLE_CHOICE:
                check_options(row, where, lineno)
            row[DRAW_KEY] = key if given else content_key(row)
            items.append(row)
            located.append((where, lineno, row))
    if distinct:
        check_distinct(located, task)
    return items


def check_options(row: dict[str, Any], path: Path, lineno: int) -> None:
    """Refuse (exit 2) a multiple-choice item whose ``choices`` hold an option no answer
    can name apart: one that is not text (``null`` was shown to the model as "None", and
    the answer "None" scored), one without a letter or digit (blank, invisible or
    punctuation only: answers are read ignoring those, so an empty answer named it and
    scored; found by attack, a set whose right options were " " passed a model that
    answered nothing), or one that repeats another as answers are read
    (:func:`curagate.gate.metrics.label_key`). Checked when a set is locked and whenever
    the gate reads it."""
    choices = row.get("choices")
    if not isinstance(choices, list):
        return  # the gate names a missing or malformed 'choices' itself
    from curagate.gate.metrics import label_key
    from curagate.gate.tasks.multiple_choice import LETTERS

    where = f"{path}: line {lineno}: item {str(row['id'])!r}: field 'choices'"
    seen: dict[Any, int] = {}
    for i, option in enumerate(choices[: len(LETTERS)]):
        shown = json.dumps(option, ensure_ascii=False)[:40]
        if not isinstance(option, str):
            raise InputError(
                f"{where}: option {LETTERS[i]} is {shown}, not text (the model would be "
                "shown Python's text of it, as 'None' for null); write each option as a "
                "JSON string"
            )
        if label_key(option) == ("text", ""):
            raise InputError(
                f"{where}: option {LETTERS[i]} ({shown}) has no letter or digit (blank, "
                "invisible or punctuation only), so an empty answer would match it (answers "
                "are read ignoring punctuation and spacing); write the option in words"
            )
        first = seen.setdefault(label_key(option), i)
        if first != i:
            # Found by attack: ["Paris", "Paris", "Rome"] was locked; an answer naming the
            # text named neither, and one of the two letters scored 0.
            raise InputError(
                f"{where}: option {LETTERS[i]} ({shown}) reads as option {LETTERS[first]} "
                f"({json.dumps(choices[first], ensure_ascii=False)[:40]}): answers are "
                "matched to options ignoring case, punctuation and spacing, and numbers by "
                "value; keep one of them, or make each option distinct"
            )


# What makes two items one: their input, as the model reads it (``messages``, else
# ``prompt``; ``choices`` for multiple choice), and their expected answer.
INPUT_FIELDS = ("prompt", "messages", "choices")
EXPECTED_FIELDS = ("reference", "should_refuse")
# Groups and ids a duplicate error names before "and N more".
_SHOWN_GROUPS = 5
_SHOWN_LINES = 6


def _kept(c: str) -> bool:
    """A character NFKC would fold into another it is not: a superscript or subscript
    (``ⁿ``, ``²``, ``₂``: "xⁿ" and "xn" ask different things, found by attack) or one it
    would turn into digits (``½``, ``①``); kept as is, so "10²" and "102" stay two
    prompts."""
    if unicodedata.decomposition(c).startswith(("<super>", "<sub>")):
        return True
    return not c.isdecimal() and any(d.isdigit() for d in unicodedata.normalize("NFKC", c))


def _nfkc_keeping(text: str) -> str:
    """NFKC but for the characters of :func:`_kept`, which stay as written."""
    out: list[str] = []
    run: list[str] = []
    for c in text:
        if _kept(c):
            out += [unicodedata.normalize("NFKC", "".join(run)), c]
            run = []
        else:
            run.append(c)
    return "".join([*out, unicodedata.normalize("NFKC", "".join(run))])


# Characters no reader sees, beyond the format characters (Cf): Unicode's other default
# ignorable code points (the combining grapheme joiner, Hangul fillers, Khmer's inherent
# vowels, Mongolian and other variation selectors: a text and an emoji presentation are one
# character), the blank Braille cell and control characters that are not whitespace (NUL,
# DEL). Found by attack: a copy holding one of them was another item.
_IGNORED = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_ZWJ = "\u200d"


def _ignored(c: str) -> bool:
    cat = unicodedata.category(c)
    if cat == "Cf" or (cat == "Cc" and not c.isspace()):
        return True
    return any(lo <= ord(c) <= hi for lo, hi in _IGNORED)


def _pictograph(c: str) -> bool:
    """An emoji a zero-width joiner or tag characters may follow: a symbol (``So``: 👨,
    🏴, ❤) or a skin-tone modifier."""
    return unicodedata.category(c) == "So" or 0x1F3FB <= ord(c) <= 0x1F3FF


def _tag(c: str) -> bool:
    return 0xE0020 <= ord(c) <= 0xE007F


def _visible(text: str) -> str:
    """``text`` without the characters no reader sees (:func:`_ignored`), but for those an
    emoji is made of (found by attack: without them, other items were called copies): the
    zero-width joiner between two emoji (👨‍👩‍👧, one family, is not 👨👩👧, three
    people) and the tag characters after one (🏴 with the tags of gbsct is Scotland's flag,
    with those of gbwls Wales')."""
    kept: list[str] = []
    for c in text:
        in_flag = _tag(c) and bool(kept) and (_pictograph(kept[-1]) or _tag(kept[-1]))
        if c == _ZWJ or in_flag or not _ignored(c):
            kept.append(c)
    out = []
    for i, c in enumerate(kept):
        if c == _ZWJ and not (
            0 < i < len(kept) - 1 and _pictograph(kept[i - 1]) and _pictograph(kept[i + 1])
        ):
            continue
        out.append(c)
    return "".join(out)


def normalized_text(text: str) -> str:
    """``text`` as duplicates are compared: without the characters no reader sees (format
    characters, zero-width ones, the soft hyphen: found by re-attack, a copy holding one
    was another item; variation selectors, control characters, :func:`_visible`), NFKC
    (but for superscripts, subscripts and characters it would make digits of), case-folded,
    runs of whitespace as one space, none at the ends."""
    return " ".join(_nfkc_keeping(_nfkc_keeping(_visible(text)).casefold()).split())


def _normalized(value: Any) -> Any:
    """A JSON value with every string in it :func:`normalized_text` (keys kept)."""
    if isinstance(value, str):
        return normalized_text(value)
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    return value


def _choices(row: dict[str, Any], task: str | None) -> list[str] | None:
    """A multiple-choice item's choices as the gate shows them (their text); None when
    the item has none the gate would take."""
    choices = row.get("choices")
    if task != MULTIPLE_CHOICE or not isinstance(choices, list) or not 0 < len(choices) <= 26:
        return None
    return [str(c) for c in choices]


def _chat(row: dict[str, Any], task: str | None) -> Any:
    """The chat the model reads for an item, as the gate builds it: ``messages`` when set
    (each turn's role and content: the gate drops other keys, a ``name`` among them), else
    the ``prompt`` as one user turn, for multiple choice with the choices the gate writes
    after it (found by re-attack: an item written once as a prompt and once as that user
    turn was two items); None for an item that has neither as the gate takes them."""
    messages = row.get("messages")
    if messages is not None:
        if not isinstance(messages, list):
            return messages
        return [
            {k: m[k] for k in ("role", "content") if k in m} if isinstance(m, dict) else m
            for m in messages
        ]
    prompt = row.get("prompt")
    if not isinstance(prompt, str):
        return None
    choices = _choices(row, task)
    if choices is not None:
        from curagate.gate.tasks.multiple_choice import rendered_prompt

        prompt = rendered_prompt(prompt, choices)
    return [{"role": "user", "content": prompt}]


def _input_key(row: dict[str, Any], task: str | None) -> str:
    """An item's input (:data:`INPUT_FIELDS`) as one comparable JSON text: the chat the
    model reads (:func:`_chat`) and the choices, normalized (:func:`normalized_text`)."""
    picked: dict[str, Any] = {}
    chat = _chat(row, task)
    if chat is not None:
        picked["messages"] = _normalized(chat)
    elif row.get("prompt") is not None:
        picked["prompt"] = _normalized(row["prompt"])
    choices = _choices(row, task)
    if choices is not None or row.get("choices") is not None:
        picked["choices"] = _normalized(choices if choices is not None else row["choices"])
    return json.dumps(picked, sort_keys=True, ensure_ascii=False)


def _expected_key(row: dict[str, Any], task: str | None) -> str:
    """An item's expected answer (:data:`EXPECTED_FIELDS`) as one comparable JSON text. A
    reference is compared by what it means: a choice's index, letter or text (``0``,
    ``"A"`` and ``"Paris"`` when Paris is choice A: found by re-attack, they were called
    different answers), a number or its text (``4`` and ``"4"``)."""
    picked = {k: _normalized(row[k]) for k in EXPECTED_FIELDS if row.get(k) is not None}
    if "reference" in picked:
        picked["reference"] = _reference(row, picked["reference"], task)
    return json.dumps(picked, sort_keys=True, ensure_ascii=False)


def _reference(row: dict[str, Any], normalized: Any, task: str | None) -> Any:
    """What a reference means: the index of the choice it names (by index, letter or text,
    as the gate reads it), a number as one text (``4``, ``4.0``, ``"4"``), else
    ``normalized`` (its text normalized)."""
    ref = row["reference"]
    choices = _choices(row, task)
    if choices is not None:
        from curagate.gate.tasks.multiple_choice import reference_index

        try:
            return reference_index(row, choices)
        except InputError:  # the gate refuses it, naming the item
            return ref
    if isinstance(row.get("choices"), list):
        letter = ref.strip().upper() if isinstance(ref, str) else ""
        return ord(letter) - ord("A") if len(letter) == 1 and "A" <= letter <= "Z" else ref
    number = _number(ref)
    return number if number is not None else normalized


def _number(value: Any) -> str | None:
    """A reference that is a number (``4``, ``4.0``, ``"4"``) as one text; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return format(number.normalize(), "f") if number.is_finite() else None


def _where(located: Sequence[tuple[Path, int, dict[str, Any]]], one_file: bool) -> str:
    """One group of duplicates in an error: "lines 3, 9 (ids 'a', 'b')"."""
    head = located[:_SHOWN_LINES]
    more = f" and {len(located) - len(head)} more" if len(located) > len(head) else ""
    if one_file:
        lines = "lines " + ", ".join(str(n) for _, n, _ in head)
    else:
        lines = ", ".join(f"{p.name}: line {n}" for p, n, _ in head)
    ids = ", ".join(repr(str(row["id"])) for _, _, row in head)
    return f"{lines}{more} (ids {ids}{more and ', ...'})"


def check_distinct(
    located: Sequence[tuple[Path, int, dict[str, Any]]], task: str | None = None
) -> None:
    """Refuse (exit 2) a set in which items share an input (:data:`INPUT_FIELDS`, compared
    as :func:`normalized_text`): each copy is scored as one more independent item, so
    copies inflate the set's size and every significance test the gate runs on it (five
    copies of 40 items made McNemar's 4 vs 0, p 0.125, a "significant" 20 vs 0). Copies
    that expect different answers (:data:`EXPECTED_FIELDS`) are named a contradiction."""
    groups: dict[str, list[tuple[Path, int, dict[str, Any]]]] = {}
    for entry in located:
        groups.setdefault(_input_key(entry[2], task), []).append(entry)
    repeated = [g for g in groups.values() if len(g) > 1]
    if not repeated:
        return
    files = sorted({str(p) for p, _, _ in located})
    one_file = len(files) == 1
    where = files[0] if one_file else ", ".join(files)
    contradicting = [g for g in repeated if len({_expected_key(row, task) for _, _, row in g}) > 1]
    if contradicting:
        shown = []
        for g in contradicting[:_SHOWN_GROUPS]:
            answers = {_expected_key(row, task) for _, _, row in g}
            shown.append(f"{_where(g, one_file)} expect {len(answers)} different answers")
        more = len(contradicting) - len(shown)
        raise InputError(
            f"{where}: {len(contradicting)} group(s) of items ask the same (their prompt, "
            "messages and choices compared in NFKC, ignoring case and whitespace) but expect "
            "different answers ('reference' or 'should_refuse'), a contradiction no answer "
            f"can satisfy: {'; '.join(shown)}"
            + (f"; and {more} more group(s)" if more else "")
            + "; keep the item with the right answer and remove the others"
        )
    shown = [_where(g, one_file) for g in repeated[:_SHOWN_GROUPS]]
    copies = sum(len(g) - 1 for g in repeated)
    more = len(repeated) - len(shown)
    raise InputError(
        f"{where}: {copies} item(s) repeat another item of the set (their prompt, messages "
        "and choices compared in NFKC, ignoring case and whitespace), and each copy would be "
        "scored as one more independent item, inflating the set's size and the significance "
        f"of every difference: {'; '.join(shown)}"
        + (f"; and {more} more group(s)" if more else "")
        + "; remove the copies, keeping one item of each group"
    )


def read_items(golden: GoldenSet) -> list[dict[str, Any]]:
    """The set's JSONL rows, each with an ``id``: its own, else ``<file stem>:<line>``.

    The default names the item wherever the set lives (unlike the corpus readers'
    ``<path>:<row>``, which names a place), so gate reports and human labels keyed
    by it stay the same on every machine; :func:`item_ids` maps reader rows to it.
    Ids are unique in the set, and so are inputs (:func:`check_distinct`; an error
    otherwise, naming the set folder's files, not the gate's private copy).
    """
    origin = golden.origin or golden.root
    return items_of(
        golden.paths,
        distinct=golden.task != LM_EVAL_TASK,
        shown=lambda p: origin / p.relative_to(golden.root),
        task=golden.task,
    )


def item_ids(path: Path) -> list[str]:
    """The id :func:`read_items` gives each item of one golden JSONL file, in file order.

    Index ``r`` is the item a corpus reader calls row ``r`` (both count the file's
    non-blank lines, :func:`is_blank`), so a leak found by ``curagate.leakage`` (whose
    default id is the reader's ``<path>:<row>``) is reported under the id the gate's
    items carry.
    """
    return [str(row.get("id", default_id(path, lineno))) for lineno, row in jsonl_objects(path)]


def list_locked(golden_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return dict(_read_lock(Path(golden_dir) / LOCK_FILE)["sets"])
