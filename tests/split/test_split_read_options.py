"""The leakage engine's scan of the splits reads the rows as the run read them: with its
``--format`` and ``--text-field`` (or the config's). Found by attack: `split --text-field
question`, `curate --text-field question --split` and `curate --format prompt_only --split`
exited 2, nothing written, naming a temporary file the user never gave
(``/tmp/curagate-split-check-XXXX/train.parquet: cannot tell the record format``): the
engine re-detected the format of the splits it had written from their columns."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.split import verify_split_files, verify_splits

SPLITS = ("train", "val", "test")
TEMPORARY = "curagate-split-check-"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def apple_rows(text: str, answer: str, n: int = 30) -> list[dict[str, Any]]:
    """Records of a question in ``text`` and its answer in ``answer``."""
    return [
        {
            text: f"{text} {i}: how many apples does person {i} have after buying "
            f"{i * 3} more at store {i % 7}?",
            answer: str(i),
        }
        for i in range(n)
    ]


def gsm8k_rows(n: int = 30) -> list[dict[str, Any]]:
    """GSM8K-style {question, answer} records: no column names a record format."""
    return apple_rows("question", "answer", n)


def prompt_response_rows(n: int = 30) -> list[dict[str, Any]]:
    """{prompt, response} records: read as prompt_only (`response` is not `completion`)."""
    return apple_rows("prompt", "response", n)


def split_rows(out: Path) -> dict[str, int]:
    return {name: pq.read_table(out / f"{name}.parquet").num_rows for name in SPLITS}


def test_split_with_text_field_scans_the_splits_by_that_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "q.jsonl", gsm8k_rows())
    out = tmp_path / "sp"
    assert main(["split", str(data), "--text-field", "question", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert TEMPORARY not in err and "cannot tell the record format" not in err
    assert sum(split_rows(out).values()) == 30
    manifest = json.loads((out / "split_manifest.json").read_text())
    assert manifest["verification"]["passed"] is True


def test_curate_split_with_text_field_writes_its_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "q.jsonl", gsm8k_rows())
    out = tmp_path / "out"
    argv = ["curate", str(data), "--text-field", "question", "--split", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert TEMPORARY not in capsys.readouterr().err
    assert sum(split_rows(out / "splits").values()) == 30


def test_curate_split_with_the_config_text_field_writes_its_splits(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "q.jsonl", gsm8k_rows())
    config = tmp_path / "curate.yaml"
    config.write_text("text_field: question\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["curate", str(data), "--config", str(config), "--split", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert sum(split_rows(out / "splits").values()) == 30
    # split's --config too
    sp = tmp_path / "sp"
    assert main(["split", str(data), "--config", str(config), "--out", str(sp)]) == 0
    assert sum(split_rows(sp).values()) == 30


def test_curate_split_with_format_prompt_only_writes_its_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "pr.jsonl", prompt_response_rows())
    out = tmp_path / "o4"
    argv = ["curate", str(data), "--format", "prompt_only", "--split", "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    assert TEMPORARY not in capsys.readouterr().err
    assert sum(split_rows(out / "splits").values()) == 30
    sp = tmp_path / "sp"
    assert main(["split", str(data), "--format", "prompt_only", "--out", str(sp)]) == 0


def quoted_questions(n: int) -> list[dict[str, Any]]:
    """Ten-word questions, each also quoted whole inside a 70-word question: no 13-gram,
    a low Jaccard; only the leakage engine's scan (by span) finds the pair."""
    rng = random.Random(8)
    vocab = [f"tok{i}" for i in range(4000)]

    def words(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(k))

    rows: list[dict[str, Any]] = []
    for i in range(n):
        item = words(10)
        rows.append({"id": f"s{i}", "question": item, "answer": str(i)})
        quote = f"{words(30)} {item} {words(30)}"
        rows.append({"id": f"L{i}", "question": quote, "answer": str(i)})
    rng.shuffle(rows)
    return rows


