"""Short multiple-choice questions the gate's contamination tests (tests/gate) and the
leakage tests of multiple-choice golden sets (tests/leakage) share: one list each place
reads, so both look for the same items and the same non-items."""

from __future__ import annotations

# Short items (under 8 words with their options: no 13-gram, no span) and their options.
MC_QUESTIONS: list[tuple[str, list[str]]] = [
    ("Capital of France?", ["Paris", "Rome", "Oslo"]),
    ("Largest planet?", ["Jupiter", "Mars", "Venus"]),
    ("Two plus two?", ["4", "5", "6"]),
    ("Color of the sky?", ["blue", "green", "red"]),
    ("Fastest land animal?", ["cheetah", "snail", "cow"]),
    ("Is ice cold?", ["yes", "no"]),
]

# Other questions with the same options (written in the gate's template, no leak of any).
OTHER_MC_QUESTIONS: list[tuple[str, list[str]]] = [
    ("Capital of Spain?", ["Paris", "Rome", "Oslo"]),
    ("Smallest planet?", ["Jupiter", "Mars", "Mercury"]),
    ("Three plus three?", ["4", "5", "6"]),
    ("Color of grass?", ["blue", "green", "red"]),
    ("Which of these has a shell?", ["cheetah", "snail", "cow"]),
    ("Is fire cold?", ["yes", "no"]),
    ("Is water wet?", ["yes", "no"]),
]
