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

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa


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
        return self.table.num_rows + len(self.quarantined)
