"""classification: the output names one of the gate's ``labels``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from curagate.errors import InputError
from curagate.gate import metrics as gm
from curagate.gate.tasks.base import Answer, Metric, Scored, Task, register

if TYPE_CHECKING:
    from curagate.gate.config import GoldenSetGate


@register
class Classification(Task):
    name = "classification"
    metrics = (Metric("accuracy"), Metric("macro_f1", per_item=False))
    predicts_labels = True

    def check_config(self, spec: GoldenSetGate) -> None:
        if not spec.labels:
            raise ValueError("task 'classification' needs 'labels' (the list of class names)")

    def reference(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        assert spec.labels is not None
        ref = str(item["reference"])
        if ref not in spec.labels:
            raise InputError(
                f"golden set {spec.name!r}: item {item['id']!r}: reference {ref!r} is not one of "
                f"the gate's labels {spec.labels}; add it to 'labels' in the gate file"
            )
        return ref

    def parse(self, item: dict[str, Any], spec: GoldenSetGate, output: str) -> str | None:
        assert spec.labels is not None
        return gm.match_label(output, spec.labels)

    def score(self, answer: Answer) -> Scored:
        item, spec, output = answer.item, answer.spec, answer.output
        ref = self.reference(item, spec)
        pred = self.parse(item, spec, output)
        return Scored({"accuracy": float(pred == ref)}, label=pred)

    def aggregate(
        self,
        metric: str,
        spec: GoldenSetGate,
        labels: Sequence[str | None],
        references: Sequence[Any],
    ) -> float:
        assert metric == "macro_f1" and spec.labels is not None
        return gm.macro_f1(list(labels), list(references), spec.labels)

    def extra_results(
        self,
        spec: GoldenSetGate,
        labels: dict[str, Sequence[str | None]],
        references: Sequence[Any],
    ) -> dict[str, Any]:
        assert spec.labels is not None
        refs = list(references)
        return {
            "per_class": {
                side: {
                    k: {m: None if v is None else gm.rnd(v) for m, v in d.items()}
                    for k, d in gm.per_class(list(pred), refs, spec.labels).items()
                }
                for side, pred in labels.items()
            },
            "confusion_matrix": {
                side: gm.confusion_matrix(list(pred), refs, spec.labels)
                for side, pred in labels.items()
            },
        }
