"""``curagate check``: the fast gate for pre-commit and CI.

Schema and format validation, exact duplicates within and across the given
files, and leakage against the golden sets (exact + n-gram, in each record's
key and every other string it holds, as ``curagate leakage``). It reuses the
audit's rule ids so a finding means the same thing in both places, and
imports nothing heavy (no torch, no pandas): a commit hook must answer in
well under a second for a few thousand records.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curagate.audit.formats import Violation, format_violations, quarantine_rule
from curagate.audit.keys import fingerprints
from curagate.audit.leaks import LeakScan, build_index
from curagate.errors import InputError, no_records
from curagate.findings import Finding, Rule, Severity
from curagate.records import Batch, RecordFormat, blank_mask

if TYPE_CHECKING:
    import pyarrow as pa

    from curagate.audit.config import AuditConfig

# The golden sets check and audit scan when neither a flag nor the config names any.
DEFAULT_GOLDEN_DIR = Path("golden_sets")
# What a file's own golden sets are called: the nearest folder of this name beside or above it.
GOLDEN_DIR_NAME = DEFAULT_GOLDEN_DIR.name
_NO_GOLDEN_FIX = "pass --golden DIR, or --no-golden to check without leakage"


def golden_folder(path: Path, fix: str = _NO_GOLDEN_FIX) -> Path | None:
    """``path`` when it is a folder of golden sets, None when there is nothing there.

    A ``golden_sets`` that is there but is no folder (a symbolic link to a share that is
    not mounted, a file) is an :class:`InputError`: read as "no golden sets", check ran no
    leakage check and passed a verbatim golden item. ``fix``: how else to name them.
    """
    if path.is_dir():
        return path
    if not os.path.lexists(path):
        return None
    if path.is_symlink():
        target = path.readlink()
        raise InputError(
            f"{path}: a symbolic link to {target}, which is not a folder (golden sets on a share "
            f"that is not mounted?); mount it or fix the link, or {fix}"
        )
    raise InputError(
        f"{path}: not a folder, so no golden sets can be read from it; make it the folder of "
        f"your golden sets, or {fix}"
    )


def _owner() -> int | None:
    """Whose ``.git`` may end the search: the effective user's (under ``sudo``, the
    ``SUDO_UID`` that ran it), as git's ``safe.directory`` check reads it; None where the
    system has no owners to compare (Windows)."""
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        return None
    uid: int = geteuid()
    sudo = os.environ.get("SUDO_UID", "")
    return int(sudo) if uid == 0 and sudo.isdigit() else uid


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except (OSError, ValueError):
        return None


def _is_file(path: Path) -> bool:
    st = _stat(path)
    return st is not None and stat.S_ISREG(st.st_mode)


def _is_head(path: Path) -> bool:
    """git's test of a ``HEAD`` (``validate_headref``): a plain file, or a link into
    ``refs/`` (``core.preferSymlinkRefs``), which may dangle: after ``git pack-refs`` the
    branch it names is in ``packed-refs`` (read with ``stat``, such a repository was none,
    and its golden sets were not found; found by re-attack)."""
    try:
        st = path.lstat()
    except (OSError, ValueError):
        return False
    if stat.S_ISREG(st.st_mode):
        return True
    if not stat.S_ISLNK(st.st_mode):
        return False
    try:
        if str(path.readlink()).startswith("refs/"):
            return True
    except (OSError, ValueError):
        return False
    return _is_file(path)


def _is_git_folder(path: Path) -> bool:
    """git's own test of a ``.git`` folder (``is_git_directory``): a ``HEAD`` (:func:`_is_head`)
    and the ``objects`` and ``refs`` folders. An empty ``.git`` (a stray ``mkdir``) is no
    repository to git, nor here."""
    objects, refs = _stat(path / "objects"), _stat(path / "refs")
    return (
        _is_head(path / "HEAD")
        and objects is not None
        and stat.S_ISDIR(objects.st_mode)
        and refs is not None
        and stat.S_ISDIR(refs.st_mode)
    )


def _is_owner(uid: int, owner: int | None) -> bool:
    """Whether what ``uid`` owns is ``owner``'s to git (``is_path_owned_by_current_uid``):
    ``owner``'s, and root's when run as root (under ``sudo`` too); anything is, where there
    are no owners."""
    if owner is None or uid == owner:
        return True
    geteuid = getattr(os, "geteuid", None)
    return uid == 0 and geteuid is not None and geteuid() == 0


def _owned(path: Path, owner: int | None, *, follow: bool = False, missing: bool = False) -> bool:
    """Whether ``path`` (the link itself unless ``follow``) is ``owner``'s to git
    (:func:`_is_owner`); ``missing``: what a path that cannot be looked at is."""
    if owner is None:
        return True
    try:
        st = path.stat() if follow else path.lstat()
    except (OSError, ValueError):
        return missing
    return _is_owner(st.st_uid, owner)


def _read_small(path: Path, limit: int) -> str | None:
    """The first ``limit`` bytes of a plain file as text, None where it cannot be read or is
    no plain file (opened without blocking and checked again once open: a FIFO swapped in
    never hangs)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def _gitdir_line(git: Path) -> str | None:
    """The first line of a ``.git`` file, None where it cannot be read or is no plain file."""
    text = _read_small(git, 8192)
    return None if text is None else text.partition("\n")[0]


