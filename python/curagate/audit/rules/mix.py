"""MIX001-MIX002: the mix of single- and multi-turn conversations and system prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from curagate.audit.rules.base import DatasetView, register
from curagate.findings import Rule, Severity
from curagate.text import exact_percent, percent

if TYPE_CHECKING:
    from curagate.audit.partial import RuleHits

RULES = (
    Rule(
        "MIX001",
        "multi-turn-share",
        Severity.WARNING,
        "The share of multi-turn conversations (more than one user turn) lies outside "
        "mix.multi_turn_min..mix.multi_turn_max (default 0.2..0.3, the fine-tuning guide's "
        "suggestion). Conversations are chats and prompt/completion records whose prompt is "
        "turns; a prompt of text is none.",
        "Too few multi-turn examples and the model forgets context across turns; too many "
        "and single questions get verbose, context-seeking answers.",
        "Add (or remove) multi-turn conversations to reach the target mix.",
        dataset_level=True,
        limits=("mix.multi_turn_min", "mix.multi_turn_max"),
    ),
    Rule(
        "MIX002",
        "inconsistent-system-prompt",
        Severity.INFO,
        "Some conversations have a system prompt and others do not.",
        "The model learns two behaviours and which one applies depends on a prompt your "
        "serving stack may or may not send.",
        "Use the system prompt you will serve with in every conversation, or in none.",
        dataset_level=True,
    ),
)


def dataset(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
    """MIX001/MIX002 on the conversation counts of the whole dataset."""
    part, cfg = view.part, view.cfg.mix
    conv = part.single + part.multi
    if not conv:
        return {}
    out: dict[str, RuleHits | tuple[str, float]] = {}
    share = part.multi / conv
    if not cfg.multi_turn_min <= share <= cfg.multi_turn_max:
        bound = cfg.multi_turn_min if share < cfg.multi_turn_min else cfg.multi_turn_max
        out["MIX001"] = (
            f"{percent(share, 1, limit=bound)} of conversations are multi-turn; the target "
            f"is {exact_percent(cfg.multi_turn_min)}..{exact_percent(cfg.multi_turn_max)}",
            share,
        )
    if 0 < part.with_system < conv:
        sys_share = part.with_system / conv
        out["MIX002"] = (
            f"{percent(sys_share, 1)} of conversations have a system prompt, the rest none",
            sys_share,
        )
    return out


register(__name__, *RULES, dataset=dataset)
