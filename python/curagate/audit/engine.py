"""The audit: one streaming pass over the records, then dataset-level rules.

Every rule is a module of :mod:`curagate.audit.rules`. Row checks (format,
PII, labels, leakage, token limit) record row references as the pass goes
(audit/shard.py); dataset checks (length outliers and bias, label balance,
conversation mix, duplicates) run on the merged distributions at the end.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.errors import ConfigError, CuragateError, InputError, MissingExtraError, no_records
from curagate.executors import Executor
from curagate.text import percent

try:  # the statistics run on polars (extra `audit`); `check` and `curate` never import it
    import polars  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the install
    raise MissingExtraError("audit", "polars") from e

from curagate import __version__
from curagate.audit.config import AuditConfig
from curagate.audit.leaks import build_index
from curagate.audit.partial import AuditPartial, RuleHits, merge_all
from curagate.audit.pii import redact, replace_strings, scan, strings_in
from curagate.audit.prefetch import read_ahead
from curagate.audit.rules import CHECKS, RULES, DatasetView, Severity
from curagate.audit.rules import AuditFinding as Finding
from curagate.audit.rules.formats import StructuredOutputs
from curagate.audit.rules.labels import shown_classes
from curagate.audit.rules.pii import SCAN_RULES
from curagate.audit.shard import AuditContext, audit_shard
from curagate.audit.stats import outlier_threshold, summarize_counts
from curagate.findings import failed
from curagate.io.ahead import ReadAhead
from curagate.records import Batch

SCHEMA_VERSION = 1

# How a user of `curagate audit` names other golden sets (or none), in an empty one's error.
AUDIT_GOLDEN_FIX = (
    "fix leakage.reference in the --config file (`reference: []` checks none), or pass --no-golden"
)


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
        # Whatever a template raises on one record is that record's FMT003 (a template that
        # divides by a count of turns failed on some records only: exit 3).
        self.template_errors: tuple[type[Exception], ...] = (Exception,)
        if need_template and not getattr(self.tok, "chat_template", None):
            raise ConfigError(
                f"tokens.tokenizer: the tokenizer at {path} has no chat template, so the token "
                "limit cannot be measured as training will render records; use the chat "
                "model's own tokenizer (with chat_template.jinja or tokenizer_config.json "
                "chat_template), or remove tokens.max_seq_len"
            )
        if need_template:
            # A template that renders no conversation at all (a syntax error, an unknown
            # filter, a runtime error) is the tokenizer's fault, not the data's: every row
            # was FMT003 "turns do not alternate", and an error of another kind was exit 3.
            # Refused only when it renders neither exchange (one that requires a system turn
            # renders the second; it was refused, every record holding one).
            exchange = [
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi"},
            ]
            errors: list[Exception] = []
            for probe in (exchange, [{"role": "system", "content": "Be brief."}, *exchange]):
                try:
                    self.render(probe)
                    break
                except Exception as e:  # whatever the template raises is named
                    errors.append(e)
            else:
                first = errors[0]
                raise ConfigError(
                    f"tokens.tokenizer: the chat template of {path} does not render a "
                    f"user-assistant exchange, with or without a system turn "
                    f"({type(first).__name__}: {str(first)[:200]}); fix chat_template.jinja "
                    "(or tokenizer_config.json chat_template)"
                ) from None

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


def _redact_all(values: list[Any], cfg: AuditConfig) -> list[Any]:
    """``values`` with PII and secrets redacted in every string the PII rules scan
    (:func:`~curagate.audit.pii.strings_in`): one prefilter call over all of them (it
    names the pattern families each may hold), then the scan of those families."""
    from curagate import _core

    strings = [t for v in values for t in strings_in(v)]
    sec = cfg.secrets
    families = [0] * len(strings)
    if strings:
        import pyarrow as pa

        arr = pa.array(strings, pa.large_string())
        for row, bits in _core.pii_candidate_families(arr, min_length=sec.min_length):
            families[row] = bits
    redacted: list[str] = []
    for text, bits in zip(strings, families, strict=True):
        hits = (
            scan(
                text,
                entropy_threshold=sec.entropy_threshold,
                min_length=sec.min_length,
                families=bits,
            )
            if bits
            else []
        )
        redacted.append(redact(text, hits) if hits else text)
    it = iter(redacted)
    return [replace_strings(v, it) for v in values]


def _json_safe(v: Any) -> Any:
    return json.loads(json.dumps(v, default=str))


def _ref_sort_key(ref: str) -> tuple[str, int]:
    """``file:line`` by file, then line; a whole file's ``file`` first among its own."""
    f, _, line = ref.rpartition(":")
    return (f, int(line)) if f and line.isdigit() else (ref, 0)


