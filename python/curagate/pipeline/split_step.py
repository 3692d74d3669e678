"""Split step: OUT/splits/ (with split_manifest.json) from the kept records,
built while the output is still its temporary folder, by ``curagate split``'s
own code (so it is a complete split output with its marker); the manifest names
its inputs relative to the output folder (``kept/part-00000.parquet``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from curagate.config import CurateConfig
from curagate.pipeline.step import BaseStep, Rows
from curagate.split import Spelling, SplitResult, refuse_several_formats, spelled, split


class SplitStep(BaseStep):
    def __init__(self, cfg: CurateConfig) -> None:
        self.cfg = cfg
        self.formats: dict[str, str] = {}  # record format -> the first input holding it

    def scan(self, rows: Rows) -> pa.Array | None:
        # Inputs of several formats cannot be split: said while reading, naming the
        # inputs, not after the dedup naming the output's temporary files.
        if self.cfg.split.enabled:
            self.formats.setdefault(str(rows.batch.format), rows.batch.source)
            refuse_several_formats(self.formats)
        return None

    def seal(self, tmp: Path, out: Path, stats: dict[str, Any]) -> SplitResult | None:
        if not self.cfg.split.enabled or stats["totals"]["kept"] == 0:
            return None
        with spelled(CURATE_SPELLING):
            result = self._split(tmp)
        return SplitResult(out / "splits", result.counts, result.manifest)

    def _split(self, tmp: Path) -> Any:
        cfg, sc = self.cfg, self.cfg.split
        return split(
            [tmp / "kept"],
            tmp / "splits",
            ratios=sc.ratios,
            seed=sc.seed,
            mode=sc.mode,
            label=sc.label,
            group=sc.group,
            time=sc.time,
            join_near=sc.join_near,
            near_threshold=cfg.near.threshold,
            near_ngram=cfg.near.ngram,
            near_shingle=cfg.near.shingle,
            normalize=cfg.normalize.model_dump(),
            shared_passages="join" if sc.join_ngram else sc.shared_passages,
            ngram=sc.ngram,
            max_ngram_items=sc.max_ngram_items,
            templates=sc.templates,
            max_rounds=sc.max_rounds,
            format=None if cfg.format == "auto" else cfg.format,
            text_field=cfg.text_field,
            preference_key=cfg.preference_key,
            # Paths relative to the output folder (kept/part-00000.parquet), so the
            # split's files are the same bytes whatever --out is.
            relabel=(tmp, Path()),
        )


# split's options as a curate config names them,
# its rows as records of the output's kept/ (relabel names them relative to the output).
CURATE_SPELLING = Spelling(
    options={
        flag: "split." + flag[2:].replace("-", "_")
        for flag in (
            "--time",
            "--group",
            "--mode",
            "--seed",
            "--join-near",
            "--shared-passages",
            "--templates",
            "--ngram",
            "--max-ngram-items",
            "--max-rounds",
        )
    }
    # curate takes these from its command line too: a value from a config named only by
    # the flag read as if given there (found by attack).
    | {"--label": "split.label (--label)", "--ratios": "split.ratios (--ratios)"}
    | {"--near-threshold": "near.threshold"},
    row="kept record {row} of {source} (from 0)",
)
