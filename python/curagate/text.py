"""Text from models, servers and data files, made safe to show to people."""

from __future__ import annotations

import re

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
