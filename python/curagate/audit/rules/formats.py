"""FMT001-FMT009: records a trainer cannot read as intended.

FMT001 comes from the reader (rows it quarantines, see ``quarantine_rule``), and so does
FMT010 (a file, or a Parquet row group, it cannot read at all; never switched off);
the structural rules FMT002-FMT007 are ``curagate.audit.formats.format_violations``
per record (``curagate check`` runs the same function), or the same logic on
whole columns when a batch is plain strings; FMT008/FMT009 validate the
structured outputs the config declares.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from curagate.audit.formats import format_violations, messages_of, shown_role
from curagate.audit.pii import shown
from curagate.audit.rules.base import BatchView, RowHit, register
from curagate.errors import ConfigError, MissingExtraError
from curagate.findings import Rule, Severity
from curagate.records import MAX_NESTING, ROLES, RecordFormat, json_depth

_TOO_DEEP = object()  # a JSON string nested past what json.loads can read

if TYPE_CHECKING:
    from curagate.audit.config import AuditConfig, StructuredOutput

RULES = (
    Rule(
        "FMT001",
        "unreadable-record",
        Severity.ERROR,
        "A row is not valid JSON, or a required field of its record format is missing or has "
        "the wrong type (the reader quarantines it).",
        "Training loaders either crash on such rows or skip them silently, so the data you "
        "trained on is not the data you reviewed.",
        "Fix the row as the message says (the field is named), or remove it.",
    ),
    Rule(
        "FMT002",
        "invalid-role",
        Severity.ERROR,
        "A chat message has a role other than system, user, assistant or tool.",
        "Chat templates map only known roles; an unknown role is dropped or raises while "
        "rendering, and the model never sees that turn as intended.",
        "Rename the role to one of system, user, assistant, tool (e.g. human->user, "
        "gpt->assistant).",
    ),
    Rule(
        "FMT003",
        "turns-do-not-alternate",
        Severity.ERROR,
        "Chat turns do not alternate: system messages only at the start, then user and "
        "assistant in turn (tool results only after an assistant turn, answered by the "
        "assistant).",
        "Many chat templates reject non-alternating conversations, and two user turns in a "
        "row teach the model to ignore one of them.",
        "Merge consecutive turns of the same role, or insert the missing turn.",
    ),
    Rule(
        "FMT004",
        "last-turn-not-assistant",
        Severity.ERROR,
        "The last message of an SFT conversation is not the assistant's.",
        "SFT trains on assistant tokens; a trailing user or system turn is context with no "
        "answer, wasting the example (and with completion-only loss, contributing nothing).",
        "Drop the trailing turns or add the assistant's answer.",
    ),
    Rule(
        "FMT005",
        "empty-content",
        Severity.ERROR,
        "A text, prompt, completion or chat message is empty or blank (for a list of content "
        "parts, no part makes it non-empty: see [formats.md](formats.md#messages); a "
        "`tool_result` or an image always does): only whitespace, "
        "invisible characters (U+200B and the other format characters, the Hangul fillers "
        "U+3164 and U+FFA0, variation selectors, U+034F, the blank braille pattern U+2800, "
        "the musical null notehead U+1D159), noncharacters (U+FDD0 to U+FDEF, U+FFFE, U+FFFF and "
        "the last two code points of every plane) or controls (NUL, BEL).",
        "Empty turns teach the model to answer with nothing and break some templates.",
        "Fill in the content or remove the turn/record.",
    ),
    Rule(
        "FMT006",
        "chosen-equals-rejected",
        Severity.ERROR,
        "A preference pair has the same chosen and rejected response: rendered as the dedup "
        "key renders them (a message list as `role: content` lines, each content part as "
        "[formats.md](formats.md#messages) renders it) and stripped of whitespace, the "
        "question `curate` asks when it quarantines such a pair. The same words said by two "
        "roles, or as a string and as turns, are two responses.",
        "DPO learns from the difference between the two responses; identical responses give a "
        "zero gradient and dilute the batch, and usually mean a data-generation bug.",
        "Regenerate the rejected response, or drop the pair.",
    ),
    Rule(
        "FMT007",
        "empty-preference-response",
        Severity.ERROR,
        "A preference pair has an empty chosen or rejected response.",
        "An empty response is trivially ranked; the pair teaches length, not quality.",
        "Provide both responses, or drop the pair.",
    ),
    Rule(
        "FMT008",
        "structured-output-not-json",
        Severity.ERROR,
        "A structured output (a field or the assistant answer, declared in the config with a "
        "JSON schema) does not parse as JSON, or holds NaN, Infinity or -Infinity (Python's "
        "json reads them; JSON.parse, serde and most JSON parsers reject them).",
        "The model learns to emit broken JSON, and downstream parsers fail in production.",
        "Fix the output so it parses (quotes, trailing commas, code fences around it; a "
        "number or null for NaN).",
    ),
    Rule(
        "FMT009",
        "structured-output-schema",
        Severity.ERROR,
        "A structured output parses but does not validate against its declared JSON schema.",
        "The model learns outputs your application rejects.",
        "Fix the output (the message names the failing path), or update the schema.",
    ),
    Rule(
        "FMT010",
        "unreadable-file",
        Severity.ERROR,
        "A file, or a Parquet row group of it, cannot be read at all: it is cut short, "
        "corrupt or fails a checksum, is another kind of file than its name says (gzip named "
        ".jsonl, UTF-16 text, a 0-byte .gz), or its Parquet footer or schema cannot be used "
        "(the reader quarantines the file, or each row of the lost row group).",
        "None of its rows (or of the lost part) was read, so no other rule saw them: the "
        "data you would train on is not the data in the file. Unlike FMT001 (a record read "
        "and found invalid), it cannot be switched off or re-levelled.",
        "Re-create or re-download the file (or rename or re-encode it, as the message says), "
        "or leave it out of the inputs.",
        locked=True,
    ),
)


def _on(view: BatchView, rule: str) -> bool:
    """Whether ``rule`` counts in the --gx table's format_violations (not switched off)."""
    rc = view.cfg.rules.get(rule)
    return rc is None or rc.severity != "off"


