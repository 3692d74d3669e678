"""Output folders that never destroy: what may be replaced, and where outputs may go.

A folder is replaced as a whole only when it holds curagate's own marker
file (written last, inside the temporary folder, just before the rename), so
a user's folder that merely contains a ``manifest.json`` is never deleted.
The marker's run id is a hash of the run's ``stats.json`` and
``manifest.json`` (of a report command's main report): it names the run while keeping
reruns byte-identical. A report command's marker also names the files it wrote.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import glob
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from curagate.errors import InputError
from curagate.io.atomic import Claim, atomic_path, check_parent, claim_output
from curagate.records import loads_strict

MARKER_NAME = ".curagate-output.json"
# The commands that write a marker (write_marker, report_folder): no other name is one.
MARKER_COMMANDS = frozenset({"curate", "split", "leakage", "audit", "gate"})
# A marker is ~100 bytes; a manifest or stats.json of a million files ~200 MB.
MAX_MARKER_BYTES = 1 << 20
MAX_MANIFEST_BYTES = 1 << 30


def read_regular(path: Path, limit: int, *, follow_links: bool = False) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit`` bytes), never waiting on
    a FIFO or reading an endless device; OSError naming the file otherwise. Unless
    ``follow_links`` (a user's own file, e.g. a config), a link is refused too, and so
    is a file with more than one name (a hard link to bytes outside an output)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, "a folder, not a file", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a link or special file)", str(path))
        if st.st_nlink > 1 and not follow_links:
            raise OSError(errno.EINVAL, f"a hard link ({st.st_nlink} names)", str(path))
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return data
    finally:
        os.close(fd)


def write_marker(
    folder: Path, command: str, identity: Sequence[Path], *, list_files: bool = False
) -> str:
    """Write the marker into ``folder``; returns the run id. ``list_files``: the marker
    names what the folder holds, so a file added to it later is not the output's."""
    digest = hashlib.sha256()
    for path in identity:
        digest.update(path.read_bytes())
    run_id = digest.hexdigest()[:16]
    marker: dict[str, object] = {
        "tool": "curagate",
        "command": command,
        "run_id": run_id,
        "complete": True,
    }
    if list_files:
        marker["files"] = sorted(p.name for p in folder.iterdir())
        tree = _tree(folder)
        if len(tree) <= MAX_TREE_ENTRIES:  # else the top level alone (the marker stays small)
            marker["tree"] = tree
    (folder / MARKER_NAME).write_text(json.dumps(marker, sort_keys=True) + "\n", encoding="utf-8")
    return run_id


MAX_TREE_ENTRIES = 20_000


def _tree(folder: Path) -> list[str]:
    """Every entry under ``folder`` (files, folders, links; links not followed), as sorted
    POSIX paths relative to it, the marker aside."""
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        out += [(rel / name).as_posix() for name in [*dirs, *files]]
    return sorted(p for p in out if p != MARKER_NAME)


def read_marker(folder: Path) -> dict[str, object] | None:
    """The marker of a complete curagate output, or None."""
    try:
        marker = loads_strict(read_regular(folder / MARKER_NAME, MAX_MARKER_BYTES))
    except (OSError, ValueError, RecursionError):  # nested past the limit: not a marker
        return None
    if (
        isinstance(marker, dict)
        and marker.get("tool") == "curagate"
        and isinstance(marker.get("run_id"), str)
        and marker.get("complete") is True
    ):
        return marker
    return None


def enclosing_output(path: Path) -> tuple[Path, str, str] | None:
    """The complete curagate output or export bundle ``path`` lies inside (``path`` itself
    not counted), as (folder, what it is, the file that says so), or None. Such a folder is
    checked as a whole against the files it lists (`curagate verify`; train refuses data in
    one that changed), so anything written inside it breaks it."""
    from curagate.digest import MANIFEST_NAME

    for folder in path.resolve().parents:
        if read_marker(folder) is not None:
            return folder, "a curagate output", MARKER_NAME
        if _is_bundle(folder):
            return folder, "an export bundle", MANIFEST_NAME
        if _is_run(folder):
            return folder, "a training run", "run.json"
    return None


