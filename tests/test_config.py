"""Reading configs: every YAML the project reads goes through one loader
(curagate.yamlio), and every config value is bounded before a run starts.

# Holes found by attacking the config side; each is a test now.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_a_control_character_is_a_config_error_naming_its_line() -> None:
    # PyYAML's ReaderError has a position, no mark: the message had no line.
    for char in ("\x07", "\x00"):
        with pytest.raises(ConfigError, match=r"^c\.yaml:3: invalid YAML: the character U\+00"):
            load_yaml(f"a: 1\nb: 2\nc: '{char}'\n", "c.yaml")


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
        # keys that load as the same value, written differently
        ("0x1: a\n1: b\n", "c.yaml:2: 1: key given twice (lines 1 and 2; written 0x1 and 1)"),
        ("yes: a\ntrue: b\n", "c.yaml:2: true: key given twice (lines 1 and 2; written yes and"),
        ("null: a\n~: b\n", "c.yaml:2: ~: key given twice (lines 1 and 2"),
        ("1.0: a\n1: b\n", "c.yaml:2: 1: key given twice (lines 1 and 2"),
        ("x:\n  '1': a\n  \"1\": b\n", "c.yaml:3: x.1: key given twice (lines 2 and 3)"),
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


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            "memory_budget: 18446744073709551616\n",
            "c.yaml:1: memory_budget: must be in 0..18446744073709551615 bytes, got "
            "18446744073709551616",
        ),
        (
            "memory_budget: 20000000TB\n",
            "c.yaml:1: memory_budget: must be in 0..18446744073709551615",
        ),
        (
            "batch_rows: 100000000000000000000000\n",
            "c.yaml:1: batch_rows: must be in 1..2147483647",
        ),
        (
            "threads: 100000000000000000000\n",
            "c.yaml:1: threads: must be in 1..1024, got 100000000000000000000",
        ),
        ("threads: 5000\n", "c.yaml:1: threads: must be in 1..1024, got 5000"),
        ("near: {bands: 1000000000000000000000}\n", "c.yaml:1: near.bands: must be in 1..4096"),
        ("near:\n  rows: 5000\n", "c.yaml:2: near.rows: must be in 1..4096, got 5000"),
        # Checked by the core when the deduper was built: no file or line.
        ("near:\n  bands: 100\n  rows: 100\n", "c.yaml:1: near: bands x rows = 100 x 100 must fit"),
        ("near:\n  bands: 10\n", "c.yaml:1: near: give both bands and rows, or neither"),
        (
            "filters: [{length: {min_chars: 100000000000000000000000}}]\n",
            "c.yaml:1: filters[0].length.min_chars: must be in 0..2147483647",
        ),
        (
            "filters:\n  - length: {max_chars: 3000000000}\n",
            "c.yaml:2: filters[0].length.max_chars: must be in 1..2147483647",
        ),
        (
            "near: {threshold: 0.8}\nfilters:\n  - length:\n      min_chars: 1\n      bogus: 1\n",
            "c.yaml:5: filters[0].length.bogus: unknown key",
        ),
        (
            "filters:\n  - length: {min_chars: 50, max_chars: 10}\n",
            "c.yaml:2: filters[0].length: min_chars (50) is above max_chars (10): "
            "no record could pass",
        ),
        ("semantic: {threshold: .nan}\n", "c.yaml:1: semantic.threshold: Input should be a finite"),
        ("near: {threshold: .inf}\n", "c.yaml:1: near.threshold: Input should be a finite"),
    ],
)
def test_config_values_are_bounded_when_the_config_loads(
    tmp_path: Path, doc: str, message: str
) -> None:
    (tmp_path / "c.yaml").write_text(doc)
    with pytest.raises(ConfigError) as e:
        load_model(tmp_path / "c.yaml", CurateConfig)
    assert str(e.value).startswith(f"{tmp_path / 'c.yaml'}:"), e.value
    assert message in str(e.value)


def test_bounds_at_their_limits_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "memory_budget: 18446744073709551615\nthreads: 1024\nbatch_rows: 2147483647\n"
        "near: {num_perm: 4096, bands: 4096, rows: 1}\n"
        "filters: [{length: {min_chars: 2147483647, max_chars: 2147483647}}]\n"
    )
    cfg = load_model(tmp_path / "c.yaml", CurateConfig)
    assert (cfg.threads, cfg.memory_budget) == (1024, 2**64 - 1)


@pytest.mark.parametrize(
    "doc",
    [
        "memory_budget: 18446744073709551616",
        "batch_rows: 100000000000000000000000",
        "filters: [{length: {min_chars: 100000000000000000000000}}]",
    ],
)
def test_a_huge_integer_in_a_config_is_exit_2_not_a_crash(tmp_path: Path, doc: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(doc + "\n")
    p = curagate("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert "must be in" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("executor", ["local", "ray"])
@pytest.mark.parametrize("value", ["100000000000000000000", "5000", "0"])
def test_the_threads_flag_is_bounded(tmp_path: Path, executor: str, value: str) -> None:
    out = tmp_path / "o"
    p = curagate(
        "curate", str(EXAMPLE), "--out", str(out), "--executor", executor, "--threads", value
    )
    assert p.returncode == 2, p.stderr
    assert f"argument --threads: must be an integer in 1..1024, got {value}" in p.stderr
    assert "Traceback" not in p.stderr and not out.exists()


def test_the_semantic_threshold_flag_must_be_a_number_in_its_range(tmp_path: Path) -> None:
    out = tmp_path / "o"
    for value in ("nan", "inf", "1.5", "x"):
        p = curagate("curate", str(EXAMPLE), "--out", str(out), "--semantic-threshold", value)
        assert p.returncode == 2, p.stderr
        assert (
            f"argument --semantic-threshold: must be a number in [-1, 1], got {value!r}" in p.stderr
        )
    p = curagate("curate", str(EXAMPLE), "--out", str(out), "--near-threshold", "nan")
    assert p.returncode == 2
    assert "--near-threshold nan: must be a number in (0, 1] (config key near.threshold)" in (
        p.stderr
    )


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (
            {"near.threshold": 1.5},
            "--near-threshold 1.5: must be a number in (0, 1] (config key near.threshold)",
        ),
        (
            {"near.threshold": 0.0},
            "--near-threshold 0.0: must be a number in (0, 1] (config key near.threshold)",
        ),
        ({"near.ngram": 0}, "--ngram 0: must be an integer in [1, 64] (config key near.ngram)"),
        (
            {"semantic.threshold": 2.0},
            "--semantic-threshold 2.0: must be a number in [-1, 1] (config key semantic.threshold)",
        ),
    ],
)
def test_an_option_out_of_range_is_named_as_the_option_with_its_range(
    overrides: dict[str, Any], said: str
) -> None:
    # It was "options (with command-line options): near.threshold: Input should be less
    # than or equal to 1": the config key, not the flag the user passed, nor the range.
    from curagate.curate import resolve_config

    with pytest.raises(ConfigError) as e:
        resolve_config(None, **overrides)
    assert str(e.value) == said


def test_a_config_value_out_of_range_is_still_named_by_file_line_and_key(tmp_path: Path) -> None:
    from curagate.curate import resolve_config

    config = tmp_path / "c.yaml"
    config.write_text("near:\n  threshold: 1.5\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: near\.threshold: Input should be less"):
        resolve_config(config, **{"near.threshold": None})


def test_split_ratios_too_large_to_add_up_are_scaled_not_zeroed() -> None:
    from curagate.ratios import check_ratios, parse_ratios

    assert check_ratios([1e308, 1e308, 1e308]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert parse_ratios("1e308,1e307,1e307") == pytest.approx((10 / 12, 1 / 12, 1 / 12))


# Attack round 3 on the YAML loader and the config numbers; each is a test now.


def test_aliases_that_repeat_a_long_value_are_refused_by_size(tmp_path: Path) -> None:
    # 9000 aliases of one 10,000-character string: under the value budget, 90 MB expanded.
    doc = "split:\n  templates: [&t " + "x" * 10_000 + "," + ",".join(["*t"] * 9000) + "]\n"
    with pytest.raises(ConfigError, match=r"^c\.yaml:2: split\.templates\[\d+\]: aliases repeat"):
        load_yaml(doc, "c.yaml")
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text(doc)
    p = curagate("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert f"{cfg}:2: " in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "o").exists()
    # A long value repeated a few times is fine.
    ok = "a: &t " + "x" * 10_000 + "\nb: [" + ",".join(["*t"] * 50) + "]\n"
    assert len(load_yaml(ok, "c.yaml")[0]["b"]) == 50


@pytest.mark.parametrize(
    "value",
    ['"' + "9" * 400 + '"', '"' + "9" * 400 + '.5 GiB"', '"' + "9" * 5000 + '"', "9" * 5000],
)
def test_a_huge_size_string_is_exit_2_not_a_crash(tmp_path: Path, value: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"threads: 2\nmemory_budget: {value}\n")
    with pytest.raises(
        ConfigError, match=r"c\.yaml:2: memory_budget: (.*must be in 0\.\.|an integer of more than)"
    ):
        load_model(cfg, CurateConfig)
    p = curagate("curate", str(EXAMPLE), "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert p.returncode == 2, p.stderr
    assert "memory_budget" in p.stderr and "Traceback" not in p.stderr


def test_sizes_with_units_and_fractions_still_parse() -> None:
    from curagate.config import parse_size

    assert parse_size("1.5GiB") == 3 << 29
    assert parse_size("512MB") == 512 * 10**6
    assert parse_size(" 7 ") == 7
    assert parse_size("0.5k") == 500


def test_a_yaml_file_that_is_not_utf8_is_a_config_error_naming_file_and_line(
    tmp_path: Path,
) -> None:
    from curagate.gate.regression import prepare_include_dir

    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "data.jsonl").write_text('{"prompt":"q","answer":"a"}\n')
    set_yaml = tmp_path / "qa" / "set.yaml"
    set_yaml.write_bytes(
        b'name: qa\ntask: exact_match\nversion: "1"\nfiles: [data.jsonl]\nprovenance: caf\xe9\n'
    )
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(set_yaml))}:5: not UTF-8 \(byte 75:"):
        discover_sets(tmp_path)
    p = curagate("golden", "lock", str(tmp_path))
    assert p.returncode == 2, p.stderr
    assert f"{set_yaml}:5: not UTF-8" in p.stderr and "Traceback" not in p.stderr

    task = tmp_path / "task.yaml"
    task.write_bytes(b"task: t\ndescription: \xff\n")
    gs = GoldenSet("s", "lm_eval", "1", "", 0, {"task.yaml": ""}, tmp_path)
    with pytest.raises(ConfigError, match=r"task\.yaml:2: not UTF-8"):
        prepare_include_dir(gs, tmp_path / "out")
    (tmp_path / "c.yaml").write_bytes(b"threads: 2\n# \xe9\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: not UTF-8"):
        load_model(tmp_path / "c.yaml", CurateConfig)


def test_two_merge_keys_in_one_mapping_are_refused() -> None:
    doc = "near:\n  <<: {threshold: 0.5}\n  <<: {threshold: 0.9}\n"
    with pytest.raises(ConfigError, match=r"^c\.yaml:3: near\.<<: key given twice \(lines 2 and 3"):
        load_yaml(doc, "c.yaml")
    # A key given by a merge and directly: the direct one wins (the YAML spec).
    data, _ = load_yaml("b: &b {t: 0.5, n: 1}\nnear:\n  <<: *b\n  t: 0.9\n", "c.yaml")
    assert data["near"] == {"t": 0.9, "n": 1}
    # One merge key may merge a list of mappings.
    data, _ = load_yaml("near:\n  <<: [{a: 1}, {b: 2}]\n", "c.yaml")
    assert data["near"] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("kind", "doc", "key"),
    [
        # Each was converted without a word: threshold true ran as 1.0 (keep identical
        # copies only), the quoted ones as the number or boolean they spell.
        ("curate", "near: {threshold: true}\n", "near.threshold"),
        ("curate", "near: {threshold: '0.7'}\n", "near.threshold"),
        ("curate", "batch_rows: '12'\n", "batch_rows"),
        ("curate", "near:\n  enabled: 'false'\n", "near.enabled"),
        ("curate", "split: {ratios: [true, 1, 1]}\n", "split.ratios"),
        ("audit", "rules: {LEN001: {error_above: '0.1'}}\n", "rules.LEN001.error_above"),
        ("train", "training: {epochs: '2'}\n", "training.epochs"),
        ("gate", "statistics: {bootstrap_resamples: '1000'}\n", "statistics.bootstrap_resamples"),
        ("gate", "contamination: {check: 'false'}\n", "contamination.check"),
    ],
)
def test_a_value_of_another_type_is_an_error_not_converted(
    tmp_path: Path, kind: str, doc: str, key: str
) -> None:
    from curagate.audit.config import load_config as load_audit
    from curagate.train.config import load_config as load_train

    path = tmp_path / "c.yaml"
    if kind == "gate":
        doc = "name: g\ngolden_dir: g\ngolden_sets: [{name: s, task: generation}]\n" + doc
    if kind == "train":
        doc = "base_model: b\ndata: {train: [t.jsonl]}\n" + doc
    path.write_text(doc)
    load: Any = {
        "curate": lambda p: load_model(p, CurateConfig),
        "audit": load_audit,
        "train": load_train,
        "gate": lambda p: parse_gate(p.read_text(), p),
    }[kind]
    with pytest.raises(ConfigError, match=rf"c\.yaml:\d+: (key ')?{re.escape(key)}"):
        load(path)


def test_whole_numbers_are_still_numbers_and_lists_still_ratios(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("near: {threshold: 1}\nsplit: {ratios: [8, 1, 1]}\n")
    cfg = load_model(tmp_path / "c.yaml", CurateConfig)
    assert cfg.near.threshold == 1.0 and cfg.split.ratios == (8, 1, 1)


def test_an_exponent_without_a_dot_is_a_number(tmp_path: Path) -> None:
    """YAML 1.1 reads 2e-5 as a string (its floats need a dot): a strict setting refused
    `learning_rate: 2e-5`, the way every training config writes it."""
    from curagate.train.config import load_config as load_train

    (tmp_path / "t.yaml").write_text(
        "name: t\nbase_model: b\ndata: {train: [t.jsonl]}\ntraining: {learning_rate: 2e-5}\n"
    )
    assert load_train(tmp_path / "t.yaml").training.learning_rate == 2e-5
    (tmp_path / "c.yaml").write_text("near: {threshold: 7E-1}\nsemantic: {threshold: '9e-1'}\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: semantic\.threshold"):  # quoted: text
        load_model(tmp_path / "c.yaml", CurateConfig)
    (tmp_path / "c.yaml").write_text("near: {threshold: 7E-1}\n")
    assert load_model(tmp_path / "c.yaml", CurateConfig).near.threshold == 0.7
