"""What a run records is what it trained on, and a run never destroys what it reads or
another run: holes an attacker found in `curagate train`, each a test."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from curagate.artifacts import check_base_unchanged, load_run
from curagate.cli import main
from curagate.errors import CheckFailed, ConfigError, InputError
from curagate.train import train
from curagate.train.run import Task

from .conftest import sft_rows, write_config, write_jsonl

pytest.importorskip("trl")
pytest.importorskip("peft")
# Each trains a tiny model end to end (a few seconds apiece): the full suite runs them.
pytestmark = pytest.mark.slow


def _during_training(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run ``action`` while transformers' Trainer trains (another process at work)."""
    import transformers

    real = transformers.Trainer.train

    def train_and_act(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        action()
        return out

    monkeypatch.setattr(transformers.Trainer, "train", train_and_act)


def test_data_rewritten_while_training_is_not_recorded_as_trained_on(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # run.json hashed the data after training: it named one poison row, the run had
    # trained on 32 others, and export/gate would credit the run to the poison.
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    _during_training(monkeypatch, lambda: write_jsonl(sft_data["train"], sft_rows(1, offset=900)))
    with pytest.raises(InputError, match=r"train\.jsonl: changed while the run trained"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_data_swapped_between_reading_and_hashing_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The data was read, then hashed: a file replaced in between was recorded with the
    # new bytes' sha256 and rows (4) beside the 32 rows trained on, exit 0.
    from curagate.train import run as run_module

    real = run_module._manifest

    def swap_then_hash(files: list[Path]) -> Any:
        write_jsonl(sft_data["train"], sft_rows(4, offset=900))
        return real(files)

    monkeypatch.setattr(run_module, "_manifest", swap_then_hash)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    with pytest.raises(InputError, match=r"train\.jsonl: changed while curagate read it"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_a_golden_set_rewritten_while_training_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # run.json hashed the golden files at the end, and never checked them: replaced by
    # the training data mid-run, they were recorded beside "0 leaked items".
    golden_file = write_jsonl(tmp_path / "golden.jsonl", [{"prompt": "an unrelated item"}])
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        leakage_reference={"held_out": str(golden_file)},
    )
    _during_training(monkeypatch, lambda: shutil.copyfile(sft_data["train"], golden_file))
    with pytest.raises(InputError, match=r"golden\.jsonl: changed while the run trained"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_a_run_written_meanwhile_under_the_same_name_is_never_replaced(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    other = tmp_path / "runs" / "tiny"

    def another_run_lands() -> None:
        other.mkdir(parents=True)
        (other / "run.json").write_text("{}")

    _during_training(monkeypatch, another_run_lands)
    with pytest.raises(InputError, match="was written by another run while this one trained"):
        train("sft", cfg)
    assert (other / "run.json").read_text() == "{}"  # the first run is untouched
    (kept,) = (tmp_path / "runs").glob("tiny.*.conflict")
    assert (kept / "run.json").is_file() and (kept / "adapter").is_dir()


@pytest.mark.parametrize("overwrite", [False, True])
def test_what_appears_at_the_run_folder_while_training_is_kept_and_so_is_the_run(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    overwrite: bool,
) -> None:
    # Found by attack: --overwrite checked what was at runs/<name> only at the start, and
    # a user's folder put there while the run trained was deleted at the swap; without it,
    # a file put there made the trained run be thrown away ("Not a directory").
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    mine = tmp_path / "runs" / "tiny"

    def a_user_writes_there() -> None:
        if overwrite:
            mine.mkdir(parents=True)
            (mine / "notes.txt").write_text("my precious notes\n")
        else:
            mine.write_text("user file\n")

    _during_training(monkeypatch, a_user_writes_there)
    why = "holds no run.json of a run" if overwrite else "became a file or a link"
    with pytest.raises(InputError, match=rf"{why}.*this run is kept in .*tiny\.\d+\.conflict"):
        train("sft", cfg, overwrite=overwrite)
    if overwrite:
        assert (mine / "notes.txt").read_text() == "my precious notes\n"
    else:
        assert mine.read_text() == "user file\n"
    (kept,) = (tmp_path / "runs").glob("tiny.*.conflict")
    assert (kept / "run.json").is_file() and (kept / "adapter").is_dir()


def test_a_run_folder_inside_a_data_folder_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack: the run's metrics.jsonl landed among the training data, and the next
    # train of the same config refused its own data.
    folder = sft_data["train"].parent
    cfg = write_config(tmp_path / "t.yaml", tiny_model, folder, output_dir=str(folder / "runs"))
    with pytest.raises(ConfigError, match=r"is inside the data folder .*read as data"):
        train("sft", cfg)
    assert not (folder / "runs").exists()


def test_one_file_as_training_and_validation_data_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack: accepted without a word; the checkpoint that ships was chosen on
    # rows it trained on.
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], sft_data["train"])
    with pytest.raises(ConfigError, match=r"holds the same bytes as data\.train"):
        train("sft", cfg)


@pytest.mark.parametrize(
    "how", ["folder", "upper-case", "bom", "gzip", "glob", "mixed", "linked-folder"]
)
def test_a_golden_set_holding_a_json_array_is_refused_however_it_is_reached(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], how: str
) -> None:
    # Found by attack (and again on the fix: upper-case suffix, BOM, gzip, a glob, a mixed
    # array, a linked folder): the data readers skip a JSON array, and run.json said
    # "checked, 0 leaked" of a golden item the training data held.
    import gzip

    gold = tmp_path / "gold"
    write_jsonl(gold / "a.jsonl", [{"prompt": "an unrelated golden question", "id": 1}])
    item = sft_rows(1)[0]["messages"][0]["content"]
    records: list[Any] = [{"prompt": item, "id": 2}] + (["a note"] if how == "mixed" else [])
    body = json.dumps(records).encode()
    where = gold
    if how == "linked-folder":
        (tmp_path / "elsewhere").mkdir()
        (gold / "sub").symlink_to(tmp_path / "elsewhere")
        where = tmp_path / "elsewhere"
    name = {"upper-case": "b.JSON", "gzip": "b.json.gz"}.get(how, "b.json")
    data = {"bom": b"\xef\xbb\xbf" + body, "gzip": gzip.compress(body)}.get(how, body)
    (where / name).write_bytes(data)
    (gold / "dataset_info.json").write_text('{"description": "a document, not records"}')
    spec = str(gold / "*") if how == "glob" else str(gold)
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], leakage_reference={"gold": spec}
    )
    with pytest.raises(
        InputError, match=rf"leakage_reference\.gold: .*{re.escape(name)} holds records"
    ):
        train("sft", cfg)


