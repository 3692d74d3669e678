"""Property tests of the JSONL and decompression paths: arbitrary lines and damaged
streams never crash the reader, and every record is either kept or quarantined.

Kept brief (a few dozen examples each) so the suite stays fast; raise
``CURAGATE_FUZZ_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path

import pytest
import zstandard

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from curagate.errors import InputError  # noqa: E402
from curagate.io import read_batches  # noqa: E402

EXAMPLES = int(os.environ.get("CURAGATE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
good_line = st.builds(
    lambda text, extra: json.dumps({"text": text, **extra}).encode(),
    st.text(min_size=1, max_size=40),
    st.dictionaries(st.sampled_from(["id", "meta", "n"]), json_values, max_size=2),
)
deep_line = st.builds(
    lambda n, opener: b'{"text": "d", "a": ' + opener[0] * n + opener[1] * n + b"}",
    st.integers(100, 6000),
    st.sampled_from([(b"[", b"]"), (b'{"k":', b"}")]),
)
junk_line = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))
lines = st.lists(st.one_of(good_line, good_line, deep_line, junk_line), min_size=1, max_size=40)


def _records(data: bytes) -> int:
    # A UTF-8 byte-order mark opening the file is an encoding marker, not content: a file
    # holding only a BOM and a newline has one blank line and no record.
    data = data.removeprefix(b"\xef\xbb\xbf")
    return sum(1 for line in data.split(b"\n") if line.strip())


def _read(path: Path, batch_rows: int) -> tuple[int, int, int]:
    kept = quarantined = file_level = 0
    for batch in read_batches([path], format="text", batch_rows=batch_rows):
        kept += batch.table.num_rows
        for q in batch.quarantined:
            if q.row is None:
                file_level += 1
            else:
                quarantined += 1
    return kept, quarantined, file_level


@pytest.mark.slow
@FUZZ
@given(lines=lines, batch_rows=st.integers(1, 16))
@example(lines=[b"\xef\xbb\xbf"], batch_rows=1)  # a file that is only a byte order mark
@example(lines=[b"PAR1"], batch_rows=1)  # Parquet's magic, yet no Parquet file (CI, stop 42)
@example(lines=[b"(\xb5/\xfd", b"\x1f\x8bjunk"], batch_rows=1)  # zstd's, gzip's
def test_arbitrary_jsonl_lines_are_kept_or_quarantined(
    tmp_path: Path, lines: list[bytes], batch_rows: int
) -> None:
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    try:
        kept, quarantined, file_level = _read(path, batch_rows)
    except InputError:
        return  # e.g. no record has the field the format needs: exit 2, one line
    assert file_level == 0
    assert kept + quarantined == _records(data)


@FUZZ
@given(
    rows=st.lists(good_line, min_size=1, max_size=200),
    codec=st.sampled_from(["gz", "zst"]),
    frames=st.integers(1, 5),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=3),
)
def test_damaged_streams_never_crash_and_lose_nothing_silently(
    tmp_path: Path,
    rows: list[bytes],
    codec: str,
    frames: int,
    cut: float,
    flips: list[tuple[float, int]],
) -> None:
    step = -(-len(rows) // frames)
    parts = [b"".join(r + b"\n" for r in rows[i : i + step]) for i in range(0, len(rows), step)]
    compress = gzip.compress if codec == "gz" else zstandard.ZstdCompressor().compress
    packed = [compress(p) for p in parts]
    whole = b"".join(packed)
    damaged = bytearray(whole[: max(1, int(len(whole) * cut))])
    # A cut exactly between two members/frames leaves a whole, shorter file: nothing in
    # it can tell, and the rows of the frames before the cut are all there is to read.
    ends = list(itertools.accumulate(len(p) for p in packed))
    rows_before = {end: min(len(rows), step * (i + 1)) for i, end in enumerate(ends)}
    for where, value in flips:
        damaged[min(len(damaged) - 1, int(len(damaged) * where))] = value
    path = tmp_path / f"f.jsonl.{codec}"
    path.write_bytes(bytes(damaged))

    try:
        kept, quarantined, file_level = _read(path, 7)
    except InputError:
        # Also not silent: damage that renames a field of every row read so far (gzip's CRC
        # is only checked at the end of a member) is a one-line input error, exit 2.
        return
    if file_level == 0:
        # No damage reported: every row was read (a flip that decodes to the same
        # byte, or a cut after the last byte of data), or every row before a cut
        # between frames.
        assert kept + quarantined in (len(rows), rows_before.get(len(damaged)))
    else:
        assert file_level == 1
        assert kept + quarantined <= len(rows) + 64  # garbage may decode to a few lines
