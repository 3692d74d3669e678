"""A reference item of other media than a corpus row's is no leak of it, in every command
the leakage engine serves (`leakage`, `curate --decontaminate`, `check`'s LEAK001, the
gate's contamination scan).

Found by attack: a VQA-style set (trl's vision format: an ``images`` column and
``{"type": "image"}`` placeholders; one question, a few short answers, every row its own
image), split into train and test with no image shared, was all leakage: `curate
--decontaminate` removed every training row, `leakage --fail-on-leak` exited 1 and `check`
gave a LEAK001 a row. Curate's dedup and DUP001 already took rows of other media for other
records. The rule: a find counts unless the item and the row both hold media and their
media differ; rows of one image leak as before, a text-only item found in a row with an
image is a leak, and so is an item about an image found in a text-only row.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from curagate.cli import main
from curagate.gate.config import Contamination
from curagate.gate.runner import _as_read, _detect_in
from curagate.leakage import detect

# 13 words and more: found by exact match, a shared n-gram and a span alike.
QUESTION = (
    "Describe in one short sentence what the main object in the middle of this "
    "photograph is doing right now."
)
ANSWERS = ["A cat sleeps.", "A dog runs.", "A bird sings.", "A car waits."]


def vqa_row(image: int) -> dict[str, Any]:
    """A row of trl's vision format about image ``image``."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": ANSWERS[image % len(ANSWERS)]}],
            },
        ],
        "images": [f"img{image}.png"],
    }


def text_row(image: int) -> dict[str, Any]:
    """The same conversation as :func:`vqa_row`, with no image."""
    return {
        "messages": [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": ANSWERS[image % len(ANSWERS)]},
        ]
    }


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


TRAIN = list(range(12))  # images 0..11
TEST = list(range(100, 104))  # images 100..103: none in train


@pytest.fixture
def sets(tmp_path: Path) -> dict[str, Path]:
    return {
        "train": write(tmp_path / "train.jsonl", [vqa_row(i) for i in TRAIN]),
        # train and one row of test's first image (its question and answer)
        "train_same": write(
            tmp_path / "same" / "train.jsonl", [vqa_row(i) for i in TRAIN] + [vqa_row(TEST[0])]
        ),
        "train_text": write(tmp_path / "text" / "train.jsonl", [text_row(i) for i in TRAIN]),
        "test": write(tmp_path / "golden" / "test.jsonl", [vqa_row(i) for i in TEST]),
        # a text-only golden item: the question alone
        "test_text": write(
            tmp_path / "golden_text" / "test.jsonl", [{"id": "q0", "question": QUESTION}]
        ),
    }


def leakage_report(sets: dict[str, Path], tmp_path: Path, ref: str, corpus: str) -> Any:
    out = tmp_path / f"report-{ref}-{corpus}"
    rc = main(
        [
            "leakage",
            "--reference",
            str(sets[ref]),
            "--corpus",
            str(sets[corpus]),
            "--out",
            str(out),
            "--fail-on-leak",
        ]
    )
    report = json.loads((out / "leakage.json").read_text(encoding="utf-8"))
    return rc, report


def test_leakage_items_of_other_images_are_no_leak(sets: dict[str, Path], tmp_path: Path) -> None:
    rc, report = leakage_report(sets, tmp_path, "test", "train")
    assert (rc, report["summary"]["leaked_reference_items"]) == (0, 0)  # before: 1, all 4
    assert report["summary"]["contaminated_records"] == 0
    assert not any(report["summary"]["by_method"].values())
    assert report["leaks"] == []


