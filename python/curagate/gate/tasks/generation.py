"""generation and extraction: a free-form answer compared with the reference text.

Extraction (the answer is a span of the input) is scored exactly like generation;
the two names let golden sets say which they hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curagate.errors import InputError
from curagate.gate import metrics as gm
from curagate.gate.tasks.base import Answer, Metric, Scored, Task, register

if TYPE_CHECKING:
    from curagate.gate.config import GoldenSetGate


class FreeForm(Task):
    metrics = (
        Metric("exact_match"),
        Metric("rouge_l"),
        Metric("format_compliance", requires="format_regex"),
    )
    judged = True

    def reference(self, item: dict[str, Any], spec: GoldenSetGate) -> str:
        """The reference text: a string, or a number (written out in full: ``0.00005``). A
        blank one, one with no word (punctuation only) and any other JSON value are
        errors: scored as text ("None", "['x']") or as nothing, they matched answers that
        say nothing."""
        ref = item["reference"]
        if isinstance(ref, (int, float)) and not isinstance(ref, bool):
            return gm.plain_number(ref)
        if not isinstance(ref, str):
            raise InputError(
                f"golden set {spec.name!r}: item {item['id']!r}: 'reference' must be text or "
                f"a number, not {type(ref).__name__ if ref is not None else 'null'}"
            )
        if gm.as_number(ref) is None and not gm.normalize_text(ref, drop_articles=False):
            raise InputError(
                f"golden set {spec.name!r}: item {item['id']!r}: 'reference' {ref!r} has no "
                "word to compare (blank or punctuation only), so an empty answer would match "
                "it; write the expected answer"
            )
        return ref

    def parse(self, item: dict[str, Any], spec: GoldenSetGate, output: str) -> str:
        """The extracted answer (``answer_regex`` applied first when set)."""
        return gm.extract_answer(output, spec.answer_regex)

    def score(self, answer: Answer) -> Scored:
        item, spec, output = answer.item, answer.spec, answer.output
        ref = self.reference(item, spec)
        extracted = self.parse(item, spec, output)
        values: dict[str, float | None] = {
            "exact_match": gm.exact_match(extracted, ref),
            "rouge_l": gm.rouge_l(extracted, ref),
        }
        if spec.format_regex:
            values["format_compliance"] = gm.format_compliance(output, spec.format_regex)
        return Scored(values)

    def correct_by(self, spec: GoldenSetGate) -> tuple[str, float]:
        # Free-form answers rarely match exactly: judge them by ROUGE-L unless an
        # answer_regex extracts a short answer, or the gate checks exact_match (and not
        # rouge_l first): a set failing on exact_match listed no failing example, and
        # items.jsonl called every item correct by ROUGE-L.
        gated = [m for m in (*spec.metrics, *spec.regression) if m in ("exact_match", "rouge_l")]
        exact = spec.answer_regex or (gated and gated[0] == "exact_match")
        return ("exact_match", 1.0) if exact else ("rouge_l", 0.5)


@register
class Extraction(FreeForm):
    name = "extraction"


@register
class Generation(FreeForm):
    name = "generation"
