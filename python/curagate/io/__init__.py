"""Reading record shards (JSONL, JSONL.gz, JSONL.zst, Parquet) into Arrow batches.

Contract used by every stage (curate, leakage, split, audit, check):

* :func:`expand_inputs` turns files, directories and globs into a sorted list
  of shard paths, or raises :class:`curagate.errors.InputError` (exit 2).
* :func:`read_batches` streams :class:`curagate.records.Batch` objects: the
  valid rows of one chunk of one file (original columns untouched), their
  stable ids and dedup keys, and the rows that could not be used
  (quarantined with file, line/row and reason). Nothing is dropped silently:
  ``batch.input_rows == batch.table.num_rows + len(batch.quarantined)``.
"""

from __future__ import annotations

from curagate.io.readers import SUPPORTED_SUFFIXES, count_records, expand_inputs, read_batches

__all__ = ["SUPPORTED_SUFFIXES", "count_records", "expand_inputs", "read_batches"]