def test_a_json_document_in_a_golden_set_folder_is_no_obstacle(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack on the fix above: any JSON object (a dataset_info.json) was refused.
    gold = tmp_path / "gold"
    write_jsonl(gold / "a.jsonl", [{"prompt": "an unrelated golden question", "id": 1}])
    (gold / "dataset_info.json").write_text('{"description": "golden set v3"}')
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        leakage_reference={"gold": str(gold)},
        training={"max_steps": 1},
    )
    assert train("sft", cfg).summary["leakage"]["checked"] is True


def test_a_validation_file_holding_the_training_bytes_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack on the path check: a hard link (or a copy) of the training file.
    linked = sft_data["train"].with_name("val_link.jsonl")
    linked.hardlink_to(sft_data["train"])
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], linked)
    with pytest.raises(ConfigError, match=r"holds the same bytes as data\.train"):
        train("sft", cfg)


@pytest.mark.parametrize("pattern", ["**/*.jsonl", "*"])
def test_a_run_folder_a_data_glob_reaches_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], pattern: str
) -> None:
    # Found by attack on the folder check: data given as `DIR/**/*.jsonl`; and as `DIR/*`,
    # which matches the folder `DIR/runs` (read whole): the first run went, the next one
    # read its metrics.jsonl as training data.
    folder = sft_data["train"].parent
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        Path(f"{folder}/{pattern}"),
        output_dir=str(folder / "runs"),
    )
    with pytest.raises(ConfigError, match=r"is under the data pattern"):
        train("sft", cfg)


