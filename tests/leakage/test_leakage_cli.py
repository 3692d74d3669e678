"""`curagate leakage`: exit codes, the three report files, the JSON schema, determinism."""

from __future__ import annotations

import gzip
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from curagate.cli import main

ITEM = (
    "Josh decides to try flipping a house. He buys a house for $80,000 and then puts in $50,000 "
    "in repairs. This increased the value of the house by 150%. How much profit did he make?"
)
SHORT = "Name the largest planet."


def write(path: Path, texts: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: t}) + "\n" for t in texts), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "ref": write(tmp_path / "test.jsonl", [ITEM, SHORT], field="question"),
        "leaky": write(tmp_path / "leaky.jsonl", ["a clean line of text here", f"Q: {ITEM}"]),
        "clean": write(tmp_path / "clean.jsonl", ["a clean line of text here"]),
        "out": tmp_path / "report",
    }


def run(files: dict[str, Path], corpus: str, *extra: str) -> int:
    return main(
        [
            "leakage",
            "--reference",
            str(files["ref"]),
            "--reference-text-field",
            "question",
            "--corpus",
            str(files[corpus]),
            "--out",
            str(files["out"]),
            *extra,
        ]
    )


def test_leak_with_fail_on_leak_exits_1(files: dict[str, Path]) -> None:
    assert run(files, "leaky", "--fail-on-leak") == 1


def leaks(files: dict[str, Path]) -> list[dict[str, Any]]:
    report = json.loads((files["out"] / "leakage.json").read_text(encoding="utf-8"))
    return list(report["leaks"])


def test_the_report_written_reads_back_through_its_artifact_contract(
    files: dict[str, Path],
) -> None:
    # leakage.json went to schema 5, then 6; LeakageReportDoc read 4 and refused the
    # report curagate had just written as "newer than this curagate reads".
    from curagate.artifacts import LeakageReportDoc, read_artifact

    assert run(files, "leaky") == 0
    loaded = read_artifact(LeakageReportDoc, files["out"] / "leakage.json")
    assert loaded.doc.summary.leaked_reference_items == 1


def test_leak_without_fail_on_leak_exits_0(files: dict[str, Path]) -> None:
    # Exit 0 because the flag is off, not because nothing was found.
    assert run(files, "leaky") == 0
    assert [leak["reference"]["row"] for leak in leaks(files)] == [0]  # ITEM, not SHORT


