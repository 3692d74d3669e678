from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from gate_support import SENTIMENT_ITEMS, write_set

from curagate import golden
from curagate.cli import main
from curagate.errors import CheckFailed, ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]


def test_lock_records_hash_size_and_provenance(golden_dir: Path) -> None:
    entry = json.loads((golden_dir / "lock.json").read_text())["sets"]["sentiment"]
    assert entry["size"] == len(SENTIMENT_ITEMS)
    data = (golden_dir / "sentiment" / "data.jsonl").read_bytes()
    assert entry["files"]["data.jsonl"] == hashlib.sha256(data).hexdigest()
    assert (entry["task"], entry["version"], entry["license"]) == ("classification", "1", "CC0-1.0")


def test_changed_set_is_refused(golden_dir: Path) -> None:
    data = golden_dir / "sentiment" / "data.jsonl"
    data.write_text(data.read_text().replace("Negative", "Positive", 1))
    with pytest.raises(CheckFailed, match="no longer match the sha256"):
        golden.load_locked(golden_dir, "sentiment")


@pytest.mark.parametrize("edit", ["file_hash_only", "size", "sha256"])
def test_a_lock_entry_naming_other_data_is_refused(golden_dir: Path, edit: str) -> None:
    lock_path = golden_dir / "lock.json"
    doc = json.loads(lock_path.read_text())
    entry = doc["sets"]["sentiment"]
    if edit == "file_hash_only":  # the data edited and only its file hash updated by hand
        data = golden_dir / "sentiment" / "data.jsonl"
        data.write_text("".join(data.read_text().splitlines(keepends=True)[:2]))
        entry["files"]["data.jsonl"] = hashlib.sha256(data.read_bytes()).hexdigest()
    elif edit == "size":
        entry["size"] += 1
    else:
        entry["sha256"] = "0" * 64
    lock_path.write_text(json.dumps(doc))
    with pytest.raises(CheckFailed, match=r"edited by hand.*curagate golden lock"):
        golden.load_locked(golden_dir, "sentiment")
    assert main(["golden", "verify", str(golden_dir)]) == 1


def test_a_set_given_twice_in_the_lock_is_refused(golden_dir: Path, capsys) -> None:
    # Found by attack: Python's JSON reader keeps the last of a key given twice, so a lock
    # holding a set's old entry first and its new entry after it verified "ok": a reviewer
    # reading the first entry saw other hashes than the gate checked.
    lock_path = golden_dir / "lock.json"
    old = json.loads(lock_path.read_text())["sets"]["sentiment"]
    data = golden_dir / "sentiment" / "data.jsonl"
    data.write_text(data.read_text().replace("Positive", "Negative", 1))
    golden.lock(golden_dir)
    new = json.loads(lock_path.read_text())["sets"]["sentiment"]
    assert old["sha256"] != new["sha256"]
    lock_path.write_text(
        f'{{"schema_version": 1, "sets": {{"sentiment": {json.dumps(old)}, '
        f'"sentiment": {json.dumps(new)}}}}}'
    )
    with pytest.raises(ConfigError, match=r"repeats the key 'sentiment'.*given twice"):
        golden.load_locked(golden_dir, "sentiment")
    assert main(["golden", "verify", str(golden_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{lock_path}: not strict JSON: an object repeats the key 'sentiment'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("version: '1'", "version: '2'", "version"),
        ("license: CC0-1.0", "license: MIT", "license"),
        ("provenance: written by the test", "provenance: elsewhere", "provenance"),
        ("files: [data.jsonl]", "files: [data.jsonl, more.jsonl]", "files"),
    ],
)
def test_a_set_yaml_edited_after_the_lock_is_refused(
    golden_dir: Path, old: str, new: str, key: str
) -> None:
    # Only the item files were hashed: a new version, license or file list in set.yaml
    # went unnoticed by `golden verify` and the gate (which reported the locked values).
    (golden_dir / "sentiment" / "more.jsonl").write_text("")
    set_yaml = golden_dir / "sentiment" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace(old, new))
    with pytest.raises(CheckFailed, match=rf"set\.yaml: '{key}' is .* the lock has .*golden lock"):
        golden.load_locked(golden_dir, "sentiment")
    assert main(["golden", "verify", str(golden_dir)]) == 1
    golden.lock(golden_dir, ["sentiment"])  # reviewed: locked on purpose
    golden.load_locked(golden_dir, "sentiment")


def test_lock_on_purpose_accepts_the_change(golden_dir: Path) -> None:
    data = golden_dir / "sentiment" / "data.jsonl"
    data.write_text(
        data.read_text() + json.dumps({"id": "new", "prompt": "x", "reference": "Positive"}) + "\n"
    )
    golden.lock(golden_dir, ["sentiment"])
    assert golden.load_locked(golden_dir, "sentiment").size == len(SENTIMENT_ITEMS) + 1


def test_locking_changed_files_under_the_same_version_warns(
    golden_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: every label flipped, `golden lock --set s` said "locked s v1" and
    # nothing else; two reports then named "s v1" for different items.
    data = golden_dir / "sentiment" / "data.jsonl"
    before = json.loads((golden_dir / "lock.json").read_text())["sets"]["sentiment"]["sha256"]
    assert main(["golden", "lock", str(golden_dir), "--set", "sentiment"]) == 0
    assert "warning" not in capsys.readouterr().err  # unchanged: nothing to say
    data.write_text(data.read_text().replace("Positive", "Negative"))
    assert main(["golden", "lock", str(golden_dir), "--set", "sentiment"]) == 0
    err = capsys.readouterr().err
    assert "golden set sentiment: its files changed since it was locked, and it is still " in err
    assert f"version 1 (sha256 {before[:12]}..." in err and "raise `version`" in err
    set_yaml = golden_dir / "sentiment" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("version: '1'", "version: '2'"))
    data.write_text(data.read_text().replace("Negative", "Positive"))
    assert main(["golden", "lock", str(golden_dir), "--set", "sentiment"]) == 0
    assert "warning" not in capsys.readouterr().err  # a new version: said by its number


def test_locking_one_set_keeps_the_other_sets_entry(golden_dir: Path) -> None:
    write_set(golden_dir, "other", "generation", [{"prompt": "p", "reference": "r"}])
    golden.lock(golden_dir, ["other"])
    data = golden_dir / "sentiment" / "data.jsonl"
    data.write_text(data.read_text()[:-200])
    golden.lock(golden_dir, ["other"])
    with pytest.raises(CheckFailed):
        golden.load_locked(golden_dir, "sentiment")


def test_golden_verify_command_exits_1_on_a_changed_set(golden_dir: Path) -> None:
    assert main(["golden", "verify", str(golden_dir)]) == 0
    (golden_dir / "sentiment" / "data.jsonl").write_text("{}\n")
    assert main(["golden", "verify", str(golden_dir)]) == 1


