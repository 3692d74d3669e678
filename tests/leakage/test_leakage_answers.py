"""A reference row's answer fields are items of their own: training on a benchmark's worked
solutions without its questions is a leak (it passed every scan: only the prompt was indexed)."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.leakage import LeakageIndex, detect

DATA = Path(__file__).resolve().parents[1] / "data"
GSM = [json.loads(line) for line in (DATA / "gsm8k_test_sample.jsonl").open(encoding="utf-8")]
CLEAN = {
    "prompt": "How do I cook pasta for dinner tonight?",
    "completion": "Boil water, add salt, cook the pasta for ten minutes, drain it and serve.",
}


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def long_answers(n: int) -> list[int]:
    """Rows of the GSM8K sample whose solution has at least 13 words, as leakage reads
    them: `=` between numbers is a word of its own (`3*3=9`, 3 words' worth)."""
    return [
        i for i, r in enumerate(GSM) if len(re.split(r"\s+|(?<=\d)=", r["answer"].strip())) >= 13
    ][:n]


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    return write(tmp_path / "golden" / "gsm8k.jsonl", GSM)


@pytest.fixture
def solutions(tmp_path: Path) -> tuple[Path, list[int]]:
    """Training rows holding three GSM8K solutions under made-up prompts, and clean rows."""
    rows = long_answers(3)
    train = [CLEAN]
    train += [
        {"prompt": f"Show a worked example ({k}).", "completion": GSM[i]["answer"]}
        for k, i in enumerate(rows)
    ]
    train.append({**CLEAN, "prompt": "Another question about pasta?"})
    return write(tmp_path / "train.jsonl", train), rows


def test_a_golden_answer_in_training_data_is_a_leak_of_its_item(
    golden: Path, solutions: tuple[Path, list[int]]
) -> None:
    train, rows = solutions
    result = detect(golden, train)
    assert [(leak.item.row, leak.item.part) for leak in result.leaks] == [
        (i, "answer") for i in rows
    ]
    assert [[m.row for m in leak.matches] for leak in result.leaks] == [[1], [2], [3]]
    assert all(leak.methods == ("ngram",) for leak in result.leaks)
    assert result.leaked_reference_items == 3 and result.contaminated_records == 3
    assert len(result.items) == len(GSM)  # the prompts: what "N reference items" counts
    assert len(result.answer_items) == len(long_answers(len(GSM)))
    # Without answers (the behaviour before): nothing found.
    assert detect(golden, train, answers=False).leaks == []


def test_a_row_found_by_prompt_and_answer_counts_once(tmp_path: Path, golden: Path) -> None:
    [i] = long_answers(1)
    train = write(
        tmp_path / "t.jsonl", [{"prompt": GSM[i]["question"], "completion": GSM[i]["answer"]}]
    )
    result = detect(golden, train)
    assert sorted(leak.item.part for leak in result.leaks) == ["answer", "prompt"]
    assert result.leaked_reference_items == 1 and result.by_method()["ngram"] == 1
    doc = result.to_dict()
    assert doc["summary"]["leaked_reference_items"] == 1
    assert doc["reference"]["items"] == len(GSM) and doc["config"]["answers"] is True


def test_short_answers_labels_and_stock_phrases_flag_nothing(tmp_path: Path) -> None:
    # An answer shorter than the n-gram (a label, a number, an eight-word phrase) is not
    # indexed: "positive" is the whole of many strings, and no answer is matched exactly.
    golden = write(
        tmp_path / "g.jsonl",
        [
            {
                "prompt": "Review: the film was a delight from start to end.",
                "reference": "positive",
            },
            {"prompt": "What is 6 times 7, the product?", "reference": "42"},
            {"prompt": "Say no politely.", "reference": "I am sorry but I cannot help with that."},
        ],
    )
    train = write(
        tmp_path / "t.jsonl",
        [
            {"prompt": "Label this review.", "completion": "positive"},
            {"prompt": "Compute.", "completion": "42"},
            {"prompt": "Refuse.", "completion": "I am sorry but I cannot help with that."},
        ],
    )
    result = detect(golden, train)
    assert result.leaks == [] and result.answer_items == []


def test_an_answer_shared_by_many_items_is_boilerplate(tmp_path: Path) -> None:
    refusal = (
        "I am sorry, but I cannot help with that request. If you have any other questions, "
        "feel free to ask and I will do my best."
    )
    golden = write(
        tmp_path / "g.jsonl",
        [
            {"prompt": f"Harmful request number {k} about topic {k * 7}.", "reference": refusal}
            for k in range(12)
        ],
    )
    train = write(tmp_path / "t.jsonl", [{"prompt": "Do something bad.", "completion": refusal}])
    assert detect(golden, train).leaks == []
    # Fewer than --max-ngram-items items sharing it: their answer, word for word.
    assert len(detect(golden, train, max_ngram_items=20).leaks) == 12
    # 0 is no bar at all (it dropped every answer).
    assert len(detect(golden, train, max_ngram_items=0).leaks) == 12


def test_preference_responses_and_nested_answers_are_indexed(tmp_path: Path) -> None:
    [i, j] = long_answers(2)
    pref = [{"prompt": GSM[i]["question"], "chosen": GSM[i]["answer"], "rejected": "no idea"}]
    write(tmp_path / "golden" / "pref.jsonl", pref)
    squad = [{"question": GSM[j]["question"], "answers": {"text": [GSM[j]["answer"]]}}]
    write(tmp_path / "golden" / "squad.jsonl", squad)
    train = write(
        tmp_path / "t.jsonl",
        [{"text": f"Worked: {GSM[i]['answer']}"}, {"text": f"Also: {GSM[j]['answer']}"}],
    )
    found = [
        (Path(k.item.file).name, k.item.part) for k in detect(tmp_path / "golden", train).leaks
    ]
    assert found == [("pref.jsonl", "answer"), ("squad.jsonl", "answer")]


def test_answers_survive_pickling_for_workers(
    golden: Path, solutions: tuple[Path, list[int]]
) -> None:
    train, rows = solutions
    index = LeakageIndex.build(golden)
    again = pickle.loads(pickle.dumps(index))
    from curagate.io import read_batches

    [batch] = list(read_batches([train]))
    assert again.scan_batch(batch).leaked.to_pylist() == index.scan_batch(batch).leaked.to_pylist()
    assert again.scan_batch(batch).leaked.to_pylist() == [False, True, True, True, False]
    assert (
        again.scan_batch(batch).reference_ids.to_pylist()[1]
        == f"{golden.as_posix()}:{rows[0]} (answer)"
    )


def test_check_curate_and_the_cli_find_answers(
    tmp_path: Path,
    golden: Path,
    solutions: tuple[Path, list[int]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    train, rows = solutions
    assert main(["check", str(train), "--golden", str(golden.parent)]) == 1
    out = capsys.readouterr().out
    assert f"gsm8k.jsonl row {rows[0]} (answer)" in out
    result = curate(
        [train], tmp_path / "cur", decontaminate__reference=[str(golden)], progress=False
    )
    assert result.removed.get("leakage") == 3 and result.kept == 2
    kept_off = curate(
        [train],
        tmp_path / "cur2",
        decontaminate__reference=[str(golden)],
        decontaminate__answers=False,
        progress=False,
    )
    assert kept_off.kept == 5
    argv = ["leakage", "--reference", str(golden), "--corpus", str(train), "--fail-on-leak"]
    assert main([*argv, "--out", str(tmp_path / "r1")]) == 1
    assert "reference items: 20 (and " in capsys.readouterr().out
    assert main([*argv, "--out", str(tmp_path / "r2"), "--no-answers"]) == 0
    doc = json.loads((tmp_path / "r1" / "leakage.json").read_text(encoding="utf-8"))
    assert {leak["reference"]["part"] for leak in doc["leaks"]} == {"answer"}
    md = (tmp_path / "r1" / "leakage.md").read_text(encoding="utf-8")
    assert f"row {rows[0]}, its answer" in md


def test_an_answer_in_a_script_written_without_spaces_is_indexed(tmp_path: Path) -> None:
    # Han has no spaces: an answer of 40 characters is one "word" to str.split().
    answer = "小明有十二个苹果\uff0c他给了小红五个\uff0c又买了八个\uff0c所以他现在一共有十五个苹果。答案是十五。"
    golden = write(tmp_path / "g.jsonl", [{"prompt": "小明有几个苹果\uff1f", "reference": answer}])
    train = write(tmp_path / "t.jsonl", [{"prompt": "例题", "completion": answer}])
    result = detect(golden, train)
    assert [(k.item.part, [m.row for m in k.matches]) for k in result.leaks] == [("answer", [0])]
    assert len(result.answer_items) == 1


def test_a_golden_answer_copied_without_its_calculator_marks_is_a_leak(
    tmp_path: Path, golden: Path
) -> None:
    # Found by attack: GSM8K's `<<16-3-4=9>>` annotations crossed every n-gram of a copy
    # written without them (as most reuses strip them): 6 of 20 answers matched nothing.
    # A copy with them is found too, and the clean rows stay clean.
    rows = long_answers(20)
    bare = [re.sub(r"<<[^<>\n]*>>", "", GSM[i]["answer"]) for i in rows]
    train = [CLEAN, *({"prompt": "Explain.", "completion": a} for a in bare)]
    train.append({"prompt": "Explain.", "completion": GSM[rows[0]]["answer"]})
    result = detect(golden, write(tmp_path / "bare.jsonl", train))
    found = {m.row for leak in result.leaks for m in leak.matches}
    assert found == set(range(1, len(train)))
