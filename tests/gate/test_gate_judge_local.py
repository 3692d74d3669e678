"""End to end with a real local judge: the tiny Llama (tests/tiny_llama.py) loaded from its
directory judges canned candidate and base answers in both orders. It is no judge of quality
(random weights); the test proves the plumbing: the judge is named by its weights digest,
every verdict of both orders reaches items.jsonl and adds up to the report's counts, and a
rerun is served from the cache without loading the judge, with byte-identical reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_support import CannedServer, tiny_model_dir, write_set  # noqa: F401 (fixture)

from curagate.digest import tree_digest
from curagate.gate import run_gate
from curagate.golden import lock
from curagate.signing import (
    ATTESTATION_NAME,
    generate_keypair,
    key_fingerprint,
    load_public_key,
    open_envelope,
)

pytestmark = pytest.mark.slow

ITEMS = [
    {"id": f"q{i:02d}", "prompt": f"Review {i}: great product", "reference": "Positive"}
    for i in range(12)
]

GATE = """\
name: local-judge
golden_dir: {golden}
generation: {{max_new_tokens: 16}}
statistics: {{bootstrap_resamples: 100}}
golden_sets:
  - name: chat
    task: generation
    metrics:
      judge_win_rate: {{min: 0.5}}
    judge:
      model: {judge}
      max_new_tokens: 4
contamination: {{check: false}}
"""


def test_tiny_local_judge_plumbing(tmp_path: Path, tiny_model_dir: Path) -> None:  # noqa: F811
    golden = tmp_path / "golden"
    write_set(golden, "chat", "generation", ITEMS)
    lock(golden)
    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE.format(golden=golden, judge=tiny_model_dir))
    cand = CannedServer(lambda p: "Positive, a great product.")
    base = CannedServer(lambda p: "Negative")
    try:
        runs = [
            run_gate(
                gate,
                cand.url,
                base.url,
                tmp_path / f"out{k}",
                cache_dir=tmp_path / "cache",
                device="cpu",
            )
            for k in (1, 2)
        ]
        # A model-directory candidate can be signed: the attestation names the judge too.
        private, public = generate_keypair(tmp_path / "keys")
        signed = run_gate(
            gate,
            str(tiny_model_dir),
            base.url,
            tmp_path / "out3",
            cache_dir=tmp_path / "cache",
            device="cpu",
            sign_key=private,
        )
    finally:
        cand.close()
        base.close()
    r = runs[0].report
    judge = r["judges"]["chat"]
    assert judge["kind"] == "model_dir" and judge["sha256"] == tree_digest(tiny_model_dir)
    assert judge["cache"]["used"] is True
    rows = [json.loads(x) for x in (tmp_path / "out1" / "items.jsonl").read_text().splitlines()]
    verdicts = [row["judge"] for row in rows]
    assert len(verdicts) == len(ITEMS)
    for v in verdicts:
        assert isinstance(v["candidate_first"]["raw"], str)
        assert isinstance(v["base_first"]["raw"], str)
        # One verdict in both orders; an unparsed one (None) is no verdict, so a disagreement.
        first = v["candidate_first"]["verdict"]
        agree = first is not None and first == v["base_first"]["verdict"]
        assert v["position_disagreement"] is (not agree)
        assert v["verdict"] == (first if agree else "tie")
    j = r["results"][0]["judge"]
    counts = j["counts"]
    assert counts["candidate_wins"] + counts["base_wins"] + counts["ties"] == len(ITEMS)
    assert counts["position_disagreements"] == sum(v["position_disagreement"] for v in verdicts)
    assert j["metrics"]["position_disagreement"]["value"] == pytest.approx(
        counts["position_disagreements"] / len(ITEMS), abs=1e-6
    )
    wins = sum({"candidate": 1.0, "tie": 0.5}.get(v["verdict"], 0.0) for v in verdicts)
    assert j["metrics"]["judge_win_rate"]["value"] == pytest.approx(wins / len(ITEMS), abs=1e-6)
    # Uncalibrated (no human labels): its win rate is never a pass.
    win = next(c for c in r["checks"] if c["name"] == "chat.judge_win_rate.threshold")
    assert win["verdict"] != "pass"
    # The rerun: the 24 judge answers come from the cache (the endpoints are never cached:
    # no digest stated), and the report is byte-identical.
    assert runs[1].cache_hits == 2 * len(ITEMS) and runs[1].cache_misses == 2 * len(ITEMS)
    # That candidate is the judge's own weights: self-preference is flagged (GATE012).
    own = next(c for c in signed.report["checks"] if c["id"] == "GATE012")
    assert own["verdict"] == "warn" and "shares weights with the candidate" in own["message"]
    ind = next(c for c in r["checks"] if c["id"] == "GATE012")
    assert ind["verdict"] == "pass"
    pem = public.read_bytes()
    fp = key_fingerprint(load_public_key(pem, source="test"))
    env = open_envelope(
        (tmp_path / "out3" / ATTESTATION_NAME).read_bytes(), {fp: pem}, source="attestation"
    )
    judged = env.statement["predicate"]["judges"]["chat"]
    assert judged["identity"] == signed.report["judges"]["chat"]["identity"] == judge["identity"]
    assert judged["kind"] == "model_dir" and judged["artifact_sha256"] == judge["sha256"]
    assert (tmp_path / "out1" / "gate_report.json").read_bytes() == (
        tmp_path / "out2" / "gate_report.json"
    ).read_bytes()
