"""Split step: OUT/splits/ (with split_manifest.json) from the kept records,
built while the output is still its temporary folder, by ``curagate split``'s
own code (so it is a complete split output with its marker); the manifest names
its inputs relative to the output folder (``kept/part-00000.parquet``)."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curagate.config import CurateConfig
from curagate.pipeline.step import BaseStep, Rows
from curagate.split import Spelling, SplitResult, refuse_several_formats, spelled, split


class SplitStep(BaseStep):
    def __init__(self, cfg: CurateConfig) -> None:
        self.cfg = cfg
        self.inputs = InputRows()

    def scan(self, rows: Rows) -> pa.Array | None:
        # Inputs of several formats cannot be split: said while reading, naming the
        # inputs, not after the dedup naming the output's temporary files.
        if self.cfg.split.enabled:
            self.inputs.add(rows.batch)
            refuse_several_formats(self.inputs.formats)
        return None

    def read_staged(self, files: Iterable[Path]) -> None:
        """What the staged run's sketch tasks wrote of their inputs' rows (:data:`SPLIT_ROWS`
        of each, in input order), as :meth:`scan` keeps it while curate reads."""
        for file in files:
            self.inputs.merge(json.loads(file.read_text(encoding="utf-8")))

    def seal(self, tmp: Path, out: Path, stats: dict[str, Any]) -> SplitResult | None:
        if not self.cfg.split.enabled or stats["totals"]["kept"] == 0:
            return None
        kept = _KeptRecords(tmp, stats, self.inputs)
        spelling = replace(CURATE_SPELLING, locate=kept.locate, name_file=kept.file_of)
        with spelled(spelling):
            result = self._split(tmp, kept.number if self.inputs.numbers else None)
        return SplitResult(out / "splits", result.counts, result.manifest)

    def _split(self, tmp: Path, number_rows: Any) -> Any:
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
            fail_on_leak=sc.fail_on_leak,
            format=None if cfg.format == "auto" else cfg.format,
            text_field=cfg.text_field,
            preference_key=cfg.preference_key,
            batch_rows=cfg.batch_rows,
            # Paths relative to the output folder (kept/part-00000.parquet), so the
            # split's files are the same bytes whatever --out is.
            relabel=(tmp, Path()),
            # kept/ holds a JSON number column the reader kept as strings as strings:
            # which input rows' values were numbers, the reader said while reading.
            number_rows=number_rows,
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


# A staged run's sketch task's record of its input's rows for curate --split (InputRows).
SPLIT_ROWS = "split_rows.json"


def refuse_formats_of(found: Iterable[Mapping[str, str]]) -> None:
    """An InputError for inputs of several formats, as :meth:`SplitStep.scan` says it:
    ``found`` is each input's formats (record format -> the input), in input order."""
    formats: dict[str, str] = {}
    for each in found:
        for fmt, source in each.items():
            formats.setdefault(fmt, source)
            refuse_several_formats(formats)


_KEPT_PART = re.compile(r"kept/part-z*([0-9]+)(?:_z*([0-9]+))?\.parquet")


