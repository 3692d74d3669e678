from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from curagate.errors import ConfigError
from curagate.gate.config import Threshold, load_gate, parse_gate

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
name: g
golden_sets:
  - name: sentiment
    task: classification
    labels: [Positive, Negative]
    metrics:
      accuracy: {min: 0.9}
"""


def test_valid_gate_parses_with_defaults() -> None:
    cfg = parse_gate(GOOD, "g.yaml")
    spec = cfg.golden_sets[0]
    assert spec.metrics["accuracy"].min == 0.9
    assert cfg.contamination.on_leak == "fail"
    assert (cfg.statistics.seed, cfg.statistics.fail_only_if_significant) == (0, False)


def test_unknown_key_names_file_line_and_key() -> None:
    text = GOOD + "contamination:\n  on_leek: warn\n"
    with pytest.raises(ConfigError, match=r"g\.yaml:9: key 'contamination\.on_leek': unknown key"):
        parse_gate(text, "g.yaml")


def test_metric_not_computed_for_task_points_at_the_metric() -> None:
    text = GOOD.replace("accuracy: {min", "rouge_l: {min")
    with pytest.raises(ConfigError, match=r"g\.yaml:7: key 'golden_sets\[0\]\.metrics\.rouge_l'"):
        parse_gate(text, "g.yaml")


def test_bad_value_names_the_key() -> None:
    text = GOOD.replace("task: classification", "task: poetry")
    with pytest.raises(ConfigError, match=r"g\.yaml:4: key 'golden_sets\[0\]\.task'"):
        parse_gate(text, "g.yaml")


def test_warn_drop_above_fail_drop_is_rejected() -> None:
    text = GOOD + "    regression:\n      accuracy: {warn_drop: 0.1, fail_drop: 0.05}\n"
    with pytest.raises(ConfigError, match="warn_drop must not exceed fail_drop"):
        parse_gate(text, "g.yaml")


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"g\.yaml:2: invalid YAML"):
        parse_gate("name: g\ndescription: a: b\n", "g.yaml")


def test_classification_needs_labels() -> None:
    with pytest.raises(ConfigError, match="needs 'labels'"):
        parse_gate(GOOD.replace("    labels: [Positive, Negative]\n", ""), "g.yaml")


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ("[Positive, Positive, Negative]", "'Positive' and 'Positive'"),
        ("['-1', '1', '+1']", "'1' and '+1'"),
        ("['+', '-']", "'+'"),
        # Found by attack: a label named "(none)" was counted in the confusion matrix's
        # column of unparsed answers, which has that name.
        ("['(none)', Positive]", "label '(none)' is the confusion matrix's column"),
    ],
)
def test_labels_an_answer_cannot_tell_apart_fail_at_load(labels: str, why: str) -> None:
    # Duplicates inflated macro-F1; '+'/'-' both read as the empty answer.
    text = GOOD.replace("[Positive, Negative]", labels)
    with pytest.raises(
        ConfigError, match=r"g\.yaml:5: key 'golden_sets\[0\]\.labels'.*" + re.escape(why)
    ):
        parse_gate(text, "g.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "gates").glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_gates_validate(path: Path) -> None:
    cfg = load_gate(path)
    assert cfg.golden_sets or cfg.regression_suite


@pytest.mark.parametrize(
    ("setting", "key"),
    [("min_span_words: 3", "min_span_words"), ("ngram: 5", "ngram")],
)
def test_contamination_settings_the_index_refuses_fail_at_load(setting: str, key: str) -> None:
    """They once passed here and failed only in the contamination check, after every
    golden set had been generated on both models."""
    text = GOOD + f"contamination:\n  {setting}\n"
    with pytest.raises(ConfigError, match=rf"g\.yaml:9: key 'contamination\.{key}'"):
        parse_gate(text, "g.yaml")
    assert parse_gate(GOOD + "contamination:\n  min_span_words: 0\n", "g.yaml")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (".nan", "a finite number such as 0.8, not nan"),
        ("-.inf", "a finite number such as 0.8, not -inf"),
        ('"nan"', "a number such as 0.8, not 'nan'"),
        ('"0.9"', "a number such as 0.8, not '0.9'"),
        ("yes", "a number such as 0.8, not the boolean True"),
        ("1" + "0" * 400, "a number such as 0.8; this one is too large"),  # was exit 3
    ],
)
def test_a_threshold_must_be_a_finite_number(value: str, why: str) -> None:
    """A NaN bound compared false with every value, so `min: .nan` passed any candidate
    (and gate_report.json then held a bare NaN); `yes` was read as 1.0."""
    with pytest.raises(
        ConfigError,
        match=rf"g\.yaml:7: key 'golden_sets\[0\]\.metrics\.accuracy\.min': must be {why}",
    ):
        parse_gate(GOOD.replace("{min: 0.9}", f"{{min: {value}}}"), "g.yaml")


def test_a_slice_or_regression_bound_must_be_finite_too() -> None:
    text = GOOD + "    regression:\n      accuracy: {warn_drop: .nan}\n"
    with pytest.raises(
        ConfigError,
        match=r"g\.yaml:9: key 'golden_sets\[0\]\.regression\.accuracy\.warn_drop': must be a finite",
    ):
        parse_gate(text, "g.yaml")
    text = GOOD + "    slices:\n      - column: c\n        metrics: {accuracy: {max: .inf}}\n"
    with pytest.raises(
        ConfigError,
        match=r"key 'golden_sets\[0\]\.slices\[0\]\.metrics\.accuracy\.max': must be a finite",
    ):
        parse_gate(text, "g.yaml")


def test_no_float_setting_accepts_nan_or_infinity() -> None:
    text = GOOD + "generation: {request_timeout_s: .inf}\nstatistics: {confidence: .nan}\n"
    with pytest.raises(ConfigError) as e:
        parse_gate(text, "g.yaml")
    assert "key 'generation.request_timeout_s': Input should be a finite number" in str(e.value)
    assert "key 'statistics.confidence': Input should be a finite number" in str(e.value)


def test_an_integer_threshold_is_read_as_a_float() -> None:
    cfg = parse_gate(GOOD.replace("{min: 0.9}", "{min: 1, max: 1}"), "g.yaml")
    assert cfg.golden_sets[0].metrics["accuracy"] == Threshold(min=1.0, max=1.0)


@pytest.mark.parametrize(
    ("key", "pattern"), [("answer_regex", "(unclosed"), ("format_regex", "[z-a]")]
)
def test_an_invalid_regex_fails_at_load(key: str, pattern: str) -> None:
    """It once failed (exit 3) when the first output was scored, after both models generated."""
    text = GOOD.replace("task: classification", f"task: generation\n    {key}: '{pattern}'")
    text = text.replace("    labels: [Positive, Negative]\n", "").replace(
        "accuracy:", "exact_match:"
    )
    with pytest.raises(
        ConfigError,
        match=rf"g\.yaml:5: key 'golden_sets\[0\]\.{key}': not a valid Python regular expression",
    ):
        parse_gate(text, "g.yaml")


SCHEMA_GATE = """\
name: g
golden_sets:
  - name: s
    task: structured_json
    json_schema: schema.json
