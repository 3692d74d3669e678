"""`curate --split` staged (`--work-dir`; `--executor ray` runs the same stages) splits as
the one-process run does, and says so in the same words.

Found by review: the stages did not pass on what the reader said of the input rows, so a
staged run read a JSON number column the reader keeps as strings as strings (19700101
was a date beside the column's numbers: refused, where one process split), named a JSONL
row `t.jsonl row 1` where one process names its line `t.jsonl:2`, and named the kept parts
(`kept/part-00000.parquet`), which a failed run leaves nowhere, for inputs of several
formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.cli import main


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def row(text: str, t: str) -> str:
    return json.dumps({"text": text})[:-1] + f', "t": {t}}}'


def curate_both(
    inputs: list[Path], tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, dict[str, bytes], int, str, dict[str, bytes]]:
    """Exit, stderr and splits/ files of the one-process run and of the staged one, both
    into the same --out (the manifest names it)."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(config, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["curate", *map(str, inputs), "--out", str(out), "--config", str(cfg)]
    results = []
    for extra in ([], ["--work-dir", str(tmp_path / "work")]):
        capsys.readouterr()
        code = main([*argv, *extra])
        err = capsys.readouterr().err
        files = (
            {p.name: p.read_bytes() for p in sorted((out / "splits").iterdir())}
            if code == 0
            else {}
        )
        results += [code, err, files]
    return tuple(results)  # type: ignore[return-value]


SPLIT_TIME = "split:\n  enabled: true\n  time: t\n  ratios: [1, 1, 1]\n"


@pytest.mark.parametrize(
    ("batch_rows", "lines"),
    [
        # A chunk the reader keeps as strings (an integer past int64), then JSON strings.
        (2, ["18446744073709551617", "19700101", '"1700000000.5"']),
        # A row a chunk: then int64, then a double; one column of the numbers' strings.
        (1, ["18446744073709551617", "19700101", "1500000000.5"]),
    ],
    ids=["beside-strings", "beside-numbers"],
)
@pytest.mark.slow
def test_staged_splits_a_number_column_kept_as_strings_byte_identically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], batch_rows: int, lines: list[str]
) -> None:
    texts = ["first distinct words", "second other words", "third more words"]
    src = write(tmp_path / "t.jsonl", [row(x, t) for x, t in zip(texts, lines, strict=True)])
    one, one_err, one_files, staged, staged_err, staged_files = curate_both(
        [src], tmp_path, f"batch_rows: {batch_rows}\n" + SPLIT_TIME, capsys
    )
    assert (one, staged) == (0, 0), one_err + staged_err
    assert set(one_files) == {
        "train.parquet",
        "val.parquet",
        "test.parquet",
        "split_manifest.json",
        ".curagate-output.json",
    }
    assert staged_files == one_files


def test_staged_errors_name_the_input_line_as_one_process_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The string "19700101" is a date beside the JSON numbers of the chunk before it
    # (chunks of two lines), on line 4 after a blank line. Staged, it was "t.jsonl row 2",
    # the number "t.jsonl row 0", and the number 19700101 itself a date.
    src = write(
        tmp_path / "t.jsonl",
        [
            row("first distinct words", "18446744073709551617"),
            row("second other words", "19700101"),
            "",
            row("third more words", '"19700101"'),
        ],
    )
    one, one_err, _, staged, staged_err, _ = curate_both(
        [src], tmp_path, "batch_rows: 2\n" + SPLIT_TIME, capsys
    )
    assert (one, staged) == (2, 2)
    assert f"{src.as_posix()}:4: split.time column 't' has '19700101', eight digits" in one_err
    assert f"a number such as '18446744073709551617' ({src.as_posix()}:1)" in one_err
    assert staged_err == one_err
    assert not (tmp_path / "out").exists()


def test_staged_names_the_inputs_of_several_formats_as_one_process_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = write(
        tmp_path / "a.jsonl",
        [
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "hi there friend"},
                        {"role": "assistant", "content": "hello you"},
                    ]
                }
            )
        ],
    )
    text = write(tmp_path / "b.jsonl", [row("some distinct words", "1")])
    one, one_err, _, staged, staged_err, _ = curate_both([chat, text], tmp_path, SPLIT_TIME, capsys)
    assert (one, staged) == (2, 2)
    assert f"several formats: chat ({chat.as_posix()}), text ({text.as_posix()})" in one_err
    assert staged_err == one_err