def rows(view: BatchView) -> list[RowHit]:
    """Each row's format violations, in the order ``format_violations`` gives them."""
    if view.turns is not None:
        return _chat(view)
    if view.fields is not None:
        return _columnar(view)
    return _per_record(view)


def _per_record(view: BatchView) -> list[RowHit]:
    cfg = view.cfg
    out: list[RowHit] = []
    for k, rec in enumerate(view.records()):
        violations = format_violations(
            view.format, rec, text_field=cfg.text_field, sft=cfg.sft, secrets=_secrets(cfg)
        )
        out += [(v.rule, k, v.detail) for v in violations]
        counted = sum(1 for v in violations if _on(view, v.rule))
        if counted:
            view.violations[k] = counted
        out += [(rule, k, detail) for rule, detail in view.ctx.structured.check(rec)]
    # A chat template that rejects the record: the trainer would fail on it the same way.
    out += [
        ("FMT003", k, f"the chat template rejects it: {why}") for k, why in view.template_errors
    ]
    if _on(view, "FMT003"):  # counted for --gx as the other format violations are
        for k, _ in view.template_errors:
            view.violations[k] = view.violations.get(k, 0) + 1
    return out


def _columnar(view: BatchView) -> list[RowHit]:
    import polars as pl

    from curagate.audit.shard import VISIBLE
    from curagate.records import PY_WHITESPACE

    df, fields = view.frame(), view.fields
    assert fields is not None
    empty = df.select(~pl.all().str.contains(VISIBLE))
    found: list[tuple[int, int, str, str]] = []  # (row, order, rule, detail)
    if view.format == RecordFormat.PREFERENCE:
        e_ch, e_rj = empty["chosen"], empty["rejected"]
        stripped = df.select(pl.col("chosen", "rejected").str.strip_chars(PY_WHITESPACE))
        same = stripped["chosen"] == stripped["rejected"]
        for rule, mask, detail in (
            ("FMT007", e_ch & e_rj, "'chosen' and 'rejected' empty"),
            ("FMT007", e_ch & ~e_rj, "'chosen' empty"),
            ("FMT007", ~e_ch & e_rj, "'rejected' empty"),
            ("FMT006", ~e_ch & ~e_rj & same, "'chosen' and 'rejected' are identical"),
        ):
            found += [(r, 0, rule, detail) for r in mask.arg_true().to_list()]
        found += [(r, 1, "FMT005", "'prompt' is empty") for r in empty["prompt"].arg_true()]
    else:
        for order, f in enumerate(fields):
            found += [(r, order, "FMT005", f"{f!r} is empty") for r in empty[f].arg_true()]
    found.sort()
    for r, _, rule, _ in found:
        if _on(view, rule):
            view.violations[r] = view.violations.get(r, 0) + 1
    return [(rule, r, detail) for r, _, rule, detail in found]


