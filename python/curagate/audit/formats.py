"""Per-record views (input/output text, turns) and the structural format rules.

Light on purpose: ``curagate check`` imports this module, so nothing heavy
may be imported here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curagate.records import (
    READ_PARTS,
    ROLES,
    SAME_RESPONSES,
    SAME_RESPONSES_NO_PROMPT,
    Quarantined,
    RecordFormat,
    content_is_empty,
    content_key_text,
    content_text,
    extract_prompt,
    is_blank,
    is_non_text_part,
    same_responses,
    tool_call_texts,
)


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str  # what exactly is wrong in this record (never record content)


def _message_text(m: dict[str, Any]) -> str:
    """A turn's text parts (:func:`curagate.records.part_text`: a tool_use, tool_result,
    thinking or refusal part's text too) and tool calls (``name(arguments)``): what a
    scanner reads, as the key does."""
    return "\n".join(p for p in [content_key_text(m.get("content")), *tool_call_texts(m)] if p)


def _text(value: Any) -> str:
    """A field as text: a string, or the turns of a message list."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_message_text(m) if isinstance(m, dict) else _text(m) for m in value)
    if isinstance(value, dict):
        return _message_text(value)
    return str(value)


def _content_empty(m: dict[str, Any]) -> bool:
    """No content (:func:`curagate.records.content_is_empty`, as ``curate`` asks it; a
    tool-call turn is judged by its caller)."""
    return content_is_empty(m.get("content"))


def messages_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = record.get("messages")
    return [m for m in msgs if isinstance(m, dict)] if isinstance(msgs, list) else []


def preference_parts(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    """prompt, chosen, rejected; an implicit prompt is extracted the way trl does."""
    chosen, rejected = record.get("chosen"), record.get("rejected")
    if record.get("prompt") is not None:
        return record["prompt"], chosen, rejected
    return extract_prompt(chosen, rejected)


def input_output(
    fmt: RecordFormat, record: dict[str, Any], text_field: str | None
) -> tuple[str, str | None]:
    """What the model reads and what it is trained to write, as plain text."""
    if fmt == RecordFormat.TEXT:
        return _text(record.get(text_field or "text")), None
    if fmt == RecordFormat.PROMPT_ONLY:
        return _text(record.get("prompt")), None
    if fmt in (RecordFormat.PROMPT_COMPLETION, RecordFormat.UNPAIRED_PREFERENCE):
        return _text(record.get("prompt")), _text(record.get("completion"))
    if fmt == RecordFormat.PREFERENCE:
        prompt, chosen, _ = preference_parts(record)
        return _text(prompt), _text(chosen)
    if fmt == RecordFormat.STEPWISE_SUPERVISION:
        return _text(record.get("prompt")), _steps_text(record)
    msgs = messages_of(record)
    ins = [_message_text(m) for m in msgs if m.get("role") != "assistant"]
    outs = [_message_text(m) for m in msgs if m.get("role") == "assistant"]
    return "\n".join(ins), "\n".join(outs)


def non_text_part_kinds(record: dict[str, Any]) -> Counter[str]:
    """Image/audio/... content parts per type: kept in the data, read by no text check."""
    kinds: Counter[str] = Counter()
    for key in ("messages", "prompt", "completion", "chosen", "rejected"):
        value = record.get(key)
        for m in value if isinstance(value, list) else ():
            content = m.get("content") if isinstance(m, dict) else None
            for part in content if isinstance(content, list) else ():
                if is_non_text_part(part) and part.get("type") not in READ_PARTS:
                    kinds[str(part.get("type"))] += 1
    return kinds


def _steps_text(record: dict[str, Any]) -> str:
    steps = record.get("completions")
    return "\n".join(s for s in steps if isinstance(s, str)) if isinstance(steps, list) else ""


def _is_empty(value: Any) -> bool:
    if isinstance(value, list):
        return all(
            _content_empty(m) and not m.get("tool_calls") for m in value if isinstance(m, dict)
        )
    return is_blank(_text(value))


def _as_turns(value: Any, role: str) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [m for m in value if isinstance(m, dict)]
    return [{"role": role, "content": value if isinstance(value, str) else ""}]


def _render_message(m: dict[str, Any]) -> dict[str, Any]:
    """A turn as a text-only chat template takes it: text parts joined, tool calls kept."""
    out: dict[str, Any] = {"role": m.get("role"), "content": content_text(m.get("content"))}
    for k in ("tool_calls", "tool_call_id", "name"):
        if m.get(k) is not None:
            out[k] = m[k]
    return out


def conversations(fmt: RecordFormat, record: dict[str, Any], text_field: str | None) -> list[Any]:
    """What a trainer renders for one record: a list of conversations, or texts."""
    if fmt == RecordFormat.TEXT:
        return [str(record.get(text_field or "text") or "")]
    if fmt == RecordFormat.CHAT:
        return [[_render_message(m) for m in messages_of(record)]]
    if fmt == RecordFormat.PROMPT_ONLY:
        return [[_render_message(m) for m in _as_turns(record.get("prompt"), "user")]]
    if fmt in (RecordFormat.PROMPT_COMPLETION, RecordFormat.UNPAIRED_PREFERENCE):
        turns = _as_turns(record.get("prompt"), "user") + _as_turns(
            record.get("completion"), "assistant"
        )
        return [[_render_message(m) for m in turns]]
    if fmt == RecordFormat.STEPWISE_SUPERVISION:
        # trl's PRM trainer joins the steps with a separator; one answer turn measures it.
        answer = {"role": "assistant", "content": _steps_text(record)}
        turns = [*_as_turns(record.get("prompt"), "user"), answer]
        return [[_render_message(m) for m in turns]]
    prompt, chosen, rejected = preference_parts(record)
    base = _as_turns(prompt, "user") if prompt else []
    return [
        [_render_message(m) for m in base + _as_turns(v, "assistant")] for v in (chosen, rejected)
    ]


def shown_role(role: Any, secrets: tuple[float, int] = (4.5, 24)) -> str:
    """A role as a finding quotes it: scanned whole for PII and secrets (``secrets``: the
    config's entropy threshold and minimum length) and redacted, then cut to 20 characters
    (an AWS key is 20): a key written as a role was copied into audit.json, audit.md and
    report.html while the sample redacted it."""
    from curagate.audit.pii import shown

    return shown(str(role), *secrets)[:20]


def _chat_violations(
    msgs: list[dict[str, Any]], sft: bool, secrets: tuple[float, int] = (4.5, 24)
) -> Iterator[Violation]:
    prev: str | None = None
    for i, m in enumerate(msgs):
        role = m.get("role")
        if role not in ROLES:
            yield Violation("FMT002", f"messages[{i}].role is {shown_role(role, secrets)!r}")
            prev = None
            continue
        has_tool_calls = bool(m.get("tool_calls"))
        if _content_empty(m) and not has_tool_calls:
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
            f"the last message (messages[{len(msgs) - 1}]) is a "
            f"{shown_role(msgs[-1].get('role'), secrets)} turn",
        )


