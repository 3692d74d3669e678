"""The audit: one streaming pass over the records, then dataset-level rules.

Per-row rules (format, PII, duplicates, token limit) record row references
as they go; dataset-level rules (length outliers and bias, label balance,
conversation mix) run on the collected distributions at the end.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curagate import __version__
from curagate.audit.config import AuditConfig, StructuredOutput
from curagate.audit.formats import (
    all_text,
    conversations,
    format_violations,
    input_output,
    messages_of,
    non_text_part_kinds,
    quarantine_rule,
)
from curagate.audit.keys import fingerprints
from curagate.audit.leaks import LeakScan, build_index
from curagate.audit.pii import Hit, redact, scan, scan_many
from curagate.audit.rules import RULES, Severity
from curagate.audit.rules import AuditFinding as Finding
from curagate.audit.stats import outlier_threshold, summarize
from curagate.errors import ConfigError, MissingExtraError
from curagate.records import Batch, RecordFormat

SCHEMA_VERSION = 1
_SCAN_RULES = ("PII001", "PII002", "PII003", "PII004", "PII005", "SEC001", "SEC002")


@dataclass(slots=True)
class _Hits:
    """Rows that broke one rule: the total, the first references, one detail."""

    count: int = 0
    refs: list[str] = field(default_factory=list)
    details: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class AuditResult:
    report: dict[str, Any]  # the audit.json document
    sample: list[dict[str, Any]]  # {"ref", "record"} for sample.jsonl
    table: dict[str, list[Any]] | None  # per-row derived columns (for --gx)


class _Tokenizer:
    """A local tokenizer and its chat template (transformers, imported lazily)."""

    def __init__(self, path: Path, need_template: bool) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise MissingExtraError("train", "transformers") from e
        if not path.exists():
            raise ConfigError(
                f"tokens.tokenizer: {path} does not exist; give a local tokenizer directory"
            )
        try:
            self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise ConfigError(f"tokens.tokenizer: cannot load a tokenizer from {path}: {e}") from e
        from jinja2 import TemplateError

        self.template_errors: tuple[type[Exception], ...] = (TemplateError, ValueError, TypeError)
        if need_template and not getattr(self.tok, "chat_template", None):
            raise ConfigError(
                f"tokens.tokenizer: the tokenizer at {path} has no chat template, so the token "
                "limit cannot be measured as training will render records; use the chat "
                "model's own tokenizer (with chat_template.jinja or tokenizer_config.json "
                "chat_template), or remove tokens.max_seq_len"
            )

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tok(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in enc]

    def render(self, conversation: list[dict[str, Any]]) -> str:
        return str(self.tok.apply_chat_template(conversation, tokenize=False))


def _rows_bar(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The batches, with a progress bar of rows read (stderr, TTY only)."""
    from curagate.progress import Bar

    with Bar(total=None, desc="audit", unit="rows") as bar:
        for batch in batches:
            yield batch
            bar.update(batch.input_rows)


