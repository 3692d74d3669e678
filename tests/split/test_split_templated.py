"""Splits of real templated data: no near copy crosses splits, and only
passages that are not boilerplate are reported.

The ground truth is computed here, independently of the code under test:
exact Jaccard of word 5-gram sets over the normalized text (curate's
normalization, ``curagate._core.normalize``) for every pair of records.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate import _core
from curagate.cli import main

# Seconds each (registries, gates or splits built end to end): the full suite's tier.
pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).parent.parent / "data" / "t0_templates_sample.jsonl.gz"
SPLITS = ("train", "val", "test")


def read_splits(out: Path) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    where: list[str] = []
    for name in SPLITS:
        part = pq.read_table(out / f"{name}.parquet").to_pylist()
        rows.extend(part)
        where.extend([name] * len(part))
    return rows, where


def words(row: dict[str, Any]) -> list[str]:
    # The prompt_completion key: prompt, newline, completion (docs/formats.md).
    return _core.normalize(f"{row['prompt']}\n{row['completion']}").split()


def grams(w: list[str], n: int) -> set[tuple[str, ...]]:
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def near_pairs(rows: list[dict[str, Any]], threshold: float) -> dict[tuple[int, int], float]:
    """Every pair with exact word-5-gram Jaccard >= threshold (inverted index, all pairs)."""
    sets = [grams(words(r), 5) for r in rows]
    postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for g in s:
            postings[g].append(i)
    out: dict[tuple[int, int], float] = {}
    for i, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for g in s:
            shared.update(j for j in postings[g] if j > i)
        for j, inter in shared.items():
            jaccard = inter / (len(s) + len(sets[j]) - inter)
            if jaccard >= threshold:
                out[i, j] = jaccard
    return out


def straddling(out: Path, threshold: float) -> tuple[int, int]:
    rows, where = read_splits(out)
    pairs = near_pairs(rows, threshold)
    return len(pairs), sum(where[a] != where[b] for a, b in pairs)


def manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "split_manifest.json").read_text())
    return data


@pytest.mark.parametrize("threshold", [0.7, 0.8])
def test_no_near_copy_straddles_splits_at_the_threshold(tmp_path: Path, threshold: float) -> None:
    out = tmp_path / "out"
    assert main(["split", str(SAMPLE), "--out", str(out), "--near-threshold", str(threshold)]) == 0
    pairs, crossing = straddling(out, threshold)
    # The old MinHash joining left 222 (0.7) and 6 (0.8) of these across splits.
    assert pairs > 1000
    assert crossing == 0
    m = manifest(out)
    assert m["verification"]["near_copies"]["pairs"] == 0
    assert m["verification"]["exact_copies"]["pairs"] == 0
    assert m["join"]["near_threshold"] == threshold


def test_repair_alone_merges_chains_of_units_over_several_rounds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["split", str(SAMPLE), "--out", str(out), "--no-join-near", "--seed", "3"]
    assert main(argv) == 0
    _, crossing = straddling(out, 0.7)
    assert crossing == 0
    repair = manifest(out)["repair"]
    # Joining the pairs that straddle, then reassigning, makes new ones
    # straddle further along the chains: it takes several rounds.
    assert repair["rounds"] >= 3
    assert repair["units_joined"] > 100


def test_when_repair_runs_out_of_rounds_it_fails_listing_the_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["split", str(SAMPLE), "--out", str(out), "--no-join-near", "--max-rounds", "1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "still straddle splits after 1 round(s) of repair" in err
    assert ":" in err.split("repair: ", 1)[1]  # record ids (<template>:<row>) are listed
    # Each pair by its kind, file and line, record id and split, and the fixes.
    assert "near copy (Jaccard 0." in err
    assert f"{SAMPLE}:" in err and "(id " in err and ", in train)" in err
    assert "nothing was written" in err and "Raise --max-rounds (e.g. 2)" in err
    assert "drop --no-join-near" in err
    assert not (out / "train.parquet").exists()


def ngram_rows(rows: list[dict[str, Any]], n: int) -> list[set[tuple[str, ...]]]:
    return [grams(words(r), n) if len(words(r)) >= n else set() for r in rows]


@pytest.mark.slow
def test_only_passages_that_are_not_boilerplate_are_reported(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["split", str(SAMPLE), "--out", str(out)]) == 0
    rows, where = read_splits(out)
    sets = ngram_rows(rows, 13)
    # The bar counts distinct records (normalized keys), not rows: copies count once.
    distinct = {tuple(words(r)): s for r, s in zip(rows, sets, strict=True)}
    df: Counter[tuple[str, ...]] = Counter(g for s in distinct.values() for g in s)
    earlier = {"val": {"train"}, "test": {"train", "val"}}
    seen_before: dict[str, set[tuple[str, ...]]] = {name: set() for name in SPLITS}
    for s, name in zip(sets, where, strict=True):
        seen_before[name] |= s
    any_shared = evidence = 0
    for s, name in zip(sets, where, strict=True):
        if name == "train":
            continue
        before = set().union(*(seen_before[e] for e in earlier[name]))
        shared = s & before
        any_shared += bool(shared)
        evidence += any(df[g] <= 10 for g in shared)
    passages = manifest(out)["verification"]["shared_passages"]
    # Before: any shared 13-gram flagged a row, prompt sentences included.
    assert any_shared > passages["rows"]
    assert passages["rows"] == evidence
    assert passages["boilerplate_ngrams"] > 0
    for pair in passages["examples"]:
        assert pair["method"] == "shared_passage" and pair["shared_ngrams"] >= 1
        assert pair["spans"] and isinstance(pair["similarity"], float)
        span = tuple(pair["spans"][0]["text"].split()[:13])
        assert df[span] <= 10


def test_joining_shared_passages_leaves_none_across_splits(tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["split", str(SAMPLE), "--out", str(out), "--shared-passages", "join", "--fail-on-leak"]
    assert main(argv) == 0
    m = manifest(out)
    assert m["verification"]["shared_passages"]["pairs"] == 0
    assert m["verification"]["leaks_total"] == 0
    assert m["join"]["passage_links"] > 0


def test_a_passage_in_more_rows_than_the_bar_is_named_as_unchecked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One article under 12 instructions: each of its n-grams is in 12 rows, more than
    # --max-ngram-items 10, so boilerplate; 38 of 40 articles crossed splits and
    # --fail-on-leak said nothing. The run says what it left out; a higher bar joins them.
    import random

    rnd = random.Random(4)
    vocab = [f"v{i}" for i in range(5000)]
    rows = []
    for a in range(40):
        passage = " ".join(rnd.choice(vocab) for _ in range(60))
        for t in range(12):
            instruction = " ".join(rnd.choice(vocab) for _ in range(70))
            rows.append({"id": f"a{a}_t{t}", "text": f"{instruction}\n\n{passage}"})
    rnd.shuffle(rows)
    src = tmp_path / "articles.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def crossing(out: Path) -> int:
        where: dict[str, set[str]] = defaultdict(set)
        for name in ("train", "val", "test"):
            for r in pq.read_table(out / f"{name}.parquet").to_pylist():
                where[r["id"].split("_")[0]].add(name)
        return sum(len(s) > 1 for s in where.values())

    argv = ["split", str(src), "--shared-passages", "join", "--fail-on-leak"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    # The leakage engine's bar counts val/test items only (fewer than 12 copies of an
    # article there), so its scan finds and repair joins what the passage bar left out.
    assert crossing(tmp_path / "a") == 0
    err = capsys.readouterr().err
    assert "1,920 n-grams in more than 10 records were left out as boilerplate, not checked" in err
    assert "among them: name the templates (--templates) and raise --max-ngram-items" in err
    assert main([*argv, "--out", str(tmp_path / "b"), "--max-ngram-items", "20"]) == 0
    assert crossing(tmp_path / "b") == 0
    # With templates named (of no row here), the note advised naming them again.
    named = tmp_path / "templates.txt"
    named.write_text("Summarize the article about {topic} below.\n", encoding="utf-8")
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "c"), "--templates", str(named)]) == 0
    err = capsys.readouterr().err
    assert "1,920 n-grams in more than 10 records were left out as boilerplate" in err, err
    assert "among them: raise --max-ngram-items" in err
    assert "name the templates" not in err


def test_reruns_on_templated_data_are_byte_identical(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["split", str(SAMPLE), "--out", str(out), "--no-join-near"]) == 0
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1]


def test_chat_rows_sharing_a_system_prompt_name_it_and_the_note_counts_the_bar_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by re-attack, on 40 chat rows whose only shared text is one of two system
    prompts: without --templates the message called the pairs "copies, which --templates
    does not clear", and --templates cleared them; with it, a note counted the templates'
    own n-grams as "n-grams in more than 100 records" (of 40) and advised naming the
    templates already named."""
    import random

    rng = random.Random(9)
    systems = [
        "You are a helpful assistant. Always answer politely, precisely and in English, and "
        "explain your steps in detail before you give a final answer to the question.",
        "### Instruction:\nSummarize the following text in three sentences and name the most "
        "important people, places and dates that appear in it, in the order they appear.",
    ]

    def words() -> str:
        return " ".join(f"w{rng.randrange(100_000)}" for _ in range(12))

    data = tmp_path / "chat.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "system", "content": systems[i % 2]},
                        {"role": "user", "content": words()},
                        {"role": "assistant", "content": words()},
                    ]
                }
            )
            + "\n"
            for i in range(40)
        ),
        encoding="utf-8",
    )
    templates = tmp_path / "t.txt"
    templates.write_text("\n\n".join(systems) + "\n", encoding="utf-8")
    argv = ["split", str(data), "--fail-on-leak", "--max-ngram-items", "100"]
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err
    assert "which --templates does not clear" not in err
    assert "unless that string is a prompt template: then name it with --templates" in err
    assert main([*argv, "--out", str(tmp_path / "named"), "--templates", str(templates)]) == 0
    assert "n-grams in more than" not in capsys.readouterr().err
    manifest = json.loads((tmp_path / "named" / "split_manifest.json").read_text("utf-8"))
    passages = manifest["verification"]["shared_passages"]
    # The named system prompts are taken out before the n-grams are made: none is left out.
    assert passages["over_bar_ngrams"] == 0 == passages["boilerplate_ngrams"]
    assert passages["template_ngrams"] > 0


