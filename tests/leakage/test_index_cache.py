"""The cache of built golden-set indexes (`check`, `audit`): same findings cached or built,
never a stale or planted index."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from curagate.audit.leaks import CHECK_METHODS
from curagate.cli import main
from curagate.leakage import LeakageIndex
from curagate.leakage import cache as index_cache

ITEM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?"
)
OTHER = (
    "A bakery sells loaves of rye bread for four dollars each and baguettes for two dollars "
    "each. How much do three loaves and five baguettes cost in total?"
)
PARAMS = {"ngram": 13, "methods": CHECK_METHODS}


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CURAGATE_NO_CACHE", raising=False)
    return tmp_path / "xdg" / "curagate" / "golden-index"


def golden(tmp_path: Path, *items: str) -> Path:
    g = tmp_path / "golden_sets" / "gsm" / "data.jsonl"
    g.parent.mkdir(parents=True, exist_ok=True)
    g.write_text(
        "".join(json.dumps({"id": f"gsm_{k}", "prompt": t}) + "\n" for k, t in enumerate(items)),
        encoding="utf-8",
    )
    return g


def data(tmp_path: Path, *prompts: str) -> Path:
    d = tmp_path / "train.jsonl"
    d.write_text(
        "".join(json.dumps({"prompt": p, "completion": "72"}) + "\n" for p in prompts),
        encoding="utf-8",
    )
    return d


def lookup(files: list[Path], params: dict[str, object] = PARAMS) -> tuple[LeakageIndex, bool]:
    def build() -> LeakageIndex:
        return LeakageIndex.build(files, ngram=13, methods=CHECK_METHODS)

    return index_cache.cached_index(files, params, build)


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], *files: Path) -> tuple[int, str]:
    rc = main(["check", *map(str, files), "--golden", str(tmp_path / "golden_sets")])
    return rc, capsys.readouterr().out


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{index_cache.SUFFIX}"))


def test_a_second_check_loads_the_index_and_finds_the_same(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    own_cache: Path,
) -> None:
    golden(tmp_path, ITEM, OTHER)
    d = data(tmp_path, ITEM, "an unrelated prompt about the weather in Lisbon today")
    built = check(tmp_path, capsys, d)
    assert built[0] == 1 and "LEAK001" in built[1]
    assert len(entries(own_cache)) == 1
    assert check(tmp_path, capsys, d) == built
    monkeypatch.setenv("CURAGATE_NO_CACHE", "1")
    assert check(tmp_path, capsys, d) == built


def test_hit_and_miss(tmp_path: Path) -> None:
    g = golden(tmp_path, ITEM)
    first, hit = lookup([g])
    assert not hit
    again, hit = lookup([g])
    assert hit
    assert again.__getstate__() == first.__getstate__()
    assert not lookup([g], {**PARAMS, "ngram": 8})[1]  # another parameter: another key
    relative = Path(os.path.relpath(g))
    assert not lookup([relative])[1]  # another name: the items name their file


def test_an_edited_golden_set_is_indexed_again_and_its_new_item_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    golden(tmp_path, ITEM)
    d = data(tmp_path, OTHER)
    assert check(tmp_path, capsys, d) == (0, "")
    golden(tmp_path, ITEM, OTHER)  # the same name, one item more
    rc, out = check(tmp_path, capsys, d)
    assert rc == 1 and "gsm_1" in out


@pytest.mark.parametrize("damage", ["cut", "flipped", "empty", "other magic"])
def test_a_damaged_entry_is_built_again_and_written_over(
    tmp_path: Path, own_cache: Path, damage: str
) -> None:
    g = golden(tmp_path, ITEM, OTHER)
    built, _ = lookup([g])
    (entry,) = entries(own_cache)
    raw = entry.read_bytes()
    entry.write_bytes(
        {
            "cut": raw[: len(raw) // 2],
            "flipped": raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:],
            "empty": b"",
            "other magic": b"curagate golden-set index 0\n" + raw[len(index_cache.MAGIC) :],
        }[damage]
    )
    again, hit = lookup([g])
    assert not hit
    assert again.__getstate__() == built.__getstate__()
    assert entry.read_bytes() == raw
    assert lookup([g])[1]


def test_a_planted_entry_that_runs_code_is_refused(tmp_path: Path, own_cache: Path) -> None:
    g = golden(tmp_path, ITEM)
    lookup([g])
    (entry,) = entries(own_cache)
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {marker}",))

    body = pickle.dumps(Payload())
    digest = hashlib.blake2b(body, digest_size=32).digest()
    entry.write_bytes(index_cache.MAGIC + digest + body)  # its digest is right
    index, hit = lookup([g])
    assert not hit and not marker.exists()
    assert [i.text for i in index.prompt_items] == [ITEM]


def test_a_cache_that_cannot_be_written_leaves_the_check_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    golden(tmp_path, ITEM)
    d = data(tmp_path, ITEM)
    blocked = tmp_path / "a file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    rc, out = check(tmp_path, capsys, d)
    assert rc == 1 and "LEAK001" in out


def test_the_least_recently_used_entries_beyond_the_limit_are_removed(
    tmp_path: Path, own_cache: Path
) -> None:
    own_cache.mkdir(parents=True)
    for k in range(index_cache.MAX_ENTRIES + 3):
        old = own_cache / f"{k:064x}{index_cache.SUFFIX}"
        old.write_bytes(b"")
        os.utime(old, ns=(k * 10**9, k * 10**9))
    killed = own_cache / ".x.tmp"  # a run killed while writing, long ago
    killed.write_bytes(b"")
    os.utime(killed, ns=(0, 0))
    lookup([golden(tmp_path, ITEM)])
    left = entries(own_cache)
    assert len(left) == index_cache.MAX_ENTRIES
    oldest_kept = own_cache / f"{4:064x}{index_cache.SUFFIX}"  # 19 old + 1 new: 4 oldest go
    assert oldest_kept in left and own_cache / f"{3:064x}{index_cache.SUFFIX}" not in left
    assert not killed.exists()


def test_two_checks_at_once_leave_one_whole_entry(tmp_path: Path, own_cache: Path) -> None:
    golden(tmp_path, ITEM, OTHER)
    d = data(tmp_path, ITEM)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    argv = [sys.executable, "-m", "curagate", "check", str(d), "--golden", "golden_sets"]
    runs = [subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE) for _ in "ab"]
    outs = [(p.communicate()[0], p.returncode) for p in runs]
    assert outs[0] == outs[1] and outs[0][1] == 1
    (entry,) = entries(own_cache)
    assert index_cache.load(entry) is not None
    assert not list(own_cache.glob(".*.tmp"))


def test_a_set_yaml_made_multiple_choice_is_indexed_again_and_the_option_view_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The build reads the set.yaml above a golden file: a multiple-choice set's items are
    # looked for as the gate shows them, with their options. Cached by the data files alone,
    # the index built for "classification" was served after the set became multiple choice
    # and a copy of the item with its options passed (found by re-attack).
    from curagate.gate.tasks.multiple_choice import choice_views

    item = {"id": "q1", "prompt": "Which is red?", "choices": ["apple", "sky"], "reference": "A"}
    g = tmp_path / "golden_sets" / "mc"
    g.mkdir(parents=True)
    (g / "data.jsonl").write_text(json.dumps(item) + "\n", encoding="utf-8")
    set_yaml = 'name: mc\ntask: {task}\nversion: "1"\nfiles: [data.jsonl]\n'
    (g / "set.yaml").write_text(set_yaml.format(task="classification"), encoding="utf-8")
    shown = next(v for k, v in choice_views(item).items() if k != "prompt")
    d = tmp_path / "train.jsonl"
    d.write_text(json.dumps({"prompt": shown, "completion": "A"}) + "\n", encoding="utf-8")
    assert check(tmp_path, capsys, d)[0] == 0
    (g / "set.yaml").write_text(set_yaml.format(task="multiple_choice"), encoding="utf-8")
    rc, out = check(tmp_path, capsys, d)
    assert rc == 1 and "q1" in out


@pytest.mark.parametrize(
    "edit",
    [
        {"items": []},  # scanned into an IndexError (exit 3)
        {"threads": -1},  # an OverflowError loading the core
        {"threads": 10**30},
    ],
    ids=["no items", "negative threads", "huge threads"],
)
def test_an_entry_whose_state_does_not_fit_its_index_is_built_again(
    tmp_path: Path, own_cache: Path, edit: dict[str, object]
) -> None:
    g = golden(tmp_path, ITEM, OTHER)
    built, _ = lookup([g])
    (entry,) = entries(own_cache)
    state = {**built.__getstate__(), **edit}
    body = pickle.dumps(state)
    entry.write_bytes(index_cache.MAGIC + hashlib.blake2b(body, digest_size=32).digest() + body)
    assert index_cache.load(entry) is None
    again, hit = lookup([g])
    assert not hit and again.__getstate__() == built.__getstate__()