@pytest.mark.slow
def test_bundled_golden_sets_match_their_lock() -> None:
    assert golden.verify(REPO / "golden_sets") == []


def test_bundled_sets_have_provenance_license_and_200_items() -> None:
    # amazon_sentiment holds the 100 reviews the bundled example never trains
    # on (the other 100 are its training half); ag_news_json keeps the 96 of 200
    # news items whose text names its agency; the safety sets are small on purpose
    # (80, 40 and 20 prompts written for curagate). These sets warn.
    small = set()
    for name, e in golden.list_locked(REPO / "golden_sets").items():
        assert e["provenance"] and e["license"], name
        assert (REPO / "golden_sets" / name / e["license_file"]).is_file(), name
        if e["size"] < 200:
            small.add(name)
    assert small == {
        "amazon_sentiment",
        "ag_news_json",
        "safety_refusal",
        "safety_jailbreak",
        "safety_pii",
    }


def test_lock_command_warns_about_sets_under_200_items(golden_dir: Path, capsys) -> None:
    assert main(["golden", "lock", str(golden_dir)]) == 0
    assert "sentiment v1 classification 40 items" in capsys.readouterr().out
    assert main(["golden", "lock", str(golden_dir), "--set", "sentiment"]) == 0
    assert "warning: < 200 items" in capsys.readouterr().out


def test_gate_on_an_unlocked_set_names_the_lock_command(golden_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"curagate golden lock .* --set missing"):
        golden.load_locked(golden_dir, "missing")


def _write_lines(golden_dir: Path, lines: list[str]) -> Path:
    """A set ``s`` whose data.jsonl holds exactly these lines (each ends with \\n)."""
    d = write_set(golden_dir, "s", "generation", [])
    (d / "data.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return d / "data.jsonl"


def _item(prompt: str, **extra: object) -> str:
    return json.dumps({"prompt": prompt, "reference": "r", **extra})


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        ([_item("a", id="dup"), _item("b", id="dup")], r"line 2: item id 'dup' .* line 1;"),
        ([_item("a", id=7), _item("b", id="7")], r"line 2: item id '7' .* line 1;"),
        # Line 1 has no id, so it is data:1, which line 2 names explicitly.
        ([_item("a"), _item("b", id="data:1")], r"line 2: item id 'data:1' .* line 1 \(which"),
        ([_item("a", id="data:2"), _item("b")], r"line 2: item id 'data:2' .* \(this line"),
    ],
)
def test_an_id_used_twice_is_refused_at_lock_and_read_time(
    tmp_path: Path, lines: list[str], where: str
) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, lines)
    with pytest.raises(InputError, match=rf"{re.escape(str(data))}: {where}.*its own 'id'"):
        golden.lock(root)
    # A lock written before ids were checked: the gate still refuses to read the set.
    entry = golden.GoldenSet("s", "generation", "1", "", 2, {"data.jsonl": ""}, data.parent)
    with pytest.raises(InputError, match=rf"{re.escape(str(data))}: {where}"):
        golden.read_items(entry)


@pytest.mark.parametrize("value", [None, [1, 2], True, 1.5, {"k": 1}])
def test_an_id_that_is_not_a_string_or_an_integer_is_refused(tmp_path: Path, value: object) -> None:
    # null, [1, 2] and true were the ids "None", "[1, 2]" and "True" in items.jsonl and the
    # reports, Python's spelling of them.
    root = tmp_path / "golden"
    data = _write_lines(root, [_item("a", id=value)])
    with pytest.raises(InputError, match=rf"{re.escape(str(data))}: line 1: field 'id' is "):
        golden.lock(root)


def test_a_set_with_no_items_is_refused_at_lock_time(tmp_path: Path) -> None:
    # Locked as "0 items" and verified; only the gate then refused it ("has no items").
    root = tmp_path / "golden"
    data = _write_lines(root, [])
    with pytest.raises(InputError, match=r"set\.yaml: golden set 's' has no items in data\.jsonl"):
        golden.lock(root)
    assert not (root / "lock.json").exists()
    assert data.read_text() == ""


def test_a_line_of_unicode_whitespace_is_refused_not_counted(tmp_path: Path) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, [_item("a"), "\u00a0", _item("b")])
    with pytest.raises(
        InputError, match=rf"{re.escape(str(data))}: line 2: .*\(U\+00A0\).*delete the line"
    ):
        golden.lock(root)
    entry = golden.GoldenSet("s", "generation", "1", "", 2, {"data.jsonl": ""}, data.parent)
    with pytest.raises(InputError, match=rf"{re.escape(str(data))}: line 2: .*U\+00A0"):
        golden.read_items(entry)


def test_size_items_and_leak_rows_count_blank_lines_alike(tmp_path: Path) -> None:
    """Blank lines (ASCII whitespace: \\v, \\f and a lone \\r too) are skipped by the lock, the
    gate's reader and the corpus reader of the leakage scan alike; only \\n ends a line."""
    from curagate.io.readers import count_records

    root = tmp_path / "golden"
    lone_cr = '{"prompt": "d",\r"reference": "r"}'
    lines = [_item("a"), "", " \t\x0b\x0c\r", _item("b\n"), _item("c") + "\r", lone_cr]
    data = _write_lines(root, lines)
    golden.lock(root)
    locked = golden.load_locked(root, "s")
    items = golden.read_items(locked)
    assert locked.size == len(items) == count_records(data) == 4
    ids = ["data:1", "data:4", "data:5", "data:6"]
    assert golden.item_ids(data) == [it["id"] for it in items] == ids


def test_a_line_not_utf8_is_an_input_error_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, [_item("a"), _item("b")])
    data.write_bytes(data.read_bytes().replace(b'"b"', b'"\xff"'))
    with pytest.raises(InputError, match=rf"{re.escape(str(data))}: line 2: not valid UTF-8"):
        golden.lock(root)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("files", None, "'files' must be an object"),
        ("files", ["data.jsonl"], "'files' must be an object"),
        ("files", {"data.jsonl": 7}, "'files' must map file names"),
        ("size", "x", "'size' must be a whole number"),
        ("size", True, "'size' must be a whole number"),
        ("sha256", None, "'sha256' must be a string"),
    ],
)
def test_a_hand_broken_lock_entry_is_a_config_error_that_relocking_repairs(
    golden_dir: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, problem: str
) -> None:
    lock_path = golden_dir / "lock.json"
    doc = json.loads(lock_path.read_text())
    if value is None:
        del doc["sets"]["sentiment"][field]
    else:
        doc["sets"]["sentiment"][field] = value
    lock_path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=f"golden set 'sentiment': {re.escape(problem)}"):
        golden.load_locked(golden_dir, "sentiment")
    assert main(["golden", "verify", str(golden_dir)]) == 2
    assert "internal error" not in capsys.readouterr().err
    golden.lock(golden_dir, ["sentiment"])  # locking the set again repairs its entry
    assert golden.verify(golden_dir) == []


