"""Record formats, their dedup keys, and the batch type every stage consumes.

Formats (auto-detected from the columns, or named with ``--format``); they are
the dataset types trl documents, each standard (strings) or conversational
(message lists):

===================  ==========================================  ===============================
format               columns                                     dedup key
===================  ==========================================  ===============================
text                 ``text`` (or ``--text-field``)              the text
chat                 ``messages: [{role, content}, ...]``        "role: content" per turn, "\\n"-joined
prompt_only          ``prompt``                                  the prompt
prompt_completion    ``prompt``, ``completion``                  prompt + "\\n" + completion
unpaired_preference  ``prompt``, ``completion``, ``label`` (bool) prompt + "\\n" + completion
stepwise_supervision ``prompt``, ``completions`` (steps),       prompt + the steps, "\\n"-joined
                     ``labels`` (one bool per step)
preference           ``chosen``, ``rejected``, optional          the prompt (implicit: the turns
                     ``prompt``                                  chosen and rejected share); with
                                                                 ``preference_key="prompt+responses"``
                                                                 prompt + chosen + rejected
===================  ==========================================  ===============================

A message's ``content`` is a string, a list of parts (``{"type": "text",
"text": ...}``, ``{"type": "image"}``, ...; every part but media enters keys, as
:func:`part_text` renders them; a media part's reference is the row's media identity,
:func:`media_ids`), or
null on an assistant turn that carries ``tool_calls`` (rendered into the key
as ``[tool_use] name(arguments)``).

The key is what exact, near and leakage checks compare (after
normalization); the record itself is written out unchanged
(but for string content in a batch that mixes it with content parts: see
:func:`contents_as_parts`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import math
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from curagate._lazy import lazy_import
from curagate.errors import ConfigError, InputError
from curagate.text import LONE_SURROGATE

# pc: pyarrow.compute's kernels without importing it (curagate._kernels), so the
# readers' hot path spells Array methods that import it as pc functions.
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc
else:
    from curagate import _kernels as pc

    pa = lazy_import("pyarrow")


class RecordFormat(StrEnum):
    TEXT = "text"
    PROMPT_COMPLETION = "prompt_completion"
    CHAT = "chat"
    PREFERENCE = "preference"
    PROMPT_ONLY = "prompt_only"
    UNPAIRED_PREFERENCE = "unpaired_preference"
    STEPWISE_SUPERVISION = "stepwise_supervision"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A row that could not be used, and why. Written to ``quarantine.jsonl``."""

    file: str
    line: int | None  # 1-based line number (JSONL); None for Parquet
    row: int | None  # 0-based row index within the file; None when unknown
    reason: str  # says what is wrong and how to fix it, naming the field
    raw: str | None  # the raw line/row as text (lossy for invalid UTF-8)
    # ``raw`` replaced bytes that are not UTF-8 (U+FFFD): not every string of the row could
    # be read, so a scan of it cannot show it clean (leakage lists it as unreadable).
    lossy: bool = False
    # The file (or this row's part of it) could not be read at all: damaged, cut, of
    # another kind than its name says; not a record read and found invalid. Reported under
    # FMT010, which no config switches off (FMT001, a row's format, may be).
    read_failure: bool = False
    # A read failure whose damaged part began before it was found: the rows from this
    # 1-based line on were handed on already but cannot be trusted (a gzip member that
    # fails its checksum decodes garbage up to it); a caller that reported them drops them.
    untrusted_from: int | None = None

    @property
    def position(self) -> int | None:
        """Where a finding points: the 1-based line (JSONL) or row (Parquet); None for a
        problem of the whole file."""
        if self.line is not None:
            return self.line
        return self.row + 1 if self.row is not None else None

    def to_jsonl(self) -> str:
        """One ``quarantine.jsonl`` line, fields in declaration order."""
        row = {"file": self.file, "line": self.line, "row": self.row}
        row.update(reason=self.reason, raw=self.raw)
        return json.dumps(row, ensure_ascii=False) + "\n"


@dataclass(slots=True)
class Batch:
    """Valid rows of one chunk of one source file, in file order."""

    source: str  # the file, as a POSIX path string
    source_index: int  # position of the file in the expanded input list
    format: RecordFormat
    table: pa.Table  # original columns, valid rows only
    rows: pa.Int64Array  # 0-based row index in the file, per table row
    lines: pa.Int64Array | None  # 1-based line number (JSONL only)
    ids: pa.StringArray  # stable id: the `id` column, else "<source>:<row>"
    keys: pa.LargeStringArray  # dedup key per row, never null
    quarantined: list[Quarantined] = field(default_factory=list)
    # Per row, the identity of the media it holds (:func:`media_ids`; 0: none); None when
    # no row holds media. Rows with other media are never exact or near copies.
    media: pa.UInt64Array | None = None
    # JSONL: the top-level columns of JSON numbers the reader keeps as the strings of their
    # values (a double would change one, docs/formats.md): their strings are numbers, not
    # JSON strings (split --time reads them so).
    number_text: frozenset[str] = frozenset()

    @property
    def input_rows(self) -> int:
        return int(self.table.num_rows) + len(self.quarantined)


FORMAT_CHOICES = tuple(f.value for f in RecordFormat)
# Where the unknown-format message's advice starts (train gives its own config key instead).
FORMAT_ADVICE = "Give the format "
# Where each command takes the record format and the text field.
FORMAT_WHERE = (
    "`--format` / `--text-field` (curate, split, leakage: `--reference-format` / "
    "`--reference-text-field` for a reference), or `format:` / `text_field:` in the config "
    "(curate's and split's --config, audit, and check's --config)"
)
# Where the text field of the records read is set, and the format that reads it, as the
# errors about them name them (a reference set's reader names leakage's own options instead).
TEXT_FIELD_WHERE = "--text-field, text_field in a config"
TEXT_FORMAT_WHERE = "--format text, format: text in a config"
PREFERENCE_KEYS = ("prompt", "prompt+responses")
DEFAULT_TEXT_FIELD = "text"
# Records per batch when reading (config `batch_rows`).
DEFAULT_BATCH_ROWS = 65536


def parse_format(value: str | RecordFormat | None) -> RecordFormat | None:
    """``--format`` value to a :class:`RecordFormat` (``None`` = auto-detect)."""
    if value is None or isinstance(value, RecordFormat):
        return value
    try:
        return RecordFormat(value.replace("-", "_").replace("/", "_"))
    except ValueError:
        raise ConfigError(
            f"unknown format {value!r}; choose one of: {', '.join(FORMAT_CHOICES)}"
        ) from None


# Columns that hold an answer under another name: a file with ``prompt`` and
# one of these is not prompt-only data, and reading it as such would dedup on
# the prompt alone.
_ANSWER_LIKE = ("response", "answer", "output", "target", "reference", "completions")


def detect_format(
    columns: Iterable[str],
    *,
    text_field: str | None = None,
    source: str = "input",
    bool_columns: Iterable[str] = (),
) -> RecordFormat:
    """Pick the format from the column names of the first rows of a file.

    The order matters: a chat file may also carry a ``text`` column, a
    preference file often has a ``prompt``. ``label`` marks unpaired
    preference (KTO) data only when it holds booleans, so a classification
    label beside a prompt/completion pair keeps meaning prompt/completion.
    """
    names = list(columns)
    present = set(names)
    found = ", ".join(repr(n) for n in names) or "none"
    if text_field is not None and text_field in present:
        # Named by the user: the text is there, whatever else the rows hold (a prompt/
        # completion file with the named column was read as prompt/completion). A file
        # without it is read in the format its columns give (a folder mixing kinds).
        return RecordFormat.TEXT
    if "messages" in present:
        return RecordFormat.CHAT
    if {"chosen", "rejected"} <= present:
        return RecordFormat.PREFERENCE
    if {"prompt", "completions", "labels"} <= present:
        return RecordFormat.STEPWISE_SUPERVISION
    if {"prompt", "completion", "label"} <= present and "label" in set(bool_columns):
        return RecordFormat.UNPAIRED_PREFERENCE
    if {"prompt", "completion"} <= present:
        return RecordFormat.PROMPT_COMPLETION
    if text_field is None and DEFAULT_TEXT_FIELD in present:
        return RecordFormat.TEXT
    if "prompt" in present:
        answer = next((n for n in _ANSWER_LIKE if n in present), None)
        if answer is None:
            return RecordFormat.PROMPT_ONLY
        raise InputError(
            f"{source}: records have 'prompt' and '{answer}' (columns: {found}); rename "
            f"'{answer}' to 'completion' for prompt/completion records, or read the prompts "
            "alone with the format prompt_only: `--format prompt_only` (curate, split, leakage; "
            "`--reference-format` for a reference), or `format: prompt_only` in the config "
            "(audit --config, check --config)"
        )
    if text_field is not None:
        raise InputError(
            f"{source}: the text field {text_field!r} ({TEXT_FIELD_WHERE}) "
            f"is not a column here (columns: {found}); name the column that holds the text"
        )
    raise InputError(
        f"{source}: cannot tell the record format from the columns ({found}); expected "
        "'text', 'messages', 'prompt' (+'completion'), or 'chosen'+'rejected'. "
        f"{FORMAT_ADVICE}{{" + ",".join(FORMAT_CHOICES) + "} and, when the text is in "
        f"another column, its name: {FORMAT_WHERE}"
    )