def _submodule_git(gitdir: Path) -> bool:
    """Whether ``gitdir`` is a submodule's git folder: ``<git folder>/modules/<name>`` (the
    name may hold a "/")."""
    parts = gitdir.parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] == "modules" and _is_file(Path(*parts[:i]) / "HEAD"):
            return True
    return False


def _git_here(d: Path, owner: int | None) -> str | None:
    """What git would take ``d``'s ``.git`` for: None (none there, or one git refuses or
    cannot use), ``"submodule"`` (part of the repository above) or ``"root"``.

    Ownership is git's ``safe.directory`` check (``ensure_valid_ownership``): the ``.git``
    itself, not what a link there points to (``lstat``), the folder ``d`` (the work tree)
    and, for a ``.git`` file, the git folder it names must be ``owner``'s. A ``.git`` link
    of another user's, in a folder of theirs, to a ``.git`` folder of ours was read with
    ``stat``, so their folder was taken for our repository's root and their golden sets
    applied, where git says "detected dubious ownership" (found by re-attack)."""
    git = d / ".git"
    try:
        link = git.lstat()
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None  # none there
        raise  # cannot tell (no permission, a name too long): an error, not "no repository"
    if not _is_owner(link.st_uid, owner) or not _owned(d, owner, follow=True):
        return None
    try:
        st = git.stat()
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None  # a link that dangles or loops is none to git either
        raise
    if stat.S_ISDIR(st.st_mode):
        return "root" if _is_git_folder(git) else None
    if not stat.S_ISREG(st.st_mode):
        return None
    line = _gitdir_line(git)
    if line is None:
        return None
    target = line.removeprefix("gitdir:").strip() if line.startswith("gitdir:") else ""
    if not target:
        return "root"  # a .git file git cannot use: the search ends here, as before
    gitdir = Path(os.path.normpath(d / target))
    if not _owned(gitdir, owner, missing=True):
        return None  # (one that is not there: the search ends here, as before)
    commondir = _read_small(gitdir / "commondir", 4096)
    if commondir is not None:  # a linked worktree
        common = Path(os.path.normpath(gitdir / commondir.partition("\n")[0].strip()))
        if _submodule_git(common) and ".git" in common.parts:
            # A worktree of a submodule (`git worktree add` in one): part of the
            # superproject when it lies in the checkout whose .git folder holds it.
            checkout = Path(*common.parts[: common.parts.index(".git")])
            if d.is_relative_to(checkout) and d != checkout:
                return "submodule"
        return "root"
    return "submodule" if _submodule_git(gitdir) else "root"


_GITMODULES_PATH = re.compile(r"^\s*path\s*=(.*)$", re.IGNORECASE | re.MULTILINE)
# Past this a .gitmodules is not read: the search goes on up (more golden sets, never fewer).
_GITMODULES_LIMIT = 16 << 20
_CONFIG_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", '"': '"', "\\": "\\"}


def _config_value(raw: str) -> str:
    """A git config value as git reads it: quotes removed wherever they are, a ``;`` or
    ``#`` outside quotes starting a comment, ``\\`` escapes, the blanks around it left out
    (found by re-attack: ``path = sub ; the data`` and ``path = "da"ta`` named other
    folders to check than to git, and its golden sets were not looked up)."""
    out: list[str] = []
    quoted = False
    chars = iter(raw)
    for c in chars:
        if c == '"':
            quoted = not quoted
        elif c in ";#" and not quoted:
            break
        elif c == "\\":
            out.append(_CONFIG_ESCAPES.get(next(chars, ""), ""))
        else:
            out.append(c)
    return "".join(out).strip()


def _listed_submodule(d: Path, owner: int | None) -> bool:
    """Whether the repository enclosing ``d`` lists ``d`` as a submodule in its
    ``.gitmodules`` (``git submodule add ./sub sub`` of an existing repository keeps its
    ``.git`` folder: a nested repository's root to look at, a submodule to git). One small
    file read, and a few ``stat`` calls a folder above ``d`` up to the enclosing
    repository's root."""
    for up in d.parents:
        try:
            kind = _git_here(up, owner)
        except OSError:
            return False  # cannot tell: d stays a root
        if kind is None:
            continue
        modules = up / ".gitmodules"
        with contextlib.suppress(OSError):
            if modules.stat().st_size > _GITMODULES_LIMIT:
                return True  # (padded past the limit, it hid a listed submodule)
        text = _read_small(modules, _GITMODULES_LIMIT)
        if text is None:
            return False
        target = os.path.normpath(d)
        for m in _GITMODULES_PATH.finditer(text):
            value = _config_value(m.group(1))
            if value and os.path.normpath(up / value) == target:
                return True
        return False
    return False