def test_a_lone_surrogate_escape_is_an_input_error_naming_the_line(tmp_path: Path) -> None:
    # json reads "\ud800" as a lone surrogate, which the gate could not write to
    # items.jsonl or report.html (it crashed with exit 3).
    root = tmp_path / "golden"
    data = _write_lines(root, [_item("a"), _item("b")])
    data.write_bytes(data.read_bytes().replace(b'"b"', b'"b \\ud800"'))
    with pytest.raises(
        InputError, match=rf"{re.escape(str(data))}: line 2: holds a lone surrogate"
    ):
        golden.lock(root)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        # Python's reader keeps the last of two keys: which reference was meant?
        (
            '{"id": "b", "prompt": "q", "reference": "yes", "reference": "no"}',
            "an object repeats the key 'reference'",
        ),
        ('{"id": "b", "prompt": "q", "reference": {"score": NaN}}', "NaN is not JSON"),
        ('{"id": "b", "prompt": "q", "reference": 1e999}', "1e999 overflows a double"),
    ],
)
def test_an_item_line_that_is_not_strict_json_is_refused(
    tmp_path: Path, line: str, problem: str
) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, [_item("a")])
    data.write_text(data.read_text() + line + "\n")
    with pytest.raises(
        InputError, match=rf"{re.escape(str(data))}: line 2: not strict JSON: {re.escape(problem)}"
    ):
        golden.lock(root)


@pytest.mark.parametrize("folder", ["_holdout", ".hidden"])
def test_a_set_folder_the_readers_skip_cannot_be_locked(tmp_path: Path, folder: str) -> None:
    # `leakage` and `curate --decontaminate` skip _/. folders (as they skip _SUCCESS):
    # a set locked there would be gated but never checked for leaks.
    root = tmp_path / "golden"
    write_set(root, folder, "classification", SENTIMENT_ITEMS[:2])
    with pytest.raises(ConfigError, match=f"{folder}: a golden set folder's name may not start"):
        golden.lock(root)


# Holes found by attacking golden sets; each is a test now.


def test_a_snapshot_holds_the_checked_bytes_or_refuses(golden_dir: Path, tmp_path: Path) -> None:
    # The gate read a set three times after checking it: a set edited while the gate ran
    # was scored under the locked sha256 the report printed. It now scores a private copy.
    locked = golden.load_locked(golden_dir, "sentiment")
    copy = golden.snapshot(locked, tmp_path / "private")
    assert copy.root == tmp_path / "private" / "sentiment" and copy.sha256 == locked.sha256
    data = golden_dir / "sentiment" / "data.jsonl"
    assert (copy.root / "data.jsonl").read_bytes() == data.read_bytes()
    data.write_text(data.read_text().replace("Negative", "Positive", 1))
    assert (copy.root / "data.jsonl").read_bytes() != data.read_bytes()  # the copy stands
    with pytest.raises(CheckFailed, match="changed while the gate read it"):
        golden.snapshot(locked, tmp_path / "again")


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ("[data.jsonl, ../outside.jsonl]", "is outside the set folder"),
        ("[data.jsonl, /etc/hostname]", "is outside the set folder"),
        ("[data.jsonl, linked.jsonl]", "leads outside the set folder"),
        ("[data.jsonl, ./data.jsonl]", "is listed twice"),
        # Locked and hashed, never scored or scanned (items are read from .jsonl only).
        ("[data.jsonl, hard.JSONL]", "items are read from files named .jsonl only"),
        ("[data.jsonl, hard.ndjson]", "items are read from files named .jsonl only"),
        ("[data.jsonl, hard.jsonl.gz]", "items are read from files named .jsonl only"),
        # Locked and scored, skipped by `leakage --reference` (hidden to the data readers).
        ("[data.jsonl, _more/rest.jsonl]", "a name starting with '_' or '.'"),
        ("[data.jsonl, .rest.jsonl]", "a name starting with '_' or '.'"),
    ],
)
def test_set_files_must_be_inside_the_set_folder_and_named_once(
    golden_dir: Path, files: str, why: str
) -> None:
    # Files outside were locked and scored but never seen by `leakage --reference` or
    # `curate --decontaminate`, which read the set folder; a repeat made verify fail forever.
    outside = golden_dir.parent / "outside.jsonl"
    outside.write_text(json.dumps(SENTIMENT_ITEMS[0]) + "\n")
    (golden_dir / "sentiment" / "linked.jsonl").symlink_to(outside)
    set_yaml = golden_dir / "sentiment" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("files: [data.jsonl]", f"files: {files}"))
    with pytest.raises(ConfigError, match=why):
        golden.lock(golden_dir)


@pytest.mark.parametrize("body", ['{"prompt": "p", "reference": "r"}\n' * 2, '[{"prompt": "p"}]'])
def test_a_listed_json_file_of_items_is_refused_outside_lm_eval(
    golden_dir: Path, body: str
) -> None:
    # Locked and hashed, never scored (items are read from .jsonl), while `leakage
    # --reference` read its items. A .json document (a schema) stays allowed.
    d = golden_dir / "sentiment"
    (d / "hard.json").write_text(body)
    (d / "schema.json").write_text('{"type": "object"}')
    set_yaml = d / "set.yaml"
    text = set_yaml.read_text()
    set_yaml.write_text(text.replace("[data.jsonl]", "[data.jsonl, schema.json]"))
    golden.lock(golden_dir)
    set_yaml.write_text(text.replace("[data.jsonl]", "[data.jsonl, hard.json]"))
    with pytest.raises(ConfigError, match=r"'hard.json' holds records but items are read from"):
        golden.lock(golden_dir)


