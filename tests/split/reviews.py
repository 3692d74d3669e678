"""Preference items of one review template, for the split tests of named templates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TEMPLATE = (
    "Read the customer review below and decide whether the customer was happy with the "
    "product they bought.\nReview: {review}\nAnswer:"
)


def review_items(
    words: Callable[[int], str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val, test): 40, 20 and 20 items of TEMPLATE with a 6-word review and 12-word
    answers, drawn from ``words`` (test first, then val, then train)."""

    def item(i: int) -> dict[str, Any]:
        return {
            "id": f"t{i}",
            "prompt": TEMPLATE.format(review=words(6)),
            "chosen": words(12),
            "rejected": words(12),
        }

    test = [item(i) for i in range(20)]
    val = [item(100 + i) for i in range(20)]
    train = [item(200 + i) for i in range(40)]
    return train, val, test