def _is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a training run's record (a run.json that reads as one):
    export and the gate check its adapter against it, and `train --overwrite` replaces
    it whole. An import-gguf or curate --out in its adapter/ made export refuse the run
    ('adapter files changed since training')."""
    from curagate.artifacts import RunRecord, read_artifact
    from curagate.errors import CuragateError

    if not (folder / RunRecord.FILE).is_file():
        return False
    try:
        read_artifact(RunRecord, folder / RunRecord.FILE)
    except CuragateError:
        return False
    return True


def _is_bundle(folder: Path) -> bool:
    """Whether ``folder`` holds an export bundle's manifest (not any MANIFEST.json)."""
    from curagate.artifacts import BundleManifest, read_artifact
    from curagate.digest import MANIFEST_NAME
    from curagate.errors import CuragateError

    if not (folder / MANIFEST_NAME).is_file():
        return False
    try:
        read_artifact(BundleManifest, folder / MANIFEST_NAME)
    except CuragateError:
        return False
    return True


def refuse_inside_output(out: Path, option: str = "--out") -> None:
    """An InputError for an ``out`` inside another output (see :func:`enclosing_output`):
    a split or a report written into a curate output made `curagate verify` call it
    changed from then on, and train refuse its data."""
    around = enclosing_output(out)
    if around is not None:
        folder, what, name = around
        if name == "run.json":
            raise InputError(
                f"{option} {out}: is inside {what} ({folder}, which has {name}), whose "
                "adapter export and the gate check against run.json, and which `curagate "
                "train --overwrite` replaces whole: writing there would make them refuse the "
                "run (or the next run delete it); write the outputs elsewhere"
            )
        raise InputError(
            f"{option} {out}: is inside {what} ({folder}, which has {name}), whose files are "
            "checked as a whole: writing there would make it fail `curagate verify` (and "
            "train refuse its data); write the outputs elsewhere"
        )


def check_output(
    out: Path,
    command: str,
    inputs: Sequence[str | os.PathLike[str]],
    files: Sequence[Path],
    keep: Sequence[tuple[str, str | os.PathLike[str]]] = (),
    records: Sequence[tuple[str, str | os.PathLike[str]]] = (),
) -> Claim:
    """The checks of a command that replaces its ``--out`` folder as a whole
    (curate, split): no overlap with an input, and only its own previous output
    is replaced. ``keep``: other files the run reads, as (what, path) (a reference, the
    config), which the replaced folder must not hold either. ``records``: folders the run
    reads records from besides its inputs (curate's --decontaminate references), which
    must not hold the output either. Returns the claim on ``out`` that the command's
    :func:`~curagate.io.atomic.atomic_path` is given."""
    check_parent(out)  # before any work (the CLI checks it too; a library call may not)
    refuse_inside_output(out)
    refuse_overlap(out, inputs, files)
    target = out.resolve()
    for what, path in keep:
        resolved = Path(path).resolve()
        if target == resolved or target in resolved.parents:
            # Replacing the output deleted it, after a run that said it succeeded.
            raise InputError(
                f"--out {out}: holds the {what} {path}, which replacing the output would "
                "delete; move it out, or write the outputs elsewhere"
            )
    for what, path in records:
        resolved = Path(path).resolve()
        if (
            resolved.is_dir()
            and resolved in target.parents
            and not passed_by(target, resolved, every_name=True)
        ):
            # The next run read the output back (its clusters.parquet as golden items: exit
            # 2 on the same command). A reference folder's every name is read (its `_`/`.`
            # folders too), but for a version-control folder's.
            raise InputError(
                f"--out {out}: is inside the {what} folder {path}; the next run would read "
                "its outputs back: write outputs elsewhere"
            )
    check_replaceable(out, command)
    return claim_output(out)


def require_directory(out: Path) -> None:
    """Refuse an ``--out`` that exists and is not a directory (e.g. an input file)."""
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise InputError(
            f"--out {out}: exists and is not a directory; give a directory for the outputs "
            "(a new one, or a previous output of the same command)"
        )


