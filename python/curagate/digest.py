"""Every hash curagate computes: of bytes, of a file, of a directory, of a bundle.

One module, so that a digest printed by one command is the digest another
command compares against. Three kinds of digest name things:

* ``sha256_file`` / ``sha256_bytes``: one file's bytes.
* ``files_digest``: a set of files, as sha256 over sorted ``"{relpath}\\0{sha256}\\n"``
  lines; ``tree_digest`` applies it to a directory (model directories, adapters,
  golden sets).
* ``artifact_digest``: an exported bundle's identity, the sha256 of its
  ``MANIFEST.json`` bytes. The manifest lists the sha256 of every other file, so this
  one hash pins every byte of the bundle; gate attestations name it as their subject
  and the registry stores it.

``walk_strict`` lists a directory that will be trusted as a unit (a bundle): any
symlink, device, FIFO or socket anywhere in it is a problem, because loaders such as
``from_pretrained`` follow links to files the manifest never covered.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from curagate.errors import InputError

MANIFEST_NAME = "MANIFEST.json"
_BLOCK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while block := handle.read(_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"{Path(path).as_posix()}: cannot read: {exc.strerror or exc}") from None
    return digest.hexdigest()


def files_digest(files: Mapping[str, str]) -> str:
    """One digest for a ``{relpath: sha256}`` mapping (order-independent)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return h.hexdigest()


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def hash_tree(root: str | os.PathLike[str], *, skip_hidden: bool = True) -> dict[str, str]:
    """sha256 of every file under ``root`` by POSIX relative path.

    Links to files are followed (Hugging Face cache snapshots are symlinks into a
    blob store); hidden files (``.git``, ``.cache``) are skipped by default. Use
    :func:`walk_strict` for a directory that must not contain links.
    """
    base = Path(root)
    return {rel: sha256_file(base / rel) for rel in tree_paths(base, skip_hidden=skip_hidden)}


# Device, inode, size, modification and change times (ns).
FileState = tuple[int, int, int, int, int]


