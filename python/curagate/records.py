"""Record formats, their dedup keys, and the batch type every stage consumes.

Formats (auto-detected from the columns, or named with ``--format``):

==================  ==========================================  ===============================
format              columns                                     dedup key
==================  ==========================================  ===============================
text                ``text`` (or ``--text-field``)              the text
prompt_completion   ``prompt``, ``completion``                  prompt + "\\n" + completion
chat                ``messages: [{role, content}, ...]``        "role: content" per turn, "\\n"-joined
preference          ``prompt``, ``chosen``, ``rejected``        the prompt; with
                    (strings or message lists)                  ``preference_key="prompt+responses"``
                                                                prompt + chosen + rejected
==================  ==========================================  ===============================

The key is what exact, near and leakage checks compare (after
normalization); the record itself is written out unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curagate.errors import ConfigError, InputError


class RecordFormat(StrEnum):
    TEXT = "text"
    PROMPT_COMPLETION = "prompt_completion"
    CHAT = "chat"
    PREFERENCE = "preference"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A row that could not be used, and why. Written to ``quarantine.jsonl``."""

    file: str
    line: int | None  # 1-based line number (JSONL); None for Parquet
    row: int | None  # 0-based row index within the file; None when unknown
    reason: str  # says what is wrong and how to fix it, naming the field
    raw: str | None  # the raw line/row as text (lossy for invalid UTF-8)

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

    @property
    def input_rows(self) -> int:
        return int(self.table.num_rows) + len(self.quarantined)


FORMAT_CHOICES = tuple(f.value for f in RecordFormat)
PREFERENCE_KEYS = ("prompt", "prompt+responses")
DEFAULT_TEXT_FIELD = "text"


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


def detect_format(
    columns: Iterable[str], *, text_field: str | None = None, source: str = "input"
) -> RecordFormat:
    """Pick the format from the column names of the first rows of a file.

    The order matters: a chat file may also carry a ``text`` column, a
    preference file always has a ``prompt``.
    """
    names = list(columns)
    present = set(names)
    if "messages" in present:
        return RecordFormat.CHAT
    if {"prompt", "chosen", "rejected"} <= present:
        return RecordFormat.PREFERENCE
    if {"prompt", "completion"} <= present:
        return RecordFormat.PROMPT_COMPLETION
    if (text_field or DEFAULT_TEXT_FIELD) in present:
        return RecordFormat.TEXT
    found = ", ".join(repr(n) for n in names) or "none"
    raise InputError(
        f"{source}: cannot tell the record format from the columns ({found}); expected "
        "'text', 'prompt'+'completion', 'messages' or 'prompt'+'chosen'+'rejected'. "
        "Pass --format {" + ",".join(FORMAT_CHOICES) + "}, and --text-field NAME "
        "when the text is in another column"
    )


def required_fields(fmt: RecordFormat, text_field: str | None = None) -> tuple[str, ...]:
    """The columns a record of ``fmt`` must have (non-null, non-empty)."""
    if fmt is RecordFormat.TEXT:
        return (text_field or DEFAULT_TEXT_FIELD,)
    if fmt is RecordFormat.PROMPT_COMPLETION:
        return ("prompt", "completion")
    if fmt is RecordFormat.CHAT:
        return ("messages",)
    return ("prompt", "chosen", "rejected")


# What each required field may hold: a string, a message list, or either.
_STRING, _MESSAGES, _EITHER = "string", "messages", "either"


def _field_shape(fmt: RecordFormat) -> str:
    if fmt is RecordFormat.CHAT:
        return _MESSAGES
    if fmt is RecordFormat.PREFERENCE:
        return _EITHER
    return _STRING


def _expected(field_name: str, shape: str) -> str:
    if shape == _STRING:
        return f"field '{field_name}' must be a string"
    if shape == _MESSAGES:
        return f"field '{field_name}' must be a list of {{role, content}}"
    return f"field '{field_name}' must be a string or a list of {{role, content}}"


def _missing(field_name: str) -> str:
    return f"missing field '{field_name}' (absent or null)"


def _empty(field_name: str) -> str:
    return f"field '{field_name}' is empty"


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


def check_record(
    record: dict[str, Any], fmt: RecordFormat, text_field: str | None = None
) -> str | None:
    """Type check of one parsed record's required fields (slow path only).

    Used when a chunk could not be read as a whole, to find the rows whose
    types would break the Arrow column; emptiness and nulls are left to
    :func:`validate_table` so both paths give the same reasons.
    """
    shape = _field_shape(fmt)
    for name in required_fields(fmt, text_field):
        value = record.get(name)
        if value is None:
            continue
        kind = python_kind(value)
        if kind == "string" and shape in (_STRING, _EITHER):
            continue
        if kind == "list" and shape in (_MESSAGES, _EITHER):
            for i, message in enumerate(value):
                if not isinstance(message, dict):
                    return (
                        f"field '{name}': message {i} must be an object with 'role' and "
                        f"'content'; got {python_kind(message)}"
                    )
                for part in ("role", "content"):
                    part_value = message.get(part)
                    if part_value is not None and not isinstance(part_value, str):
                        return (
                            f"field '{name}': message {i} '{part}' must be a string; "
                            f"got {python_kind(part_value)}"
                        )
            continue
        return f"{_expected(name, shape)}; got {kind}"
    return None