def run_audit(
    data: Sequence[str | Path],
    cfg: AuditConfig,
    *,
    collect_table: bool = False,
    shards: int | None = None,
    executor: str | Executor | None = None,
    ray_address: str | None = None,
    reading: ReadAhead[Batch] | None = None,
) -> AuditResult:
    """Audit the records in ``data`` (files, directories, globs).

    Without an executor the records are audited in this process as one shard
    (or ``shards`` consecutive groups of files, merged). With ``executor``
    (``local``, ``ray`` or an :class:`~curagate.executors.Executor`) every
    group (default: one per file) is a task and the driver merges their
    partial aggregates; the report is the same bytes either way.

    ``reading``: the batches of ``data`` already being read (from
    :func:`~curagate.audit.prefetch.read_ahead`; one shard, no executor).
    """
    from curagate.io import expand_inputs

    paths = expand_inputs(list(data))
    if reading is not None:
        if executor is not None or (shards or 1) != 1:
            reading.close()
            raise ValueError("run_audit: reading ahead is for one shard without an executor")
        with reading:
            ctx = audit_context(cfg, collect_table=collect_table)
            part = audit_shard(ctx, _rows_bar(reading))
        return finish(part, cfg, paths)
    if executor is None:
        ctx = audit_context(cfg, collect_table=collect_table)
        local = [audit_paths(ctx, group) for group in shard_paths(paths, shards or 1)]
        return finish(merge_all(local), cfg, paths)

    from curagate.executors import get_executor

    ex = get_executor(executor, address=ray_address) if isinstance(executor, str) else executor
    try:
        groups = shard_paths(paths, shards or len(paths))
        from curagate.digest import sample_identity

        # Each task checks the files it reads are the ones listed here (a node seeing other
        # bytes at a path audited them, exit as if the driver's).
        files = [[(str(p), sample_identity(p)) for p in g] for g in groups]
        task = AuditTask(cfg=cfg, collect_table=collect_table)
        parts: list[AuditPartial] = ex.map(_audit_task, task, files)
    finally:
        ex.close()
    return finish(merge_all(parts), cfg, paths)


@dataclass(frozen=True, slots=True)
class AuditTask:
    """What every shard task of one audit shares (pickled once to the workers)."""

    cfg: AuditConfig
    collect_table: bool


# A worker builds the validators, tokenizer and golden index once per audit, not per task.
_CONTEXTS: dict[str, AuditContext] = {}


def _audit_task(task: AuditTask, files: list[tuple[str, Any]]) -> AuditPartial:
    """One shard (its files' paths and identities as the driver read them) as an executor
    task: its partial aggregate."""
    from curagate.build import require_same_file

    for path, identity in files:
        require_same_file(path, path, identity)
    group = [path for path, _ in files]
    key = json.dumps([task.cfg.to_dict(), task.collect_table], sort_keys=True, default=str)
    ctx = _CONTEXTS.get(key)
    if ctx is None:
        ctx = audit_context(task.cfg, collect_table=task.collect_table)
        _CONTEXTS.clear()
        _CONTEXTS[key] = ctx
    return audit_paths(ctx, group)


def shard_paths(paths: Sequence[str | Path], shards: int) -> list[list[str | Path]]:
    """``paths`` in ``shards`` consecutive groups of near-equal size (order kept)."""
    if shards < 1:
        raise ConfigError(f"shards must be at least 1; got {shards}")
    n = max(1, min(shards, len(paths)))
    size, extra = divmod(len(paths), n)
    out: list[list[str | Path]] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(paths[start:end]))
        start = end
    return [g for g in out if g] or [[]]


def audit_context(cfg: AuditConfig, *, collect_table: bool = False) -> AuditContext:
    """Validators, tokenizer and golden index: built once, shared by every shard."""
    tokenizer = (
        _Tokenizer(cfg.tokens.tokenizer, need_template=cfg.tokens.max_seq_len is not None)
        if cfg.tokens.tokenizer is not None
        else None
    )
    leaks = (
        build_index(cfg.leakage.reference, ngram=cfg.leakage.ngram, fix=AUDIT_GOLDEN_FIX)
        if cfg.leakage.reference
        else None
    )
    return AuditContext(
        cfg=cfg,
        structured=StructuredOutputs(
            cfg.structured_outputs, (cfg.secrets.entropy_threshold, cfg.secrets.min_length)
        ),
        tokenizer=tokenizer,
        leaks=leaks,
        collect_table=collect_table,
    )


