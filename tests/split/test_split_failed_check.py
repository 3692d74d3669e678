"""A split whose run failed --fail-on-leak (exit 1) is written for inspection and recorded
as failed: `verify` exits 1 saying so and train refuses it without --allow-leakage. It was
a complete output (normal marker) that verify called ok and train accepted, the manifest
not saying the check was asked for or failed (found by attack); through `curate --split`
with split.fail_on_leak too, whose exit-1 run said "warning"."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.errors import CheckFailed
from curagate.io.outputs import MARKER_NAME
from curagate.train.data import check_curagate_outputs, read_records
from tests.split.test_split_cli import manifest, rows_sharing_a_passage, write_jsonl

FAILED = "failed the leak check its run was told to pass"


def leaky_split(tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    """A time split of rows where the newest (test) shares a 15-word passage with the
    oldest (train): one leak."""
    src = write_jsonl(tmp_path / "data.jsonl", rows_sharing_a_passage())
    out = tmp_path / "out"
    return ["split", str(src), "--out", str(out), "--time", "created", *extra], out


def reseal(out: Path, edit: Any) -> None:
    """Edit split_manifest.json and give the marker the run id of what it now holds."""
    path = out / "split_manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    marker = json.loads((out / MARKER_NAME).read_text())
    marker["run_id"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    (out / MARKER_NAME).write_text(json.dumps(marker))


def test_a_failed_fail_on_leak_split_is_recorded_and_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, out = leaky_split(tmp_path, "--fail-on-leak")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "error: 1 rows of val/test share a passage" in err
    assert "recorded as failing the check" in err
    verification = manifest(out)["verification"]
    assert (verification["fail_on_leak"], verification["passed"]) == (True, False)
    assert verification["leaks_total"] == 1

    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "3 files match the split manifest, but its split " + FAILED in err
    assert (
        "1 val/test row(s) leak: 1 share a passage with an earlier split, 1 are found by the "
        "`curagate leakage` scan"
    ) in err
    assert "e.g. test.parquet id 'r9' shares a passage with train.parquet id 'r0'" in err
    assert "--shared-passages join" in err and "--templates FILE" in err

    for name, role in (("train", "train"), ("val", "validation")):
        with pytest.raises(
            CheckFailed, match=f"data.{role}: {out}: its split {FAILED}.*--allow-leakage"
        ):
            read_records([str(out / f"{name}.parquet")], None, role)
    accepted = check_curagate_outputs([out / "train.parquet"], "train", allow_leakage=True)
    assert len(accepted) == 1 and FAILED in accepted[0]


def test_the_verdict_cannot_be_edited_away_unnoticed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, out = leaky_split(tmp_path, "--fail-on-leak")
    assert main(argv) == 1
    path = out / "split_manifest.json"
    data = json.loads(path.read_text())
    data["verification"]["passed"] = True
    path.write_text(json.dumps(data))
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "changed after the run" in capsys.readouterr().err


def test_a_passing_or_unasked_check_verifies_and_trains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Leaks without --fail-on-leak: a warning, exit 0, the verdict recorded, not a failure.
    argv, out = leaky_split(tmp_path)
    assert main(argv) == 0
    verification = manifest(out)["verification"]
    assert (verification["fail_on_leak"], verification["passed"]) == (False, False)
    assert main(["verify", str(out)]) == 0
    assert check_curagate_outputs([out / "train.parquet"], "train") == []
    # --fail-on-leak that passes (the rows kept together)
    assert main([*argv, "--shared-passages", "join", "--fail-on-leak"]) == 0
    verification = manifest(out)["verification"]
    assert (verification["fail_on_leak"], verification["passed"]) == (True, True)
    assert main(["verify", str(out)]) == 0
    assert check_curagate_outputs([out / "val.parquet"], "validation") == []


def test_a_manifest_from_before_the_verdict_was_recorded_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, out = leaky_split(tmp_path)
    assert main(argv) == 0

    def drop(data: dict[str, Any]) -> None:
        del data["verification"]["fail_on_leak"], data["verification"]["passed"]

    reseal(out, drop)
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    assert "ok, 3 files match the split manifest" in capsys.readouterr().out
    assert check_curagate_outputs([out / "train.parquet"], "train") == []


def test_curate_split_with_fail_on_leak_says_error_and_its_output_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", rows_sharing_a_passage())
    config = tmp_path / "c.yaml"
    config.write_text("split: {time: created, fail_on_leak: true}\n")
    out = tmp_path / "cur"
    assert main(["curate", str(src), "--out", str(out), "--split", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "curagate curate: error: 1 cross-split leak(s) (split.fail_on_leak)" in err
    assert "warning: 1 cross-split" not in err
    verification = manifest(out / "splits")["verification"]
    assert (verification["fail_on_leak"], verification["passed"]) == (True, False)

    assert main(["verify", str(out)]) == 1
    err = capsys.readouterr().err
    assert "files match the curate manifest, but its split " + FAILED in err
    assert "splits/split_manifest.json" in err and "split.shared_passages: join" in err
    assert main(["verify", str(out / "splits")]) == 1
    assert FAILED in capsys.readouterr().err
    with pytest.raises(CheckFailed, match=FAILED):
        read_records([str(out / "splits" / "train.parquet")], None)


def test_curate_split_leaks_without_fail_on_leak_stay_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_jsonl(tmp_path / "data.jsonl", rows_sharing_a_passage())
    config = tmp_path / "c.yaml"
    config.write_text("split: {time: created}\n")
    out = tmp_path / "cur"
    assert main(["curate", str(src), "--out", str(out), "--split", "--config", str(config)]) == 0
    assert "curagate curate: warning: 1 cross-split leak(s)" in capsys.readouterr().err
    assert main(["verify", str(out)]) == 0
    assert check_curagate_outputs([out / "splits" / "train.parquet"], "train") == []


def test_a_strict_verdict_that_contradicts_the_quarantine_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --strict run that failed, its manifest edited to strict.passed: true and the marker
    resealed, was verify ok: nothing compared the verdict with the quarantine's rows."""
    src = tmp_path / "data.jsonl"
    rows = [
        {"id": f"r{i}", "prompt": f"question {i} about thing {i * 7}", "completion": "a"}
        for i in range(30)
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "bad", "prompt": "x"\n')
    out = tmp_path / "out"
    assert main(["split", str(src), "--out", str(out), "--strict"]) == 1
    reseal(out, lambda data: data["strict"].update(passed=True))
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "strict.passed true, but quarantined.rows 1" in capsys.readouterr().err


def test_train_help_names_every_failed_check_allow_leakage_covers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It said a split that failed --fail-on-leak only; train refuses curate outputs and
    failed --strict runs too unless --allow-leakage."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "or is a split or curate output whose run failed its --fail-on-leak" in text
    assert "--strict check" in text
