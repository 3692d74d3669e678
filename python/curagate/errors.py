"""One exception hierarchy for user-facing failures.

The CLI turns a :class:`CuragateError` into a one-line message and its
``exit_code``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


class CuragateError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 2
    # The CLI prints an error as one line (control characters escaped), unless it lists
    # several problems, one a line, on purpose (:meth:`of_lines`).
    one_per_line = False

    @classmethod
    def of_lines(cls, lines: list[str]) -> CuragateError:
        """One error of several problems, printed a line each: each problem's own control
        characters escaped (a newline in a gate file's key printed a forged line)."""
        from curagate.text import one_line

        error = cls("\n".join(one_line(line) for line in lines))
        error.one_per_line = True
        return error


class InputError(CuragateError):
    """An input path, file or record set that cannot be used as given."""


class ConfigError(CuragateError):
    """A configuration file or option with a bad key or value.

    The message names the file, the line and the key when they are known.
    """


class CheckFailed(CuragateError):
    """A check ran and found problems (exit code 1, not a usage error)."""

    exit_code = 1


class MissingExtraError(CuragateError):
    """An optional dependency group is needed but not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this feature needs the optional dependency {module!r}; "
            f"install it with: pip install 'curagate[{extra}]'"
        )


def no_records(paths: Sequence[str | os.PathLike[str]], of: int | None = None) -> str:
    """The message of a data command given files that hold no record at all (curate, audit
    and check alike: an emptied training file passed audit and check with "0 errors");
    ``of``: how many files were given, when others hold records (audit and check)."""
    shown = ", ".join(os.fspath(p) for p in paths[:3])  # a URL (staged pipeline) as given
    more = " ..." if len(paths) > 3 else ""
    among = "" if of is None else f" of {of}"
    return (
        f"no records found in {len(paths)}{among} input file(s): {shown}{more}; check the paths "
        "(empty files contain no records)"
    )


def text_field_unused(text_field: str) -> str:
    """The error of a run in which no input has the ``text_field`` column."""
    return (
        f"the text field {text_field!r} (--text-field, text_field in a config) is a column of "
        "no input file, each read in the format its columns give; name the column that holds "
        "the text, or drop the option"
    )