def _repository_root(d: Path, owner: int | None) -> bool:
    """Whether the upward search for golden sets ends at ``d``: it holds a ``.git`` of
    ``owner``'s (:func:`_owner`, :func:`_git_here`) that git would take for a repository,
    not a submodule's. A ``.git`` of another user's (or in another user's folder) is passed
    by, as git's ``safe.directory`` refuses it (CVE-2022-24765: anyone may make
    ``/tmp/.git``, and the search then read their ``/tmp/golden_sets``), so is one that is
    neither a folder nor a file (a FIFO there hung check) and an empty ``.git`` folder.

    A ``.git`` folder ends it, unless the enclosing repository's ``.gitmodules`` lists ``d``
    (a submodule added from an existing repository, :func:`_listed_submodule`). A ``.git``
    file (``gitdir: PATH``) ends it unless it is a submodule's, whose git folder is
    ``<superproject's git folder>/modules/<name>`` (in the main checkout ``.git/modules/``,
    in a linked worktree of the superproject ``.git/worktrees/<wt>/modules/``, with
    ``--separate-git-dir`` that folder's ``modules/``): the search goes on to the
    superproject's root, whose checkout holds it (a data submodule is checked against the
    golden sets of the project it is part of, when it has none of its own). A linked
    worktree's git folder holds a ``commondir`` file and ends it wherever it is (one kept in
    ``<main>/.worktrees/`` is its own checkout, another branch's, not part of the main
    one), but for a worktree of a submodule inside the superproject's checkout; a
    ``--separate-git-dir`` checkout's ends it. A few ``stat`` calls where there is a
    ``.git``, and a read of the rare ``.git`` file; none where there is not. A ``.git`` that
    cannot be looked at (no permission, a name too long) is an :class:`OSError`, as before:
    no answer is no "no repository"."""
    if _git_here(d, owner) != "root":
        return False
    return not _listed_submodule(d, owner)


@dataclass(slots=True)
class _GoldenLookup:
    """Per-folder caches of :func:`nearest_golden` (one lookup serves many files)."""

    cwd: Path
    fix: str  # how else to name golden sets, for golden_folder's errors
    owner: int | None  # whose .git ends the search (_owner)
    root: dict[Path, Path | None]  # the repository root the search ends at, or None
    near: dict[Path, Path | None]  # the nearest golden_sets folder, or None

    @classmethod
    def here(cls, cwd: Path, fix: str) -> _GoldenLookup:
        return cls(cwd=cwd, fix=fix, owner=_owner(), root={}, near={})

    def repository(self, folder: Path) -> Path | None:
        def look(d: Path) -> tuple[Path | None, bool]:
            return (d, True) if _repository_root(d, self.owner) else (None, False)

        return _walk_up(folder, self.root, look)


def _walk_up(
    folder: Path,
    seen: dict[Path, Path | None],
    look: Callable[[Path], tuple[Path | None, bool]],
) -> Path | None:
    """Going up from ``folder`` to the file system's root, what ``look`` gives of the first
    folder where it says the walk ends (``look(d)``: what ``d`` gives, and whether the walk
    ends there), else None. Every folder walked ends where ``folder`` does, so the answer is
    theirs too: cached in ``seen``."""
    walked: list[Path] = []
    d = folder
    while d not in seen:
        walked.append(d)
        found, end = look(d)
        if end or d.parent == d:
            break
        d = d.parent
    else:
        found = seen[d]
    for w in walked:
        seen[w] = found
    return found


def nearest_golden(folder: Path, lookup: _GoldenLookup) -> Path | None:
    """The nearest ``golden_sets`` folder in ``folder`` (absolute) or above it, up to the
    root of the git repository holding it (:func:`_repository_root`), even above the
    current directory; outside any repository up to the current directory when
    ``folder`` is in it, else ``folder`` alone (never the file system's root: a file
    outside both read ``/golden_sets`` or ``/home/golden_sets``). A few ``stat`` calls a
    folder, cached in ``lookup``.

    pre-commit runs a hook at the repository's root: a data project in ``ml/`` keeps its
    golden sets in ``ml/golden_sets``, and ``./golden_sets`` alone found none there; run
    in ``ml/data/``, the search stopped there and passed a verbatim golden item.
    """
    root = lookup.repository(folder)
    if root is not None:
        end = root
    elif folder.is_relative_to(lookup.cwd):
        end = lookup.cwd
    else:
        end = folder

    def look(d: Path) -> tuple[Path | None, bool]:
        found = golden_folder(d / GOLDEN_DIR_NAME, lookup.fix)
        return found, found is not None or d == end

    # (Every folder walked ends where ``folder`` does: the same repository, or the same
    # current directory.)
    return _walk_up(folder, lookup.near, look)