# What the report commands wrote into --out before they published it as one folder with
# a marker (until 2026-12-04): a folder holding only these (files; audit's `gx` folder) is
# their previous output, replaced as such.
REPORT_FILES = {
    "gate": frozenset(
        {
            "gate_report.json",
            "report.md",
            "report.html",
            "junit.xml",
            "items.jsonl",
            "endpoint_log.json",
            "gate_attestation.dsse.json",
        }
    ),
    "audit": frozenset({"audit.json", "audit.md", "report.html", "sample.jsonl", "gx"}),
    "leakage": frozenset({"leakage.json", "leakage.md", "leakage.html"}),
}


@contextlib.contextmanager
def report_folder(
    out: Path, command: str, identity: str, claim: Claim | None = None
) -> Iterator[Path]:
    """The folder a command's reports are written into, published as one: a temporary
    sibling, its marker written last (its run id the hash of the ``identity`` file), then
    renamed into ``out``'s place, replacing only a previous ``command`` output. Written file
    by file into ``--out``, a killed, cancelled or concurrent run left a report saying FAIL
    beside a junit.xml and report.html saying PASS, and a folder of the user's named like
    one of the files was deleted. ``claim``: :func:`check_output`'s, taken as the command
    began (another run's output put in place since is not replaced: exit 2)."""
    with atomic_path(
        out, replaceable=lambda t: check_replaceable(t, command), claim=claim or claim_output(out)
    ) as tmp:
        tmp.mkdir()
        yield tmp
        write_marker(tmp, command, [tmp / identity], list_files=True)


def other_output(out: Path | str, other: object, command: str) -> str | None:
    """The error of an ``--out`` whose complete marker names ``other``, another command
    than ``command``, or None. It was "not a curagate output (no complete split marker)":
    the folder is one, of curate (or split), and is kept as it is. A marker written by hand
    may name anything: only the name of a command that writes markers is printed (a hand-made
    marker naming `foo` was called "a curagate foo output")."""
    if not (isinstance(other, str) and other != command and other in MARKER_COMMANDS):
        return None
    return (
        f"--out {out}: is a curagate {other} output ({MARKER_NAME}), which {command} does not "
        f"replace; give {command} another --out, or delete that output first if it is no "
        "longer needed"
    )


def check_replaceable(out: Path, command: str) -> None:
    """Refuse an ``--out`` that exists and is not a complete previous ``command`` output,
    and one that is a symbolic link (the output replaces ``--out`` by a rename, which
    would replace the link, not the folder it points to)."""
    if out.is_symlink():
        raise InputError(
            f"--out {out}: is a symbolic link (to {out.readlink()}); the output is written "
            "beside --out and renamed into its place, so give the real folder instead"
        )
    require_directory(out)
    if not out.exists():
        return
    if not any(out.iterdir()):
        return
    marker = read_marker(out)
    if marker is None and _earlier_report(out, command):
        return
    if marker is not None and (why := other_output(out, marker.get("command"), command)):
        raise InputError(why)
    if marker is None or marker.get("command") != command:
        raise InputError(
            f"--out {out}: directory exists and is not a curagate output (no complete "
            f"{command} marker {MARKER_NAME}); choose a new or empty directory ({command} "
            "replaces its output folder as a whole)"
        )
    tree, listed = marker.get("tree"), marker.get("files")
    extra: list[str] = []
    if isinstance(tree, list):
        # The output names everything it held, at any depth: anything else is the user's
        # (a note put into kept/ was deleted by the next run).
        known = set(tree)
        extra = [p for p in _tree(out) if p not in known]
    elif isinstance(listed, list):
        # A report folder names what it held: anything else is the user's (notes added
        # beside the reports were deleted by the next run).
        extra = sorted(
            e.name for e in out.iterdir() if e.name != MARKER_NAME and e.name not in listed
        )
    if extra:
        raise InputError(
            f"--out {out}: holds {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}, "
            f"which the previous {command} output did not write; {command} replaces its "
            "output folder as a whole: move them out, or choose a new directory"
        )


