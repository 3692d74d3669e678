"""Re-check a curate or split output against its own manifest.

A curate output (``manifest.json``) and a split output (``split_manifest.json``)
list every file they wrote with its sha256; the marker's run id is a hash of the
manifest (and curate's ``stats.json``). :func:`check_output_folder` finds what
changed since: a listed file missing, edited or replaced by a link, a file added,
a manifest or stats edited without the marker. Anyone can rewrite all three
consistently, so this catches accidents and careless edits, not a forger: the
dataset manifest that `curagate train` records in run.json pins what was read.

`curagate verify DIR` runs it on a folder; `curagate train` runs it on every
curate or split output its data files lie in, and refuses to train on one that
changed.
"""

from __future__ import annotations

import errno
import hashlib
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curagate.digest import sha256_file
from curagate.io.outputs import MARKER_NAME, MAX_MANIFEST_BYTES, read_marker, read_regular
from curagate.records import loads_strict

# What each command's marker run id hashes, and the manifest that lists its files.
_IDENTITY = {"curate": ("stats.json", "manifest.json"), "split": ("split_manifest.json",)}


@dataclass
class OutputCheck:
    folder: Path
    command: str
    run_id: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    # Why the output, intact, is not one to train on: the split check its run was told to
    # pass (--fail-on-leak, split.fail_on_leak) failed, or its run failed --strict (a row or
    # an input file quarantined); it was written for inspection.
    failed_check: str | None = None
    # Which: "strict", "leak", "beyond" (a leak of a run that named templates) or "copy"
    # (copies of an item's own text) (the fix differs)
    failed_kind: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 3) -> str:
        more = f"; and {len(self.problems) - limit} more" if len(self.problems) > limit else ""
        return "; ".join(self.problems[:limit]) + more


def unmarked_output(folder: Path) -> tuple[str, str] | None:
    """(command, manifest name) when ``folder`` holds a curate or split manifest but no
    marker: an output whose marker was removed (or a copy without it)."""
    if (folder / MARKER_NAME).exists() or (folder / MARKER_NAME).is_symlink():
        return None
    for command, names in _IDENTITY.items():
        manifest = names[-1]
        if (folder / manifest).is_file():
            return command, manifest
    return None


def enclosing_outputs(path: Path) -> list[Path]:
    """The curate or split output folders ``path`` lies in (or is), innermost first
    (``curate --split`` holds a split output in its ``splits/``)."""
    here = path.parent.resolve() / path.name  # a shard replaced by a link still lies here
    target = path.resolve()  # and a link to a shard reads that output's bytes
    found: list[Path] = []
    for start in (here, target):
        for folder in (start, *start.parents):
            marker = read_marker(folder)
            if marker is not None and marker.get("command") in _IDENTITY and folder not in found:
                found.append(folder)
    return found


def _listed(command: str, manifest: Any) -> dict[str, str] | None:
    """``{relative path: sha256}`` of every file the manifest lists; None when the
    manifest does not have the shape its command writes."""
    if not isinstance(manifest, dict):
        return None
    entries: Any
    if command == "curate":
        entries, key = manifest.get("files"), "path"
    else:
        splits, quarantined = manifest.get("splits"), manifest.get("quarantined")
        if not isinstance(splits, dict) or not isinstance(quarantined, dict):
            return None
        entries, key = [*splits.values(), *([quarantined] if "file" in quarantined else [])], "file"
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return None
    pairs = [(e.get(key), e.get("sha256")) for e in entries]
    if not all(isinstance(p, str) and isinstance(s, str) for p, s in pairs):
        return None
    return dict(pairs)