@pytest.mark.parametrize("rel", ["more/human_labels.jsonl", "./human_labels.jsonl"])
def test_human_labels_anywhere_but_the_set_folder_cannot_be_locked(
    golden_dir: Path, capsys, rel: str
) -> None:
    # Found by attack: `more/human_labels.jsonl` (30 items) was locked, but read neither as
    # items (the name is the labels') nor by the judge (it reads the set folder's own file).
    d = golden_dir / "sentiment"
    (d / "more").mkdir()
    (d / rel).write_text(json.dumps({**SENTIMENT_ITEMS[0], "id": "hidden"}) + "\n")
    set_yaml = d / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("[data.jsonl]", f"[data.jsonl, {rel}]"))
    assert main(["golden", "lock", str(golden_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{set_yaml}: key 'files': '{rel}': the judge reads human labels only from" in err, err
    assert "list the labels as 'human_labels.jsonl'" in err
    # Listed so by a lock written before the check: the gate refuses the set too.
    lock_path = golden_dir / "lock.json"
    doc = json.loads(lock_path.read_text())
    doc["sets"]["sentiment"]["files"][rel] = golden.sha256_file(d / rel)
    lock_path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="the judge reads human labels only from"):
        golden.load_locked(golden_dir, "sentiment")


@pytest.mark.parametrize("version", ["1.10", "010", "yes", "~"])
def test_an_unquoted_version_yaml_would_change_is_refused(golden_dir: Path, version: str) -> None:
    # 1.10 was recorded as v1.1 (a bump from 1.1 went unseen), 010 as v8, yes as vTrue.
    set_yaml = golden_dir / "sentiment" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("version: '1'", f"version: {version}"))
    with pytest.raises(ConfigError, match=r"key 'version'.*quote it"):
        golden.lock(golden_dir)


def test_suite_data_a_task_reads_must_be_one_of_the_set_files(golden_dir: Path) -> None:
    # data_files named outside `files` changed under the unchanged sha256 of the set.
    from gate_support import write_mini_suite

    rows = [{"question": "q?", "choices": ["a", "b"], "label": 0}]
    write_mini_suite(golden_dir, rows)
    set_yaml = golden_dir / "mini_suite" / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("[mc.jsonl, tiny_mc.yaml]", "[tiny_mc.yaml]"))
    with pytest.raises(ConfigError, match=r"data_files 'mc.jsonl' is not one of the set's files"):
        golden.lock(golden_dir, ["mini_suite"])


def test_task_yamls_of_one_name_in_two_folders_are_two_tasks_and_one_task_twice_is_refused(
    golden_dir: Path, tmp_path: Path
) -> None:
    # Found by attack: a/task.yaml and b/task.yaml were copied to one file for lm-eval (the
    # gate crashed on the task it lost, exit 3, after the models loaded); and two YAMLs of
    # one task name were locked, lm-eval scoring only one of them.
    from gate_support import MC_TASK

    from curagate.gate.regression import prepare_include_dir

    suite = golden_dir / "suite"
    rows = [{"question": "q?", "choices": ["a", "b"], "label": 0}]
    for sub in ("a", "b"):
        (suite / sub).mkdir(parents=True)
        (suite / sub / f"mc{sub}.jsonl").write_text(json.dumps(rows[0]) + "\n")
        task = MC_TASK.replace("tiny_mc", f"tiny_{sub}").replace("mc.jsonl", f"mc{sub}.jsonl")
        (suite / sub / "task.yaml").write_text(task)
    (suite / "set.yaml").write_text(
        "name: suite\ntask: lm_eval\nversion: '1'\n"
        "files: [a/mca.jsonl, a/task.yaml, b/mcb.jsonl, b/task.yaml]\n"
    )
    golden.lock(golden_dir, ["suite"])
    include = tmp_path / "include"
    include.mkdir()
    names = prepare_include_dir(golden.load_locked(golden_dir, "suite"), include)
    assert names == ["tiny_a", "tiny_b"] and len(list(include.glob("*.yaml"))) == 2
    second = (suite / "b" / "task.yaml").read_text().replace("tiny_b", "tiny_a")
    (suite / "b" / "task.yaml").write_text(second)
    with pytest.raises(ConfigError, match=r"task 'tiny_a' is also defined by a/task.yaml"):
        golden.lock(golden_dir, ["suite"])


def test_every_suite_task_yaml_is_copied_for_lm_eval_under_a_free_yaml_name(
    golden_dir: Path, tmp_path: Path
) -> None:
    # Found by attack: b/task.yaml, its name taken, was copied as 0002-task.yaml over the
    # set's own 0002-task.yaml; and a task in a .yml file was copied as .yml, which
    # lm-eval 0.4 never indexes: either task was unknown to it (exit 3 after the models
    # loaded).
    from gate_support import MC_TASK

    from curagate.gate.regression import prepare_include_dir

    suite = golden_dir / "suite"
    (suite / "a").mkdir(parents=True)
    (suite / "b").mkdir()
    (suite / "mc.jsonl").write_text(
        json.dumps({"question": "q?", "choices": ["a", "b"], "label": 0}) + "\n"
    )
    tasks = {
        "0002-task.yaml": "tiny_b",
        "a/task.yaml": "tiny_a",
        "b/task.yaml": "tiny_c",
        "task-1.yaml": "tiny_d",
        "tiny_e.yml": "tiny_e",
    }
    for rel, name in tasks.items():
        text = MC_TASK.replace("tiny_mc", name)
        if "/" in rel:
            text = text.replace("mc.jsonl", "../mc.jsonl")
        (suite / rel).write_text(text)
    (suite / "set.yaml").write_text(
        f"name: suite\ntask: lm_eval\nversion: '1'\nfiles: [mc.jsonl, {', '.join(tasks)}]\n"
    )
    golden.lock(golden_dir, ["suite"])
    include = tmp_path / "include"
    include.mkdir()
    names = prepare_include_dir(golden.load_locked(golden_dir, "suite"), include)
    import yaml

    copied = sorted(yaml.safe_load(p.read_text())["task"] for p in include.glob("*.yaml"))
    assert sorted(names) == copied == sorted(tasks.values())
    assert [p.name for p in include.iterdir() if p.suffix != ".yaml"] == []


@pytest.mark.slow
def test_two_lock_writers_take_turns(golden_dir: Path) -> None:
    # Two `golden lock --set` runs read, changed and rewrote lock.json side by side; the
    # later rename dropped the other's entry (both said "locked", verify then failed).
    import fcntl
    import threading

    done = threading.Event()
    with (golden_dir / ".lock.json.writer").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        writer = threading.Thread(target=lambda: (golden.lock(golden_dir), done.set()))
        writer.start()
        assert not done.wait(0.5)  # waits for the writer that holds the lock
    writer.join(10)
    assert done.is_set() and golden.verify(golden_dir) == []


def test_a_suite_metric_no_task_lists_is_refused_before_any_model_runs(
    golden_dir: Path, tmp_path: Path
) -> None:
    # A typo (acc_nrom) was a KeyError, exit 3, after both models had run the suite.
    from gate_support import write_mini_suite

    from curagate.gate.config import RegressionSuite
    from curagate.gate.regression import check_metric

    write_mini_suite(golden_dir, [{"question": "q?", "choices": ["a", "b"], "label": 0}])
    suite_set = golden.load_locked(golden_dir, "mini_suite")
    check_metric(RegressionSuite(golden_set="mini_suite", tasks=["tiny_mc"]), suite_set)
    with pytest.raises(ConfigError, match=r"metric 'acc_nrom'.*lists acc in its metric_list"):
        check_metric(
            RegressionSuite(golden_set="mini_suite", tasks=["tiny_mc"], metric="acc_nrom"),
            suite_set,
        )


