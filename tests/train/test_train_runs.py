"""End-to-end runs on the tiny local model (seconds on CPU)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed, ConfigError
from curagate.train import train

from .conftest import build_model_dir, preference_rows, write_config, write_jsonl

pytest.importorskip("trl")
pytest.importorskip("peft")

RUN_KEYS = {
    "schema_version",
    "name",
    "task",
    "base_model",
    "adapter_dir",
    "dataset_manifest",
    "golden_sets",
    "allow_leakage",
    "config",
    "seed",
    "git_commit",
    "versions",
    "hardware",
    "chat_template_sha256",
    "metrics_file",
}


@pytest.mark.slow
def test_sft_run_directory_is_complete(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(tmp_path / "train.yaml", tiny_model, sft_data["train"], sft_data["val"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = train("sft", cfg)
    # No deprecation of the libraries' own calls on every run (peft and trl read
    # transformers' deprecated is_gradient_checkpointing: a FutureWarning nobody can act on).
    assert [str(w.message) for w in seen if issubclass(w.category, FutureWarning)] == []
    run_dir = result.run_dir
    run = json.loads((run_dir / "run.json").read_text())
    assert set(run) >= RUN_KEYS
    assert run["task"] == "sft" and run["schema_version"] == 2 and run["seed"] == 7
    assert run["dataset_manifest"]["total_rows"] == 32
    assert run["dataset_manifest"]["files"][0]["rows"] == 32
    assert "model.safetensors" in run["base_model"]["files"]
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {
        p.name for p in (run_dir / run["adapter_dir"]).iterdir()
    }
    # Every adapter file's sha256, so a swapped adapter is caught by export and the gate.
    adapter = run_dir / run["adapter_dir"]
    assert run["adapter_files"] == {
        p.relative_to(adapter).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(adapter.rglob("*"))
        if p.is_file()
    }
    assert (run_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "config.yaml").is_file()
    assert "dpo" not in run["config"]  # what an sft run used, not the DPO defaults
    assert run["config"]["training"]["early_stopping_patience"] == 3  # validation: it watched
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for r in rows if "loss" in r) == 8
    assert sum(1 for r in rows if "eval_loss" in r) >= 3  # baseline + every 4 steps


@pytest.mark.slow
def test_sft_loss_falls_on_the_toy_task(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(tmp_path / "train.yaml", tiny_model, sft_data["train"], sft_data["val"])
    s = train("sft", cfg).summary
    assert s["last_train_loss"] < s["first_train_loss"]
    assert s["best_eval_loss"] < s["first_eval_loss"]
    # logged every step: the last logged loss is the last step's (the summary names both
    # steps: with a sparser logging_steps it said the loss never moved when it had)
    assert (s["first_train_loss_step"], s["last_train_loss_step"]) == (1, s["global_step"])


@pytest.mark.slow
def test_sft_is_bit_identical_on_rerun(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(tmp_path / "train.yaml", tiny_model, sft_data["train"])
    from safetensors.torch import load_file

    a = train("sft", cfg, name="a").run_dir / "adapter" / "adapter_model.safetensors"
    b = train("sft", cfg, name="b").run_dir / "adapter" / "adapter_model.safetensors"
    assert a.read_bytes() == b.read_bytes()
    trained = [t for k, t in load_file(a).items() if "lora_B" in k]
    assert trained and all(t.abs().max() > 1e-6 for t in trained)  # the adapter did move


@pytest.mark.slow  # three processes that each import torch
def test_the_adapter_digest_does_not_depend_on_pythons_hash_seed(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # peft writes target_modules from a set: two processes wrote them in two orders, so
    # one training had two adapter digests (the gate's adapter_sha256, the lineage).
    import os
    import subprocess
    import sys

    cfg = write_config(tmp_path / "train.yaml", tiny_model, sft_data["train"])
    configs = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        cmd = [sys.executable, "-m", "curagate", "train", "sft", "--config", str(cfg)]
        done = subprocess.run([*cmd, "--name", f"h{seed}"], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        adapter = tmp_path / "runs" / f"h{seed}" / "adapter"
        configs.append((adapter / "adapter_config.json").read_bytes())
    assert configs[0] == configs[1] == configs[2]
    modules = json.loads(configs[0])["target_modules"]
    assert modules == sorted(modules) and len(modules) == 4


@pytest.mark.slow
def test_dora_option_trains(tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]) -> None:
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        lora={"use_dora": True},
        training={"max_steps": 2, "batch_size": 4},
    )
    from safetensors.torch import load_file

    run_dir = train("sft", cfg).run_dir
    adapter_cfg = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["use_dora"] is True
    dora = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    magnitudes = [k for k in dora if "lora_magnitude_vector" in k]
    assert magnitudes, "a DoRA adapter carries a magnitude vector per adapted layer"
    plain = write_config(
        tmp_path / "lora.yaml",
        tiny_model,
        sft_data["train"],
        training={"max_steps": 2, "batch_size": 4},
    )
    lora = load_file(
        train("sft", plain, name="lora").run_dir / "adapter" / "adapter_model.safetensors"
    )
    assert not any("lora_magnitude_vector" in k for k in lora)
    shared = [k for k in lora if "lora_B" in k]
    assert shared and any(not lora[k].equal(dora[k]) for k in shared)


@pytest.mark.slow
def test_huge_learning_rate_stops_the_run(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        training={"max_steps": 8, "learning_rate": 1e30, "batch_size": 4},
    )
    with pytest.raises(CheckFailed, match="diverged"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()
    failed = json.loads((tmp_path / "runs" / "tiny.failed" / "summary.json").read_text())
    assert failed["findings"][0]["id"] == "TH001"


@pytest.mark.slow
def test_cli_exit_code_for_diverged_run_is_1(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        training={"max_steps": 8, "learning_rate": 1e30, "batch_size": 4},
    )
    assert main(["train", "sft", "--config", str(cfg)]) == 1


@pytest.mark.slow
def test_existing_run_is_not_overwritten(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(
        tmp_path / "train.yaml", tiny_model, sft_data["train"], training={"max_steps": 1}
    )
    train("sft", cfg)
    assert main(["train", "sft", "--config", str(cfg)]) == 2


def test_missing_chat_template_refuses_to_train(tmp_path: Path, sft_data: dict[str, Path]) -> None:

    model = build_model_dir(tmp_path / "nochat", chat_template=None)
    cfg = write_config(tmp_path / "train.yaml", model, sft_data["train"])
    with pytest.raises(ConfigError, match="no chat template"):
        train("sft", cfg)


def test_qlora_without_cuda_is_a_clear_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = write_config(tmp_path / "train.yaml", tiny_model, sft_data["train"], lora={"qlora": True})
    with pytest.raises(ConfigError, match=r"QLoRA .*needs a CUDA GPU"):
        train("sft", cfg)


@pytest.mark.slow
def test_dpo_trains_an_adapter(tmp_path: Path, tiny_model: Path) -> None:
    train_f = write_jsonl(tmp_path / "pref" / "train.jsonl", preference_rows(16))
    val_f = write_jsonl(tmp_path / "pref" / "val.jsonl", preference_rows(4, offset=50, shift=1))
    cfg = write_config(
        tmp_path / "dpo.yaml",
        tiny_model,
        train_f,
        val_f,
        training={"max_steps": 4, "batch_size": 4, "eval_steps": 2},
    )
    result = train("dpo", cfg)
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["task"] == "dpo" and run["config"]["dpo"]["beta"] == 0.1
    assert (result.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert result.summary["global_step"] == 4


TOOL_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.tool_calls %}"
    "{% for c in m.tool_calls %}<call>{{ c.function.name }}({{ c.function.arguments | tojson }})"
    "</call>{% endfor %}{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.mark.slow
def test_dpo_trains_on_tool_call_arguments_exactly_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrow gave every row's `arguments` the keys of every other row's, as nulls, and the
    # template rendered them: `get_color({"animal": "cat", "color": null})` was trained.
    import transformers
    import trl

    model = build_model_dir(tmp_path / "model", chat_template=TOOL_TEMPLATE)
    rows = []
    for i in range(8):
        args = {"animal": "cat"} if i % 2 == 0 else {"color": "red"}
        call = {"type": "function", "function": {"name": "get_color", "arguments": args}}
        rows.append(
            {
                "prompt": [{"role": "user", "content": f"what color is the red cat number {i}?"}],
                "chosen": [{"role": "assistant", "content": "", "tool_calls": [call]}],
                "rejected": [{"role": "assistant", "content": "the cat is blue."}],
            }
        )
    data = write_jsonl(tmp_path / "pref.jsonl", rows)
    seen: list[Any] = []
    original = trl.DPOTrainer.train

    def train_and_keep(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.train_dataset)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(trl.DPOTrainer, "train", train_and_keep)
    cfg = write_config(
        tmp_path / "dpo.yaml",
        model,
        data,
        data={"max_length": 256},
        training={"max_steps": 1, "batch_size": 2},
    )
    tok = transformers.AutoTokenizer.from_pretrained(model)
    train("dpo", cfg)
    [ds] = seen
    for row, example in zip(rows, ds, strict=True):
        want = tok.apply_chat_template(row["prompt"] + row["chosen"], tokenize=True)
        want = want["input_ids"] if hasattr(want, "keys") else want
        assert example["prompt_ids"] + example["chosen_ids"] == list(want)


@pytest.mark.slow
def test_dpo_checks_render_each_pair_once_before_trl_does(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by review: the end-of-turn check, the truncation check and the validation
    # overlap check each rendered every pair again (prompt, prompt + chosen, prompt +
    # rejected: up to three renders of each), through the chat template. Rendered once now.
    import transformers
    import trl

    calls: dict[str, int] = {}
    trl_started = False
    original_render = transformers.PreTrainedTokenizerBase.apply_chat_template
    original_init = trl.DPOTrainer.__init__

    def counting_render(self: Any, conversation: Any, *args: Any, **kwargs: Any) -> Any:
        if not trl_started:
            key = json.dumps([conversation, kwargs.get("add_generation_prompt", False)])
            calls[key] = calls.get(key, 0) + 1
        return original_render(self, conversation, *args, **kwargs)

    def init_and_stop_counting(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal trl_started
        trl_started = True  # trl renders the pairs itself from here on
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(
        transformers.PreTrainedTokenizerBase, "apply_chat_template", counting_render
    )
    monkeypatch.setattr(trl.DPOTrainer, "__init__", init_and_stop_counting)
    train_rows, val_rows = preference_rows(8), preference_rows(4, offset=50, shift=1)
    cfg = write_config(
        tmp_path / "dpo.yaml",
        tiny_model,
        write_jsonl(tmp_path / "pref" / "train.jsonl", train_rows),
        write_jsonl(tmp_path / "pref" / "val.jsonl", val_rows),
        training={"max_steps": 1, "batch_size": 4, "eval_steps": 1},
    )
    train("dpo", cfg)
    assert trl_started
    for row in train_rows + val_rows:
        prompt = [{"role": "user", "content": row["prompt"]}]
        answers = [[{"role": "assistant", "content": row[s]}] for s in ("chosen", "rejected")]
        for turns, gen in [(prompt, True), *((prompt + a, False) for a in answers)]:
            assert calls.get(json.dumps([turns, gen]), 0) == 1, (turns, gen)


def test_report_to_an_uninstalled_tracker_is_a_config_error(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        training={"report_to": ["no_such_tracker"]},
    )
    with pytest.raises(ConfigError, match="report_to: no_such_tracker is not installed"):
        train("sft", cfg)


def test_import_gguf_refuses_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"not a gguf file")
    assert main(["model", "import-gguf", str(fake), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"GGUF", b"GGUF\x03\x00\x00\x00" + b"\xff" * 16])
def test_import_gguf_of_a_cut_or_corrupt_gguf_is_an_input_error(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    # The gguf reader's struct.error / OverflowError were exit 3.
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(content)
    assert main(["model", "import-gguf", str(cut), "--out", str(tmp_path / "out")]) == 2
    assert "cannot load this GGUF file" in capsys.readouterr().err


@pytest.mark.slow
def test_early_stopping_ends_the_run_when_validation_loss_stalls(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # lr 1e-30 leaves the weights (and so the validation loss) unchanged.
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        sft_data["val"],
        training={
            "max_steps": 8,
            "eval_steps": 2,
            "learning_rate": 1e-30,
            "early_stopping_patience": 1,
        },
    )
    s = train("sft", cfg).summary
    assert s["stopped_early"] and s["global_step"] == 4


@pytest.mark.slow
def test_dpo_is_bit_identical_on_rerun(tmp_path: Path, tiny_model: Path) -> None:
    train_f = write_jsonl(tmp_path / "pref" / "train.jsonl", preference_rows(8))
    cfg = write_config(
        tmp_path / "dpo.yaml", tiny_model, train_f, training={"max_steps": 2, "batch_size": 4}
    )
    from safetensors.torch import load_file

    a = train("dpo", cfg, name="a").run_dir / "adapter" / "adapter_model.safetensors"
    b = train("dpo", cfg, name="b").run_dir / "adapter" / "adapter_model.safetensors"
    assert a.read_bytes() == b.read_bytes()
    # Identical because deterministic, not because nothing happened: lora_B starts at zero.
    trained = [t for k, t in load_file(a).items() if "lora_B" in k]
    assert trained and all(t.abs().max() > 1e-6 for t in trained)


@pytest.mark.slow  # a training run with validation
def test_an_adapter_worse_than_the_base_on_validation_is_said(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: validation answers unlike the training ones got worse from the
    # step-0 baseline at every evaluation; the run printed "validation loss: 5.65 -> best
    # 5.86" and nothing else, the adapter kept being worse than no training.
    val = tmp_path / "val.jsonl"
    write_jsonl(
        val,
        [
            {
                "messages": [
                    {"role": "user", "content": f"what color is the {c} {a}?"},
                    {"role": "assistant", "content": f"no idea, maybe {a} {c} {i}"},
                ]
            }
            for i, (a, c) in enumerate([("cat", "red"), ("dog", "blue"), ("cow", "green")] * 3)
        ],
    )
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        val,
        training={"learning_rate": 0.05, "early_stopping_patience": 0, "warmup_ratio": 0.03},
    )
    assert main(["train", "sft", "--config", str(cfg)]) == 0
    out, err = capsys.readouterr()
    assert "(step 1) -> " in out and "(step 8, the last logged)" in out
    assert "the kept adapter's best validation loss is above the base model's" in err


@pytest.mark.slow
def test_one_step_run_at_learning_rate_zero_fails(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # The default warmup (3% of the steps) makes a one-step run's only step run at
    # learning rate 0: the adapter never moved, and it shipped the base's weights.
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        training={"max_steps": 1, "batch_size": 4, "warmup_ratio": 0.03},  # the default
    )
    with pytest.raises(CheckFailed, match=r"never changed.*learning rate was 0 at every step"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()
    failed = json.loads((tmp_path / "runs" / "tiny.failed" / "summary.json").read_text())
    assert [f["id"] for f in failed["findings"]] == ["TH010"]
    assert main(["train", "sft", "--config", str(cfg), "--overwrite"]) == 1
    # Without warmup the same one step trains.
    ok = write_config(
        tmp_path / "ok.yaml",
        tiny_model,
        sft_data["train"],
        training={"max_steps": 1, "batch_size": 4, "warmup_ratio": 0},
    )
    assert train("sft", ok, name="ok").summary["status"] == "ok"


@pytest.mark.slow
def test_an_adapter_whose_b_matrices_stayed_zero_fails(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # Gradients clipped to nothing: weight decay alone moved lora_A, so the weights were
    # not those it started with, but every lora_B was 0 and the adapter added nothing; it
    # shipped with status ok (found by re-attack).
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        training={
            "max_steps": 2,
            "batch_size": 4,
            "warmup_ratio": 0,
            "learning_rate": 0.5,
            "max_grad_norm": 1.0e-300,
            "weight_decay": 0.01,
        },
    )
    with pytest.raises(CheckFailed, match=r"every LoRA B matrix is still 0"):
        train("sft", cfg)
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.slow
def test_best_checkpoint_equal_to_the_initial_adapter_is_not_shipped(
    tmp_path: Path, tiny_model: Path, sft_data: dict[str, Path]
) -> None:
    # checkpoint-1 ran at learning rate 0 (warmup) and so equals the initial adapter;
    # with a learning rate that makes every later checkpoint worse on validation, it
    # was chosen as the best and shipped, an untouched copy, with status ok.
    cfg = write_config(
        tmp_path / "train.yaml",
        tiny_model,
        sft_data["train"],
        sft_data["val"],
        training={
            "max_steps": 5,
            "batch_size": 4,
            "learning_rate": 5.0,
            "max_grad_norm": 1000.0,
            "eval_steps": 1,
            "save_total_limit": 1,
            "early_stopping_patience": 0,
            "warmup_ratio": 0.2,
            "threads": 1,
        },
    )
    with pytest.raises(CheckFailed, match="never changed") as e:
        train("sft", cfg)
    assert "best checkpoint (checkpoints/checkpoint-1" in str(e.value)
    assert not (tmp_path / "runs" / "tiny").exists()


@pytest.mark.slow
def test_generation_config_eos_without_the_end_of_turn_token_is_reported(
    tmp_path: Path, sft_data: dict[str, Path]
) -> None:
    # Found by attack: generation_config.json's eos_token_id (what generate() stops at)
    # left out <|im_end|>, and TH006 stayed quiet because the tokenizer's eos is it.
    model = build_model_dir(tmp_path / "model")
    gen = json.loads((model / "generation_config.json").read_text())
    im_end = gen["eos_token_id"]
    gen["eos_token_id"] = im_end - 1
    (model / "generation_config.json").write_text(json.dumps(gen))
    cfg = write_config(
        tmp_path / "train.yaml",
        model,
        sft_data["train"],
        training={"max_steps": 1, "batch_size": 4, "warmup_ratio": 0},
    )
    findings = train("sft", cfg).summary["findings"]
    [th006] = [f for f in findings if f["id"] == "TH006"]
    assert "generation_config.eos_token_id" in th006["message"]
    gen["eos_token_id"] = [im_end - 1, im_end]  # a list that holds it stops there
    (model / "generation_config.json").write_text(json.dumps(gen))
    findings = train("sft", cfg, name="listed").summary["findings"]
    assert not [f for f in findings if f["id"] == "TH006"]
    gen["eos_token_id"] = [[im_end - 1, im_end]]  # no id: it crashed the run, exit 3
    (model / "generation_config.json").write_text(json.dumps(gen))
    findings = train("sft", cfg, name="nested").summary["findings"]
    [th006] = [f for f in findings if f["id"] == "TH006"]
    assert "holds something that is not a token id" in th006["message"]
