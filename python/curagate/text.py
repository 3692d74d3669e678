"""Text from models, servers and data files, made safe to show to people."""

from __future__ import annotations

import re
import unicodedata

# A \ud800-style JSON escape parses to a lone surrogate, which no UTF-8 text can hold:
# read as U+FFFD wherever such text is kept or shown.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every character that is not printable replaced by a space.

    Gone are line breaks and tabs, control characters (a terminal's escape sequences,
    which could recolour, retitle or clear the user's screen or CI log), bidi overrides,
    zero-width characters, lone surrogates and unassigned code points, which also covers
    every character XML 1.0 forbids. What is left is one line for a terminal, an XML
    attribute or a Markdown table cell.
    """
    return "".join(c if c.isprintable() else " " for c in text)


def display_width(text: str) -> int:
    """How many terminal columns ``text`` (already :func:`printable`) takes: a wide or
    full-width character (CJK, most emoji: East Asian Width W or F) two, a combining mark
    none (it sits on the character before it), any other one."""
    return sum(_char_width(c) for c in text)


def _char_width(c: str) -> int:
    if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def printable_lines(text: str) -> str:
    """:func:`printable` of each line of ``text``: its line breaks kept, so a model's
    multi-line answer reads as written, and nothing else a terminal would act on."""
    return "\n".join(printable(line) for line in text.split("\n"))


def one_line(text: str) -> str:
    """``text`` with its control and line-breaking characters escaped (\\n, \\x1b, ...):
    one line that shows what it holds (:func:`printable` puts spaces instead)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def percent(share: float, decimals: int = 2, *, limit: float | None = None) -> str:
    """``share`` (0..1) as a percentage that never reads as another value: a share above 0
    never shows as 0%, one below 1 never as 100% (1 row in 30,001 was "0.00%"), and one
    that differs from ``limit`` never shows as equal to it (more decimals, up to 6)."""
    d = decimals
    while limit is not None and d < 6 and share != limit:
        if round(share * 100, d) != round(limit * 100, d):
            break
        d += 1
    shown = round(share * 100, d)
    step = 10.0**-d
    if share > 0 and shown == 0:
        return f"<{step:.{d}f}%"
    if share < 1 and shown >= 100:
        return f">{100 - step:.{d}f}%"
    return f"{shown:.{d}f}%"


def exact_percent(limit: float) -> str:
    """A configured limit as a percentage, as exact as it was given (0.9051 is 90.51%,
    never rounded to 91%)."""
    return f"{round(limit * 100, 6):g}%"


def require_utf8(text: str, why: str) -> None:
    """An InputError ``"<text, escaped>: <why>"`` when ``text`` holds lone surrogates: a
    name or value from argv or the file system whose bytes are not UTF-8, which no report,
    manifest or database row can hold (writing one was an internal error, exit 3)."""
    import os

    from curagate.errors import InputError

    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text).decode("utf-8", "backslashreplace")
        raise InputError(f"{shown}: {why}") from None