def test_leakage_counts_the_finds_it_sets_aside(
    sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each training row asks a test question of another image: no leak, but each (row,
    item) pair found is counted, once however many of the row's texts hold it (before: no
    trace). Each row copies the item of its answer whole (the question alone is the test
    set's template, shared by all its items)."""
    capsys.readouterr()
    rc, report = leakage_report(sets, tmp_path, "test", "train")
    assert rc == 0 and report["leaks"] == []
    aside = report["summary"]["media_set_aside"]
    assert aside["pairs"] == len(TRAIN)
    assert aside["by_file"] == {sets["train"].as_posix(): len(TRAIN)}
    assert len(aside["examples"]) == 10
    assert aside["examples"][0] == {
        "item": f"{sets['test'].as_posix()}:0",
        "file": sets["train"].as_posix(),
        "row": 0,
    }
    assert "set aside by the media rule" in capsys.readouterr().out
    schema = resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    jsonschema.validate(report, json.loads(schema))
    # rows of the same image leak and are not set aside; nor is anything of text-only items
    rc, report = leakage_report(sets, tmp_path, "test", "train_same")
    assert report["summary"]["media_set_aside"]["pairs"] == len(TRAIN)
    rc, report = leakage_report(sets, tmp_path, "test_text", "train")
    assert "media_set_aside" not in report["summary"]


def test_leakage_rows_of_one_image_still_leak(sets: dict[str, Path], tmp_path: Path) -> None:
    rc, report = leakage_report(sets, tmp_path, "test", "train_same")
    assert rc == 1
    summary = report["summary"]
    assert (summary["leaked_reference_items"], summary["contaminated_records"]) == (1, 1)
    [leak] = report["leaks"]
    assert leak["reference"]["row"] == 0
    assert [m["row"] for m in leak["matches"]] == [len(TRAIN)]
    assert summary["by_method"]["exact"] == 1


def test_leakage_text_only_item_in_image_rows_and_image_item_in_text_rows(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    rc, report = leakage_report(sets, tmp_path, "test_text", "train")
    assert rc == 1
    assert report["summary"]["contaminated_records"] == len(TRAIN)
    rc, report = leakage_report(sets, tmp_path, "test", "train_text")
    assert rc == 1
    assert report["summary"]["contaminated_records"] == len(TRAIN)


def removed_as_leakage(out: Path) -> int:
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    return int(stats["steps"]["decontaminate"]["removed"])


def decontaminate(sets: dict[str, Path], tmp_path: Path, ref: str, corpus: str) -> Path:
    out = tmp_path / f"curated-{ref}-{corpus}"
    rc = main(
        [
            "curate",
            str(sets[corpus]),
            "--out",
            str(out),
            "--decontaminate",
            str(sets[ref]),
            "--quiet",
        ]
    )
    assert rc == 0
    return out


def test_curate_decontaminate_keeps_rows_of_other_images(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    out = decontaminate(sets, tmp_path, "test", "train")
    assert removed_as_leakage(out) == 0  # before: 12, the whole corpus
    # the row of test's first image is removed, and it alone
    out = decontaminate(sets, tmp_path, "test", "train_same")
    assert removed_as_leakage(out) == 1
    assert json.loads((out / "stats.json").read_text())["totals"]["kept"] == len(TRAIN)
    assert decontaminate_removed(sets, tmp_path, "test_text", "train") == len(TRAIN)
    assert decontaminate_removed(sets, tmp_path, "test", "train_text") == len(TRAIN)


def test_curate_counts_the_finds_it_sets_aside(
    sets: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stats.json's decontaminate section counts the (row, item) pairs found but of other
    media (no leaks: every row kept), as `leakage` does; the staged run counts the same;
    the key is there only where a reference item holds media (text-only runs as before)."""
    out = decontaminate(sets, tmp_path, "test", "train")
    section = json.loads((out / "stats.json").read_text())["steps"]["decontaminate"]
    assert (section["removed"], section["media_set_aside"]) == (0, len(TRAIN))
    staged = tmp_path / "staged"
    argv = ["curate", str(sets["train"]), "--out", str(staged), "--decontaminate"]
    argv += [str(sets["test"]), "--executor", "local", "--work-dir", str(tmp_path / "w")]
    capsys.readouterr()
    assert main(argv) == 0
    assert "set aside" in capsys.readouterr().out
    assert json.loads((staged / "stats.json").read_text())["steps"]["decontaminate"] == section
    out = decontaminate(sets, tmp_path, "test_text", "train")
    section = json.loads((out / "stats.json").read_text())["steps"]["decontaminate"]
    assert "media_set_aside" not in section


def decontaminate_removed(sets: dict[str, Path], tmp_path: Path, ref: str, corpus: str) -> int:
    return removed_as_leakage(decontaminate(sets, tmp_path, ref, corpus))


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """check's index cache in the test's own folder (its second run loads the index)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CURAGATE_NO_CACHE", raising=False)
    return tmp_path / "xdg"


def check_leaks(sets: dict[str, Path], ref: str, corpus: str, capsys: Any) -> list[int]:
    """The lines of ``corpus`` check gives a LEAK001 against ``ref``, twice the same (the
    second run loads the index from the cache)."""
    found = []
    for _ in range(2):
        capsys.readouterr()
        main(["check", str(sets[corpus]), "--golden", str(sets[ref]), "--format", "json"])
        out = json.loads(capsys.readouterr().out)
        found.append(sorted(f["line"] for f in out["findings"] if f["rule"] == "LEAK001"))
    assert found[0] == found[1]
    return found[0]


def test_check_leak001_takes_rows_of_other_images_for_other_records(
    sets: dict[str, Path], own_cache: Path, capsys: Any
) -> None:
    assert check_leaks(sets, "test", "train", capsys) == []  # before: every row
    assert check_leaks(sets, "test", "train_same", capsys) == [len(TRAIN) + 1]
    assert check_leaks(sets, "test_text", "train", capsys) == list(range(1, len(TRAIN) + 1))
    assert check_leaks(sets, "test", "train_text", capsys) == list(range(1, len(TRAIN) + 1))


def gate_scan(sets: dict[str, Path], tmp_path: Path, ref: str, corpus: str) -> Any:
    """The gate's contamination scan of one golden file (its copy as the gate reads it)."""
    owners: dict[str, list[int]] = {}
    media: dict[str, list[int]] = {}
    read = _as_read(sets[ref], tmp_path / f"read-{ref}-{corpus}", owners, None, media)
    return _detect_in(detect, [read], [sets[corpus]], Contamination(), owners, media)


def test_gate_contamination_takes_rows_of_other_images_for_other_records(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    assert gate_scan(sets, tmp_path, "test", "train").leaks == []  # before: all 4 items
    result = gate_scan(sets, tmp_path, "test", "train_same")
    assert [(k.item.row, [m.row for m in k.matches]) for k in result.leaks] == [(0, [len(TRAIN)])]
    assert result.contaminated_records == 1
    assert gate_scan(sets, tmp_path, "test_text", "train").contaminated_records == len(TRAIN)
    assert gate_scan(sets, tmp_path, "test", "train_text").contaminated_records == len(TRAIN)


def url_row(image: int) -> dict[str, Any]:
    """:func:`vqa_row` with its image's URL in its message too (a media part's reference)."""
    row = vqa_row(image)
    row["messages"][0]["content"][0]["image"] = f"https://example.org/img{image}.png"
    return row


def gate_leaks(tmp_path: Path, golden: list[dict[str, Any]], train: list[dict[str, Any]]) -> Any:
    """What the gate's contamination check (GATE005) says of a set of ``golden`` items and a
    training file of ``train`` rows."""
    return gate_report(tmp_path, golden, train)["leaked_reference_items"]


def gate_report(
    tmp_path: Path, golden: list[dict[str, Any]], train: list[dict[str, Any]]
) -> dict[str, Any]:
    """The gate's contamination details (GATE005) of ``golden`` items and ``train`` rows."""
    from curagate.gate.config import GateConfig, RegressionSuite
    from curagate.gate.models import ModelRef
    from curagate.gate.runner import _contamination
    from curagate.golden import GoldenSet

    root = tmp_path / f"set{len(list(tmp_path.iterdir()))}"
    write(root / "data.jsonl", golden)
    data = write(root.parent / f"{root.name}-train.jsonl", train)
    cfg = GateConfig(name="g", regression_suite=RegressionSuite(tasks=["t"]))
    gold = GoldenSet("vqa", "generation", "1", "", len(golden), {"data.jsonl": ""}, root)
    report, _ = _contamination(cfg, ModelRef("run", "r"), [gold], [str(data)])
    return report


def test_gate_contamination_reads_an_items_media_from_its_messages(tmp_path: Path) -> None:
    # The gate scans a copy of the set, each item's messages rendered as a prompt: the copy
    # kept the `images` column and lost the URL in the message, so an item was no leak of
    # its own copy in the training data (whose media are both), as `leakage` finds it.
    train = [url_row(i) for i in TRAIN]
    assert gate_leaks(tmp_path, [url_row(TRAIN[3])], train) == 1
    assert gate_leaks(tmp_path, [url_row(i) for i in TEST], train) == 0  # before: 4
    assert gate_leaks(tmp_path, [{"id": "q", "prompt": QUESTION}], train) == 1


def test_gate_contamination_does_not_count_finds_set_aside(tmp_path: Path) -> None:
    # detect's summary counts the finds the media rule sets aside, by the files it read: in
    # the gate, the set's copy in a temporary folder (a gate report naming a path that no
    # longer exists, other on every run). Not counted there (docs/leakage.md).
    report = gate_report(tmp_path, [url_row(i) for i in TEST], [url_row(i) for i in TRAIN])
    assert report["leaked_reference_items"] == 0
    assert "media_set_aside" not in json.dumps(report)


def audit_leaks(sets: dict[str, Path], tmp_path: Path, ref: str, corpus: str) -> list[str]:
    """The rows audit gives a LEAK001 against ``ref`` (its config's leakage.reference)."""
    config = tmp_path / f"audit-{ref}.yaml"
    config.write_text(json.dumps({"leakage": {"reference": [str(sets[ref])]}}), encoding="utf-8")
    out = tmp_path / f"audit-{ref}-{corpus}"
    main(["audit", str(sets[corpus]), "--config", str(config), "--out", str(out), "--quiet"])
    report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    return [r for f in report["findings"] if f["rule"] == "LEAK001" for r in f["rows"]]


def test_audit_leak001_takes_rows_of_other_images_for_other_records(
    sets: dict[str, Path], tmp_path: Path, own_cache: Path
) -> None:
    assert audit_leaks(sets, tmp_path, "test", "train") == []  # before: every row
    assert audit_leaks(sets, tmp_path, "test", "train_same") == [
        f"{sets['train_same']}:{len(TRAIN) + 1}"
    ]
    assert len(audit_leaks(sets, tmp_path, "test_text", "train")) == len(TRAIN)
    assert len(audit_leaks(sets, tmp_path, "test", "train_text")) == len(TRAIN)


def test_an_index_pickled_or_cached_keeps_its_items_media(
    sets: dict[str, Path], own_cache: Path
) -> None:
    """Ray ships the index pickled, check and audit load it from the cache: each item's
    media travels with it (an index loaded without them took every row for its items')."""
    import pickle

    from curagate.audit.leaks import CHECK_METHODS
    from curagate.io import read_batches
    from curagate.leakage import LeakageIndex
    from curagate.leakage.cache import cached_index

    files = [sets["test"]]

    def build() -> LeakageIndex:
        return LeakageIndex.build(files, ngram=13, methods=CHECK_METHODS)

    built, loaded = cached_index(files, {"ngram": 13, "methods": CHECK_METHODS}, build)
    assert not loaded
    cached, loaded = cached_index(files, {"ngram": 13, "methods": CHECK_METHODS}, build)
    assert loaded
    [batch] = read_batches([sets["train_same"]])
    for index in (built, cached, pickle.loads(pickle.dumps(built))):
        leaks = index.scan_batch(batch)
        assert leaks.leaked.to_pylist() == [False] * len(TRAIN) + [True]
        assert index.scan_keys(batch.keys, batch.media).leaked.to_pylist() == (
            [False] * len(TRAIN) + [True]
        )


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"  # bytes that are not UTF-8 text


def hub_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` as a Parquet file of the Hub's image features: an ``images`` list of
    ``{"bytes": binary, "path": string}``; a media part's bytes are binary too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_leakage_takes_a_hub_images_bytes_for_media_not_unreadable_text(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    """Found by re-attack: every row of a Hub image Parquet was an UNREADABLE row ("field
    'images' holds bytes that are not UTF-8 text"), and --fail-on-leak exited 2 on a clean
    corpus. Bytes in a media column or a media part are media; elsewhere still unreadable."""
    rows = []
    for i in TRAIN:
        row = vqa_row(i)
        row["images"] = [{"bytes": PNG + bytes([i]), "path": f"img{i}.png"}]
        row["messages"][0]["content"][0]["image"] = {"bytes": PNG + bytes([i])}
        rows.append(row)
    sets["hub"] = hub_parquet(tmp_path / "hub" / "train.parquet", rows)
    rc, report = leakage_report(sets, tmp_path, "test", "hub")
    assert (rc, report["corpus"]["unreadable"]) == (0, 0)  # before: exit 2, all unreadable
    assert report["summary"]["media_set_aside"]["pairs"] == len(TRAIN)
    rows[0]["notes"] = PNG  # bytes that are no media
    sets["hub_notes"] = hub_parquet(tmp_path / "notes" / "train.parquet", rows)
    rc, report = leakage_report(sets, tmp_path, "test", "hub_notes")
    assert (rc, report["corpus"]["unreadable"]) == (2, 1)
    assert "field 'notes' holds bytes" in report["corpus"]["unreadable_rows"][0]["reason"]


def test_a_row_holding_an_items_question_and_answer_is_one_pair_set_aside(
    sets: dict[str, Path], tmp_path: Path
) -> None:
    """Found by re-attack: a training row holding a reference row's question and its answer,
    with another image, was counted twice (`r0` and `r0 (answer)`); the count is of
    (row, reference row) pairs, the unit of leaked_reference_items."""
    answer = "The largest animal in the scene is the elephant behind the two zebras at the pool."
    item = {"id": "r0", "question": QUESTION, "answer": answer, "images": ["img100.png"]}
    sets["qa"] = write(tmp_path / "qa" / "test.jsonl", [item])
    train = [{**text_row(i), "images": [f"img{i}.png"]} for i in TRAIN]
    for row in train:
        row["messages"][1]["content"] = answer
    sets["qa_train"] = write(tmp_path / "qa" / "train.jsonl", train)
    rc, report = leakage_report(sets, tmp_path, "qa", "qa_train")
    aside = report["summary"]["media_set_aside"]
    assert (rc, aside["pairs"]) == (0, len(TRAIN))  # before: twice as many
    assert {e["item"] for e in aside["examples"]} == {"r0"}
    # the same rows with the item's image: one leaked item, each row a match
    for row in train:
        row["images"] = ["img100.png"]
    sets["qa_same"] = write(tmp_path / "qa" / "same.jsonl", train)
    rc, report = leakage_report(sets, tmp_path, "qa", "qa_same")
    assert (rc, report["summary"]["leaked_reference_items"]) == (1, 1)
    assert report["summary"]["media_set_aside"]["pairs"] == 0
