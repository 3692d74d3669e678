"""A Parquet string column may hold bytes that are not UTF-8 (its writer did not check):
the row is quarantined with file, row and column, the other rows are read, and every
command says so instead of failing on the whole file (or crashing)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.io import read_batches


@pytest.fixture
def bad_parquet(tmp_path: Path) -> Path:
    prompts = pa.array(
        [b"hello there friend", b"caf\xe9 au lait", b"third row here", b"fourth \xed\xa0\x80"],
        pa.binary(),
    ).view(pa.string())
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"prompt": prompts, "completion": ["a", "b", "c", "d"]}), path)
    return path


def test_rows_with_invalid_utf8_are_quarantined_with_row_and_column(bad_parquet: Path) -> None:
    batches = list(read_batches([bad_parquet]))
    kept = [r for b in batches for r in b.rows.to_pylist()]
    quarantined = [q for b in batches for q in b.quarantined]
    assert kept == [0, 2]
    assert [(q.file, q.row) for q in quarantined] == [
        (bad_parquet.as_posix(), 1),
        (bad_parquet.as_posix(), 3),
    ]
    assert all("column 'prompt' is not valid UTF-8" in q.reason for q in quarantined)


@pytest.mark.parametrize(
    ("words", "code"),
    [
        (["check", "{f}", "--no-golden"], 1),
        (["split", "{f}", "--out", "{o}"], 0),
        (["curate", "{f}", "--out", "{o}", "--quiet"], 0),
    ],
)
def test_commands_read_the_valid_rows(
    bad_parquet: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    code: int,
) -> None:
    argv = [w.format(f=bad_parquet, o=tmp_path / "out") for w in words]
    assert main(argv) == code
    assert "internal error" not in capsys.readouterr().err
