"""Gate task types come from one registry: a new task type is one module, and config
errors name exactly the registered types and metrics."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import CannedServer, write_set

from curagate.errors import ConfigError
from curagate.gate import parse_gate, run_gate
from curagate.gate.evaluate import parse_prediction
from curagate.gate.tasks import get_task, task_names, unregister
from curagate.golden import lock

# A task type that exists nowhere in curagate: the whole of it is this one module.
KEYWORD_TASK = '''
from curagate.gate.tasks import Metric, Scored, Task, register


@register
class Keyword(Task):
    """The answer must mention the item's keyword; shorter answers are better."""

    name = "keyword_test"
    metrics = (Metric("keyword_hit"), Metric("words", higher_is_better=False, share=False))
    correct_metric = "keyword_hit"

    def parse(self, item, spec, output):
        return str(item["reference"]).lower() in output.lower()

    def score(self, answer):
        hit = float(self.parse(answer.item, answer.spec, answer.output))
        return Scored({"keyword_hit": hit, "words": float(len(answer.output.split()))})
'''

BUILTIN = "classification, extraction, generation, structured_json, multiple_choice, refusal"


@pytest.fixture
def keyword_task(tmp_path: Path) -> Iterator[str]:
    """Import KEYWORD_TASK from a file outside the package, as a plugin would be."""
    path = tmp_path / "keyword_task.py"
    path.write_text(KEYWORD_TASK)
    spec = importlib.util.spec_from_file_location("keyword_task", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["keyword_task"] = module
    spec.loader.exec_module(module)
    yield "keyword_test"
    unregister("keyword_test")
    del sys.modules["keyword_task"]


def _gate(name: str, task: str, body: str, golden_dir: str = "golden") -> str:
    return (
        f"name: {name}\ngolden_dir: {golden_dir}\nstatistics: {{bootstrap_resamples: 100}}\n"
        f"contamination: {{check: false}}\ngolden_sets:\n  - name: s\n    task: {task}\n{body}"
    )


def test_a_task_type_in_one_new_module_runs_through_the_gate(tmp_path, keyword_task) -> None:
    assert task_names()[-1] == keyword_task
    items = [{"id": f"k{i}", "prompt": f"k{i} say", "reference": "paris"} for i in range(6)]
    root = tmp_path / "golden"
    write_set(root, "s", keyword_task, items)  # set.yaml accepts the new task type
    lock(root)
    cand = CannedServer(lambda p: "It is Paris, the capital city of France, as everyone knows")
    base = CannedServer(lambda p: "Lyon")
    try:
        gate = tmp_path / "gate.yaml"
        gate.write_text(
            _gate(
                "kw",
                keyword_task,
                "    metrics: {keyword_hit: {min: 0.9}}\n"
                "    regression: {words: {warn_drop: 1, fail_drop: 2}}\n",
                str(root),
            )
        )
        report = run_gate(gate, cand.url, base.url, tmp_path / "out").report
    finally:
        cand.close()
        base.close()
    m = report["results"][0]["metrics"]
    assert (m["keyword_hit"]["candidate"], m["keyword_hit"]["base"]) == (1.0, 0.0)
    assert (m["words"]["candidate"], m["words"]["base"]) == (11.0, 1.0)
    checks = {c["name"]: (c["id"], c["verdict"]) for c in report["checks"]}
    assert checks["s.keyword_hit.threshold"] == ("GATE001", "pass")
    # words is lower-is-better (declared in the module): 10 more words is a drop of 10.
    assert checks["s.words.regression"] == ("GATE002", "fail")
    words = next(c for c in report["checks"] if c["name"] == "s.words.regression")
    assert words["message"].startswith("drop 10.0000 points > fail_drop 2.0")
    assert report["verdict"] == "fail"
    # Per-item correctness (failing examples) reads the metric the task names.
    assert report["results"][0]["failing_examples"] == []


def test_a_registered_task_validates_its_own_metrics(keyword_task) -> None:
    with pytest.raises(ConfigError) as e:
        parse_gate(_gate("kw", keyword_task, "    metrics: {accuracy: {min: 0.5}}\n"), "g.yaml")
    assert str(e.value) == (
        "g.yaml:8: key 'golden_sets[0].metrics.accuracy': metric 'accuracy' is not computed "
        "for task 'keyword_test'; use one of keyword_hit, words"
    )
    spec = parse_gate(_gate("kw", keyword_task, ""), "g.yaml").golden_sets[0]
    item = {"id": "a", "prompt": "q", "reference": "Paris"}
    assert parse_prediction(spec, item, "paris!") is True
    assert get_task(keyword_task).metric("words").higher_is_better is False


def test_unknown_task_type_names_the_registered_ones(tmp_path) -> None:
    with pytest.raises(ConfigError) as e:
        parse_gate(_gate("x", "clasification", ""), "g.yaml")
    assert str(e.value) == (
        "g.yaml:7: key 'golden_sets[0].task': Input should be 'classification', 'extraction', "
        "'generation', 'structured_json', 'multiple_choice' or 'refusal'"
    )
    write_set(tmp_path, "s", "keyword_test", [{"id": "a", "prompt": "q", "reference": "r"}])
    with pytest.raises(ConfigError) as e2:
        lock(tmp_path)
    assert str(e2.value) == (
        f"{tmp_path / 's' / 'set.yaml'}: key 'task': 'keyword_test' is not one of "
        f"{BUILTIN}, lm_eval"
    )


@pytest.mark.parametrize(
    ("task", "body", "message"),
    [
        (
            "generation",
            "    metrics: {format_compliance: {min: 0.5}}\n",
            "metric 'format_compliance' needs 'format_regex'",
        ),
        (
            "structured_json",
            "    metrics: {schema_compliance: {min: 0.5}}\n",
            "metric 'schema_compliance' needs 'json_schema' (a path to a JSON schema)",
        ),
        (
            "classification",
            "    labels: [a, b]\n    judge: {model: j}\n",
            "a judge compares free-form answers; task 'classification' has exact answers "
            "(use one of extraction, generation, refusal, structured_json)",
        ),
        (
            "generation",
            "    judge: {model: j, refusal_detector: judge}\n",
            "judge.refusal_detector: judge applies to task 'refusal' only",
        ),
    ],
)
def test_task_requirements_come_from_the_registry(task: str, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_gate(_gate("x", task, body), "g.yaml")
    # Errors about a metric point at the metric's line, the others at the golden set's.
    assert re.fullmatch(
        r"g\.yaml:\d+: key 'golden_sets\[0\][.\w]*': " + re.escape(message), str(e.value)
    )


def test_a_task_scoring_an_undeclared_metric_is_named_as_the_bug(keyword_task) -> None:
    """A task module that forgets to declare a metric fails loudly, naming the module."""
    from curagate.gate.evaluate import score_side

    spec = parse_gate(_gate("kw", keyword_task, ""), "g.yaml").golden_sets[0]
    task = get_task(keyword_task)
    declared = type(task).metrics
    type(task).metrics = declared[:1]  # "words" is still scored but no longer declared
    try:
        with pytest.raises(TypeError, match=r"keyword_task\) scored metric 'words'"):
            score_side(spec, [{"id": "a", "prompt": "q", "reference": "x"}], ["x y"], None)
    finally:
        type(task).metrics = declared
