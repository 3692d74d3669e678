"""`curagate golden label SET`: people label candidate-vs-base pairs to calibrate a judge.

The pairs come from a gate run's ``items.jsonl`` (both sides' outputs per item). Each
pair is shown with its two answers in a random order (seeded, so a session can be
replayed) under neutral names, so the labeller cannot favour a side by position or
name; the choice is stored as the side it means (candidate | base | tie) together with
the texts that were shown, in the set's ``human_labels.jsonl``. The gate later judges
exactly those texts and compares (curagate.gate.judge.calibrate). The file is
rewritten atomically after every choice, so quitting keeps what was labelled.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import IO, Any

from curagate.errors import InputError
from curagate.gate.judge import HumanLabel, pair_key, person_of, read_human_labels
from curagate.golden import HUMAN_LABELS, discover_sets, jsonl_objects
from curagate.io.atomic import write_text_atomic
from curagate.text import printable, printable_lines

CHOICES = "[1] first  [2] second  [t] tie  [s] skip  [q] quit"


def _rows(items_path: Path, set_name: str) -> list[dict[str, Any]]:
    if not items_path.is_file():
        raise InputError(
            f"{items_path}: not found; pass --items with the items.jsonl of a gate run "
            "(written beside gate_report.json)"
        )
    rows = []
    for lineno, row in jsonl_objects(items_path):
        if row.get("set") == set_name:
            for key in ("id", "prompt", "candidate_output", "base_output"):
                if not isinstance(row.get(key), str):
                    raise InputError(f"{items_path}: line {lineno}: field '{key}' must be a string")
            rows.append(row)
    if not rows:
        raise InputError(f"{items_path}: no items of golden set {set_name!r}; gate that set first")
    return rows


def _write(path: Path, labels: list[HumanLabel]) -> None:
    write_text_atomic(
        path,
        "".join(
            json.dumps(lab.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for lab in labels
        ),
    )


def label(
    golden_dir: str | Path,
    set_name: str,
    items: str | Path,
    *,
    labeller: str,
    limit: int = 100,
    seed: int = 0,
    stdin: IO[str],
    stdout: IO[str],
) -> tuple[int, Path]:
    """Ask for up to ``limit`` choices on ``stdin``; return (labels added, labels file)."""
    sets = discover_sets(golden_dir)
    if set_name not in sets:
        known = ", ".join(sorted(sets)) or "none"
        raise InputError(f"{golden_dir}: no golden set {set_name!r} (sets: {known})")
    if not labeller.strip():
        raise InputError("--labeller: give your name or handle (it is recorded with each label)")
    path = sets[set_name].parent / HUMAN_LABELS
    labels = read_human_labels(path) if path.is_file() else []
    # What this person labelled, under any spelling of their name ("Ann" was shown the items
    # "ann" had labelled, and the file then failed to load: "labelled twice").
    mine = [lab for lab in labels if person_of(lab.labeller) == person_of(labeller)]
    done_ids = {lab.id for lab in mine}
    done_pairs = {pair_key(lab.prompt, lab.candidate, lab.base) for lab in mine}
    rows = []
    for r in _rows(Path(items), set_name):
        # Identical answers are a tie by construction: nothing to learn from a person.
        if r["candidate_output"].strip() == r["base_output"].strip():
            continue
        # One label a pair and an id, however often the items file repeats them (two gate
        # runs' items put together): both were asked, and the file then failed to load.
        pair = pair_key(r["prompt"], r["candidate_output"], r["base_output"])
        if str(r["id"]) in done_ids or pair in done_pairs:
            continue
        done_ids.add(str(r["id"]))
        done_pairs.add(pair)
        rows.append(r)
    rng = random.Random(seed)
    rng.shuffle(rows)
    added = 0
    for n, row in enumerate(rows[:limit], 1):
        flip = rng.random() < 0.5
        first, second = (
            (row["base_output"], row["candidate_output"])
            if flip
            else (row["candidate_output"], row["base_output"])
        )
        # Shown without what a terminal would act on: an output could hide its own text
        # (SGR 8, conceal) or retitle the window while a person judges it.
        request, first, second = (printable_lines(t) for t in (row["prompt"], first, second))
        stdout.write(
            f"\n--- {n}/{min(limit, len(rows))}  item {printable(str(row['id']))} ---\n"
            f"REQUEST:\n{request}\n\nFIRST ANSWER:\n{first}\n\nSECOND ANSWER:\n{second}\n\n"
        )
        choice = ""
        while choice not in ("1", "2", "t", "s", "q"):
            stdout.write(f"Which answer is better? {CHOICES}: ")
            stdout.flush()
            line = stdin.readline()
            if not line:  # end of input: stop as if quitting
                choice = "q"
                break
            choice = line.strip().lower()[:1]
        if choice == "q":
            break
        if choice == "s":
            continue
        if choice == "t":
            preferred = "tie"
        else:
            picked_first = choice == "1"
            preferred = "base" if picked_first == flip else "candidate"
        labels.append(
            HumanLabel(
                id=str(row["id"]),
                prompt=row["prompt"],
                candidate=row["candidate_output"],
                base=row["base_output"],
                preferred=preferred,
                labeller=labeller,
            )
        )
        _write(path, labels)
        added += 1
    return added, path