@pytest.mark.parametrize("metric", ["acc", "f1", "bleu"])
def test_a_higher_is_better_metric_averaged_by_mean_keeps_lm_evals_direction(
    golden_dir: Path, metric: str
) -> None:
    # Only lm-eval's lower-is-better must be declared again under another aggregation
    # (perplexity by mean is a log-likelihood): f1 and bleu by mean were refused too
    # (found by re-attack).
    pytest.importorskip("lm_eval")
    from gate_support import write_mini_suite

    from curagate.gate.config import RegressionSuite
    from curagate.gate.regression import check_metric

    entry = f"  - metric: {metric}\n    aggregation: mean\n"
    write_mini_suite(
        golden_dir, [{"question": "q?", "choices": ["a", "b"], "label": 0}], metric_entry=entry
    )
    suite_set = golden.load_locked(golden_dir, "mini_suite")
    suite = RegressionSuite(golden_set="mini_suite", tasks=["tiny_mc"], metric=metric)
    assert check_metric(suite, suite_set) is True


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        ("include: /elsewhere/base.yaml\n", "'include' is not supported"),
        ("dataset_path: json", "dataset_path: /data/folder"),
        ("data_files:\n    test: mc.jsonl", "data_dir: /elsewhere"),
    ],
)
def test_a_suite_task_reads_only_locked_files_through_a_local_builder(
    golden_dir: Path, edit: str, why: str
) -> None:
    # `include:` merged a YAML outside the set, whose data_files the lock never covered
    # (the gate scored 30 outside items under the set's sha256); a folder as
    # dataset_path is read whole by `datasets`.
    from gate_support import write_mini_suite

    write_mini_suite(golden_dir, [{"question": "q?", "choices": ["a", "b"], "label": 0}])
    task = golden_dir / "mini_suite" / "tiny_mc.yaml"
    text = task.read_text()
    task.write_text(edit + text if edit.startswith("include") else text.replace(edit, why))
    with pytest.raises(ConfigError, match=r"include|dataset_path|data_dir"):
        golden.lock(golden_dir, ["mini_suite"])


def test_suite_data_files_as_lists_are_locked_and_made_absolute(
    golden_dir: Path, tmp_path: Path
) -> None:
    # A list was checked against the lock but left relative: lm-eval read ./mc.jsonl
    # from the working directory; a split's list was a TypeError (exit 3).
    from gate_support import write_mini_suite

    from curagate.gate.regression import prepare_include_dir

    write_mini_suite(golden_dir, [{"question": "q?", "choices": ["a", "b"], "label": 0}])
    task = golden_dir / "mini_suite" / "tiny_mc.yaml"
    task.write_text(task.read_text().replace("test: mc.jsonl", "test: [mc.jsonl]"))
    golden.lock(golden_dir, ["mini_suite"])
    out = tmp_path / "include"
    out.mkdir()
    assert prepare_include_dir(golden.load_locked(golden_dir, "mini_suite"), out) == ["tiny_mc"]
    import yaml

    copied = yaml.safe_load((out / "tiny_mc.yaml").read_text())
    assert copied["dataset_kwargs"]["data_files"] == {
        "test": [str((golden_dir / "mini_suite" / "mc.jsonl").resolve())]
    }


def test_a_suite_task_whose_data_holds_no_documents_cannot_be_locked(tmp_path: Path) -> None:
    """lock accepted it; the gate then stopped inside lm-eval (StopIteration, exit 3) once
    both models were loaded."""
    from gate_support import write_mini_suite

    golden_dir = tmp_path / "golden"
    golden_dir.mkdir()
    with pytest.raises(
        ConfigError, match=r"tiny_mc\.yaml: data_files 'mc\.jsonl' holds no documents"
    ):
        write_mini_suite(golden_dir, [])


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_a_set_yaml_that_is_a_fifo_or_a_device_is_refused_not_read_forever(
    tmp_path: Path, kind: str
) -> None:
    # `golden lock` and `golden verify` waited forever on a FIFO, and read /dev/zero
    # without end (Path.read_bytes, no bound).
    import os
    import subprocess
    import sys

    root = tmp_path / "golden"
    (root / "s").mkdir(parents=True)
    target = root / "s" / "set.yaml"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to(kind)
    proc = subprocess.run(
        [sys.executable, "-m", "curagate", "golden", "lock", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "python")},
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "set.yaml: cannot read: not a regular file" in proc.stderr


@pytest.mark.parametrize("name", ['"fake\\nlocked evil v9"', "[a, b]", "'-x'"])
def test_a_set_name_that_is_not_a_plain_name_cannot_be_locked(tmp_path: Path, name: str) -> None:
    # A newline in it forged a line of `golden lock`'s output; a list was stringified.
    root = tmp_path / "golden"
    d = write_set(root, "s", "classification", SENTIMENT_ITEMS[:3])
    (d / "set.yaml").write_text((d / "set.yaml").read_text().replace("name: s", f"name: {name}"))
    with pytest.raises(ConfigError, match=r"key 'name': .* must be a name of letters"):
        golden.lock(root)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("version: '1'", 'version: "1\\nlocked evil v9 classification 40 items"'),
        ("license: CC0-1.0", 'license: "MIT\\nevil v9 classification 40 items  MIT"'),
    ],
    ids=["version", "license"],
)
def test_a_version_or_license_on_several_lines_cannot_be_locked_or_listed(
    tmp_path: Path, old: str, new: str
) -> None:
    # `golden lock` and `golden list` print both on a line of their own: a newline
    # forged a line of the output.
    root = tmp_path / "golden"
    d = write_set(root, "s", "classification", SENTIMENT_ITEMS[:3])
    golden.lock(root)
    key = old.split(":")[0]
    # A lock entry edited by hand is refused on reading as well.
    lock = root / golden.LOCK_FILE
    doc = json.loads(lock.read_text())
    doc["sets"]["s"][key] = "1\nforged line"
    lock.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=rf"'{key}' must be one line of printable text"):
        golden.list_locked(root)
    (d / "set.yaml").write_text((d / "set.yaml").read_text().replace(old, new))
    with pytest.raises(ConfigError, match=rf"key '{key}': .* must be one line of printable"):
        golden.lock(root)