def test_validation_rows_that_are_training_rows_are_refused_all_or_counted_some(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a reordered copy (or a subset) of the training file is other bytes,
    # and picked the checkpoint that ships on rows it trained on without a word.
    from curagate.cli import main

    lines = sft_data["train"].read_text().splitlines(keepends=True)
    shuffled = tmp_path / "val_all.jsonl"
    shuffled.write_text("".join(reversed(lines)))
    cfg = write_config(tmp_path / "a.yaml", tiny_model, sft_data["train"], shuffled)
    with pytest.raises(ConfigError, match=r"all \d+ of its rows are data\.train rows"):
        train("sft", cfg)
    some = tmp_path / "val_some.jsonl"
    some.write_text(lines[0] + sft_data["val"].read_text())
    cfg = write_config(
        tmp_path / "s.yaml", tiny_model, sft_data["train"], some, training={"max_steps": 1}
    )
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 0
    assert "warning: 1 validation row(s) are training rows" in capsys.readouterr().err


def refused_as_training_rows(
    tmp_path: Path, tiny_model: Path, task: Task, train_rows: list[Any], val_rows: list[Any]
) -> None:
    """Training on ``train_rows`` with ``val_rows`` as validation is refused: every
    validation row is a training row."""
    train_file = write_jsonl(tmp_path / "train_rows.jsonl", train_rows)
    val_file = write_jsonl(tmp_path / "val_rows.jsonl", val_rows)
    cfg = write_config(tmp_path / "a.yaml", tiny_model, train_file, val_file)
    n = len(val_rows)
    with pytest.raises(ConfigError, match=rf"all {n} of its rows are data\.train rows"):
        train(task, cfg)


def test_validation_rows_are_found_in_training_rows_whatever_fields_other_rows_carry(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack: one training row whose message carries a `name` gave every training
    # message `name: None` as read, so validation rows that are training rows were not
    # found (exit 0, run.json validation_rows_in_train 0).
    rows = sft_rows(32)
    extra = {
        "messages": [{"role": "user", "content": "hi", "name": "bob"}, *rows[0]["messages"][1:]]
    }
    refused_as_training_rows(tmp_path, tiny_model, "sft", [*rows, extra], rows[:8])


@pytest.mark.parametrize("form", ["text_part", "row_id", "message_meta"])
def test_validation_rows_are_compared_with_training_rows_as_they_train(
    tmp_path: Path, tiny_model: Path, form: str
) -> None:
    # Found by attack: the raw rows were compared. One validation turn written as a text
    # part made the reader give every row of the file parts; a row's `id` or a message's
    # `meta` (both dropped by training) made another row of it: training rows trained as
    # validation rows, exit 0 and validation_rows_in_train 0.
    rows = sft_rows(32)
    val = json.loads(json.dumps(rows[:8]))
    if form == "text_part":
        user = val[0]["messages"][0]
        user["content"] = [{"type": "text", "text": user["content"]}]
    elif form == "row_id":
        val = [{**r, "id": i} for i, r in enumerate(val)]
    else:
        for r in val:
            r["messages"][0]["meta"] = "x"
    refused_as_training_rows(tmp_path, tiny_model, "sft", rows, val)


@pytest.mark.parametrize("validation_format", ["prompt_completion", "chat"])
def test_validation_rows_are_training_rows_whichever_format_each_file_is_in(
    tmp_path: Path, tiny_model: Path, validation_format: str
) -> None:
    # Found by attack: the same turns as chat rows in one file and prompt/completion rows
    # in the other were other examples (the key held the first trained turn, 0 for a chat
    # row and 1 for its prompt/completion form): validated on training rows, exit 0.
    chat = sft_rows(32)
    pc = [
        {"prompt": r["messages"][0]["content"], "completion": r["messages"][1]["content"]}
        for r in chat
    ]
    train_rows, val_rows = (
        (chat, pc[:8]) if validation_format == "prompt_completion" else (pc, chat[:8])
    )
    refused_as_training_rows(tmp_path, tiny_model, "sft", train_rows, val_rows)


def test_dpo_validation_pairs_are_compared_with_training_pairs_as_they_train(
    tmp_path: Path, tiny_model: Path
) -> None:
    # A prompt string is the user turn it becomes; a pair's extra field is not trained.
    from .conftest import preference_rows

    rows = preference_rows(16)
    val = [
        {**r, "prompt": [{"role": "user", "content": r["prompt"]}], "id": i}
        for i, r in enumerate(rows[:4])
    ]
    refused_as_training_rows(tmp_path, tiny_model, "dpo", rows, val)


def test_validation_rows_are_training_rows_among_those_the_run_evaluates(
    tmp_path: Path, tiny_model: Path
) -> None:
    # Found by attack: rows were counted before tokenization, so validation rows later
    # dropped by max_length (no trained token left) counted as the file's own: every row
    # evaluated was a training row, exit 0 (validation_rows_in_train 2 of 2 evaluated).
    rows = sft_rows(32)
    long_rows = [
        {
            "messages": [
                {"role": "user", "content": " ".join(["the red cat"] * 95) + f" {i}?"},
                {"role": "assistant", "content": "red."},
            ]
        }
        for i in range(2)
    ]
    train_file = write_jsonl(tmp_path / "train_e.jsonl", rows)
    val_file = write_jsonl(tmp_path / "val_e.jsonl", [*rows[:2], *long_rows])
    cfg = write_config(tmp_path / "a.yaml", tiny_model, train_file, val_file)
    with pytest.raises(
        ConfigError,
        match=r"all 2 of its rows that keep a trained token after data\.max_length \(2 more "
        r"are dropped\) are data\.train rows",
    ):
        train("sft", cfg)


@pytest.mark.parametrize("field", ["empty_tool_calls", "name"])
def test_validation_rows_differing_only_in_what_the_template_does_not_render_are_training_rows(
    tmp_path: Path, tiny_model: Path, field: str
) -> None:
    # Found by attack: `tool_calls: []` on the assistant turn (or a turn's `name`, which
    # this template, as many, does not render) made a training row another row; the
    # rows are now compared as the chat template renders them.
    rows = sft_rows(32)
    val = json.loads(json.dumps(rows[:8]))
    for r in val:
        if field == "name":
            r["messages"][0]["name"] = "bob"
        else:
            r["messages"][-1]["tool_calls"] = []
    refused_as_training_rows(tmp_path, tiny_model, "sft", rows, val)


def test_dpo_validation_pairs_are_training_pairs_as_the_template_renders_them(
    tmp_path: Path, tiny_model: Path
) -> None:
    # The same for pairs: a `name` on the prompt's turn the template does not render.
    from .conftest import preference_rows

    rows = preference_rows(16)
    val = [
        {**r, "prompt": [{"role": "user", "content": r["prompt"], "name": "bob"}]} for r in rows[:4]
    ]
    refused_as_training_rows(tmp_path, tiny_model, "dpo", rows, val)


def test_a_second_conflict_of_one_process_keeps_both_runs(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: the second run kept as NAME.PID.conflict met the first one's and was
    # deleted (a raw OSError, or "other runs kept replacing it").
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    mine = tmp_path / "runs" / "tiny"

    def a_file_appears() -> None:
        mine.unlink(missing_ok=True)
        mine.write_text("user file\n")

    _during_training(monkeypatch, a_file_appears)
    for _ in range(2):
        mine.unlink(missing_ok=True)  # free at the start, taken while it trains
        with pytest.raises(InputError, match=r"this run is kept in"):
            train("sft", cfg)
    kept = sorted((tmp_path / "runs").glob("tiny.*.conflict"))
    assert len(kept) == 2 and all((k / "run.json").is_file() for k in kept)


# A NaN between logging steps: the run diverges where no log line sees it.
DIVERGING = {"learning_rate": 1e12, "max_grad_norm": 1e30, "logging_steps": 50}


def test_a_nan_between_logging_steps_fails_the_run(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # No log line saw the NaN: status ok, exit 0, every adapter tensor NaN.
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        training=DIVERGING,
    )
    with pytest.raises(CheckFailed, match="adapter weight tensor"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()
    assert (tmp_path / "runs" / "tiny.failed" / "summary.json").is_file()


def test_overwrite_never_deletes_the_base_model(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    base = tmp_path / "models" / "smol"
    shutil.copytree(tiny_model, base)
    cfg = write_config(
        tmp_path / "t.yaml", base, sft_data["train"], name="smol", output_dir=str(base.parent)
    )
    with pytest.raises(ConfigError, match="is or holds the base_model"):
        train("sft", cfg, overwrite=True)
    assert (base / "config.json").is_file()


@pytest.mark.parametrize("how", ["path", "glob", "config"])
def test_overwrite_never_deletes_a_leakage_reference_or_config_kept_in_the_run_folder(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], how: str
) -> None:
    # The golden set was deleted with the previous run, and run.json named it all the same;
    # so was one named by a glob (runs/*/golden.jsonl), and the train config itself.
    run = tmp_path / "runs" / "tiny"
    run.mkdir(parents=True)
    (run / "golden").mkdir()
    golden = run / "golden" / "g.jsonl"
    golden.write_text('{"prompt": "zzz", "reference": "yyy"}\n')
    named = str(tmp_path / "runs" / "*" / "golden" / "g.jsonl") if how == "glob" else str(golden)
    refs = {} if how == "config" else {"leakage_reference": {"g": named}}
    where = run / "t.yaml" if how == "config" else tmp_path / "t.yaml"
    cfg = write_config(
        where, tiny_model, sft_data["train"], output_dir=str(tmp_path / "runs"), **refs
    )
    what = r"train config" if how == "config" else r"leakage_reference\.g"
    with pytest.raises(ConfigError, match=rf"is or holds the {what}"):
        train("sft", cfg, overwrite=True)
    assert golden.is_file() and cfg.is_file()


def test_a_file_added_to_the_base_after_training_fails_the_base_check(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # An adapter_config.json dropped into the base makes from_pretrained load other
    # weights: only the recorded files were re-hashed.
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"], training={"max_steps": 1})
    run = train("sft", cfg).run_dir
    (base / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "x"}))
    with pytest.raises(
        CheckFailed, match="base model files changed since training: adapter_config"
    ):
        check_base_unchanged(load_run(run))


def test_an_invalid_name_override_is_a_usage_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    assert main(["train", "sft", "--config", str(cfg), "--name", ".."]) == 2
    err = capsys.readouterr().err
    assert "--name/--output-dir" in err and "internal error" not in err


def test_validation_rows_all_cut_away_are_an_input_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    long_rows = [
        {
            "messages": [
                {"role": "user", "content": "word " * 200},
                {"role": "assistant", "content": "ok"},
            ]
        }
        for _ in range(2)
    ]
    val = write_jsonl(tmp_path / "data" / "long_val.jsonl", long_rows)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], val)
    with pytest.raises(InputError, match="no validation example has a trained token left"):
        train("sft", cfg)


@pytest.mark.parametrize("task", ["sft", "dpo"])
def test_a_bad_row_is_named_by_its_file_and_line(tmp_path: Path, task: str) -> None:
    # Errors said "row 10" (0-based, across every file) or "training data row 10".
    from curagate.train.data import read_records, to_conversations, to_preferences

    def user(text: str) -> dict[str, str]:
        return {"role": "user", "content": text}

    def bot(text: str) -> dict[str, str]:
        return {"role": "assistant", "content": text}

    if task == "sft":
        rows: list[dict[str, Any]] = [{"messages": [user(f"q{i}"), bot(f"a{i}")]} for i in range(8)]
        rows[6] = {"messages": [user("a question nobody answers")]}
        problem = "no assistant turn to learn"
    else:

        def parts(*extra: dict[str, Any]) -> list[dict[str, Any]]:
            return [{"type": "text", "text": "hi"}, *extra]

        rows = [
            {"prompt": [{"role": "user", "content": parts()}], "chosen": f"y{i}", "rejected": "n"}
            for i in range(8)
        ]
        image = {"type": "image_url", "image_url": {"url": "x"}}
        rows[6]["prompt"] = [{"role": "user", "content": parts(image)}]
        problem = r"1 content part\(s\) that are not text \(image_url\)"
    first = write_jsonl(tmp_path / "a.jsonl", rows[:3])
    second = write_jsonl(tmp_path / "b.jsonl", rows[3:])
    records = read_records([str(first), str(second)], None)
    convert = to_conversations if task == "sft" else to_preferences
    with pytest.raises(InputError, match=rf"{second}:4: .*{problem}"):
        convert(records, None)


def test_dpo_prompts_longer_than_max_length_are_an_input_error(
    tmp_path: Path, tiny_model: Path
) -> None:
    # trl dropped every pair (no answer token left) and then crashed: exit 3.
    rows = [
        {"prompt": "word " * 100 + f"q{i}", "chosen": "yes it is", "rejected": "no"}
        for i in range(8)
    ]
    data = write_jsonl(tmp_path / "data" / "pairs.jsonl", rows)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, data, data={"max_length": 16})
    with pytest.raises(InputError, match="no preference pair has an answer token left"):
        train("dpo", cfg)