def test_a_repeated_corpus_or_reference_flag_adds_its_paths(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # Found by attack: a repeated --corpus (or --reference, or gate's --train-data) kept
    # only the last flag's paths: the leaky file was never scanned, "0 leaked", exit 0.
    assert run(files, "leaky", "--corpus", str(files["clean"]), "--fail-on-leak") == 1
    other = write(tmp_path / "other.jsonl", ["an unrelated question of its own"], "question")
    assert run(files, "leaky", "--reference", str(other), "--fail-on-leak") == 1
    from curagate.cli import build_parser

    argv = ["gate", "g.yaml", "--candidate", "c", "--base", "b", "--out", "o"]
    args = build_parser().parse_args([*argv, "--train-data", "a", "b", "--train-data", "c"])
    assert args.train_data == ["a", "b", "c"]


def test_clean_corpus_with_fail_on_leak_exits_0(files: dict[str, Path]) -> None:
    assert run(files, "clean", "--fail-on-leak") == 0
    assert leaks(files) == []


def test_missing_corpus_path_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    files["missing"] = tmp_path / "nope.jsonl"
    assert run(files, "missing") == 2


@pytest.mark.parametrize("fail_on_leak", [True, False], ids=["fail-on-leak", "report-only"])
def test_a_corpus_without_a_record_exits_2_naming_its_files(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fail_on_leak: bool,
) -> None:
    # It passed --fail-on-leak with "corpus records scanned: 0", exit 0; curate, split,
    # audit and check refuse such inputs.
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n", encoding="utf-8")
    files["empty"] = tmp_path / "empty.jsonl"
    extra = ["--corpus", str(tmp_path / "blank.jsonl")]

    assert run(files, "empty", *extra, *(["--fail-on-leak"] if fail_on_leak else [])) == 2
    err = capsys.readouterr().err
    assert "no records found in 2 input file(s)" in err
    assert "empty.jsonl" in err and "blank.jsonl" in err
    assert not files["out"].exists()


def test_reference_without_the_named_field_exits_2(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["ref"] = write(files["ref"], [ITEM], field="prompt_text")
    assert run(files, "leaky") == 2
    assert "test.jsonl" in capsys.readouterr().err


def test_empty_reference_set_exits_2(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["ref"].write_text("", encoding="utf-8")
    assert run(files, "leaky") == 2
    assert "reference set is empty" in capsys.readouterr().err
    # curate's is --decontaminate: the message named leakage's --reference alone.
    out = files["ref"].parent / "curated"
    assert main(["curate", str(files["leaky"]), "--out", str(out), "--decontaminate",
                 str(files["ref"])]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "reference set is empty" in err and "`curate --decontaminate`" in err


def test_an_unreadable_template_file_names_where_it_was_given(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given in a config, it was "--templates 'nonexist.txt'", a flag curate does not have
    # (then both forms; curate names the config key alone).
    config = tmp_path / "c.yaml"
    config.write_text("split:\n  enabled: true\n  templates: [nonexist.txt]\n")
    argv = ["curate", str(files["leaky"]), "--out", str(tmp_path / "o"), "--config", str(config)]
    assert main(argv) == 2
    assert "'nonexist.txt' (split.templates)" in capsys.readouterr().err


def test_a_reference_file_that_cannot_be_read_is_named_not_called_empty(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # A gzip file named .jsonl was "reference set is empty: no valid record in ...".
    files["ref"].write_bytes(gzip.compress(files["ref"].read_bytes()))
    assert run(files, "leaky") == 2
    err = capsys.readouterr().err
    assert "the file is gzip-compressed but named .jsonl; rename it to end in .jsonl.gz" in err
    assert "empty" not in err


def test_writes_json_markdown_and_html(files: dict[str, Path]) -> None:
    run(files, "leaky")
    names = sorted(p.name for p in files["out"].iterdir())
    assert names == [".curagate-output.json", "leakage.html", "leakage.json", "leakage.md"]


def test_the_reports_replace_only_a_previous_leakage_output(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack (gate and audit, which wrote theirs the same way): the reports were
    # written one by one into --out, so a killed or concurrent run left two runs' files
    # side by side looking complete, and a folder of the user's named like a report file
    # was deleted to make room for it.
    out = files["out"]
    (out / "leakage.html").mkdir(parents=True)
    (out / "leakage.html" / "index.html").write_text("mine")
    assert run(files, "leaky") == 2
    assert "is not a curagate output" in capsys.readouterr().err
    assert (out / "leakage.html" / "index.html").read_text() == "mine"
    # What an earlier curagate wrote (the three files, no marker) is replaced as a whole.
    (out / "leakage.html" / "index.html").unlink()
    (out / "leakage.html").rmdir()
    for name in ("leakage.json", "leakage.md", "leakage.html"):
        (out / name).write_text("old")
    assert run(files, "clean") == 0
    assert json.loads((out / "leakage.json").read_text())["summary"]["leaked_reference_items"] == 0
    assert (out / ".curagate-output.json").is_file()
    # A file of the user's added beside a marked output (the marker names what the output
    # held: such notes were deleted by the next run), or among unmarked report files.
    (out / "notes.txt").write_text("mine")
    assert run(files, "leaky") == 2
    assert "holds notes.txt, which the previous leakage output did not write" in (
        capsys.readouterr().err
    )
    (out / ".curagate-output.json").unlink()
    assert run(files, "leaky") == 2 and (out / "notes.txt").read_text() == "mine"


def test_json_matches_the_published_schema(files: dict[str, Path]) -> None:
    run(files, "leaky")
    schema = json.loads(
        resources.files("curagate.leakage").joinpath("leakage.schema.json").read_text()
    )
    report = json.loads((files["out"] / "leakage.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)
    [leak] = report["leaks"]
    assert leak["matches"][0]["row"] == 1
    assert [i["row"] for i in report["reference"]["too_short_for_ngram"]] == [1]


def test_reports_are_byte_identical_across_runs(files: dict[str, Path]) -> None:
    run(files, "leaky")
    first = {p.name: p.read_bytes() for p in files["out"].iterdir()}
    run(files, "leaky")
    assert {p.name: p.read_bytes() for p in files["out"].iterdir()} == first


def test_html_loads_nothing_from_outside(files: dict[str, Path]) -> None:
    run(files, "leaky")
    page = (files["out"] / "leakage.html").read_text(encoding="utf-8")
    assert "<mark>" in page
    for external in ("http://", "https://", "src=", "<link", "@import"):
        assert external not in page


def test_reports_name_corpus_records_by_line_as_check_does(
    files: dict[str, Path], tmp_path: Path
) -> None:
    # The leaking record on line 6 (after blank lines) was shown as `blank.jsonl:2`, its
    # 0-based row, where check and audit say `blank.jsonl:6`; the reference item as
    # `test.jsonl:0`.
    corpus = tmp_path / "blank.jsonl"
    corpus.write_text(
        '{"text": "one clean row"}\n\n\n{"text": "two clean"}\n\n'
        + json.dumps({"text": f"Q: {ITEM}"})
        + "\n"
    )
    files["blank"] = corpus
    assert run(files, "blank") == 0
    page = (files["out"] / "leakage.html").read_text(encoding="utf-8")
    md = (files["out"] / "leakage.md").read_text(encoding="utf-8")
    assert "blank.jsonl:6" in page and "blank.jsonl:2" not in page
    assert "test.jsonl row 0" in md and "test.jsonl:0" not in md


def test_missing_reference_path_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    files["ref"] = tmp_path / "no_golden_sets"
    assert run(files, "leaky") == 2


def test_out_that_is_a_file_or_inside_an_input_folder_exits_2(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = files["leaky"].read_bytes()
    files["out"] = files["leaky"]  # --out equal to the corpus file
    assert run(files, "leaky") == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert files["leaky"].read_bytes() == before
    folder = tmp_path / "corpus"
    folder.mkdir()
    files["folder"] = write(folder / "a.jsonl", [f"Q: {ITEM}"]).parent
    files["out"] = folder / "report"  # the next run would scan the reports
    assert run(files, "folder") == 2
    assert "inside input folder" in capsys.readouterr().err
    assert not files["out"].exists()


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--threads", "100000"),
        ("--threads", "0"),
        ("--threads", "-1"),
        ("--paraphrase-threshold", "nan"),
    ],
)
def test_out_of_range_flags_exit_2_before_reading(
    files: dict[str, Path], flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # --threads 100000 was obeyed (every thread started: minutes on two records), 0
    # was taken for "all cores", and a NaN paraphrase threshold passed unnoticed.
    with pytest.raises(SystemExit) as exc:
        run(files, "leaky", flag, value)
    assert exc.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    assert not files["out"].exists()


@pytest.mark.parametrize("threads", [0, -1, 5000])
def test_leakage_index_refuses_thread_counts_out_of_range(threads: int) -> None:
    from curagate.errors import ConfigError
    from curagate.leakage import LeakageIndex

    with pytest.raises(ConfigError, match=r"`threads`: must be in 1\.\.1024"):
        LeakageIndex(threads=threads)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_an_unreadable_reference_says_why_not_only_which_fields_were_tried(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every read error was taken for "no field found": the message sent the user to
    # --reference-text-field, never naming the permission problem.
    reference = write(tmp_path / "locked.jsonl", ["a reference item"], field="question")
    reference.chmod(0)
    try:
        code = main(
            [
                "leakage",
                "--reference",
                str(reference),
                "--corpus",
                str(files["clean"]),
                "--out",
                str(tmp_path / "o"),
            ]
        )
    finally:
        reference.chmod(0o644)
    assert code == 2
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--reference-text-field", "nope"], "the text field 'nope' (--reference-text-field)"),
        (
            ["--reference-text-field", "question", "--reference-format", "chat"],
            "('question': --reference-text-field) given with format chat",
        ),
    ],
)
def test_a_bad_reference_text_field_names_the_reference_option(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], extra: list[str], said: str
) -> None:
    # The reader's message named --text-field (the corpus's), which the user had not passed.
    args = ["leakage", "--reference", str(files["ref"]), "--corpus", str(files["clean"])]
    assert main([*args, "--out", str(files["out"]), *extra]) == 2
    err = capsys.readouterr().err
    assert said in err and "--text-field" not in err


def test_the_summary_names_only_the_methods_that_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: with --methods ngram a verbatim copy of a 7-word item passed
    # --fail-on-leak (exit 0, as selected) under "exact 0, ngram 0, minhash 0" and "matched by
    # exact and minhash only": neither ran, and nothing looked for the item.
    ref = tmp_path / "r.jsonl"
    ref.write_text(json.dumps({"id": "s", "prompt": "What is the capital city of France?"}) + "\n")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "c", "text": "What is the capital city of France?"}) + "\n")
    argv = ["leakage", "--reference", str(ref), "--corpus", str(corpus), "--out"]
    capsys.readouterr()
    assert main([*argv, str(tmp_path / "o1"), "--methods", "ngram"]) == 0
    out = capsys.readouterr().out
    assert "leaked reference items: 0 (ngram 0);" in out
    assert "1 of them shorter than 8 words are NOT LOOKED FOR by any method selected" in out
    assert main([*argv, str(tmp_path / "o2"), "--methods", "exact"]) == 0
    out = capsys.readouterr().out
    assert "leaked reference items: 1 (exact 1);" in out
    assert "shorter than 13 words: matched by exact only" in out
