"""curate --decontaminate removes records that contain golden/test items."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.curate import curate
from tests.curate.conftest import DATA, t0_records


def gsm8k(n: int) -> list[dict[str, str]]:
    with (DATA / "gsm8k_test_sample.jsonl").open() as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


def test_planted_test_items_are_removed_with_reason_leakage(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    items = gsm8k(20)
    ref = write_jsonl("ref/gsm8k.jsonl", [{"text": it["question"]} for it in items])
    clean = t0_records(200)
    planted = [
        {"prompt": "Solve this problem step by step.\n" + items[3]["question"], "completion": "42"},
        {"prompt": items[7]["question"].upper(), "completion": items[7]["answer"]},
    ]
    corpus = write_jsonl("corpus.jsonl", clean[:100] + planted + clean[100:])
    result = curate([corpus], tmp_path / "out", decontaminate__reference=[str(ref)])

    assert result.removed.get("leakage") == 2
    assert result.input_rows == result.kept + result.removed_total + result.quarantined
    removed = pq.read_table(tmp_path / "out" / "removed" / "part-00000.parquet").to_pylist()
    leaked = [r for r in removed if r["reason"] == "leakage"]
    assert sorted(r["source_row"] for r in leaked) == [100, 101]
    assert {r["leaked_reference_id"] for r in leaked} == {
        f"{ref.as_posix()}:3",
        f"{ref.as_posix()}:7",
    }
    assert all(r["kept_id"] is None and r["leak_method"] for r in leaked)
    kept = (
        pq.read_table(tmp_path / "out" / "kept" / "part-00000.parquet").column("prompt").to_pylist()
    )
    assert not any(items[3]["question"] in p for p in kept)
    assert result.stats["steps"]["decontaminate"]["removed"] == 2


def test_leaked_record_never_survives_a_cluster(write_jsonl: Callable, tmp_path: Path) -> None:
    item = gsm8k(1)[0]["question"]
    ref = write_jsonl("ref.jsonl", [{"text": item}])
    # The leaked copy comes first: without care it would be the cluster's survivor.
    corpus = write_jsonl("c.jsonl", [{"text": item}, {"text": item + " Think carefully."}])
    result = curate(
        [corpus], tmp_path / "out", decontaminate__reference=[str(ref)], near__threshold=0.99
    )
    assert result.removed == {"leakage": 2}


def test_missing_reference_is_an_input_error(write_jsonl: Callable, tmp_path: Path) -> None:
    import pytest

    from curagate.errors import InputError

    corpus = write_jsonl("c.jsonl", [{"text": "hello world"}])
    with pytest.raises(InputError, match=r"nope\.jsonl"):
        curate([corpus], tmp_path / "out", decontaminate__reference=[str(tmp_path / "nope.jsonl")])


def test_an_out_inside_the_reference_folder_is_refused(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Found by attack: accepted, and the same command run again read the output's
    # clusters.parquet as golden items (exit 2 with an unrelated format error).
    import pytest

    from curagate.errors import InputError

    corpus = write_jsonl("c.jsonl", [{"text": "hello world of many words"}])
    golden = tmp_path / "golden"
    golden.mkdir()
    (golden / "set.jsonl").write_text(json.dumps({"id": "a", "prompt": "a golden question"}) + "\n")
    with pytest.raises(InputError, match=r"is inside the --decontaminate reference folder"):
        curate([corpus], golden / "out", decontaminate__reference=[str(golden)])
    assert not (golden / "out").exists()
    # a reference folder's `_`/`.` folders are read too (a golden set under `_holdout/` was
    # passed by): an output there would be read back as well; a .git folder is not read
    for hidden in ("_out", ".cache/out"):
        with pytest.raises(InputError, match=r"is inside the --decontaminate reference folder"):
            curate([corpus], golden / hidden, decontaminate__reference=[str(golden)])
        assert not (golden / hidden).exists()
    curate([corpus], golden / ".git" / "out", decontaminate__reference=[str(golden)])


@pytest.mark.slow
def test_items_outside_the_key_are_removed_as_leakage_finds_them(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    item = gsm8k(1)[0]["question"]
    ref = write_jsonl("ref.jsonl", [{"text": item}])
    # Keyed by the prompt, trained on `chosen`; and an item in an extra `system` column.
    pref = write_jsonl(
        "pref.jsonl",
        [
            {"prompt": "What is the capital of France?", "chosen": item, "rejected": "no idea"},
            {"prompt": "Tell me something", "chosen": "ok", "rejected": "sure"},
        ],
    )
    extra = write_jsonl(
        "pc.jsonl",
        [
            {"prompt": "hello there", "completion": "general kenobi"},
            {"prompt": "hi", "completion": "hey", "system": item},
        ],
    )
    for corpus, row in ((pref, 0), (extra, 1)):
        for staged in (False, True):  # one process, and the staged pipeline's sketch stage
            out = tmp_path / f"{corpus.stem}-{staged}"
            kw: dict[str, Any] = {"decontaminate__reference": [str(ref)], "progress": False}
            if staged:
                kw.update(executor="local", work_dir=tmp_path / "work" / out.name)
            result = curate([corpus], out, **kw)
            assert result.removed == {"leakage": 1}, (corpus.name, staged)
            removed = pq.read_table(out / "removed" / "part-00000.parquet").to_pylist()
            assert [r["source_row"] for r in removed] == [row]


def test_unreadable_reference_row_is_an_input_error(write_jsonl: Callable, tmp_path: Path) -> None:
    import pytest

    from curagate.errors import InputError

    ref = write_jsonl("ref.jsonl", [{"text": gsm8k(1)[0]["question"]}, '{"text": "cut'])
    corpus = write_jsonl("c.jsonl", [{"text": "hello world"}])
    with pytest.raises(InputError, match=rf"{ref.as_posix()}:2: .*reference set"):
        curate([corpus], tmp_path / "out", decontaminate__reference=[str(ref)])


def test_a_math_style_reference_is_read_by_its_problem_field(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Found by attack: a `problem`/`solution` reference (MATH's fields) was exit 2 with
    # "pass --reference-text-field NAME or --reference-format", options curate does not have.
    import pytest

    from curagate.errors import InputError

    problem = "Let f of x equal two x plus three and find the value of f at seven please"
    ref = write_jsonl("ref/math.jsonl", [{"problem": problem, "solution": "17"}])
    corpus = write_jsonl(
        "corpus.jsonl", [*t0_records(30), {"prompt": problem, "completion": "seventeen"}]
    )
    result = curate([corpus], tmp_path / "out", decontaminate__reference=[str(ref)])
    assert result.removed.get("leakage") == 1
    odd = write_jsonl("ref/odd.jsonl", [{"task": problem, "gold": "17"}])
    with pytest.raises(
        InputError,
        match=r"with `curagate leakage`, pass --reference-text-field "
        r".*elsewhere .*rename the field .* problem",
    ):
        curate([corpus], tmp_path / "out2", decontaminate__reference=[str(odd)])


def test_an_out_inside_a_cache_folder_is_no_reference_folder(
    write_jsonl: Callable, tmp_path: Path
) -> None:
    # Found by the re-attack: the refusal above was applied to every folder a run names
    # (semantic.cache_dir, split's --cache-dir, the gate's), which it never reads back.
    from curagate.io.outputs import check_output

    corpus = write_jsonl("c.jsonl", [{"text": "hello world of many words"}])
    cache = tmp_path / "cache"
    cache.mkdir()
    keep = [("semantic.cache_dir", cache)]
    claim = check_output(cache / "out", "curate", [corpus], [corpus], keep)
    assert claim.path == cache / "out"