def test_golden_list_of_a_lock_entry_without_a_license(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A hand-written entry the lock reader accepts, without `license`: KeyError, exit 3.
    root = tmp_path / "g"
    root.mkdir()
    entry = {"files": {"data.jsonl": "x"}, "task": "classification", "version": "1"}
    doc = {"schema_version": 1, "sets": {"s": {**entry, "sha256": "y", "size": 1}}}
    (root / golden.LOCK_FILE).write_text(json.dumps(doc))
    assert main(["golden", "list", str(root)]) == 0
    assert capsys.readouterr().out.split() == ["s", "v1", "classification", "1", "items"]


@pytest.mark.parametrize("where", ["name", "task"])
def test_a_lock_entry_whose_name_or_task_holds_a_line_is_refused(
    tmp_path: Path, where: str
) -> None:
    # Only version and license were held to one line: a set name or task with a newline
    # forged a whole line of `golden list` (exit 0).
    forged = "s\nforged_set     v9   chat   999 items  MIT"
    entry = {"files": {"data.jsonl": "x"}, "task": "classification", "version": "1"}
    entry |= {"sha256": "y", "size": 1}
    if where == "task":
        entry["task"] = forged
    root = tmp_path / "g"
    root.mkdir()
    doc = {"schema_version": 1, "sets": {forged if where == "name" else "s": entry}}
    (root / golden.LOCK_FILE).write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="not a plain name" if where == "name" else "'task'"):
        golden.list_locked(root)


def test_locking_a_folder_without_a_set_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a typo'd folder was locked as "0 sets" (exit 0), and `golden verify`
    # then said every set matched its lock.
    (tmp_path / "nope").mkdir()
    assert main(["golden", "lock", str(tmp_path / "nope")]) == 2
    assert "no golden set here" in capsys.readouterr().err
    assert not (tmp_path / "nope" / "lock.json").exists()


def test_a_locked_set_whose_set_yaml_is_gone_is_named(golden_dir: Path) -> None:
    # Found by attack: "its folder is missing" of a folder still there (set.yaml deleted).
    (golden_dir / "sentiment" / "set.yaml").unlink()
    with pytest.raises(InputError, match=r"sentiment/set\.yaml is missing"):
        golden.load_locked(golden_dir, "sentiment")


def test_golden_verify_prints_a_line_per_changed_set(
    golden_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every CLI error became one line with its control characters escaped: the problems of
    # several sets were one line joined by a literal "\n".
    write_set(golden_dir, "other", "classification", SENTIMENT_ITEMS)
    golden.lock(golden_dir)
    for name in ("sentiment", "other"):
        with (golden_dir / name / "data.jsonl").open("a") as f:
            f.write(json.dumps({"id": "zz", "prompt": "x", "reference": "y"}) + "\n")
    assert main(["golden", "verify", str(golden_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "'other'" in err[0] + err[1] and "\\n" not in err[0]


def _items(*rows: dict[str, object]) -> list[str]:
    return [json.dumps({"reference": "r", **row}) for row in rows]


@pytest.mark.parametrize(
    ("task", "lines"),
    [
        (
            "generation",
            _items(
                {"id": "a", "prompt": "Is it good?"},
                {"id": "b", "prompt": "x"},
                {"id": "c", "prompt": "Is it good?"},
            ),
        ),
        (
            "generation",
            _items(
                {"id": "a", "prompt": "Is it good?"},
                {"id": "b", "prompt": "x"},
                {"id": "c", "prompt": " IS it\tgood?\n"},
            ),
        ),
        # NFKC: fullwidth letters and a no-break space are the same text.
        (
            "generation",
            _items(
                {"id": "a", "prompt": "Is it good?"},
                {"id": "b", "prompt": "x"},
                {"id": "c", "prompt": "\uff29s\u00a0it good\uff1f"},
            ),
        ),
        (
            "generation",
            _items(
                {"id": "a", "messages": [{"role": "user", "content": "Hi there"}]},
                {"id": "b", "messages": [{"role": "user", "content": "Bye"}]},
                {"id": "c", "messages": [{"role": "user", "content": "hi  THERE"}]},
            ),
        ),
        (
            "multiple_choice",
            _items(
                {"id": "a", "prompt": "Pick one", "choices": ["red", "blue"], "reference": 0},
                {"id": "b", "prompt": "Pick one", "choices": ["red", "green"], "reference": 0},
                {"id": "c", "prompt": "pick one", "choices": ["Red", "Blue"], "reference": 0},
            ),
        ),
    ],
)
def test_items_with_one_input_are_refused_at_lock_and_read_time(
    tmp_path: Path, capsys, task: str, lines: list[str]
) -> None:
    # Found by attack: 40 items copied 5 times (exact, or in other case or spacing) were
    # 200 independent items; McNemar's 4 vs 0 (p 0.125) became a "significant" 20 vs 0.
    root = tmp_path / "golden"
    data = _write_lines(root, lines)
    (data.parent / "set.yaml").write_text(
        (data.parent / "set.yaml").read_text().replace("generation", task)
    )
    where = (
        rf"{re.escape(str(data))}: 1 item\(s\) repeat another item .*: lines 1, 3 \(ids 'a', 'c'\)"
    )
    with pytest.raises(InputError, match=rf"{where}; remove the copies"):
        golden.lock(root)
    assert main(["golden", "lock", str(root)]) == 2
    assert re.search(where, capsys.readouterr().err)
    assert not (root / "lock.json").exists()
    # A lock edited by hand to cover the set: the gate reads it, and refuses it alike,
    # naming the set folder's file (not the copy it reads).
    snap = golden.GoldenSet(
        "s", task, "1", "", 3, {"data.jsonl": ""}, tmp_path / "copy", origin=data.parent
    )
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "data.jsonl").write_bytes(data.read_bytes())
    with pytest.raises(InputError, match=where):
        golden.read_items(snap)


def test_a_repeated_id_in_the_gates_copy_names_the_set_folders_file(tmp_path: Path) -> None:
    # A lock edited to cover a repeated id: the gate's error named its private copy, a
    # file deleted when the run ended (found by attack).
    folder = tmp_path / "golden" / "s"
    folder.mkdir(parents=True)
    rows = [{"id": "a", "prompt": "Good?", "reference": "Positive"}]
    rows.append({"id": "a", "prompt": "Bad?", "reference": "Negative"})
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "data.jsonl").write_bytes((folder / "data.jsonl").read_bytes())
    snap = golden.GoldenSet(
        "s", "classification", "1", "", 2, {"data.jsonl": ""}, copy, origin=folder
    )
    shown = re.escape(str(folder / "data.jsonl"))
    with pytest.raises(InputError, match=rf"^{shown}: line 2: item id 'a' .* on {shown}: line 1"):
        golden.read_items(snap)
    # and so does a line that is not JSON (found by re-attack)
    (copy / "data.jsonl").write_bytes(b'{"id": "a", "prompt": "Good?"}\n{not json\n')
    with pytest.raises(InputError, match=rf"^{shown}: line 2: not valid JSON"):
        golden.read_items(snap)


def test_items_asking_the_same_with_other_answers_are_a_contradiction(tmp_path: Path) -> None:
    root = tmp_path / "golden"
    data = _write_lines(
        root,
        [
            *_items({"id": "a", "prompt": "Good?", "reference": "Positive"}),
            *_items({"id": "b", "prompt": "good? ", "reference": "Negative"}),
            *_items({"id": "c", "prompt": "Good?", "reference": "positive"}),
        ],
    )
    with pytest.raises(
        InputError,
        match=rf"{re.escape(str(data))}: 1 group\(s\) of items ask the same .* expect different "
        r"answers .*contradiction.*: lines 1, 2, 3 \(ids 'a', 'b', 'c'\) expect 2 different "
        r"answers; keep the item with the right answer and remove the others",
    ):
        golden.lock(root)
    data.parent.joinpath("set.yaml").write_text(
        data.parent.joinpath("set.yaml").read_text().replace("generation", "refusal")
    )
    data.write_text(
        json.dumps({"id": "a", "prompt": "How?", "should_refuse": True})
        + "\n"
        + json.dumps({"id": "b", "prompt": "how?", "should_refuse": False})
        + "\n"
    )
    with pytest.raises(InputError, match=r"lines 1, 2 \(ids 'a', 'b'\) expect 2 different"):
        golden.lock(root)


@pytest.mark.parametrize(
    ("first", "copy"),
    [
        # Found by re-attack: the same chat written as a prompt and as its one user turn
        (
            {"id": "a", "prompt": "Who wrote Hamlet?"},
            {"id": "c", "messages": [{"role": "user", "content": "Who wrote Hamlet?"}]},
        ),
        # ... and a copy holding a zero-width space or a soft hyphen
        (
            {"id": "a", "prompt": "Who wrote Hamlet?"},
            {"id": "c", "prompt": "Who wro\u200bte Ham\u00adlet?"},
        ),
    ],
)
def test_a_copy_of_the_chat_the_model_reads_is_a_duplicate(
    tmp_path: Path, first: dict, copy: dict
) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, _items(first, {"id": "b", "prompt": "Other"}, copy))
    with pytest.raises(
        InputError,
        match=rf"{re.escape(str(data))}: 1 item\(s\) repeat .*lines 1, 3 \(ids 'a', 'c'\)",
    ):
        golden.lock(root)


# Characters no reader sees that a copy may hold (found by attack: each made the copy
# another item): beyond the format characters, other default ignorables, variation
# selectors, control characters and the fillers that show as a blank.
INVISIBLE = {
    "combining grapheme joiner": "\u034f",
    "Hangul filler": "\u3164",
    "halfwidth Hangul filler": "\uffa0",
    "Braille blank": "\u2800",
    "variation selector 16": "\ufe0f",
    "ideographic variation selector": "\U000e0100",
    "Khmer inherent vowel": "\u17b4",
    "Mongolian variation selector": "\u180b",
    "NUL": "\u0000",
    "DEL": "\u007f",
    "zero-width joiner between letters": "\u200d",
    "a tag character after a letter": "\U000e0041",
}


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=list(INVISIBLE))
def test_a_copy_holding_a_character_no_reader_sees_is_a_duplicate(
    tmp_path: Path, char: str
) -> None:
    root = tmp_path / "golden"
    _write_lines(
        root,
        _items(
            {"id": "a", "prompt": "What is the capital of France?"},
            {"id": "b", "prompt": f"What is the capi{char}tal{char} of France?"},
        ),
    )
    with pytest.raises(InputError, match=r"1 item\(s\) repeat .*lines 1, 2 \(ids 'a', 'b'\)"):
        golden.lock(root)