def _chat(view: BatchView) -> list[RowHit]:
    """The chat rules on the turn frame: only the few turns that break one reach Python."""
    import polars as pl

    from curagate.audit.shard import VISIBLE

    assert view.turns is not None
    allowed = sorted(ROLES)
    role, prev = pl.col("role"), pl.col("prev")
    ok = (
        pl.when(pl.col("i") == 0)
        .then(role.is_in(["system", "user"]))
        .when(~pl.col("prev_valid"))
        .then(True)
        .when(prev == "system")
        .then(role.is_in(["system", "user"]))
        .when(prev == "user")
        .then(role == "assistant")
        .when(prev == "assistant")
        .then(role.is_in(["user", "tool"]))
        .otherwise(role.is_in(["tool", "assistant"]))
    )
    turns = view.turns.with_columns(
        role.is_in(allowed).fill_null(False).alias("valid"),
        prev.is_in(allowed).fill_null(False).alias("prev_valid"),
        (~pl.col("content").str.contains(VISIBLE)).alias("empty"),
    ).with_columns(ok.fill_null(False).alias("ok"))
    found: list[tuple[int, int, int, str, str]] = []  # (row, turn, order, rule, detail)
    bad = turns.filter(~pl.col("valid") | (pl.col("valid") & (pl.col("empty") | ~pl.col("ok"))))
    for r, i, rl, pv, valid, empty, ok_ in bad.select(
        "row", "i", "role", "prev", "valid", "empty", "ok"
    ).iter_rows():
        if not valid:
            quoted = shown_role(rl, _secrets(view.cfg))
            found.append((r, i, 0, "FMT002", f"messages[{i}].role is {quoted!r}"))
            continue
        if empty:
            found.append((r, i, 1, "FMT005", f"messages[{i}] ({rl}) has empty content"))
        if not ok_:
            after = f"after a {pv} turn" if i else "as the first turn"
            found.append((r, i, 2, "FMT003", f"messages[{i}] is a {rl} turn {after}"))
    if view.cfg.sft:
        last = turns.filter((pl.col("i") == pl.col("n") - 1) & ~pl.col("answer"))
        for r, i, rl in last.select("row", "i", "role").iter_rows():
            detail = (
                f"the last message (messages[{i}]) is a {shown_role(rl, _secrets(view.cfg))} turn"
            )
            found.append((r, i + 1, 0, "FMT004", detail))
    found.sort()
    for r, _, _, rule, _ in found:
        if _on(view, rule):
            view.violations[r] = view.violations.get(r, 0) + 1
    return [(rule, r, detail) for r, _, _, rule, detail in found]


class _NotJson(ValueError):
    """A value ``json.loads`` reads but JSON has not."""


def _no_constant(name: str) -> Any:
    # json.loads takes NaN, Infinity and -Infinity; JSON.parse, serde and most schema-bound
    # decoders reject them, so an output holding one breaks the parser it is trained for.
    raise _NotJson(_constant_advice(name))


def _constant_advice(name: str) -> str:
    return f"{name} is no JSON value; write a number or null"


