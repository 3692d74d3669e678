"""What a gate task type is, and the registry every task type adds itself to.

A task type (classification, generation, ...) is one module in this package: a
:class:`Task` subclass decorated with :func:`register`, declaring its name, its
metrics (with ``higher_is_better``, as lm-evaluation-harness's
``register_metric`` does) and how it builds a prompt, reads an answer and scores
one item. Gate files (curagate.gate.config) and golden sets (curagate.golden)
accept exactly the registered names; the runner asks the task, never switches
on its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    # Type-only: the gate config module imports this registry to validate task names.
    from curagate.gate.config import GoldenSetGate


@dataclass(frozen=True)
class Metric:
    """One metric a task computes, by the id thresholds name it with."""

    name: str
    higher_is_better: bool = True
    # A gate-file key the metric needs: it is computed only when the key is set, and a
    # threshold on it without the key is a config error naming the key (``hint`` says more).
    requires: str | None = None
    hint: str = ""
    # False: a set-level metric (e.g. macro-F1) that the task computes from its
    # per-item predictions with ``Task.aggregate`` instead of a mean over items.
    per_item: bool = True
    # The items a per-item metric is measured on, in words, when not every item (the
    # task scores the others ``None``): a set or slice with none does not measure it.
    applies_to: str = ""
    # A share from 0 to 1 (every built-in metric): a gate file's bound outside that range,
    # or an absolute drop above 1, is a config error (it could never be crossed). A task's
    # count or other measure declares False.
    share: bool = True


@dataclass(frozen=True)
class Answer:
    """One side's raw output for one item, with what scoring it may need."""

    item: dict[str, Any]
    spec: GoldenSetGate
    output: str
    # The gate entry's JSON schema, loaded once per set (structured_json).
    schema: dict[str, Any] | None = None
    # Another detector's refusal verdict (the judge's, on refusal sets); None: use the regex.
    refused: bool | None = None


@dataclass
class Scored:
    """One item scored on one side: the metric values (None: not applicable to the item)
    and, for tasks that predict a label, the label (per-class tables, macro-F1)."""

    values: dict[str, float | None]
    label: str | None = None


class Task:
    """A gate task type. Subclass it in a new module of this package and ``@register`` it."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[Metric, ...]]
    # Items must carry a ``reference`` (refusal sets carry ``should_refuse`` instead).
    needs_reference: ClassVar[bool] = True
    # Each item's prediction is a label (``Scored.label``): kept per side for set-level
    # metrics, per-class tables and the ``*_answer`` columns of items.jsonl.
    predicts_labels: ClassVar[bool] = False
    # Free-form answers a pairwise LLM judge can compare.
    judged: ClassVar[bool] = False
    # Answers are refusals or not: the judge may replace the regex refusal detector.
    detects_refusals: ClassVar[bool] = False
    # Per-item correctness (McNemar on accuracy, failing examples): this metric's value
    # reaching ``correct_at``.
    correct_metric: ClassVar[str] = "accuracy"
    correct_at: ClassVar[float] = 1.0

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"task {self.name!r} computes no metric {name!r}")

    def check_config(self, spec: GoldenSetGate) -> None:
        """Raise ValueError (one sentence naming the key) when the gate entry cannot run."""

    def prompt(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        """The user turn for an item without ``messages``."""
        return str(item["prompt"])

    def reference(self, item: dict[str, Any], spec: GoldenSetGate) -> Any:
        """The expected answer as reports show it."""
        return item["reference"]

    def parse(self, item: dict[str, Any], spec: GoldenSetGate, output: str) -> Any:
        """What the gate reads from one raw output, as a JSON-ready value."""
        raise NotImplementedError

    def score(self, answer: Answer) -> Scored:
        """Per-item metric values of one side's answer to one item."""
        raise NotImplementedError

    def aggregate(
        self,
        metric: str,
        spec: GoldenSetGate,
        labels: Sequence[str | None],
        references: Sequence[Any],
    ) -> float:
        """A set-level (``per_item=False``) metric over the given items."""
        raise NotImplementedError(f"task {self.name!r} declares no set-level metric {metric!r}")

    def correct_by(self, spec: GoldenSetGate) -> tuple[str, float]:
        """The metric and the value at which one item counts as answered correctly."""
        return self.correct_metric, self.correct_at

    def extra_results(
        self,
        spec: GoldenSetGate,
        labels: dict[str, Sequence[str | None]],
        references: Sequence[Any],
    ) -> dict[str, Any]:
        """Task-specific tables for the report (``labels`` by side); none by default."""
        return {}


_TASKS: dict[str, Task] = {}
T = TypeVar("T", bound=type[Task])


def register(cls: T) -> T:
    """Add a task type (the class decorator each task module applies)."""
    if cls.name in _TASKS:
        raise ValueError(f"gate task type {cls.name!r} is registered twice")
    names = [m.name for m in cls.metrics]
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"gate task type {cls.name!r}: metrics must be distinct and non-empty")
    _TASKS[cls.name] = cls()
    return cls


def task_names() -> tuple[str, ...]:
    """Registered task types, in registration order (the order errors list them in)."""
    return tuple(_TASKS)


def get_task(name: str) -> Task:
    return _TASKS[name]


def unregister(name: str) -> None:
    """Remove a task type (for tests that register one of their own)."""
    _TASKS.pop(name, None)


__all__ = ["Answer", "Metric", "Scored", "Task", "get_task", "register", "task_names", "unregister"]