# The report each command always wrote, and what audit's `gx` folder held: a folder of
# the user's holding only an `items.jsonl`, or a Great Expectations project in `gx/` (its
# default folder name), is not an earlier output.
_MAIN_REPORT = {"gate": "gate_report.json", "audit": "audit.json", "leakage": "leakage.json"}
_GX_FILES = frozenset({"expectation_suite.json", "validation_result.json"})


def _earlier_report(out: Path, command: str) -> bool:
    """Whether ``out`` holds only what ``command`` wrote before its marker (REPORT_FILES),
    its main report among them."""
    names = REPORT_FILES.get(command)
    if names is None or not (out / _MAIN_REPORT[command]).is_file():
        return False
    for entry in out.iterdir():
        if entry.name not in names or entry.is_symlink():
            return False
        if entry.name == "gx" and entry.is_dir():
            if not all(
                f.name in _GX_FILES and f.is_file() and not f.is_symlink() for f in entry.iterdir()
            ):
                return False
        elif not entry.is_file():
            return False
    return True


def refuse_overlap(
    out: Path,
    inputs: Sequence[str | os.PathLike[str]],
    files: Sequence[Path],
    option: str = "--out",
) -> None:
    """An output inside an input folder would be read back by the next run; an
    output folder holding an input would delete it when replaced.

    An input folder's reach includes the folders its symbolic links lead to (the reader
    follows them), and a glob's includes whatever it could match inside ``--out``
    (``data/**/*.jsonl``, ``data/*``) and the folders it matches now."""
    target = out.resolve()
    for given, root in _searched_folders(inputs):
        if target == root or (root in target.parents and not is_hidden(target, root)):
            raise InputError(
                f"{option} {out}: is inside input folder {given}"
                + ("" if root == Path(given).resolve() else f" (through {root})")
                + "; the next run would read its outputs back: write outputs elsewhere"
            )
    for item in inputs:
        text = os.fspath(item)
        if not has_magic(text) or Path(text).exists():
            continue
        link, reaches = None, False
        # One walk's worth across the patterns a `..` resolved to: each walked its own
        # folder's whole subtree, which overlap (found by re-attack: `h/c/**/../**/x.jsonl`
        # over 300 nested folders took 51 s before any work, the reader's glob 0.9 s).
        seen: set[tuple[int, int, tuple[str, ...]]] = set()
        for pattern in _dotdot_resolved(text):
            reaches = _pattern_reaches(pattern, target)
            link = None if reaches else _pattern_link_reaching(pattern, target, seen)
            if reaches or link is not None:
                break
        if not reaches and link is None:
            continue
        through = "" if link is None else f" (through the symbolic link {link}, which glob follows)"
        raise InputError(
            f"{option} {out}: the input pattern {text} would match the outputs written "
            f"there{through}, and the next run would read them back: write outputs elsewhere"
        )
    for path in files:
        resolved = path.resolve()
        if target == resolved:
            raise InputError(
                f"{option} {out}: is the input file {path}; give a new directory for the outputs"
            )
        if target in resolved.parents:
            raise InputError(f"{option} {out}: contains input {path}; write outputs elsewhere")


def is_hidden(path: Path, root: Path) -> bool:
    """Whether ``path`` is hidden below ``root``: a dot or underscore name on the way
    (``.cache``, ``_SUCCESS``). The reader skips such names when it walks a folder, so
    it never reads what lies there."""
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


# A version-control folder holds a repository's history, not its data (git keeps objects
# compressed under hashed names), and Jupyter's checkpoints folder a copy of each file
# opened in JupyterLab (found by re-attack: every such file was an exact duplicate of its
# checkpoint to `check data/`): a walk that reads every name skips them still.
NOT_DATA_FOLDERS = frozenset({".git", ".hg", ".svn", ".bzr", ".jj", ".ipynb_checkpoints"})