def default_golden(
    files: Sequence[Path],
    aliases: dict[Path, list[Path]] | None = None,
    fix: str = _NO_GOLDEN_FIX,
) -> dict[Path, tuple[Path, ...]]:
    """Each file's golden sets where neither ``--golden`` nor the config names any:
    ``./golden_sets``, and the nearest ``golden_sets`` folder beside or above the file
    (:func:`nearest_golden`), so files of two projects of one repository are each checked
    against their own. Named relative to the current directory where they are in it.
    ``aliases``: every name of a file (a link to it from another project,
    :func:`curagate.io.expand_inputs`): it is checked against the golden sets of all its
    names, sorted, whichever name was given first. A few ``stat`` calls a folder.
    ``fix``: how else to name golden sets, where one found is no folder.
    """
    try:
        cwd = Path.cwd()
    except FileNotFoundError:  # found by re-attack: an exit 3
        raise InputError(
            "the current folder no longer exists (removed while this shell was in it), so "
            "no ./golden_sets can be looked for; cd into an existing folder, or pass "
            "--golden DIR or --no-golden"
        ) from None
    here = golden_folder(DEFAULT_GOLDEN_DIR, fix)
    lookup = _GoldenLookup.here(cwd, fix)
    out: dict[Path, tuple[Path, ...]] = {}
    for f in files:
        names = (aliases or {}).get(f) or [f]
        refs: list[Path] = [] if here is None else [here]
        for name in names:
            # Where the file is named, not where a link leads: a project's linked-in data
            # file is checked against the project's golden sets.
            near = nearest_golden(Path(os.path.abspath(name)).parent, lookup)  # noqa: PTH100
            if near is None or (here is not None and near == cwd / GOLDEN_DIR_NAME):
                continue
            shown = Path(os.path.relpath(near, cwd)) if near.is_relative_to(cwd) else near
            if shown not in refs:
                refs.append(shown)
        # One name: ./golden_sets, then the file's own. Several: sorted, so the result does
        # not hang on which name came first.
        out[f] = tuple(refs) if len(names) == 1 else tuple(sorted(refs, key=str))
    return out


def golden_sets_of(
    files: Sequence[Path],
    aliases: dict[Path, list[Path]] | None = None,
    fix: str = _NO_GOLDEN_FIX,
) -> list[Path]:
    """Every golden-sets folder :func:`default_golden` finds for ``files``, once each and
    sorted: ``curagate audit`` scans its inputs against them all (one index a run)."""
    found = default_golden(files, aliases, fix)
    return sorted({g for refs in found.values() for g in refs}, key=str)


# What could break a finding's one line or make two names print alike, as escapes: C0
# controls but tab, DEL, C1 controls (U+0085 is a line break to Python), the line and
# paragraph separators, bidi controls (they reorder what a terminal shows), and the
# backslash itself (so a name holding a real newline and one holding "\\n" differ).
_ESCAPED = {
    c: repr(chr(c))[1:-1] if c < 0xA0 else f"\\u{c:04x}"
    for c in [
        *range(0x20),
        *range(0x7F, 0xA0),
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
        0x200E,
        0x200F,
        0x061C,
    ]
    if c != 0x09
} | {ord("\\"): "\\\\"}


@dataclass(frozen=True, slots=True)
class _Settings:
    """What :func:`check` reads of an :class:`AuditConfig`.

    Without a config file these are ``AuditConfig()``'s defaults, taken
    without building the pydantic model (pydantic costs a commit hook ~0.1 s
    to import and build; ``tests/check`` pins that the two agree).
    """

    format: str | None = None
    text_field: str | None = None
    preference_key: str = "prompt"
    sft: bool = True
    ngram: int = 13
    # leakage.reference (audit's golden sets); None: the config names none (each file's own,
    # default_golden), (): it names none on purpose (`reference: []`: no leakage check)
    references: tuple[Path, ...] | None = None
    levels: tuple[tuple[str, str], ...] = ()  # rule id -> severity the config sets
    errors_above: tuple[tuple[str, float], ...] = ()  # rule id -> error_above the config sets
    secrets: tuple[float, int] = (4.5, 24)  # secrets.entropy_threshold, .min_length


def _settings(config: AuditConfig | None) -> _Settings:
    if config is None:
        return _Settings()
    return _Settings(
        format=config.format,
        text_field=config.text_field,
        preference_key=config.preference_key,
        sft=config.sft,
        secrets=(config.secrets.entropy_threshold, config.secrets.min_length),
        ngram=config.leakage.ngram,
        references=tuple(config.leakage.reference)
        if "reference" in config.leakage.model_fields_set
        else None,
        levels=tuple((rid, rc.severity) for rid, rc in config.rules.items() if rc.severity),
        errors_above=tuple(
            (rid, rc.error_above) for rid, rc in config.rules.items() if rc.error_above is not None
        ),
    )


