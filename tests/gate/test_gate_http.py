"""The whole gate over the OpenAI-compatible HTTP backend with canned answers (no torch)."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from gate_support import SENTIMENT_ITEMS, CannedServer, write_set
from tests.mc_questions import MC_QUESTIONS, OTHER_MC_QUESTIONS

from curagate.cli import main
from curagate.errors import ConfigError, CuragateError, InputError
from curagate.gate import run_gate
from curagate.golden import lock

GATE = """\
name: sentiment
golden_dir: {golden}
generation: {{max_new_tokens: 8}}
statistics: {{bootstrap_resamples: 200, fail_only_if_significant: {significant}}}
golden_sets:
  - name: sentiment
    task: classification
    labels: [Positive, Negative]
    metrics:
      accuracy: {{min: 0.8}}
      macro_f1: {{min: 0.8}}
    slices:
      - column: length
        min_items: 5
        metrics:
          accuracy: {{min: 0.7}}
contamination: {{check: false}}
"""


def gate_file(tmp_path: Path, golden: Path, *, significant: bool = False) -> Path:
    p = tmp_path / "gate.yaml"
    p.write_text(GATE.format(golden=golden, significant=str(significant).lower()))
    return p


def checks_by(report: dict, verdict: str) -> set[str]:
    return {c["name"] for c in report["checks"] if c["verdict"] == verdict}


def test_better_candidate_passes_every_threshold(tmp_path, golden_dir, servers) -> None:
    out = run_gate(
        gate_file(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "out",
    )
    r = out.report
    assert checks_by(r, "fail") == set()
    # 40 items < 200; and the gate file turns the contamination check off: said, a warning
    assert checks_by(r, "warn") == {"sentiment.size", "contamination"}
    acc = r["results"][0]["metrics"]["accuracy"]
    assert (acc["candidate"], acc["base"], acc["delta"]) == (1.0, 0.0, 1.0)
    assert acc["significant"] and acc["mcnemar"]["p_value"] < 1e-6
    assert out.exit_code == 0


def test_the_reports_are_published_as_one_folder_replacing_only_a_gate_output(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: the reports were renamed into --out one by one, so a gate killed
    # (or cancelled by CI) between them, or two gates into one --out, left gate_report.json
    # saying FAIL beside junit.xml and report.html saying PASS; and a folder of the user's
    # named report.md was deleted to make room.
    gate = gate_file(tmp_path, golden_dir)
    right, wrong = servers["right"].url, servers["wrong"].url
    out = tmp_path / "out"
    (out / "report.md").mkdir(parents=True)
    (out / "report.md" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a curagate output"):
        run_gate(gate, right, wrong, out)
    assert (out / "report.md" / "notes.txt").read_text() == "mine"
    first = run_gate(gate, right, wrong, tmp_path / "new")
    assert (first.out_dir / ".curagate-output.json").is_file() and first.exit_code == 0
    # A second run replaces the whole folder: no file of the first is left beside it.
    (tmp_path / "new" / "endpoint_log.json").write_text("{}")
    second = run_gate(gate, wrong, right, tmp_path / "new")
    assert second.report["verdict"] == "fail"
    junit = ET.parse(tmp_path / "new" / "junit.xml").getroot()
    assert int(junit.get("failures") or junit[0].get("failures") or 0) > 0
    assert json.loads((tmp_path / "new" / "endpoint_log.json").read_text()) != {}
    # One that reads from --out is refused before any model runs: replacing it would
    # delete what it read.
    inside = tmp_path / "new" / "gate.yaml"
    with pytest.raises(InputError, match="holds the gate file"):
        run_gate(gate.rename(inside), right, wrong, tmp_path / "new")


def test_damaged_candidate_fails_thresholds_and_regression(tmp_path, golden_dir, servers) -> None:
    out = run_gate(
        gate_file(tmp_path, golden_dir),
        servers["wrong"].url,
        servers["right"].url,
        tmp_path / "out",
    )
    failed = checks_by(out.report, "fail")
    assert {
        "sentiment.accuracy.threshold",
        "sentiment.accuracy.regression",
        "sentiment.macro_f1.regression",
    } <= failed
    assert out.exit_code == 1


def test_slice_threshold_fails_only_the_bad_slice(tmp_path, golden_dir, servers) -> None:
    out = run_gate(
        gate_file(tmp_path, golden_dir),
        servers["short_wrong"].url,
        servers["short_wrong"].url,
        tmp_path / "out",
    )
    slice_checks = {c["slice"]: c["verdict"] for c in out.report["checks"] if c["id"] == "GATE003"}
    assert slice_checks == {"length=long": "pass", "length=short": "fail"}


def test_equal_candidate_is_within_noise_and_warnings_fail_only_with_strict(
    tmp_path, golden_dir, servers
) -> None:
    gate = gate_file(tmp_path, golden_dir)
    out = run_gate(gate, servers["right"].url, servers["right2"].url, tmp_path / "a")
    metrics = out.report["results"][0]["metrics"]
    assert all(m["delta"] == 0 and m["within_noise"] for m in metrics.values())
    assert out.report["verdict"] == "warn" and out.exit_code == 0
    strict = run_gate(
        gate, servers["right"].url, servers["right2"].url, tmp_path / "b", strict=True
    )
    assert strict.exit_code == 1


def test_insignificant_drop_only_warns_when_failing_needs_significance(
    tmp_path, golden_dir
) -> None:
    flipped = {i["prompt"] for i in SENTIMENT_ITEMS[:3]}
    label = {i["prompt"]: i["reference"] for i in SENTIMENT_ITEMS}
    flip = {"Positive": "Negative", "Negative": "Positive"}
    three_wrong = CannedServer(lambda p: flip[label[p]] if p in flipped else label[p])
    right = CannedServer(lambda p: label[p])
    try:
        plain = run_gate(
            gate_file(tmp_path, golden_dir), three_wrong.url, right.url, tmp_path / "a"
        )
        lenient = run_gate(
            gate_file(tmp_path, golden_dir, significant=True),
            three_wrong.url,
            right.url,
            tmp_path / "b",
        )
    finally:
        three_wrong.close()
        right.close()
    name = "sentiment.accuracy.regression"
    assert name in checks_by(plain.report, "fail")  # 7.5-point drop > 5
    assert name in checks_by(lenient.report, "warn")  # McNemar p = 0.25: not significant
    # The p beside "significant" is the test that decided it (it was the bootstrap's).
    stats = next(c["stats"] for c in lenient.report["checks"] if c["name"] == name)
    accuracy = lenient.report["results"][0]["metrics"]["accuracy"]
    assert stats["p_value"] == accuracy["p_value"] == accuracy["mcnemar"]["p_value"] == 0.25
    assert stats["significant"] is False


def test_rerun_uses_the_generation_cache_and_writes_identical_reports(
    tmp_path, golden_dir, servers
) -> None:
    gate, cache = gate_file(tmp_path, golden_dir), tmp_path / "cache"
    # Endpoint answers are cached only under a stated model digest (test_gate_concurrency.py).
    digests = {"candidate_digest": "sha256:right", "base_digest": "sha256:wrong"}
    first = run_gate(
        gate,
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "out",
        cache_dir=cache,
        **digests,
    )
    before = servers["right"].requests + servers["wrong"].requests
    again = run_gate(
        gate,
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "out2",
        cache_dir=cache,
        **digests,
    )
    assert (first.cache_misses, again.cache_misses, again.cache_hits) == (80, 0, 80)
    assert servers["right"].requests + servers["wrong"].requests == before
    for name in ("gate_report.json", "report.md", "report.html", "junit.xml", "items.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()


def test_items_jsonl_holds_every_item_with_both_outputs_and_its_sha_is_in_the_report(
    tmp_path, golden_dir, servers
) -> None:
    from curagate.artifacts import GatePredicate, GateReportDoc, read_artifact

    run_gate(
        gate_file(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "out",
    )
    raw = (tmp_path / "out" / "items.jsonl").read_bytes()
    rows = [json.loads(line) for line in raw.decode().splitlines()]
    assert [r["id"] for r in rows] == [i["id"] for i in SENTIMENT_ITEMS]
    first = rows[0]
    assert first["set"] == "sentiment" and first["reference"] == "Positive"
    assert first["slices"] == {"length": "short"} and "Review 0" in first["prompt"]
    assert (first["candidate_answer"], first["base_answer"]) == ("Positive", "Negative")
    assert (first["candidate_correct"], first["base_correct"]) == (True, False)
    assert first["candidate_output"] and first["base_output"]
    loaded = read_artifact(GateReportDoc, tmp_path / "out" / "gate_report.json")
    assert loaded.doc.items is not None
    assert loaded.doc.items.sha256 == hashlib.sha256(raw).hexdigest()
    assert loaded.doc.items.count == len(SENTIMENT_ITEMS)
    # what a signed run attests
    assert (
        GatePredicate.of_report(loaded.doc, loaded.sha256).items_sha256 == loaded.doc.items.sha256
    )


def test_report_json_carries_hashes_thresholds_and_cis(tmp_path, golden_dir, servers) -> None:
    gate = gate_file(tmp_path, golden_dir)
    run_gate(gate, servers["right"].url, servers["wrong"].url, tmp_path / "out")
    r = json.loads((tmp_path / "out" / "gate_report.json").read_text())
    assert r["schema_version"] == 2
    assert r["attestation"] == {"signed": False, "keyid": None, "file": None}
    assert re.fullmatch(r"[0-9a-f]{64}", r["gate"]["sha256"])
    assert (
        r["golden_sets"][0]["sha256"]
        == json.loads((golden_dir / "lock.json").read_text())["sets"]["sentiment"]["sha256"]
    )
    check = next(c for c in r["checks"] if c["name"] == "sentiment.accuracy.regression")
    assert check["threshold"] == {"warn_drop": 0.02, "fail_drop": 0.05, "relative": False}
    assert {"ci_low", "ci_high", "p_value", "significant"} <= set(check["stats"])
    assert r["results"][0]["confusion_matrix"]["candidate"]["Positive"]["Positive"] == 20


def test_html_report_is_self_contained(tmp_path, golden_dir, servers) -> None:
    run_gate(
        gate_file(tmp_path, golden_dir),
        servers["wrong"].url,
        servers["right"].url,
        tmp_path / "out",
    )
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<svg" in page and "Failing examples" in page

    class Resources(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag in ("script", "link", "img", "iframe", "object", "embed", "image", "use"):
                self.found.append(tag)
            self.found += [f"{tag} {k}" for k, _ in attrs if k in ("src", "href", "xlink:href")]

    parser = Resources()
    parser.feed(page)
    assert parser.found == []
    assert "url(" not in page and "@import" not in page


def test_junit_has_one_testcase_per_check(tmp_path, golden_dir, servers) -> None:
    out = run_gate(
        gate_file(tmp_path, golden_dir),
        servers["wrong"].url,
        servers["right"].url,
        tmp_path / "out",
    )
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(out.report["checks"])
    failed = [c for c in cases if c.find("failure") is not None]
    assert len(failed) == out.report["summary"]["fail"] == int(root.get("failures"))


def test_cli_exit_codes(tmp_path, golden_dir, servers, capsys) -> None:
    gate = str(gate_file(tmp_path, golden_dir))
    common = ["--out", str(tmp_path / "o"), "--no-cache"]
    assert (
        main(
            [
                "gate",
                gate,
                "--candidate",
                servers["right"].url,
                "--base",
                servers["wrong"].url,
                *common,
            ]
        )
        == 0
    )
    assert "gate sentiment: WARN" in capsys.readouterr().out
    assert (
        main(
            [
                "gate",
                gate,
                "--candidate",
                servers["wrong"].url,
                "--base",
                servers["right"].url,
                *common,
            ]
        )
        == 1
    )
    assert (
        main(
            [
                "gate",
                gate,
                "--candidate",
                "http://127.0.0.1:9/v1",
                "--base",
                servers["right"].url,
                *common,
            ]
        )
        == 2
    )
    assert "endpoint not reachable" in capsys.readouterr().err


def test_changed_golden_set_stops_the_gate_with_exit_2(tmp_path, golden_dir, servers) -> None:
    data = golden_dir / "sentiment" / "data.jsonl"
    data.write_text(data.read_text().replace("Positive", "Negative", 1))
    with pytest.raises(CuragateError, match="golden sets never change silently") as e:
        run_gate(
            gate_file(tmp_path, golden_dir),
            servers["right"].url,
            servers["right"].url,
            tmp_path / "o",
        )
    assert e.value.exit_code == 2


def test_unparseable_answers_count_as_wrong(tmp_path, golden_dir, servers) -> None:
    out = run_gate(
        gate_file(tmp_path, golden_dir),
        servers["rambling"].url,
        servers["right"].url,
        tmp_path / "o",
    )
    cm = out.report["results"][0]["confusion_matrix"]["candidate"]
    assert (
        cm["Positive"]["(none)"] == 20
        and out.report["results"][0]["metrics"]["accuracy"]["candidate"] == 0
    )


def test_missing_candidate_is_an_input_error(tmp_path, golden_dir) -> None:
    with pytest.raises(InputError, match="not a run directory, model directory"):
        run_gate(
            gate_file(tmp_path, golden_dir), str(tmp_path / "nope"), str(tmp_path), tmp_path / "o"
        )


def _contamination_gate(tmp_path: Path, golden: Path, on_leak: str = "fail") -> Path:
    p = gate_file(tmp_path, golden)
    p.write_text(
        p.read_text().replace(
            "contamination: {check: false}", f"contamination: {{on_leak: {on_leak}}}"
        )
    )
    return p


def _gate_on_leaked(
    tmp_path: Path,
    golden_dir: Path,
    servers: Any,
    prompts: tuple[str, ...] = (),
    completion: str = "Positive",
) -> Any:
    """Lock the golden sets and gate a candidate trained on rows of ``prompts`` (a row
    holding LEAKED_PROMPT when none are given), each answered ``completion``."""
    lock(golden_dir)
    train = _train_file(tmp_path, list(prompts) or [LEAKED_PROMPT], completion)
    return run_gate(
        _contamination_gate(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(train)],
    )


def _train_file(tmp_path: Path, prompts: list[str], completion: str = "Positive") -> Path:
    p = tmp_path / "train.jsonl"
    p.write_text(
        "".join(json.dumps({"prompt": q, "completion": completion}) + "\n" for q in prompts)
    )
    return p


LEAKED_PROMPT = "Review 31: long complaint about delivery, packaging and missing parts, written at length so it has words"


def test_a_short_golden_prompt_that_is_a_whole_training_prompt_fails_the_gate(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: golden questions of 5-7 words, each the whole prompt of a training row
    # (with its answer as the completion), passed GATE005 with "0 golden items found": no
    # 13-gram, under the span's 8 words, and the key (prompt and completion) no exact copy.
    write_set(golden_dir, "sentiment", "classification", SENTIMENT_ITEMS)
    short = [i["prompt"] for i in SENTIMENT_ITEMS if len(i["prompt"].split()) < 8]
    assert short  # "Review 0: great product, works well"
    # an answer long enough that MinHash sees no copy
    prompts = ("an unrelated training prompt about cooking pasta", short[0])
    answer = "Sure! The label you are looking for is Positive."
    out = _gate_on_leaked(tmp_path, golden_dir, servers, prompts, answer)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    contamination = out.report["contamination"]
    assert contamination["golden_sets"]["sentiment"]["leaked_ids"] == ["s00"]
    assert contamination["short_items"] == len(short)
    assert f"{len(short)} golden item(s) under 8 words were looked for only" in check["message"]
    # Found by attack: report.md said "(13-gram overlap)" of an item found by exact match.
    md = (tmp_path / "o" / "report.md").read_text()
    assert "1 golden items found in the training data (looked for by exact match, 13-gram " in md
    assert "found by exact match 1, n-gram or span 0, MinHash 1;" in md
    assert "(13-gram overlap)." not in md


def test_golden_items_in_the_training_data_fail_the_gate(tmp_path, golden_dir, servers) -> None:
    items = [{**i, "prompt": LEAKED_PROMPT} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    prompts = ("an unrelated training prompt about cooking pasta", LEAKED_PROMPT)
    out = _gate_on_leaked(tmp_path, golden_dir, servers, prompts)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    # s33..s39 are "Review N: long complaint about delivery, packaging and missing parts": the
    # training row holds 8 of their 10 words in a row, a leak by the span criterion.
    assert out.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"] == [
        "s31",
        "s33",
        "s35",
        "s37",
        "s39",
    ]


def test_training_data_holding_no_record_fails_the_contamination_check(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: an empty --train-data file was "checked: true, 0 leaked" and the
    # gate passed GATE005 of a scan that read nothing.
    empty = tmp_path / "train.jsonl"
    empty.write_text("")
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(empty)],
    )
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and "holds no record" in check["message"]
    assert out.report["contamination"]["corpus_records"] == 0 and out.exit_code == 1


def test_golden_items_in_rows_quarantined_for_their_format_are_counted_as_scanned(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: rows quarantined for their format (an empty completion) are scanned,
    # but corpus_records left them out: a file of only such rows, every one a leak, failed
    # GATE005 as "holds no record: nothing was scanned".
    items = [{**i, "prompt": LEAKED_PROMPT} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    out = _gate_on_leaked(tmp_path, golden_dir, servers, (LEAKED_PROMPT,), completion="")
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and "nothing was scanned" not in check["message"]
    contamination = out.report["contamination"]
    assert (contamination["corpus_records"], contamination["corpus_quarantined_scanned"]) == (1, 1)
    assert "s31" in contamination["golden_sets"]["sentiment"]["leaked_ids"]


def test_leaked_golden_items_without_an_id_are_named_as_the_gate_names_them(
    tmp_path, golden_dir, servers
) -> None:
    # No ids: the gate's items are "data:<line>"; the leakage reader would say "<path>:<row>".
    items = [
        {k: v for k, v in {**i, "prompt": LEAKED_PROMPT}.items() if k != "id"}
        if i["id"] == "s31"
        else {k: v for k, v in i.items() if k != "id"}
        for i in SENTIMENT_ITEMS
    ]
    write_set(golden_dir, "sentiment", "classification", items)
    out = _gate_on_leaked(tmp_path, golden_dir, servers)
    line = 1 + next(k for k, i in enumerate(items) if i["prompt"] == LEAKED_PROMPT)
    # The other four are the items holding the same review text (see the test above).
    assert out.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"] == [
        f"data:{line}",
        *(f"data:{line + k}" for k in (2, 4, 6, 8)),
    ]
    gate_items = [json.loads(x) for x in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
    assert f"data:{line}" in {i["id"] for i in gate_items}


def _s31_leaked_as_messages(tmp_path, golden_dir, servers, items: list[dict[str, Any]]) -> None:
    """The set ``items`` with item s31's conversation the leaked prompt, gated on the
    training data that holds it: GATE005 fails naming s31."""
    items = [
        {**i, "messages": [{"role": "user", "content": LEAKED_PROMPT}]} if i["id"] == "s31" else i
        for i in items
    ]
    write_set(golden_dir, "sentiment", "classification", items)
    out = _gate_on_leaked(tmp_path, golden_dir, servers)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert "s31" in out.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"]


def test_items_as_messages_beside_a_context_column_are_scanned_by_their_messages(
    tmp_path, golden_dir, servers
) -> None:
    # The scan took the first of prompt, question, text, input, ctx, context, ... the first
    # row held: a `context` slice column beside `messages` was scanned instead of the
    # conversation, and a verbatim leak of every item passed GATE005.
    items = [
        {
            "id": i["id"],
            "messages": [{"role": "user", "content": i["prompt"]}],
            "reference": i["reference"],
            "length": i["length"],
            "context": "news",
        }
        for i in SENTIMENT_ITEMS
    ]
    _s31_leaked_as_messages(tmp_path, golden_dir, servers, items)


def test_a_bare_carriage_return_on_the_first_line_hides_no_leak_of_a_set_with_a_text_column(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: items with a `text` note column beside their prompt, the first line
    # holding a bare \r where JSON allows whitespace. The lock and the gate's items read
    # lines split at \n only, but the field to scan was picked from the file read as text
    # (universal newlines): its first line parsed as nothing, no field was picked, and the
    # reader scanned the `text` column, so a verbatim leak of all 40 items passed GATE005.
    items = [{**i, "text": "note"} for i in SENTIMENT_ITEMS]
    data = write_set(golden_dir, "sentiment", "classification", items) / "data.jsonl"
    first, rest = data.read_bytes().split(b"\n", 1)
    data.write_bytes(first.replace(b", ", b",\r ", 1) + b"\n" + rest)
    assert b"\r" in data.read_bytes().split(b"\n", 1)[0]
    out = _gate_on_leaked(tmp_path, golden_dir, servers, tuple(i["prompt"] for i in items))
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    found = out.report["contamination"]["golden_sets"]["sentiment"]
    assert (found["leaked_reference_items"], found["reference_items"]) == (40, 40)


def test_each_golden_item_is_scanned_by_what_the_model_reads(tmp_path, golden_dir, servers) -> None:
    # Found by attack: the field to scan was taken from the file's first line only. A first
    # item with only a prompt had every later item, sent to the model as its `messages`,
    # scanned by its `prompt` (a placeholder here): their conversations, copied verbatim
    # into the training data, passed GATE005 with "0 golden items found".
    first = {**SENTIMENT_ITEMS[0], "prompt": "What is the capital of France?"}
    items = [first] + [
        {**i, "prompt": f"item {i['id']}", "messages": [{"role": "user", "content": i["prompt"]}]}
        for i in SENTIMENT_ITEMS[1:]
    ]
    _s31_leaked_as_messages(tmp_path, golden_dir, servers, items)
    # The first item, a prompt with no conversation, is still scanned by its prompt.
    out = _gate_on_leaked(tmp_path, golden_dir, servers, (first["prompt"],))
    leaked = out.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"]
    assert leaked == ["s00"]


def test_short_conversation_items_copied_as_training_prompts_fail_the_gate(
    tmp_path, golden_dir, servers
) -> None:
    # Found by the re-attack: a conversation was scanned rendered ("user: Review 0: great
    # product, works well"), no whole prompt or user turn of any training row, so 12 items
    # under 8 words copied as prompts passed GATE005 (as `prompt` items they fail it).
    short = SENTIMENT_ITEMS[:12]
    items = [
        {**i, "messages": [{"role": "user", "content": i.pop("prompt")}]} if k < 12 else i
        for k, i in enumerate(dict(i) for i in SENTIMENT_ITEMS)
    ]
    write_set(golden_dir, "sentiment", "classification", items)
    out = _gate_on_leaked(tmp_path, golden_dir, servers, tuple(i["prompt"] for i in short))
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    found = out.report["contamination"]["golden_sets"]["sentiment"]
    assert found["leaked_ids"] == [i["id"] for i in short]
    assert (found["leaked_reference_items"], found["reference_items"]) == (12, 40)


def _gate_mc_on(tmp_path: Path, rows: list[dict[str, Any]]) -> Any:
    """A locked multiple-choice set of :data:`MC_QUESTIONS`, gated on training ``rows``."""
    items = [
        {"id": f"q{i}", "prompt": p, "choices": c, "reference": 0}
        for i, (p, c) in enumerate(MC_QUESTIONS)
    ]
    golden_dir = tmp_path / "golden"
    write_set(golden_dir, "mc", "multiple_choice", items)
    lock(golden_dir)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {golden_dir}\ngeneration: {{max_new_tokens: 4}}\n"
        "statistics: {bootstrap_resamples: 100}\n"
        "golden_sets:\n  - name: mc\n    task: multiple_choice\n"
    )
    server = CannedServer(lambda p: "A")
    try:
        return run_gate(gate, server.url, server.url, tmp_path / "o", train_data=[str(train)])
    finally:
        server.close()


@pytest.mark.parametrize("written", ["prompt", "user turn", "wrapped"])
def test_multiple_choice_items_trained_as_the_gate_asks_them_fail_the_gate(
    tmp_path: Path, written: str
) -> None:
    # Found by attack: multiple-choice items were scanned by their bare prompt, so the user
    # turn the gate sends (prompt, lettered options, instruction), trained verbatim, was no
    # whole prompt or user turn of any row, and items under 8 words passed GATE005.
    from curagate.gate.tasks.multiple_choice import rendered_prompt

    rows: list[dict[str, Any]] = []
    for p, c in MC_QUESTIONS:
        turn = rendered_prompt(p, c)
        if written == "prompt":
            rows.append({"prompt": turn, "completion": "A"})
        elif written == "user turn":
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": turn},
                        {"role": "assistant", "content": "A"},
                    ]
                }
            )
        else:  # the prompt and its options inside another template
            listed = "\n".join(f"{'ABC'[i]}. {x}" for i, x in enumerate(c))
            rows.append({"prompt": f"Question: {p}\n{listed}\nAnswer:", "completion": " A"})
    out = _gate_mc_on(tmp_path, rows)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    found = out.report["contamination"]["golden_sets"]["mc"]
    # Inside another template, an item is found by 8 or more words of its own: "Is ice
    # cold?" and its two options are 7 (found only as the whole user turn the gate sends).
    expect = ["q0", "q1", "q2", "q3", "q4"] + ([] if written == "wrapped" else ["q5"])
    assert found["leaked_ids"] == expect
    assert (found["leaked_reference_items"], found["reference_items"]) == (len(expect), 6)
    assert out.report["contamination"]["short_items"] == 1  # q5, said in GATE005's message


def test_other_multiple_choice_questions_in_the_gates_template_are_no_leak(tmp_path: Path) -> None:
    # Training rows written as the gate writes its items, with the same options under other
    # questions: the instruction is the set's template, the options alone no item.
    from curagate.gate.tasks.multiple_choice import rendered_prompt

    rows = [{"prompt": rendered_prompt(p, c), "completion": "B"} for p, c in OTHER_MC_QUESTIONS]
    out = _gate_mc_on(tmp_path, rows)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "pass", check["message"]
    assert out.report["contamination"]["leaked_reference_items"] == 0


def test_a_few_shot_items_last_question_in_the_training_data_fails_the_gate(
    tmp_path, golden_dir, servers
) -> None:
    # Found by the re-attack: a few-shot item's last question (8-12 words, under half of
    # the conversation) was neither a 13-gram nor a span of the rendered conversation.
    question = "Review 31: the zipper broke on the second day of the trip"
    shots = [
        {"role": "user", "content": "Review: arrived on time and works exactly as described"},
        {"role": "assistant", "content": "Positive"},
        {
            "role": "user",
            "content": "Review: stopped charging after a week and support never replied",
        },
        {"role": "assistant", "content": "Negative"},
    ]
    items = [
        {**i, "messages": [*shots, {"role": "user", "content": question}]}
        if i["id"] == "s31"
        else i
        for i in SENTIMENT_ITEMS
    ]
    write_set(golden_dir, "sentiment", "classification", items)
    out = _gate_on_leaked(tmp_path, golden_dir, servers, (question,))
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    found = out.report["contamination"]["golden_sets"]["sentiment"]
    # One item found, whichever of its texts (conversation, last question) matched.
    assert found["leaked_ids"] == ["s31"] and found["leaked_reference_items"] == 1
    assert found["by_method"]["ngram"] <= 1 and found["reference_items"] == 40


def test_each_golden_file_is_scanned_by_the_field_its_own_items_hold(
    tmp_path, golden_dir, servers
) -> None:
    # The field was taken from the first file's first row for every file: a first file of
    # conversations left the second, prompts with a `text` note, read by the note, and a
    # verbatim leak passed GATE005 (an lm_eval set's second suite stopped the gate).
    items = [{**i, "prompt": LEAKED_PROMPT} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    chats = [
        {
            "id": i["id"],
            "messages": [{"role": "user", "content": i["prompt"]}],
            "reference": i["reference"],
            "length": i["length"],
        }
        for i in items[:20]
    ]
    noted = [{**i, "text": "note"} for i in items[20:]]
    d = golden_dir / "sentiment"
    (d / "data.jsonl").write_text("".join(json.dumps(i) + "\n" for i in chats))
    (d / "more.jsonl").write_text("".join(json.dumps(i) + "\n" for i in noted))
    yaml = (d / "set.yaml").read_text().replace("[data.jsonl]", "[data.jsonl, more.jsonl]")
    (d / "set.yaml").write_text(yaml)
    out = _gate_on_leaked(tmp_path, golden_dir, servers)
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and out.exit_code == 1
    assert "s31" in out.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"]


def test_leak_policy_warn_downgrades_to_a_warning(tmp_path, golden_dir, servers) -> None:
    items = [{**i, "prompt": LEAKED_PROMPT} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    lock(golden_dir)
    train = _train_file(tmp_path, [LEAKED_PROMPT])
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir, "warn"),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(train)],
    )
    assert next(c for c in out.report["checks"] if c["id"] == "GATE005")["verdict"] == "warn"


def test_clean_training_data_passes_contamination(tmp_path, golden_dir, servers) -> None:
    train = _train_file(tmp_path, ["an unrelated training prompt about cooking pasta al dente"])
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(train)],
    )
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "pass" and out.report["contamination"]["leaked_reference_items"] == 0


def test_unreadable_training_rows_fail_contamination_closed(tmp_path, golden_dir, servers) -> None:
    train = _train_file(tmp_path, ["an unrelated training prompt about cooking pasta al dente"])
    with train.open("a") as f:
        f.write('{"prompt": "cut in the mid\n')  # not JSON: its text cannot be checked
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir, "warn"),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(train)],
    )
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "fail" and "could not be read" in check["message"]
    assert out.report["contamination"]["unreadable_corpus_rows"] == 1


def test_candidate_without_training_manifest_warns_that_contamination_was_not_checked(
    tmp_path, golden_dir, servers
) -> None:
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
    )
    check = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert check["verdict"] == "warn" and "--train-data" in check["message"]
    # The report's section printed "Not checked: not checked: ...".
    md = (tmp_path / "o" / "report.md").read_text()
    assert f"\n{check['message'][:1].upper()}{check['message'][1:]}" in md
    assert "ot checked: not checked" not in md
    assert "ot checked: not checked" not in (tmp_path / "o" / "report.html").read_text()


def test_report_validates_against_the_published_schema(tmp_path, golden_dir, servers) -> None:
    import jsonschema

    from curagate.gate.report import REPORT_SCHEMA

    train = _train_file(tmp_path, ["an unrelated training prompt about cooking pasta al dente"])
    out = run_gate(
        _contamination_gate(tmp_path, golden_dir),
        servers["right"].url,
        servers["wrong"].url,
        tmp_path / "o",
        train_data=[str(train)],
    )
    report = json.loads((tmp_path / "o" / "gate_report.json").read_text())
    jsonschema.Draft202012Validator(REPORT_SCHEMA).validate(report)
    assert report == json.loads(json.dumps(out.report))


def test_min_ratio_keeps_a_shared_template_from_flagging_an_item(
    tmp_path, golden_dir, servers
) -> None:
    template = "is the review positive or negative answer with one word positive or negative"
    prompt = "Review 31: " + " ".join(f"w{i}" for i in range(30)) + " " + template
    items = [{**i, "prompt": prompt} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    lock(golden_dir)
    train = _train_file(tmp_path, ["some other review entirely " + template])
    gate = _contamination_gate(tmp_path, golden_dir)
    strict = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "a", train_data=[str(train)]
    )
    gate.write_text(gate.read_text().replace("{on_leak: fail}", "{on_leak: fail, min_ratio: 0.1}"))
    lenient = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "b", train_data=[str(train)]
    )
    assert strict.report["contamination"]["leaked_reference_items"] == 1
    assert lenient.report["contamination"]["leaked_reference_items"] == 0


def test_a_short_truncation_of_a_golden_item_fails_the_gate_unless_the_span_rule_is_off(
    tmp_path, golden_dir, servers
) -> None:
    # 18 words: a 9-word part of it has no 13-gram; the span criterion (>= 8 words
    # covering >= half of the item) finds it, `min_span_words: 0` turns that off.
    prompt = "Review 31: the blender arrived late but it crushes ice well and the jar cleans easily"
    items = [{**i, "prompt": prompt} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    lock(golden_dir)
    train = _train_file(tmp_path, ["my note: it crushes ice well and the jar cleans easily"])
    gate = _contamination_gate(tmp_path, golden_dir)
    found = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "a", train_data=[str(train)]
    )
    gate.write_text(
        gate.read_text().replace("{on_leak: fail}", "{on_leak: fail, min_span_words: 0}")
    )
    off = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "b", train_data=[str(train)]
    )
    assert found.report["contamination"]["golden_sets"]["sentiment"]["leaked_ids"] == ["s31"]
    assert off.report["contamination"]["leaked_reference_items"] == 0


def test_an_endpoint_candidate_cannot_be_signed(tmp_path, golden_dir, servers) -> None:
    from curagate.signing import generate_keypair

    private, _ = generate_keypair(tmp_path / "keys")
    gate = gate_file(tmp_path, golden_dir)
    with pytest.raises(InputError, match="an attestation names the artifact's bytes"):
        run_gate(
            gate, servers["right"].url, servers["wrong"].url, tmp_path / "out", sign_key=private
        )


@pytest.mark.parametrize(("bar", "verdict"), [("{min: 1.0}", "pass"), ("{max: 0.0}", "fail")])
def test_a_metric_exactly_at_min_passes_and_above_max_fails(
    tmp_path: Path, golden_dir: Path, servers: dict[str, CannedServer], bar: str, verdict: str
) -> None:
    # The right candidate scores accuracy 1.0 exactly (40 of 40): `min` is inclusive, and
    # 1.0 is above max 0.0. The other tests' 1.0 vs min 0.8 holds with `<` or `<=`.
    gate = gate_file(tmp_path, golden_dir)
    gate.write_text(gate.read_text().replace("accuracy: {min: 0.8}", f"accuracy: {bar}", 1))
    out = run_gate(gate, servers["right"].url, servers["wrong"].url, tmp_path / "out")
    [check] = [c for c in out.report["checks"] if c["name"] == "sentiment.accuracy.threshold"]
    assert check["verdict"] == verdict, check["message"]


def test_a_nan_in_the_report_is_an_error_not_invalid_json(tmp_path, golden_dir, servers) -> None:
    """Python's json writes NaN as a bare `NaN`, which strict JSON parsers reject: a NaN
    reaching a gate output is a bug, raised with where it is, and nothing is written."""
    from curagate.gate.report import write_reports

    out = run_gate(
        gate_file(tmp_path, golden_dir), servers["right"].url, servers["wrong"].url, tmp_path / "o"
    )
    report = json.loads(json.dumps(out.report))
    report["checks"][1]["threshold"] = {"min": float("nan")}
    with pytest.raises(
        ValueError, match=r"gate_report\.json: checks\[1\]\.threshold\.min is not a finite number"
    ):
        write_reports(report, tmp_path / "nan")
    assert not (tmp_path / "nan" / "gate_report.json").exists()


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"content": "hi"}], r"messages\[0\]: 'role' must be a string; it is missing"),
        (
            ["hi"],
            r'messages\[0\] must be an object \{"role": \.\.\., "content": \.\.\.\}, not "hi"',
        ),
        (
            [{"role": "user", "content": None}],
            r"messages\[0\]: 'content' must be a string; not null",
        ),
        ([], "'messages' is empty"),
    ],
)
def test_a_malformed_messages_item_exits_2_before_any_request(
    tmp_path, golden_dir, servers, capsys, messages, error
) -> None:
    """A message without a role or a list of strings once crashed (exit 3, a traceback)."""
    items = [
        {"id": i["id"], "messages": messages, "reference": i["reference"]}
        if i["id"] == "s05"
        else i
        for i in SENTIMENT_ITEMS
    ]
    write_set(golden_dir, "sentiment", "classification", items)
    lock(golden_dir)
    rc = main(
        [
            "gate",
            str(gate_file(tmp_path, golden_dir)),
            "--candidate",
            servers["right"].url,
            "--base",
            servers["wrong"].url,
            "--out",
            str(tmp_path / "o"),
            "--no-cache",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    [line] = err.strip().splitlines()
    assert re.search(rf"^curagate gate: error: golden set 'sentiment': item 's05': {error}", line)
    assert servers["right"].requests == servers["wrong"].requests == 0


CONTROL = "\x1b]0;title\x07\x1b[2J\x1b[32mPASS\x1b[0m\x0c\x00\u202e"


def test_control_characters_in_golden_data_reach_neither_junit_nor_the_terminal(
    tmp_path, golden_dir, servers, capsys
) -> None:
    """ESC, form feed and NUL from a slice value once made junit.xml invalid XML, and
    escape sequences from it reached the terminal (retitle, clear, recolour)."""
    items = [{**i, "length": f"{i['length']}{CONTROL}"} for i in SENTIMENT_ITEMS]
    write_set(golden_dir, "sentiment", "classification", items)
    lock(golden_dir)
    gate = gate_file(tmp_path, golden_dir)
    args = ["--candidate", servers["short_wrong"].url, "--base", servers["right"].url]
    rc = main(["gate", str(gate), *args, "--out", str(tmp_path / "o"), "--no-cache"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "length=short" in out  # the failing slice is named ...
    assert all(line.isprintable() for line in out.splitlines()), out  # ... without escapes
    root = ET.parse(tmp_path / "o" / "junit.xml").getroot()
    names = [tc.get("name") for tc in root.iter("testcase")]
    assert any("length=short" in n and "[2J" in n for n in names)
    for el in root.iter():
        for text in [el.text or "", *el.attrib.values()]:
            assert text.replace("\n", "").isprintable(), repr(text)


def _run_small(
    tmp_path: Path, task: str, items: list[dict], cand: dict, base: dict, sets_yaml: str
) -> dict:
    """A gate of one small set ``s`` answered by canned prompt -> answer maps; the report."""
    golden = tmp_path / "golden"
    write_set(golden, "s", task, items)
    lock(golden)
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {golden}\ngolden_sets:\n  - name: s\n    task: {task}\n"
        f"{sets_yaml}contamination: {{check: false}}\n"
    )
    c, b = CannedServer(cand.__getitem__), CannedServer(base.__getitem__)
    try:
        return run_gate(gate, c.url, b.url, tmp_path / "out").report
    finally:
        c.close()
        b.close()


@pytest.mark.parametrize(
    ("n", "rule", "verdict", "drop"),
    [
        # base 2/6, candidate 1/6: the drop is 0.1666667, over 0.166666 (the rounded values,
        # 0.333333 - 0.166667, gave 0.166666 and a pass)
        (6, "{warn_drop: 0.166666, fail_drop: 0.166666}", "fail", "drop 0.166667 points"),
        # base 2/3, candidate 1/3: the relative drop is exactly 0.5 (the rounded values gave
        # 0.500001 and a fail)
        (3, "{warn_drop: 0.5, fail_drop: 0.5, relative: true}", "pass", "drop 0.5000 of base"),
    ],
)
def test_a_sets_regression_is_decided_on_its_values_not_on_their_rounding(
    tmp_path: Path, n: int, rule: str, verdict: str, drop: str
) -> None:
    # The set's check (GATE002) and the same items as a slice (GATE004) must agree, and
    # agree with the delta the report prints.
    items = [
        {"id": f"i{k}", "prompt": f"Review {k}: good", "reference": "Positive", "grp": "all"}
        for k in range(n)
    ]
    cand = {i["prompt"]: "Positive" if k < 1 else "Negative" for k, i in enumerate(items)}
    base = {i["prompt"]: "Positive" if k < 2 else "Negative" for k, i in enumerate(items)}
    report = _run_small(
        tmp_path,
        "classification",
        items,
        cand,
        base,
        "    labels: [Positive, Negative]\n"
        f"    regression:\n      accuracy: {rule}\n"
        f"    slices:\n      - column: grp\n        min_items: 1\n        regression: {rule}\n",
    )
    found = {c["name"]: c for c in report["checks"] if c["metric"] == "accuracy"}
    whole, part = found["s.accuracy.regression"], found["s.accuracy[grp=all].regression"]
    assert (whole["verdict"], part["verdict"]) == (verdict, verdict)
    assert whole["message"].startswith(drop) and part["message"].startswith(drop)
    assert whole["delta"] == round(1 / n - 2 / n, 6)


def test_significant_is_decided_by_the_p_value_the_report_prints(tmp_path: Path) -> None:
    # Six answers, base exactly right on three, the candidate on none: the bootstrap's p is
    # 0.059 (>= alpha 0.05), but its 95% percentile interval excluded 0, which made the
    # drop "significant" and, under fail_only_if_significant, a fail.
    items = [
        {"id": f"g{k}", "prompt": f"What is {k} plus one?", "reference": f"a{k}"} for k in range(6)
    ]
    base = {i["prompt"]: (i["reference"] if k < 3 else "no") for k, i in enumerate(items)}
    cand = {i["prompt"]: "no" for i in items}
    report = _run_small(
        tmp_path,
        "generation",
        items,
        cand,
        base,
        "    regression:\n      exact_match: {warn_drop: 0.02, fail_drop: 0.05}\n"
        "statistics: {bootstrap_resamples: 100, fail_only_if_significant: true}\n",
    )
    stats = report["results"][0]["metrics"]["exact_match"]
    assert stats["p_value"] >= 0.05 and stats["significant"] is False
    assert stats["within_noise"] is True
    [check] = [c for c in report["checks"] if c["name"] == "s.exact_match.regression"]
    assert check["verdict"] == "warn" and "but not significant" in check["message"]
    assert check["stats"]["p_value"] == stats["p_value"]


@pytest.mark.parametrize(
    ("data_name", "field"),
    [("mc.json", "question"), ("mc.json", "ctx"), ("mc.json", "sentence9"), ("mc.csv", "question")],
)
def test_suite_data_in_a_json_file_is_scanned_and_other_data_is_named(
    tmp_path, golden_dir, servers, data_name: str, field: str
) -> None:
    # A suite whose data is `.json` (JSON lines, which lm-eval reads) was never scanned:
    # GATE005 passed with "0 golden items found" while the training data held them all.
    # Data keyed by a field the scan does not read (sentence9) stopped the gate (exit 2,
    # naming its private copy and an option it does not have): now a warning.
    from gate_support import MC_TASK, SUITE

    question = "Which planet in the solar system has the most moons orbiting it as of now?"
    suite = golden_dir / "mini_suite"
    suite.mkdir()
    row = {field: question, "choices": ["Saturn", "Mars"], "label": 0}
    (suite / data_name).write_text(json.dumps(row) + "\n")
    task = MC_TASK.replace("mc.jsonl", data_name).replace("{{question}}", "{{" + field + "}}")
    (suite / "tiny_mc.yaml").write_text(task)
    (suite / "set.yaml").write_text(
        f"name: mini_suite\ntask: lm_eval\nversion: '1'\nfiles: [{data_name}, tiny_mc.yaml]\n"
    )
    lock(golden_dir, ["mini_suite"])
    gate = _contamination_gate(tmp_path, golden_dir)
    gate.write_text(gate.read_text() + SUITE)
    train = _train_file(tmp_path, [question])
    out = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "o", train_data=[str(train)]
    )
    gate005 = [c for c in out.report["checks"] if c["id"] == "GATE005"]
    if data_name == "mc.json" and field != "sentence9":
        leaked = out.report["contamination"]["golden_sets"]["mini_suite"]["leaked_reference_items"]
        assert leaked == 1 and gate005[0]["verdict"] == "fail"
    else:
        assert [c["verdict"] for c in gate005] == ["pass", "warn"]
        assert "mini_suite not scanned" in gate005[1]["message"]


@pytest.mark.parametrize(
    ("row", "template"),
    [
        ({"ctx": "{q}", "text": "note"}, "{{ctx}}"),  # HellaSwag's context, a note beside it
        ({"goal": "{q}", "text": "note"}, "{{goal}}"),  # PIQA's
        ({"question": "Which one?", "context": "{q}"}, "{{context}} {{question}}"),  # SQuAD's
        ({"prompt": "Classify:", "input": "{q}"}, "{{prompt}} {{input}}"),
    ],
    ids=["ctx+text", "goal+text", "context+question", "prompt+input"],
)
def test_every_field_a_model_reads_of_a_suite_item_is_scanned(
    tmp_path, golden_dir, servers, row: dict[str, str], template: str
) -> None:
    # Found by re-attack: the scan read one field per file, `text` ahead of `ctx` and
    # `goal`, and the question ahead of the passage: each item's ctx, goal or context
    # copied verbatim into --train-data passed GATE005 ("0 golden items found").
    from gate_support import MC_TASK, SUITE

    question = "Which planet in the solar system has the most moons orbiting it as of now?"
    suite = golden_dir / "mini_suite"
    suite.mkdir()
    item = {k: v.format(q=question) for k, v in row.items()}
    (suite / "mc.jsonl").write_text(
        json.dumps({**item, "choices": ["Saturn", "Mars"], "label": 0}) + "\n"
    )
    (suite / "tiny_mc.yaml").write_text(MC_TASK.replace("{{question}}", template))
    (suite / "set.yaml").write_text(
        "name: mini_suite\ntask: lm_eval\nversion: '1'\nfiles: [mc.jsonl, tiny_mc.yaml]\n"
    )
    lock(golden_dir, ["mini_suite"])
    gate = _contamination_gate(tmp_path, golden_dir)
    gate.write_text(gate.read_text() + SUITE)
    train = _train_file(tmp_path, [question])
    out = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "o", train_data=[str(train)]
    )
    found = out.report["contamination"]["golden_sets"]["mini_suite"]
    assert (found["leaked_reference_items"], found["reference_items"]) == (1, 1)
    gate005 = next(c for c in out.report["checks"] if c["id"] == "GATE005")
    assert gate005["verdict"] == "fail" and out.exit_code == 1


def test_a_set_file_named_as_the_scans_copy_is_scanned_not_overwritten(
    tmp_path, golden_dir, servers
) -> None:
    # Found by the re-attack: the scan copied a file of conversations to
    # `<file>.read.jsonl` beside it (an lm_eval set's `.json` to `<file>.scan.jsonl`): a set
    # file of that name was overwritten, and its items, in the training data, passed GATE005.
    from gate_support import MC_TASK, SUITE

    d = golden_dir / "sentiment"
    chats = [
        {"id": i["id"], "messages": [{"role": "user", "content": i["prompt"]}], **_answer(i)}
        for i in SENTIMENT_ITEMS[:20]
    ]
    (d / "data.jsonl").write_text("".join(json.dumps(i) + "\n" for i in chats))
    rest = [{**i, "prompt": LEAKED_PROMPT} if i["id"] == "s31" else i for i in SENTIMENT_ITEMS[20:]]
    (d / "data.jsonl.read.jsonl").write_text("".join(json.dumps(i) + "\n" for i in rest))
    yaml = (
        (d / "set.yaml").read_text().replace("[data.jsonl]", "[data.jsonl, data.jsonl.read.jsonl]")
    )
    (d / "set.yaml").write_text(yaml)
    question = "Which planet in the solar system has the most moons orbiting it as of now?"
    suite = golden_dir / "mini_suite"
    suite.mkdir()
    row = {"question": "A question nobody trained on?", "choices": ["Saturn", "Mars"], "label": 0}
    (suite / "mc.json").write_text(json.dumps(row) + "\n")
    (suite / "mc.json.scan.jsonl").write_text(json.dumps({**row, "question": question}) + "\n")
    (suite / "tiny_mc.yaml").write_text(MC_TASK.replace("mc.jsonl", "mc.json"))
    (suite / "set.yaml").write_text(
        "name: mini_suite\ntask: lm_eval\nversion: '1'\n"
        "files: [mc.json, mc.json.scan.jsonl, tiny_mc.yaml]\n"
    )
    lock(golden_dir)
    gate = _contamination_gate(tmp_path, golden_dir)
    gate.write_text(gate.read_text() + SUITE)
    train = _train_file(tmp_path, [LEAKED_PROMPT, question])
    out = run_gate(
        gate, servers["right"].url, servers["wrong"].url, tmp_path / "o", train_data=[str(train)]
    )
    sets = out.report["contamination"]["golden_sets"]
    assert "s31" in sets["sentiment"]["leaked_ids"]
    assert sets["mini_suite"]["leaked_reference_items"] == 1
    assert (d / "data.jsonl.read.jsonl").read_text().count(LEAKED_PROMPT) == 1


def _answer(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("id", "prompt")}


def test_a_training_data_error_still_stops_the_gate_whatever_its_path_says(
    tmp_path, golden_dir, servers
) -> None:
    # An error matched as "about the golden set" when it held the word "reference": a
    # training file the scan cannot read, under reference/, became "pass, 0 found".
    train = tmp_path / "reference" / "train.csv"
    train.parent.mkdir()
    train.write_text("prompt,completion\nhello,world\n")
    with pytest.raises(InputError, match=r"train\.csv"):
        run_gate(
            _contamination_gate(tmp_path, golden_dir),
            servers["right"].url,
            servers["wrong"].url,
            tmp_path / "o",
            train_data=[str(train)],
        )


def test_slice_values_of_several_types_are_refused_and_null_is_in_no_slice(
    tmp_path, servers
) -> None:
    """Slices grouped items by the text of their value: 1, "1" and true were one slice, and
    an item with no value (null) was the slice "None"."""
    root = tmp_path / "golden"
    mixed = [dict(i, length=1 if n % 2 else "1") for n, i in enumerate(SENTIMENT_ITEMS)]
    write_set(root, "sentiment", "classification", mixed)
    lock(root)
    with pytest.raises(ConfigError, match="slice column 'length' holds values of several types"):
        run_gate(
            gate_file(tmp_path, root), servers["right"].url, servers["right"].url, tmp_path / "a"
        )
    some_null = [dict(i, length=None) if n < 10 else i for n, i in enumerate(SENTIMENT_ITEMS)]
    write_set(root, "sentiment", "classification", some_null)
    lock(root)
    out = run_gate(
        gate_file(tmp_path, root), servers["right"].url, servers["right"].url, tmp_path / "b"
    )
    [table] = out.report["results"][0]["slices"]
    assert {row["value"]: row["n"] for row in table["rows"]} == {"long": 10, "short": 20}
    items = [json.loads(line) for line in (tmp_path / "b" / "items.jsonl").read_text().splitlines()]
    assert sum("length" not in row["slices"] for row in items) == 10


def test_precision_of_a_class_never_predicted_is_undefined_not_zero(tmp_path, golden_dir) -> None:
    always_positive = CannedServer(lambda p: "Positive")
    try:
        out = run_gate(
            gate_file(tmp_path, golden_dir),
            always_positive.url,
            always_positive.url,
            tmp_path / "o",
        )
    finally:
        always_positive.close()
    negative = out.report["results"][0]["per_class"]["candidate"]["Negative"]
    assert negative["precision"] is None and negative["recall"] == 0.0 and negative["f1"] is None
    assert "| Negative | - | 0.0000 | - | 0.0000 |" in (tmp_path / "o" / "report.md").read_text()


def test_a_contamination_check_turned_off_is_a_warning_not_silence(
    tmp_path, golden_dir, servers
) -> None:
    # Found by attack: `contamination: {check: false}` wrote no GATE005 at all, so a
    # candidate trained on every golden item passed --strict (exit 0), and a --train-data
    # given was ignored without a word; with nothing to scan the check already warned.
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "anything"}\n')
    out = run_gate(
        gate_file(tmp_path, golden_dir), servers["right"].url, servers["wrong"].url,
        tmp_path / "out", strict=True, train_data=[str(train)],
    )  # fmt: skip
    [check] = [c for c in out.report["checks"] if c["id"] == "GATE005"]
    assert check["verdict"] == "warn" and "contamination.check is false" in check["message"]
    assert "--train-data given was not scanned" in check["message"]
    assert out.exit_code == 1  # --strict: warnings fail


def test_a_generation_set_gated_on_exact_match_reads_each_item_by_exact_match(
    tmp_path: Path,
) -> None:
    # Found by attack: per-item correctness was ROUGE-L >= 0.5 whatever the gate checked;
    # a set failing on exact_match listed no failing example, items.jsonl called all 20
    # items correct (candidate_score 0.0 beside candidate_correct true).
    items = [
        {"id": f"g{i}", "prompt": f"Say answer {i}", "reference": f"answer {i}"} for i in range(20)
    ]
    root = tmp_path / "golden"
    write_set(root, "gen", "generation", items)
    lock(root)
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: gen\ngolden_dir: {root}\ngeneration: {{max_new_tokens: 8}}\n"
        "statistics: {bootstrap_resamples: 100}\ngolden_sets:\n  - name: gen\n"
        "    task: generation\n    metrics:\n      exact_match: {min: 0.9}\n"
        "contamination: {check: false}\n"
    )
    cand = CannedServer(lambda p: "the " + p.removeprefix("Say ").replace("answer", "answer is"))
    base = CannedServer(lambda p: p.removeprefix("Say "))
    try:
        out = run_gate(gate, cand.url, base.url, tmp_path / "o")
    finally:
        cand.close()
        base.close()
    assert out.exit_code == 1
    [result] = out.report["results"]
    assert len(result["failing_examples"]) > 0
    rows = [json.loads(x) for x in (tmp_path / "o" / "items.jsonl").read_text().splitlines()]
    # how many the candidate got wrong, beside the examples kept (found by attack)
    assert result["failing_total"] == sum(not r["candidate_correct"] for r in rows) > 0
    assert {(r["candidate_correct"], r["candidate_score"], r["score_metric"]) for r in rows} == {
        (False, 0.0, "exact_match")
    }
    assert {(r["base_correct"], r["base_score"]) for r in rows} == {(True, 1.0)}


def test_a_killed_gates_golden_copy_is_removed_by_the_next(
    tmp_path, golden_dir, servers, monkeypatch
) -> None:
    """The golden sets' private copy (held-out items) of a gate killed outright (SIGKILL)
    stayed in $TMPDIR for good; the next gate removes it, and a live gate's is never
    removed."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import threading
    import time

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    answer = threading.Event()
    stuck = CannedServer(lambda p: "Positive" if answer.wait(60) else "")
    code = (
        "import sys\nfrom pathlib import Path\nfrom curagate.gate import run_gate\n"
        "run_gate(Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4]))\n"
    )
    argv = [sys.executable, "-c", code, str(gate_file(tmp_path, golden_dir))]
    env = {
        **os.environ,
        "TMPDIR": str(temp),
        "PYTHONPATH": str(Path(__file__).parents[2] / "python"),
    }
    try:
        killed = subprocess.Popen([*argv, stuck.url, stuck.url, str(tmp_path / "o1")], env=env)
        deadline = time.monotonic() + 60
        while stuck.requests == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        (left,) = temp.glob("curagate-golden-*")
        assert any(left.rglob("data.jsonl"))  # the held-out items
        run_gate(
            gate_file(tmp_path, golden_dir), servers["right"].url, servers["wrong"].url,
            tmp_path / "o2",
        )  # fmt: skip
        assert list(temp.glob("curagate-golden-*")) == []
    finally:
        answer.set()
        stuck.close()
