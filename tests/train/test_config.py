from __future__ import annotations

from pathlib import Path

import pytest

from curagate.errors import ConfigError
from curagate.train.config import load_config

MINIMAL = "name: r1\nbase_model: models/base\ndata:\n  train: data/train.jsonl\n"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "train.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_follow_the_fine_tuning_guide(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, MINIMAL))
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    assert cfg.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert not cfg.lora.use_dora and not cfg.lora.qlora
    t = cfg.training
    assert (t.learning_rate, t.lr_scheduler, t.warmup_ratio) == (2e-4, "cosine", 0.03)
    assert (t.max_grad_norm, t.weight_decay, t.save_total_limit) == (1.0, 0.01, 3)
    assert cfg.dpo.beta == 0.1


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, MINIMAL))
    assert cfg.base_model == (tmp_path / "models" / "base").resolve().as_posix()
    assert cfg.data.train == [(tmp_path / "data" / "train.jsonl").resolve().as_posix()]


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "lora:\n  r: 8\n  alpah: 16\n")
    with pytest.raises(ConfigError, match=r"train\.yaml:7: lora\.alpah: unknown key"):
        load_config(p)


def test_old_golden_sets_key_names_its_new_name(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "golden_sets:\n  qa: golden/qa\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}:5: golden_sets: renamed to leakage_reference; move the value there"


def test_leakage_reference_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, MINIMAL + "leakage_reference:\n  qa: [golden/qa]\n"))
    assert cfg.leakage_reference == {"qa": [(tmp_path / "golden" / "qa").resolve().as_posix()]}


def test_bad_value_names_file_line_and_key(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "training:\n  learning_rate: -1\n")
    with pytest.raises(
        ConfigError, match=r"train\.yaml:6: training\.learning_rate: .*greater than 0"
    ):
        load_config(p)


def test_missing_required_key_is_reported(tmp_path: Path) -> None:
    p = _write(tmp_path, "name: r1\ndata:\n  train: x.jsonl\n")
    with pytest.raises(ConfigError, match=r"base_model: required key is missing"):
        load_config(p)


def test_save_steps_must_be_eval_steps_with_validation(tmp_path: Path) -> None:
    # A multiple was accepted (as transformers asks): with eval_steps 1 and save_steps 2
    # the evaluation at step 3 was recorded as the best while checkpoint-2 shipped.
    val = "  validation: data/val.jsonl\n"
    for save in (15, 20):
        p = _write(tmp_path, MINIMAL + val + f"training:\n  eval_steps: 10\n  save_steps: {save}\n")
        with pytest.raises(ConfigError) as e:
            load_config(p)
        assert str(e.value).startswith(
            f"{p}:8: training.save_steps: save_steps ({save}) must equal"
        )
        assert "eval_steps (10)" in str(e.value) and "data.validation" in str(e.value)
    cfg = load_config(
        _write(tmp_path, MINIMAL + val + "training:\n  eval_steps: 10\n  save_steps: 10\n")
    )
    assert cfg.training.save_steps == 10


def test_save_steps_is_free_without_validation(tmp_path: Path) -> None:
    # No evaluation, no best checkpoint: checkpoints are only kept every save_steps.
    cfg = load_config(_write(tmp_path, MINIMAL + "training:\n  eval_steps: 10\n  save_steps: 15\n"))
    assert cfg.training.save_steps == 15


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, MINIMAL + "lora: [1,\n")
    with pytest.raises(ConfigError, match=r"train\.yaml:\d+: invalid YAML"):
        load_config(p)


# Holes found by attacking train; each is a test now.


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("training", "epochs", ".inf"),
        ("training", "epochs", "1e308"),
        ("training", "learning_rate", ".inf"),
        ("training", "max_grad_norm", ".inf"),
        ("training", "weight_decay", ".inf"),
        ("training", "warmup_ratio", ".nan"),
        ("lora", "dropout", ".nan"),
        ("dpo", "beta", ".inf"),
        ("health", "loss_spike_factor", ".inf"),
    ],
)
def test_non_finite_or_absurd_numbers_name_the_key(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    p = _write(tmp_path, MINIMAL + f"{section}:\n  {key}: {value}\n")
    with pytest.raises(ConfigError, match=rf"train\.yaml:6: {section}\.{key}: "):
        load_config(p)


def test_cli_train_exits_2_on_an_infinite_epoch_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate.cli import main

    p = _write(tmp_path, MINIMAL + "training:\n  epochs: .inf\n")
    assert main(["train", "sft", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "training.epochs" in err and "Traceback" not in err


def test_a_dpo_section_in_an_sft_config_is_refused(tmp_path: Path) -> None:
    # Found by attack: `train sft` ignored a `dpo:` section without a word.
    p = _write(tmp_path, MINIMAL + "dpo:\n  beta: 0.5\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, "sft")
    assert str(e.value).startswith(f"{p}:5: dpo: this section is for `curagate train dpo`")
    assert load_config(p, "dpo").dpo.beta == 0.5


@pytest.mark.parametrize("task", ["sft", "dpo", None])
def test_an_sft_section_is_refused_naming_where_its_keys_go(tmp_path: Path, task: str) -> None:
    p = _write(tmp_path, MINIMAL + "sft:\n  learning_rate: 0.001\n")
    with pytest.raises(ConfigError) as e:
        load_config(p, task)
    assert str(e.value).startswith(f"{p}:5: sft: no such section")
    assert "data, lora and training" in str(e.value)


@pytest.mark.parametrize("value", ['""', '"   "', '"\\n\\t"', '"\\u200b"'])
def test_a_blank_system_prompt_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    # Found by attack: a blank system_prompt added an empty system turn to every
    # conversation without one, where a data row with an empty system turn is refused.
    p = _write(tmp_path, MINIMAL.replace("data:\n", f"data:\n  system_prompt: {value}\n"))
    with pytest.raises(ConfigError, match=r"train\.yaml:4: data\.system_prompt: .*blank"):
        load_config(p)