def style_template_rows(tmp_path: Path, shared: str | None = None) -> tuple[Path, Path]:
    """60 records of 12 named templates (5 each), each template's instruction then a
    passage of the record's own that starts with "The", as most passages do; ``shared``:
    the passage of r0 (template one) and of r1 (template two), r1 the newest (--time t)."""
    import random

    rng = random.Random(4)
    names = [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
    ]
    templates = [
        f"Read the passage below with great care and then answer the question that follows "
        f"in style {k}"
        for k in names
    ]
    rows = []
    for i in range(60):
        passage = "The " + " ".join(f"w{rng.randrange(100_000)}" for _ in range(30))
        if shared is not None and i < 2:  # and 60 words of its own: no near copy
            passage = shared + " " + " ".join(f"w{rng.randrange(100_000)}" for _ in range(60))
        rows.append(
            {"id": f"r{i}", "t": 1000 if i == 1 else i, "text": f"{templates[i % 12]}\n{passage}"}
        )
    data = tmp_path / "styles.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    named = tmp_path / "templates.txt"
    named.write_text("\n\n".join(t + "\n{passage}" for t in templates) + "\n", encoding="utf-8")
    return data, named


@pytest.mark.parametrize("policy", ["warn", "join"])
def test_a_template_tail_and_a_common_first_word_are_no_shared_passage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    """The 13-gram of a named template's last 12 words and the passage's first word ("The")
    was evidence: every val/test row a leak of the train rows of its template (--fail-on-leak
    exit 1, advising --templates), and --shared-passages join made 12 units of 5."""
    data, named = style_template_rows(tmp_path)
    out = tmp_path / policy
    argv = ["split", str(data), "--out", str(out), "--templates", str(named)]
    assert main([*argv, "--shared-passages", policy, "--fail-on-leak"]) == 0, (
        capsys.readouterr().err
    )
    manifest = json.loads((out / "split_manifest.json").read_text("utf-8"))
    assert manifest["verification"]["leaks_total"] == 0
    assert manifest["units"] == {"count": 60, "largest": 1}
    assert manifest["join"]["passage_links"] == 0


def test_a_passage_of_its_own_under_two_named_templates_is_still_shared(tmp_path: Path) -> None:
    """Template text taken out, a passage of the records' own words is evidence as before."""
    shared = "The " + " ".join(f"shared{i}" for i in range(20))
    data, named = style_template_rows(tmp_path, shared)
    out = tmp_path / "out"
    argv = ["split", str(data), "--out", str(out), "--templates", str(named), "--time", "t"]
    assert main([*argv, "--shared-passages", "warn"]) == 0
    manifest = json.loads((out / "split_manifest.json").read_text("utf-8"))
    passages = manifest["verification"]["shared_passages"]
    assert passages["pairs"] == 1
    assert {(e["id"], e["in_id"]) for e in passages["examples"]} == {("r1", "r0")}