def passed_by(path: Path, root: Path, *, every_name: bool = False) -> bool:
    """Whether the folder walk below ``root`` passes ``path`` by: a hidden name
    (:func:`is_hidden`), or, for a walk that reads ``every_name`` (``check``'s, a golden
    set's), a version-control or checkpoints folder (:data:`NOT_DATA_FOLDERS`) only."""
    if not every_name:
        return is_hidden(path, root)
    return any(part in NOT_DATA_FOLDERS for part in path.relative_to(root).parts)


def has_magic(text: str) -> bool:
    """Whether an input is a glob pattern."""
    return any(c in text for c in "*?[")


def input_glob(pattern: str) -> list[Path]:
    """``glob.glob(pattern, recursive=True)``, sorted, where ``**`` visits each folder once.

    glob's ``**`` follows links to folders without remembering where it has been: one link
    back up the tree made it walk 40 levels of ``self/self/...`` (then fail on them), two
    such links never finished. Here ``**`` walks each folder once (links to folders
    followed), as an input folder's walk does; wildcards skip hidden names as glob's do.
    Patterns without ``**`` go to glob (they cannot recurse). The reader expands an input
    pattern with it, and :func:`refuse_overlap` looks where it leads with it too (its own
    ``glob.glob`` never finished on two links back up the tree, before any work)."""
    parts = Path(pattern).parts
    if "**" not in parts:
        return sorted(map(Path, glob.glob(pattern)))  # noqa: PTH207 - absolute patterns too
    found: set[Path] = set()

    def listed(folder: Path, part: str) -> list[str]:
        try:
            names = [p.name for p in folder.iterdir()]
        except OSError:
            return []
        hidden = part.startswith(".")  # glob's rule: a wildcard matches no hidden name
        return sorted(n for n in fnmatch.filter(names, part) if hidden or not n.startswith("."))

    def expand(base: Path, i: int) -> None:
        if i == len(parts):
            if base.exists() or base.is_symlink():
                found.add(base)
            return
        if parts[i] == "**":
            walk(base, i + 1)
            return
        for name in listed(base, parts[i]) if has_magic(parts[i]) else [parts[i]]:
            child = base / name
            if i == len(parts) - 1 or child.is_dir():
                expand(child, i + 1)

    walked: set[tuple[int, tuple[int, int]]] = set()  # (pattern position, folder)

    def walk(base: Path, i: int) -> None:
        """``**`` before ``parts[i]``: ``base`` itself, then every folder below it, each
        folder once (two links to one folder, one level below the other, doubled the
        walk at each level; a link back up the tree looped)."""
        try:
            st = base.stat()
        except OSError:
            return
        if (i, (st.st_dev, st.st_ino)) in walked:
            return
        walked.add((i, (st.st_dev, st.st_ino)))
        expand(base, i)
        for name in listed(base, "*"):
            if (base / name).is_dir():
                walk(base / name, i)

    expand(Path(), 0)
    return sorted(found)


def _searched_folders(inputs: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[str, Path]]:
    """(input as given, resolved folder) for every folder the reader searches: input
    folders, folders a glob matches, and the folders their links lead to."""
    for item in inputs:
        text = os.fspath(item)
        if Path(text).is_dir():
            roots = [Path(text)]
        elif has_magic(text):
            roots = [m for m in input_glob(text) if m.is_dir()]
        else:
            continue
        for root in roots:
            yield text, root.resolve()
            yield from ((text, linked) for linked in _linked_folders(root))


