"""Reading configs: every YAML the project reads goes through one loader
(curagate.yamlio), and every config value is bounded before a run starts.

# Holes found by attacking the config side; each is a test now.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from curagate.config import CurateConfig, load_model
from curagate.errors import ConfigError
from curagate.gate.config import parse_gate
from curagate.golden import GoldenSet, discover_sets
from curagate.yamlio import ALIAS_BUDGET, load_yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "corpus"

# Nine levels of ten aliases: 10**9 strings once expanded.
BOMB = "\n".join(
    ['        - &a ["x","x","x","x","x","x","x","x","x","x"]']
    + [
        f"        - &{b} [{','.join(['*' + a] * 10)}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def curagate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "curagate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def test_an_alias_bomb_in_a_curate_config_is_exit_2_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(f"filters:\n  - length:\n      min_chars: 1\n      bogus:\n{BOMB}\n")
    p = curagate("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert "bomb.yaml:" in p.stderr and "alias" in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "reader",
    ["curate", "gate", "golden", "front_matter"],
)
def test_every_yaml_reader_refuses_an_alias_bomb(tmp_path: Path, reader: str) -> None:
    doc = f"name: g\nbogus:\n{BOMB}\n"
    if reader == "curate":
        (tmp_path / "c.yaml").write_text(doc)
        with pytest.raises(ConfigError, match=r"c\.yaml:\d+: bogus[][0-9]*: aliases repeat"):
            load_model(tmp_path / "c.yaml", CurateConfig)
    elif reader == "gate":
        with pytest.raises(ConfigError, match=r"g\.yaml:\d+: .*aliases repeat"):
            parse_gate(doc, "g.yaml")
    elif reader == "golden":
        (tmp_path / "s").mkdir()
        (tmp_path / "s" / "set.yaml").write_text(doc)
        with pytest.raises(ConfigError, match=r"set\.yaml:\d+: .*aliases repeat"):
            discover_sets(tmp_path)
    else:  # a base model's card: unreadable front matter reads as none
        from curagate.export.bundle import _front_matter

        (tmp_path / "README.md").write_text(f"---\nlicense: mit\nbogus:\n{BOMB}\n---\n# card\n")
        assert _front_matter(tmp_path) == {}


def test_an_lm_eval_task_yaml_with_an_alias_bomb_is_a_config_error(tmp_path: Path) -> None:
    from curagate.gate.regression import prepare_include_dir

    task = tmp_path / "task.yaml"
    task.write_text(f"task: t\nbogus:\n{BOMB}\n")
    gs = GoldenSet("s", "lm_eval", "1", "", 0, {"task.yaml": ""}, tmp_path)
    with pytest.raises(ConfigError, match=r"task\.yaml:\d+: .*aliases repeat"):
        prepare_include_dir(gs, tmp_path / "out")


def test_aliases_within_the_budget_still_work() -> None:
    data, _ = load_yaml("base: &b {min: 0.9}\nx: *b\ny: *b\nz: {<<: *b, max: 1}\n", "c.yaml")
    assert data == {
        "base": {"min": 0.9},
        "x": {"min": 0.9},
        "y": {"min": 0.9},
        "z": {"min": 0.9, "max": 1},
    }
    many = "a: &a [" + ",".join(["1"] * 99) + "]\nb: [" + ",".join(["*a"] * 99) + "]\n"
    assert ALIAS_BUDGET >= 99 * 100
    assert len(load_yaml(many, "c.yaml")[0]["b"]) == 99


def test_a_recursive_alias_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml:1: a\[1\]: an alias refers to the value"):
        load_yaml("a: &a [1, *a]\n", "c.yaml")


def test_nesting_too_deep_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: invalid YAML"):
        load_yaml("a: " + "[" * 5000 + "]" * 5000 + "\n", "c.yaml")


def test_a_duplicated_key_is_exit_2_naming_the_key_and_both_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "dup.yaml"
    cfg.write_text("near:\n  threshold: 0.5\nnear:\n  enabled: true\n")
    p = curagate("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().splitlines() == [
        f"curagate curate: error: {cfg}:3: near: key given twice (lines 1 and 3); "
        "YAML would keep only the last one: merge them into one"
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", "c.yaml:4: a.b: key given twice (lines 2 and 4)"),
        ("a: [{b: 1, b: 2}]\n", "c.yaml:1: a[0].b: key given twice (lines 1 and 1)"),
        ("1: x\n'1': y\n2: z\n2: w\n", "c.yaml:4: 2: key given twice (lines 3 and 4)"),
    ],
)
def test_duplicated_keys_are_refused_at_any_depth(doc: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        load_yaml(doc, "c.yaml")


def test_gate_train_audit_and_golden_configs_refuse_duplicated_keys(tmp_path: Path) -> None:
    from curagate.audit.config import load_config as load_audit
    from curagate.train.config import load_config as load_train

    with pytest.raises(ConfigError, match=r"g\.yaml:2: name: key given twice"):
        parse_gate("name: g\nname: h\n", "g.yaml")
    for load, name in ((load_train, "train.yaml"), (load_audit, "audit.yaml")):
        (tmp_path / name).write_text("x: 1\nx: 2\n")
        with pytest.raises(ConfigError, match=rf"{name}:2: x: key given twice"):
            load(tmp_path / name)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "set.yaml").write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"set\.yaml:2: name: key given twice"):
        discover_sets(tmp_path)