class _Structured:
    """Validators for the structured outputs declared in the config."""

    def __init__(self, specs: Sequence[StructuredOutput]) -> None:
        self.specs = list(specs)
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
            self.validators.append(cls(schema))

    def check(self, rec: dict[str, Any]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for spec, validator in zip(self.specs, self.validators, strict=True):
            if spec.field == "assistant":
                answers = [
                    m.get("content") for m in messages_of(rec) if m.get("role") == "assistant"
                ]
                value: Any = answers[-1] if answers else None
            else:
                value = rec.get(spec.field)
            if value is None:
                out.append(("FMT008", f"{spec.field!r} is missing"))
                continue
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as e:
                    out.append(("FMT008", f"{spec.field!r} is not JSON ({e.msg} at char {e.pos})"))
                    continue
            err = next(iter(sorted(validator.iter_errors(value), key=lambda e: list(e.path))), None)
            if err is not None:
                path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
                out.append(
                    (
                        "FMT009",
                        f"{spec.field!r} at {path} fails {err.validator!r} "
                        f"({json.dumps(err.validator_value, sort_keys=True)[:80]})",
                    )
                )
        return out


def _redact_value(v: Any, cfg: AuditConfig) -> Any:
    if isinstance(v, str):
        hits = scan(
            v, entropy_threshold=cfg.secrets.entropy_threshold, min_length=cfg.secrets.min_length
        )
        return redact(v, hits) if hits else v
    if isinstance(v, list):
        return [_redact_value(x, cfg) for x in v]
    if isinstance(v, dict):
        return {k: _redact_value(x, cfg) for k, x in v.items()}
    return v


def _json_safe(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def _ref_sort_key(ref: str) -> tuple[str, int]:
    f, _, line = ref.rpartition(":")
    return (f, int(line) if line.isdigit() else 0)


def run_audit(
    data: Sequence[str | Path],
    cfg: AuditConfig,
    *,
    collect_table: bool = False,
) -> AuditResult:
    """Audit the records in ``data`` (files, directories, globs)."""
    from curagate.io import expand_inputs, read_batches

    paths = expand_inputs(list(data))
    structured = _Structured(cfg.structured_outputs)
    tokenizer = (
        _Tokenizer(cfg.tokens.tokenizer, need_template=cfg.tokens.max_seq_len is not None)
        if cfg.tokens.tokenizer is not None
        else None
    )
    hits: dict[str, _Hits] = {rid: _Hits() for rid in RULES}
    leaks: LeakScan | None = None
    if cfg.golden_sets:
        leaks = build_index(cfg.golden_sets, ngram=cfg.leakage.ngram)

    def hit(rule: str, ref: str, detail: str = "") -> None:
        h = hits[rule]
        h.count += 1
        if len(h.refs) < cfg.max_row_refs:
            h.refs.append(ref)
        if detail and (detail in h.details or len(h.details) < 1000):
            h.details[detail] += 1

    files: list[dict[str, Any]] = []
    file_rows: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    non_text: Counter[str] = Counter()
    total = valid = quarantined = 0
    row_refs: list[str] = []  # per valid row, in input order
    len_in: list[int] = []
    len_out: list[int] = []
    out_rows: list[int] = []  # valid-row index of each len_out entry
    tok_in: list[int] = []
    tok_out: list[int] = []
    rendered: list[int] = []
    labels: Counter[str] = Counter()
    seen: dict[bytes, str] = {}
    multi = single = with_system = 0
    pii_counts: Counter[str] = Counter()
    rng = random.Random(cfg.sample.seed)
    reservoir: list[tuple[str, dict[str, Any]]] = []
    table: dict[str, list[Any]] | None = {} if collect_table else None
    sec = cfg.secrets
    measure_limit = tokenizer is not None and cfg.tokens.max_seq_len is not None

    def col(name: str, value: Any) -> None:
        assert table is not None
        table.setdefault(name, []).append(value)

    for batch in _rows_bar(
        read_batches(
            paths, format=cfg.format, text_field=cfg.text_field, preference_key=cfg.preference_key
        )
    ):
        src = Path(batch.source).as_posix()
        fmt = RecordFormat(batch.format)
        file_rows[src] += batch.input_rows
        total += batch.input_rows
        quarantined += len(batch.quarantined)
        for q in batch.quarantined:
            n = q.line if q.line is not None else (q.row + 1 if q.row is not None else 0)
            hit(quarantine_rule(q.reason, fmt), f"{src}:{n}", q.reason)
        records = batch.table.to_pylist()
        if not records:
            continue
        formats[fmt.value] += len(records)
        rows = batch.rows.to_pylist()
        lines = batch.lines.to_pylist() if batch.lines is not None else [r + 1 for r in rows]
        fps = fingerprints(batch.keys)
        refs = [f"{src}:{ln}" for ln in lines]
        leaking = leaks.scan(batch.keys) if leaks is not None else {}
        ins: list[str] = []
        outs: list[str] = []
        convs: list[list[Any]] = []
        # PII/secret hits of the whole batch at once (the core prefilters in parallel).
        texts_of = [list(all_text(fmt, rec, cfg.text_field)) for rec in records]
        flat_hits = iter(
            scan_many(
                [t for texts in texts_of for t in texts],
                entropy_threshold=sec.entropy_threshold,
                min_length=sec.min_length,
            )
        )
        for k, (rec, ref, fp) in enumerate(zip(records, refs, fps, strict=True)):
            if k in leaking:
                hit("LEAK001", ref, "")
            index = valid
            valid += 1
            row_refs.append(ref)
            violations = format_violations(fmt, rec, text_field=cfg.text_field, sft=cfg.sft)
            for v in violations:
                hit(v.rule, ref, v.detail)
            for rule, detail in structured.check(rec):
                hit(rule, ref, detail)
            non_text.update(non_text_part_kinds(rec))
            i_txt, o_txt = input_output(fmt, rec, cfg.text_field)
            ins.append(i_txt)
            len_in.append(len(i_txt))
            if o_txt is not None:
                outs.append(o_txt)
                len_out.append(len(o_txt))
                out_rows.append(index)
            row_hits: list[Hit] = []
            for _ in texts_of[k]:
                row_hits.extend(next(flat_hits))
            for rule in sorted({h.rule for h in row_hits}):
                hit(rule, ref, ", ".join(sorted({h.kind for h in row_hits if h.rule == rule})))
            pii_counts.update(h.rule for h in row_hits)
            if fp in seen:
                hit("DUP001", ref, "")
            else:
                seen[fp] = ref
            label: str | None = None
            if cfg.labels.field is not None:
                lv = rec.get(cfg.labels.field)
                if lv is None:
                    hit("LBL002", ref, "")
                else:
                    label = lv if isinstance(lv, str) else json.dumps(lv, sort_keys=True)
                    labels[label] += 1
            if fmt == RecordFormat.CHAT:
                msgs = messages_of(rec)
                users = sum(1 for m in msgs if m.get("role") == "user")
                multi += users > 1
                single += users <= 1
                with_system += any(m.get("role") == "system" for m in msgs)
            if cfg.sample.n:
                if index < cfg.sample.n:
                    reservoir.append((ref, rec))
                else:
                    j = rng.randrange(index + 1)
                    if j < cfg.sample.n:
                        reservoir[j] = (ref, rec)
            if measure_limit:
                convs.append(conversations(fmt, rec, cfg.text_field))
            if table is not None:
                col("ref", ref)
                col("format_violations", len(violations))
                col("input_chars", len(i_txt))
                col("output_chars", len(o_txt) if o_txt is not None else None)
                col("dedup_key", fp.hex())
                col("leaked", k in leaking)
                for rid in _SCAN_RULES:
                    col(rid, sum(1 for h in row_hits if h.rule == rid))
                if cfg.labels.field is not None:
                    col("label", label)
        if tokenizer is not None:
            tok_in.extend(tokenizer.count(ins))
            tok_out.extend(tokenizer.count(outs))
        if tokenizer is not None and measure_limit:
            assert cfg.tokens.max_seq_len is not None
            owners: list[int] = []
            texts: list[str] = []
            for k, cs in enumerate(convs):
                for c in cs:
                    try:
                        texts.append(c if isinstance(c, str) else tokenizer.render(c))
                    except tokenizer.template_errors as e:
                        # The trainer would fail on this record the same way.
                        hit("FMT003", refs[k], f"the chat template rejects it: {str(e)[:100]}")
                        continue
                    owners.append(k)
            longest: dict[int, int] = {}
            for k, n in zip(owners, tokenizer.count(texts), strict=True):
                longest[k] = max(longest.get(k, 0), n)
            for k, ref in enumerate(refs):
                n_tok = longest.get(k)
                if table is not None:
                    col("rendered_tokens", n_tok)
                if n_tok is None:
                    continue
                rendered.append(n_tok)
                if n_tok > cfg.tokens.max_seq_len:
                    hit("LEN003", ref, f"{n_tok} tokens")
    for p in paths:
        pp = Path(p).as_posix()
        files.append({"path": pp, "rows": file_rows.get(pp, 0)})

    stats: dict[str, Any] = {}
    bins = cfg.lengths.bins
    lengths: dict[str, Any] = {"chars": {"input": summarize(len_in, bins)}}
    if len_out:
        lengths["chars"]["output"] = summarize(len_out, bins)
    if tokenizer is not None:
        lengths["tokens"] = {"input": summarize(tok_in, bins)}
        if tok_out:
            lengths["tokens"]["output"] = summarize(tok_out, bins)
        if rendered:
            lengths["tokens"]["rendered"] = summarize(rendered, bins)
            lengths["tokens"]["max_seq_len"] = cfg.tokens.max_seq_len
    stats["lengths"] = lengths

    # LEN001: rows beyond Q3 + k*IQR in any series; needs the per-row refs again.
    all_rows = list(range(len(len_in)))
    series: list[tuple[str, list[int], list[int], dict[str, Any]]] = [
        ("input chars", len_in, all_rows, lengths["chars"]["input"])
    ]
    if len_out:
        series.append(("output chars", len_out, out_rows, lengths["chars"]["output"]))
    if tokenizer is not None:
        series.append(("input tokens", tok_in, all_rows, lengths["tokens"]["input"]))
        if tok_out:
            series.append(("output tokens", tok_out, out_rows, lengths["tokens"]["output"]))
    outliers: dict[int, list[str]] = {}
    for name, vals, idx, summ in series:
        thr = outlier_threshold(summ, cfg.lengths.outlier_iqr)
        summ["outlier_threshold"] = thr
        if thr is None:
            continue
        for i, length in zip(idx, vals, strict=True):
            if length > thr:
                outliers.setdefault(i, []).append(name)
    for i in sorted(outliers):
        hit("LEN001", row_refs[i], " and ".join(outliers[i]))

    stats["duplicates"] = {"duplicate_rows": hits["DUP001"].count, "unique_keys": len(seen)}
    stats["pii"] = {rid: pii_counts.get(rid, 0) for rid in _SCAN_RULES}

    dataset_level: dict[str, tuple[str, float]] = {}
    bias_series = lengths["chars"].get("output") or lengths["chars"]["input"]
    if bias_series["count"] >= 10 and bias_series["cv"] < cfg.lengths.min_cv:
        which = "output" if "output" in lengths["chars"] else "input"
        dataset_level["LEN002"] = (
            f"{which} lengths are nearly constant (coefficient of variation {bias_series['cv']}, "
            f"below {cfg.lengths.min_cv})",
            float(bias_series["cv"]),
        )

    if cfg.labels.field is not None:
        n_lab = sum(labels.values())
        dist = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))
        stats["labels"] = {
            "field": cfg.labels.field,
            "counts": {k: v for k, v in dist},
            "shares": {k: round(v / n_lab, 6) for k, v in dist} if n_lab else {},
            "missing": hits["LBL002"].count,
        }
        over = [(k, v / n_lab) for k, v in dist if v / n_lab > cfg.labels.max_share]
        under = [(k, v / n_lab) for k, v in dist if v / n_lab < cfg.labels.min_share]
        if n_lab and (over or under) and len(dist) > 1:
            parts = [
                f"class {k!r} holds {s:.1%} (above {cfg.labels.max_share:.0%})" for k, s in over
            ]
            parts += [
                f"class {k!r} holds {s:.2%} (below {cfg.labels.min_share:.0%})" for k, s in under
            ]
            worst = max([s for _, s in over] + [1 - s for _, s in under])
            dataset_level["LBL001"] = ("; ".join(parts), worst)
        elif n_lab and len(dist) == 1:
            dataset_level["LBL001"] = (
                f"only one class ({dist[0][0]!r}) in {cfg.labels.field!r}",
                1.0,
            )

    if single + multi:
        conv = single + multi
        share = multi / conv
        sys_share = with_system / conv
        stats["mix"] = {
            "conversations": conv,
            "single_turn": single,
            "multi_turn": multi,
            "multi_turn_share": round(share, 6),
            "system_prompt_share": round(sys_share, 6),
        }
        if not cfg.mix.multi_turn_min <= share <= cfg.mix.multi_turn_max:
            dataset_level["MIX001"] = (
                f"{share:.1%} of conversations are multi-turn; the target is "
                f"{cfg.mix.multi_turn_min:.0%}..{cfg.mix.multi_turn_max:.0%}",
                share,
            )
        if 0 < with_system < conv:
            dataset_level["MIX002"] = (
                f"{sys_share:.1%} of conversations have a system prompt, the rest none",
                sys_share,
            )

    if cfg.golden_sets:
        stats["leakage"] = {
            "golden_sets": [p.as_posix() for p in cfg.golden_sets],
            "ngram": cfg.leakage.ngram,
            "methods": ["exact", "ngram"],
            "leaked_reference_items": len(leaks.items_hit) if leaks is not None else 0,
            "leaking_rows": hits["LEAK001"].count,
        }

    findings = _findings(cfg, hits, dataset_level, total)
    sev = Counter(f.severity.value for f in findings)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "curagate", "version": __version__},
        "inputs": {
            "files": files,
            "total_rows": total,
            "valid_rows": valid,
            "quarantined_rows": quarantined,
            "formats": dict(sorted(formats.items())),
            "non_text_parts": dict(sorted(non_text.items())),
        },
        "config": cfg.to_dict(),
        "summary": {
            "errors": sev.get("error", 0),
            "warnings": sev.get("warning", 0),
            "infos": sev.get("info", 0),
            "passed": sev.get("error", 0) == 0,
        },
        "stats": stats,
        "findings": [f.to_dict() for f in findings],
        "sample": {
            "file": "sample.jsonl",
            "n": len(reservoir),
            "seed": cfg.sample.seed,
            "redacted": cfg.sample.redact,
        },
    }
    reservoir.sort(key=lambda rr: _ref_sort_key(rr[0]))
    sample = [
        {
            "ref": ref,
            "record": _redact_value(_json_safe(rec), cfg) if cfg.sample.redact else _json_safe(rec),
        }
        for ref, rec in reservoir
    ]
    return AuditResult(report=report, sample=sample, table=table)