@pytest.mark.parametrize(
    ("task", "first", "copy"),
    [
        # Found by attack: a turn's "name", which the gate drops before the model reads it
        (
            "generation",
            {"messages": [{"role": "user", "content": "Capital of France?"}]},
            {"messages": [{"role": "user", "content": "Capital of France?", "name": "x"}]},
        ),
        # ... and a multiple-choice item given as its prompt and choices, and as the user
        # turn the gate writes for them
        (
            "multiple_choice",
            {"prompt": "Capital of France?", "choices": ["Paris", "London"], "reference": "A"},
            {
                "messages": [
                    {
                        "role": "user",
                        "content": "Capital of France?\nA. Paris\nB. London\n"
                        "Answer with the letter of the correct option.",
                    }
                ],
                "choices": ["Paris", "London"],
                "reference": "A",
            },
        ),
    ],
)
def test_a_copy_of_what_the_gate_sends_the_model_is_a_duplicate(
    tmp_path: Path, task: str, first: dict, copy: dict
) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, _items({"id": "a", **first}, {"id": "b", **copy}))
    set_yaml = data.parent / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("generation", task))
    with pytest.raises(InputError, match=r"1 item\(s\) repeat .*lines 1, 2 \(ids 'a', 'b'\)"):
        golden.lock(root)


def test_emoji_sequences_and_superscripts_keep_items_apart(tmp_path: Path) -> None:
    # Found by attack: each pair was refused as a contradiction (one question, two answers).
    flag = "\U0001f3f4{}\U000e007f"
    scotland = flag.format("".join(chr(0xE0000 + ord(c)) for c in "gbsct"))
    wales = flag.format("".join(chr(0xE0000 + ord(c)) for c in "gbwls"))
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one emoji, a family
    people = "\U0001f468\U0001f469\U0001f467"  # three
    root = tmp_path / "golden"
    _write_lines(
        root,
        _items(
            {"prompt": f"Which country's flag is {scotland}?", "reference": "Scotland"},
            {"prompt": f"Which country's flag is {wales}?", "reference": "Wales"},
            {"prompt": f"How many emoji are in {family}?", "reference": "1"},
            {"prompt": f"How many emoji are in {people}?", "reference": "3"},
            {"prompt": "Evaluate x\u207f for x = 2, n = 3.", "reference": "8"},
            {"prompt": "Evaluate xn for x = 2, n = 3.", "reference": "6"},
            {"prompt": "Name the molecule H\u2082O.", "reference": "water"},
            {"prompt": "Name the molecule H2O.", "reference": "water, written plainly"},
        ),
    )
    assert golden.lock(root)["sets"]["s"]["size"] == 8
    # An emoji's presentation selector is no part of it: these two are one question.
    (root / "s" / "data.jsonl").write_text(
        "".join(
            line + "\n"
            for line in _items(
                {"id": "a", "prompt": f"What does {family}\ufe0f mean?"},
                {"id": "b", "prompt": f"What does {family} mean?"},
            )
        )
    )
    with pytest.raises(InputError, match=r"1 item\(s\) repeat .*\(ids 'a', 'b'\)"):
        golden.lock(root)