def check_output_folder(folder: Path) -> OutputCheck | None:
    """Compare ``folder`` with its manifest; None when it is not a curate or split output."""
    marker = read_marker(folder)
    command = marker.get("command") if marker is not None else None
    if marker is None or command not in _IDENTITY:
        return None
    assert isinstance(command, str)
    result = OutputCheck(folder, command, str(marker["run_id"]))
    names = _IDENTITY[command]
    digest = hashlib.sha256()
    raw: dict[str, bytes] = {}
    try:
        for name in names:
            raw[name] = read_regular(folder / name, MAX_MANIFEST_BYTES)
            digest.update(raw[name])
    except OSError as e:
        named = {errno.EINVAL: e.strerror, errno.EFBIG: e.strerror, errno.ELOOP: "a symbolic link"}
        why = named.get(e.errno or 0) or "cannot be read"
        result.problems.append(f"{e.filename and Path(e.filename).name}: {why}")
        return result
    if digest.hexdigest()[:16] != result.run_id:
        result.problems.append(
            f"{' or '.join(names)} changed after the run (the marker's run id differs)"
        )
    try:
        manifest = loads_strict(raw[names[-1]])
    except (ValueError, RecursionError):  # a nesting bomb is not a manifest either
        manifest = None
    listed = _listed(command, manifest)
    if listed is None:
        result.problems.append(f"{names[-1]}: not a manifest {command} writes")
        return result
    everything = sorted(folder.rglob("*"))
    present = {
        p.relative_to(folder).as_posix(): p for p in everything if not p.is_dir() or p.is_symlink()
    }
    # A folder holds a listed file, or it was added (an empty one too).
    holders = {parent.as_posix() for rel in listed for parent in Path(rel).parents}
    for p in everything:
        rel = p.relative_to(folder).as_posix()
        if p.is_dir() and not p.is_symlink() and rel not in holders:
            result.problems.append(f"{rel}/: a folder not in {names[-1]} (added after the run)")
    # The marker, manifest (and stats.json) were read as regular files of one name.
    own = {MARKER_NAME, names[-1]}
    for rel, expected in sorted(listed.items()):
        path = present.get(rel)
        if path is None:
            result.problems.append(f"{rel}: listed but missing")
        elif not stat.S_ISREG(path.lstat().st_mode):
            result.problems.append(f"{rel}: not a regular file (a link or special file)")
        elif path.lstat().st_nlink > 1:
            # Whoever owns the other name can change the bytes after this check.
            result.problems.append(f"{rel}: a hard link ({path.lstat().st_nlink} names); copy it")
        elif sha256_file(path) != expected:
            result.problems.append(f"{rel}: contents changed (sha256 differs)")
        else:
            result.checked += 1
    for rel in sorted(set(present) - set(listed) - own):
        result.problems.append(f"{rel}: not listed in {names[-1]} (added after the run)")
    if not result.problems:
        # The bytes are the ones written; are the numbers printed about them true? A count
        # the run got wrong (or a manifest and stats rewritten with the marker) passed.
        result.problems += _count_problems(folder, command, manifest, raw.get("stats.json"))
    if not result.problems:
        failed = _failed_check(folder, command, manifest, raw.get("stats.json"))
        if failed is not None:
            result.failed_check, result.failed_kind = failed
    return result


def failed_leak_check(manifest: Any, name: str = "split_manifest.json") -> str | None:
    """Why a split manifest's output failed the leak check its run was told to pass
    (``verification.fail_on_leak`` and not ``passed``): what was found, by which check, and
    the first pair (split file, record id); None when it passed or was not told to (a
    manifest from before these fields were recorded: None)."""
    verification = manifest.get("verification") if isinstance(manifest, dict) else None
    if not isinstance(verification, dict) or verification.get("fail_on_leak") is not True:
        return None
    if verification.get("passed") is not False:
        return None
    leaks = verification.get("leaks_total")
    found = []
    example = None
    # The sections' words: the leakage engine's finds said "share a passage" (found by review)
    for section, what in (
        ("near_copies", "are near copies of a row of another split"),
        ("exact_copies", "are exact copies of a row of another split"),
        ("shared_passages", "share a passage with an earlier split"),
        (
            "leakage_scan",
            "are found by the `curagate leakage` scan inside a train row (or inside the other "
            "of val and test)",
        ),
    ):
        part = verification.get(section)
        if not isinstance(part, dict) or not part.get("rows"):
            continue
        found.append((part["rows"], what, section))
        examples = part.get("examples")
        if example is None and isinstance(examples, list) and examples:
            example = (section, examples[0])
    if len(found) == 1:
        what = f"{leaks} val/test row(s) {found[0][1]}"
    elif found:
        what = f"{leaks} val/test row(s) leak: " + ", ".join(f"{n} {w}" for n, w, _ in found)
    else:
        what = f"{leaks} val/test row(s) leak"
    shown = f"; e.g. {_example(*example)}" if example is not None else ""
    where = ", ".join(f"verification.{section}.examples" for *_, section in found)
    return (
        "its split failed the leak check its run was told to pass (--fail-on-leak, or "
        f"split.fail_on_leak in a config): {what}{shown} (every pair: "
        f"{where or 'verification'} in {name}); it was written for inspection only"
    )


