"""Dataset audits: format, lengths, token limits, labels, mix, PII, duplicates, leakage.

``audit()`` writes audit.json (schema: ``audit.schema.json``), audit.md,
report.html and a review sample; ``--gx`` adds Great Expectations artifacts.
Every finding comes from a rule in :mod:`curagate.audit.rules`.

``AuditConfig`` and ``load_config`` (pydantic) and the rule registry load on
first use (PEP 562 ``__getattr__``): ``import curagate.check`` imports
submodules of this package (formats, keys) and pays for neither pydantic nor
the rules (docs/architecture.md, "Start-up").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curagate.audit.config import AuditConfig, load_config
    from curagate.audit.rules import RULES, Rule, Severity

__all__ = ["RULES", "AuditConfig", "Rule", "Severity", "audit", "load_config"]

# public name -> the submodule that defines it
_LAZY = {
    "AuditConfig": "config",
    "load_config": "config",
    "RULES": "rules",
    "Rule": "rules",
    "Severity": "rules",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"curagate.audit.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# How to name the golden sets to audit, or audit without them.
_NO_GOLDEN_FIX = (
    "set leakage.reference in the --config file (`reference: []` checks none), or pass --no-golden"
)


def audit(
    data: Sequence[str | Path],
    *,
    config: str | Path | AuditConfig | None = None,
    out: str | Path = "audit",
    gx: bool = False,
    executor: str | None = None,
    ray_address: str | None = None,
    default_golden: Path | None = None,
    leakage: bool = True,
    nearest_golden: bool = False,
) -> dict[str, Any]:
    """Audit ``data`` and write the reports into ``out``; returns audit.json's content.

    ``executor`` (``local`` or ``ray``) audits each input file as a task and
    merges the per-file statistics; the outputs are the same bytes.
    The golden sets are the config's ``leakage.reference``, else ``default_golden``
    (a folder of golden sets: an :class:`InputError` when it is there but no folder,
    a dangling link) and those ``nearest_golden`` finds; a config's
    ``reference: []`` names none; ``leakage=False`` checks none. ``nearest_golden``
    (the CLI's): also the golden sets ``check`` finds for each input file,
    ``./golden_sets`` and the nearest ``golden_sets`` folder beside or above it
    (:func:`curagate.check.default_golden`, the same code), all of them for every file.
    ``out`` must be new, empty or a previous audit output, outside every input folder
    and holding no input (the next audit would read its sample.jsonl back); the reports
    replace it as one folder.
    """
    from curagate.audit.config import AuditConfig, load_config
    from curagate.check import DEFAULT_GOLDEN_DIR, golden_folder, golden_sets_of
    from curagate.io import expand_inputs
    from curagate.io.outputs import check_output, report_folder

    cfg = config if isinstance(config, AuditConfig) else load_config(config)
    # The default only where LEAK001 reports: a placeholder ./golden_sets beside the rule
    # switched off was exit 2 (an empty folder of golden sets; found by re-attack).
    # One that is there but no folder (a link to a share not mounted) is refused where it
    # would be read: read as none, the leakage check was silently off.
    named = "reference" in cfg.leakage.model_fields_set
    aliases: dict[Path, list[Path]] = {}
    paths = expand_inputs(list(data), aliases=aliases)
    looked_for = leakage and not named and cfg.enabled("LEAK001")
    default: list[Path] = []
    if looked_for and default_golden:
        found = golden_folder(default_golden, _NO_GOLDEN_FIX)
        default += [found] if found is not None else []
    if looked_for and nearest_golden:
        # As check finds them (one lookup, shared): run in ml/data/, audit read no
        # golden sets where check found ml/golden_sets and failed the leak.
        default += [g for g in golden_sets_of(paths, aliases, _NO_GOLDEN_FIX) if g not in default]
    if not leakage or default:
        cfg = cfg.model_copy(deep=True)
        cfg.leakage.reference = list(default) if leakage else []
    out_dir = Path(out)
    keep = [] if config is None or isinstance(config, AuditConfig) else [("config", config)]
    # ./golden_sets too when it is not read this time: the next check reads it.
    mine = default_golden or (DEFAULT_GOLDEN_DIR if nearest_golden else None)
    extra = [mine] if mine and mine.is_dir() else []
    golden = [("golden sets", p) for p in [*cfg.leakage.reference, *extra]]
    # Golden sets holding the output read its sample.jsonl back as golden items.
    claim = check_output(out_dir, "audit", data, paths, keep=[*keep, *golden], records=golden)
    reading = None
    if executor is None and paths:
        # The first batches are parsed (natively, the GIL released) while the engine
        # and polars are imported.
        from curagate.audit.prefetch import read_ahead

        reading = read_ahead(paths, cfg)
    try:
        from curagate.audit.engine import run_audit
        from curagate.audit.report import write_outputs
    except BaseException:
        if reading is not None:
            reading.close()
        raise
    result = run_audit(
        data, cfg, collect_table=gx, executor=executor, ray_address=ray_address, reading=reading
    )
    with report_folder(out_dir, "audit", "audit.json", claim) as tmp:
        write_outputs(result, tmp)
        if gx:
            from curagate.audit.gx import write_gx

            write_gx(result, cfg, tmp)
    return result.report
