"""Audit one shard of batches into an :class:`~curagate.audit.partial.AuditPartial`.

The shard collects what the dataset-level rules need (lengths, labels, the
conversation mix, duplicate keys, the sample) and runs every registered rule
module's row check (:mod:`curagate.audit.rules`) on each batch.

Columnar where the records allow it: when a batch's text fields are plain
string columns (text, prompt-only, prompt/completion, preference with an
explicit prompt, chat of plain turns) the statistics and the built-in checks
run on whole Arrow/polars columns and only the few texts the Rust PII
prefilter flags reach Python. Nested records (conversational
prompt/completion, steps, tool calls), structured-output schemas and
tokenizers need the parsed record, so those batches take the per-record path;
both paths record the same hits in the same order.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curagate.audit.config import AuditConfig
from curagate.audit.formats import (
    conversations,
    input_output,
    messages_of,
    non_text_part_kinds,
    quarantine_rule,
)
from curagate.audit.keys import fingerprint_array, row_keys
from curagate.audit.partial import ROW_SCHEMA, UNIQUE_SCHEMA, AuditPartial, SampleRow
from curagate.audit.pii import shown
from curagate.audit.rules import CHECKS, RULES, BatchView, Checks, RowHit
from curagate.audit.rules.pii import SCAN_RULES, in_quarantined
from curagate.audit.stats import add_counts
from curagate.errors import CuragateError
from curagate.io.readers import row_as_python
from curagate.records import BLANK_CLASS, Batch, RecordFormat, label_text

if TYPE_CHECKING:
    from curagate.audit.engine import _Tokenizer
    from curagate.audit.leaks import LeakScan
    from curagate.audit.rules.formats import StructuredOutputs

# A text is blank iff it holds no character outside the blank ones (records.is_blank:
# whitespace, format and default-ignorable characters, controls, U+2800, U+1D159,
# noncharacters): a regex search
# that stops at the first visible character, instead of stripping (copying) every text.
VISIBLE = f"[^{BLANK_CLASS}]"
_NESTED_KEYS = ("messages", "prompt", "completion", "chosen", "rejected")


@dataclass(slots=True)
class AuditContext:
    """What every shard of one audit shares (built once by the driver)."""

    cfg: AuditConfig
    structured: StructuredOutputs
    tokenizer: _Tokenizer | None
    leaks: LeakScan | None
    collect_table: bool = False
    # False sends every batch down the per-record path (tests hold both paths equal).
    columnar: bool = True


@dataclass(slots=True)
class _Columns:
    """Per-row results of one batch, from either path."""

    in_chars: pl.Series | list[int]
    out_chars: pl.Series | list[int | None] | None
    tok_in: list[int] | None = None
    tok_out: list[int | None] | None = None
    labels: list[str | None] | None = None
    rendered: list[int | None] | None = None
    template_errors: list[tuple[int, str]] | None = None  # (row, why) the template rejects
    turns: pl.DataFrame | None = None  # columnar chat: the turn frame the checks read
    records: list[dict[str, Any]] | None = None  # per-record path: the parsed rows


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _columnar_fields(batch: Batch, fmt: RecordFormat, cfg: AuditConfig) -> list[str] | None:
    """The text columns of a batch the columnar path reads, or None if it cannot."""
    schema = batch.table.schema
    names = set(schema.names)
    for k in _NESTED_KEYS:  # non-text parts live only in nested values
        if k in names and not _is_string(schema.field(k).type):
            if fmt == RecordFormat.CHAT and k == "messages" and _plain_turns(schema.field(k).type):
                continue
            return None
    if fmt == RecordFormat.CHAT:
        return ["messages"] if "messages" in names else None
    if fmt == RecordFormat.TEXT:
        fields = [cfg.text_field or "text"]
    elif fmt == RecordFormat.PROMPT_ONLY:
        fields = ["prompt"]
    elif fmt in (RecordFormat.PROMPT_COMPLETION, RecordFormat.UNPAIRED_PREFERENCE):
        fields = ["prompt", "completion"]
    elif fmt == RecordFormat.PREFERENCE:
        fields = ["prompt", "chosen", "rejected"]
        # An implicit prompt is extracted from the turns: per record.
        if "prompt" not in names or batch.table.column("prompt").null_count:
            return None
    else:
        return None
    if not all(f in names and _is_string(schema.field(f).type) for f in fields):
        return None
    return fields


def _plain_turns(t: pa.DataType) -> bool:
    """A list of {role, content} structs with string values: no tool calls, no parts."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    item = t.value_type
    if not pa.types.is_struct(item):
        return False
    fields = {item.field(i).name: item.field(i).type for i in range(item.num_fields)}
    return set(fields) == {"role", "content"} and all(
        _is_string(v) or pa.types.is_null(v) for v in fields.values()
    )


