"""A cache of the golden-set indexes `check` and `audit` build, on disk.

A pre-commit hook checks a few files against the same golden sets at every commit, and
building their index was most of its time (~0.1 s of ~0.4 s for 5,000 records against 692
items). The index is built once and saved; a later run whose golden files, parameters and
curagate code are all the same loads it instead.

What makes an entry's key (:func:`entry_key`): the golden files as named (their names are
in the index's items), where each leads and the digest of its bytes, the name and bytes of
the ``set.yaml`` above it (:func:`~curagate.leakage.set_file`: it makes a multiple-choice
set, whose items get views), the build's parameters, the format of an entry, and the curagate code itself
(:func:`_code_fingerprint`): an edited golden item or ``set.yaml``, another ``--ngram`` or
another curagate is another key, never a stale index.

An entry is the pickled state of a :class:`~curagate.leakage.LeakageIndex` (what Ray ships
to its workers: plain containers and the core's checked blob) after a magic line and the
BLAKE2b digest of the rest. Reading one:

- a digest that does not match (a cut or damaged file) is a miss: the index is built again
  and the entry written over;
- the state is unpickled with no global allowed: an entry that names any class or function
  (as a planted pickle that runs code does) is refused, and built again;
- an entry of another format, whose core blob does not load, or whose items are not its
  core's (:func:`_whole`), is a miss too.

The cache is as trusted as the folder holding it: whoever can write there could hide a
golden item from `check`, as whoever can write the installed package could. Keep it in the
user's own cache folder; a CI job sharing caches across trust boundaries sets
``CURAGATE_NO_CACHE=1``. `curagate leakage`, `curate --decontaminate` and the gate never
read it.

Where: ``$XDG_CACHE_HOME/curagate/golden-index`` (``~/.cache/...``), beside the
embeddings' cache. Entries are written to a temporary name and
renamed (two runs writing one entry leave one whole entry); the least recently used beyond
:data:`MAX_ENTRIES` are removed. A folder that cannot be written leaves the run uncached,
without a word.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curagate.leakage import LeakageIndex

ENTRY_FORMAT = 2  # 2: each item's media identity in the state (PICKLE_VERSION 4)
MAGIC = b"curagate golden-set index %d\n" % ENTRY_FORMAT
MAX_ENTRIES = 16  # of a few MB each
SUFFIX = ".index"
_DIGEST = 32  # bytes of BLAKE2b


def cache_home() -> Path:
    """The folder of curagate's caches: ``$XDG_CACHE_HOME/curagate``, else
    ``~/.cache/curagate``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "curagate"


def index_cache_dir() -> Path | None:
    """Where golden-set indexes are cached; None with ``CURAGATE_NO_CACHE`` set (to
    anything but ``0`` or nothing)."""
    if os.environ.get("CURAGATE_NO_CACHE", "") not in ("", "0"):
        return None
    return cache_home() / "golden-index"


def _code_fingerprint() -> list[tuple[str, int, int]]:
    """Where the curagate package is, the versions of Python and pyarrow, and the name, size
    and modification time of every module of the package and of its Rust core: any change to
    the code that builds an index is another key (an install whose files all carry one
    modification time, as Nix's and reproducible wheels' do, is in another folder)."""
    import sys

    import pyarrow

    import curagate

    root = Path(curagate.__file__).parent
    out: list[tuple[str, int, int]] = [
        (str(root.resolve()), 0, 0),
        (f"python {sys.version} pyarrow {pyarrow.__version__}", 0, 0),
    ]
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        stack.append(Path(e.path))
                elif e.name.endswith((".py", ".so", ".pyd")):
                    st = e.stat()
                    out.append((os.path.relpath(e.path, root), st.st_size, st.st_mtime_ns))
    return out[:2] + sorted(out[2:])