def required_fields(fmt: RecordFormat, text_field: str | None = None) -> tuple[str, ...]:
    """The columns a record of ``fmt`` must have (non-null, non-empty).

    A preference record's ``prompt`` is optional (implicit prompt: the turns
    chosen and rejected share); when the column is there it is checked too.
    """
    if fmt is RecordFormat.TEXT:
        return (text_field or DEFAULT_TEXT_FIELD,)
    if fmt is RecordFormat.PROMPT_COMPLETION:
        return ("prompt", "completion")
    if fmt is RecordFormat.CHAT:
        return ("messages",)
    if fmt is RecordFormat.PROMPT_ONLY:
        return ("prompt",)
    if fmt is RecordFormat.UNPAIRED_PREFERENCE:
        return ("prompt", "completion", "label")
    if fmt is RecordFormat.STEPWISE_SUPERVISION:
        return ("prompt", "completions", "labels")
    return ("chosen", "rejected")


def checked_fields(
    fmt: RecordFormat, columns: Iterable[str], text_field: str | None = None
) -> tuple[str, ...]:
    """The required fields plus the optional ones present in ``columns``."""
    names = required_fields(fmt, text_field)
    if fmt is RecordFormat.PREFERENCE and "prompt" in set(columns):
        return ("prompt", *names)
    return names


# What each field may hold: a string, a message list, either, a boolean, a list of
# strings (the steps of stepwise supervision) or a list of booleans (their labels).
_STRING, _MESSAGES, _EITHER, _BOOL = "string", "messages", "either", "boolean"
_STEPS, _BOOLS = "steps", "booleans"


def _field_shape(fmt: RecordFormat, name: str) -> str:
    if fmt is RecordFormat.CHAT:
        return _MESSAGES
    if fmt is RecordFormat.TEXT:
        return _STRING
    if name == "label":
        return _BOOL
    if fmt is RecordFormat.STEPWISE_SUPERVISION and name == "completions":
        return _STEPS
    if fmt is RecordFormat.STEPWISE_SUPERVISION and name == "labels":
        return _BOOLS
    return _EITHER


def _expected(field_name: str, shape: str) -> str:
    if shape == _STRING:
        return f"field '{field_name}' must be a string"
    if shape == _BOOL:
        return f"field '{field_name}' must be true or false"
    if shape == _STEPS:
        return f"field '{field_name}' must be a list of strings (one per step)"
    if shape == _BOOLS:
        return f"field '{field_name}' must be a list of true/false (one per step)"
    if shape == _MESSAGES:
        return f"field '{field_name}' must be a list of {{role, content}}"
    return f"field '{field_name}' must be a string or a list of {{role, content}}"


def _missing(field_name: str) -> str:
    return f"missing field '{field_name}' (absent or null)"


def _empty(field_name: str) -> str:
    return f"field '{field_name}' is empty"


# A preference pair whose two responses are one (audit's FMT006; :func:`quarantine_rule`
# in curagate.audit.formats tells it by these words).
SAME_RESPONSES = (
    "fields 'chosen' and 'rejected' are identical: the pair ranks a response above itself "
    "and teaches nothing (DPO learns from their difference); regenerate the rejected "
    "response or drop the pair"
)
# The same without a ``prompt`` field: the implicit prompt (what the two share) is all of
# them, and both responses are empty (audit's FMT007).
SAME_RESPONSES_NO_PROMPT = (
    "fields 'chosen' and 'rejected' are identical, so the implicit prompt (what they share) "
    "is all of them and both responses are empty; regenerate the rejected response or drop "
    "the pair"
)
# What Python's str.strip() removes (str.isspace over all of Unicode; a test in
# tests/audit checks this list): FMT006 compares the responses stripped.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


# Blank: every character is one a reader does not see and normalization does not keep:
# whitespace (Python's ``str.isspace``: Unicode White_Space and the separators
# U+001C-U+001F), a format character (Unicode category Cf: the zero-width space U+200B,
# ZWNJ/ZWJ U+200C/U+200D, the word joiner U+2060, the BOM U+FEFF, the soft hyphen U+00AD,
# bidi controls, tags, ...), another default-ignorable code point
# (:data:`IGNORABLE_MARKS`: the Hangul fillers, the variation selectors, the combining
# grapheme joiner), a control character (category Cc: NUL, BEL, DEL, the C1 controls), a
# symbol drawn as an empty cell (the blank braille pattern U+2800, the musical null notehead
# U+1D159: category So, not default-ignorable, but fonts draw nothing) or a noncharacter
# (:data:`NONCHARACTERS`: no text, never to be interchanged; category Cn). (Found by attack:
# a completion of three Hangul fillers, variation selectors or NULs passed FMT005 and was
# kept by ``curate``; one of U+1D159 or of noncharacters, by re-attack.) The
# format table is Cf of Unicode 14 (Python 3.11's ``unicodedata``), spelled out so that
# every Python agrees with the native reader (``py_space`` in
# rust/curagate-core/src/jsonl.rs holds the same definition).
FORMAT_RANGES: tuple[tuple[int, int], ...] = (
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
FORMAT_CHARS = frozenset(chr(c) for lo, hi in FORMAT_RANGES for c in range(lo, hi + 1))
# Every Default_Ignorable_Code_Point of Unicode that is not a format character (those are
# Cf), assigned or not: renderers draw them as nothing and normalization deletes them.
# DerivedCoreProperties.txt, Unicode 15. (The same list is `IGNORABLE_MARKS` of the Rust
# core's `text::joiners`; tests/leakage/test_joiners_split.py holds the two to each other.)
IGNORABLE_MARKS: tuple[tuple[int, int], ...] = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)
# The control characters (category Cc), and the blank braille pattern and the musical null
# notehead (category So, drawn as an empty cell).
_CONTROLS_AND_EMPTY_CELLS = ((0x00, 0x1F), (0x7F, 0x9F), (0x2800, 0x2800), (0x1D159, 0x1D159))
# The 66 noncharacters: U+FDD0..U+FDEF, and the last two code points of every plane.
NONCHARACTERS: tuple[tuple[int, int], ...] = (
    (0xFDD0, 0xFDEF),
    *((p << 16 | 0xFFFE, p << 16 | 0xFFFF) for p in range(17)),
)
_SPACE_CHARS = frozenset(chr(c) for c in range(0x3001) if chr(c).isspace())
BLANK_RANGES: tuple[tuple[int, int], ...] = tuple(
    sorted(
        {(ord(c), ord(c)) for c in _SPACE_CHARS}
        | set(FORMAT_RANGES)
        | set(IGNORABLE_MARKS)
        | set(_CONTROLS_AND_EMPTY_CELLS)
        | set(NONCHARACTERS)
    )
)
BLANK_CHARS = frozenset(chr(c) for lo, hi in BLANK_RANGES for c in range(lo, hi + 1))
# The same as an RE2 (and Rust regex) character class, for Arrow and polars columns.
BLANK_CLASS = "".join(
    f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in BLANK_RANGES
)
# Anchored: a visible character ends the match at once.
_BLANK_PATTERN = f"^[{BLANK_CLASS}]*$"


def is_blank(text: str) -> bool:
    """Empty, or only characters a reader does not see (:data:`BLANK_CHARS`: whitespace,
    format and other default-ignorable characters, controls, U+2800, U+1D159,
    noncharacters): nothing normalization keeps (docs/formats.md)."""
    if not text.strip():
        return True
    return all(c in BLANK_CHARS for c in text)


