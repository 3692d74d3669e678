"""Curation steps.

A step is a small object with standard counters; the orchestration in
:mod:`curagate.curate` feeds it batches and never lets a record vanish: every
input row ends up kept, removed (with a reason) or quarantined.
"""

from curagate.pipeline.dedup import DedupOutcome, DedupStep, keep_priorities

__all__ = ["DedupOutcome", "DedupStep", "keep_priorities"]