def _findings(
    cfg: AuditConfig,
    hits: dict[str, _Hits],
    dataset_level: dict[str, tuple[str, float]],
    total: int,
) -> list[Finding]:
    out: list[Finding] = []
    for rid, rule in RULES.items():
        rc = cfg.rules.get(rid)
        if rc is not None and rc.severity == "off":
            continue
        h = hits[rid]
        if rid in dataset_level:
            what, metric = dataset_level[rid]
            what = what.rstrip(".") + "."
            count, share, refs = 0, metric, []
        elif h.count:
            noun = "row" if h.count == 1 else "rows"
            share = h.count / total if total else 0.0
            what = f"{h.count} {noun} ({share:.2%}): {rule.checks[0].lower()}{rule.checks[1:]}"
            if h.details:
                top, n = sorted(h.details.items(), key=lambda kv: (-kv[1], kv[0]))[0]
                what += f" First kind: {top}" + (f" ({n} rows)" if n > 1 else "") + "."
            count, refs = h.count, sorted(h.refs, key=_ref_sort_key)
        else:
            continue
        severity = Severity(rc.severity) if rc is not None and rc.severity else rule.severity
        error_above = (
            rc.error_above
            if rc is not None and rc.error_above is not None
            else (None if rc is not None and rc.severity else rule.error_above)
        )
        if error_above is not None and count and share > error_above:
            severity = Severity.ERROR
        out.append(
            Finding(
                rule=rule,
                severity=severity,
                message=f"{what} Fix: {rule.fix}",
                count=count,
                share=share,
                rows=list(refs),
                rows_truncated=count > len(refs),
            )
        )
    out.sort(key=lambda f: (f.severity.rank, f.rule.id))
    return out