def _linked_folders(root: Path) -> Iterator[Path]:
    """Resolved targets of the symbolic links to folders under ``root`` that the reader
    follows (as it does: hidden names skipped, each folder once)."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # the reader reports it
        for entry in entries:
            if is_hidden(Path(entry.name), Path()):
                continue
            try:
                if not entry.is_dir():
                    continue
                if entry.is_symlink():
                    yield Path(entry.path).resolve()
            except OSError:
                continue
            stack.append(Path(entry.path))


def _dotdot_resolved(pattern: str) -> list[str]:
    """``pattern`` with a ``..`` after a wildcard resolved, as the patterns glob goes on
    with: ``f/s*/../[so]*/*.jsonl`` reads ``f/[so]*/*.jsonl`` (``f/sub/..`` is ``f``), which
    comparing names part by part with ``--out f/o5`` did not see (the rerun read its own
    output). The folders its part up to the last such ``..`` matches now, each resolved as
    the system resolves ``..`` (after a link, the parent of where it leads)."""
    parts = Path(pattern).parts
    last = max((i for i, part in enumerate(parts) if part == ".."), default=-1)
    if last < 0 or not any(has_magic(part) for part in parts[:last]):
        return [pattern]
    rest = parts[last + 1 :]
    bases = {os.path.realpath(m / "..") for m in input_glob(str(Path(*parts[:last]))) if m.is_dir()}
    return [str(Path(base, *rest)) for base in sorted(bases)]


def _pattern_reaches(pattern: str, target: Path) -> bool:
    """Whether glob ``pattern`` (recursive ``**``) could match ``target`` (resolved), a
    folder above it (read whole) or something inside it."""
    parts = Path(pattern).absolute().parts
    literal = next((i for i, part in enumerate(parts) if has_magic(part)), len(parts))
    base = Path(*parts[:literal]).resolve().parts  # links in the fixed part, as glob follows
    return _prefix_match((*base, *parts[literal:]), target.parts)


def _pattern_link_reaching(
    pattern: str, target: Path, seen: set[tuple[int, int, tuple[str, ...]]]
) -> str | None:
    """A symbolic link to a folder through which glob ``pattern`` could match ``target``
    (resolved), a folder above it or something inside it, or None: glob follows links
    (`'f/**/*.jsonl'` with `f/sub/lnk -> ../../e` reads `e/o5/quarantine.jsonl`), which
    :func:`_pattern_reaches`, comparing names, does not see. Walks only the folders the
    pattern can still match below its fixed part, as glob itself does, and none with
    the same rest of a pattern twice (``seen``: each folder's device, inode and that rest,
    shared by the calls for one input)."""
    parts = Path(pattern).absolute().parts
    literal = next((i for i, part in enumerate(parts) if has_magic(part)), len(parts))
    base = Path(*parts[:literal]).resolve()
    stack: list[tuple[Path, tuple[str, ...]]] = [(base, tuple(parts[literal:]))]
    while stack:
        folder, rest = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino, rest) in seen:
                continue
            seen.add((st.st_dev, st.st_ino, rest))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue  # the reader reports it
        for entry in entries:
            try:
                if not entry.is_dir():
                    continue
                linked = Path(os.path.realpath(entry.path)) if entry.is_symlink() else None
            except OSError:
                continue
            for after in set(_after(rest, entry.name)):
                if linked is not None and _prefix_match((*linked.parts, *after), target.parts):
                    return entry.path
                if after:
                    stack.append((Path(entry.path), after))
    return None


def _after(pattern: tuple[str, ...], name: str) -> list[tuple[str, ...]]:
    """What is left of ``pattern`` to match below a folder ``name`` its first part(s)
    matched (glob's rules: a wildcard never matches a hidden name, ``**`` any depth)."""
    if not pattern:
        return []
    head = pattern[0]
    if head == "**":
        return ([pattern] if not name.startswith(".") else []) + _after(pattern[1:], name)
    if name.startswith(".") and not head.startswith("."):
        return []
    return [pattern[1:]] if fnmatch.fnmatchcase(name, head) else []


def _prefix_match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if not path:
        return True  # ``path`` ends where the pattern goes on: what is under it could match
    if not pattern:
        # The pattern matched a folder above ``path``, which is read recursively, but for
        # hidden (. or _) names, as the reader skips them.
        return not is_hidden(Path(*path), Path())
    head, name = pattern[0], path[0]
    if name.startswith(".") and not head.startswith("."):
        # glob's wildcards never match a hidden name (`*`, `**`): only a part written
        # with its dot does
        return head == "**" and _prefix_match(pattern[1:], path)
    if head == "**":
        return _prefix_match(pattern[1:], path) or _prefix_match(pattern, path[1:])
    return fnmatch.fnmatchcase(name, head) and _prefix_match(pattern[1:], path[1:])
