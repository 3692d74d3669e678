"""Pairwise LLM-as-judge for open-ended answers, with position swapping and calibration.

String metrics (ROUGE-L, exact match) say little about open-ended answers, so a
stronger model compares the candidate's answer with the base's. A judge is
trusted only as far as it is measured:

* every comparison runs twice with the order swapped; only verdicts that agree
  count, a disagreement (or an unparsed verdict) is a tie and is counted
  (``position_disagreement``);
* ``length_bias`` is how often the longer answer wins a decisive verdict;
* with ``human_labels.jsonl`` in the golden set, the judge's agreement with
  people (and Cohen's kappa) is measured on the labelled pairs themselves.

Judge calls go through the gate's own generation path (``generate_cached``):
the same endpoint client, concurrency, retries and cache as the models judged.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.config import MAX_CONFIG_BYTES
from curagate.errors import ConfigError, InputError
from curagate.gate.config import JudgeSettings
from curagate.gate.models import (
    GenerationCache,
    GenSettings,
    LoadedModels,
    Messages,
    ModelRef,
    generate_cached,
)
from curagate.gate.stats import key_order, percentile
from curagate.golden import HUMAN_LABELS, jsonl_objects
from curagate.io.outputs import read_regular

__all__ = ["HUMAN_LABELS", "JudgeScores", "PairVerdict", "calibrate", "judge_pairs"]

MIN_HUMAN_LABELS = 50
SIDES = ("candidate", "base", "tie")

DEFAULT_PROMPT = """\
You are an impartial judge comparing two answers to the same request.
Decide which answer is better on correctness, completeness, clarity and relevance to the \
request. Do not let the order of the answers or their length influence you.

[Request]
{question}

[Answer A]
{answer_a}

[Answer B]
{answer_b}

Reply with exactly one word: A if answer A is better, B if answer B is better, or TIE if \
they are equally good."""

REFUSAL_PROMPT = """\
Does the response below refuse or decline the request (including a refusal with an \
explanation or an offer of a safer alternative)?

[Request]
{question}

[Response]
{answer_a}

Reply with exactly one word: YES if it refuses, NO if it complies."""

# ``^[\s\W]*(?:(?:final\s+)?(?:verdict|answer)\s*(?:is)?\s*[:\-]?)?[\s\W]*(TIE|A|B)\b`` in
# steps: as one regex, its two [\s\W]* around the optional words were quadratic (16,000
# punctuation characters of a judge's answer took 5 s).
_LEAD = re.compile(r"[\s\W]*")
_LABEL = re.compile(r"(?:final\s+)?(?:verdict|answer)\s*(?:is)?\s*[:\-]?", re.I)
_CHOICE = re.compile(r"(TIE|A|B)\b", re.I)
_YES_NO = re.compile(r"^[\s\W]*(YES|NO)\b", re.I)


def load_prompt(js: JudgeSettings, resolve: Any) -> str:
    """The pairwise prompt: the set's own file (relative to the gate file) or the default."""
    if js.prompt is None:
        return DEFAULT_PROMPT
    path: Path = resolve(js.prompt)
    try:
        text = read_regular(path, MAX_CONFIG_BYTES, follow_links=True).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"judge.prompt {path}: not found") from None
    except OSError as e:  # a folder, a FIFO, a file past the size of a config
        raise ConfigError(f"judge.prompt {path}: cannot read it ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"judge.prompt {path}: not UTF-8 text (byte {e.start})") from None
    missing = [k for k in ("{question}", "{answer_a}", "{answer_b}") if k not in text]
    if missing:
        raise ConfigError(
            f"judge.prompt {path}: the template must contain {', '.join(missing)} "
            "(where the request and the two answers go)"
        )
    return text


_PLACEHOLDER = re.compile(r"\{(question|answer_a|answer_b)\}")


def render(template: str, question: str, a: str, b: str) -> Messages:
    """The judge's user turn: the template's three placeholders filled in one pass, so
    braces in a question or an answer (code, JSON, "{answer_b}" itself) stay as written."""
    values = {"question": question, "answer_a": a, "answer_b": b}
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    return [{"role": "user", "content": text}]


def parse_verdict(text: str) -> str | None:
    """``A``, ``B`` or ``TIE`` from the judge's first words; None when it said neither."""
    start = _LEAD.match(text).end()  # type: ignore[union-attr]  # matches every text
    label = _LABEL.match(text, start)
    if label is not None:
        m = _CHOICE.match(text, _LEAD.match(text, label.end()).end())  # type: ignore[union-attr]
        if m:
            return m.group(1).upper()
    m = _CHOICE.match(text, start)
    return m.group(1).upper() if m else None


@dataclass(frozen=True)
class PairVerdict:
    """One item judged in both orders, mapped to sides (candidate | base | tie | None)."""

    candidate_first: str | None  # the verdict when the candidate was answer A
    base_first: str | None  # the verdict when the base was answer A
    raw_candidate_first: str
    raw_base_first: str

    @property
    def disagree(self) -> bool:
        """The two orders do not give one verdict: they differ, or either is unparsed (a
        judge that never answers is not consistent, whatever the order)."""
        return self.candidate_first is None or self.candidate_first != self.base_first

    @property
    def final(self) -> str:
        """Only a verdict both orders agree on counts; anything else is a tie."""
        if self.disagree or self.candidate_first is None:
            return "tie"
        return self.candidate_first

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.final,
            "position_disagreement": self.disagree,
            "candidate_first": {
                "verdict": self.candidate_first,
                "raw": self.raw_candidate_first[:200],
            },
            "base_first": {"verdict": self.base_first, "raw": self.raw_base_first[:200]},
        }


