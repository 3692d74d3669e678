"""``curagate check``: the fast gate for pre-commit and CI.

Schema and format validation, exact duplicates within and across the given
files, and leakage against the golden sets (exact + n-gram). It reuses the
audit's rule ids so a finding means the same thing in both places, and
imports nothing heavy (no torch, no pandas): a commit hook must answer in
well under a second for a few thousand records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from curagate.audit.config import AuditConfig
from curagate.audit.formats import format_violations, quarantine_rule
from curagate.audit.keys import fingerprints
from curagate.audit.leaks import LeakScan, build_index
from curagate.audit.rules import RULES
from curagate.errors import InputError
from curagate.records import RecordFormat

DEFAULT_GOLDEN_DIR = Path("golden_sets")


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule} {self.message}"


def check(
    files: Sequence[str | Path],
    *,
    golden: str | Path | None = None,
    leakage: bool = True,
    config: AuditConfig | None = None,
    ngram: int | None = None,
) -> list[Violation]:
    """Check ``files``; returns the violations sorted by file, line and rule.

    ``golden=None`` uses ``./golden_sets`` when it exists (no leakage check
    otherwise); an explicit directory must exist. ``leakage=False`` skips it.
    """
    from curagate.io import expand_inputs, read_batches

    cfg = config or AuditConfig()
    off = {rid for rid, rc in cfg.rules.items() if rc.severity == "off"}
    paths = expand_inputs(list(files))
    out: list[Violation] = []
    seen: dict[bytes, str] = {}

    def add(file: str, line: int, rule: str, message: str) -> None:
        if rule not in off:
            out.append(Violation(file, line, rule, message))

    golden_dir = Path(golden) if golden is not None else DEFAULT_GOLDEN_DIR
    if golden is not None and not golden_dir.is_dir():
        raise InputError(f"--golden {golden_dir}: no such directory; point it at your golden sets")
    leaks: LeakScan | None = None
    if leakage and golden_dir.is_dir() and "LEAK001" not in off:
        leaks = build_index([golden_dir], ngram=ngram or cfg.leakage.ngram)

    for batch in read_batches(
        paths, format=cfg.format, text_field=cfg.text_field, preference_key=cfg.preference_key
    ):
        src = Path(batch.source).as_posix()
        fmt = RecordFormat(batch.format)
        for q in batch.quarantined:
            n = q.line if q.line is not None else (q.row + 1 if q.row is not None else 0)
            rule = quarantine_rule(q.reason, fmt)
            add(src, n, rule, f"{q.reason}; fix: {RULES[rule].fix}")
        if batch.table.num_rows == 0:
            continue
        rows = batch.rows.to_pylist()
        lines = batch.lines.to_pylist() if batch.lines is not None else [r + 1 for r in rows]
        fps = fingerprints(batch.keys)
        records = batch.table.to_pylist()
        for rec, line, fp in zip(records, lines, fps, strict=True):
            for v in format_violations(fmt, rec, text_field=cfg.text_field, sft=cfg.sft):
                add(src, line, v.rule, f"{v.detail}; fix: {RULES[v.rule].fix}")
            first = seen.get(fp)
            if first is None:
                seen[fp] = f"{src}:{line}"
            else:
                add(
                    src,
                    line,
                    "DUP001",
                    f"exact duplicate of {first} (after normalization); "
                    "remove one copy or run `curagate curate`",
                )
        if leaks is not None:
            for i, what in sorted(leaks.scan(batch.keys).items()):
                add(
                    src,
                    lines[i],
                    "LEAK001",
                    f"contains {what}; remove the record (golden set "
                    "items must never be trained on)",
                )
    return sorted(set(out))