"""


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ('{"type": 12}', r"not a valid JSON Schema \(draft 2020-12\) at \$\.type: 12 is not valid"),
        ('{"$ref": "#/nope"}', r"\$ref '#/nope' does not resolve within the schema"),
        # A dangling $dynamicRef, and a $ref reached only through a pointer into an
        # unknown keyword: the walk saw neither, the validator crashed at scoring.
        ('{"$dynamicRef": "#nope"}', r"\$ref '#nope' does not resolve"),
        (
            '{"$ref": "#/foo/x", "foo": {"x": {"$ref": "#/nothere"}}}',
            r"\$ref '#/nothere' does not resolve",
        ),
        (
            '{"properties": {"a": {"$ref": "https://example.com/a.json"}}}',
            r"\$ref 'https://example\.com/a\.json' does not resolve .*remote schemas are not fetched",
        ),
        ("[1]", "a JSON schema must be an object"),
        ('{"type": ', "line 1: not valid JSON"),
        ("[" * 100_000, "nested too deeply"),  # was a RecursionError: exit 3
        (None, "file not found"),
    ],
)
def test_an_unusable_json_schema_fails_at_load(
    tmp_path: Path, schema: str | None, error: str
) -> None:
    """An invalid schema or a dangling $ref once failed (exit 3) when the first output
    was validated, after both models generated."""
    if schema is not None:
        (tmp_path / "schema.json").write_text(schema)
    (tmp_path / "g.yaml").write_text(SCHEMA_GATE)
    with pytest.raises(
        ConfigError,
        match=rf"g\.yaml:5: key 'golden_sets\[0\]\.json_schema': .*schema\.json: {error}",
    ):
        load_gate(tmp_path / "g.yaml")


def test_a_json_schema_with_local_refs_loads(tmp_path: Path) -> None:
    schema = {
        "$defs": {"city": {"type": "string"}},
        "properties": {
            "city": {"$ref": "#/$defs/city"},
            "nested": {"$id": "https://example.com/n", "$defs": {"x": {}}, "$ref": "#/$defs/x"},
            "data": {"const": {"$ref": "not a reference, just data"}},
        },
    }
    (tmp_path / "schema.json").write_text(json.dumps(schema))
    (tmp_path / "g.yaml").write_text(SCHEMA_GATE)
    assert load_gate(tmp_path / "g.yaml").golden_sets[0].json_schema == "schema.json"


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ("metrics:\n      accuracy: {min: 0.8000004}", "more than 6 decimals"),
        ("regression:\n      accuracy: {warn_drop: 0.0100001}", "more than 6 decimals"),
        ("metrics:\n      accuracy: {min: 0.9, max: 0.8}", "min 0.9 is above max 0.8"),
    ],
)
def test_a_limit_checks_could_not_honour_fails_at_load(setting: str, why: str) -> None:
    # Checks compare at 6 decimals: 0.8000004 read as 0.8 and passed a value of 0.8.
    text = GOOD.replace("metrics:\n      accuracy: {min: 0.9}", setting)
    with pytest.raises(ConfigError, match=why):
        parse_gate(text, "g.yaml")


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", r"g\.yaml:1: key 'name': Field required"),  # was AttributeError: exit 3
        (b"# only a comment\n", r"g\.yaml:1: key 'name': Field required"),
        (b"name: s\xff\n", r"g\.yaml:1: not UTF-8 \(byte 7"),  # was UnicodeDecodeError
        (b"\xff\xfen\x00a\x00", r"g\.yaml:1: not UTF-8 \(byte 0"),  # UTF-16
    ],
)
def test_an_empty_or_non_utf8_gate_file_is_a_config_error(
    tmp_path: Path, content: bytes, why: str
) -> None:
    (tmp_path / "g.yaml").write_bytes(content)
    with pytest.raises(ConfigError, match=why):
        load_gate(tmp_path / "g.yaml")


def test_the_recorded_sha256_is_of_the_gate_files_bytes(tmp_path: Path) -> None:
    # read_text turned CRLF into LF: the attested sha256 was not the file's.
    path = tmp_path / "g.yaml"
    path.write_bytes(GOOD.replace("\n", "\r\n").encode())
    assert load_gate(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        # 1e10 reached socket.settimeout in every worker thread (OverflowError, exit 3)
        ("generation: {request_timeout_s: 1.0e10}", "generation.request_timeout_s"),
        # 1e10 resamples ran for hours
        ("statistics: {bootstrap_resamples: 10000000000}", "statistics.bootstrap_resamples"),
    ],
)
def test_a_setting_past_its_documented_maximum_fails_at_load(setting: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"key '{re.escape(key)}': Input should be less than"):
        parse_gate(GOOD + setting + "\n", "g.yaml")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_gate_file_or_json_schema_that_never_ends_is_refused_not_read(
    tmp_path: Path, target: str
) -> None:
    # json_schema: /dev/zero read until the gate was killed for memory; a FIFO would
    # block forever.
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")
        target = str(tmp_path / "fifo")
    (tmp_path / "g.yaml").write_text(SCHEMA_GATE.replace("schema.json", target))
    with pytest.raises(ConfigError, match=r"cannot read it .*not a regular file"):
        load_gate(tmp_path / "g.yaml")
    with pytest.raises(ConfigError, match=r"cannot read the gate file .*not a regular file"):
        load_gate(target)


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("metrics: {accuracy: {min: -5}}", "metrics.accuracy.min -5"),
        ("metrics: {macro_f1: {max: 100}}", "metrics.macro_f1.max 100"),
        ("regression: {accuracy: {warn_drop: 2, fail_drop: 5}}", "regression.accuracy.warn_drop 2"),
        (
            "slices: [{column: length, metrics: {accuracy: {min: 80}}}]",
            "slices[length].metrics.accuracy.min 80",
        ),
        (
            "slices: [{column: length, regression: {fail_drop: 5}}]",
            "slices[length].regression.fail_drop 5",
        ),
    ],
)
def test_a_bound_a_share_can_never_cross_is_an_error(rule: str, says: str) -> None:
    # Found by attack: points written as percents (`fail_drop: 5`), `min: -5`, `max: 100`:
    # no value of a share from 0 to 1 crosses them, so the gate passed a candidate wrong on
    # all 200 items (and right on none the base got), --strict included.
    text = GOOD.replace("      accuracy: {min: 0.9}\n", "") + f"    {rule}\n"
    text = text.replace("    metrics:\n    ", "    ")
    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_gate(text, "g.yaml")


@pytest.mark.parametrize(
    ("metric", "rule", "says"),
    [
        (None, "{fail_drop: 5}", "regression.fail_drop 5.0: acc is a share"),
        ("acc_norm", "{warn_drop: 2, fail_drop: 5}", "regression.warn_drop 2.0: acc_norm"),
        ("exact_match", "{fail_drop: 3, relative: true}", "regression.fail_drop 3.0"),
    ],
)
def test_a_suite_drop_a_share_can_never_make_is_an_error(
    metric: str | None, rule: str, says: str
) -> None:
    # Found by attack: regression_suite.regression was never range-checked, so `fail_drop:
    # 5` (points written as percents) on acc passed a candidate whatever it lost.
    def suite(metric: str | None, rule: str) -> str:
        named = f"  metric: {metric}\n" if metric else ""  # None: the default, acc
        return f"name: g\nregression_suite:\n  tasks: [t]\n{named}  regression: {rule}\n"

    with pytest.raises(ConfigError, match=re.escape(says)):
        parse_gate(suite(metric, rule), "g.yaml")
    # A metric of a task's own has the task's range: not checked.
    assert parse_gate(suite("bleu", rule), "g.yaml").regression_suite is not None
    # Found by the re-attack: 1 was accepted, and a check fails only on a drop above its
    # limit, which a share's drop (at most 1) never is. Below 1 is a drop it can make.
    with pytest.raises(ConfigError, match=r"regression\.fail_drop 1\.0: .*below 1"):
        parse_gate(suite(metric, "{warn_drop: 0.5, fail_drop: 1}"), "g.yaml")
    with pytest.raises(ConfigError, match=r"regression\.fail_drop 1\.0: .*below 1"):
        parse_gate(suite(metric, "{warn_drop: 0.5, fail_drop: 1, relative: true}"), "g.yaml")
    near = parse_gate(suite(metric, "{warn_drop: 0.9, fail_drop: 0.99}"), "g.yaml").regression_suite
    assert near is not None and near.regression.fail_drop == 0.99


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("regression: {accuracy: {fail_drop: 1}}", "regression.accuracy.fail_drop 1.0"),
        (
            "regression: {accuracy: {warn_drop: 1, fail_drop: 1, relative: true}}",
            "regression.accuracy.warn_drop 1.0",
        ),
        (
            "slices: [{column: length, regression: {warn_drop: 0.5, fail_drop: 1}}]",
            "slices[length].regression.fail_drop 1.0",
        ),
    ],
)
def test_a_drop_limit_of_1_on_a_share_is_an_error(rule: str, says: str) -> None:
    # Found by the re-attack: a check fails only on a drop above its limit, and a share's
    # drop is at most 1 (point, or all of its base value): `fail_drop: 1` passed a
    # candidate whatever it lost.
    with pytest.raises(ConfigError, match=re.escape(says) + ".*below 1"):
        parse_gate(GOOD + f"    {rule}\n", "g.yaml")


def test_fail_drop_null_is_a_rule_that_only_warns() -> None:
    # Found by the re-attack: `fail_drop: 1` was how a warn-only policy was written (a
    # share's drop never passes it); refused as a limit no drop can pass, a warn-only rule
    # says so, and the refusal points to it.
    from curagate.gate.checks import Verdict, regression_verdict

    with pytest.raises(ConfigError, match="fail_drop: null for a rule that only warns"):
        parse_gate(GOOD + "    regression: {accuracy: {fail_drop: 1}}\n", "g.yaml")
    cfg = parse_gate(
        GOOD + "    regression: {accuracy: {warn_drop: 0.02, fail_drop: null}}\n", "g.yaml"
    )
    rule = cfg.golden_sets[0].regression["accuracy"]
    assert rule.fail_drop is None
    kw = {"higher_is_better": True, "significant": True, "fail_only_if_significant": False}
    assert regression_verdict(0.1, 0.9, rule, **kw)[0] is Verdict.WARN  # 0.8 down: warns
    assert regression_verdict(0.9, 0.9, rule, **kw)[0] is Verdict.PASS
    suite = "name: g\nregression_suite:\n  tasks: [t]\n  regression: {fail_drop: null}\n"
    parsed = parse_gate(suite, "g.yaml").regression_suite
    assert parsed is not None and parsed.regression.fail_drop is None


def test_bounds_at_the_ends_of_a_share_and_relative_drops_of_a_rate_are_accepted() -> None:
    text = GOOD.replace("{min: 0.9}", "{min: 0, max: 1}") + (
        "    regression: {accuracy: {fail_drop: 0.99}}\n"
    )
    assert parse_gate(text, "g.yaml").golden_sets[0].metrics["accuracy"].max == 1
    refusal = """\