@dataclass(kw_only=True)
class CheckFinding(Finding):
    """A finding at one line of one file (line 0: the whole file, e.g. a Parquet file).

    Its rule carries the severity the config gives it, which the outputs report.
    """

    file: str
    line: int

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.file, self.line, self.rule.id, self.message)

    def __str__(self) -> str:
        """One line per finding, whatever the file is called (a staged file's name may
        hold a newline): control characters are shown escaped (``\\n``)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.rule.id} {self.message}".translate(_ESCAPED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule": self.rule.id,
            "name": self.rule.name,
            "level": self.severity.value,
            "message": self.message,
        }


def configured_rules(config: AuditConfig | None = None) -> dict[str, Rule]:
    """The audit's rules at the severity ``config`` gives each, less those switched off
    (``None``: the defaults, every rule at its own severity)."""
    return _rules_at(_settings(config))


def _rules_at(cfg: _Settings) -> dict[str, Rule]:
    from curagate.audit.rules import RULES  # the registry: every rule module, on first use

    levels = dict(cfg.levels)
    return {
        rid: replace(r, severity=Severity(levels.get(rid) or r.severity))
        for rid, r in RULES.items()
        if levels.get(rid) != "off"
    }


def check(
    files: Sequence[str | Path],
    *,
    golden: str | Path | Sequence[str | Path] | None = None,
    leakage: bool = True,
    config: AuditConfig | None = None,
    ngram: int | None = None,
    context: Sequence[str | Path] = (),
    notes: list[str] | None = None,
) -> list[CheckFinding]:
    """Check ``files``; returns the findings sorted by file, line and rule, once each.

    ``golden=None`` uses the config's ``leakage.reference``, else each file's own golden
    sets (:func:`default_golden`; no leakage check for a file without any, and a line
    in ``notes``, where given, says so); explicit directories (one, or several: all are
    scanned) must exist, and a golden row that cannot be read is an :class:`InputError`.
    ``leakage=False`` skips it.

    ``context``: more files read only for their records' duplicate fingerprints, in
    the sorted order of all files, so a record of ``files`` that repeats an earlier one
    of ``context`` is a DUP001: what one run over both would report for ``files``.
    pre-commit splits a long list of staged files over several runs; each gets the
    whole list as context (``--staged-context``).
    """
    from curagate.audit.pii import shown
    from curagate.audit.rules import RULES
    from curagate.io import expand_inputs
    from curagate.leakage.texts import row_texts

    cfg = _settings(config)
    rules = _rules_at(cfg)
    # A hard link is a file of its own: git commits two copies, so a clone holds its
    # records twice (read once, the hook passed what CI on the clone failed). A folder's
    # `_*`/`.*` files are read too: the hook checks them when staged, and CI's `check data/`
    # passed a committed leak in data/_z.jsonl (found by attack).
    # Every name of each file: one linked into two projects is checked against the golden
    # sets beside both (under the first name alone, the result hung on the argument order).
    aliases: dict[Path, list[Path]] = {}
    paths = expand_inputs(list(files), hard_links_apart=True, every_name=True, aliases=aliases)
    own: set[str] | None = None
    if context:
        # A file is the user's by what it is, not how it is spelled (`$PWD/x.jsonl`,
        # `sub/../x.jsonl` or a link to it is the staged `x.jsonl`); read once, under
        # the user's spelling (theirs come first: the first spelling of a file is kept).
        own = {str(p.resolve()) for p in paths}
        aliases.clear()
        paths = expand_inputs(
            [*files, *context], hard_links_apart=True, every_name=True, aliases=aliases
        )
    # In the order of where the files are, not of how they are named: `$PWD/b.jsonl` sorted
    # before the staged `a.jsonl`, and b's copy of a record of a was never the duplicate.
    paths.sort(key=lambda p: str(p.resolve()))
    out: dict[tuple[str, int, str, str], CheckFinding] = {}
    seen: dict[bytes, str] = {}
    total = 0  # the rows of every file read (quarantined ones too), as audit counts them
    # The lines of the rows of the file being read that ``total`` counts, a batch's at a
    # time: a damaged gzip member's / zstd frame's rows, read before the damage showed,
    # are taken out again (no finding is kept on them, so no share counts them either).
    counted: list[pa.Array] = []
    counted_src = ""
    context_dups = 0  # the context files' rows that repeat an earlier one
    dups: list[tuple[str, int]] = []  # where the context file being read repeats a record
    holding: set[str] = set()  # the files checked that hold a row
    # (file, reason) of each Parquet row group read as lost: its message names its rows, and
    # a hook printed a line for each (43,781 lines for one flipped bit).
    lost: set[tuple[str, str]] = set()

    def add(file: str, line: int, rule: str, message: str) -> None:
        r = rules.get(rule)
        if r is not None:
            f = CheckFinding(rule=r, severity=r.severity, message=message, file=file, line=line)
            out.setdefault(f.sort_key(), f)

    given = [golden] if isinstance(golden, (str, Path)) else list(golden or [])
    golden_dirs = [Path(g) for g in given]
    for d in golden_dirs:
        if not d.exists():  # a folder of golden sets, or one set's file
            raise InputError(f"--golden {d}: no such file or folder; point it at your golden sets")
    mine = paths if own is None else [p for p in paths if str(p.resolve()) in own]
    # The index each checked file (resolved) is scanned against; None: no golden sets.
    leaks_of: dict[str, LeakScan | None] = {}
    if leakage and "LEAK001" in rules:
        leaks_of = _leak_scans(mine, golden_dirs, cfg, ngram, notes, aliases)
    leaks: LeakScan | None = None

    for batch in _read(paths, own, cfg):
        src = Path(batch.source).as_posix()
        if src != counted_src:
            counted, counted_src = [], src
            dups.clear()
            leaks = leaks_of.get(str(Path(batch.source).resolve()))
        counted.append(_row_lines(batch))
        total += batch.table.num_rows + len(batch.quarantined)
        if own is not None and str(Path(batch.source).resolve()) not in own:
            # context only: its records are the earlier copies a later file may repeat, and
            # its rows count as one run over every file counts them (a rule's error share)
            for q in batch.quarantined:
                if q.untrusted_from is not None:  # a damaged member: as in a file checked
                    total -= _rows_from(counted, q.untrusted_from)
                    context_dups -= _drop_untrusted({}, seen, src, q.untrusted_from, dups)
            if batch.table.num_rows:
                for line, fp in zip(
                    _lines(batch), fingerprints(batch.keys, batch.media), strict=True
                ):
                    if seen.setdefault(fp, f"{src}:{line}") != f"{src}:{line}":
                        context_dups += 1  # a DUP001 of one run over every file
                        dups.append((src, line))
            continue
        fmt = RecordFormat(batch.format)
        if batch.table.num_rows + len(batch.quarantined):
            holding.add(str(Path(batch.source).resolve()))
        for q in batch.quarantined:
            if q.untrusted_from is not None:
                # the member's rows get no finding, nor count among the rows checked
                total -= _rows_from(counted, q.untrusted_from)
                _drop_untrusted(out, seen, src, q.untrusted_from)
            n = q.position or 0
            rule = quarantine_rule(q, fmt)
            if rule == "FMT010" and n and (src, q.reason) in lost:
                continue  # a lost row group is one finding at its first row, not one a row
            lost.add((src, q.reason))
            # A whole-file problem (line 0) says how to fix it; the rule's fix is for a row.
            # The reason may quote a key (written twice): redacted as audit redacts it.
            reason = shown(q.reason, *cfg.secrets)
            add(src, n, rule, reason if n == 0 else f"{reason}; fix: {RULES[rule].fix}")
        if leaks is not None and batch.quarantined:
            for q, what in leaks.scan_quarantined(batch.quarantined):
                add(src, q.position or 0, "LEAK001", f"contains {what}; {_LEAK_FIX}")
        if batch.table.num_rows == 0:
            continue
        lines = _lines(batch)
        fps = fingerprints(batch.keys, batch.media)
        violations = _violations(batch.table, fmt, cfg)
        for found, line, fp in zip(violations, lines, fps, strict=True):
            for v in found:
                add(src, line, v.rule, f"{v.detail}; fix: {RULES[v.rule].fix}")
            first = seen.get(fp)
            if first is None:
                seen[fp] = f"{src}:{line}"
            else:
                add(
                    src,
                    line,
                    "DUP001",
                    f"exact duplicate of {first} (after normalization); "
                    "remove one copy or run `curagate curate`",
                )
        if leaks is not None:
            texts = row_texts(
                batch.table, fmt, batch.keys, cfg.text_field, cfg.preference_key, media=batch.media
            )
            for i, what in sorted(leaks.scan(texts).items()):
                add(src, lines[i], "LEAK001", f"contains {what}; {_LEAK_FIX}")
    # One emptied file among several passed too ("0 errors": its rows were not there).
    empty = [p for p in mine if str(p.resolve()) not in holding]
    if empty:
        raise InputError(no_records(empty, None if len(empty) == len(mine) else len(mine)))
    return _escalated([out[k] for k in sorted(out)], cfg, total, {"DUP001": context_dups})


def _leak_scans(
    files: list[Path],
    golden: list[Path],
    cfg: _Settings,
    ngram: int | None,
    notes: list[str] | None,
    aliases: dict[Path, list[Path]] | None = None,
) -> dict[str, LeakScan | None]:
    """The leakage index each of ``files`` (by resolved path) is scanned against: the
    ``--golden`` folders, else the config's ``leakage.reference`` (as audit reads it: they
    were ignored, and the hook passed what audit failed; ``reference: []`` is none), else
    each file's own (:func:`default_golden`). Files with the same golden sets share one
    index. With none found for a file, a line in ``notes`` says its leakage was not checked
    (a clone without the golden sets, often git-ignored, lost its leak check unsaid)."""
    if golden or cfg.references is not None:
        refs = tuple(golden) if golden else tuple(cfg.references or ())
        wanted = {f: refs for f in files}
        fix = (
            "point --golden at your golden sets"
            if golden
            else "fix leakage.reference in the --config file"
        )
    else:
        wanted = default_golden(files, aliases)
        fix = "point --golden at your golden sets"
    built: dict[tuple[Path, ...], LeakScan | None] = {}
    out: dict[str, LeakScan | None] = {}
    # A file of the golden sets it would be scanned against (`check .` at a repository's
    # root walks golden_sets/ too) is checked for format only: scanned, each of its items
    # was a LEAK001 of itself (found by attack).
    golden_own = [f for f, refs in wanted.items() if refs and _inside(f, refs)]
    for f in golden_own:
        wanted[f] = ()
    for f, refs in wanted.items():
        if refs and refs not in built:
            built[refs] = build_index(
                refs, ngram=ngram or cfg.ngram, fix=f"{fix}, or pass --no-golden"
            )
        out[str(f.resolve())] = built.get(refs)
    if notes is not None and golden_own:
        more = f" and {len(golden_own) - 1} more file(s)" if len(golden_own) > 1 else ""
        notes.append(
            f"{golden_own[0]}{more}: part of the golden sets checked against, so checked for "
            "format only, not for leakage"
        )
    unchecked = [f for f, refs in wanted.items() if not refs and f not in golden_own]
    if notes is not None and unchecked and not golden and cfg.references is None:
        which = "" if len(unchecked) == len(files) else f" in {unchecked[0]}"
        if which and len(unchecked) > 1:
            which += f" and {len(unchecked) - 1} more file(s)"
        notes.append(
            f"leakage not checked{which}: no golden_sets folder here or beside or above the "
            "files checked; pass --golden DIR, or --no-golden to silence this"
        )
    return out


def _inside(f: Path, refs: Sequence[Path]) -> bool:
    """Whether ``f`` is one of the golden sets ``refs`` (a file of them, or in a folder of
    them), by where each leads."""
    here = f.resolve()
    return any(here == r or here.is_relative_to(r) for r in (Path(g).resolve() for g in refs))


def _read(paths: list[Path], own: set[str] | None, cfg: _Settings) -> Iterator[Batch]:
    """The batches of ``paths`` in order; a context file (not in ``own``) this run cannot
    read in its format is skipped: it holds no record this run's could repeat, and it is
    its own hook's to check (a chat file staged beside this hook's prompt/completion
    files stopped the run, exit 2: "no record has field 'prompt' ...")."""
    from curagate.io import read_batches

    for path in paths:
        try:
            yield from read_batches(
                [path],
                format=cfg.format,
                text_field=cfg.text_field,
                preference_key=cfg.preference_key,
                # check writes nothing: damage is a finding (FMT010) wherever it falls,
                # not exit 2 once a batch of the file was handed on (it was past 65,536 rows)
                report_damage=True,
            )
        except InputError:
            if own is None or str(path.resolve()) in own:
                raise


def _drop_untrusted(
    out: dict[tuple[str, int, str, str], CheckFinding],
    seen: dict[bytes, str],
    src: str,
    first: int,
    dups: list[tuple[str, int]] | None = None,
) -> int:
    """Forget what was found on the rows of ``src`` from line ``first`` on: a damaged gzip
    member / zstd frame starts there, whose rows were read before its damage showed and may
    be made up by it (a byte flipped early in a 100K-row file reported 55,437 garbage rows
    as FMT001; one of 50K rows, caught in its first batch, only FMT010). The file's FMT010
    says so; the records are no earlier copies for DUP001 either. ``dups``: where a context
    file's rows repeat an earlier one; those of the member are taken out of it too, and
    their number returned."""
    for key in [k for k, f in out.items() if f.file == src and f.line >= first]:
        del out[key]
    for fp in [
        fp
        for fp, at in seen.items()
        if at.startswith(f"{src}:") and int(at.rsplit(":", 1)[1]) >= first
    ]:
        del seen[fp]
    if not dups:
        return 0
    kept = [(f, line) for f, line in dups if f != src or line < first]
    dropped = len(dups) - len(kept)
    dups[:] = kept
    return dropped


def _row_lines(batch: Batch) -> pa.Array:
    """The line (JSONL) or 1-based row (Parquet) of each row of ``batch`` that ``check``
    counts, quarantined ones too (a problem with the whole file at 0)."""
    import pyarrow as pa

    from curagate import _kernels as pc  # pyarrow.compute costs a commit hook ~60 ms

    quarantined = pa.array([q.position or 0 for q in batch.quarantined], pa.int64())
    if not batch.table.num_rows:
        return quarantined
    lines = batch.lines if batch.lines is not None else pc.add(batch.rows, pa.scalar(1))
    return pa.concat_arrays([pc.cast(lines, pa.int64()), quarantined])


def _rows_from(counted: list[pa.Array], first: int) -> int:
    """How many of the rows ``counted`` are at line ``first`` or after it."""
    import pyarrow as pa

    from curagate import _kernels as pc

    at = pa.scalar(first, pa.int64())
    return sum(int(pc.sum(pc.greater_equal(a, at)).as_py() or 0) for a in counted)


def _escalated(
    findings: list[CheckFinding],
    cfg: _Settings,
    total: int,
    elsewhere: dict[str, int] | None = None,
) -> list[CheckFinding]:
    """A rule's findings as errors when the rows they name are more than its ``error_above``
    share of the rows read, as audit decides it (DUP001: 5% by default; a configured
    severity without ``error_above`` drops that default): check said warning where audit,
    on the same data and config, failed. ``elsewhere``: a rule's rows in the files read as
    context only (their duplicates count towards the share as in one run over all files)."""
    from curagate.audit.rules import RULES

    configured, levels = dict(cfg.errors_above), dict(cfg.levels)
    rows: dict[str, set[tuple[str, int]]] = {}
    for f in findings:
        rows.setdefault(f.rule.id, set()).add((f.file, f.line))
    errors = set()
    for rid, where in rows.items():
        bound = configured.get(rid, None if rid in levels else RULES[rid].error_above)
        count = len(where) + (elsewhere or {}).get(rid, 0)
        if bound is not None and total and count / total > bound:
            errors.add(rid)
    return [
        replace(f, rule=replace(f.rule, severity=Severity.ERROR), severity=Severity.ERROR)
        if f.rule.id in errors
        else f
        for f in findings
    ]


_LEAK_FIX = "remove the record (golden set items must never be trained on)"


def _lines(batch: Batch) -> list[int]:
    """Each record's line (JSONL) or 1-based row (Parquet) in its file."""
    if batch.lines is not None:
        return list(batch.lines.to_pylist())
    return [r + 1 for r in batch.rows.to_pylist()]