def _non_finite(value: Any) -> str | None:
    """The first NaN or infinity in a parsed value, as JSON-like text spells it: the
    readers take `{"score": NaN}` in a record line, and a Parquet float can be one."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return "NaN" if math.isnan(v) else "Infinity" if v > 0 else "-Infinity"
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return None


class StructuredOutputs:
    """FMT008/FMT009: validators for the structured outputs the config declares (built once
    per audit; ``check`` runs on each parsed record). ``secrets``: the config's entropy
    threshold and minimum length, which the keys a message quotes are redacted with."""

    def __init__(
        self, specs: Sequence[StructuredOutput], secrets: tuple[float, int] = (4.5, 24)
    ) -> None:
        self.specs = list(specs)
        self.secrets = secrets
        self.validators: list[Any] = []
        if not self.specs:
            return
        try:
            import jsonschema
        except ImportError as e:
            raise MissingExtraError("audit", "jsonschema") from e
        for s in self.specs:
            schema = s.json_schema or {}
            cls = jsonschema.validators.validator_for(schema)
            try:
                cls.check_schema(schema)
            except jsonschema.SchemaError as e:
                raise ConfigError(
                    f"structured_outputs: the schema for field {s.field!r} is not a valid JSON "
                    f"Schema: {e.message}"
                ) from e
            from curagate.gate.config import unresolved_ref

            bad = unresolved_ref(schema, own_dialect=True) if isinstance(schema, dict) else None
            if bad is not None:  # the validator stopped on it at the first record (exit 3)
                raise ConfigError(
                    f"structured_outputs: the schema for field {s.field!r}: $ref {bad!r} does "
                    "not resolve within the schema (remote schemas are not fetched: copy the "
                    "definition under '$defs')"
                )
            self.validators.append(cls(schema))

    def check(self, rec: dict[str, Any]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for spec, validator in zip(self.specs, self.validators, strict=True):
            if spec.field == "assistant":
                # The last assistant turn: of the conversation, or of a prompt/completion
                # record's completion (a string completion is the answer itself; it was
                # "'assistant' is missing" on every such row).
                completion = rec.get("completion")
                turns = messages_of(rec) or (completion if isinstance(completion, list) else [])
                answers = [
                    m.get("content")
                    for m in turns
                    if isinstance(m, dict) and m.get("role") == "assistant"
                ]
                value: Any = answers[-1] if answers else None
                if value is None and isinstance(completion, str):
                    value = completion
            else:
                value = rec.get(spec.field)
            if value is None:
                # "is missing": no record of its chunk has the field (all of them: a config
                # error, see audit.engine.finish); a field other records have reads as null.
                if spec.field == "assistant":
                    detail = "'assistant': the record has no assistant answer"
                elif spec.field in rec:
                    detail = f"{spec.field!r} is missing or null"
                else:
                    detail = f"{spec.field!r} is missing"
                out.append(("FMT008", detail))
                continue
            if isinstance(value, str):
                try:
                    value = json.loads(value, parse_constant=_no_constant)
                except _NotJson as e:
                    out.append(("FMT008", f"{spec.field!r} is not JSON ({e})"))
                    continue
                except json.JSONDecodeError as e:
                    out.append(("FMT008", f"{spec.field!r} is not JSON ({e.msg} at char {e.pos})"))
                    continue
                except RecursionError:
                    value = _TOO_DEEP
            if value is _TOO_DEEP or json_depth(value) > MAX_NESTING:
                # validating it would overflow the stack (exit 3 for one record)
                out.append(("FMT008", f"{spec.field!r} nests deeper than {MAX_NESTING} levels"))
                continue
            if (constant := _non_finite(value)) is not None:
                out.append(("FMT008", f"{spec.field!r} is not JSON ({_constant_advice(constant)})"))
                continue
            try:
                errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
            except RecursionError:
                # A schema that refers to itself without consuming the value ($ref: "#")
                raise ConfigError(
                    f"structured_outputs: the schema for field {spec.field!r} refers to itself "
                    "without end ($ref to an enclosing schema); fix the schema"
                ) from None
            err = next(iter(errors), None)
            if err is not None:
                # The path's keys are the data's (`{"contacts": {"AKIA...": 1}}`): each is
                # redacted as the sample redacts it (a key is scanned on its own, see
                # pii.strings_in), or a secret or an address used as a key was copied into
                # audit.json, audit.md, report.html and the console while SEC001 counted it.
                path = "$" + "".join(
                    f"[{p}]" if isinstance(p, int) else f".{shown(str(p), *self.secrets)}"
                    for p in err.path
                )
                out.append(
                    (
                        "FMT009",
                        f"{spec.field!r} at {path} fails {err.validator!r} "
                        f"({json.dumps(err.validator_value, sort_keys=True)[:80]})",
                    )
                )
        return out


register(__name__, *RULES, rows=rows)


def _secrets(cfg: AuditConfig) -> tuple[float, int]:
    """The thresholds quoted values are redacted with (the config's, as the scan's)."""
    return cfg.secrets.entropy_threshold, cfg.secrets.min_length