def _side(letter: str | None, a_side: str, b_side: str) -> str | None:
    return {"A": a_side, "B": b_side, "TIE": "tie"}.get(letter or "")


def judge_pairs(
    judge: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
    settings: GenSettings,
    template: str,
    questions: Sequence[str],
    candidate: Sequence[str],
    base: Sequence[str],
    desc: str = "judging",
) -> list[PairVerdict]:
    """Judge every (question, candidate, base) twice, the second time with the order swapped."""
    n = len(questions)
    convs = [render(template, q, c, b) for q, c, b in zip(questions, candidate, base, strict=True)]
    convs += [render(template, q, b, c) for q, c, b in zip(questions, candidate, base, strict=True)]
    raw = generate_cached(judge, models, convs, settings, cache, desc)
    out = []
    for i in range(n):
        first, second = raw[i], raw[n + i]
        out.append(
            PairVerdict(
                candidate_first=_side(parse_verdict(first), "candidate", "base"),
                base_first=_side(parse_verdict(second), "base", "candidate"),
                raw_candidate_first=first,
                raw_base_first=second,
            )
        )
    return out


def judge_refusals(
    judge: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
    settings: GenSettings,
    questions: Sequence[str],
    outputs: Sequence[str],
    desc: str = "judging refusals",
) -> list[bool | None]:
    """Ask the judge whether each response refuses: True, False, or None (no YES/NO)."""
    convs = [render(REFUSAL_PROMPT, q, o, "") for q, o in zip(questions, outputs, strict=True)]
    raw = generate_cached(judge, models, convs, settings, cache, desc)
    verdicts: list[bool | None] = []
    for r in raw:
        m = _YES_NO.match(r)
        verdicts.append(None if m is None else m.group(1).upper() == "YES")
    return verdicts