def _violations(table: pa.Table, fmt: RecordFormat, cfg: _Settings) -> list[list[Violation]]:
    """:func:`format_violations` of each row of ``table``.

    Rows become Python dicts of the fields it reads only. Where those are
    string columns (text, prompt/completion and the like), its one rule for
    them, a field that is null or blank is FMT005, is applied column by column
    instead, by Arrow's kernels (:func:`~curagate.records.blank_mask`: no Python string
    per row; ``tests/test_check.py`` pins the two equal).
    """
    fields = _string_fields(fmt, cfg.text_field)
    if fields is not None:
        index = [table.schema.get_field_index(name) for name in fields]  # -1: absent or twice
        if all(i >= 0 and _is_plain_string(table.schema.field(i).type) for i in index):
            from curagate import _kernels as pc

            out: list[list[Violation]] = [[] for _ in range(table.num_rows)]
            for name, i in zip(fields, index, strict=True):
                col = table.column(i)
                empty = pc.fill_null(blank_mask(col), True)  # null: empty too
                for row in pc.indices_nonzero(empty).to_pylist():
                    out[row].append(Violation("FMT005", f"{name!r} is empty"))
            return out
    read = {"messages", cfg.text_field or "text", "prompt", "completion", "chosen", "rejected"}
    keep = [i for i, name in enumerate(table.column_names) if name in read]
    records = table.select(keep).to_pylist() if keep else [{} for _ in range(table.num_rows)]
    return [
        format_violations(fmt, rec, text_field=cfg.text_field, sft=cfg.sft, secrets=cfg.secrets)
        for rec in records
    ]


def _string_fields(fmt: RecordFormat, text_field: str | None) -> tuple[str, ...] | None:
    """The fields :func:`format_violations` only checks for emptiness when they are strings."""
    if fmt is RecordFormat.TEXT:
        return (text_field or "text",)
    if fmt in (RecordFormat.PROMPT_ONLY, RecordFormat.STEPWISE_SUPERVISION):
        return ("prompt",)
    if fmt in (RecordFormat.PROMPT_COMPLETION, RecordFormat.UNPAIRED_PREFERENCE):
        return ("prompt", "completion")
    return None


def _is_plain_string(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype))