def file_state(path: str | os.PathLike[str]) -> FileState | None:
    """What tells a file replaced or rewritten without reading it again: device, inode,
    size, modification and change times (ns); None when it cannot be stat'ed (removed). The
    change time is the one a writer cannot set back: a rewrite in place that kept the size
    and put the modification time back (`cp -p` onto the file) resumed a staged curate on
    the old bytes' work."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# How much of an input's head, middle and tail its identity digests.
_SAMPLE = 1 << 16


def sample_identity(path: str | os.PathLike[str]) -> list[int | str] | None:
    """A file's size and the sha256 of its first, middle and last 64 KiB: cheap for any
    size, and the same on every machine that sees the same bytes (unlike
    :func:`file_state`: device and inode differ between NFS clients); None when it cannot
    be read. A staged curate's tasks compare it with the driver's (another file at the
    input's path on their node)."""
    try:
        with open(path, "rb") as f:  # noqa: PTH123
            size = os.fstat(f.fileno()).st_size
            h = hashlib.sha256()
            for at in sorted({0, max(0, size // 2 - _SAMPLE // 2), max(0, size - _SAMPLE)}):
                f.seek(at)
                h.update(f.read(_SAMPLE))
    except OSError:
        return None
    return [size, h.hexdigest()[:32]]


def whole_digest(path: str | os.PathLike[str]) -> str | None:
    """XXH3-128 of every byte of a file, 32 hex digits (the Rust core reads it with the
    GIL released, at memory speed once cached); None when it cannot be read. Where
    :func:`sample_identity` is the cheap check against the driver, this one tells two
    reads of the same input apart when they saw other bytes anywhere in it, at the same
    size (a staged curate's sketch and filter stages: see
    :func:`curagate.pipeline.stages.check_same_bytes`)."""
    from curagate import _core

    try:
        return _core.file_digest(path)
    except OSError:
        return None


def require_unchanged(
    paths: Sequence[Path],
    before: Sequence[FileState | None],
    *,
    while_: str,
    so: str,
    again: str = "run again once nothing writes to the inputs",
) -> None:
    """An InputError naming the first of ``paths`` whose :func:`file_state` is no longer
    ``before``: changed ``while_`` a command read it, ``so`` what that means, and
    ``again`` what to do."""
    for path, was in zip(paths, before, strict=True):
        if file_state(path) != was:
            raise InputError(
                f"{path}: changed while {while_} (replaced, rewritten, cut, appended to or "
                f"removed), so {so}; {again}"
            )


# What a build is: what Python and the loader run, and the data files the code reads
# (report schemas *.json, the HTML templates and their style sheet). Not the type stubs
# (``_core.pyi``, ``py.typed``: read by type checkers only), compiled caches, hidden files
# or editor and OS junk (``.DS_Store``, ``write.py~``, ``.write.py.swp``): a node whose
# only difference was such a file was refused as another build, with no way to see why.
PACKAGE_SUFFIXES = frozenset({".py", ".json", ".html", ".css"})


def package_file(rel: Path) -> bool:
    """Whether a file of a package (``rel``: its path in the package) is part of its
    build identity (:data:`PACKAGE_SUFFIXES`, and the native ``_core`` library)."""
    if _hidden(rel) or "__pycache__" in rel.parts:
        return False
    name = rel.name
    if name.startswith("_core.") and name.endswith((".so", ".pyd")):
        return True
    return rel.suffix in PACKAGE_SUFFIXES


def package_files(root: str | os.PathLike[str]) -> dict[str, str]:
    """sha256 of each :func:`package_file` under ``root`` by POSIX relative path."""
    base = Path(root)
    return {
        p.relative_to(base).as_posix(): sha256_file(p)
        for p in sorted(base.rglob("*"))
        if p.is_file() and package_file(p.relative_to(base))
    }


def package_digest(root: str | os.PathLike[str]) -> str:
    """:func:`files_digest` of :func:`package_files`: the identity of an installed
    build's files (:mod:`curagate.build`)."""
    return files_digest(package_files(root))


def tree_paths(root: str | os.PathLike[str], *, skip_hidden: bool = True) -> list[str]:
    """The POSIX relative paths :func:`hash_tree` hashes, sorted, without reading them."""
    base = Path(root)
    return [
        rel.as_posix()
        for rel in _files_under(base, skip_hidden=skip_hidden)
        if not (skip_hidden and _hidden(rel))
    ]


def walk_once(
    top: Path, seen: set[tuple[int, int]] | None = None, *, skip_hidden: bool = False
) -> Iterator[tuple[Path, list[str]]]:
    """(folder, the names of its entries that are not folders) of every folder under
    ``top``, links to folders followed, each folder once (a link back up the tree is not
    walked again; ``seen`` is shared across calls to walk several tops once). ``rglob``
    (Python 3.11) does not descend into a linked folder: a model's `1_Pooling/` as a link
    was neither hashed nor part of the identity, and a changed model passed as the same.
    Subfolders are walked in sorted order, so a folder reached twice is named by the first
    name in sorted order, not by the filesystem's listing order (ext4 and tmpfs gave two
    digests).

    With ``skip_hidden``, hidden folders below ``top`` are not walked, and so not taken
    as seen: a visible link to one (`1_Pooling` -> `.p`) is walked under its own name.
    Walked and then left out by the caller, `.p` (first in sorted order) had taken the
    folder: `1_Pooling` was never walked, and the pooling config was in no digest (two
    models with other pooling shared model_sha256 and cached vectors)."""
    seen = set() if seen is None else seen
    for folder, dirs, files in os.walk(top, followlinks=True):
        if skip_hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        dirs.sort()
        here = Path(folder)
        st = here.stat()
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        yield here, files


def _files_under(base: Path, *, skip_hidden: bool) -> list[Path]:
    """Every file under ``base`` (relative, sorted), links followed (:func:`walk_once`);
    with ``skip_hidden``, none in a hidden folder (its hidden files are the caller's)."""
    return sorted(
        (here / f).relative_to(base)
        for here, files in walk_once(base, skip_hidden=skip_hidden)
        for f in files
        if (here / f).is_file()
    )


def copy_hashed(root: str | os.PathLike[str], dest: str | os.PathLike[str]) -> dict[str, str]:
    """Copy the files :func:`hash_tree` hashes (links followed, hidden files skipped) from
    ``root`` into ``dest`` (created), hashing each while it is copied: what it returns is
    the sha256 of exactly the bytes now in ``dest``, read once."""
    base, out_root = Path(root), Path(dest)
    out: dict[str, str] = {}
    for rel in _files_under(base, skip_hidden=True):
        if _hidden(rel):
            continue
        p, target = base / rel, out_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        try:
            with p.open("rb") as src, target.open("xb") as dst:
                while block := src.read(_BLOCK):
                    digest.update(block)
                    dst.write(block)
        except OSError as exc:
            raise InputError(f"{p.as_posix()}: cannot copy: {exc.strerror or exc}") from None
        out[rel.as_posix()] = digest.hexdigest()
    return out


def tree_digest(root: str | os.PathLike[str]) -> str:
    """:func:`files_digest` of :func:`hash_tree` (hidden files skipped)."""
    return files_digest(hash_tree(root))


def walk_strict(root: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Regular files under ``root`` (sorted POSIX relpaths) and the problems found.

    Nothing is followed: a symlink (to a file, to a directory, dangling, or
    escaping the root), a device, FIFO or socket is reported as a problem and not
    listed, and so is a regular file with more than one hard link. Hidden files are
    listed like any other file.
    """
    base = Path(root)
    files: list[str] = []
    problems: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            p = here / name
            rel = p.relative_to(base).as_posix()
            try:
                mode = p.lstat().st_mode
            except OSError as exc:
                problems.append(f"{rel}: cannot be read ({exc.strerror or exc})")
                continue
            if stat.S_ISLNK(mode):
                target = p.readlink()
                problems.append(
                    f"{rel}: is a symbolic link (to {target}); a bundle holds only regular files"
                )
                if name in dirnames:
                    dirnames.remove(name)
            elif stat.S_ISDIR(mode):
                continue
            elif stat.S_ISREG(mode):
                if p.lstat().st_nlink > 1:
                    # A hard link shares its bytes with a file outside the manifest's view:
                    # whoever owns the other name can change them after verification.
                    problems.append(f"{rel}: is a hard link ({p.lstat().st_nlink} names); copy it")
                else:
                    files.append(rel)
            else:
                problems.append(f"{rel}: is not a regular file (device, FIFO or socket)")
    return sorted(files), problems


def manifest_path(bundle: str | os.PathLike[str]) -> Path:
    """A bundle's MANIFEST.json, which must be a regular file (not a link). Something
    else in its place (a link, even to the genuine manifest, a folder, a FIFO), or none
    beside a ``model.sig``, is a bundle modified (CheckFailed, exit 1), not "not a bundle"."""
    from curagate.errors import CheckFailed

    path = Path(bundle) / MANIFEST_NAME
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise CheckFailed(
            f"{path}: is a symbolic link or not a regular file; a bundle's manifest is a "
            "regular file: the bundle was modified after export, re-export it"
        )
    if not path.is_file() and (Path(bundle) / "model.sig").exists():
        raise CheckFailed(
            f"{bundle}: no {MANIFEST_NAME} beside its model.sig: the bundle was modified "
            "after export, re-export it"
        )
    if not path.is_file():
        raise InputError(
            f"{bundle}: no {MANIFEST_NAME}; this is not an exported curagate bundle "
            "(create one with: curagate export RUN --out DIR)"
        )
    return path


def artifact_digest(bundle: str | os.PathLike[str]) -> str:
    """The digest that names an exported bundle: sha256 of its MANIFEST.json bytes."""
    return sha256_file(manifest_path(bundle))


__all__ = [
    "MANIFEST_NAME",
    "artifact_digest",
    "files_digest",
    "hash_tree",
    "manifest_path",
    "sha256_bytes",
    "sha256_file",
    "sha256_text",
    "tree_digest",
    "walk_strict",
]