def hit_share(item_text: object, ratio: object) -> str:
    """How much of its item a find of the leakage scan shows, in words for a message: the
    engine's ratio is the share of the item's n-grams, 0 for an item found by its words
    whole (a span, a short item): "0% of the item" was printed for an item copied whole."""
    if item_text is True:
        return ", the item's own text whole"
    if isinstance(ratio, int | float) and not isinstance(ratio, bool) and ratio > 0:
        return f", {ratio:.0%} of the item's n-grams"
    return ""


def _example(section: str, e: Any) -> str:
    """A manifest example pair in words: the split file and record id of each row."""
    if not isinstance(e, dict):
        return "see the manifest"
    row = f"{e.get('split')}.parquet id {e.get('id')!r}"
    other = f"{e.get('in_split')}.parquet id {e.get('in_id')!r}"
    if section == "leakage_scan":
        share = hit_share(e.get("item_text"), e.get("similarity"))
        span = e.get("span")
        quote = ""
        if isinstance(span, str) and span:
            quote = f": {span[:80]!r}" + ("..." if len(span) > 80 else "")
        return f"{row} found inside {other} (by {e.get('method')}{share}){quote}"
    if section == "shared_passages":
        spans = e.get("spans")
        quote = ""
        if isinstance(spans, list) and spans and isinstance(spans[0], dict):
            quote = f": {str(spans[0].get('text'))[:80]!r}"
        return f"{row} shares a passage with {other}{quote}"
    return f"{row} is a copy of {other}"


def failed_strict_check(manifest: Any, name: str = "split_manifest.json") -> str | None:
    """Why a split manifest's output failed the ``--strict`` its run was told to pass (a
    row or an input file quarantined); None when it passed, was not told to, or the
    manifest is from before ``strict`` was recorded."""
    strict = manifest.get("strict") if isinstance(manifest, dict) else None
    if not isinstance(strict, dict) or strict.get("enabled") is not True:
        return None
    if strict.get("passed") is not False:
        return None
    quarantined = manifest.get("quarantined")
    rows = quarantined.get("rows") if isinstance(quarantined, dict) else None
    file = quarantined.get("file") if isinstance(quarantined, dict) else None
    return (
        f"its split run failed --strict (or strict in a config): {rows} row(s) or input "
        f"file(s) quarantined (see {file or 'quarantine.jsonl'} for file, line and reason; "
        f"strict in {name}); it was written for inspection only"
    )


def _curate_strict(stats_raw: bytes | None) -> str | None:
    """Why a curate output failed the ``--strict`` its run was told to pass (stats.json:
    ``config.strict`` and rows quarantined), as :func:`failed_strict_check` for a split."""
    try:
        stats = loads_strict(stats_raw) if stats_raw is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(stats, dict):
        return None
    config, totals = stats.get("config"), stats.get("totals")
    if not isinstance(config, dict) or config.get("strict") is not True:
        return None
    quarantined = totals.get("quarantined") if isinstance(totals, dict) else None
    if not isinstance(quarantined, int) or quarantined <= 0:
        return None
    return (
        f"its curate run failed --strict (or strict in its config): {quarantined} row(s) "
        "quarantined (see quarantine.jsonl for file, line and reason; config.strict and "
        "totals.quarantined in stats.json); it was written for inspection only"
    )


def _failed_check(
    folder: Path, command: str, manifest: Any, stats_raw: bytes | None = None
) -> tuple[str, str] | None:
    """(why, kind as :attr:`OutputCheck.failed_kind`): :func:`failed_strict_check` and
    :func:`failed_leak_check` of a split output's manifest, or of the split a curate output holds in ``splits/`` (a
    file its manifest lists, so checked above), and a curate run's own ``--strict``."""
    if command == "split":
        inner, name = manifest, "split_manifest.json"
    else:
        why = _curate_strict(stats_raw)
        if why is not None:
            return why, "strict"
        try:
            raw = read_regular(folder / "splits" / "split_manifest.json", MAX_MANIFEST_BYTES)
            inner = loads_strict(raw)
        except (OSError, ValueError, RecursionError):  # no splits/: curated without --split
            return None
        name = "splits/split_manifest.json"
    why = failed_strict_check(inner, name)
    if why is not None:
        return why, "strict"
    why = failed_leak_check(inner, name)
    if why is None:
        return None
    if not templates_may_clear(inner.get("verification")):
        return why, "copy"
    # Templates were named and what the rows share is not theirs: naming templates is no
    # advice to that run (it was given; found by review).
    return why, "beyond" if inner.get("templates") else "leak"


