"""Escaping for the Markdown reports (audit.md, leakage.md, the gate's report.md).

Every data-derived string in a Markdown report goes through one of these two, so a
model name, reason or model output renders as the text it is: it can neither break a
table row (``|``, a newline) nor make a link, an image, emphasis, raw HTML or a code
span, and no control character (a terminal's escape sequence) reaches the file.
Text a model wrote is shown with :func:`md_code`, which nothing inside can break out
of. No jinja2 here: the light commands may import this module.
"""

from __future__ import annotations

import re
from typing import Any

from curagate.text import printable

# CommonMark: a backslash escapes any ASCII punctuation, so "\*" renders as "*", and GFM
# splits table cells on unescaped pipes only. Escaped here, anywhere in the text: what
# opens inline structure - code spans (`), emphasis and GFM strikethrough (* _ ~), links
# and images ([ and ], so "![x](u)" and "[x](u)" stay text), raw HTML and autolinks (<),
# entities (&), GitHub's math ($) - and the cell separator (|). ">", "#", "=" and list
# markers open a block only at the start of a line, so they are escaped there only: "x >
# 0.05" or "1.5" in a message stays readable as plain text.
# An underscore between two letters or digits can neither open nor close emphasis
# (CommonMark's flanking rules), so "judge_win_rate" is left as it is.
_INLINE_ACTIVE = re.compile(r"[\\`*~\[\]<&$|]|(?<![^\W_])_|_(?![^\W_])")
_ORDERED_ITEM = re.compile(r"\d{1,9}(?=[.)](?:\s|$))")
# What opens a heading, a quote, a list item, a thematic break or a setext underline;
# not a signed number ("-0.05").
_BLOCK_MARK = re.compile(r"[#>=]|[-+](?!\d)")
_BACKTICKS = re.compile(r"`+")


def _one_line(value: Any) -> str:
    """``value`` as one line of printable text: line breaks, tabs and control characters
    (ESC and the rest of C0/C1, bidi overrides, zero-width characters) become spaces."""
    return printable(str(value)).strip()


def md_cell(value: Any) -> str:
    """Text for a table cell or a list item: one line, every Markdown construct escaped."""
    text = _INLINE_ACTIVE.sub(lambda m: "\\" + m.group(), _one_line(value))
    item = _ORDERED_ITEM.match(text)
    if item:  # "1. x" would start an ordered list
        return f"{text[: item.end()]}\\{text[item.end() :]}"
    return f"\\{text}" if _BLOCK_MARK.match(text) else text


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