def test_the_scan_reads_the_text_field_of_both_sides(tmp_path: Path) -> None:
    """The scan finds a val/test question quoted in a train one (the reference side and
    the corpus side read by --text-field), and, joined before assignment, keeps them
    together."""
    data = write_jsonl(tmp_path / "q.jsonl", quoted_questions(60))
    out = tmp_path / "so"
    argv = ["split", str(data), "--text-field", "question"]
    assert main([*argv, "--out", str(out), "--fail-on-leak"]) == 1
    v = json.loads((out / "split_manifest.json").read_text())["verification"]
    assert v["leakage_scan"]["rows"] > 0
    joined = tmp_path / "sj"
    assert main([*argv, "--out", str(joined), "--shared-passages", "join", "--fail-on-leak"]) == 0
    m = json.loads((joined / "split_manifest.json").read_text())
    assert m["join"]["leakage_links"] == 60 and m["verification"]["leaks_total"] == 0
    where = {
        r["id"]: name
        for name in SPLITS
        for r in pq.read_table(joined / f"{name}.parquet").to_pylist()
    }
    assert all(where[f"s{i}"] == where[f"L{i}"] for i in range(60))


def test_verify_split_files_reads_the_splits_by_the_text_field(tmp_path: Path) -> None:
    rows = quoted_questions(3)
    by_id = {r["id"]: r for r in rows}
    train = write_jsonl(tmp_path / "train.jsonl", [by_id[f"L{i}"] for i in range(3)])
    val = write_jsonl(tmp_path / "val.jsonl", [by_id["s0"], by_id["s1"]])
    test = write_jsonl(tmp_path / "test.jsonl", [by_id["s2"]])
    report = verify_split_files(train, val, test, text_field="question")
    assert report["leakage_scan"]["rows"] == 3


def test_a_failed_scan_names_the_split_and_the_input_never_a_temporary_file() -> None:
    """Records whose columns name no format, given to verify_splits without saying how to
    read them: the engine cannot read them, and says which split of what, not which
    temporary file; with text_field it reads them."""
    qs = [r["question"] for r in gsm8k_rows(6)]
    keys = [qs[:4], qs[4:5], qs[5:]]
    ids = [["a", "b", "c", "d"], ["e"], ["f"]]
    records = [pa.table({"question": k, "answer": ["1"] * len(k)}) for k in keys]
    with pytest.raises(InputError) as e:
        verify_splits(keys, ids, records_by_split=records)
    message = str(e.value)
    assert TEMPORARY not in message and ".parquet" not in message
    assert (
        "split's leakage scan of the val, test and train splits of the records given "
        "(records_by_split; say how to read them: format=, text_field=) failed" in message
    )
    assert "the train split: cannot tell the record format" in message
    report = verify_splits(keys, ids, records_by_split=records, text_field="question")
    assert report["leaks_total"] == 0


PASSAGE = (
    "the old lighthouse keeper counted the ships that passed each night and wrote their "
    "names in a ledger bound with red cloth that he kept under the loose floorboard"
)


def context_rows(key: str) -> list[dict[str, Any]]:
    """Rows whose ``context`` is read by no format (a SQuAD-style passage beside the text
    the run reads), and one row that holds a passage in the text the run reads."""
    rng = random.Random(3)
    vocab = [f"w{i}" for i in range(3000)]

    def words(k: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(k))

    def record(text: str) -> Any:
        if key == "messages":
            return [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]
        return text

    rows = [{"id": f"c{i}", key: record(words(12)), "context": words(40)} for i in range(40)]
    rows[0]["context"] = PASSAGE
    rows.append({"id": "copy", key: record(f"{words(20)} {PASSAGE} {words(20)}"), "context": ""})
    return rows


@pytest.mark.parametrize(
    ("key", "options"),
    [("question", {"text_field": "question"}), ("messages", {"format": "chat"})],
)
def test_every_text_of_a_reference_row_is_still_an_item(
    tmp_path: Path, key: str, options: dict[str, str]
) -> None:
    """Read by the run's field or format, a val row's other texts (its `context`) are
    items all the same, as in a run without a text field or format: a train record that
    copies one is a leak."""
    rows = {r["id"]: r for r in context_rows(key)}
    train = write_jsonl(tmp_path / "train.jsonl", [rows["copy"], *(rows[f"c{i}"] for i in (5, 6))])
    val = write_jsonl(tmp_path / "val.jsonl", [rows["c0"], rows["c1"]])
    test = write_jsonl(tmp_path / "test.jsonl", [rows["c2"]])
    report = verify_split_files(train, val, test, **options)
    assert report["leakage_scan"]["rows"] == 1
    example = report["leakage_scan"]["examples"][0]
    assert (example["id"], example["in_id"]) == ("c0", "copy")