@pytest.mark.parametrize(
    ("task", "one", "other"),
    [
        ("multiple_choice", {"reference": 0}, {"reference": "A"}),
        ("multiple_choice", {"reference": 1}, {"reference": "b"}),
        ("generation", {"reference": 4}, {"reference": "4"}),
        ("generation", {"reference": "4.0"}, {"reference": 4}),
        # Found by re-attack: a choice's text and its index.
        ("multiple_choice", {"reference": "red"}, {"reference": 0}),
        ("multiple_choice", {"reference": "blue"}, {"reference": "B"}),
    ],
)
def test_copies_with_one_answer_written_two_ways_are_no_contradiction(
    tmp_path: Path, task: str, one: dict, other: dict
) -> None:
    # Found by re-attack: 0 and "A" (a choice's index and letter), 4 and "4" were called a
    # contradiction, whose fix (keep the item with the right answer) misled.
    root = tmp_path / "golden"
    extra = {"choices": ["red", "blue"]} if task == "multiple_choice" else {}
    data = _write_lines(
        root,
        _items(
            {"id": "a", "prompt": "Q", **extra, **one}, {"id": "b", "prompt": "Q", **extra, **other}
        ),
    )
    set_yaml = data.parent / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("generation", task))
    with pytest.raises(InputError, match=r"1 item\(s\) repeat another item.*remove the copies"):
        golden.lock(root)


def test_duplicates_across_the_files_of_a_set_name_each_file(tmp_path: Path) -> None:
    root = tmp_path / "golden"
    data = _write_lines(root, _items({"id": "a", "prompt": "Same"}))
    (data.parent / "more.jsonl").write_text(_items({"id": "b", "prompt": "same"})[0] + "\n")
    set_yaml = data.parent / "set.yaml"
    set_yaml.write_text(set_yaml.read_text().replace("[data.jsonl]", "[data.jsonl, more.jsonl]"))
    with pytest.raises(
        InputError, match=r"data\.jsonl: line 1, more\.jsonl: line 1 \(ids 'a', 'b'\)"
    ):
        golden.lock(root)


def test_items_that_differ_after_normalizing_are_not_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "golden"
    _write_lines(
        root,
        _items(
            {"prompt": "What is 10\u00b2?"},
            {"prompt": "What is 102?"},  # NFKC makes ² a 2
            {"prompt": "Is it good?"},
            {"prompt": "Is it good?!"},
            {"messages": [{"role": "user", "content": "Hi"}]},
            {
                "messages": [
                    {"role": "system", "content": "Be short"},
                    {"role": "user", "content": "Hi"},
                ]
            },
        ),
    )
    assert golden.lock(root)["sets"]["s"]["size"] == 6


def test_the_gate_refuses_a_hand_locked_set_with_duplicates(
    golden_dir: Path, tmp_path: Path, capsys
) -> None:
    from curagate.digest import files_digest

    data = golden_dir / "sentiment" / "data.jsonl"
    first = json.loads(data.read_text().splitlines()[0])
    data.write_text(data.read_text() + json.dumps({**first, "id": "copy"}) + "\n")
    lock_path = golden_dir / "lock.json"
    doc = json.loads(lock_path.read_text())
    entry = doc["sets"]["sentiment"]
    entry["files"]["data.jsonl"] = hashlib.sha256(data.read_bytes()).hexdigest()
    entry["sha256"], entry["size"] = files_digest(entry["files"]), entry["size"] + 1
    lock_path.write_text(json.dumps(doc))
    golden.load_locked(golden_dir, "sentiment")  # the lock covers it
    assert main(["golden", "verify", str(golden_dir)]) == 1
    assert f"{data}: 1 item(s) repeat another item" in capsys.readouterr().err
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {golden_dir}\ngolden_sets:\n  - name: sentiment\n"
        "    task: classification\n    labels: [Positive, Negative]\n"
        "contamination: {check: false}\n"
    )
    url = "http://127.0.0.1:9/v1"  # never asked: the set is refused first
    rc = main(["gate", str(gate), "--candidate", url, "--base", url, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2, err
    n = len(SENTIMENT_ITEMS) + 1
    assert f"{data}: 1 item(s) repeat another item" in err, err
    assert f"lines 1, {n} (ids 's00', 'copy')" in err, err


def _hand_lock(golden_dir: Path, name: str) -> None:
    """The lock entry of ``name`` made to cover its files as they are now, as by hand (or by
    an older curagate that did not check what the current one refuses)."""
    from curagate.digest import files_digest

    lock_path = golden_dir / "lock.json"
    doc = json.loads(lock_path.read_text())
    entry = doc["sets"][name]
    for rel in entry["files"]:
        entry["files"][rel] = golden.sha256_file(golden_dir / name / rel)
    entry["sha256"] = files_digest(entry["files"])
    entry["size"] = sum(golden.count_items(golden_dir / name / rel) for rel in entry["files"])
    lock_path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("option", "says"),
    [
        # Found by attack: the right option " " (or "") was locked, and a model that
        # answered nothing scored 100%; null was shown as "None", which then scored.
        (" ", r'option B \(" "\) has no letter or digit'),
        ("", r'option B \(""\) has no letter or digit'),
        ("\u200b\u00a0", "option B .* has no letter or digit"),
        ("...", r'option B \("..."\) has no letter or digit'),
        (None, "option B is null, not text"),
        (True, "option B is true, not text"),
        (2, "option B is 2, not text"),
        (["x"], r'option B is \["x"\], not text'),
        # Found by attack: ["Paris", "Paris", "Rome"] was locked; the text named neither.
        ("a1", r'option B \("a1"\) reads as option A \("a1"\)'),
        (" A1.", r'option B \(" A1."\) reads as option A \("a1"\)'),
    ],
)
def test_a_multiple_choice_option_no_answer_can_name_is_refused(
    golden_dir: Path, tmp_path: Path, capsys, option: object, says: str
) -> None:
    items = [
        {"id": f"q{i}", "prompt": f"Question {i}?", "choices": [f"a{i}", f"b{i}"], "reference": 1}
        for i in range(3)
    ]
    d = write_set(golden_dir, "mc", "multiple_choice", items)
    golden.lock(golden_dir)
    items[1]["choices"][1] = option
    (d / "data.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    where = rf"{re.escape(str(d / 'data.jsonl'))}: line 2: item 'q1': field 'choices': {says}"
    assert main(["golden", "lock", str(golden_dir)]) == 2
    assert re.search(where, capsys.readouterr().err)
    # Locked before curagate checked options: the gate refuses the set before any model runs.
    _hand_lock(golden_dir, "mc")
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {golden_dir}\ngolden_sets:\n  - name: mc\n"
        "    task: multiple_choice\ncontamination: {check: false}\n"
    )
    url = "http://127.0.0.1:9/v1"  # never asked: the set is refused first
    rc = main(["gate", str(gate), "--candidate", url, "--base", url, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(where, err), err
    assert main(["golden", "verify", str(golden_dir)]) == 1
    assert re.search(where, capsys.readouterr().err)