def test_dpo_answers_cut_before_their_end_of_turn_are_reported(
    tmp_path: Path, tiny_model: Path
) -> None:
    # Every chosen <|im_end|> was cut (trl keeps the start), exit 0 without a finding.
    rows = [{"prompt": f"q{i}", "chosen": "word " * 40, "rejected": "no"} for i in range(8)]
    data = write_jsonl(tmp_path / "data" / "pairs.jsonl", rows)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, data, data={"max_length": 20})
    with pytest.raises(ConfigError, match="is never inside a trained answer"):
        train("dpo", cfg)
    rows[0]["chosen"] = "yes"  # one pair keeps its end-of-turn: trained, with a finding
    write_jsonl(data, rows)
    result = train("dpo", cfg)
    assert [f.rule.id for f in result.findings] == ["TH005"]


def test_dpo_pairs_the_same_once_cut_to_max_length_are_reported_by_row(
    tmp_path: Path, tiny_model: Path
) -> None:
    # Answers differing only past data.max_length: trl trained the pair on one answer
    # twice (a signal of zero), exit 0 without a word.
    rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(8)]
    rows[5] = {"prompt": "q5", "chosen": "word " * 30 + "yes", "rejected": "word " * 30 + "no"}
    data = write_jsonl(tmp_path / "data" / "pairs.jsonl", rows)
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, data, data={"max_length": 20}, training={"max_steps": 2}
    )
    result = train("dpo", cfg)
    same = [f for f in result.findings if f.rule.id == "TH009"]
    assert len(same) == 1 and f"{data}:6" in same[0].message, result.findings
    assert "1 training preference pair(s)" in same[0].message
    # Answers that differ inside max_length: no such finding.
    rows[5]["rejected"] = "no " + "word " * 30
    write_jsonl(data, rows)
    assert "TH009" not in [f.rule.id for f in train("dpo", cfg, name="tiny2").findings]


def test_turns_check_flags_are_trained_and_reported(tmp_path: Path, tiny_model: Path) -> None:
    # `curagate check` fails two user turns in a row (FMT003); train trained them silently.
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(4)
    ]
    rows[2]["messages"].insert(0, {"role": "user", "content": "hello"})
    data = write_jsonl(tmp_path / "data" / "chat.jsonl", rows)
    result = train("sft", write_config(tmp_path / "t.yaml", tiny_model, data))
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["config"]["training"]["early_stopping_patience"] == 0  # no validation: off
    [finding] = [f for f in result.findings if f.rule.id == "TH008"]
    assert finding.message == (
        f"1 training conversation(s) have turns `curagate check` flags (first: {data}:3: "
        "messages[1] is a user turn after a user turn (FMT003))"
    )


def test_what_a_killed_run_left_is_removed_by_the_next(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # A killed train left .tiny.<random>.tmp with its checkpoints, never cleaned up.
    import subprocess

    proc = subprocess.Popen(["true"])
    proc.wait()
    from curagate.io.atomic import HOST_TAG

    left = tmp_path / "runs" / f".tiny.{proc.pid}.{HOST_TAG}.abcd1234.curagate.tmp"
    (left / "checkpoints").mkdir(parents=True)
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    train("sft", cfg)
    assert not left.exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny"]


def test_dpo_validation_prompts_longer_than_max_length_are_an_input_error(
    tmp_path: Path, tiny_model: Path
) -> None:
    # trl dropped every validation pair, then looked for eval_loss: KeyError, exit 3.
    train_rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(8)]
    val_rows = [{"prompt": "word " * 100, "chosen": "yes", "rejected": "no"} for _ in range(4)]
    data = write_jsonl(tmp_path / "data" / "pairs.jsonl", train_rows)
    val = write_jsonl(tmp_path / "data" / "val.jsonl", val_rows)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, data, val, data={"max_length": 32})
    with pytest.raises(InputError, match="no validation pair has an answer token left"):
        train("dpo", cfg)


@pytest.mark.parametrize("task", ["sft", "dpo"])
def test_validation_rows_left_no_trained_token_are_counted(
    tmp_path: Path, tiny_model: Path, task: str
) -> None:
    # One validation row of four left out (its prompt fills max_length): the record said
    # validation_examples 4 for DPO (trl evaluated 3), and 3 without a word for SFT. (The
    # three were training rows, which left the run validated on training rows only: now
    # refused, so they are rows of their own.)
    if task == "dpo":
        train_rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(8)]
        val_rows = [{"prompt": f"v{i}", "chosen": "yes", "rejected": "no"} for i in range(3)]
        val_rows.append({"prompt": "word " * 100, "chosen": "yes", "rejected": "no"})
    else:

        def chat(user: str) -> dict[str, Any]:
            return {
                "messages": [
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": "yes"},
                ]
            }

        train_rows = [chat(f"q{i}") for i in range(8)]
        val_rows = [chat(f"v{i}") for i in range(3)] + [chat("word " * 100)]
    data = write_jsonl(tmp_path / "data" / "train.jsonl", train_rows)
    val = write_jsonl(tmp_path / "data" / "val.jsonl", val_rows)
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        data,
        val,
        data={"max_length": 32},
        training={"max_steps": 1, "eval_steps": 1},
    )
    run = json.loads((train(task, cfg).run_dir / "run.json").read_text())
    stats = run["summary"]["data"]
    assert (stats["validation_examples"], stats["validation_dropped_no_trained_tokens"]) == (3, 1)


