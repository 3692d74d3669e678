"""The gate run the report tests share: a golden set from the vendored GSM8K excerpt with
hostile ids, prompts and slice values, a hostile gate name, and canned endpoints whose
candidate answers the hostile prompts with hostile output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curagate import golden
from tests.gate.gate_support import CannedServer, write_set

DATA = Path(__file__).parents[1] / "data"
GSM8K = DATA / "gsm8k_test_sample.jsonl"

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'
MD = "pipe | in\nnew line `tick`"
# Markdown that would render as emphasis, a link, an image, an autolink or an entity, and a
# terminal's escape sequences (clear screen, window title).
MD_ACTIVE = (
    "**PASSED** _em_ ~~gone~~ [approve](javascript:alert(3)) ![](https://x.example/p.png) "
    "<https://x.example/b> &lt;b&gt; \x1b[2J\x1b]0;title\x07 ``` fence"
)
HOSTILE = f"{SCRIPT} {IMG} {MD} {MD_ACTIVE}"


def gsm8k() -> list[dict[str, str]]:
    return [json.loads(line) for line in GSM8K.read_text(encoding="utf-8").splitlines()]


def final_answer(answer: str) -> str:
    return answer.rsplit("####", 1)[1].strip()


GATE = """\
name: {name}
golden_dir: {golden}
generation: {{max_new_tokens: 16}}
statistics: {{bootstrap_resamples: 100}}
golden_sets:
  - name: gsm
    task: extraction
    metrics:
      exact_match: {{min: 0.5}}
    slices:
      - column: kind
        min_items: 2
contamination: {{check: false}}
"""


@pytest.fixture
def gate_setup(tmp_path: Path) -> Iterator[dict[str, Any]]:
    rows = gsm8k()
    items = [
        {
            "id": f"{SCRIPT}{i}" if i == 0 else f"gsm-{i}",
            "prompt": f"{r['question']} {HOSTILE}" if i < 3 else r["question"],
            "reference": final_answer(r["answer"]),
            "kind": HOSTILE if i % 2 else "plain",
        }
        for i, r in enumerate(rows)
    ]
    root = tmp_path / "golden"
    write_set(root, "gsm", "extraction", items)
    golden.lock(root)
    answers = {str(i["prompt"]): str(i["reference"]) for i in items}
    right = CannedServer(lambda p: answers.get(p, "0"))
    # the candidate gets the hostile prompts wrong, echoing hostile output
    wrong = CannedServer(lambda p: f"{HOSTILE} {IMG}" if HOSTILE in p else answers.get(p, "0"))
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(name=json.dumps(HOSTILE), golden=root), encoding="utf-8")
    yield {"gate": gate, "candidate": wrong.url, "base": right.url}
    right.close()
    wrong.close()
