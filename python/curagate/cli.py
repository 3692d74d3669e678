"""The `curagate` command line: a thin layer over the library.

Each subcommand lives in ``curagate.commands.<module>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Only the module of the
command being run (or asked for ``--help``) is imported, so `curagate check`
never pays for (or needs) the training stack, and `curagate --help` imports
no command at all.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from curagate.errors import CuragateError

# name -> (module under curagate.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "curate": ("curate", "validate, normalize and deduplicate JSONL/Parquet shards"),
    "leakage": ("leakage", "find reference (golden/test) items inside a training corpus"),
    "split": ("split", "make leakage-free train/val/test splits"),
    "audit": ("audit", "audit a dataset: format, lengths, labels, token limits, PII"),
    "check": ("check", "fast schema/duplicate/leakage check for pre-commit and CI"),
    "train": ("train", "train a LoRA/QLoRA adapter with SFT or DPO"),
    "model": ("model", "manage local base models (import-gguf)"),
    "golden": ("golden", "manage versioned golden sets (lock, verify)"),
    "gate": ("gate", "decide whether a candidate model may ship"),
    "export": ("export", "merge and export a ship-ready model bundle"),
    "verify": ("verify", "re-check an exported bundle against its manifest and signature"),
    "keys": ("keys", "generate the key pair that signs bundles and gate attestations"),
    "registry": ("registry", "register, promote, roll back; trust keys; check the log"),
    "serve": ("serve", "the release service: compare, approve and roll back in a browser"),
}


def _available_commands() -> dict[str, tuple[str, str]]:
    """Commands whose module exists in this build (others are not listed)."""
    import importlib.util

    return {
        name: spec
        for name, spec in COMMANDS.items()
        if importlib.util.find_spec(f"curagate.commands.{spec[0]}") is not None
    }


class _VersionAction(argparse.Action):
    """``--version``, looking the version up only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from curagate import __version__

        sys.stdout.write(f"curagate {__version__}\n")  # where argparse's own action prints it
        parser.exit()


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option.

    The top-level parser has only flags (--help, --version), so the first
    positional word is the command, wherever options of the command follow.
    """
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


class _Parser(argparse.ArgumentParser):
    """argparse, its errors one line with control characters escaped (a `--seed` value
    holding ESC sent it to the terminal in "invalid int value")."""

    def error(self, message: str) -> NoReturn:
        from curagate.text import one_line

        super().error(one_line(message))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command`` only that subcommand's module is imported.

    Every subcommand is listed (name and help) either way; ``None`` imports
    them all (each gets its full arguments), which the tests of the help use.
    """
    parser = _Parser(
        prog="curagate",
        description="Curate fine-tuning data fast, and gate which fine-tuned model may ship.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  curagate curate data/*.jsonl --out curated/\n"
            "  curagate curate shards/ --out curated/ --config curate.yaml --threads 8\n"
            "\nexit codes: 0 ok, 1 check failed, 2 usage or input error, 3 internal error (a bug)"
        ),
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available_commands().items():
        if command is not None and name != command:
            sub.add_parser(name, help=help_text)  # listed in --help, never parsed
            continue
        mod = importlib.import_module(f"curagate.commands.{module}")
        p = sub.add_parser(
            name,
            help=help_text,
            description=(mod.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        mod.add_arguments(p)
        _add_quiet(p, default=False)
        p.set_defaults(_run=mod.run)
    return parser


def _add_quiet(p: argparse.ArgumentParser, default: Any) -> None:
    """``--quiet`` on a command and on each of its actions, so that it may come before or
    after the action's name (`registry list --quiet` was a usage error); an action's own
    leaves the command's value alone when not given."""
    p.add_argument(
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars (they are off when not a TTY)",
    )
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_quiet(sub, default=argparse.SUPPRESS)


# The data commands: they memory-map their JSONL inputs (io/readers.py) and never
# convert between pyarrow and pandas.
_DATA_COMMANDS = frozenset({"audit", "check", "curate", "leakage", "split"})
# Commands that never hand numpy arrays to pyarrow, nor take them from it.
_NUMPY_FREE = frozenset({"check"})
# Commands whose config says whether they do: they settle pyarrow themselves.
_NUMPY_PER_CONFIG = frozenset({"curate"})


def main(argv: Sequence[str] | None = None) -> int:
    # Started with stdout or stderr closed (`>&-`): what would go there is dropped, as
    # with `>/dev/null`, instead of every print failing (exit 3); the exit code stays.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: PTH123, SIM115  (the process's stdout)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: PTH123, SIM115
    if sys.stdin is None:  # `<&-`: nothing to read (golden label read None: exit 3)
        sys.stdin = open(os.devnull)  # noqa: PTH123, SIM115
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C, also while the command's modules load
        print("curagate: interrupted; no partial output was published", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`curagate check ... | head -1`): what is left to
        # print goes nowhere, and the exit code is a pipe's, 141 (128 + SIGPIPE), as a
        # tool killed by it gives; it was an internal error (exit 3), and `--version |
        # true` a traceback.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    finally:
        _stop_early_read()
        if argv is None:
            # The process ends next: its final collection need not walk every object
            # (curate 100K: ~40K of them, 15-60 ms).
            gc.freeze()


def _stop_early_read() -> None:
    """Stop curate's early read of its inputs if one started (only curate imports it)."""
    curate = sys.modules.get("curagate.curate")
    if curate is not None:
        curate.close_early_read()


def _next(words: Sequence[str], i: int) -> str:
    """The word after ``words[i]`` ("x" when there is none: argparse says what is missing)."""
    return words[i + 1] if i + 1 < len(words) else "x"


def _main(argv: Sequence[str] | None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_in(words) or "")
    for i, word in enumerate(words):
        if word.startswith("--") and word.partition("=")[2] == "--":
            # Python 3.11's argparse takes `--seed=--` as an empty list, without the
            # option's type (a TypeError later: exit 3).
            parser.error(f"{word}: `--` is not a value; give the option a value")
        option, eq, value = word.partition("=")
        if option in ("--out", "--db") and not (value if eq else _next(words, i)).strip():
            # "" is the current folder to the path functions (a Path option's value
            # is "."): `keys generate --out ""` wrote a private key there.
            parser.error(f"{option}: an empty path; give the folder or file to write")
    args = parser.parse_args(words)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    from curagate import progress

    progress.set_quiet(bool(getattr(args, "quiet", False)))
    if argv is None and args.command in ("gate", "export"):
        # SIGTERM (a CI job cancelled, docker stop) ends the gate or an export as Ctrl-C
        # does: their `with`/`finally` blocks run, so private model copies are removed.
        signal.signal(signal.SIGTERM, _exit_143)
    if argv is None and args.command in _DATA_COMMANDS:
        _exit_on_bus_error(args.command)
        _raise_open_file_limit()
        # pydantic looks for plugins in the entry points of every installed distribution
        # the first time a model validates: importlib.metadata and the scan, ~20-30 ms of
        # the main thread in a virtualenv of ~200 packages. These commands use no pydantic
        # plugin; a user's own setting wins.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if argv is None and args.command in _DATA_COMMANDS and not getattr(args, "gx", False):
        # The process is the CLI (console script or ``python -m curagate``), not a host
        # program calling main(argv): settle pyarrow's pandas probe as "absent", ~0.25 s
        # of CPU per run that these commands never use (audit --gx does: GX is pandas).
        _settle_pyarrow(args)
    try:
        _check_utf8(words)
        _check_output_paths(args)
        return int(args._run(args))
    except CuragateError as e:
        # Control characters escaped: a path or name from a file or a database (a registry's
        # stored bundle path) sent ESC sequences to the terminal, and a newline in a path
        # printed a line of its own (`line2.jsonl: the pattern matches no file`).
        from curagate.text import one_line

        # One line, unless the error lists several on purpose (a gate file's errors).
        text = str(e)
        lines = text.split("\n") if e.one_per_line else [text]
        shown = "\n".join(one_line(line) for line in lines)
        print(f"curagate {args.command}: error: {shown}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        raise  # main() ends the process quietly
    except OSError as e:
        if e.errno in (errno.EMFILE, errno.ENFILE):
            import resource

            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            print(
                f"curagate {args.command}: error: {os.strerror(e.errno)} (this process may "
                f"open {soft}): the inputs are too many files for the limit; raise it "
                "(`ulimit -n`, as far as the hard limit lets) or join small files into fewer",
                file=sys.stderr,
            )
            return 2
        if e.errno in (errno.ENOSPC, errno.EDQUOT) and e.filename is None:
            # A write with no path to name (Arrow's writers, a flush of stdout).
            print(
                f"curagate {args.command}: error: {os.strerror(e.errno)}: a disk curagate "
                "writes to (its outputs, temporary files, or where stdout goes) is full; "
                "free space and run again",
                file=sys.stderr,
            )
            return 2
        if e.errno not in _PATH_ERRORS or e.filename is None:
            return _unexpected(args.command, e)
        # A path the user gave that cannot be used (a file where a folder must be, no
        # permission, a full or read-only disk): theirs to fix, not a bug.
        print(
            f"curagate {args.command}: error: cannot use {e.filename}: {e.strerror}; check "
            "the path, its folders and their permissions",
            file=sys.stderr,
        )
        return 2
    except Exception as e:  # KeyboardInterrupt is not one: main() reports it
        return _unexpected(args.command, e)
    except BaseException as e:
        # A panic in the Rust core: pyo3's PanicException derives from BaseException, so
        # it passed the line above (a traceback and Python's exit 1, read as a verdict).
        if type(e).__name__ != "PanicException":
            raise
        return _unexpected(args.command, e)


_PATH_ERRORS = frozenset(
    {
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EEXIST,
        errno.EACCES,
        errno.EPERM,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.ENAMETOOLONG,
        errno.ELOOP,
    }
)


def _check_utf8(words: Sequence[str]) -> None:
    """Bytes that are not UTF-8 in argv (Python holds them as lone surrogates) are a usage
    error: every name and value given lands in a report, manifest or database row, which
    hold text only (an output path so named was an internal error, exit 3)."""
    from curagate.text import require_utf8

    for word in words:
        require_utf8(
            word,
            "not UTF-8 text, and curagate writes the names and values it is given into its "
            "reports and outputs; rename the file, or give the value in UTF-8",
        )


def _check_output_paths(args: argparse.Namespace) -> None:
    """``--out`` and ``--db`` under a file can never be written: say so before any work
    (a merge, a gate run, a whole corpus read), not when the first write fails."""
    for name in ("out", "db"):
        value = getattr(args, name, None)
        if isinstance(value, str | os.PathLike) and os.fspath(value) not in ("", "-"):
            from pathlib import Path

            from curagate.io.atomic import check_parent

            check_parent(Path(value))


def _exit_143(signum: int, frame: object) -> None:
    print("curagate: terminated (SIGTERM)", file=sys.stderr)
    sys.exit(143)


def _exit_on_bus_error(command: str) -> None:
    """A plain JSONL input is memory-mapped: truncated or rewritten while it is read
    (a shard rotated by another process), the next read of its pages is a SIGBUS,
    which would kill the process with no word (exit 135). The CLI turns it into an
    input error; nothing after the fault runs, so nothing is published."""
    from curagate._core import exit_on_bus_error

    exit_on_bus_error(
        f"curagate {command}: error: an input file was truncated or rewritten while it was "
        "being read, or its storage failed (bus error on its memory map); nothing was "
        "published. Rerun once the inputs no longer change.\n",
        2,
    )


def _settle_pyarrow(args: argparse.Namespace) -> None:
    """Settle, before pyarrow loads, what a CLI data command never uses of it: pandas
    and pyarrow.compute's docstrings always, numpy for ``check`` and the audit's
    one-pass run, for ``curate`` once its config is known (its semantic step and
    staged executors use numpy)."""
    from curagate import _lazy

    # mimalloc (Arrow's default pool) backs its segments with transparent huge pages:
    # where a huge-page fault zeroes 2 MiB slowly (VMs such as this project's CI),
    # that costs more than it saves (curate 100K: ~5% less CPU without, median of 5
    # alternating runs). Read once, when pyarrow loads; a user's own setting wins.
    os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
    _lazy.pyarrow_compute_without_docs()
    if args.command in _NUMPY_PER_CONFIG:
        _lazy.settle_pyarrow_when_known()
        return
    one_pass_audit = args.command == "audit" and getattr(args, "executor", None) is None
    if args.command in _NUMPY_FREE or one_pass_audit:
        _lazy.pyarrow_without_numpy()
    _lazy.pyarrow_without_pandas()


def _raise_open_file_limit() -> None:
    """The soft limit on open files up to the hard one, as the data commands' process: a
    folder of thousands of inputs maps a few files per input in a staged run (the soft
    limit is often 1,024 while the hard one is far above)."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _unexpected(command: str, error: BaseException) -> int:
    """An exception no curagate code raised on purpose: a bug.

    Exit 3, the traceback in a file, never exit 1 ("check failed"), which CI
    would read as a verdict. (The Rust core's parameter, input and spill errors
    are CuragateErrors, handled in :func:`main`.)
    """
    import tempfile
    import traceback

    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="curagate-crash-", suffix=".log", delete=False, encoding="utf-8"
        ) as log:
            traceback.print_exception(error, file=log)
        where = f"with the traceback in {log.name}"
    except OSError as e:
        # No file to keep it in (out of file descriptors, no writable temp folder): the
        # traceback goes to stderr, still exit 3 (an exception here exited 1, a verdict).
        traceback.print_exception(error, file=sys.stderr)
        where = f"with the traceback above (no crash log could be written: {e})"
    print(
        f"curagate {command}: internal error ({type(error).__name__}: {error}); this is a bug, "
        f"please report it {where}",
        file=sys.stderr,
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
