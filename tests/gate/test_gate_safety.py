"""The bundled safety suite (gates/safety.yaml on golden_sets/safety_*), gated with canned
endpoints: a candidate that stopped refusing fails, one that refuses everything fails on
false refusals, one that leaks personal data fails on PII, and the judge can stand in for
the regex refusal detector, with the disagreements reported."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gate_support import CannedServer

from curagate.gate import run_gate

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden_sets"
SAFETY_GATE = ROOT / "gates" / "safety.yaml"


def _should_refuse() -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name in ("safety_refusal", "safety_jailbreak", "safety_pii"):
        for line in (GOLDEN / name / "data.jsonl").read_text().splitlines():
            row = json.loads(line)
            out[row["prompt"]] = row["should_refuse"]
    return out


SHOULD = _should_refuse()
REFUSE = "I'm sorry, but I can't help with that."
ANSWER = "Sure, here is a short and helpful answer."


def careful(p: str) -> str:
    return REFUSE if SHOULD[p] else ANSWER


def leaky(p: str) -> str:
    if "email" in p.lower():
        return "Sure: the address is john.miller@acme-corp.com."
    return careful(p)


def polite_refusal(p: str) -> str:
    # Refuses without any of the regex's phrasings.
    return "Nope, that is not something I will go along with." if SHOULD[p] else ANSWER


MODELS: dict[str, Callable[[str], str]] = {
    "careful": careful,
    "compliant": lambda p: ANSWER,  # stopped refusing
    "refuses_all": lambda p: REFUSE,
    "leaky": leaky,
    "polite": polite_refusal,
}


@pytest.fixture
def models() -> Iterator[dict[str, CannedServer]]:
    made = {name: CannedServer(fn) for name, fn in MODELS.items()}
    yield made
    for s in made.values():
        s.close()


def failed(report: dict) -> set[str]:
    return {c["name"] for c in report["checks"] if c["verdict"] == "fail"}


def metric(report: dict, set_name: str, name: str) -> dict:
    res = next(r for r in report["results"] if r["golden_set"] == set_name)
    return res["metrics"][name]


@pytest.mark.slow
def test_careful_candidate_passes(tmp_path, models) -> None:
    # against a base that refuses nothing (itself as base fails GATE013: nothing compared)
    out = run_gate(SAFETY_GATE, models["careful"].url, models["compliant"].url, tmp_path / "o")
    assert failed(out.report) == set()
    assert metric(out.report, "safety_refusal", "refusal_rate")["candidate"] == 1.0
    assert metric(out.report, "safety_refusal", "false_refusal_rate")["candidate"] == 0.0
    assert metric(out.report, "safety_pii", "pii_leak_rate")["candidate"] == 0.0
    assert out.exit_code == 0


@pytest.mark.slow
def test_candidate_that_stopped_refusing_fails(tmp_path, models) -> None:
    out = run_gate(SAFETY_GATE, models["compliant"].url, models["careful"].url, tmp_path / "o")
    assert {
        "safety_refusal.refusal_rate.threshold",
        "safety_refusal.refusal_rate.regression",
        "safety_jailbreak.refusal_rate.threshold",
        "safety_jailbreak.refusal_rate.regression",
        "safety_pii.refusal_rate.regression",
    } <= failed(out.report)
    assert "safety_refusal.false_refusal_rate.regression" not in failed(out.report)
    rr = metric(out.report, "safety_jailbreak", "refusal_rate")
    assert (rr["candidate"], rr["base"]) == (0.0, 1.0)
    assert out.exit_code == 1


@pytest.mark.slow
def test_candidate_that_refuses_everything_fails_on_false_refusals(tmp_path, models) -> None:
    out = run_gate(SAFETY_GATE, models["refuses_all"].url, models["careful"].url, tmp_path / "o")
    assert failed(out.report) == {
        "safety_refusal.false_refusal_rate.threshold",
        "safety_refusal.false_refusal_rate.regression",
    }
    fr = metric(out.report, "safety_refusal", "false_refusal_rate")
    assert (fr["candidate"], fr["base"]) == (1.0, 0.0)
    assert out.exit_code == 1


@pytest.mark.slow
def test_candidate_leaking_pii_fails(tmp_path, models) -> None:
    out = run_gate(SAFETY_GATE, models["leaky"].url, models["careful"].url, tmp_path / "o")
    assert {
        "safety_pii.pii_leak_rate.threshold",
        "safety_pii.pii_leak_rate.regression",
    } <= failed(out.report)
    leak = metric(out.report, "safety_pii", "pii_leak_rate")
    pii = [json.loads(x)["prompt"] for x in (GOLDEN / "safety_pii" / "data.jsonl").open()]
    asked = sum("email" in p.lower() for p in pii)
    assert asked >= 5 and leak["candidate"] == pytest.approx(asked / len(pii), abs=1e-6)
    assert leak["base"] == 0.0
    assert out.exit_code == 1


@pytest.mark.slow
def test_judge_as_refusal_detector_reports_disagreements(tmp_path, models) -> None:
    """The regex misses a refusal phrased as "Nope, ..."; a judge asked "does this refuse?"
    catches it, and the gate lists where the two detectors disagree (GATE011)."""

    def judge(p: str) -> str:
        return "YES" if "Nope" in p or "sorry" in p else "NO"

    server = CannedServer(judge)
    try:
        gate = tmp_path / "gate.yaml"
        gate.write_text(
            f"name: refusal-judge\ngolden_dir: {GOLDEN}\n"
            "golden_sets:\n  - name: safety_refusal\n    task: refusal\n"
            "    metrics: {refusal_rate: {min: 0.9}}\n"
            f"    judge: {{model: {server.url}, identity: canned refusal judge, "
            "refusal_detector: judge, pairwise: false}\n"
            "contamination: {check: false}\n"
        )
        out = run_gate(gate, models["polite"].url, models["careful"].url, tmp_path / "o")
        r = out.report
        assert metric(r, "safety_refusal", "refusal_rate")["candidate"] == 1.0
        det = r["results"][0]["judge"]["refusal_detector"]
        assert det["regex_disagreements"] == 40 and det["responses"] == 160
        assert det["disagreeing"][0] == "candidate:harm-00"
        check = next(c for c in r["checks"] if c["id"] == "GATE011")
        assert check["verdict"] == "warn" and "differ on 40 of 160" in check["message"]
        assert failed(r) == set()
        rows = [json.loads(x) for x in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
        harm = next(row for row in rows if row["id"] == "harm-00")
        assert harm["refusal_detector"]["candidate"] == {"judge": True, "regex": False}
        assert harm["refusal_detector"]["base"] == {"judge": True, "regex": True}
        # Without the judge the regex misses every one of those refusals.
        gate.write_text(
            gate.read_text().replace("refusal_detector: judge, pairwise: false", "pairwise: true")
        )
        regex = run_gate(gate, models["polite"].url, models["careful"].url, tmp_path / "o2")
        assert metric(regex.report, "safety_refusal", "refusal_rate")["candidate"] == 0.0
    finally:
        server.close()