def format_violations(
    fmt: RecordFormat,
    record: dict[str, Any],
    *,
    text_field: str | None = None,
    sft: bool = True,
    secrets: tuple[float, int] = (4.5, 24),
) -> list[Violation]:
    """The structural format rules (FMT002-FMT007) for one valid record (``secrets``: the
    thresholds a quoted role is redacted with)."""
    out: list[Violation] = []
    if fmt == RecordFormat.CHAT:
        out.extend(_chat_violations(messages_of(record), sft, secrets))
    elif fmt == RecordFormat.TEXT:
        field = text_field or "text"
        if _is_empty(record.get(field)):
            out.append(Violation("FMT005", f"{field!r} is empty"))
    elif fmt == RecordFormat.STEPWISE_SUPERVISION:
        if _is_empty(record.get("prompt")):
            out.append(Violation("FMT005", "'prompt' is empty"))
    elif fmt == RecordFormat.PROMPT_ONLY:
        prompt = record.get("prompt")
        if isinstance(prompt, list):
            out.extend(_chat_violations([m for m in prompt if isinstance(m, dict)], False, secrets))
        elif _is_empty(prompt):
            out.append(Violation("FMT005", "'prompt' is empty"))
    elif fmt in (RecordFormat.PROMPT_COMPLETION, RecordFormat.UNPAIRED_PREFERENCE):
        prompt, completion = record.get("prompt"), record.get("completion")
        if isinstance(prompt, list) and isinstance(completion, list):
            # Conversational: the prompt's turns then the completion's, as one chat.
            turns = [m for m in prompt + completion if isinstance(m, dict)]
            out.extend(_chat_violations(turns, True, secrets))
        else:
            for k in ("prompt", "completion"):
                if _is_empty(record.get(k)):
                    out.append(Violation("FMT005", f"{k!r} is empty"))
    elif fmt == RecordFormat.PREFERENCE:
        prompt, chosen, rejected = preference_parts(record)
        empty = [k for k, v in (("chosen", chosen), ("rejected", rejected)) if _is_empty(v)]
        if empty:
            out.append(Violation("FMT007", f"{' and '.join(repr(k) for k in empty)} empty"))
        elif same_responses(record.get("chosen"), record.get("rejected")):
            out.append(Violation("FMT006", "'chosen' and 'rejected' are identical"))
        if _is_empty(prompt):
            detail = (
                "'prompt' is empty"
                if record.get("prompt") is not None
                else "no implicit prompt: 'chosen' and 'rejected' share no leading turn"
            )
            out.append(Violation("FMT005", detail))
    return out


def quarantine_rule(q: Quarantined, fmt: RecordFormat) -> str:
    """The rule a reader-quarantined row breaks, from the reader's entry.

    A file (or a Parquet row group) the reader could not read at all is FMT010, which no
    config switches off: its rows were never seen (with FMT001 off, an unreadable file
    passed ``check`` and ``audit``). The reader already rejects empty required fields;
    those keep their own rule (empty content, empty preference response) rather than FMT001.
    """
    if q.read_failure:
        return "FMT010"
    reason = q.reason
    if reason == SAME_RESPONSES:
        return "FMT006"
    if reason == SAME_RESPONSES_NO_PROMPT:
        return "FMT007"  # what audit says of the pair read: both responses empty
    if "is empty" in reason or "has empty" in reason:
        if "implicit prompt" in reason:
            return "FMT005"
        if fmt == RecordFormat.PREFERENCE and ("'chosen'" in reason or "'rejected'" in reason):
            return "FMT007"
        return "FMT005"
    return "FMT001"
