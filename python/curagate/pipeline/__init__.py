"""Curation steps.

Every curate stage is a step of one protocol (:mod:`curagate.pipeline.step`:
``scan`` / ``finish`` / ``seal`` / ``stats``); :func:`curagate.curate.curate`
folds over :func:`curagate.pipeline.build.build_steps` and never lets a record
vanish: every input row ends up kept, removed (with a reason) or quarantined.
A quality filter is one file in ``pipeline/filters/`` (copy ``length.py``).
"""

from curagate.pipeline.dedup import DedupOutcome, DedupStep, keep_priorities
from curagate.pipeline.step import (
    BaseStep,
    Fates,
    Filter,
    FilterParams,
    Rows,
    Step,
    register_filter,
)

__all__ = [
    "BaseStep",
    "DedupOutcome",
    "DedupStep",
    "Fates",
    "Filter",
    "FilterParams",
    "Rows",
    "Step",
    "keep_priorities",
    "register_filter",
]