class InputRows:
    """What the reader said of the input rows while curate read them, for split: the
    record formats of the inputs (format -> the first input holding it), the line of each row of a JSONL input (kept as the rows where the blank lines before a row
    change: a row's line is its row plus the offset of the last such row at or before it),
    and the rows whose value in a column is a JSON number the reader kept as the string of
    its value (Batch.number_text): a ``split.time`` so is a number, and such a column beside
    chunks where it is numbers one column. A staged run's sketch tasks keep it per input
    (:meth:`to_json`), and its finish merges them in input order (:meth:`merge`)."""

    def __init__(self) -> None:
        self.formats: dict[str, str] = {}
        self.starts: dict[str, list[int]] = {}  # JSONL input -> rows where the offset changes
        self.offsets: dict[str, list[int]] = {}  # ... and the offset (line - row) from there
        # input -> (first, last) rows of each batch with such columns, and the columns
        self.numbers: dict[str, list[tuple[int, int, frozenset[str]]]] = {}

    def add(self, batch: Any) -> None:
        rows = batch.rows
        n = len(rows)
        if not n:
            return
        self.formats.setdefault(str(batch.format), batch.source)
        if batch.lines is not None:
            offsets = pc.subtract(batch.lines, rows)
            # where a row's offset differs from the row's before it (blank lines between)
            changed = pc.not_equal(offsets.slice(1), offsets.slice(0, n - 1))
            at = [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())]
            starts = self.starts.setdefault(batch.source, [])
            held = self.offsets.setdefault(batch.source, [])
            for i in at:
                offset = offsets[i].as_py()
                if not held or held[-1] != offset:
                    starts.append(rows[i].as_py())
                    held.append(offset)
        if batch.number_text:
            first, last = rows[0].as_py(), rows[n - 1].as_py()
            self.numbers.setdefault(batch.source, []).append((first, last, batch.number_text))

    def to_json(self) -> dict[str, Any]:
        return {
            "formats": self.formats,
            "starts": self.starts,
            "offsets": self.offsets,
            "numbers": {
                file: [[first, last, sorted(columns)] for first, last, columns in ranges]
                for file, ranges in self.numbers.items()
            },
        }

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add what :meth:`to_json` wrote of other inputs (inputs read after these)."""
        for fmt, source in data["formats"].items():
            self.formats.setdefault(fmt, source)
        self.starts.update(data["starts"])
        self.offsets.update(data["offsets"])
        for file, ranges in data["numbers"].items():
            self.numbers[file] = [(first, last, frozenset(cols)) for first, last, cols in ranges]

    def line(self, file: str, row: int) -> int | None:
        """The 1-based line of row ``row`` of ``file``; None for a Parquet input."""
        starts = self.starts.get(file)
        k = bisect_right(starts, row) - 1 if starts else -1
        return row + self.offsets[file][k] if starts and k >= 0 else None

    def number(self, file: str, row: int, column: str) -> bool:
        ranges = self.numbers.get(file, [])
        k = bisect_right(ranges, row, key=lambda r: r[0]) - 1  # the last one starting at or before
        return k >= 0 and ranges[k][0] <= row <= ranges[k][1] and column in ranges[k][2]


class _KeptRecords:
    """Where a record of the output's ``kept/`` came from, for split's errors: the
    output does not exist after a failed run, so "kept record 3 of
    kept/part-00000.parquet" named no file the user has. ``kept/part-NNNNN`` holds input
    NNNNN's kept records in its order (``_0001`` and on continue it), and the temporary
    ``clusters.parquet`` each valid record's input row and status; ``inputs`` the line of
    an input row (JSONL), which split's own errors name (``data.jsonl:5``)."""

    def __init__(self, tmp: Path, stats: dict[str, Any], inputs: InputRows) -> None:
        self.tmp = tmp
        self.inputs = inputs
        self.files = [i.get("file") for i in stats.get("inputs", [])]
        self.rows: dict[str, list[int]] = {}  # input file -> its kept records' rows
        self.before: dict[str, int] = {}  # kept part -> kept records in parts before

    def file_of(self, source: str) -> str:
        """The input file kept part ``source`` holds records of (``source`` if none)."""
        name = _KEPT_PART.fullmatch(source)
        if name is None or int(name[1]) >= len(self.files) or self.files[int(name[1])] is None:
            return source
        return str(self.files[int(name[1])])

    def origin(self, source: str, row: int) -> tuple[str, int | None, int | None] | None:
        """The input file of row ``row`` of kept part ``source``, its row there, and
        its index among that input's kept records (None where unknown); None when
        ``source`` is no kept part."""
        name = _KEPT_PART.fullmatch(source)
        if name is None or int(name[1]) >= len(self.files):
            return None
        file = self.files[int(name[1])]
        try:
            before = self._before(source)
            kept = self._kept_rows(file)
        except (OSError, pa.ArrowException):
            kept, before = [], None
        if before is None:
            return file, None, None
        index = row + before
        return file, kept[index] if index < len(kept) else None, index

    def locate(self, source: str, row: int) -> str | None:
        found = self.origin(source, row)
        if found is None:
            return None
        file, input_row, index = found
        if input_row is not None:
            # As split names a row of its own inputs: the line of a JSONL input
            line = self.inputs.line(file, input_row)
            return f"{file}:{line}" if line is not None else f"{file} row {input_row}"
        if index is not None:
            return f"kept record {index} of {file} (from 0)"
        return f"a kept record of {file}"

    def number(self, source: str, row: int, column: str) -> bool:
        """Whether the ``column`` value of that kept record was a JSON number."""
        found = self.origin(source, row)
        if found is None or found[1] is None:
            return False
        return self.inputs.number(found[0], found[1], column)

    def _before(self, source: str) -> int | None:
        """The records of the kept parts before ``source`` of the same input."""
        if source not in self.before:
            part = Path(source).name
            first = part.split("_")[0].removesuffix(".parquet")
            self.before[source] = sum(
                pq.read_metadata(earlier).num_rows
                for earlier in (self.tmp / "kept").glob(f"{first}*.parquet")
                if earlier.name < part and earlier.name.startswith((f"{first}.", f"{first}_"))
            )
        return self.before[source]

    def _kept_rows(self, file: str) -> list[int]:
        if file not in self.rows:
            table = pq.read_table(
                self.tmp / "clusters.parquet", columns=["source_file", "source_row", "status"]
            )
            mask = pc.and_(
                pc.equal(table.column("status"), "kept"),
                pc.equal(table.column("source_file"), file),
            )
            self.rows[file] = table.column("source_row").filter(mask).to_pylist()
        return self.rows[file]
