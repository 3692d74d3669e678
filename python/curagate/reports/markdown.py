"""Escaping for the Markdown reports (audit.md, leakage.md, the gate's report.md).

Every data-derived string in a Markdown report goes through one of these two, so a
model name, reason or model output can neither break a table row (``|``, a newline)
nor open a code span or raw HTML (a backtick, ``<``). No jinja2 here: the light
commands may import this module.
"""

from __future__ import annotations

import re
from typing import Any

# CommonMark: a backslash escapes any ASCII punctuation, so "\|", "\`" and "\<" render as
# the character itself, and GFM splits table cells on unescaped pipes only. An escaped
# "<" cannot open an HTML tag, so ">" stays as it is; emphasis characters too: they
# change looks, not structure, and escaping them would clutter messages ("x > 0.05")
# and ids ("set_1") for people reading the file as text.
_TEXT_SPECIAL = re.compile(r"([\\|`<])")
_BACKTICKS = re.compile(r"`+")


def _one_line(value: Any) -> str:
    return " ".join(str(value).splitlines()).strip()


def md_cell(value: Any) -> str:
    """Text for a table cell or a list item: one line, Markdown syntax escaped."""
    return _TEXT_SPECIAL.sub(r"\\\1", _one_line(value))


def md_code(value: Any, *, table: bool = True) -> str:
    """An inline code span holding ``value`` verbatim.

    Backslash escapes do not work inside code spans, so the fence is one backtick
    longer than the longest run of backticks in the value (CommonMark). In a table
    cell (``table=True``) pipes are written ``\\|``, which GFM turns back into ``|``
    inside code spans too; outside a table that backslash would show, so it is left out.
    """
    text = _one_line(value)
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


__all__ = ["md_cell", "md_code"]
