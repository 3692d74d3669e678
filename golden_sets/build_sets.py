"""Rebuild the bundled golden sets from the public data in ../shared/data/.

Run from the repository root:  python golden_sets/build_sets.py ../shared/data
then review the diff and re-lock on purpose:  curagate golden lock golden_sets

Every transformation is here so the provenance in each set.yaml is checkable.
The excerpts are small; each folder keeps the upstream LICENSE beside its data.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EOT = "<|endoftext|>"


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


def _completion(row: dict[str, Any]) -> str:
    return str(row["completion"]).removesuffix(EOT).strip()


# Reviews 0-99 are the training half (examples/corpus); the golden set holds
# the other half, so a model trained on the example can be gated honestly.
AMAZON_GOLDEN_FROM = 100


def amazon_sentiment(data: Path) -> None:
    src = data / "t0_templates" / "amazon_polarity_Is_this_review.jsonl"
    rows = []
    for i, r in enumerate(_read(src)):
        if i < AMAZON_GOLDEN_FROM:
            continue
        review = r["prompt"].split("\nReview: ", 1)[-1]
        words = len(review.split())
        rows.append(
            {
                "id": f"amazon_polarity_{i:03d}",
                # The template's own question, as the example trains on it.
                "prompt": r["prompt"].strip(),
                "reference": _completion(r),
                "length": "short" if words < 60 else "long",
            }
        )
    out = HERE / "amazon_sentiment"
    _write(out / "data.jsonl", rows)
    shutil.copyfile(data / "t0_templates" / "LICENSE", out / "LICENSE")


def ag_news_topics(data: Path) -> None:
    src = data / "t0_templates" / "ag_news_classify_with_choices.jsonl"
    rows = []
    for i, r in enumerate(_read(src)):
        m = re.search(r"\((AP|Reuters|AFP|SPACE\.com|CNN)\)", r["prompt"])
        rows.append(
            {
                "id": f"ag_news_{i:03d}",
                "prompt": r["prompt"].strip(),
                "reference": _completion(r),
                "source": m.group(1) if m else "other",
            }
        )
    out = HERE / "ag_news_topics"
    _write(out / "data.jsonl", rows)
    shutil.copyfile(data / "t0_templates" / "LICENSE", out / "LICENSE")


# "Headline (Agency) Agency - text" or "Headline  DATELINE (Agency) - text": the two ways the
# excerpt's items name a news agency. Items naming none have no reliable headline end: skipped.
_AGENCY_REPEATED = re.compile(r"^(?P<headline>.+?) \((?P<source>[^()]+)\) (?P=source) - ")
_AGENCY_DATELINE = re.compile(
    r"^(?P<headline>.+?)  (?P<dateline>[A-Z][A-Z/ .,'-]*[A-Z]) \((?P<source>[^()]+)\) - "
)
AG_NEWS_TOPICS = ["world politics", "sports", "business", "science and technology"]
AG_NEWS_JSON_PROMPT = (
    "Extract the fields of this news item as a JSON object with exactly these keys: "
    '"headline" (the headline, exactly as written), "source" (the news agency named in '
    'parentheses), "dateline" (the place in capitals before the agency, or null) and "topic" '
    "(one of: world politics, sports, business, science and technology). "
    "Answer with the JSON object only.\n\n"
)


def ag_news_json(data: Path) -> None:
    src = data / "t0_templates" / "ag_news_classify_with_choices.jsonl"
    question = "\nIs this a piece of news regarding"
    rows = []
    for i, r in enumerate(_read(src)):
        m = _AGENCY_REPEATED.match(r["prompt"]) or _AGENCY_DATELINE.match(r["prompt"])
        if m is None:
            continue
        fields = m.groupdict()
        rows.append(
            {
                "id": f"ag_news_{i:03d}",
                "prompt": AG_NEWS_JSON_PROMPT + r["prompt"].split(question, 1)[0].strip(),
                "reference": {
                    "headline": fields["headline"].strip(),
                    "source": fields["source"],
                    "dateline": fields.get("dateline"),
                    "topic": _completion(r).lower(),
                },
                "agency": fields["source"] if fields["source"] in ("AP", "Reuters") else "other",
            }
        )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "headline": {"type": "string", "minLength": 1},
            "source": {"type": "string", "minLength": 1},
            "dateline": {"type": ["string", "null"]},
            "topic": {"enum": AG_NEWS_TOPICS},
        },
        "required": ["headline", "source", "dateline", "topic"],
        "additionalProperties": False,
    }
    out = HERE / "ag_news_json"
    _write(out / "data.jsonl", rows)
    (out / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(data / "t0_templates" / "LICENSE", out / "LICENSE")


def user_oriented(data: Path) -> None:
    src = data / "self_instruct" / "user_oriented_instructions.jsonl"
    rows = []
    for task in _read(src):
        for j, inst in enumerate(task["instances"]):
            prompt = task["instruction"].strip()
            if inst.get("input", "").strip():
                prompt += "\n\n" + inst["input"].strip()
            rows.append(
                {
                    "id": f"{task['id']}_{j}",
                    "prompt": prompt,
                    "reference": inst["output"].strip(),
                    "app": task["motivation_app"],
                }
            )
    out = HERE / "user_oriented"
    _write(out / "data.jsonl", rows)
    shutil.copyfile(data / "self_instruct" / "LICENSE", out / "LICENSE")


def gsm8k_math(data: Path, n: int = 200) -> None:
    src = data / "gsm8k" / "test.jsonl"
    rows = []
    for i, r in enumerate(_read(src)[:n]):
        final = r["answer"].rsplit("####", 1)[-1].strip().replace(",", "")
        rows.append(
            {
                "id": f"gsm8k_test_{i:04d}",
                "prompt": r["question"].strip()
                + "\nSolve step by step, then give the final number on the last line as '#### <number>'.",
                "reference": final,
                "solution": r["answer"],
            }
        )
    out = HERE / "gsm8k_math"
    _write(out / "data.jsonl", rows)
    shutil.copyfile(data / "gsm8k" / "LICENSE", out / "LICENSE")


def _dash_choices(prompt: str) -> tuple[str, list[str]]:
    """Split a T0 prompt into its question and its '- choice' lines."""
    lines = prompt.rstrip("\n").split("\n")
    choices = [ln[2:].strip() for ln in lines if ln.startswith("- ")]
    question = "\n".join(ln for ln in lines if not ln.startswith("- ")).strip()
    return question, choices


def regression_suite(data: Path, n: int = 100) -> None:
    out = HERE / "regression"
    for name, fname in (
        ("csqa_mini", "commonsense_qa_question_answering.jsonl"),
        ("dream_mini", "dream_baseline.jsonl"),
    ):
        rows = []
        for i, r in enumerate(_read(data / "t0_templates" / fname)):
            question, choices = _dash_choices(r["prompt"])
            answer = _completion(r)
            if answer not in choices:
                continue
            rows.append(
                {
                    "id": f"{name}_{i:03d}",
                    "question": question,
                    "choices": choices,
                    "label": choices.index(answer),
                }
            )
            if len(rows) == n:
                break
        _write(out / f"{name}.jsonl", rows)
    shutil.copyfile(data / "t0_templates" / "LICENSE", out / "LICENSE")


def main(data_dir: str) -> None:
    data = Path(data_dir)
    amazon_sentiment(data)
    ag_news_topics(data)
    ag_news_json(data)
    user_oriented(data)
    gsm8k_math(data)
    regression_suite(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