def test_dpo_cut_after_the_end_of_turn_token_is_no_finding(
    tmp_path: Path, tiny_model: Path
) -> None:
    # Only a newline after <|im_end|> cut: trl keeps the end-of-turn; it was refused.
    from curagate.train import data as tdata

    from .conftest import build_tokenizer

    pair = {"prompt": "what color is the cat?", "chosen": "the cat is red.", "rejected": "blue"}
    tok = build_tokenizer()
    msgs = [
        {"role": "user", "content": pair["prompt"]},
        {"role": "assistant", "content": pair["chosen"]},
    ]
    ids = tok(tdata.render(tok, msgs), add_special_tokens=False)["input_ids"]
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    assert ids[-2] == eot  # <|im_end|> then "\n"
    data = write_jsonl(tmp_path / "data" / "pairs.jsonl", [pair] * 8)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, data, data={"max_length": len(ids) - 1})
    assert train("dpo", cfg).findings == []


def test_a_base_whose_index_names_a_hidden_shard_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack: transformers loaded .shards/...; the run recorded the base without
    # it (hidden files are not hashed), so export merged onto a changed base unnoticed.
    from tests.tiny_llama import hide_a_shard

    base = tmp_path / "m2"
    shutil.copytree(tiny_model, base)
    hidden = hide_a_shard(base)
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"], output_dir=str(tmp_path / "r"))
    with pytest.raises(InputError, match=re.escape(f"names shard '{hidden}'")):
        train("sft", cfg)
    assert not (tmp_path / "r").exists()


def test_a_run_folder_inside_the_base_model_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # It trained, then export and gate saw its files as files added to the base.
    base = tmp_path / "m2"
    shutil.copytree(tiny_model, base)
    cfg = write_config(
        tmp_path / "t.yaml", base, sft_data["train"], output_dir=str(base / "adapters")
    )
    with pytest.raises(ConfigError, match="is inside the base model folder"):
        train("sft", cfg)


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"seed": -1}, "seed"),  # ValueError from set_seed: exit 3
        ({"seed": 2**70}, "seed"),
        ({"lora": {"r": 1_000_000_000}}, "lora.r"),  # asked for 256 GB at once
        ({"lora": {"alpha": 10**400}}, "lora.alpha"),  # alpha / r: an OverflowError in peft
        ({"lora": {"target_modules": []}}, "lora.target_modules"),
        (
            {"lora": {"target_modules": ["nope_proj"]}},
            "lora.target_modules: 'nope_proj' is no module",
        ),
        # Each of these was exit 3 once the trainer was built:
        ({"lora": {"target_modules": [""]}}, "lora.target_modules: '' is no module"),
        ({"lora": {"target_modules": ["model"]}}, "model is not a layer LoRA can adapt"),
        ({"lora": {"target_modules": ["lm_head"]}}, "lm_head is not a layer LoRA can adapt"),
        ({"training": {"threads": 10**11}}, "training.threads"),
        ({"training": {"report_to": ["os"]}}, "'os' is not a tracker"),
    ],
)
def test_a_setting_the_trainer_cannot_use_is_a_usage_error(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    override: dict[str, Any],
    why: str,
) -> None:
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], **override)
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert why in err and "internal error" not in err
    assert not (tmp_path / "runs" / "tiny").exists()


def test_target_modules_named_by_a_dotted_suffix_train_as_peft_takes_them(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # peft takes a module's full name or a suffix of it after a dot; the check of the
    # names compared only their last part and refused self_attn.q_proj.
    targets = ["self_attn.q_proj", "self_attn.v_proj"]
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], lora={"target_modules": targets}
    )
    run = train("sft", cfg).run_dir
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["target_modules"] == targets


def _broken_copy(model: Path, dest: Path, how: str) -> Path:
    shutil.copytree(model, dest)
    if how == "truncated weights":
        with (dest / "model.safetensors").open("r+b") as f:
            f.truncate(1000)
    elif how == "config disagrees with the weights":
        cfg = json.loads((dest / "config.json").read_text())
        (dest / "config.json").write_text(json.dumps({**cfg, "vocab_size": 50}))
    elif how == "tokenizer config is a list":
        (dest / "tokenizer_config.json").write_text("[]")
    elif how == "template raises":
        (dest / "chat_template.jinja").write_text('{{ raise_exception("nope") }}')
    return dest