def templates_may_clear(verification: Any) -> bool:
    """Whether naming prompt templates could clear a failed leak check: some pair shares a
    passage, or was found by the leakage scan without holding the item's own text
    (``item_text_pairs``, :func:`curagate.split_pairs.covers_item_text`). Copies of an
    item are leaks whatever the templates: advising ``--templates`` for them told the user
    to launder a verbatim copy (found by re-attack). A manifest from before
    ``item_text_pairs``: True."""
    if not isinstance(verification, dict):
        return True
    passages = verification.get("shared_passages")
    if isinstance(passages, dict) and passages.get("rows"):
        return True
    scan = verification.get("leakage_scan")
    if not isinstance(scan, dict):
        return False
    pairs, copies = scan.get("pairs"), scan.get("item_text_pairs")
    if not isinstance(pairs, int) or not pairs:
        return False
    return not isinstance(copies, int) or copies < pairs


def _rows_of(path: Path) -> int:
    """The records a Parquet file (its footer) or a JSON Lines file holds."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _strict_problems(manifest: Any) -> list[str]:
    """A split manifest's ``strict.passed`` against its own quarantine count (the file's
    records, checked before): ``passed: true`` beside quarantined rows (a manifest and
    marker rewritten after a --strict run that failed) was verify ok and train's data."""
    strict = manifest.get("strict") if isinstance(manifest, dict) else None
    quarantined = manifest.get("quarantined") if isinstance(manifest, dict) else None
    if not isinstance(strict, dict) or not isinstance(quarantined, dict):
        return []
    passed, rows = strict.get("passed"), quarantined.get("rows")
    if not isinstance(passed, bool) or not isinstance(rows, int) or isinstance(rows, bool):
        return []
    if passed == (rows == 0):
        return []
    return [
        f"split_manifest.json: strict.passed {str(passed).lower()}, but quarantined.rows "
        f"{rows} (the run passes --strict exactly when it quarantines nothing)"
    ]


def _count_problems(
    folder: Path, command: str, manifest: Any, stats_raw: bytes | None
) -> list[str]:
    """Each file's records against the rows its manifest gives, and (curate) stats.json's
    totals against the files: kept/ holds ``kept``, removed/ every removed record, the
    quarantine ``quarantined``, and they add up to ``input_rows``."""
    problems: list[str] = []
    key = "path" if command == "curate" else "file"
    entries = (
        manifest.get("files")
        if command == "curate"
        else [*manifest.get("splits", {}).values(), manifest.get("quarantined", {})]
    )
    actual: dict[str, int] = {}
    for entry in entries or []:
        rel, rows = entry.get(key), entry.get("rows")
        if not isinstance(rel, str) or not isinstance(rows, int) or isinstance(rows, bool):
            continue
        try:
            actual[rel] = _rows_of(folder / rel)
        except (OSError, ValueError) as e:  # pyarrow's errors are ValueErrors (ArrowInvalid)
            problems.append(f"{rel}: cannot count its records ({e})")
            continue
        if actual[rel] != rows:
            problems.append(
                f"{rel}: holds {actual[rel]} records, {_IDENTITY[command][-1]} says {rows}"
            )
    if command == "split" and not problems:
        problems += _strict_problems(manifest)
    if command != "curate" or stats_raw is None or problems:
        return problems
    try:
        totals = loads_strict(stats_raw)["totals"]
        said = {
            "kept": int(totals["kept"]),
            "removed": sum(int(v) for v in totals["removed"].values()),
            "quarantined": int(totals["quarantined"]),
        }
        input_rows = int(totals["input_rows"])
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return ["stats.json: no totals that read as counts"]
    held = {
        "kept": sum(n for rel, n in actual.items() if rel.startswith("kept/")),
        "removed": sum(n for rel, n in actual.items() if rel.startswith("removed/")),
        "quarantined": actual.get("quarantine.jsonl", 0),
    }
    for what, n in said.items():
        if held[what] != n:
            problems.append(f"stats.json: {what} {n}, but the output holds {held[what]}")
    if not problems and sum(said.values()) != input_rows:
        problems.append(
            f"stats.json: input_rows {input_rows}, but kept, removed and quarantined add up "
            f"to {sum(said.values())}"
        )
    return problems


__all__ = ["OutputCheck", "check_output_folder", "enclosing_outputs"]