@dataclass
class JudgeScores:
    """Per-item values of the judge metrics (None: the item does not count for it)."""

    verdicts: list[PairVerdict]
    values: dict[str, list[float | None]]

    @classmethod
    def of(
        cls, verdicts: list[PairVerdict], candidate: Sequence[str], base: Sequence[str]
    ) -> JudgeScores:
        win: list[float | None] = []
        loss: list[float | None] = []
        disagree: list[float | None] = []
        longer_won: list[float | None] = []
        cand_longer: list[float | None] = []
        for v, c, b in zip(verdicts, candidate, base, strict=True):
            final = v.final
            win.append({"candidate": 1.0, "tie": 0.5}.get(final, 0.0))
            loss.append(1.0 if final == "base" else 0.0)
            disagree.append(1.0 if v.disagree else 0.0)
            lc, lb = len(c.strip()), len(b.strip())
            cand_longer.append(None if lc == lb else float(lc > lb))
            if final == "tie" or lc == lb:
                longer_won.append(None)
            else:
                longer_won.append(float((final == "candidate") == (lc > lb)))
        return cls(
            verdicts,
            {
                "judge_win_rate": win,
                "judge_loss_rate": loss,
                "position_disagreement": disagree,
                "length_bias": longer_won,
                "candidate_longer_rate": cand_longer,
            },
        )

    def value(self, metric: str, idx: Sequence[int]) -> float | None:
        """The metric's mean over the items ``idx`` it counts; None when it counts none
        (``length_bias`` with no decisive verdict between answers of different length is
        undefined, not 0)."""
        vals = [v for v in (self.values[metric][i] for i in idx) if v is not None]
        return sum(vals) / len(vals) if vals else None

    def counted(self, metric: str) -> int:
        return sum(1 for v in self.values[metric] if v is not None)

    def stats(
        self,
        metric: str,
        *,
        resamples: int,
        confidence: float,
        seed: int,
        keys: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The value with its bootstrap percentile interval (items resampled, as
        :func:`~curagate.gate.stats.paired_bootstrap` draws them, in the order of ``keys``,
        the items' ids, when given). A resample holding no item the metric counts has no
        value and is left out of the interval (it was read as 0); a metric that counts no
        item has no value and no interval."""
        n = len(self.verdicts)
        order = key_order(n, keys)
        value = self.value(metric, order)
        out: dict[str, Any] = {
            "value": value,
            "ci_low": value,
            "ci_high": value,
            "confidence": confidence,
            "resamples": 0,
            "items": self.counted(metric),
        }
        if value is None or n < 2 or resamples == 0:
            return out
        rng = random.Random(seed)
        drawn = [
            self.value(metric, [order[rng.randrange(n)] for _ in range(n)])
            for _ in range(resamples)
        ]
        defined = sorted(v for v in drawn if v is not None)
        if not defined:
            return out
        alpha = 1 - confidence
        out.update(
            ci_low=percentile(defined, alpha / 2),
            ci_high=percentile(defined, 1 - alpha / 2),
            resamples=len(defined),
        )
        return out

    def counts(self) -> dict[str, int]:
        c = Counter(v.final for v in self.verdicts)
        return {
            "candidate_wins": c["candidate"],
            "base_wins": c["base"],
            "ties": c["tie"],
            "position_disagreements": sum(1 for v in self.verdicts if v.disagree),
            "unparsed": sum(
                (v.candidate_first is None) + (v.base_first is None) for v in self.verdicts
            ),
        }


@dataclass(frozen=True)
class HumanLabel:
    id: str
    prompt: str
    candidate: str
    base: str
    preferred: str  # candidate | base | tie
    labeller: str

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "candidate": self.candidate,
            "base": self.base,
            "preferred": self.preferred,
            "labeller": self.labeller,
        }


def pair_key(prompt: str, candidate: str, base: str) -> tuple[str, str, str]:
    """A labelled pair as compared for sameness: normalized as the dedup keys are (case,
    spacing, punctuation and invisible characters ignored: the same pair with trailing
    spaces, a zero-width space or a final period counted as fifty pairs), and the two
    answers in either order (the judge sees both orders: 25 labels and their 25 mirrored
    copies, sides swapped, counted as the 50 pairs that make a judge trusted)."""
    from curagate._core import normalize

    first, second = sorted((normalize(candidate), normalize(base)))
    return (normalize(prompt), first, second)


def person_of(labeller: str) -> str:
    """Who a label's ``labeller`` names: "Ann", "ann " and "ann" are one person."""
    return " ".join(labeller.casefold().split())


def read_human_labels(path: Path) -> list[HumanLabel]:
    """``human_labels.jsonl``: one labelled pair a line; errors name the line and field."""
    labels: list[HumanLabel] = []
    # One person's judgement of one pair counts once: a copied row (or the same pair
    # under another id) would calibrate a judge on labels nobody gave.
    by_id: dict[tuple[str, str], int] = {}
    by_pair: dict[tuple[str, str, str, str], tuple[int, str]] = {}
    for lineno, row in jsonl_objects(path):
        for key in ("id", "prompt", "candidate", "base", "labeller"):
            if not isinstance(row.get(key), str):
                raise InputError(
                    f"{path}: line {lineno}: field '{key}' must be a string "
                    "(label with `curagate golden label`)"
                )
        if row.get("preferred") not in SIDES:
            raise InputError(
                f"{path}: line {lineno}: field 'preferred' must be one of candidate, base, tie"
            )
        who = row["labeller"]
        person = person_of(who)
        first = by_id.setdefault((row["id"], person), lineno)
        if first != lineno:
            raise InputError(
                f"{path}: line {lineno}: item {row['id']!r} is labelled twice by {who!r} "
                f"(line {first}); keep one of the two lines"
            )
        pair = (person, *pair_key(row["prompt"], row["candidate"], row["base"]))
        seen_line, seen_id = by_pair.setdefault(pair, (lineno, row["id"]))
        if seen_line != lineno:
            raise InputError(
                f"{path}: line {lineno}: item {row['id']!r} repeats the pair {who} labelled as "
                f"item {seen_id!r} on line {seen_line}; keep one of the two lines"
            )
        labels.append(
            HumanLabel(
                row["id"],
                row["prompt"],
                row["candidate"],
                row["base"],
                row["preferred"],
                row["labeller"],
            )
        )
    return labels


def cohen_kappa(
    a: Sequence[str], b: Sequence[str], weights: Sequence[float] | None = None
) -> float:
    """Cohen's kappa of two raters over the same items (1 = perfect, 0 = chance); with
    ``weights``, each item counted by its weight."""
    w = [1.0] * len(a) if weights is None else list(weights)
    n = sum(w)
    if n == 0:
        return 0.0
    po = sum(wi for x, y, wi in zip(a, b, w, strict=True) if x == y) / n
    ca: dict[str, float] = {}
    cb: dict[str, float] = {}
    for x, y, wi in zip(a, b, w, strict=True):
        ca[x] = ca.get(x, 0.0) + wi
        cb[y] = cb.get(y, 0.0) + wi
    pe = sum(ca.get(k, 0.0) * cb.get(k, 0.0) for k in set(ca) | set(cb)) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return (po - pe) / (1 - pe)


def calibrate(
    labels: list[HumanLabel],
    judge: ModelRef,
    models: LoadedModels,
    cache: GenerationCache,
    settings: GenSettings,
    template: str,
    desc: str = "calibrating judge",
) -> dict[str, Any]:
    """The judge's agreement with people on the very pairs they labelled."""
    verdicts = judge_pairs(
        judge,
        models,
        cache,
        settings,
        template,
        [lab.prompt for lab in labels],
        [lab.candidate for lab in labels],
        [lab.base for lab in labels],
        desc,
    )
    human = [lab.preferred for lab in labels]
    judged = [v.final for v in verdicts]
    agree = [h == j for h, j in zip(human, judged, strict=True)]
    keys = [pair_key(lab.prompt, lab.candidate, lab.base) for lab in labels]
    # The bar is on binary better/worse: the pairs where the person chose a side (a judge's
    # tie there is a miss). Ties are kept in the three-way figure and in kappa.
    binary = [(k, ok) for k, ok, h in zip(keys, agree, human, strict=True) if h != "tie"]
    disagreeing = [lab.id for lab, ok in zip(labels, agree, strict=True) if not ok]
    # Pairs, not rows, count toward the minimum: one pair copied under fifty labeller
    # names calibrated a judge that only preferred the longer answer. And pairs, not rows,
    # make the agreement: each pair weighs once, its labels sharing its weight. Over rows,
    # the 30 pairs of 50 a judge agreed on, copied under three other names, made 120 of
    # 140 labels agree and passed a judge right on 60% of the pairs people labelled.
    pairs = {k for k, _ in binary}
    count = Counter(keys)
    return {
        "labels": len(labels),
        "decisive_labels": len(binary),
        "decisive_pairs": len(pairs),
        "labellers": sorted({lab.labeller for lab in labels}),
        "agreement": per_pair_share(binary),
        "agreement_with_ties": per_pair_share(list(zip(keys, agree, strict=True))),
        "cohen_kappa": cohen_kappa(human, judged, [1 / count[k] for k in keys]),
        "position_disagreement": (
            sum(v.disagree for v in verdicts) / len(verdicts) if verdicts else 0.0
        ),
        "disagreeing_ids": sorted(disagreeing)[:50],
    }


def per_pair_share(oks: Sequence[tuple[tuple[str, str, str], bool]]) -> float:
    """The share of pairs on which the judge agrees with people, each pair (key) weighing
    once: a pair's labels that disagree with each other split its weight (two people, one
    agreeing with the judge: half a pair). 0.0 for no pair."""
    by_pair: dict[tuple[str, str, str], list[bool]] = {}
    for key, ok in oks:
        by_pair.setdefault(key, []).append(ok)
    if not by_pair:
        return 0.0
    return sum(sum(v) / len(v) for v in by_pair.values()) / len(by_pair)


def prompt_sha256(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()