def blank_mask(col: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Per string, :func:`is_blank` (null for null): Arrow's whitespace test, or the
    anchored pattern of the blank characters (it stops at a string's
    first visible character: 4 ms on 55K T0 texts, where testing them for ASCII
    first, to skip it, read every byte in 19 ms)."""
    mask = pc.or_(pc.equal(pc.binary_length(col), 0), pc.utf8_is_space(col))
    return pc.or_(mask, pc.match_substring_regex(col, _BLANK_PATTERN))


_KIND_BY_TYPE: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
}


def python_kind(value: object) -> str:
    """JSON kind of a parsed value, in the words used by quarantine reasons."""
    return _KIND_BY_TYPE.get(type(value)) or type(value).__name__


def arrow_kind(dtype: pa.DataType) -> str:
    """The JSON kind an Arrow type stands for (same words as :func:`python_kind`)."""
    if pa.types.is_null(dtype):
        return "null"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "number"
    if _is_string_type(dtype):
        return "string"
    if _is_list_type(dtype):
        return "list"
    if pa.types.is_struct(dtype):
        return "object"
    return str(dtype)


def _is_string_type(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _is_list_type(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(dtype)
        or pa.types.is_large_list(dtype)
        or pa.types.is_fixed_size_list(dtype)
        or pa.types.is_list_view(dtype)
        or pa.types.is_large_list_view(dtype)
    )


def message_problem(message: object, *, types_only: bool = False) -> str | None:
    """What is wrong with one chat message, or ``None``.

    Accepts what trl and chat templates accept: ``content`` as a string, a
    list of typed parts (``{"type": "text", "text": ...}``, ``{"type":
    "image"}``, ...), or null/empty on a turn that carries ``tool_calls``.
    ``types_only`` reports wrong types only (the slow reader path leaves
    missing and empty values to :func:`validate_table`, so both paths agree).
    """
    if not isinstance(message, dict):
        return f"must be an object with 'role' and 'content'; got {python_kind(message)}"
    role = message.get("role")
    if role is not None and not isinstance(role, str):
        return f"'role' must be a string; got {python_kind(role)}"
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            return f"'tool_calls' must be a list; got {python_kind(calls)}"
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            name = fn.get("name") if isinstance(fn, dict) else None
            if not isinstance(name, str) or not name.strip():
                return f"tool call {j} has no 'function' with a 'name'"
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if args is not None and not isinstance(args, str | dict):
                return (
                    f"tool call {j} 'arguments' must be a string or an object; "
                    f"got {python_kind(args)}"
                )
    content = message.get("content")
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, dict):
                return (
                    f"'content' part {j} must be an object with a 'type'; got {python_kind(part)}"
                )
            kind = part.get("type")
            if not isinstance(kind, str):
                return f"'content' part {j} has no 'type'"
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    return f"'content' part {j} (text) must have a string 'text'"
            elif kind in TEXT_UNDER and not isinstance(part.get(TEXT_UNDER[kind]), str | None):
                return f"'content' part {j} ({kind}) must have a string '{TEXT_UNDER[kind]}'"
            elif kind in TOOL_USES:
                name = part.get("name")
                if not isinstance(name, str) or not name.strip():
                    return f"'content' part {j} ({kind}) must have a non-empty string 'name'"
    elif content is not None and not isinstance(content, str):
        return f"'content' must be a string or a list of parts; got {python_kind(content)}"
    if types_only:
        return None
    if role is None:
        return "has no 'role'"
    if not role.strip():
        return "has empty 'role'"
    if calls:
        return None
    if content is None:
        return "has no 'content'"
    return "has empty 'content'" if content_is_empty(content) else None


def every_value(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object keeping every value of a repeated key (in a list, in order), for
    ``json.loads(..., object_pairs_hook=every_value)``: a scan of a quarantined row sees
    the values Python's reader would drop (its first "text", a secret in the first copy of
    a key; Arrow quarantines the row for the repeat)."""
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif key in repeated:
            out[key].append(value)
        else:
            out[key] = [out[key], value]
            repeated.add(key)
    return out


MAX_NESTING = 128  # deeper records are quarantined: Arrow kernels crash on thousands of levels


def json_depth(value: Any, limit: int = MAX_NESTING) -> int:
    """Nesting depth of a parsed JSON value (an object of scalars is 1), counted without
    recursion and only up to just past ``limit``."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            stack.extend((child, depth + 1) for child in v.values())
        elif isinstance(v, list):
            stack.extend((child, depth + 1) for child in v)
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            break
    return deepest


# Parquet, which curate and split write, holds at most 100 levels of nesting (pyarrow's
# reader refuses more), and a record's column sits two below its file's root: a field's
# value may take 98. An object is one level, an array two (its group and its repeated
# element): 49 arrays inside each other, or 99 objects, made a kept file no reader,
# curagate's included, could open, after an exit 0.
PARQUET_MAX_LEVELS = 98


def parquet_levels(record: dict[str, Any], limit: int = PARQUET_MAX_LEVELS) -> int:
    """The Parquet levels of ``record``'s deepest field (objects one, arrays two,
    scalars none), counted without recursion and only up to just past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(v, 0) for v in record.values()]
    while stack:
        v, levels = stack.pop()
        if isinstance(v, dict):
            levels += 1
            stack.extend((child, levels) for child in v.values())
        elif isinstance(v, list):
            levels += 2
            stack.extend((child, levels) for child in v)
        deepest = max(deepest, levels)
        if deepest > limit:
            break
    return deepest


class NotStrictJson(ValueError):
    """Text Python's JSON reader takes but RFC 8259 does not allow."""


def _reject_constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotStrictJson(f"{text} overflows a double")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise NotStrictJson(f"an object repeats the key {key!r}")
        out[key] = value
    return out


def loads_strict(text: str | bytes) -> Any:
    """Strict JSON (RFC 8259): Python's reader also takes ``NaN``/``Infinity``, turns
    ``1e999`` into infinity and keeps the last of repeated keys; each of those raises
    :class:`NotStrictJson` (a ValueError) here, saying which. Syntax errors raise
    ``json.JSONDecodeError``, deep nesting may raise RecursionError."""
    return json.loads(
        text,
        parse_constant=_reject_constant,
        parse_float=_finite_float,
        object_pairs_hook=_unique_keys,
    )


