"""Other spellings of a reference item's text, looked for as views of the item.

The core reads a text one way; a copy in training data may spell the item's numbers,
operators or numbering another way (``2x+3=11`` for ``2x + 3 = 11``, ``x^2`` for ``x²``,
``What is ...?`` for ``Q1. What is ...?``). Changing the core's reading to meet both
lost copies found before (a text's new reading differed from its old one on one side
of a pair: reverted twice), so the item is also looked for by these spellings, each an
item of its own that shares the row's owner (one item for counts and the boilerplate
limit): they only add readings, the item's own reading is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The parts (ReferenceItem.part) of the views.
OPERATORS_JOINED = "operators joined"
OPERATORS_SPACED = "operators spaced"
TAG_SPLIT = "tag split"
UNTAGGED = "untagged"
RENUMBERED = "renumbered"
SUPERSCRIPTS = "superscripts"
REWRITTEN = "rewritten"  # the tag dropped and the other views' spellings together
PARTS = (
    OPERATORS_JOINED,
    OPERATORS_SPACED,
    TAG_SPLIT,
    UNTAGGED,
    RENUMBERED,
    SUPERSCRIPTS,
    REWRITTEN,
)

# An operand: a number (a variable of up to two letters written onto it, a power of
# superscripts), a one-letter variable, or a closing bracket before the operator and
# an opening one after it. A longer word is no operand: `well-known`, `and/or`,
# `COVID-19` are left as they are.
_NUMBER = r"\d+(?:[.,]\d+)?[A-Za-z]{0,2}[⁰¹²³⁴⁵⁶⁷⁸⁹]*"
_LEFT = rf"(?:(?<![\w.,]){_NUMBER}|(?<![\w]){'[A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹]*'}|[)\]}}])"
_RIGHT = rf"(?:{_NUMBER}(?![\w])|[A-Za-z](?![\w])|[(\[{{])"
_OPS = r"[-+*/=^<>]"
_JOIN = re.compile(rf"({_LEFT})(?: +({_OPS}) *| *({_OPS}) +)(?={_RIGHT})")
_SPACE = re.compile(rf"({_LEFT})({_OPS})(?={_RIGHT})")

# A numbering or variant tag opening the text: `1) `, `1. `, `Q1. `, `Question 1: `,
# `(a) `, `a.`, `ii) ` (a letter or roman numeral glued to a capital: `a.Which`).
_NUMBERED = re.compile(
    r"^\s*(?:Q(?:uestion)?\s*(\d{1,4})\s*[.:)]|\(?(\d{1,4})[.)](?=\s|[A-Z])|Question\s+(\d{1,4})\s*[.:)-])"
    r"\s*(?=\S)"
)
_LETTERED = re.compile(r"^\s*(\(?([a-hA-H]|[ivx]{1,4})[.)])(\s*)(?=[A-Z])")
_STYLES = ("Q{}. ", "{}. ", "{}) ", "Question {}: ")

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_DIGIT_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUPERSCRIPTS = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_BRACED_POWER = re.compile(r"\^\{(-?\d+)\}")
_CARET_POWER = re.compile(r"(?<=[\w)])\^(\d{1,3})(?!\d)")
_FRACTIONS = {
    "½": "1/2",
    "⅓": "1/3",
    "⅔": "2/3",
    "¼": "1/4",
    "¾": "3/4",
    "⅕": "1/5",
    "⅖": "2/5",
    "⅗": "3/5",
    "⅘": "4/5",
    "⅙": "1/6",
    "⅚": "5/6",
    "⅛": "1/8",
    "⅜": "3/8",
    "⅝": "5/8",
    "⅞": "7/8",
}
_FRACTION = re.compile("(\\d?)([" + "".join(_FRACTIONS) + "])")
_SLASHED = re.compile(r"(?<![\w/.])(\d)/(\d)(?![\w/.])")
_BY_SLASHED = {v: k for k, v in _FRACTIONS.items()}
_TRIGGERS = re.compile(r"[-+*/=^<>⁰¹²³⁴⁵⁶⁷⁸⁹" + "".join(_FRACTIONS) + r"]|^\s*\(?\w{1,8}[.:)]")


def _joined(text: str) -> str:
    return _JOIN.sub(lambda m: m[1] + (m[2] or m[3]), text)


def _spaced(text: str) -> str:
    return _SPACE.sub(lambda m: f"{m[1]} {m[2]} ", text)


def _plain_powers(text: str) -> str:
    """``x²`` -> ``x^2``, ``2¹⁰`` -> ``2^10``, ``2^{10}`` -> ``2^10``, ``¾`` -> ``3/4``
    (``2¾`` -> ``2 3/4``)."""
    text = _SUPERSCRIPTS.sub(lambda m: "^" + m[0].translate(_SUPERSCRIPT), text)
    text = _BRACED_POWER.sub(r"^\1", text)
    return _FRACTION.sub(lambda m: (m[1] + " " if m[1] else "") + _FRACTIONS[m[2]], text)


def _written_powers(text: str) -> str:
    """The other way: ``x^2`` -> ``x²``, ``3/4`` -> ``¾`` (a copy written with them)."""
    text = _CARET_POWER.sub(lambda m: m[1].translate(_DIGIT_SUPERSCRIPT), text)
    return _SLASHED.sub(lambda m: _BY_SLASHED.get(f"{m[1]}/{m[2]}", m[0]), text)


def untagged(text: str) -> str:
    """The text without a numbering or variant tag opening it (itself when none)."""
    m = _NUMBERED.match(text) or _LETTERED.match(text)
    return text[m.end() :].lstrip() if m else text


def text_views(text: str, *, drop_tag: bool = True) -> list[tuple[str, str]]:
    """``(part, text)`` of each other spelling of ``text`` (none equal to it nor to each
    other); ``drop_tag=False`` keeps its tag (another item of the set has the same text
    under another tag: dropped, the variants would be one text)."""
    if not text or "<<" in text:
        return []
    if not (_TRIGGERS.search(text) or _NUMBERED.match(text) or _LETTERED.match(text)):
        return []
    views: list[tuple[str, str]] = []
    numbered = _NUMBERED.match(text)
    lettered = None if numbered else _LETTERED.match(text)
    bare = untagged(text)
    if lettered and not lettered[3]:  # `a.Which` -> `a. Which`
        views.append((TAG_SPLIT, f"{lettered[1]} {bare}"))
    if bare != text and drop_tag:
        views.append((UNTAGGED, bare))
    if numbered:
        n = next(g for g in numbered.groups() if g)
        views += [(RENUMBERED, style.format(n) + bare) for style in _STYLES]
    body = bare if drop_tag else text
    plain = _plain_powers(body)
    views += [
        (SUPERSCRIPTS, _plain_powers(text)),
        (SUPERSCRIPTS, _written_powers(text)),
        (OPERATORS_JOINED, _joined(text)),
        (OPERATORS_SPACED, _spaced(text)),
        (REWRITTEN, _joined(plain)),
        (REWRITTEN, _spaced(plain)),
    ]
    return _distinct(views, text)


def _distinct(views: Iterable[tuple[str, str]], text: str) -> list[tuple[str, str]]:
    seen = {text}
    kept = []
    for part, view in views:
        if view.strip() and view not in seen:
            seen.add(view)
            kept.append((part, view))
    return kept
