"""A preference pair whose chosen is its rejected is quarantined, as an empty response is
(found by attack: curate kept it, audit's FMT006, and removed the valid pair for the same
prompt as its exact copy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.io import read_batches
from tests.curate.test_curate import read_dir

SAME = "fields 'chosen' and 'rejected' are identical: the pair ranks a response above itself"
SAME_NO_PROMPT = "fields 'chosen' and 'rejected' are identical, so the implicit prompt"


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_the_valid_pair_is_kept_and_the_identical_one_quarantined(tmp_path: Path) -> None:
    q = "What is the capital of Italy?"
    path = write(
        tmp_path / "p.jsonl",
        [
            {"prompt": q, "chosen": "Rome.", "rejected": "Rome."},
            {"prompt": q, "chosen": "Rome.", "rejected": "Milan."},
            {"prompt": "And of France?", "chosen": " Paris.", "rejected": "Paris.\n"},
        ],
    )
    result = curate([path], tmp_path / "out")
    assert (result.kept, result.removed_total, result.quarantined) == (1, 0, 2)
    kept = read_dir(tmp_path / "out" / "kept")
    assert kept is not None and kept.to_pylist() == [
        {"prompt": q, "chosen": "Rome.", "rejected": "Milan."}
    ]
    lines = (tmp_path / "out" / "quarantine.jsonl").read_text().splitlines()
    quarantined = [json.loads(x) for x in lines]
    assert [q["line"] for q in quarantined] == [1, 3]
    assert all(q["reason"].startswith(SAME) for q in quarantined)
    assert "regenerate the rejected response or drop the pair" in quarantined[0]["reason"]


def test_identical_turns_and_implicit_prompts(tmp_path: Path) -> None:
    user = {"role": "user", "content": "hi"}
    said = [{"role": "assistant", "content": "hello"}]
    explicit = write(
        tmp_path / "turns.jsonl",
        [
            {"prompt": [user], "chosen": said, "rejected": said},
            {"prompt": [user], "chosen": said, "rejected": [{**said[0], "content": "go away"}]},
            # A string and the turn holding it are of two kinds: not compared here.
            {"prompt": [user], "chosen": said, "rejected": [{"role": "user", "content": "x"}]},
        ],
    )
    [batch] = read_batches([explicit])
    assert [(q.row, q.reason.startswith(SAME)) for q in batch.quarantined] == [(0, True)]
    implicit = write(
        tmp_path / "implicit.jsonl",
        [
            {"chosen": "Sky? blue.", "rejected": "Sky? blue."},
            {"chosen": "Sky? blue.", "rejected": "Sky? green."},
        ],
    )
    [batch] = read_batches([implicit])
    assert [(q.row, q.reason.startswith(SAME_NO_PROMPT)) for q in batch.quarantined] == [(0, True)]


@pytest.mark.parametrize(
    ("rows", "rule"),
    [
        (
            [
                {"prompt": "p", "chosen": "same", "rejected": "same"},
                {"prompt": "q", "chosen": "a", "rejected": "b"},
            ],
            "FMT006",
        ),
        (
            [{"chosen": "p: same", "rejected": "p: same"}, {"chosen": "q: a", "rejected": "q: b"}],
            "FMT007",
        ),
    ],
)
def test_check_names_the_rule_audit_gives_the_pair(
    rows: list[dict[str, Any]], rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "p.jsonl", rows)
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["line"], f["rule"]) for f in findings] == [(1, rule)]


@pytest.mark.parametrize(
    "row",
    [
        # The same words said by two roles: curate's rendering has roles, audit's had none.
        {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": "Paris."}],
            "rejected": [{"role": "user", "content": "Paris."}],
        },
        # A string is one assistant turn: the same words said by the user differ.
        {
            "prompt": "q",
            "chosen": [{"role": "user", "content": "Paris."}],
            "rejected": "Paris.",
        },
    ],
)
def test_check_and_curate_compare_responses_alike(
    row: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: curate kept the pair and `check` on its own output said FMT006.
    path = write(tmp_path / "p.jsonl", [row])
    [batch] = read_batches([path])
    assert batch.quarantined == []
    assert main(["curate", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert main(["check", str(tmp_path / "out" / "kept"), "--no-golden"]) == 0
    assert main(["check", str(path), "--no-golden"]) == 0


def test_implicit_prompt_answers_differing_in_spaces_are_fmt006(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: the responses are "A" and "A ", yet the reason said both were
    # empty and check named FMT007 ("provide both responses").
    user = {"role": "user", "content": "q"}
    rows = [
        {
            "chosen": [user, {"role": "assistant", "content": "A"}],
            "rejected": [user, {"role": "assistant", "content": "A "}],
        },
        {
            "chosen": [user, {"role": "assistant", "content": "B"}],
            "rejected": [user, {"role": "assistant", "content": "C"}],
        },
    ]
    path = write(tmp_path / "p.jsonl", rows)
    [batch] = read_batches([path])
    assert [(q.row, q.reason.startswith(SAME)) for q in batch.quarantined] == [(0, True)]
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["line"], f["rule"]) for f in findings] == [(1, "FMT006")]


@pytest.mark.parametrize(
    ("chosen", "rejected"),
    [
        ("Paris.", [{"role": "assistant", "content": "Paris."}]),
        ([{"role": "assistant", "content": [{"type": "text", "text": "Paris."}]}], "Paris."),
    ],
)
def test_a_string_response_is_the_one_assistant_turn_holding_it(
    chosen: Any, rejected: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: curate kept the pair, check and audit passed it, and `train dpo`
    # (which reads a string answer as one assistant turn) refused it as the same answer.
    row = {"prompt": [{"role": "user", "content": "Capital of France?"}]}
    path = write(tmp_path / "p.jsonl", [{**row, "chosen": chosen, "rejected": rejected}])
    [batch] = read_batches([path])
    assert [(q.row, q.reason.startswith(SAME)) for q in batch.quarantined] == [(0, True)]
    assert main(["check", str(path), "--no-golden", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert [(f["line"], f["rule"]) for f in findings] == [(1, "FMT006")]
    other = write(tmp_path / "o.jsonl", [{**row, "chosen": chosen, "rejected": "Lyon."}])
    [batch] = read_batches([other])
    assert batch.quarantined == []