def strip_nulls(value: Any) -> Any:
    """Drop null object members: Arrow gives a struct every field seen in the
    chunk, so a key must not depend on which other rows shared the chunk."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


# The roles chat templates know (audit rule FMT002; train refuses any other).
ROLES = frozenset({"system", "user", "assistant", "tool"})


# Content parts (docs/formats.md, "Content parts"). Plain text parts render as their text;
# media parts hold no text (an image's bytes are not a key); every other part renders
# tagged with its type, so it never equals plain text of the same words (a refusal and a
# text answer, a real tool_use and the call written out as text, were one key).
TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
MEDIA_PARTS = frozenset(
    {"image", "image_url", "input_image", "audio", "input_audio", "file", "input_file"}
    | {"video", "video_url"}
)
TEXT_UNDER = {"refusal": "refusal", "thinking": "thinking"}
TOOL_USE = "tool_use"
TOOL_USES = frozenset({TOOL_USE, "server_tool_use", "mcp_tool_use"})
TOOL_RESULT = "tool_result"
# Fields no part's rendering reads: ids that differ between two runs' copies of one
# conversation, a thinking block's signature, prompt-caching marks, citation metadata.
# The parts without a string ``text`` whose text keys read by name (audit counts the other
# ones, media and parts of other types, as parts a text-only template drops).
READ_PARTS = frozenset({*TEXT_UNDER, *TOOL_USES, TOOL_RESULT})
VOLATILE_FIELDS = frozenset(
    {"id", "tool_use_id", "signature", "cache_control", "citations"}
    | {"encrypted_content", "encrypted_index", "page_age"}
)
# A media part's reference fields (an image's URL, a file's id, inline base64 data): what
# tells two images apart (a row's media identity: :func:`media_ids`).
MEDIA_REFS = frozenset(
    {"url", "image_url", "video_url", "audio_url", "file_url", "file_id", "path"}
    | {"data", "file_data", "bytes", "base64"}
    # The processors' spelling (Qwen2-VL, LLaVA, apply_chat_template): the reference under
    # the type's own name, `{"type": "image", "image": "https://..."}` (found by re-attack:
    # rows asking one question of three images were one key).
    | {"image", "video", "audio"}
)
_INLINE_REFS = frozenset({"data", "file_data", "bytes", "base64"})
# A reference longer than this is data (a base64 image under "image"): hashed, never copied.
_LONGEST_REF = 512


def is_media_part(part: object) -> bool:
    """An image, audio, video or file part (an Anthropic ``document`` whose source is not
    text: base64 or a URL): kept in the record; its reference is the row's media identity
    (:func:`media_ids`), keys and text checks read nothing of it."""
    if not isinstance(part, dict):
        return False
    kind = part.get("type")
    if kind == "document":
        source = part.get("source")
        return not (isinstance(source, dict) and source.get("type") in ("text", "content"))
    return kind in MEDIA_PARTS


def part_text(part: object) -> str | None:
    """The text a content part gives keys and text checks, or ``None`` for a media part
    (:func:`is_media_part`; its reference is the row's media identity,
    :func:`media_ids`). A text part (``text``, ``input_text``, ``output_text``): its
    ``text``. Any other part is tagged with its type, ``[type] ...``, so it never equals
    plain text: a ``refusal`` / ``thinking`` part its ``refusal`` / ``thinking``; a
    ``tool_use`` / ``server_tool_use`` / ``mcp_tool_use`` ``name(input)`` (input as
    canonical JSON, :func:`canonical_json`; an MCP call's ``server_name/`` before the
    name); a ``tool_result`` its ``content`` (a string, or parts read the same way;
    ``[tool_result error]`` when ``is_error``); any other part its string ``text``, or
    else the canonical JSON of its fields but ``type`` and :data:`VOLATILE_FIELDS`
    (``server_tool_use`` results, ``search_result``, a text ``document``,
    ``redacted_thinking``...: found by attack, conversations differing only there were
    removed as exact copies)."""
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    text = part.get("text")
    if isinstance(text, str) and (kind in TEXT_PARTS or not isinstance(kind, str)):
        return text
    if not isinstance(kind, str):
        return None
    if is_media_part(part):
        return None
    if kind in TEXT_UNDER:
        value = part.get(TEXT_UNDER[kind])
        return f"[{kind}] " + (value if isinstance(value, str) else "")
    if kind in TOOL_USES:
        name = part.get("name")
        name = name if isinstance(name, str) else ""
        server = part.get("server_name")
        if isinstance(server, str) and server:
            name = f"{server}/{name}"
        return f"[{kind}] " + _call_text(name, part.get("input"))
    if kind == TOOL_RESULT:
        flag = " error" if part.get("is_error") is True else ""
        return f"[{kind}{flag}] " + content_key_text(part.get("content"))
    if isinstance(text, str):
        return f"[{kind}] {text}"
    rest = {k: v for k, v in part.items() if k != "type" and k not in VOLATILE_FIELDS}
    return f"[{kind}] " + canonical_json(_without_volatile(rest))


def _without_volatile(value: Any) -> Any:
    """A part's fields without :data:`VOLATILE_FIELDS` in it and in every part nested in it
    (a dict with a string ``type``: a nested text part's ``cache_control``, a web search
    result's ``encrypted_content`` and ``page_age``: found by attack, one conversation from
    two runs was two keys); other dicts (a part's data: ``{"type": "json", "json": {"id":
    17}}``) keep theirs (found by re-attack: two orders' ids were one key)."""
    if isinstance(value, dict):
        part = isinstance(value.get("type"), str)
        return {
            k: _without_volatile(v) for k, v in value.items() if not (part and k in VOLATILE_FIELDS)
        }
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _media_refs(value: Any, refs: list[str], depth: int, key: str | None = None) -> None:
    """The references a media value holds (:data:`MEDIA_REFS`, at any depth, in sorted
    field order): a URL or file id as written, inline data (base64, a ``data:`` URL, bytes,
    any reference over 512 characters) as ``sha256:`` and the first 16 hex digits of the
    SHA-256 of the bytes it stands for (:func:`_inline_bytes`), text that is not base64 as
    ``sha256:text:`` and those of its text; empty ones (:func:`_no_media`) are none."""
    if depth > MAX_NESTING:
        return
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            if k not in VOLATILE_FIELDS and k != "type":
                _media_refs(value[k], refs, depth + 1, k)
    elif isinstance(value, list):
        for v in value:
            _media_refs(v, refs, depth + 1, key)
    elif (
        key in MEDIA_REFS
        and isinstance(value, str | bytes | bytearray | memoryview)
        and not _no_media(value)
    ):
        if (
            isinstance(value, str)
            and key not in _INLINE_REFS
            and not _is_data_url(value)
            and len(value) <= _LONGEST_REF
        ):
            refs.append(LONE_SURROGATE.sub("\ufffd", value))
        elif (data := _inline_bytes(value)) is not None:
            refs.append("sha256:" + hashlib.sha256(data).hexdigest()[:16])
        elif isinstance(value, str):  # not base64: the text as is, apart from any bytes
            text = value.encode("utf-8", "surrogatepass")
            refs.append("sha256:text:" + hashlib.sha256(text).hexdigest()[:16])


def _inline_bytes(value: str | bytes | bytearray | memoryview) -> bytes | None:
    """The bytes inline media data stands for: base64 decoded (a ``data:`` URL's prefix and
    any line breaks left out), so one image wrapped at 76 columns, unwrapped, or as a
    ``data:`` URL is one key (found by re-attack: the text was hashed, and exact copies from
    two export tools were kept twice); ``None`` where the text is not base64: it is hashed
    as text, apart from any bytes (found by re-attack: ``"A"``, no base64, and ``"QQ=="``,
    the base64 of ``b"A"``, were one image). One image in any valid spelling is one key
    (found by re-attack: each was another): the scheme and ``;base64`` in any case (RFC
    2397), base64 unpadded or URL-safe (:func:`_base64_bytes`), and a data URL's payload
    percent-decoded (``data:,%41`` is ``data:,A``), as a browser reads it."""
    if not isinstance(value, str):
        return bytes(value)
    text = value
    if _is_data_url(text):
        head, comma, text = text.partition(",")
        if not comma:  # no data URL (a typo, `;base64;`): text, hashed as such
            return None
        data = urllib.parse.unquote_to_bytes(text.encode("utf-8", "surrogatepass"))
        if not head.rstrip().lower().endswith(";base64"):
            return data
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:  # a byte past ASCII is no base64: text
            return None
    return _base64_bytes(text)


def _base64_bytes(text: str) -> bytes | None:
    """The bytes base64 text stands for, whitespace left out, in the standard or the
    URL-safe alphabet (not both), with or without its ``=`` padding; ``None`` where it is
    not base64."""
    text = "".join(text.split())
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            return None
        text = text.translate(_URL_SAFE)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


_URL_SAFE = str.maketrans("-_", "+/")


def _is_data_url(value: str) -> bool:
    """Whether a string is a ``data:`` URL, its scheme in any case (``DATA:``)."""
    return value[:5].lower() == "data:"


# A ``data:`` URL that stands for no bytes (``data:,``, ``data:image/png;base64,``): no data
# after its comma. A ``data:`` string with no comma is text (found by re-attack: it was no
# media, and two images written ``data:image/png;base64;...`` were one exact copy).
_EMPTY_DATA_URL = re.compile(r"data:[^,]*,\s*", re.IGNORECASE)


def _no_media(value: object) -> bool:
    """Whether a value is no media: null, ``""``, text of whitespace alone, empty bytes, or a
    ``data:`` URL with no data in it (found by re-attack: ``data:,`` was an image, of the
    SHA-256 of nothing, and so was a line break alone, the base64 of no bytes)."""
    if value is None or value == "":
        return True
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value) == 0
    if not isinstance(value, str):
        return False
    return not value.strip() or _EMPTY_DATA_URL.fullmatch(value) is not None