def entry_key(files: Sequence[Path], params: dict[str, Any]) -> str:
    """The key of the index of ``files`` (as named) built with ``params``: see the module.
    Raises :class:`OSError` where a file cannot be read (the build says which)."""
    from curagate.leakage import PICKLE_VERSION, set_file

    h = hashlib.blake2b(digest_size=_DIGEST)
    head = repr((ENTRY_FORMAT, PICKLE_VERSION, sorted(params.items()), _code_fingerprint()))
    h.update(head.encode("utf-8", "surrogateescape"))
    for f in files:
        # What the build reads of a file besides its rows: the set.yaml above it (a
        # multiple-choice set's items get views with their options), found from where the
        # file leads. Parsing it would cost a hook ~15 ms; its bytes say as much.
        target = Path(f).resolve()
        set_yaml = set_file(target)
        for part in (f, target, set_yaml):
            _update(h, b"" if part is None else os.fsencode(part))
        for read in (f, set_yaml):
            if read is not None:
                with Path(read).open("rb") as fh:
                    h.update(hashlib.file_digest(fh, "blake2b").digest())
    return h.hexdigest()


def _update(h: Any, data: bytes) -> None:
    """Add ``data`` to ``h`` after its length (so no two sequences of parts hash alike)."""
    h.update(len(data).to_bytes(8, "little") + data)


class _NoGlobals(pickle.Unpickler):
    """An unpickler of plain containers only: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a cached index names {module}.{name}")


def load(path: Path) -> LeakageIndex | None:
    """The index saved at ``path``; None where there is none whole and of this format."""
    from curagate.errors import InputError
    from curagate.leakage import LeakageIndex

    try:
        data = path.read_bytes()
    except OSError:
        return None
    head = len(MAGIC) + _DIGEST
    if len(data) <= head or not data.startswith(MAGIC):
        return None
    body = memoryview(data)[head:]
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != data[len(MAGIC) : head]:
        return None
    try:
        state = _NoGlobals(io.BytesIO(body)).load()
        index = LeakageIndex.__new__(LeakageIndex)
        index.__setstate__(state)
        if not _whole(index):
            return None
    except (
        OverflowError,
        pickle.UnpicklingError,
        InputError,
        EOFError,
        TypeError,
        ValueError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
    ):
        return None
    return index


def _whole(index: LeakageIndex) -> bool:
    """Whether the items of an index loaded are those of its core: one per text the core
    holds, prompts then answers (an entry whose state holds no item scanned into an
    IndexError, found by re-attack)."""
    counts = [len(index._core.items().words) // 4]
    if index._answers is not None:
        counts.append(len(index._answers.items().words) // 4)
    return sum(counts) == len(index.items) and counts[0] == index._prompts


def save(path: Path, index: LeakageIndex) -> None:
    """Write ``index`` at ``path`` (temporary name, then renamed); nothing where it cannot."""
    body = pickle.dumps(index.__getstate__(), protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.blake2b(body, digest_size=_DIGEST).digest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC + digest)
                f.write(body)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(path.parent)
    except OSError:
        return


def _prune(folder: Path) -> None:
    """Remove the least recently used entries beyond :data:`MAX_ENTRIES`, and temporary
    files of runs killed while writing (older than an hour)."""
    import time

    entries: list[tuple[int, str]] = []
    old = time.time_ns() - 3600 * 10**9
    with os.scandir(folder) as it:
        for e in it:
            try:
                mtime = e.stat(follow_symlinks=False).st_mtime_ns
            except OSError:
                continue
            if e.name.endswith(SUFFIX):
                entries.append((mtime, e.path))
            elif e.name.startswith(".") and e.name.endswith(".tmp") and mtime < old:
                with contextlib.suppress(OSError):
                    Path(e.path).unlink()
    for _, p in sorted(entries, reverse=True)[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            Path(p).unlink()


def cached_index(
    files: Sequence[Path], params: dict[str, Any], build: Callable[[], LeakageIndex]
) -> tuple[LeakageIndex, bool]:
    """The index of ``files`` with ``params``: loaded from the cache, or ``build()`` and
    saved. Returns it and whether it was loaded. Built (and not saved) where a golden file
    cannot be read for the key (the build names it) or changed while the index was built."""
    folder = index_cache_dir()
    try:
        key = None if folder is None else entry_key(files, params)
    except OSError:
        key = None
    if folder is None or key is None:
        return build(), False
    path = folder / f"{key}{SUFFIX}"
    index = load(path)
    if index is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept by _prune
        return index, True
    index = build()
    try:
        unchanged = entry_key(files, params) == key
    except OSError:
        unchanged = False
    if unchanged:
        save(path, index)
    return index, False