class ShardAuditor:
    """Feeds batches into one partial; :meth:`finish` returns it."""

    def __init__(self, ctx: AuditContext) -> None:
        self.ctx = ctx
        cfg = ctx.cfg
        self.part = AuditPartial(max_row_refs=cfg.max_row_refs, sample_n=cfg.sample.n)
        if ctx.collect_table:
            self.part.table = {}
        self._rows: list[pl.DataFrame] = []
        self._fps: list[pl.DataFrame] = []

    # -- one batch -------------------------------------------------------------------------

    def add(self, batch: Batch) -> None:
        part = self.part
        src = Path(batch.source).as_posix()
        fmt = RecordFormat(batch.format)
        fid = part.file_id(src)
        part.files[fid] = (src, part.files[fid][1] + batch.input_rows)
        part.total += batch.input_rows
        part.quarantined += len(batch.quarantined)
        cfg = self.ctx.cfg
        for q in batch.quarantined:
            n = q.position
            # A problem of the whole file (a cut stream, a bad footer) has no row: it is
            # named by the file alone, as `check` prints it, never a line 0.
            # A reason quotes key paths (a key written twice): a secret used as a key was
            # copied into every report while SEC001 counted it.
            reason = shown(q.reason, cfg.secrets.entropy_threshold, cfg.secrets.min_length)
            part.hit(quarantine_rule(q, fmt), src if n is None else f"{src}:{n}", reason)
        if self.ctx.leaks is not None and batch.quarantined:
            # A quarantined row holding a golden item is a leak too (curagate leakage scans
            # it): fixing what quarantined it would leave the item in the data.
            for q, what in self.ctx.leaks.scan_quarantined(batch.quarantined, part.leaked_items):
                part.hit("LEAK001", f"{src}:{q.position}", what)
        sec = self.ctx.cfg.secrets
        for q, hits in in_quarantined(batch.quarantined, sec.entropy_threshold, sec.min_length):
            # As the table's rows are counted (rules.pii.rows): one hit per rule and row.
            for rule in sorted({h.rule for h in hits}):
                kinds = ", ".join(sorted({h.kind for h in hits if h.rule == rule}))
                part.hit(rule, f"{src}:{q.position}", kinds)
            part.pii_counts.update(h.rule for h in hits)
        n_rows = batch.table.num_rows
        if not n_rows:
            return
        part.formats[fmt.value] += n_rows
        lines_arr = (
            batch.lines if batch.lines is not None else pc.add(batch.rows, pa.scalar(1, pa.int64()))
        )
        first = part.valid
        part.valid += n_rows

        fields = _columnar_fields(batch, fmt, self.ctx.cfg)
        simple = (
            self.ctx.columnar
            and fields is not None
            and self.ctx.tokenizer is None
            and not self.ctx.structured.specs
        )
        cols: _Columns | None = None
        if simple and fmt == RecordFormat.CHAT:
            cols = self._columnar_chat(batch)
        elif simple:
            assert fields is not None
            cols = self._columnar(batch, fmt, fields)
        if cols is None:
            cols = self._per_record(batch, fmt)
        view = BatchView(
            ctx=self.ctx,
            part=part,
            format=fmt,
            source=src,
            table=batch.table,
            keys=batch.keys,
            media=batch.media,
            fields=fields if simple and fmt != RecordFormat.CHAT else None,
            turns=cols.turns,
            rendered=cols.rendered,
            template_errors=cols.template_errors or [],
            _records=cols.records,
        )
        self._check(view, lines_arr)

        fps = fingerprint_array(batch.keys, batch.media)
        line_col = pl.Series("line", lines_arr).cast(pl.Int64)
        self._fps.append(
            pl.DataFrame(
                {
                    "fp": pl.from_arrow(fps),
                    "pos": pl.int_range(first, first + n_rows, eager=True),
                    "file": pl.repeat(fid, n_rows, dtype=pl.UInt32, eager=True),
                    "line": line_col,
                },
                schema=UNIQUE_SCHEMA,
            )
        )
        frame = pl.DataFrame(
            {
                "file": pl.repeat(fid, n_rows, dtype=pl.UInt32, eager=True),
                "line": line_col,
                "in_chars": cols.in_chars,
                "out_chars": cols.out_chars,
                "tok_in": cols.tok_in,
                "tok_out": cols.tok_out,
            },
            schema=ROW_SCHEMA,
        )
        self._rows.append(frame)
        for series, column in (
            ("chars.input", "in_chars"),
            ("chars.output", "out_chars"),
            ("tokens.input", "tok_in"),
            ("tokens.output", "tok_out"),
        ):
            vc = frame.get_column(column).drop_nulls().value_counts()
            add_counts(part.hist[series], dict(vc.iter_rows()))
        if part.table is not None:
            self._table(part.table, cols, view, frame, fps, src, lines_arr.to_pylist())
        self._sample(batch, src, lines_arr, first)

    def _table(
        self,
        t: dict[str, list[Any]],
        cols: _Columns,
        view: BatchView,
        frame: pl.DataFrame,
        fps: pa.Array,
        src: str,
        lines: list[int],
    ) -> None:
        """The per-row derived columns of the batch (for ``--gx``)."""
        cfg = self.ctx.cfg
        n = frame.height
        t.setdefault("ref", []).extend(f"{src}:{ln}" for ln in lines)
        viol = view.violations
        t.setdefault("format_violations", []).extend(viol.get(k, 0) for k in range(n))
        t.setdefault("input_chars", []).extend(frame.get_column("in_chars").to_list())
        t.setdefault("output_chars", []).extend(frame.get_column("out_chars").to_list())
        t.setdefault("dedup_key", []).extend(bytes(fp).hex() for fp in fps.to_pylist())
        t.setdefault("leaked", []).extend(k in view.leaking for k in range(n))
        pii = view.pii
        for rid in SCAN_RULES:
            t.setdefault(rid, []).extend(
                sum(1 for h in pii.get(k, ()) if h.rule == rid) for k in range(n)
            )
        if cfg.labels.field is not None:
            t.setdefault("label", []).extend(cols.labels or [None] * n)
        if cols.rendered is not None:
            t.setdefault("rendered_tokens", []).extend(cols.rendered)

    def _sample(self, batch: Batch, src: str, lines: pa.Array, first: int) -> None:
        n = self.part.sample_n
        if not n:
            return
        keys = row_keys(self.ctx.cfg.sample.seed, lines, batch.keys, batch.media)
        # The n smallest keys without sorting them all; rows with the same key at the same
        # line of two files tie, so every row tied with the n-th is a candidate and the
        # earliest of them win.
        best = pc.select_k_unstable(keys, n, [("key", "ascending")])
        if not len(best):
            return
        cut = pc.max(keys.take(best))
        near = pc.indices_nonzero(pc.less_equal(keys, cut)).to_pylist()
        chosen = sorted(near, key=lambda i: (keys[i].as_py(), i))[:n]
        # One slice per kept row: Table.take over a batch's large chunks copies far more.
        table = batch.table
        self.part.keep_sample(
            [
                SampleRow(
                    key=keys[i].as_py(),
                    pos=first + i,
                    ref=f"{src}:{lines[i].as_py()}",
                    record=row_as_python(table.slice(i, 1)),
                )
                for i in chosen
            ]
        )

    def _check(self, view: BatchView, lines_arr: pa.Array) -> None:
        """Every registered rule module's row check on the batch, its hits in its order."""
        part, src = self.part, view.source
        lines: list[int] | None = None  # the batch's line numbers, in Python once a row hits
        seen: set[tuple[str, int]] = set()  # (rule, row) hit so far
        for checks in CHECKS.values():
            if checks.rows is None:
                continue
            own = {r.id for r in checks.rules}
            for rule, row, detail in _row_hits(checks, view):
                if rule not in own:
                    raise ValueError(
                        f"audit rules {checks.name!r} reported {rule}, which they do not declare"
                        + ("" if rule in RULES else " (no rule has this id)")
                    )
                if RULES[rule].dataset_level:  # error_above is refused for it: no rows
                    raise ValueError(
                        f"audit rules {checks.name!r} reported a row of {rule}, which is "
                        "declared dataset_level=True (decided on the whole dataset)"
                    )
                # A negative index would name another row's line (silently wrong).
                if not _is_row(row, view.num_rows):
                    raise ValueError(
                        f"audit rules {checks.name!r} reported {rule} at row {row!r}, "
                        f"not a row of the batch (0..{view.num_rows - 1})"
                    )
                if (rule, row) in seen:  # a second bad turn of one conversation: its
                    continue  # row is counted (a count, a share and a kind are of rows)
                seen.add((rule, row))
                if lines is None:
                    lines = lines_arr.to_pylist()
                part.hit(rule, f"{src}:{lines[row]}", detail)

    # -- columnar path ---------------------------------------------------------------------

    def _columnar(self, batch: Batch, fmt: RecordFormat, fields: list[str]) -> _Columns:
        lengths = pl.from_arrow(batch.table.select(fields))
        assert isinstance(lengths, pl.DataFrame)
        lengths = lengths.select(pl.all().str.len_chars().fill_null(0).cast(pl.Int64))
        out_chars: pl.Series | None = None
        if fmt in (
            RecordFormat.PROMPT_COMPLETION,
            RecordFormat.UNPAIRED_PREFERENCE,
            RecordFormat.PREFERENCE,
        ):
            out_chars = lengths.get_column(fields[1]).rename("out_chars")
        return _Columns(
            in_chars=lengths.get_column(fields[0]).rename("in_chars"),
            out_chars=out_chars,
            labels=self._labels_columnar(batch),
        )

    def _columnar_chat(self, batch: Batch) -> _Columns | None:
        """Chat records as one frame of turns; None (per-record path) if a turn is null."""
        part = self.part
        n_rows = batch.table.num_rows
        msgs = pl.from_arrow(batch.table.select(["messages"]))
        assert isinstance(msgs, pl.DataFrame)
        if msgs.select(
            pl.col("messages").list.eval(pl.element().is_null()).list.any().any()
        ).item():
            return None
        turns = (
            msgs.with_row_index("row")
            .explode("messages")
            .filter(pl.col("messages").is_not_null())
            .unnest("messages")
            .with_columns(
                pl.col("role").cast(pl.String),
                pl.col("content").cast(pl.String).fill_null(""),
            )
            .with_columns(
                pl.int_range(pl.len()).over("row").alias("i"),
                pl.len().over("row").alias("n"),
                pl.col("role").shift(1).over("row").alias("prev"),
                pl.col("content").str.len_chars().cast(pl.Int64).alias("chars"),
                (pl.col("role") == "assistant").fill_null(False).alias("answer"),
            )
        )

        # Input (every turn but the answers) and output lengths as the joined texts have
        # them, and the conversation mix.
        answers = pl.col("answer").cast(pl.Int64).sum()  # signed: "answers - 1" may be -1
        per_row = (
            turns.group_by("row")
            .agg(
                (pl.col("chars").filter(~pl.col("answer")).sum()
                 + (pl.len().cast(pl.Int64) - answers - 1).clip(0)).alias("in_chars"),
                (pl.col("chars").filter(pl.col("answer")).sum()
                 + (answers - 1).clip(0)).alias("out_chars"),
                (pl.col("role") == "user").sum().alias("users"),
                (pl.col("role") == "system").any().alias("system"),
            )
        )  # fmt: skip
        full = (
            pl.DataFrame({"row": pl.int_range(0, n_rows, dtype=pl.UInt32, eager=True)})
            .join(per_row, on="row", how="left")
            .fill_null(0)
            .sort("row")
        )
        users = full.get_column("users")
        multi = int((users > 1).sum())
        part.multi += multi
        part.single += n_rows - multi
        part.with_system += int(full.get_column("system").cast(pl.Int64).sum())
        return _Columns(
            in_chars=full.get_column("in_chars").cast(pl.Int64),
            out_chars=full.get_column("out_chars").cast(pl.Int64),
            labels=self._labels_columnar(batch),
            turns=turns,
        )

    def _labels_columnar(self, batch: Batch) -> list[str | None]:
        """Count the labels (LBL001's distribution); returns each row's label."""
        name = self.ctx.cfg.labels.field
        if name is None:
            return []
        if name not in batch.table.schema.names:
            return [None] * batch.table.num_rows
        out = [
            None if lv is None else label_text(lv) for lv in batch.table.column(name).to_pylist()
        ]
        self.part.labels.update(x for x in out if x is not None)
        return out

    # -- per-record path -------------------------------------------------------------------

    def _per_record(self, batch: Batch, fmt: RecordFormat) -> _Columns:
        part, ctx = self.part, self.ctx
        cfg = ctx.cfg
        tokenizer = ctx.tokenizer
        measure_limit = tokenizer is not None and cfg.tokens.max_seq_len is not None
        records = batch.table.to_pylist()
        ins: list[str] = []
        outs: list[str] = []
        out_rows: list[int] = []
        convs: list[list[Any]] = []
        in_chars: list[int] = []
        out_chars: list[int | None] = []
        labels_col: list[str | None] = []
        template_errors: list[tuple[int, str]] = []
        for k, rec in enumerate(records):
            part.non_text.update(non_text_part_kinds(rec))
            i_txt, o_txt = input_output(fmt, rec, cfg.text_field)
            ins.append(i_txt)
            in_chars.append(len(i_txt))
            if o_txt is not None:
                outs.append(o_txt)
                out_rows.append(k)
            out_chars.append(len(o_txt) if o_txt is not None else None)
            if cfg.labels.field is not None:
                lv = rec.get(cfg.labels.field)
                if lv is None:
                    labels_col.append(None)
                else:
                    label = label_text(lv)
                    part.labels[label] += 1
                    labels_col.append(label)
            # A conversation: a chat, or a prompt/completion record whose prompt is turns
            # (MIX001/MIX002 skipped those; found by attack). A prompt of text is none.
            msgs = None
            if fmt == RecordFormat.CHAT:
                msgs = messages_of(rec)
            elif fmt == RecordFormat.PROMPT_COMPLETION and isinstance(rec.get("prompt"), list):
                msgs = [m for m in rec["prompt"] if isinstance(m, dict)]
            if msgs is not None:
                users = sum(1 for m in msgs if m.get("role") == "user")
                part.multi += users > 1
                part.single += users <= 1
                part.with_system += any(m.get("role") == "system" for m in msgs)
            if measure_limit:
                convs.append(conversations(fmt, rec, cfg.text_field))
        tok_in: list[int] | None = None
        tok_out: list[int | None] | None = None
        rendered: list[int | None] = [None] * len(records)
        if tokenizer is not None:
            tok_in = tokenizer.count(ins)
            tok_out = [None] * len(records)
            for k, n in zip(out_rows, tokenizer.count(outs), strict=True):
                tok_out[k] = n
        if tokenizer is not None and measure_limit:
            assert cfg.tokens.max_seq_len is not None
            owners: list[int] = []
            texts: list[str] = []
            for k, cs in enumerate(convs):
                for c in cs:
                    try:
                        texts.append(c if isinstance(c, str) else tokenizer.render(c))
                    except tokenizer.template_errors as e:
                        why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                        # The error may quote the record (a template's `raise_exception('bad
                        # role ' + role)`, a KeyError's key): redacted whole, then cut (a cut
                        # secret is no longer found).
                        why = shown(why, cfg.secrets.entropy_threshold, cfg.secrets.min_length)
                        template_errors.append((k, why[:100]))  # FMT003 (rules/formats.py)
                        continue
                    owners.append(k)
            longest: dict[int, int] = {}
            for k, n in zip(owners, tokenizer.count(texts), strict=True):
                longest[k] = max(longest.get(k, 0), n)
            for k in range(len(records)):
                rendered[k] = longest.get(k)
            add_counts(
                part.hist["tokens.rendered"],
                Counter(n for n in rendered if n is not None),
            )
        return _Columns(
            in_chars=in_chars,
            out_chars=out_chars,
            tok_in=tok_in,
            tok_out=tok_out,
            labels=labels_col,
            rendered=rendered if measure_limit else None,
            template_errors=template_errors,
            records=records,
        )

    # -- end of the shard ------------------------------------------------------------------

    def finish(self) -> AuditPartial:
        """Within-shard duplicates and the per-row frame; the partial is complete."""
        part = self.part
        if self._rows:
            part.rows = pl.concat(self._rows, how="vertical")
        if self._fps:
            fps = pl.concat(self._fps, how="vertical")
            first = fps.get_column("fp").is_first_distinct()
            dups = fps.filter(~first)
            part.dup_count = dups.height
            part.dup_refs = [
                (pos, part.ref(f, line))
                for pos, f, line in dups.select("pos", "file", "line")
                .head(part.max_row_refs)
                .iter_rows()
            ]
            part.unique = fps.filter(first)
        self._rows, self._fps = [], []
        return part


def audit_shard(ctx: AuditContext, batches: Iterable[Batch]) -> AuditPartial:
    """The partial of one shard: ``batches`` in input order."""
    auditor = ShardAuditor(ctx)
    for batch in batches:
        auditor.add(batch)
    return auditor.finish()


def _is_row(row: object, num_rows: int) -> bool:
    """``row`` is an index into a batch of ``num_rows`` (numpy integers too)."""
    try:
        index = operator.index(row)  # type: ignore[arg-type]
    except TypeError:
        return False
    return 0 <= index < num_rows


def _row_hits(checks: Checks, view: BatchView) -> list[RowHit]:
    """A module's row hits on a batch; a module that fails (a rule from outside the package
    too) is named in the error, which is still an internal one (exit 3)."""
    assert checks.rows is not None
    try:
        return [(rule, row, detail) for rule, row, detail in checks.rows(view)]
    except CuragateError:
        raise  # a user error the check found (a missing tokenizer file, ...)
    except Exception as e:
        raise RuntimeError(
            f"audit rules {checks.name!r} failed on {view.source}: {type(e).__name__}: {e}"
        ) from e