name: g
golden_sets:
  - name: s
    task: refusal
    regression: {pii_leak_rate: {relative: true, warn_drop: 2, fail_drop: 4}}
"""
    assert parse_gate(refusal, "g.yaml").golden_sets[0].regression["pii_leak_rate"].fail_drop == 4
    # Found by attack: the same rule on a slice was refused ("never triggers"), a slice's
    # rule read as a drop of a higher-is-better share whatever its metrics. It is accepted
    # when every metric it covers is lower-is-better: the slice's own, else the set's.
    for metrics, set_metrics in (
        ("", "    metrics: {pii_leak_rate: {max: 0}}\n"),
        ("metrics: {false_refusal_rate: {max: 0.5}}, ", ""),
    ):
        sliced = refusal.replace(
            "    regression: {pii_leak_rate: {relative: true, warn_drop: 2, fail_drop: 4}}\n",
            f"{set_metrics}    slices: [{{column: kind, {metrics}regression: "
            "{warn_drop: 1.0, fail_drop: 3.0, relative: true}}]\n",
        )
        assert parse_gate(sliced, "g.yaml").golden_sets[0].slices[0].regression.fail_drop == 3
    accuracy = sliced.replace("task: refusal", "task: generation").replace(
        "false_refusal_rate: {max: 0.5}", "exact_match: {min: 0.5}"
    )
    with pytest.raises(ConfigError, match=r"slices\[kind\].regression.warn_drop 1.0"):
        parse_gate(accuracy, "g.yaml")


@pytest.mark.parametrize(
    ("slice_metrics", "says"),
    [
        ("", "the rule applies to accuracy"),
        ("metrics: {refusal_rate: {min: 0.5}, false_refusal_rate: {max: 0.5}}, ", "refusal_rate"),
    ],
)
def test_a_slice_rule_whose_relative_drop_a_share_never_reaches_is_an_error(
    slice_metrics: str, says: str
) -> None:
    # Found by attack: a relative fail_drop of 4 on a slice was accepted as soon as one
    # metric it covers was lower-is-better, and its checks of refusal_rate (whose drop is
    # at most all of its base value) passed whatever the candidate did.
    text = f"""\
name: g
golden_sets:
  - name: s
    task: refusal
    slices:
      - {{column: grp, min_items: 1, {slice_metrics}regression: {{warn_drop: 2, fail_drop: 4, relative: true}}}}
"""
    with pytest.raises(ConfigError, match=r"golden set 's': slices\[grp\].regression.warn_drop 2"):
        parse_gate(text, "g.yaml")
    with pytest.raises(ConfigError, match=says):
        parse_gate(text, "g.yaml")