def arange(n: int, dtype: pa.DataType | None = None, start: int = 0) -> pa.Array:
    """``start, start+1, ...`` as an Arrow array, built without Python ints."""
    dtype = dtype or pa.int64()
    idx = pc.indices_nonzero(pa.repeat(True, n)).cast(dtype)
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
        col = col.cast(col.type.value_type)
    if pa.types.is_string_view(col.type):
        col = col.cast(pa.large_string())
    if _is_list_type(col.type):
        return col.combine_chunks()
    return col


def _check_string(col: pa.Array | pa.ChunkedArray, name: str, reasons: _Reasons) -> None:
    reasons.add_mask(col.is_null(), _missing(name))
    empty = pc.or_(pc.equal(pc.binary_length(col), 0), pc.utf8_is_space(col))
    reasons.add_mask(empty, _empty(name))


def _check_messages(col: pa.Array, name: str, reasons: _Reasons) -> None:
    reasons.add_mask(col.is_null(), _missing(name))
    lengths = pc.list_value_length(col)
    reasons.add_mask(pc.equal(lengths, 0), _empty(name))
    values = col.flatten()
    if len(values) == 0:
        return
    parents = pc.list_parent_indices(col)
    first = col.offsets[0].as_py()

    def add_elements(mask: pa.Array, what: str) -> None:
        bad = pc.indices_nonzero(pc.fill_null(mask, False))
        if len(bad) == 0:
            return
        rows = parents.take(bad)
        starts = pc.subtract(col.offsets.take(rows), first)
        for e, row, start in zip(
            bad.to_pylist(), rows.to_pylist(), starts.to_pylist(), strict=True
        ):
            reasons.by_row.setdefault(row, f"field '{name}': message {e - start} {what}")

    if not pa.types.is_struct(values.type):
        kind = arrow_kind(values.type)
        add_elements(
            pa.repeat(True, len(values)),
            f"must be an object with 'role' and 'content'; got {kind}",
        )
        return
    add_elements(values.is_null(), "must be an object with 'role' and 'content'; got null")
    struct_type = values.type
    for part in ("role", "content"):
        if struct_type.get_field_index(part) < 0:
            add_elements(pa.repeat(True, len(values)), f"has no '{part}'")
            continue
        child = pc.struct_field(values, part)
        if pa.types.is_string_view(child.type):
            child = child.cast(pa.large_string())
        if not _is_string_type(child.type):
            add_elements(
                child.is_valid(), f"'{part}' must be a string; got {arrow_kind(child.type)}"
            )
            add_elements(child.is_null(), f"has no '{part}'")
            continue
        add_elements(child.is_null(), f"has no '{part}'")
        empty = pc.or_(pc.equal(pc.binary_length(child), 0), pc.utf8_is_space(child))
        add_elements(empty, f"has empty '{part}'")


def validate_table(
    table: pa.Table, fmt: RecordFormat, *, text_field: str | None = None
) -> tuple[pa.BooleanArray, dict[int, str]]:
    """Which rows can be used as ``fmt`` records, and why the others cannot.

    Returns the valid-row mask and ``{row index in table: reason}`` for the
    invalid rows (the first problem found, fields in format order). Works on
    whole columns; Python only sees the rows already found bad.
    """
    reasons = _Reasons(table.num_rows)
    shape = _field_shape(fmt)
    for name in required_fields(fmt, text_field):
        col = _column(table, name)
        if col is None or pa.types.is_null(col.type):
            reasons.add_all(_missing(name))
            continue
        dtype = col.type
        if _is_string_type(dtype) and shape in (_STRING, _EITHER):
            _check_string(col, name, reasons)
        elif _is_list_type(dtype) and shape in (_MESSAGES, _EITHER):
            _check_messages(col, name, reasons)
        else:
            reasons.add_mask(col.is_null(), _missing(name))
            reasons.add_mask(col.is_valid(), f"{_expected(name, shape)}; got {arrow_kind(dtype)}")
    return reasons.valid_mask(), reasons.by_row


def _render(col: pa.Array) -> pa.Array:
    """A string column as is; a message list as "role: content" lines."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if _is_string_type(col.type):
        return col.cast(pa.large_string())
    if not isinstance(col, pa.ListArray | pa.LargeListArray):
        col = col.cast(pa.large_list(col.type.value_type))
    values = col.flatten()
    role = pc.struct_field(values, "role").cast(pa.large_string())
    content = pc.struct_field(values, "content").cast(pa.large_string())
    turns = pc.binary_join_element_wise(role, content, pa.scalar(": ", pa.large_string()))
    offsets = pc.subtract(col.offsets, col.offsets[0])
    if isinstance(col, pa.LargeListArray):
        lists = pa.LargeListArray.from_arrays(offsets, turns)
    else:
        lists = pa.ListArray.from_arrays(offsets, turns)
    return pc.binary_join(lists, pa.scalar("\n", pa.large_string()))


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
    if fmt is RecordFormat.PREFERENCE and preference_key == "prompt":
        names: tuple[str, ...] = ("prompt",)
    else:
        names = required_fields(fmt, text_field)
    parts = [_render(table.column(n).combine_chunks()) for n in names]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar("\n", pa.large_string()))