@pytest.mark.parametrize(
    "how",
    [
        "truncated weights",
        "config disagrees with the weights",
        "tokenizer config is a list",
        "template raises",
    ],
)
def test_a_broken_base_model_is_a_usage_error_naming_it(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    # SafetensorError, RuntimeError, AttributeError, TemplateError: exit 3 each.
    base = _broken_copy(tiny_model, tmp_path / "base", how)
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"])
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert "base_model: cannot load" in err or "chat template cannot render" in err


def test_a_conversation_that_opens_with_an_assistant_turn_is_named(
    tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The template was asked to render the empty conversation before it: exit 3.
    rows = [*sft_rows(8), {"messages": [{"role": "assistant", "content": "the cat is red."}]}]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = write_config(tmp_path / "t.yaml", tiny_model, data)
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{data}:9: the conversation opens with an assistant turn" in err


def test_a_preference_pair_with_the_same_answer_twice_is_named(tmp_path: Path) -> None:
    # Every pair had chosen == rejected: the run ended "ok" with the loss at log 2 from
    # the first step to the last, having learnt nothing.
    from curagate.train.data import read_records, to_preferences

    rows = [{"prompt": f"q{i}", "chosen": f"yes {i}", "rejected": f"no {i}"} for i in range(8)]
    rows[5]["rejected"] = rows[5]["chosen"]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    # The reader quarantines such a pair (FMT006), as curate does: train names the row.
    with pytest.raises(
        InputError, match=rf"{data}:6: fields 'chosen' and 'rejected' are identical"
    ):
        to_preferences(read_records([str(data)], None), None)


def test_a_tokenizer_with_neither_pad_nor_eos_is_a_usage_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # pad fell back to eos, which was None too: trl refused it (exit 3) at trainer setup.
    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    config = json.loads((base / "tokenizer_config.json").read_text())
    config.update(eos_token=None, pad_token=None)
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"])
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    assert "neither a pad nor an eos token" in capsys.readouterr().err


def test_a_chat_template_that_asks_for_too_much_is_a_usage_error(
    tmp_path: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # range(10**8) in the template: jinja's OverflowError was exit 3.
    from .conftest import build_model_dir

    base = build_model_dir(tmp_path / "base", "{% for i in range(100000000) %}x{% endfor %}")
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"])
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    assert "chat template cannot render" in capsys.readouterr().err


def test_a_run_dir_follows_the_umask_and_a_link_in_its_place_is_refused_first(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # mkdtemp's 0700 made the run unreadable to another account (a CI user running the
    # gate); a symbolic link at runs/<name> failed only after the whole training.
    import os
    import stat

    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    old = os.umask(0o022)
    try:
        train("sft", cfg)
    finally:
        os.umask(old)
    run = tmp_path / "runs" / "tiny"
    assert stat.S_IMODE(run.stat().st_mode) == 0o755
    # safetensors writes its files 0600: every file of the run is readable too.
    modes = {stat.S_IMODE(p.stat().st_mode) for p in run.rglob("*") if p.is_file()}
    assert modes == {0o644} and (run / "adapter" / "adapter_model.safetensors").is_file()
    shutil.rmtree(tmp_path / "runs" / "tiny")
    (tmp_path / "runs" / "tiny").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="is a symbolic link or a file"):
        train("sft", cfg, overwrite=True)


def test_conv1d_and_embedding_layers_are_targets_lora_takes(tmp_path: Path) -> None:
    # The check refused every layer that was not exactly nn.Linear: GPT-2's c_attn
    # (transformers' Conv1D), which peft adapts and trained before, was exit 2.
    from transformers import GPT2Config, GPT2LMHeadModel

    from curagate.train.config import TrainConfig
    from curagate.train.run import _check_target_modules

    # untied: a tied input embedding is refused (test_adapting_a_tied_input_embedding_...)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=32, tie_word_embeddings=False)
    model = GPT2LMHeadModel(config)

    def check(targets: list[str]) -> None:
        cfg = TrainConfig.model_validate(
            {"name": "t", "base_model": str(tmp_path), "data": {"train": ["x.jsonl"]},
             "lora": {"target_modules": targets}}
        )  # fmt: skip
        _check_target_modules(cfg, model, tmp_path)

    check(["c_attn", "c_proj", "wte"])
    for bad, why in (("h", "h is not a layer"), ("lm_head", "lm_head is not a layer")):
        with pytest.raises(ConfigError, match=why) as e:
            check([bad])
        assert "c_attn" in str(e.value)  # the layers it could take are listed


def test_a_diverging_run_never_deletes_a_finished_run_and_names_are_not_kept_folders(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--name tiny.failed` trained, then a diverging `tiny` deleted that finished run to
    keep its metrics there."""
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    for name in ("tiny.failed", "tiny.123.conflict"):
        assert main(["train", "sft", "--config", str(cfg), "--name", name]) == 2
        assert "ends like the folders train keeps beside a run" in capsys.readouterr().err
    # A finished run that sits at tiny.failed all the same (an older curagate, by hand):
    finished = tmp_path / "runs" / "tiny.failed"
    finished.mkdir(parents=True)
    (finished / "run.json").write_text("{}")
    bad = write_config(
        tmp_path / "bad.yaml",
        tiny_model,
        sft_data["train"],
        training=DIVERGING,
    )
    with pytest.raises(CheckFailed, match=r"metrics kept in .*tiny\.\d+\.failed"):
        train("sft", bad)
    assert (finished / "run.json").read_text() == "{}"


@pytest.mark.parametrize(
    "kind",
    ["a-user-folder-with-the-data", "a-link", "a-failed-run", "a-failed-run-with-the-config"],
)
def test_a_diverging_run_replaces_only_a_previous_failed_run(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], kind: str
) -> None:
    # A folder named tiny.failed with no run.json was deleted whole to keep the metrics
    # there: a user's notes, and the very data the run was reading.
    failed = tmp_path / "runs" / "tiny.failed"
    failed.parent.mkdir(parents=True)
    data = sft_data["train"]
    if kind == "a-link":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "NOTES.txt").write_text("mine\n")
        failed.symlink_to(tmp_path / "elsewhere")
    elif kind == "a-user-folder-with-the-data":
        failed.mkdir()
        (failed / "NOTES.txt").write_text("mine\n")
        data = failed / "mydata.jsonl"
        shutil.copy(sft_data["train"], data)
    else:
        failed.mkdir()
        (failed / "summary.json").write_text('{"status": "failed", "findings": []}\n')
    where = failed if kind == "a-failed-run-with-the-config" else tmp_path
    bad = write_config(
        where / "bad.yaml", tiny_model, data, training=DIVERGING, output_dir=str(tmp_path / "runs")
    )
    with pytest.raises(CheckFailed, match="metrics kept in") as e:
        train("sft", bad)
    if kind == "a-failed-run":  # train's own: replaced by the newer one
        assert f"metrics kept in {failed}" in str(e.value)
        assert (failed / "metrics.jsonl").is_file()
        return
    assert re.search(r"metrics kept in .*tiny\.\d+\.failed", str(e.value))
    if kind == "a-failed-run-with-the-config":  # the config it was reading, in that folder
        assert bad.is_file()
        return
    assert (failed / "NOTES.txt").read_text() == "mine\n"
    assert data.is_file()


def test_overwrite_replaces_a_previous_run_only(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    """--overwrite replaced any folder at output_dir/name: a user's own files went."""
    mine = tmp_path / "runs" / "tiny"
    mine.mkdir(parents=True)
    (mine / "thesis.tex").write_text("years of work\n")
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    # nor one holding a run.json that is no run record, or a link to one
    for record in (None, "not json at all", "link"):
        if record == "link":
            (mine / "run.json").unlink()
            (mine / "run.json").symlink_to(tmp_path / "elsewhere.json")
        elif record is not None:
            (mine / "run.json").write_text(record)
        with pytest.raises(InputError, match=r"holds no run\.json of a run, so it is not"):
            train("sft", cfg, overwrite=True)
        assert (mine / "thesis.tex").read_text() == "years of work\n"


BUNDLE_MANIFEST = '{"schema_version": 1, "kind": "curagate-bundle", "files": {}}'


@pytest.mark.parametrize("owner", [".curagate-output.json", "MANIFEST.json"])
def test_a_run_is_never_written_inside_a_curagate_output_or_a_bundle(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], owner: str
) -> None:
    """Trained into a curate output (or a bundle), the run made `verify` of it fail and
    every later train on its kept/ refuse the changed output."""
    from curagate.io.outputs import write_marker

    out = tmp_path / "cur"
    out.mkdir()
    if owner == "MANIFEST.json":
        (out / owner).write_text(BUNDLE_MANIFEST)
    else:
        write_marker(out, "curate", [])
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], output_dir=str(out))
    with pytest.raises(
        InputError, match=rf"output_dir\) .*: is inside .* \({out}, which has {owner}\)"
    ):
        train("sft", cfg)
    assert sorted(p.name for p in out.iterdir()) == [owner]


def test_a_manifest_json_of_anything_else_above_the_run_is_no_obstacle(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Any MANIFEST.json up to / refused the run (a project's own, a marker of "{}").
    (tmp_path / "MANIFEST.json").write_text('{"whatever": 1}')
    (tmp_path / ".curagate-output.json").write_text("{}")
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    assert (train("sft", cfg).run_dir / "run.json").is_file()


def test_adapting_a_tied_input_embedding_is_refused_before_training(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    """It trained fine and no export could ever match base + adapter (lm_head changed too)."""
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        lora={"target_modules": ["embed_tokens"]},
    )
    with pytest.raises(ConfigError, match=r"embed_tokens is the input embedding, which .* ties"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.parametrize("key", ["batch_size", "eval_batch_size", "max_steps"])
def test_a_batch_or_step_count_past_any_run_is_a_config_error(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    key: str,
) -> None:
    # 2^63 was an internal error (islice) once the model had loaded; max_steps trained forever.
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], training={key: 2**63})
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    assert f"training.{key}" in capsys.readouterr().err


def test_a_preference_pair_whose_answers_differ_only_in_form_is_named(tmp_path: Path) -> None:
    # A string and the one assistant turn holding it are the same answer: loss log 2. The
    # records' check says so first, as curate, check and audit do (one rule:
    # curagate.records.same_responses; they passed it once, and train alone refused it).
    from curagate.train.data import read_records, to_preferences

    rows = [
        {
            "prompt": f"q{i}",
            "chosen": f"yes {i}",
            "rejected": [{"role": "assistant", "content": f"no {i}"}],
        }
        for i in range(4)
    ]
    rows[2]["rejected"] = [{"role": "assistant", "content": "yes 2", "name": "x"}]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(
        InputError, match=rf"{data}:3: fields 'chosen' and 'rejected' are identical"
    ):
        to_preferences(read_records([str(data)], None), None)


def test_a_preference_pair_the_template_renders_alike_is_refused(tmp_path: Path) -> None:
    # Found by attack: answers differing only in a tool call's id (which the template does
    # not render) were two answers to _said, and the run trained to nothing (loss 0.693
    # from the first step to the last, exit 0).
    from .conftest import build_model_dir
    from .test_train_runs import TOOL_TEMPLATE

    model = build_model_dir(tmp_path / "model", chat_template=TOOL_TEMPLATE)

    def answer(call_id: str, city: str) -> list[dict[str, Any]]:
        fn = {"name": "get_weather", "arguments": {"city": city}}
        call = {"id": call_id, "type": "function", "function": fn}
        return [{"role": "assistant", "content": "", "tool_calls": [call]}]

    rows = [
        {
            "prompt": [{"role": "user", "content": f"weather in city {i}?"}],
            "chosen": answer("call_a", f"c{i}"),
            "rejected": answer("call_b", f"c{i}" if i == 2 else "elsewhere"),
        }
        for i in range(4)
    ]
    data = write_jsonl(tmp_path / "pref_id.jsonl", rows)
    cfg = write_config(tmp_path / "d.yaml", model, data, data={"max_length": 128})
    # The records check now reads a tool call's id as volatile (as the template does): the
    # row is refused before the template is asked, for the same reason.
    with pytest.raises(
        InputError,
        match=rf"{data}:3: fields 'chosen' and 'rejected' are identical",
    ):
        train("dpo", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


def test_a_run_trained_with_a_sign_key_carries_the_trainers_signature_of_its_record(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    from curagate.artifacts import load_run
    from curagate.signing import RUN_ATTESTATION_NAME, generate_keypair, verify_run_record

    private, public = generate_keypair(tmp_path / "trainer")
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    run = train("sft", cfg, sign_key=private).run_dir
    assert (run / RUN_ATTESTATION_NAME).is_file()
    keyid = verify_run_record(run, load_run(run).run_sha256, public.read_bytes())
    assert len(keyid) == 64
    with pytest.raises(InputError, match="not an unencrypted PEM private key"):
        train("sft", cfg, sign_key=public, overwrite=True)  # a public key: before training


def test_train_writes_no_progress_bar_when_quiet_or_not_on_a_terminal(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # The Trainer's loop and transformers' "Loading weights" drew bars into a CI log.
    import os
    import subprocess
    import sys

    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 2}
    )
    proc = subprocess.run(
        [sys.executable, "-m", "curagate", "train", "sft", "--config", str(cfg), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "it/s]" not in proc.stderr and "s/it]" not in proc.stderr and "%|" not in proc.stderr


def _refused_before_training(
    tmp_path: Path, base: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> str:
    """`train sft` on ``base``: exit 2, no traceback, no run folder; its stderr."""
    cfg = write_config(tmp_path / "t.yaml", base, sft_data["train"])
    assert main(["train", "sft", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "runs" / "tiny").exists()
    return err


@pytest.mark.parametrize(
    "layout", ["no head", "embeddings in a sub-folder shard", "tied, head differs", "string"]
)
def test_a_base_whose_output_layer_transformers_loads_against_config_json_is_refused(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    layout: str,
) -> None:
    # Found by attack: train accepted a base whose config.json says tie_word_embeddings:
    # false while the weights transformers loads hold no lm_head.weight (a random output
    # layer, another one on every load: export and the gate could never load the model
    # trained); tied with a differing lm_head.weight, loaders disagree; "false" as a string
    # made transformers 5 raise (exit 3). Refused before training, naming config.json.
    from tests.tiny_llama import relay_output_layer

    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    if layout == "string":
        config = json.loads((base / "config.json").read_text())
        (base / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": "false"}))
        named = 'tie_word_embeddings is "false"'
    else:
        relay_output_layer(base, layout)
        named = (
            "tie_word_embeddings is true" if "tied" in layout else "tie_word_embeddings is false"
        )
    err = _refused_before_training(tmp_path, base, sft_data, capsys)
    assert f"{base / 'config.json'}: {named}" in err, err


@pytest.mark.parametrize("damage", ["fewer layers in config", "nan"])
def test_a_base_whose_weights_transformers_would_load_wrongly_is_refused(
    tmp_path: Path,
    tiny_model: Path,
    sft_data: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    # Found by attack: num_hidden_layers 1 in config.json beside weights of 2 layers trained
    # a 1-layer model (transformers drops what it has no place for); a NaN weight trained on
    # NaN. Refused before training, naming the tensors.
    from tests.tiny_llama import damage_weights

    base = tmp_path / "base"
    shutil.copytree(tiny_model, base)
    named = damage_weights(base, damage)
    err = _refused_before_training(tmp_path, base, sft_data, capsys)
    assert f"base_model: {base}: {named}" in err, err


def test_a_save_step_apart_from_the_eval_steps_is_refused_before_training(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: eval_steps 1, save_steps 2 (a multiple, as transformers asks).
    # Step 1's evaluation was the best, recorded in run.json as best_eval_loss, while the
    # adapter shipped was step 2's (no checkpoint of step 1 existed): exit 0.
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        sft_data["val"],
        training={
            "max_steps": 2,
            "eval_steps": 1,
            "save_steps": 2,
            "learning_rate": 0.05,
            "lr_scheduler": "constant",
            "early_stopping_patience": 0,
            "threads": 1,
        },
    )
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "training.save_steps: save_steps (2) must equal eval_steps (1)" in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_an_output_dir_that_cannot_be_created_is_a_usage_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: --output-dir /proc/x failed (ENOENT) once the tokenizer had loaded,
    # exit 3 with a traceback in a crash log.
    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"])
    args = ["train", "sft", "--config", str(cfg), "--quiet", "--output-dir", "/proc/x"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "output_dir: cannot create /proc/x: No such file or directory" in err, err
    assert "internal error" not in err


def test_save_total_limit_keeps_that_many_checkpoints_in_all_the_best_among_them(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # docs/train.md said "the last N, plus the best": transformers keeps N in all.
    cfg = write_config(
        tmp_path / "t.yaml",
        tiny_model,
        sft_data["train"],
        sft_data["val"],
        training={
            "max_steps": 3,
            "eval_steps": 1,
            "save_total_limit": 2,
            "learning_rate": 0.05,
            "lr_scheduler": "constant",
            "early_stopping_patience": 0,
            "threads": 1,
        },
    )
    result = train("sft", cfg)
    kept = sorted(p.name for p in (result.run_dir / "checkpoints").glob("checkpoint-*"))
    # Step 1 is the best (this rate overshoots at step 2): kept with the newest, and
    # checkpoint-2 deleted; "the last 2 plus the best" would keep all three.
    assert result.summary["best_checkpoint"] == "checkpoints/checkpoint-1"
    assert kept == ["checkpoint-1", "checkpoint-3"], kept


def test_a_second_train_of_one_run_folder_at_once_is_refused(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: two `train --overwrite` of one name at once both exited 0, each
    # replacing the other's run. Another process holds the run's lock, as a run does.
    import subprocess
    import sys

    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    runs = tmp_path / "runs"
    runs.mkdir()
    lock = runs / ".tiny.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        args = ["train", "sft", "--config", str(cfg), "--quiet", "--overwrite"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"another run is writing {runs / 'tiny'} (it holds {lock})" in err, err
        assert not (runs / "tiny").exists()
    finally:
        holder.communicate("")
    assert main(args) == 0  # the holder is gone: so is its lock
    assert sorted(p.name for p in runs.iterdir()) == ["tiny"]


@pytest.mark.skipif(
    not hasattr(os, "fork") or os.geteuid() != 0, reason="needs root to switch account"
)
def test_a_lock_file_another_account_left_blocks_nothing(tmp_path: Path) -> None:
    # Found by attack: a killed run's lock file (0644, another account's) refused every
    # later run with EACCES (it was opened read-write). A forked child switched to another
    # account takes the lock on a root-owned 0644 file, as the next user's run would.
    import tempfile

    from curagate.train.run import _run_lock

    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder.chmod(0o777)
        lock = folder / ".tiny.lock"
        lock.write_text("")
        lock.chmod(0o644)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit status
            code = 1
            try:
                os.setgid(65534)
                os.setuid(65534)
                assert not os.access(lock, os.W_OK)
                with _run_lock(folder / "tiny"):
                    code = 0
            finally:
                os._exit(code)
        assert os.waitpid(pid, 0)[1] == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_output_dir_that_takes_no_lock_file_is_a_path_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `output_dir: /proc` (it exists, but takes no file) crashed (exit 3).
    from curagate.cli import main

    cfg = write_config(tmp_path / "t.yaml", tiny_model, sft_data["train"], output_dir="/proc")
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot open the run's lock file /proc/.tiny.lock" in err, err
    assert "Traceback" not in err


def test_rows_left_out_are_said_on_stderr_per_reason(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: rows cut to no trained token were left out with a word only in
    # run.json (exit 0, nothing printed).
    long_row = {
        "messages": [
            {"role": "user", "content": "word " * 200},
            {"role": "assistant", "content": "ok"},
        ]
    }
    train_file = write_jsonl(tmp_path / "d" / "train.jsonl", [*sft_rows(32), long_row, long_row])
    val_file = write_jsonl(
        tmp_path / "d" / "val.jsonl",
        [
            *sft_rows(8, offset=100, shift=1),
            {"messages": [{"role": "user", "content": "word " * 201}, long_row["messages"][1]]},
        ],
    )
    cfg = write_config(
        tmp_path / "t.yaml", tiny_model, train_file, val_file, training={"max_steps": 1}
    )
    assert main(["train", "sft", "--config", str(cfg), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "validation row(s) are training rows" not in err
    assert (
        "warning: rows left out of the run (summary.data in run.json): no trained token left "
        "once cut to data.max_length: 2 training, 1 validation" in err
    ), err
    record = json.loads((tmp_path / "runs" / "tiny" / "run.json").read_text())
    data = record["summary"]["data"]
    assert (data["dropped_no_trained_tokens"], data["validation_dropped_no_trained_tokens"]) == (
        2,
        1,
    )


def test_a_refusal_or_thinking_part_is_named_by_its_type_not_as_an_image(tmp_path: Path) -> None:
    # Found by re-attack: a refusal or thinking part curate keeps (its text is in the key)
    # was refused by train as "non-text content part(s) (image, audio)".
    from curagate.train.data import read_records, to_conversations

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": [{"type": "text", "text": f"answer {i}"}]},
            ]
        }
        for i in range(4)
    ]
    rows[2]["messages"][1]["content"] = [{"type": "refusal", "refusal": "I can't help."}]
    rows[3]["messages"][1]["content"] = [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "answer 3"},
    ]
    records = read_records([str(write_jsonl(tmp_path / "a.jsonl", rows))], None)
    with pytest.raises(
        InputError, match=r":3: message 1 has 1 content part\(s\) that are not text \(refusal\)"
    ):
        to_conversations(records, None)
