"""split's leak check against what it missed (attack findings F8, F1, F1b, F2): corpora
generated here, checked through the CLI as a user runs it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.cli import main

SPLITS = ("train", "val", "test")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def where(out: Path) -> dict[str, str]:
    return {
        str(r["id"]): name
        for name in SPLITS
        for r in pq.read_table(out / f"{name}.parquet").to_pylist()
    }


def verification(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "split_manifest.json").read_text())
    return data["verification"]  # type: ignore[no-any-return]


def words(rng: random.Random, n: int, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def test_exact_copies_of_an_item_do_not_make_its_ngrams_boilerplate(tmp_path: Path) -> None:
    """F8: an item present 11 times verbatim is one text, not 11 records sharing a
    template; rows were counted, so its n-grams were all over the bar of 10 and the
    record quoting it whole was neither joined nor flagged."""
    rng = random.Random(13)
    vocab = [f"k{i}" for i in range(8000)]
    rows: list[dict[str, Any]] = []
    for i in range(20):
        item = words(rng, 20, vocab)
        rows += [{"id": f"x{i}.{c}", "text": item} for c in range(11)]
        quote = f"{words(rng, 30, vocab)} {item} {words(rng, 30, vocab)}"
        rows.append({"id": f"y{i}", "text": quote})
    rows += [{"id": f"f{i}", "text": words(rng, 40, vocab)} for i in range(150)]
    rng.shuffle(rows)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(data), "--out", str(out), "--ratios", "60/20/20"]) == 0
    w = where(out)
    straddling = sum(w[f"x{i}.0"] != w[f"y{i}"] for i in range(20))
    assert straddling > 0  # the seed puts some quotes apart from their item
    v = verification(out)
    assert v["shared_passages"]["boilerplate_ngrams"] == 0
    assert v["leaks_total"] >= straddling
    joined = tmp_path / "joined"
    argv = ["split", str(data), "--out", str(joined), "--ratios", "60/20/20"]
    assert main([*argv, "--shared-passages", "join"]) == 0
    w = where(joined)
    assert all(w[f"x{i}.0"] == w[f"y{i}"] for i in range(20))
    assert verification(joined)["leaks_total"] == 0


def leakage_items(out: Path, tmp_path: Path) -> int:
    """Leaked reference items `curagate leakage --reference val test --corpus train` finds."""
    report = tmp_path / f"lk_{out.name}"
    val, test, train = (str(out / f"{n}.parquet") for n in ("val", "test", "train"))
    main(["leakage", "--reference", val, test, "--corpus", train, "--out", str(report)])
    data = json.loads((report / "leakage.json").read_text())
    return int(data["summary"]["leaked_reference_items"])


def short_items_quoted(n: int) -> list[dict[str, Any]]:
    """Ten-word items, each also quoted whole inside a 70-word record."""
    rng = random.Random(8)
    vocab = [f"tok{i}" for i in range(4000)]
    rows: list[dict[str, Any]] = []
    for i in range(n):
        item = words(rng, 10, vocab)
        rows.append({"id": f"s{i}", "text": item})
        quote = f"{words(rng, 30, vocab)} {item} {words(rng, 30, vocab)}"
        rows.append({"id": f"L{i}", "text": quote})
    rng.shuffle(rows)
    return rows


def test_a_short_item_quoted_in_a_train_record_is_a_leak_as_leakage_finds_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """F1: an item under 13 words has no 13-gram and a low Jaccard with the record quoting
    it: split said leaks_total 0 and --fail-on-leak passed, `leakage` found 17."""
    data = write_jsonl(tmp_path / "short.jsonl", short_items_quoted(100))
    out = tmp_path / "so"
    assert main(["split", str(data), "--out", str(out), "--fail-on-leak"]) == 1
    w = where(out)
    quoted = sum(w[f"s{i}"] != "train" and w[f"L{i}"] == "train" for i in range(100))
    # Found by re-attack: a val item quoted in a test record (or back) was never scanned.
    across = sum("train" != w[f"s{i}"] != w[f"L{i}"] != "train" for i in range(100))
    v = verification(out)
    assert quoted > 0 and across > 0
    assert v["leaks_total"] == v["leakage_scan"]["rows"] == quoted + across
    assert quoted == leakage_items(out, tmp_path)
    in_splits = {e["in_split"] for e in v["leakage_scan"]["examples"]}
    assert in_splits == {"train", "val", "test"}
    # verify says what was found, by which check, and where (it said "share a passage").
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    first = v["leakage_scan"]["examples"][0]
    assert f"{v['leaks_total']} val/test row(s) are found by the `curagate leakage` scan" in err
    assert "share a passage" not in err
    assert (
        f"e.g. {first['split']}.parquet id {first['id']!r} found inside "
        f"{first['in_split']}.parquet id {first['in_id']!r} (by {first['method']}"
    ) in err
    assert "verification.leakage_scan.examples in split_manifest.json" in err
    # Joined before assignment: leakage-free by construction, in one round.
    joined = tmp_path / "sj"
    argv = ["split", str(data), "--out", str(joined), "--shared-passages", "join"]
    assert main([*argv, "--fail-on-leak"]) == 0
    m = json.loads((joined / "split_manifest.json").read_text())
    assert m["join"]["leakage_links"] == 100 and m["repair"]["rounds"] == 1
    w = where(joined)
    assert all(w[f"s{i}"] == w[f"L{i}"] for i in range(100))
    assert m["verification"]["leaks_total"] == 0 == leakage_items(joined, tmp_path)


def test_one_short_prompt_with_two_completions_in_train_and_test_is_a_leak(
    tmp_path: Path,
) -> None:
    """F1b: the key is prompt + completion, so two completions of one 8-word prompt
    shared no 13-gram: split said 0 leaks, `leakage` matched the whole prompt (32)."""
    rng = random.Random(2)
    vocab = [f"n{i}" for i in range(5000)]
    rows = []
    for i in range(100):
        prompt = f"Question: {words(rng, 7, vocab)}?"
        for k in range(2):
            rows.append({"id": f"{i}.{k}", "prompt": prompt, "completion": words(rng, 25, vocab)})
    data = write_jsonl(tmp_path / "pc.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(data), "--out", str(out), "--fail-on-leak"]) == 1
    w = where(out)
    apart = sum(w[f"{i}.0"] != w[f"{i}.1"] for i in range(100))
    # Each of a pair in val and test holds the other's prompt: both rows are leaks.
    val_test = sum({w[f"{i}.0"], w[f"{i}.1"]} == {"val", "test"} for i in range(100))
    v = verification(out)
    assert apart > 0 and val_test > 0
    assert v["leaks_total"] == v["leakage_scan"]["rows"]
    assert v["leaks_total"] == leakage_items(out, tmp_path) + 2 * val_test
    assert "exact" in v["leakage_scan"]["examples"][0]["method"]
    joined = tmp_path / "joined"
    argv = ["split", str(data), "--out", str(joined), "--shared-passages", "join"]
    assert main([*argv, "--fail-on-leak"]) == 0
    w = where(joined)
    assert all(w[f"{i}.0"] == w[f"{i}.1"] for i in range(100))


SYSTEM = (
    "You are a helpful assistant. Answer the question truthfully and concisely, and say so "
    "when you do not know."
)


def chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": user},
        {"role": "assistant", "content": assistant},
    ]


@pytest.mark.parametrize("roles", [("system", "user"), ("developer", "human"), ("System", "User")])
def test_no_ngram_spans_a_turn_boundary_of_a_chat_record(
    tmp_path: Path, roles: tuple[str, str]
) -> None:
    """F2: one system prompt, a common first word, nothing else shared: the 13-gram
    (system tail, the label `user`, the first word) flagged 16 of 20 val/test rows
    and --fail-on-leak exited 1, where `leakage` found 0. Found by re-attack: other roles
    (`developer`, ShareGPT's `human`) and capitals kept the false leaks."""
    rng = random.Random(1)
    first = ["What", "How", "Why", "Explain", "Describe", "List", "Summarize", "Compare"]
    vocab = [f"topic{i}" for i in range(5000)]
    rows = []
    for i in range(100):
        turns = chat(f"{rng.choice(first)} {words(rng, 10, vocab)}", words(rng, 25, vocab))
        turns[0]["role"], turns[1]["role"] = roles
        rows.append({"id": i, "messages": turns})
    data = write_jsonl(tmp_path / "chat.jsonl", rows)
    out = tmp_path / "out"
    assert main(["split", str(data), "--out", str(out), "--fail-on-leak"]) == 0
    v = verification(out)
    assert v["leaks_total"] == 0 == v["shared_passages"]["pairs"] == leakage_items(out, tmp_path)
    joined = tmp_path / "joined"
    assert main(["split", str(data), "--out", str(joined), "--shared-passages", "join"]) == 0
    assert json.loads((joined / "split_manifest.json").read_text())["units"]["count"] == 100


def test_a_passage_shared_inside_chat_turns_is_still_a_leak() -> None:
    from curagate.split import verify_splits

    passage = " ".join(f"p{i}" for i in range(20))

    def key(user: str, assistant: str) -> str:
        return f"system: {SYSTEM}\nuser: {user}\nassistant: {assistant}"

    train = [key("What is a", f"one two {passage} three")]
    test = [key("Why is b", f"four five {passage} six")]
    report = verify_splits([train, [], test], [["t"], [], ["x"]])
    passages = report["shared_passages"]
    assert passages["pairs"] == 1 and report["leaks_total"] == 1
    # The span is inside the assistant turn, not across the label.
    assert passages["examples"][0]["spans"][0]["text"] == passage


def test_a_marked_up_copy_in_test_of_a_train_record_is_a_leak(tmp_path: Path) -> None:
    """Re-attack F7: a val or test record written with `<|endoftext|>` or `&nbsp;` for
    every space, its plain original in train. Markup was decoded on the corpus side only
    (train), so split said passed, leaks 0, and so did `leakage --reference val test
    --corpus train`."""
    rng = random.Random(5)
    vocab = [f"m{i}" for i in range(6000)]
    rows: list[dict[str, Any]] = []
    for i in range(40):
        item = words(rng, 20, vocab)
        marked = item.replace(" ", "<|endoftext|>" if i % 2 else "&nbsp;")
        rows += [{"id": f"p{i}", "text": item}, {"id": f"c{i}", "text": marked}]
    rows += [{"id": f"f{i}", "text": words(rng, 30, vocab)} for i in range(100)]
    rng.shuffle(rows)
    data = write_jsonl(tmp_path / "markup.jsonl", rows)
    out = tmp_path / "out"
    main(["split", str(data), "--out", str(out)])
    w = where(out)
    apart = {f"c{i}" for i in range(40) if w[f"p{i}"] == "train" and w[f"c{i}"] != "train"}
    assert apart
    v = verification(out)
    assert not v["passed"]
    assert apart <= {e["id"] for e in v["leakage_scan"]["examples"]}
    report = tmp_path / "lk"
    val, test, train = (str(out / f"{n}.parquet") for n in ("val", "test", "train"))
    main(["leakage", "--reference", val, test, "--corpus", train, "--out", str(report)])
    leaks = json.loads((report / "leakage.json").read_text())["leaks"]
    assert apart <= {leak["reference"]["id"] for leak in leaks}


PROMPT_TEMPLATE = (
    "Read the passage below carefully and answer the question that follows it in one short "
    "sentence, quoting the passage where you can.\n\n{{passage}}\n\nQuestion: {{question}}"
)


@pytest.mark.slow
def test_templates_reach_the_leakage_scan_of_the_written_splits(tmp_path: Path) -> None:
    """--templates made a template's n-grams boilerplate to the shared-passage check only:
    the leakage engine's scan of the splits flagged records sharing nothing but the
    template the user named (leaks_total > 0, --fail-on-leak exit 1)."""
    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(5000)]
    rows: list[dict[str, Any]] = [
        {
            "id": f"t{i}",
            "text": PROMPT_TEMPLATE.replace("{{passage}}", words(rng, 20, vocab)).replace(
                "{{question}}", words(rng, 6, vocab)
            ),
        }
        for i in range(8)
    ]
    rows += [{"id": f"f{i}", "text": words(rng, 40, vocab)} for i in range(60)]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    template = tmp_path / "template.txt"
    template.write_text(PROMPT_TEMPLATE, encoding="utf-8")
    plain = tmp_path / "plain"
    # --shared-passages ignore: only the engine's scan can flag the template.
    argv = ["split", str(data), "--ratios", "60/20/20", "--shared-passages", "ignore"]
    assert main([*argv, "--out", str(plain)]) == 0
    assert verification(plain)["leakage_scan"]["rows"] > 0
    named = tmp_path / "named"
    argv += ["--out", str(named), "--templates", str(template), "--fail-on-leak"]
    assert main(argv) == 0
    assert where(named) == where(plain)  # the same split, now with no leak
    assert verification(named)["leakage_scan"]["pairs"] == 0
    assert verification(named)["leaks_total"] == 0