def part_is_content(part: object) -> bool:
    """Whether a part makes its turn non-empty: a text-bearing part (a string ``text``, a
    ``refusal``, a ``thinking``) when its text is not blank (a ``thinking`` part with a
    signature always: its reasoning is in the signature); any other part always (an
    image, a ``tool_use``, a ``tool_result`` whatever it holds: a tool's answer, even
    empty or a screenshot, is the turn's content)."""
    if not isinstance(part, dict):
        return False
    kind = part.get("type")
    if kind in TEXT_UNDER:
        signature = part.get("signature")
        if kind == "thinking" and isinstance(signature, str) and signature.strip():
            return True
        value = part.get(TEXT_UNDER[kind])
        return isinstance(value, str) and not is_blank(value)
    text = part.get("text")
    if isinstance(text, str):
        return not is_blank(text)
    return True


def content_is_empty(content: object) -> bool:
    """Whether a message's content is empty (``curate``'s "has empty 'content'", audit's
    FMT005): a blank string, no content, or a list with no part that is content
    (:func:`part_is_content`)."""
    if isinstance(content, str):
        return is_blank(content)
    if isinstance(content, list):
        return not any(part_is_content(p) for p in content)
    return True


def content_key_text(content: object) -> str:
    """The text of a message's content as keys and text checks read it: the string, or the
    text of each of its parts that holds some (:func:`part_text`), joined with "\n"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (part_text(p) for p in content)
        return "\n".join(t for t in texts if t is not None)
    return ""


def content_text(content: object) -> str:
    """The text of a message's content: the string, or its text parts joined (a part is
    text when it holds a string ``text``, whatever its type: OpenAI's Responses format
    writes ``input_text`` / ``output_text``, whose text was in no key, so neither dedup nor
    any leakage scan saw a golden item there)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _messages_in(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The messages of a record's message lists (chat ``messages``, a preference's turns):
    objects with a ``role`` (a RAG record's ``documents`` hold ``content`` too, and are not
    turns)."""
    for value in record.values():
        if isinstance(value, list):
            yield from (m for m in value if isinstance(m, dict) and "content" in m and "role" in m)


def contents_as_parts(records: Sequence[dict[str, Any]]) -> list[int]:
    """Where records read together mix string content with lists of parts (OpenAI's chat
    layout allows both; an Arrow column holds one type, so the rows of the kind that came
    second were quarantined), each string content becomes the one text part it stands
    for, ``[{"type": "text", "text": ...}]``: same text, same keys, every row kept. The
    records are changed in place; returns the indices of those changed."""
    if not contents_mix(records):
        return []
    return strings_as_parts(records)


def contents_mix(records: Sequence[dict[str, Any]]) -> bool:
    """Whether the records' turns hold both string content and lists of parts (what
    :func:`contents_as_parts` changes)."""
    kinds = {type(m["content"]) for r in records for m in _messages_in(r)}
    return {str, list} <= kinds


def strings_as_parts(records: Sequence[dict[str, Any]]) -> list[int]:
    """Each string content of the records' turns as ``[{"type": "text", "text": ...}]``,
    in place; returns the indices of the records changed."""
    changed: list[int] = []
    for i, record in enumerate(records):
        for message in _messages_in(record):
            if isinstance(message["content"], str):
                message["content"] = [{"type": "text", "text": message["content"]}]
                if not changed or changed[-1] != i:
                    changed.append(i)
    return changed


def is_non_text_part(part: object) -> bool:
    """Whether an item of a message's content list is a part that is not text (an image,
    audio, a tool_use: no string ``text``): kept in the data, not in a text-only chat
    template's content (:func:`content_text`). Keys and text checks read a tool_use,
    tool_result, thinking or refusal part's text too (:func:`part_text`)."""
    return isinstance(part, dict) and not isinstance(part.get("text"), str)


def non_text_parts(content: object) -> int:
    """How many parts of a content list are not text (images, audio)."""
    if not isinstance(content, list):
        return 0
    return sum(1 for p in content if is_non_text_part(p))


def tool_call_texts(message: dict[str, Any]) -> list[str]:
    """Each tool call as ``[tool_use] name(arguments)``, arguments as canonical JSON when
    they parse: tagged as an Anthropic ``tool_use`` part is, so a real call never equals the
    call written out as text (found by attack: the two were one key)."""
    out = []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            continue
        out.append(f"[{TOOL_USE}] " + _call_text(fn.get("name"), fn.get("arguments")))
    return out


def _call_text(name: object, args: Any) -> str:
    """A call of tool ``name`` as ``name(arguments)``, arguments as canonical JSON when they
    are an object or parse as JSON (a tool call's, a tool_use part's input)."""
    if isinstance(args, str):
        # Arguments nested past the records' own limit stay the string they are
        # (parsing them raised RecursionError: exit 3 in every data command).
        with contextlib.suppress(ValueError, RecursionError):
            parsed = json.loads(args)
            args = parsed if json_depth(parsed) <= MAX_NESTING else args
    if not isinstance(args, str):
        args = _without_empty(args)
    text = LONE_SURROGATE.sub("\ufffd", args) if isinstance(args, str) else canonical_json(args)
    return f"{name}({text})"


def canonical_json(value: Any) -> str:
    """A value as a key renders it: compact JSON with sorted keys (``""`` for null), null
    members dropped and whole floats as integers (:func:`_without_empty`). Values a
    Parquet struct gives that JSON has no spelling for are text (:func:`_json_default`:
    they were a TypeError, exit 3 in curate, check and audit). A lone surrogate (from a
    ``\\ud800`` escape, which no UTF-8 column holds) is read as U+FFFD, as the reader
    does for one in the record itself."""
    value = _without_empty(value)
    if value is None:
        return ""
    text = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_json_default
    )
    return LONE_SURROGATE.sub("\ufffd", text)


def _json_default(value: Any) -> str:
    """A value JSON cannot write, as text (one rendering for tool_use inputs, tool-call
    arguments and other parts): a date, time or timestamp in ISO 8601 (``isoformat``, its
    offset when it has one); a duration as ISO 8601 ``P<days>DT<seconds>.<micro>S``; a
    decimal as its exact digits (``1.50``); bytes as standard base64."""
    import base64
    import datetime as dt

    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return f"P{value.days}DT{value.seconds}.{value.microseconds:06d}S"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _without_empty(value: Any) -> Any:
    """A value for a key, the same whichever rows shared its chunk: null members dropped
    (Arrow gives a struct every field seen in the chunk), an object left without members
    null (a chunk where every row has ``{}`` reads it as null), and a whole number that is
    a float an integer (Arrow makes a field a double in a chunk where another row has
    19.5: two byte-identical tool calls ``{"celsius": 21}`` in two chunks were two keys,
    21.0 and 21, and both kept)."""
    if isinstance(value, dict):
        kept = {k: c for k, v in value.items() if (c := _without_empty(v)) is not None}
        return kept or None
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INTS:
        return int(value)
    return value


_EXACT_INTS = 2**53  # every integer up to this is a float exactly


def message_line(message: dict[str, Any]) -> str:
    """One turn of a key: ``role: text``, tool calls after the text."""
    parts = [content_key_text(message.get("content")), *tool_call_texts(message)]
    return f"{message.get('role')}: " + "\n".join(p for p in parts if p)


