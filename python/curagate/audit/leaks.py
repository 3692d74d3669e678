"""Golden-set leakage for audit and check: one reference index, scanned per batch.

The index is :class:`curagate.leakage.LeakageIndex` (exact + n-gram), built
from the golden sets' data files the way ``curagate leakage`` reads them
(records of a known format, or items with their text in ``prompt``,
``question``, ...), so a leak means the same everywhere; scanning happens
inside the caller's single pass over the data, of the same text
``curagate leakage`` scans: each record's key and every other string it holds
(:func:`curagate.leakage.texts.row_texts`). A golden row that cannot be read is
an input error (exit 2): its item would otherwise never be looked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curagate.errors import InputError

if TYPE_CHECKING:
    from curagate.leakage import LeakageIndex, RowTexts
    from curagate.records import Quarantined

CHECK_METHODS = ("exact", "ngram")
OUTSIDE_KEY = "outside the record's key (in a response, a message's other fields or another column)"


def golden_files(paths: Sequence[str | Path]) -> list[Path]:
    """Data files of the golden sets: files as given, directories walked as every reader
    walks its inputs (``expand_inputs``: linked folders followed, anything unreadable an
    error) but for names (``_``/``.`` entries are read too, version-control folders
    excepted), and their ``.json`` files of records (an lm-eval suite's data; a ``.json``
    document of items in another shape is refused: :func:`~curagate.io.readers.reference_inputs`), so `check` and
    `audit` index the items that `leakage` and `curate --decontaminate` index."""
    from curagate.io.readers import reference_inputs

    for p in map(Path, paths):
        if not p.exists():
            raise InputError(f"golden set {p}: no such file or directory")
    return reference_inputs(list(paths)) if paths else []


def build_index(
    paths: Sequence[str | Path], *, ngram: int = 13, fix: str | None = None
) -> LeakScan | None:
    """An exact + n-gram index over every golden item; None when there is none. Loaded
    from the cache of built indexes where these golden files were indexed before
    (:mod:`curagate.leakage.cache`).

    Raises :class:`InputError` when a golden row cannot be read (file:line named). With
    ``fix`` (how the command's user names other golden sets), a folder with no golden
    item is an error naming it and ``fix`` (the leakage module's message names
    ``--reference``, a flag of `curagate leakage`).
    """
    from curagate.io.readers import _SUPPORTED_TEXT
    from curagate.leakage import EmptyReferenceError, LeakageIndex
    from curagate.leakage.cache import cached_index

    try:
        files = golden_files(paths)
        if not files:
            return None
        index, _ = cached_index(
            files,
            {"ngram": ngram, "methods": CHECK_METHODS},
            lambda: LeakageIndex.build(files, ngram=ngram, methods=CHECK_METHODS),
        )
    except InputError as e:
        empty_dir = str(e).endswith(f": directory has no {_SUPPORTED_TEXT} file")
        if fix is None or not (empty_dir or isinstance(e, EmptyReferenceError)):
            raise
        what = f"no {_SUPPORTED_TEXT} file" if empty_dir else "no valid record in its files"
        # The folder the reader found empty (of several, the first was named).
        where = (
            str(e).split(": directory has no ")[0]
            if empty_dir
            else ", ".join(Path(p).as_posix() for p in paths)
        )
        raise InputError(
            f"{where}: no golden item to check leakage against ({what}); add golden sets "
            f"there, {fix}"
        ) from None
    index.refuse_unreadable()
    return LeakScan(index)


@dataclass(slots=True)
class LeakScan:
    """Leaks found while streaming the data through a golden index."""

    index: LeakageIndex
    items_hit: set[int] = field(default_factory=set)

    def scan_quarantined(
        self, rows: Sequence[Quarantined], items_hit: set[int] | None = None
    ) -> list[tuple[Quarantined, str]]:
        """Quarantined rows holding a golden item, each with what leaked: every string of
        such a row is scanned, as ``curagate leakage`` scans it, so a leaked record is a
        LEAK001 whatever else is wrong with it (an empty completion is not the whole story:
        filling it in leaves the leak)."""
        import pyarrow as pa

        from curagate.leakage import RowTexts, quarantined_texts

        texts, places, _ = quarantined_texts(rows)
        if not texts:
            return []
        found = self.scan(RowTexts(pa.array(texts, pa.large_string()), None), items_hit)
        by_place = {(q.file, q.row): q for q in rows}
        return [
            (by_place[(places[i].file, places[i].row)], what) for i, what in sorted(found.items())
        ]

    def scan(self, texts: RowTexts, items_hit: set[int] | None = None) -> dict[int, str]:
        """Leaking rows of one batch: {row in batch: what leaked (item id, methods,
        and where when outside the key)}.

        The golden items hit are added to ``items_hit`` (default: this scan's
        own set; the audit passes each shard's, so shards can be merged).
        """
        hit = self.items_hit if items_hit is None else items_hit
        found: dict[int, str] = {}
        for t in self.index.scan_texts(texts):
            leak = t.leak
            hit.add(self.index.row_item(leak.item))  # a row's prompt and answer: one item
            if leak.record not in found:
                how = "+".join(leak.methods)
                where = "" if t.in_key else f" {OUTSIDE_KEY}"
                found[leak.record] = (
                    f"golden item {self.index.items[leak.item].named()} ({how}){where}"
                )
        return found