def audit_paths(ctx: AuditContext, paths: Sequence[str | Path], **read: Any) -> AuditPartial:
    """The partial aggregate of one shard: the records of ``paths``, in order (the next
    batch is read while one is audited)."""
    if not paths:
        return audit_shard(ctx, [])
    with read_ahead(paths, ctx.cfg, **read) as batches:
        return audit_shard(ctx, _rows_bar(batches))


def finish(part: AuditPartial, cfg: AuditConfig, paths: Sequence[str | Path]) -> AuditResult:
    """The report of a whole audit from its (merged) partial aggregate."""
    tokens = cfg.tokens.tokenizer is not None
    hits: dict[str, RuleHits] = {rid: RuleHits() for rid in RULES}
    for rid, h in part.hits.items():
        hits[rid] = RuleHits(count=h.count, refs=list(h.refs), details=Counter(h.details))
    rows_of = dict(part.files)
    files = [
        {"path": Path(p).as_posix(), "rows": rows_of.get(Path(p).as_posix(), 0)} for p in paths
    ]
    total, valid = part.total, part.valid
    # An emptied training file passed the audit ("0 errors"), alone or among others.
    empty = [Path(p).as_posix() for p in paths if not rows_of.get(Path(p).as_posix(), 0)]
    if empty:
        raise InputError(no_records(empty, None if len(empty) == len(files) else len(files)))
    # A structured output no record has is a misnamed field, not one finding per row.
    absent = [
        s.field
        for s in cfg.structured_outputs
        if valid and hits["FMT008"].details.get(f"{s.field!r} is missing", 0) >= valid
    ]
    if absent:
        raise ConfigError(
            f"structured_outputs: no record has a field {absent[0]!r} (all {valid:,} valid "
            "records checked); fix its `field` (a record's field name, or `assistant` for the "
            "last assistant answer) or remove it"
        )

    stats: dict[str, Any] = {}
    bins = cfg.lengths.bins
    hist = part.hist
    lengths: dict[str, Any] = {"chars": {"input": summarize_counts(hist["chars.input"], bins)}}
    if hist["chars.output"]:
        lengths["chars"]["output"] = summarize_counts(hist["chars.output"], bins)
    if tokens:
        lengths["tokens"] = {"input": summarize_counts(hist["tokens.input"], bins)}
        if hist["tokens.output"]:
            lengths["tokens"]["output"] = summarize_counts(hist["tokens.output"], bins)
        if hist["tokens.rendered"]:
            lengths["tokens"]["rendered"] = summarize_counts(hist["tokens.rendered"], bins)
            lengths["tokens"]["max_seq_len"] = cfg.tokens.max_seq_len
    stats["lengths"] = lengths

    # The outlier threshold of each input/output series (LEN001 judges rows against it).
    for kind in ("chars", "tokens") if tokens else ("chars",):
        for side in ("input", "output"):
            if side in lengths[kind]:
                summ = lengths[kind][side]
                summ["outlier_threshold"] = outlier_threshold(summ, cfg.lengths.outlier_iqr)

    stats["duplicates"] = {"duplicate_rows": part.dup_count, "unique_keys": part.unique.height}
    stats["pii"] = {rid: part.pii_counts.get(rid, 0) for rid in SCAN_RULES}

    labels = part.labels
    if cfg.labels.field is not None:
        n_lab = sum(labels.values())
        dist = shown_classes(labels, (cfg.secrets.entropy_threshold, cfg.secrets.min_length))
        stats["labels"] = {
            "field": cfg.labels.field,
            "counts": {k: v for k, v in dist},
            "shares": {k: round(v / n_lab, 6) for k, v in dist} if n_lab else {},
            "missing": hits["LBL002"].count,
        }

    single, multi, with_system = part.single, part.multi, part.with_system
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

    if cfg.leakage.reference:
        stats["leakage"] = {
            "golden_sets": [p.as_posix() for p in cfg.leakage.reference],
            "ngram": cfg.leakage.ngram,
            "methods": ["exact", "ngram"],
            "leaked_reference_items": len(part.leaked_items),
            "leaking_rows": hits["LEAK001"].count,
        }

    # Every rule module's dataset check, on the merged partial and the finished stats.
    dataset_level: dict[str, tuple[str, float]] = {}
    view = DatasetView(cfg=cfg, part=part, stats=stats, hits=hits)
    for checks in CHECKS.values():
        if checks.dataset is None:
            continue
        own = {r.id for r in checks.rules}
        try:
            decided = checks.dataset(view)
            outcomes = [
                (rid, o if isinstance(o, RuleHits) else (str(o[0]), _finite(float(o[1]))))
                for rid, o in decided.items()
            ]
        except CuragateError:
            raise
        except Exception as e:  # a rule module's bug (one from outside the package too)
            raise RuntimeError(
                f"audit rules {checks.name!r} failed on the dataset: {type(e).__name__}: {e}"
            ) from e
        for rid, outcome in outcomes:
            if rid not in own:
                raise ValueError(f"audit rules {checks.name!r} decided {rid}, not theirs")
            # The declaration is what the config checks error_above against (a dataset-level
            # finding counts no rows): a check must decide its rule the declared way.
            if isinstance(outcome, RuleHits) == RULES[rid].dataset_level:
                raise ValueError(
                    f"audit rules {checks.name!r} decided {rid} as "
                    + (
                        "row hits, but it is declared dataset_level=True"
                        if RULES[rid].dataset_level
                        else "a (message, metric) pair: declare it Rule(..., dataset_level=True)"
                    )
                )
            if isinstance(outcome, RuleHits):
                hits[rid] = outcome
            else:
                dataset_level[rid] = outcome

    findings = _findings(cfg, hits, dataset_level, total)
    sev = Counter(f.severity.value for f in findings)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "curagate", "version": __version__},
        "inputs": {
            "files": files,
            "total_rows": total,
            "valid_rows": valid,
            "quarantined_rows": part.quarantined,
            "formats": dict(sorted(part.formats.items())),
            # A part's type is the data's: a key written as one was copied into the reports.
            "non_text_parts": _shown_counts(part.non_text, cfg),
        },
        "config": cfg.to_dict(),
        "summary": {
            "errors": sev.get("error", 0),
            "warnings": sev.get("warning", 0),
            "infos": sev.get("info", 0),
            "passed": not failed(findings),
        },
        "stats": stats,
        "findings": [f.to_dict() for f in findings],
        "sample": {
            "file": "sample.jsonl",
            "n": len(part.sample),
            "seed": cfg.sample.seed,
            "redacted": cfg.sample.redact,
        },
    }
    chosen = sorted(part.sample, key=lambda r: r.pos)  # input order
    # A row's null columns are left out, as its nested null keys are: Arrow gives every row
    # of a batch every column any row has, so another row's column named by a secret
    # (`{"ghp_…": 1}`) was copied into every sampled record.
    records = [
        {k: v for k, v in r.record.items() if v is not None}
        if isinstance(r.record, dict)
        else r.record
        for r in chosen
    ]
    if cfg.sample.redact:
        # Before _json_safe: the strings the PII rules scanned, not str() of other values.
        records = _redact_all(records, cfg)
    records = [_json_safe(r) for r in records]
    sample = [{"ref": r.ref, "record": rec} for r, rec in zip(chosen, records, strict=True)]
    return AuditResult(report=report, sample=sample, table=part.table)


def _findings(
    cfg: AuditConfig,
    hits: dict[str, RuleHits],
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
            what = f"{h.count} {noun} ({percent(share)}): {rule.checks[0].lower()}{rule.checks[1:]}"
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


def _finite(metric: float) -> float:
    """A dataset finding's metric; NaN or infinity would make audit.json invalid JSON."""
    if not math.isfinite(metric):
        raise ValueError(f"metric {metric} is not a finite number")
    return metric


def _shown_counts(counts: dict[str, int], cfg: AuditConfig) -> dict[str, int]:
    """``counts`` by name, each name redacted as the sample is (names redacted alike add up)."""
    from curagate.audit.pii import shown

    out: Counter[str] = Counter()
    for name, n in counts.items():
        out[shown(name, cfg.secrets.entropy_threshold, cfg.secrets.min_length)] += n
    return dict(sorted(out.items()))
