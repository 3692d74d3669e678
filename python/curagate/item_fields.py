"""The texts a model reads of a golden or reference item (a JSON object), shared by the
gate's contamination check (:mod:`curagate.gate.runner`) and the leakage reader of a
reference set (:mod:`curagate.leakage`). Light on purpose: `curagate check` reads
reference sets on every commit and must not load the golden-set module (pydantic, YAML).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# The fields a model reads of an item (a JSON object), the key first: the gate's
# contamination check and the leakage reader of a reference set read an item's file by the
# first of them its rows hold (:func:`item_text_field`) and look for every one a row holds
# as a text of that item (:func:`item_texts`). `text` is last: beside another of them it is
# a slice or a note, and read in their place (HellaSwag's `ctx` or PIQA's `goal` beside a
# `text`, say) every item copied verbatim passed (found by re-attack).
ITEM_TEXT_FIELDS = (
    "prompt", "question", "input", "instruction", "query", "problem", "ctx", "context", "goal",
    "text",
)  # fmt: skip


def _has_text(row: dict[str, Any], key: str) -> bool:
    value = row.get(key)
    return isinstance(value, str) and bool(value.strip())


def item_texts(row: Any) -> dict[str, str]:
    """Every text a model reads of one item (a JSON object), by field: each field of
    :data:`ITEM_TEXT_FIELDS` the row holds as a non-blank string, and its ``messages``
    (a list) rendered as the readers render a conversation ("role: content" lines). An
    item is looked for by each (a SQuAD item's ``context`` and ``question``, a HellaSwag
    item's ``ctx`` beside a ``text``), decided row by row: a file's first row, a note or an
    item of another shape, chose one field for all and the others passed (found by
    re-attack). Ids, labels, answers and other metadata are no part of it."""
    if not isinstance(row, dict):
        return {}
    from curagate.records import render_value

    texts = {k: row[k] for k in ITEM_TEXT_FIELDS if _has_text(row, k)}
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        rendered = render_value(messages)
        if rendered.strip():
            texts["messages"] = rendered
    return texts


def item_text_field(rows: Iterable[Any]) -> str | None:
    """The field a file's items (``rows``, JSON values) are read by: the first of
    :data:`ITEM_TEXT_FIELDS` any of them holds as a non-blank string (the prompt of gate
    sets, an lm-eval suite's question), ``text`` only when none holds another; None when
    none holds any (items as conversations, ``messages``, read by their turns). Every row
    is read: picked by the first, a note row (``{"text": ...}``, or a null prompt) read a
    whole set by its ``text`` column (found by re-attack). What else a row holds is looked
    for too (:func:`item_texts`)."""
    found: set[str] = set()
    for row in rows:
        if isinstance(row, dict):
            found.update(k for k in ITEM_TEXT_FIELDS if _has_text(row, k))
            if found and ITEM_TEXT_FIELDS[0] in found:
                break
    return next((k for k in ITEM_TEXT_FIELDS if k in found), None)


def is_blank(line: bytes) -> bool:
    """A blank JSONL line, as the corpus readers count them (``rust/curagate-core/src/
    jsonl.rs``): lines end at ``\\n`` and a blank one holds only ASCII whitespace. So a
    golden set's size, the gate's items and the rows a leakage scan reports are the same."""
    return not line.strip()


__all__ = ["ITEM_TEXT_FIELDS", "is_blank", "item_text_field", "item_texts"]
