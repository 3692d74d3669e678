"""audit.json against its JSON Schema, the HTML's self-containment, determinism, the sample."""

from __future__ import annotations

import json
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from audit_support import write_records

from curagate.audit import AuditConfig, audit
from curagate.audit.report import SCHEMA_FILE
from curagate.cli import main


def records(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        turns = [
            ("user", f"question {i} about item {i * 13}"),
            ("assistant", "answer " + "a" * (i % 40)),
        ]
        if i % 4 == 0:
            turns += [("user", f"follow-up {i}"), ("assistant", "more " * (i % 7 + 1))]
        msgs = [{"role": r, "content": c} for r, c in turns]
        if i % 3 == 0:
            msgs.insert(0, {"role": "system", "content": "be brief"})
        out.append({"messages": msgs, "label": "pos" if i % 5 else "neg"})
    out.append({"messages": [{"role": "user", "content": "mail me: x.y@acme-corp.com"}]})
    out.append("{broken")
    return out


@pytest.fixture
def audited(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    data = write_records(tmp_path / "train.jsonl", records(60))
    out = tmp_path / "out"
    report = audit([data], config=AuditConfig(labels={"field": "label"}), out=out)  # type: ignore[arg-type]
    return report, out


def test_audit_json_validates_against_its_schema(audited: tuple[dict[str, Any], Path]) -> None:
    _, out = audited
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert doc["schema_version"] == 1


def test_schema_rejects_a_report_without_version(audited: tuple[dict[str, Any], Path]) -> None:
    _, out = audited
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    doc = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    del doc["schema_version"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


class _Resources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [
            v or "" for k, v in attrs if k in ("src", "href", "srcset", "data", "xlink:href")
        ]


def test_html_has_charts_and_no_external_resources(audited: tuple[dict[str, Any], Path]) -> None:
    _, out = audited
    html = (out / "report.html").read_text(encoding="utf-8")
    p = _Resources()
    p.feed(html)
    assert p.tags.count("svg") >= 4  # findings, length histograms, labels, mix
    assert not p.links
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(p.tags)
    assert "url(" not in html and "@import" not in html and "http" not in html


def test_html_shows_label_distribution_and_findings(audited: tuple[dict[str, Any], Path]) -> None:
    _, out = audited
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Label distribution" in html and "Findings by rule" in html and "FMT001" in html


def test_outputs_are_byte_identical_across_runs(tmp_path: Path) -> None:
    data = write_records(tmp_path / "train.jsonl", records(40))
    audit([data], out=tmp_path / "a")
    audit([data], out=tmp_path / "b")
    for name in ("audit.json", "audit.md", "report.html", "sample.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_sample_is_seeded_and_sized(tmp_path: Path) -> None:
    data = write_records(tmp_path / "train.jsonl", records(60))

    def sample(seed: int, out: str) -> list[str]:
        audit([data], config=AuditConfig(sample={"n": 10, "seed": seed}), out=tmp_path / out)  # type: ignore[arg-type]
        lines = (tmp_path / out / "sample.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(x)["ref"] for x in lines]

    a, b, c = sample(1, "a"), sample(1, "b"), sample(2, "c")
    assert len(a) == 10 and a == b and a != c


def test_sample_is_the_same_rows_however_the_path_is_spelled_or_sharded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sample hashed each row's `file:line`, the path as typed: `acorp`, `base/acorp` and
    # the absolute path picked 0 or 1 of 25 rows in common (by attack). It hashes the line
    # number within the file, never the path: the same rows however the path is spelled and
    # whether the files are audited in one pass or one task each (`--executor`).
    rows = records(80) + records(80)[:10]  # ten rows twice: equal contents
    base = tmp_path / "base"
    for k in range(4):
        write_records(base / "acorp" / f"shard{k}.jsonl", rows[k::4])
    cfg = AuditConfig(sample={"n": 25, "seed": 5})  # type: ignore[arg-type]

    def sample(data: str | Path, out: str, executor: str | None = None) -> list[str]:
        audit([data], config=cfg, out=tmp_path / out, executor=executor)
        lines = (tmp_path / out / "sample.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.dumps(json.loads(x)["record"], sort_keys=True) for x in lines]

    monkeypatch.chdir(base)
    relative = sample("acorp", "rel")
    absolute = sample(base / "acorp", "abs")
    per_file = sample("acorp", "local", executor="local")
    monkeypatch.chdir(tmp_path)
    parent = sample("base/acorp", "parent")
    assert len(relative) == 25
    assert relative == parent == absolute == per_file


def test_sample_is_uniform_over_rows_when_one_record_dominates(tmp_path: Path) -> None:
    # By attack: hashing only the dedup key made equal rows all-or-nothing, so a corpus 91%
    # one record showed none of it for most seeds and 12-22 copies of it for the others.
    same = {"messages": [{"role": "user", "content": "the same question"}]}
    rows: list[Any] = [{**same, "id": f"D{i}"} for i in range(228)]
    rows += [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(22)]
    data = write_records(tmp_path / "data.jsonl", rows)
    copies: list[int] = []
    for seed in range(5):
        out = tmp_path / f"s{seed}"
        audit([data], config=AuditConfig(sample={"n": 25, "seed": seed}), out=out)  # type: ignore[arg-type]
        lines = (out / "sample.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 25
        copies.append(sum("id" in json.loads(x)["record"] for x in lines))
    # About 25 x 228/250 = 22.8 copies a seed; the distinct rows get their share too.
    assert all(15 <= c <= 25 for c in copies), copies
    assert sum(25 - c for c in copies) >= 3, copies


def test_markdown_summarizes_status_and_findings(audited: tuple[dict[str, Any], Path]) -> None:
    report, out = audited
    md = (out / "audit.md").read_text(encoding="utf-8")
    assert md.startswith("# curagate audit") and "FAILED" in md
    assert all(f["rule"] in md for f in report["findings"])
    # Rows the reader quarantines are not all unreadable (an empty answer is FMT005): the
    # summary called every one "unreadable" (by attack: 8 of them, where FMT001 named 5).
    summary = "62 rows in 1 file(s); 61 valid, 1 quarantined by the reader (each under the rule"
    assert summary in md
    assert summary in (out / "report.html").read_text(encoding="utf-8")


def test_cli_exits_1_on_error_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_records(tmp_path / "train.jsonl", records(10))
    assert main(["audit", str(data), "--out", str(tmp_path / "o")]) == 1
    assert "FMT001 error" in capsys.readouterr().out


def test_cli_exits_0_without_error_findings(tmp_path: Path) -> None:
    data = write_records(
        tmp_path / "train.jsonl",
        [{"prompt": f"p {i}", "completion": "c" * (i + 1)} for i in range(12)],
    )
    assert main(["audit", str(data), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "report.html").is_file()


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("train.jsonl", "is the input file"),  # was FileExistsError: exit 3
        ("notes.txt", "exists and is not a directory"),  # likewise
        ("data", "inside input folder"),  # was accepted; the next run read sample.jsonl
        ("data/audit", "inside input folder"),
    ],
)
def test_cli_out_that_is_a_file_or_inside_an_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str, says: str
) -> None:
    (tmp_path / "data").mkdir()
    rows = [{"prompt": f"p {i}", "completion": "c"} for i in range(5)]
    data = write_records(tmp_path / "train.jsonl", rows)
    write_records(tmp_path / "data" / "more.jsonl", rows)
    (tmp_path / "notes.txt").write_text("mine\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["audit", str(data), str(tmp_path / "data"), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and f"--out {tmp_path / out}" in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_cli_missing_input_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_row_references_are_capped_but_counted(
    tmp_path: Path, run_audit: Callable[..., dict[str, Any]]
) -> None:
    bad = [{"prompt": "p", "chosen": f"same {i}", "rejected": f"same {i}"} for i in range(30)]
    report = run_audit(bad, {"max_row_refs": 5})
    f = next(x for x in report["findings"] if x["rule"] == "FMT006")
    assert f["count"] == 30 and len(f["rows"]) == 5 and f["rows_truncated"]


def test_audit_md_says_when_it_lists_fewer_rows_than_it_found(tmp_path: Path) -> None:
    # Found by attack: 30 rows, all kept (rows_truncated false), audit.md listed 20 with no
    # word that 10 more exist; "(first shown)" came only past max_row_refs, and gave no count.
    bad = [{"prompt": "p", "chosen": f"same {i}", "rejected": f"same {i}"} for i in range(30)]
    data = write_records(tmp_path / "d.jsonl", bad)

    def rows_line(n: int, refs: int) -> str:
        cfg = AuditConfig.model_validate({"max_row_refs": refs})
        audit([data], config=cfg, out=tmp_path / f"o{n}{refs}")
        md = (tmp_path / f"o{n}{refs}" / "audit.md").read_text(encoding="utf-8")
        return next(line for line in md.splitlines() if line.startswith("- **FMT006** rows"))

    line = rows_line(30, 100)
    assert line.startswith("- **FMT006** rows (first 20 of 30 shown): ")
    assert line.count("`") == 40 and "d.jsonl:20`" in line and "d.jsonl:21`" not in line
    assert rows_line(30, 5).startswith("- **FMT006** rows (first 5 of 30 shown): ")
    html = (tmp_path / "o305" / "report.html").read_text(encoding="utf-8")
    assert "row references (first 5 of 30 shown)</summary>" in html
    write_records(data, bad[:20])
    assert rows_line(20, 100).startswith("- **FMT006** rows: ")


def test_parquet_rows_are_referenced_by_1_based_row_number(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"prompt": ["a b", "c d", "a b"], "completion": ["x", "y", "x"]}), path)
    report = audit([path], out=tmp_path / "o")
    dup = next(f for f in report["findings"] if f["rule"] == "DUP001")
    assert dup["rows"] == [f"{path.as_posix()}:3"]


def test_data_derived_text_is_escaped_in_html(tmp_path: Path) -> None:
    recs = [
        {"prompt": f"p {i}", "completion": "c" * (i + 1), "label": "<script>alert(1)</script>"}
        for i in range(5)
    ]
    data = write_records(tmp_path / "train.jsonl", recs)
    audit([data], config=AuditConfig(labels={"field": "label"}), out=tmp_path / "o")  # type: ignore[arg-type]
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "&lt;script&gt;" in html


@pytest.mark.slow
def test_audit_without_tokenizer_never_imports_torch(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import curagate

    data = write_records(tmp_path / "train.jsonl", records(20))
    code = (
        "import sys\n"
        "from curagate.audit import audit\n"
        f"audit([{str(data)!r}], out={str(tmp_path / 'o')!r})\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(curagate.__file__).parents[1])}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout.split() == ["False", "False"]


def test_label_classes_that_differ_only_in_invisible_characters_are_told_apart(
    tmp_path: Path,
) -> None:
    # 'pos', 'pos ' and 'pos\u200b' are three classes; audit.md showed three rows of "pos".
    from curagate.audit import audit

    rows = [
        {"text": f"row {i}", "label": lab}
        for i, lab in enumerate(["pos"] * 5 + ["pos "] * 3 + ["pos\u200b"] * 2)
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "a.yaml"
    cfg.write_text("labels: {field: label, max_share: 1.0, min_share: 0.0}\n")
    audit([data], config=cfg, out=tmp_path / "out")
    md = (tmp_path / "out" / "audit.md").read_text()
    assert "| pos | 5 |" in md and "| 'pos ' | 3 |" in md and "| 'pos\\\\u200b' | 2 |" in md


def test_a_folder_that_only_looks_like_an_earlier_audit_output_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: a folder holding only names audit once wrote was taken for an earlier
    # output and replaced: a Great Expectations project in `gx/` (its default folder), or
    # a user's own sample.jsonl.
    data = write_records(tmp_path / "d.jsonl", records(5))
    gx = tmp_path / "proj" / "gx"
    (gx / "expectations").mkdir(parents=True)
    (gx / "great_expectations.yml").write_text("x\n")
    own = tmp_path / "mine"
    own.mkdir()
    (own / "sample.jsonl").write_text('{"mine": 1}\n')
    for out in (tmp_path / "proj", own):
        assert main(["audit", str(data), "--out", str(out)]) == 2
        assert "is not a curagate output" in capsys.readouterr().err
    assert (gx / "great_expectations.yml").read_text() == "x\n"
    assert (own / "sample.jsonl").read_text() == '{"mine": 1}\n'
    # what an earlier audit wrote (its audit.json among them) is replaced
    (own / "audit.json").write_text("{}")
    assert main(["audit", str(data), "--out", str(own)]) in (0, 1)
    assert (own / ".curagate-output.json").is_file()


def test_audit_scans_golden_sets_in_the_working_folder_as_check_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `check a.jsonl` failed a leak of ./golden_sets (LEAK001) that `audit a.jsonl` passed
    # without a word: no config named golden sets, and audit.md said nothing of leakage.
    monkeypatch.chdir(tmp_path)
    item = {"prompt": "Which walled city is the secret capital of the northern kingdom?"}
    write_records(tmp_path / "golden_sets" / "g.jsonl", [{"id": "g1", **item}])
    data = write_records(tmp_path / "a.jsonl", [{**item, "completion": "Zembla"}])
    assert main(["audit", "a.jsonl", "--out", "o"]) == 1
    report = json.loads((tmp_path / "o" / "audit.json").read_text(encoding="utf-8"))
    assert report["stats"]["leakage"]["golden_sets"] == ["golden_sets"]
    assert [f["rows"] for f in report["findings"] if f["rule"] == "LEAK001"] == [[f"{data.name}:1"]]
    # A config that names none scans them too (reading it marked them named: re-attack).
    (tmp_path / "audit.yaml").write_text("sft: true\n", encoding="utf-8")
    assert main(["audit", "a.jsonl", "--out", "o3", "--config", "audit.yaml"]) == 1
    # The config's `reference: []` names none: no leakage check, and the report says so.
    (tmp_path / "audit.yaml").write_text("leakage: {reference: []}\n", encoding="utf-8")
    assert main(["audit", "a.jsonl", "--out", "o2", "--config", "audit.yaml"]) == 0
    md = (tmp_path / "o2" / "audit.md").read_text(encoding="utf-8")
    assert "## Leakage\n\nNot checked: no golden sets were read" in md
    capsys.readouterr()
    # --no-golden checks none, whatever the config or ./golden_sets say.
    assert main(["audit", "a.jsonl", "--out", "o4", "--config", "audit.yaml", "--no-golden"]) == 0
    capsys.readouterr()
    # An output inside the golden sets would be read back as golden items next time (by
    # check too, when this audit did not read them).
    for skip in ([], ["--no-golden"]):
        assert main(["audit", "a.jsonl", "--out", "golden_sets/o", *skip]) == 2
        assert "inside the golden sets folder golden_sets" in capsys.readouterr().err
        assert not (tmp_path / "golden_sets" / "o").exists()


def test_audit_finds_the_golden_sets_beside_or_above_its_inputs_as_check_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by re-attack: audit read ./golden_sets only; run at a repository's root on
    # ml/data/, or inside ml/data/, it passed a verbatim item of ml/golden_sets that
    # `check` failed.
    git = tmp_path / ".git"  # a repository's, as git lays it out
    for sub in ("objects", "refs"):
        (git / sub).mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    item = {"prompt": "Which walled city is the secret capital of the northern kingdom?"}
    write_records(tmp_path / "ml" / "golden_sets" / "g.jsonl", [{"id": "g1", **item}])
    write_records(tmp_path / "ml" / "data" / "a.jsonl", [{**item, "completion": "Zembla"}])
    for cwd, data, golden in [
        (tmp_path, "ml/data/a.jsonl", "ml/golden_sets"),
        (tmp_path / "ml" / "data", "a.jsonl", str(tmp_path / "ml" / "golden_sets")),
    ]:
        monkeypatch.chdir(cwd)
        out = tmp_path / f"o{len(str(cwd))}"
        assert main(["audit", data, "--out", str(out)]) == 1
        report = json.loads((out / "audit.json").read_text(encoding="utf-8"))
        assert report["stats"]["leakage"]["golden_sets"] == [golden]
        assert [f["rule"] for f in report["findings"] if f["rule"] == "LEAK001"] == ["LEAK001"]
        assert main(["audit", data, "--out", str(out), "--no-golden"]) == 0
    capsys.readouterr()


def test_a_golden_sets_link_to_nowhere_is_refused_not_read_as_no_golden_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # ./golden_sets -> a share that is not mounted: audit passed a verbatim golden item
    # with no leakage check, as check did.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "golden_sets").symlink_to(tmp_path / "share" / "golden")
    write_records(tmp_path / "a.jsonl", [{"prompt": "p", "completion": "c"}])
    assert main(["audit", "a.jsonl", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert "golden_sets: a symbolic link to " in err and "mount it or fix the link" in err
    assert "`reference: []` checks none), or pass --no-golden" in err
    assert main(["audit", "a.jsonl", "--out", "o", "--no-golden"]) == 0
    (tmp_path / "none.yaml").write_text("leakage: {reference: []}\n", encoding="utf-8")
    assert main(["audit", "a.jsonl", "--out", "o", "--config", "none.yaml"]) == 0


def test_an_empty_golden_sets_folder_names_how_to_audit_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A ./golden_sets holding no set (a .gitkeep) was exit 2 naming no way out: audit had
    # no --no-golden (found by re-attack).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "golden_sets").mkdir()
    (tmp_path / "golden_sets" / ".gitkeep").touch()
    write_records(tmp_path / "a.jsonl", [{"prompt": "p", "completion": "c"}])
    assert main(["audit", "a.jsonl", "--out", "o"]) == 2
    err = capsys.readouterr().err
    assert "golden_sets: no golden item to check leakage against" in err
    assert "`reference: []` checks none), or pass --no-golden" in err
    assert main(["audit", "a.jsonl", "--out", "o", "--no-golden"]) == 0
    # LEAK001 switched off: no golden sets read, as check reads none (it was exit 2 here).
    (tmp_path / "off.yaml").write_text("rules: {LEAK001: {severity: 'off'}}\n", encoding="utf-8")
    assert main(["audit", "a.jsonl", "--out", "o2", "--config", "off.yaml"]) == 0
