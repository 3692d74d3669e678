"""Per-record views (input/output text, turns) and the structural format rules.

Light on purpose: ``curagate check`` imports this module, so nothing heavy
may be imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curagate.records import RecordFormat

ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str  # what exactly is wrong in this record (never record content)


def _text(value: Any) -> str:
    """A response as text: a string, or the contents of a message list."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            _text(m.get("content")) if isinstance(m, dict) else _text(m) for m in value
        )
    if isinstance(value, dict):
        return _text(value.get("content"))
    return str(value)


def messages_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = record.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


def input_output(
    fmt: RecordFormat, record: dict[str, Any], text_field: str | None
) -> tuple[str, str | None]:
    """What the model reads and what it is trained to write, as plain text."""
    if fmt == RecordFormat.TEXT:
        return _text(record.get(text_field or "text")), None
    if fmt == RecordFormat.PROMPT_COMPLETION:
        return _text(record.get("prompt")), _text(record.get("completion"))
    if fmt == RecordFormat.PREFERENCE:
        return _text(record.get("prompt")), _text(record.get("chosen"))
    msgs = messages_of(record)
    ins = [_text(m.get("content")) for m in msgs if m.get("role") != "assistant"]
    outs = [_text(m.get("content")) for m in msgs if m.get("role") == "assistant"]
    return "\n".join(ins), "\n".join(outs)


def all_text(fmt: RecordFormat, record: dict[str, Any], text_field: str | None) -> Iterator[str]:
    """Every string a scanner (PII, secrets) must look at."""
    if fmt == RecordFormat.TEXT:
        yield _text(record.get(text_field or "text"))
    elif fmt == RecordFormat.PROMPT_COMPLETION:
        yield _text(record.get("prompt"))
        yield _text(record.get("completion"))
    elif fmt == RecordFormat.PREFERENCE:
        for k in ("prompt", "chosen", "rejected"):
            yield _text(record.get(k))
    else:
        for m in messages_of(record):
            yield _text(m.get("content"))


def _is_empty(value: Any) -> bool:
    return not _text(value).strip()


def _chat_violations(msgs: list[dict[str, Any]], sft: bool) -> Iterator[Violation]:
    prev: str | None = None
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ROLES:
            yield Violation("FMT002", f"messages[{i}].role is {str(role)[:20]!r}")
            prev = None
            continue
        has_tool_calls = bool(m.get("tool_calls"))
        if _is_empty(m.get("content")) and not has_tool_calls:
            yield Violation("FMT005", f"messages[{i}] ({role}) has empty content")
        ok = {
            None: role in ("system", "user") if i == 0 else True,
            "system": role in ("system", "user"),
            "user": role == "assistant",
            "assistant": role in ("user", "tool"),
            "tool": role in ("tool", "assistant"),
        }[prev]
        if not ok:
            after = f"after a {prev} turn" if prev else "as the first turn"
            yield Violation("FMT003", f"messages[{i}] is a {role} turn {after}")
        prev = role
    if sft and msgs and msgs[-1].get("role") != "assistant":
        yield Violation(
            "FMT004",
            f"the last message (messages[{len(msgs) - 1}]) is a {msgs[-1].get('role')!s:.20} turn",
        )


def format_violations(
    fmt: RecordFormat, record: dict[str, Any], *, text_field: str | None = None, sft: bool = True
) -> list[Violation]:
    """The structural format rules (FMT002-FMT007) for one valid record."""
    out: list[Violation] = []
    if fmt == RecordFormat.CHAT:
        out.extend(_chat_violations(messages_of(record), sft))
    elif fmt == RecordFormat.TEXT:
        field = text_field or "text"
        if _is_empty(record.get(field)):
            out.append(Violation("FMT005", f"{field!r} is empty"))
    elif fmt == RecordFormat.PROMPT_COMPLETION:
        for k in ("prompt", "completion"):
            if _is_empty(record.get(k)):
                out.append(Violation("FMT005", f"{k!r} is empty"))
    elif fmt == RecordFormat.PREFERENCE:
        chosen, rejected = record.get("chosen"), record.get("rejected")
        empty = [k for k, v in (("chosen", chosen), ("rejected", rejected)) if _is_empty(v)]
        if empty:
            out.append(Violation("FMT007", f"{' and '.join(repr(k) for k in empty)} empty"))
        elif _text(chosen).strip() == _text(rejected).strip():
            out.append(Violation("FMT006", "'chosen' and 'rejected' are identical"))
        if _is_empty(record.get("prompt")):
            out.append(Violation("FMT005", "'prompt' is empty"))
    return out


def quarantine_rule(reason: str, fmt: RecordFormat) -> str:
    """The rule a reader-quarantined row breaks, from the reader's reason.

    The reader already rejects empty required fields; those keep their own
    rule (empty content, empty preference response) rather than FMT001.
    """
    if "is empty" in reason or "has empty" in reason:
        if fmt == RecordFormat.PREFERENCE and ("'chosen'" in reason or "'rejected'" in reason):
            return "FMT007"
        return "FMT005"
    return "FMT001"