def render_value(value: object) -> str:
    """A string as is; a message list as one :func:`message_line` per turn; a list
    of strings (stepwise completions) one per line."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            v if isinstance(v, str) else message_line(v) for v in value if isinstance(v, str | dict)
        )
    return ""


def extract_prompt(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """Implicit prompt: the leading turns (or characters) chosen and rejected share.

    The rule trl's ``extract_prompt`` applies, so the key, the audit and
    training see the prompt the trainer will see.
    """
    if type(chosen) is not type(rejected) or not isinstance(chosen, str | list):
        return chosen[:0] if isinstance(chosen, str | list) else "", chosen, rejected
    n = min(len(chosen), len(rejected))
    idx = n
    for i in range(n):
        # Turns compared without their null members: Arrow gives each turn of a chunk's
        # `chosen` every field any of them has (`name: null` where one turn had a name),
        # while `rejected` is a column of its own, so every pair of the chunk differed at
        # turn 0 and was quarantined ("no implicit prompt") for one row's extra field.
        if chosen[i] != rejected[i] and (
            isinstance(chosen, str) or _without_empty(chosen[i]) != _without_empty(rejected[i])
        ):
            idx = i - 1 if isinstance(chosen, str) and i > 0 and chosen[i - 1] == " " else i
            break
    return chosen[:idx], chosen[idx:], rejected[idx:]


def check_record(
    record: dict[str, Any],
    fmt: RecordFormat,
    text_field: str | None = None,
    *,
    types_only: bool = True,
) -> str | None:
    """Type check of one parsed record's fields (slow path only).

    Used when a chunk could not be read as a whole, to find the rows whose
    types would break the Arrow column; emptiness and nulls are left to
    :func:`validate_table` so both paths give the same reasons. With
    ``types_only=False`` a message's missing or empty role and content are
    reasons too (for a row Arrow could not convert, whose reason would else be
    the conversion's, shaped by other rows).
    """
    for name in checked_fields(fmt, record, text_field):
        shape = _field_shape(fmt, name)
        value = record.get(name)
        if value is None:
            continue
        kind = python_kind(value)
        if kind == "string" and shape in (_STRING, _EITHER):
            continue
        if kind == "boolean" and shape == _BOOL:
            continue
        if kind == "list" and shape in (_STEPS, _BOOLS):
            want = str if shape == _STEPS else bool
            bad = next((v for v in value if not isinstance(v, want)), None)
            if bad is not None or (None in value):
                return f"{_expected(name, shape)}; got a {python_kind(bad)} in it"
            continue
        if kind == "list" and shape in (_MESSAGES, _EITHER):
            for i, message in enumerate(value):
                problem = message_problem(message, types_only=types_only)
                if problem is not None:
                    return f"field '{name}': message {i} {problem}"
            continue
        return f"{_expected(name, shape)}; got {kind}"
    return None


def arange(n: int, dtype: pa.DataType | None = None, start: int = 0) -> pa.Array:
    """``start, start+1, ...`` as an Arrow array, built without Python ints."""
    dtype = dtype or pa.int64()
    idx = pc.cast(pc.indices_nonzero(pa.repeat(True, n)), dtype)
    return pc.add(idx, pa.scalar(start, dtype)) if start else idx


class _Reasons:
    """First reason per bad row; rows only reach Python once found bad."""

    def __init__(self, num_rows: int) -> None:
        self.num_rows = num_rows
        self.by_row: dict[int, str] = {}

    def add_mask(self, mask: pa.Array | pa.ChunkedArray, reason: str) -> None:
        for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            self.by_row.setdefault(i, reason)

    def add_all(self, reason: str) -> None:
        for i in range(self.num_rows):
            self.by_row.setdefault(i, reason)

    def valid_mask(self) -> pa.BooleanArray:
        if not self.by_row:
            return pa.repeat(True, self.num_rows)
        bad = pa.array(sorted(self.by_row), pa.uint64())
        return pc.invert(pc.is_in(arange(self.num_rows, pa.uint64()), bad))


def _column(table: pa.Table, name: str) -> pa.Array | pa.ChunkedArray | None:
    """A column to validate; list columns are combined (list kernels need one array)."""
    if name not in table.column_names:
        return None
    col = table.column(name)
    if pa.types.is_dictionary(col.type):  # e.g. a pandas category column in Parquet
        col = pc.cast(col, col.type.value_type)
    if pa.types.is_string_view(col.type):
        col = pc.cast(col, pa.large_string())
    if _is_list_type(col.type):
        return col.combine_chunks()
    return col


def _check_string(col: pa.Array | pa.ChunkedArray, name: str, reasons: _Reasons) -> None:
    reasons.add_mask(pc.is_null(col), _missing(name))
    reasons.add_mask(blank_mask(col), _empty(name))


def _simple_messages(values_type: pa.DataType) -> bool:
    """Messages whose role and content are plain strings and that carry no
    tool calls: checked and rendered with Arrow kernels. Anything else (parts,
    tool calls, wrong types) takes the per-message Python path."""
    if not pa.types.is_struct(values_type) or values_type.get_field_index("tool_calls") >= 0:
        return False
    for part in ("role", "content"):
        i = values_type.get_field_index(part)
        if i < 0 or not _is_string_type(values_type.field(i).type):
            return False
    return True


def _check_messages(col: pa.Array, name: str, reasons: _Reasons) -> None:
    reasons.add_mask(pc.is_null(col), _missing(name))
    lengths = pc.list_value_length(col)
    reasons.add_mask(pc.equal(lengths, 0), _empty(name))
    values = pc.list_flatten(col)
    if len(values) == 0:
        return
    if not _simple_messages(values.type):
        for row, messages in enumerate(col.to_pylist()):
            for e, message in enumerate(messages or ()):
                problem = message_problem(message)
                if problem is not None:
                    reasons.by_row.setdefault(row, f"field '{name}': message {e} {problem}")
                    break
        return
    parents = pc.list_parent_indices(col)
    first = col.offsets[0].as_py()

    def add_elements(mask: pa.Array, what: str) -> None:
        bad = pc.indices_nonzero(pc.fill_null(mask, False))
        if len(bad) == 0:
            return
        rows = pc.take(parents, bad)
        starts = pc.subtract(pc.take(col.offsets, rows), first)
        for e, row, start in zip(
            bad.to_pylist(), rows.to_pylist(), starts.to_pylist(), strict=True
        ):
            reasons.by_row.setdefault(row, f"field '{name}': message {e - start} {what}")

    add_elements(pc.is_null(values), "must be an object with 'role' and 'content'; got null")
    for part in ("role", "content"):
        child = pc.struct_field(values, part)
        if pa.types.is_string_view(child.type):
            child = pc.cast(child, pa.large_string())
        add_elements(pc.is_null(child), f"has no '{part}'")
        add_elements(blank_mask(child), f"has empty '{part}'")


def validate_table(
    table: pa.Table,
    fmt: RecordFormat,
    *,
    text_field: str | None = None,
    blank_prompts: Iterable[int] | None = None,
) -> tuple[pa.BooleanArray, dict[int, str]]:
    """Which rows can be used as ``fmt`` records, and why the others cannot.

    Returns the valid-row mask and ``{row index in table: reason}`` for the
    invalid rows (the first problem found, fields in format order). Works on
    whole columns; Python only sees the rows already found bad.
    ``blank_prompts``: the rows of preference pairs without a ``prompt``
    column whose implicit prompt is blank, when the native reader found them
    (else they are found here, row by row).
    """
    reasons = _Reasons(table.num_rows)
    for name in checked_fields(fmt, table.column_names, text_field):
        shape = _field_shape(fmt, name)
        col = _column(table, name)
        if col is None or pa.types.is_null(col.type):
            reasons.add_all(_missing(name))
            continue
        dtype = col.type
        if _is_string_type(dtype) and shape in (_STRING, _EITHER):
            _check_string(col, name, reasons)
        elif _is_list_type(dtype) and shape in (_MESSAGES, _EITHER):
            _check_messages(col, name, reasons)
        elif pa.types.is_boolean(dtype) and shape == _BOOL:
            reasons.add_mask(pc.is_null(col), _missing(name))
        elif _is_list_type(dtype) and shape in (_STEPS, _BOOLS):
            _check_steps(col, name, shape, reasons)
        else:
            reasons.add_mask(pc.is_null(col), _missing(name))
            reasons.add_mask(pc.is_valid(col), f"{_expected(name, shape)}; got {arrow_kind(dtype)}")
    if fmt is RecordFormat.PREFERENCE and "prompt" not in table.column_names:
        _check_implicit_prompts(table, reasons, blank_prompts)
    if fmt is RecordFormat.PREFERENCE:
        _check_distinct_responses(table, reasons)
    if fmt is RecordFormat.STEPWISE_SUPERVISION:
        _check_step_labels(table, reasons)
    return reasons.valid_mask(), reasons.by_row


def _check_distinct_responses(table: pa.Table, reasons: _Reasons) -> None:
    """A pair's ``chosen`` and ``rejected`` must differ: rendered as a key renders them
    (:func:`render_column`) and stripped of whitespace, the same text is quarantined, as an
    empty response is (found by attack: such a pair was kept, and as the first of its prompt
    the valid pair for that prompt was removed as its exact copy). Rows already found bad
    keep their first reason. Columns of two kinds (a string and turns) are compared row by
    row, the string as one assistant turn (:func:`same_responses`)."""
    chosen, rejected = _column(table, "chosen"), _column(table, "rejected")
    if chosen is None or rejected is None:
        return
    kinds = {arrow_kind(c.type) for c in (chosen, rejected)}
    if kinds == {"string", "list"}:
        pairs = zip(chosen.to_pylist(), rejected.to_pylist(), strict=True)
        for row, (c, r) in enumerate(pairs):
            if row not in reasons.by_row and same_responses(c, r):
                reasons.by_row[row] = SAME_RESPONSES
        return
    if len(kinds) != 1 or not kinds <= {"string", "list"}:
        return
    texts = [
        pc.utf8_trim(
            _render(c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c), PY_WHITESPACE
        )
        for c in (chosen, rejected)
    ]
    same = pc.indices_nonzero(pc.fill_null(pc.equal(*texts), False))
    implicit = "prompt" not in table.column_names
    for row in same.to_pylist():
        if row not in reasons.by_row:
            reason = SAME_RESPONSES
            if implicit and _responses_blank(chosen[row].as_py(), rejected[row].as_py()):
                reason = SAME_RESPONSES_NO_PROMPT
            reasons.by_row[row] = reason


def _responses_blank(chosen: Any, rejected: Any) -> bool:
    """Whether both responses after the implicit prompt are blank (the pair is one text
    twice: FMT007); turns that differ only in spaces (``"A"`` and ``"A "``) are two
    responses, the same stripped (FMT006; they were told "both responses are empty")."""
    _, c, r = extract_prompt(chosen, rejected)
    return is_blank(render_value(c)) and is_blank(render_value(r))


def same_responses(chosen: Any, rejected: Any) -> bool:
    """Whether a preference pair's two responses are one (``curate``'s quarantine and
    audit's FMT006 both ask this): rendered as a key renders them (roles included, so the
    same words said by the assistant and by the user differ) and stripped of whitespace.
    A string response beside turns is the one assistant turn holding it
    (:func:`string_turns`), as ``train dpo`` reads it (found by attack: ``"Paris."`` and
    ``[{"role": "assistant", "content": "Paris."}]`` passed curate, check and audit, and
    train refused them as the same answer)."""
    if isinstance(chosen, str) and isinstance(rejected, list):
        chosen = string_turns(chosen, "assistant")
    elif isinstance(chosen, list) and isinstance(rejected, str):
        rejected = string_turns(rejected, "assistant")
    both = (str, list)
    if not any(isinstance(chosen, t) and isinstance(rejected, t) for t in both):
        return False
    return render_value(chosen).strip() == render_value(rejected).strip()


def string_turns(value: str, role: str) -> list[dict[str, Any]]:
    """A string where turns are expected as the one turn of ``role`` holding it (a
    preference's string prompt a user turn, a string response an assistant turn): how
    ``train`` and :func:`same_responses` read it."""
    return [{"role": role, "content": value}]


def _check_steps(col: pa.Array, name: str, shape: str, reasons: _Reasons) -> None:
    """Stepwise supervision: a non-empty list of strings (steps) or booleans (labels)."""
    want = str if shape == _STEPS else bool
    for row, value in enumerate(col.to_pylist()):
        if value is None:
            reasons.by_row.setdefault(row, _missing(name))
        elif not value:
            reasons.by_row.setdefault(row, _empty(name))
        elif any(not isinstance(v, want) for v in value):
            bad = next(v for v in value if not isinstance(v, want))
            reasons.by_row.setdefault(
                row, f"{_expected(name, shape)}; got a {python_kind(bad)} in it"
            )
        elif shape == _STEPS and any(is_blank(v) for v in value):
            step = next(i for i, v in enumerate(value) if is_blank(v))
            reasons.by_row.setdefault(row, f"field '{name}': step {step} is empty")


def _check_step_labels(table: pa.Table, reasons: _Reasons) -> None:
    """One label per step: a shorter or longer list leaves steps unlabelled."""
    steps = table.column("completions").to_pylist()
    labels = table.column("labels").to_pylist()
    for row, (s, lab) in enumerate(zip(steps, labels, strict=True)):
        if row not in reasons.by_row and len(s) != len(lab):
            reasons.by_row[row] = (
                f"field 'labels' has {len(lab)} label(s) for {len(s)} step(s) in 'completions'; "
                "give one true/false per step"
            )


_NO_IMPLICIT_PROMPT = (
    "the implicit prompt is empty: 'chosen' and 'rejected' share no leading "
    "turn or text; add a 'prompt' field"
)


def _check_implicit_prompts(
    table: pa.Table, reasons: _Reasons, blank: Iterable[int] | None = None
) -> None:
    """An implicit prompt must exist: without a shared leading turn the pair has no
    prompt to train on and its key would be empty (every such row a duplicate).
    ``blank``: those rows, already found (natively)."""
    if blank is None:
        chosen = table.column("chosen").to_pylist()
        rejected = table.column("rejected").to_pylist()
        blank = [
            i
            for i, (c, r) in enumerate(zip(chosen, rejected, strict=True))
            if i not in reasons.by_row and is_blank(render_value(extract_prompt(c, r)[0]))
        ]
    for i in blank:
        reasons.by_row.setdefault(i, _NO_IMPLICIT_PROMPT)


def render_column(col: pa.Array) -> pa.Array:
    """A key column as the key renders it: a string column as is; a message list as
    "role: content" lines."""
    return _render(col)


def _render(col: pa.Array) -> pa.Array:
    """A string column as is; a message list as "role: content" lines."""
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if _is_string_type(col.type):
        return pc.cast(col, pa.large_string())
    if not _simple_messages(col.type.value_type):
        return pa.array([render_value(v) for v in col.to_pylist()], pa.large_string())
    if not isinstance(col, pa.ListArray | pa.LargeListArray):
        col = pc.cast(col, pa.large_list(col.type.value_type))
    values = pc.list_flatten(col)
    role = pc.cast(pc.struct_field(values, "role"), pa.large_string())
    content = pc.cast(pc.struct_field(values, "content"), pa.large_string())
    turns = pc.binary_join_element_wise(role, content, pa.scalar(": ", pa.large_string()))
    offsets = pc.subtract(col.offsets, col.offsets[0])
    if isinstance(col, pa.LargeListArray):
        lists = pa.LargeListArray.from_arrays(offsets, turns)
    else:
        lists = pa.ListArray.from_arrays(offsets, turns)
    return pc.binary_join(lists, pa.scalar("\n", pa.large_string()))


def _implicit_prompts(table: pa.Table) -> pa.Array:
    """The shared leading turns of chosen and rejected, rendered, per row."""
    chosen = table.column("chosen").to_pylist()
    rejected = table.column("rejected").to_pylist()
    return pa.array(
        [render_value(extract_prompt(c, r)[0]) for c, r in zip(chosen, rejected, strict=True)],
        pa.large_string(),
    )


def key_columns(
    fmt: RecordFormat, columns: Iterable[str], text_field: str | None, preference_key: str
) -> tuple[str, ...] | None:
    """The columns a key joins (rendered, "\\n" between them); ``None`` for the
    implicit prompt of preference records without a ``prompt`` column."""
    columns = list(columns)
    if fmt is RecordFormat.PREFERENCE and preference_key == "prompt":
        return ("prompt",) if "prompt" in columns else None
    if fmt is RecordFormat.UNPAIRED_PREFERENCE:
        return ("prompt", "completion")  # the label is not text
    if fmt is RecordFormat.STEPWISE_SUPERVISION:
        return ("prompt", "completions")
    return checked_fields(fmt, columns, text_field)


def build_keys(
    table: pa.Table,
    fmt: RecordFormat,
    *,
    text_field: str | None = None,
    preference_key: str = "prompt",
) -> pa.LargeStringArray:
    """Dedup key per row of a validated table (see the module docstring)."""
    if preference_key not in PREFERENCE_KEYS:
        raise ConfigError(
            f"preference_key must be one of {', '.join(PREFERENCE_KEYS)}; got {preference_key!r}"
        )
    if table.num_rows == 0:
        return pa.array([], pa.large_string())
    names = key_columns(fmt, table.column_names, text_field, preference_key)
    if names is None:
        return _implicit_prompts(table)
    parts = [_render(table.column(n).combine_chunks()) for n in names]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar("\n", pa.large_string()))


# Columns that hold a record's media beside its text: trl's vision datasets (``images``,
# with ``{"type": "image"}`` placeholders in the messages), the Hub's ``image`` features
# (``{"bytes", "path"}``), a path or URL per row.
MEDIA_COLUMNS = ("image", "images", "video", "videos", "audio", "audios")


def media_ids(
    table: pa.Table,
    fmt: RecordFormat,
    *,
    text_field: str | None = None,
    preference_key: str = "prompt",
) -> pa.UInt64Array | None:
    """Per row, a 64-bit identity of the media it holds (0: none), or ``None`` when no row
    holds any: the references of the media parts in its key columns (:func:`_media_item`)
    and the values of its :data:`MEDIA_COLUMNS` (:func:`_column_media`).
    Dedup takes rows with other media for other records, whatever their text (found by
    attack: rows of trl's vision format asking one question of 20 images were 19 exact
    copies; rows with the same short answer about different images were near copies)."""
    if table.num_rows == 0:
        return None
    names = key_columns(fmt, table.column_names, text_field, preference_key)
    if names is None:
        names = ("chosen", "rejected")
    parts = [
        table.column(n).to_pylist()
        for n in names
        if n in table.column_names and _may_hold_media(table.schema.field(n).type)
    ]
    columns = [table.column(n).to_pylist() for n in MEDIA_COLUMNS if n in table.column_names]
    if not parts and not columns:
        return None
    ids = []
    for i in range(table.num_rows):
        digest = hashlib.blake2b(digest_size=8, person=b"curagate-media")
        found = False
        for values in parts:
            found |= _part_media(values[i], digest, 0)
        for values in columns:
            found |= _column_media(values[i], digest)
        ids.append((int.from_bytes(digest.digest(), "little") or 1) if found else 0)
    if not any(ids):
        return None
    return pa.array(ids, pa.uint64())


def _may_hold_media(kind: pa.DataType) -> bool:
    """Whether values of this type may hold a media part's reference: a struct field named
    as one (:data:`MEDIA_REFS`) somewhere in it, or a part's struct with fields other than a
    text part's (:func:`_unnamed_reference`). Chat columns of string contents or of text
    parts alone hold none, and are not read row by row (found by attack: text-only parts
    were walked in Python, ~20% more CPU for curate and check)."""
    if pa.types.is_struct(kind):
        names = {f.name for f in kind}
        part = "type" in names and "role" not in names  # (a message has a role)
        if names & MEDIA_REFS or (part and names - _TEXT_PART_FIELDS):
            return True  # a reference, or a part with fields a reference may hide under
        return any(_may_hold_media(f.type) for f in kind)
    if _is_list_type(kind) or pa.types.is_map(kind):
        return _may_hold_media(kind.value_type if _is_list_type(kind) else kind.item_type)
    return False


# The fields of a text part: a struct of parts with no other field holds no media.
_TEXT_PART_FIELDS = frozenset({"type", "text"}) | VOLATILE_FIELDS


def _feed(digest: Any, piece: str) -> None:
    """One piece of a media identity, its length first: pieces never run together
    (``["a\x00b"]`` and ``["a", "b"]`` were one identity)."""
    data = piece.encode("utf-8", "surrogatepass")
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def _part_media(value: Any, digest: Any, depth: int) -> bool:
    """Feed the references of the media parts in a key value (messages, their content
    parts, a tool result's parts), in order, as keys read them; whether there was one."""
    if depth > MAX_NESTING:
        return False
    found = False
    if isinstance(value, list):
        for v in value:
            found |= _part_media(v, digest, depth + 1)
    elif isinstance(value, dict):
        if is_media_part(value):
            found = _media_item(value, digest) or _unnamed_reference(value, digest)
        elif "content" in value:
            found = _part_media(value["content"], digest, depth + 1)
    return found


def _column_media(value: Any, digest: Any) -> bool:
    """Feed a media column's value (a list: one media item per entry); whether it holds
    media. Each item by :func:`_media_item`; one with no reference in it (an integer id, a
    COCO record ``{"id", "file_name"}``, decoded audio ``{"array", "sampling_rate"}``,
    ``{"src": ...}``) whole, as canonical JSON (found by attack: only strings under the
    reference names were read, and rows of five images numbered 0-4 were four copies).
    Null, ``""`` and empty lists are no media, nor are such entries of a list."""
    found = False
    for item in value if isinstance(value, list) else [value]:
        if not _has_value(item):
            continue
        if not _media_item(item, digest):
            _feed(digest, json.dumps(item, sort_keys=True, default=_json_piece, ensure_ascii=False))
        found = True
    return found


def _media_item(value: Any, digest: Any) -> bool:
    """Feed one media item (a part, a column's entry); whether it held a reference. The
    SHA-256 of its bytes where it holds inline data (its path or URL then left aside), else
    its references (:func:`_media_refs`), with no type or column tag: one image written as
    a trl ``images`` entry, an OpenAI ``image_url`` part or a processor's ``image`` part,
    or as the Hub's ``{"bytes", "path"}`` under any path, is one identity (found by
    attack: the tags and the path made a golden VQA item copied word for word, image and
    all, no leak and no copy)."""
    refs: list[str] = []
    _media_refs(value, refs, 0, "image")
    pieces = [r for r in refs if r.startswith("sha256:")] or refs
    for piece in pieces:
        _feed(digest, piece)
    return bool(pieces)


def _unnamed_reference(part: dict[str, Any], digest: Any) -> bool:
    """Feed a media part holding no reference under a known name but other values
    (``{"type": "image", "uri": ...}``, ``"src"``, ``"image_file"``) as canonical JSON of
    them (its type and :data:`VOLATILE_FIELDS` aside); whether it had any. Found by
    attack: such parts gave no identity, and rows of five images were four exact copies.
    A placeholder (``{"type": "image"}``, null fields Arrow gave it) has none."""
    rest = {k: v for k, v in part.items() if k != "type" and k not in VOLATILE_FIELDS}
    if not _has_value(rest):
        return False
    _feed(digest, json.dumps(rest, sort_keys=True, default=_json_piece, ensure_ascii=False))
    return True


def _has_value(value: Any) -> bool:
    if _no_media(value):
        return False
    if isinstance(value, dict):
        return any(_has_value(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_value(v) for v in value)
    return True


def _json_piece(value: Any) -> str:
    """A value JSON does not write, in a media identity: bytes by their SHA-256, others as
    their text (a date, a decimal)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    return str(value)


def label_text(value: Any) -> str:
    """A label as audit's distribution and split's strata count it: a string as it is, any other value as JSON
    with its numbers canonical (:func:`canonical_numbers`), a Parquet timestamp or date as
    its text (they were a TypeError, exit 3). A string that reads as another JSON value
    (``"true"``, ``"1"``, ``"null"``) is that string as JSON, quotes included: the boolean
    ``true`` or the number ``1`` of another file is another class (found by attack: they
    were counted as one, and LBL001 saw "only one class"). So is a string that starts with
    a quote (``"1"`` written with its quotes is ``"\\"1\\""``), or it would be shown as the
    string ``1`` is."""
    if isinstance(value, str):
        return _string_label(value)
    return json.dumps(canonical_numbers(value), sort_keys=True, default=str)


@functools.lru_cache(maxsize=4096)  # labels repeat: a few classes over many rows
def _string_label(value: str) -> str:
    # A string that starts with a quote is quoted too, so the shown form stays one-to-one:
    # the string `"1"` (its quotes part of it) was shown as written, the very form of the
    # string 1 quoted, and the two were counted as one class (found by attack).
    if value[:1] == '"':
        return json.dumps(value, ensure_ascii=False)
    if value[:1] in _JSON_STARTS:
        try:
            json.loads(value)  # Python's reader: NaN and Infinity too, as json.dumps writes
        except ValueError:
            return value
        return json.dumps(value, ensure_ascii=False)
    return value


# The first characters of a JSON value other than a string (and of NaN, Infinity).
_JSON_STARTS = frozenset("-0123456789[{tfnNI")


def canonical_numbers(value: Any) -> Any:
    """``value`` with each number named by its value, not by the type Arrow gave its column:
    a whole float (or decimal) as the integer it equals. Arrow types a column per file and
    per batch, so the label 0 of one file and 0.0 of another were two classes (LBL001 saw
    four classes at 25% where two were at 50%), and a file of labels 1 and 2 with one 1.0
    counted a class "2.0" the data never held. A boolean stays itself: true is not 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float | Decimal):
        if math.isfinite(value) and value == int(value):
            return int(value)
        if isinstance(value, Decimal):  # as the float written the same way, if one is
            text = str(value.normalize())
            return float(value) if repr(float(value)) == text else text
        return value
    if isinstance(value, dict):
        return {k: canonical_numbers(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_numbers(v) for v in value]
    return value
