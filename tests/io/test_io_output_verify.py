"""A curate or split output re-checked against its manifest: `curagate verify DIR`, and
`curagate train` refusing data from an output changed after it was written (nothing
read a curate output's manifest back before)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from curagate.cli import main
from curagate.curate import curate
from curagate.errors import InputError
from curagate.split import split
from curagate.train.data import read_records


@pytest.fixture
def curated(tmp_path: Path, write_jsonl: Callable[..., Path]) -> Path:
    rows = [
        {"prompt": f"question number {i} about topic {i * 7} and more", "completion": f"answer {i}"}
        for i in range(40)
    ]
    src = write_jsonl("in/data.jsonl", [*rows, rows[0], {"prompt": "", "completion": "x"}])
    out = tmp_path / "curated"
    curate([src], out)
    return out


def verify(folder: Path, *extra: str) -> int:
    return main(["verify", str(folder), *extra])


def test_an_untouched_curate_output_verifies(
    curated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(curated) == 0
    out = capsys.readouterr().out
    assert "files match the curate manifest" in out
    assert read_records([str(curated / "kept")], None).rows


def _edit_shard(folder: Path) -> None:
    shard = sorted((folder / "kept").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")


def _add_file(folder: Path) -> None:
    (folder / "kept" / "part-99999.parquet").write_bytes(b"PAR1")


def _remove_file(folder: Path) -> None:
    (folder / "quarantine.jsonl").unlink()


def _link_file(folder: Path) -> None:
    shard = sorted((folder / "kept").glob("*.parquet"))[0]
    copy = folder.parent / "elsewhere.parquet"
    copy.write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(copy)


def _edit_manifest(folder: Path) -> None:
    # A tired engineer "fixes" the manifest to match a replaced shard.
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = [f for f in manifest["files"] if f["path"] != "quarantine.jsonl"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (folder / "quarantine.jsonl").unlink()


def _nest_manifest(folder: Path) -> None:
    (folder / "manifest.json").write_text("[" * 200_000, encoding="utf-8")


# Each of these hung verify (a FIFO), ran it out of memory (exit 3), or passed it (exit 0).
def _fifo_stats(folder: Path) -> None:
    (folder / "stats.json").unlink()
    os.mkfifo(folder / "stats.json")


def _huge_manifest(folder: Path) -> None:
    with (folder / "manifest.json").open("r+b") as f:
        f.truncate((1 << 30) + 1)  # sparse: no disk, but read whole it was 1 GiB of memory


def _hard_link_shard(folder: Path) -> None:
    shard = sorted((folder / "kept").glob("*.parquet"))[0]
    os.link(shard, folder.parent / "other-name.parquet")  # its owner can change the bytes


def _link_manifest(folder: Path) -> None:
    copy = folder.parent / "manifest-copy.json"
    copy.write_bytes((folder / "manifest.json").read_bytes())
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").symlink_to(copy)


def _add_folder(folder: Path) -> None:
    (folder / "kept" / "more").mkdir()


def _resealed(folder: Path, edit: Callable[[dict[str, Any], dict[str, Any]], None]) -> None:
    """Edit stats.json and manifest.json, then give the marker the run id of what they
    now hold: every hash agrees, only the numbers are false."""
    import hashlib

    stats = json.loads((folder / "stats.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(stats, manifest)
    (folder / "stats.json").write_text(json.dumps(stats))
    for entry in manifest["files"]:
        entry["sha256"] = hashlib.sha256((folder / entry["path"]).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    ident = (folder / "stats.json").read_bytes() + (folder / "manifest.json").read_bytes()
    marker = json.loads((folder / ".curagate-output.json").read_text())
    marker["run_id"] = hashlib.sha256(ident).hexdigest()[:16]
    (folder / ".curagate-output.json").write_text(json.dumps(marker))


def _one_more_kept(folder: Path) -> None:
    def edit(stats: dict[str, Any], manifest: dict[str, Any]) -> None:
        stats["totals"]["kept"] += 1
        stats["totals"]["removed"]["exact"] -= 1

    _resealed(folder, edit)


def _rows_off(folder: Path) -> None:
    def edit(stats: dict[str, Any], manifest: dict[str, Any]) -> None:
        entry = next(e for e in manifest["files"] if e["path"].startswith("kept/"))
        entry["rows"] += 1

    _resealed(folder, edit)


def _input_rows_off(folder: Path) -> None:
    def edit(stats: dict[str, Any], manifest: dict[str, Any]) -> None:
        stats["totals"]["input_rows"] += 5

    _resealed(folder, edit)


def _repeated_key(folder: Path) -> None:
    """A manifest entry that says its row count twice, the marker resealed: Python's reader
    kept the last (found by attack: exit 0, where a reader keeping the first sees 999)."""
    import hashlib

    text = (folder / "manifest.json").read_text()
    edited = text.replace('"rows": ', '"rows": 999, "rows": ', 1)
    assert edited != text
    (folder / "manifest.json").write_text(edited)
    ident = (folder / "stats.json").read_bytes() + edited.encode()
    marker = json.loads((folder / ".curagate-output.json").read_text())
    marker["run_id"] = hashlib.sha256(ident).hexdigest()[:16]
    (folder / ".curagate-output.json").write_text(json.dumps(marker))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_nest_manifest, "manifest.json: not a manifest curate writes"),
        (_repeated_key, "manifest.json: not a manifest curate writes"),
        (_edit_shard, "contents changed"),
        (_add_file, "not listed in manifest.json"),
        (_remove_file, "listed but missing"),
        (_link_file, "not a regular file"),
        (_edit_manifest, "changed after the run"),
        (_fifo_stats, "stats.json: not a regular file"),
        (_huge_manifest, "manifest.json: larger than 1,073,741,824 bytes"),
        (_hard_link_shard, "parquet: a hard link"),
        (_link_manifest, "manifest.json: a symbolic link"),
        (_add_folder, "kept/more/: a folder not in manifest.json"),
        # Numbers that are not the files', with every hash made to agree: verify passed
        # (a staged run's edited done.json put such counts in both).
        (_one_more_kept, "stats.json: kept 41, but the output holds 40"),
        (_rows_off, "kept/part-00000.parquet: holds 40 records, manifest.json says 41"),
        (_input_rows_off, "stats.json: input_rows 47, but kept, removed and quarantined add"),
    ],
)
def test_a_changed_curate_output_fails_verify_and_train_refuses_it(
    curated: Path,
    change: Callable[[Path], None],
    problem: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    change(curated)
    assert verify(curated) == 1
    assert problem in capsys.readouterr().err
    with pytest.raises(InputError, match=f"changed after `curagate curate`.*{problem}"):
        read_records([str(curated / "kept")], None)


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_marker_that_is_not_a_file_fails_verify_without_waiting(
    curated: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = curated / ".curagate-output.json"
    copy = tmp_path / "marker-copy.json"
    copy.write_bytes(marker.read_bytes())
    marker.unlink()
    if kind == "fifo":
        os.mkfifo(marker)  # verify read it and waited for a writer forever
    else:
        marker.symlink_to(copy)  # and passed this one
    assert verify(curated) == 1
    assert "not a curagate marker" in capsys.readouterr().err


def test_an_output_whose_marker_was_removed_fails_verify_naming_it(
    curated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # verify fell back to an exported bundle's check: "no MANIFEST.json; this is not an
    # exported curagate bundle", exit 2.
    (curated / ".curagate-output.json").unlink()
    assert verify(curated) == 1
    err = capsys.readouterr().err
    assert ".curagate-output.json: missing" in err and "curate output's manifest.json" in err


def test_train_checks_the_output_a_link_to_a_shard_points_into(
    curated: Path, tmp_path: Path
) -> None:
    shard = sorted((curated / "kept").glob("*.parquet"))[0]
    link = tmp_path / "link.parquet"
    link.symlink_to(shard)
    _edit_shard(curated)
    with pytest.raises(InputError, match=r"changed after `curagate curate`.*contents changed"):
        read_records([str(link)], None)


def test_a_changed_split_output_fails_verify_and_train_refuses_it(
    curated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    splits = tmp_path / "splits"
    split([curated / "kept"], splits, ratios=(0.6, 0.2, 0.2))
    assert verify(splits) == 0
    assert "files match the split manifest" in capsys.readouterr().out
    train = splits / "train.parquet"
    train.write_bytes(train.read_bytes()[:-1] + b"\0")
    assert verify(splits) == 1
    assert "train.parquet: contents changed" in capsys.readouterr().err
    with pytest.raises(InputError, match="split output changed"):
        read_records([str(train)], None)


def test_a_folder_inside_an_output_names_the_output(
    curated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(curated / "kept") == 2
    assert f"run `curagate verify {curated}`" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["curate", "split", "audit", "leakage", "import-gguf"])
def test_an_out_inside_another_output_is_refused_and_the_output_still_verifies(
    curated: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `split curated/kept --out curated/mysplit` (or a report) wrote into the curate output:
    # from then on `verify` called it changed (a folder not in its manifest) and train
    # refused its data. `model import-gguf --out` was not checked at all (found by attack).
    data = str(curated / "kept")
    out = str(curated / "inside")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16)
    argv = {
        "curate": ["curate", data, "--out", out],
        "split": ["split", data, "--out", out],
        "audit": ["audit", data, "--out", out],
        "leakage": ["leakage", "--corpus", data, "--reference", data, "--out", out],
        "import-gguf": ["model", "import-gguf", str(gguf), "--out", out],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: is inside a curagate output ({curated}, which has " in err
    assert not (curated / "inside").exists()
    assert verify(curated) == 0


@pytest.mark.parametrize("command", ["curate", "import-gguf", "keys"])
def test_an_out_inside_a_training_run_is_refused(
    curated: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: `model import-gguf --out runs/x/adapter/sub` (or `curate --out
    # runs/x/adapter/c`) wrote into the run's adapter, and export then refused the run
    # ("adapter files changed since training").
    run = tmp_path / "runs" / "x"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    record = {"schema_version": 2, "name": "x", "base_model": {"path": "b"}}
    (run / "run.json").write_text(json.dumps({**record, "adapter_dir": "adapter"}))
    out = str(run / "adapter" / "sub")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16)
    argv = {
        "curate": ["curate", str(curated / "kept"), "--out", out],
        "import-gguf": ["model", "import-gguf", str(gguf), "--out", out],
        "keys": ["keys", "generate", "--out", out],
    }[command]
    assert main(argv) == 2
    assert f"--out {out}: is inside a training run ({run}, which has run.json)" in (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in (run / "adapter").iterdir()) == ["adapter_config.json"]


def test_a_work_folder_or_keys_inside_another_output_are_refused(
    curated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # By re-attack: `curate --work-dir curated/wd` and `keys generate --out curated/keys`
    # wrote into the curate output, which `verify` then called changed.
    data = str(curated / "kept")
    argv = ["curate", data, "--out", str(tmp_path / "new"), "--work-dir", str(curated / "wd")]
    assert main(argv) == 2
    assert f"--work-dir {curated / 'wd'}: is inside a curagate output" in capsys.readouterr().err
    assert main(["keys", "generate", "--out", str(curated / "keys")]) == 2
    assert f"--out {curated / 'keys'}: is inside a curagate output" in capsys.readouterr().err
    assert verify(curated) == 0


def test_signature_flags_are_for_bundles_only(
    curated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(curated, "--digest", "0" * 64) == 2
    assert "apply to exported bundles" in capsys.readouterr().err


def test_curate_split_is_checked_by_both_manifests(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # Rewriting splits/ with a consistent split manifest and marker still leaves the
    # curate output's manifest, which covers splits/, to catch it.
    rows = [
        {"prompt": f"question {i} on subject {i * 3} here", "completion": "a"} for i in range(30)
    ]
    out = tmp_path / "curated"
    curate([write_jsonl("in/d.jsonl", rows)], out, split__enabled=True)
    train = out / "splits" / "train.parquet"
    assert read_records([str(train)], None).rows
    other = tmp_path / "other"
    split([out / "kept"], other, ratios=(0.5, 0.25, 0.25))
    for name in ("train.parquet", "val.parquet", "test.parquet", "split_manifest.json"):
        (out / "splits" / name).write_bytes((other / name).read_bytes())
    (out / "splits" / ".curagate-output.json").write_bytes(
        (other / ".curagate-output.json").read_bytes()
    )
    with pytest.raises(InputError, match=r"curated: this curate output changed.*splits/"):
        read_records([str(train)], None)


def test_train_refuses_what_a_curate_output_removed_or_quarantined(
    curated: Path, tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # Found by attack: a glob over the output (`curated/*/*.parquet`) trained on removed/ too,
    # the duplicates and golden-set leaks curate had just taken out; the output folder itself
    # was "cannot tell the record format" of clusters.parquet, advice that led in circles.
    with pytest.raises(
        InputError,
        match=r"removed/part-00000.parquet of the curate output .* "
        r"holds the records it removed .*give data.train its kept/",
    ):
        read_records([str(curated / "*" / "*.parquet")], None)
    with pytest.raises(InputError, match=r"of the curate output .*give data.train its kept/"):
        read_records([str(curated)], None)
    (tmp_path / "link.parquet").symlink_to(curated / "removed" / "part-00000.parquet")
    with pytest.raises(InputError, match="holds the records it removed"):
        read_records([str(tmp_path / "link.parquet")], None)  # read through a link
    with pytest.raises(InputError, match=r"quarantine\.jsonl of the curate output"):
        read_records([str(curated / "quarantine.jsonl")], None)
    rows = [
        {"prompt": f"question {i} on subject {i * 3} here", "completion": "a"} for i in range(9)
    ]
    rows.append({"prompt": "", "completion": "x"})
    parted = tmp_path / "parted"
    split([write_jsonl("in/s.jsonl", rows)], parted, ratios=(0.5, 0.25, 0.25))
    assert (parted / "quarantine.jsonl").is_file()
    assert read_records([str(parted / "train.parquet")], None).rows
    with pytest.raises(
        InputError,
        match=r"quarantine\.jsonl of the split output .*; give data.train its train.parquet$",
    ):
        read_records([str(parted / "quarantine.jsonl")], None)
    # Found by the re-attack: a run given the output's splits (as the refusal above advised)
    # trained on its val and test splits too; the test split is the gate's.
    for held_out in ("val", "test"):
        with pytest.raises(
            InputError,
            match=rf"{held_out}.parquet of the split output .*holds the {held_out} split, not data.train's; give data.train its train.parquet$",
        ):
            read_records([str(parted / f"{held_out}.parquet")], None)
    with pytest.raises(InputError, match=r"test.parquet .*give data.validation its val.parquet$"):
        read_records([str(parted / "*.parquet")], None, "validation")
    assert read_records([str(parted / "val.parquet")], None, "validation").rows


def test_train_reads_only_its_own_split_of_a_curate_output_with_splits(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # Found by the re-attack: data.train given a curate output's splits/ trained on its
    # val.parquet and test.parquet too (exit 0, no word), so the gate's held-out split was
    # in the adapter's training data.
    rows = [
        {"prompt": f"question {i} about subject {i * 13} here", "completion": "a"}
        for i in range(30)
    ]
    out = tmp_path / "curated"
    assert main(["curate", str(write_jsonl("in/d.jsonl", rows)), "--out", str(out), "--split"]) == 0
    with pytest.raises(
        InputError,
        match=r"test.parquet of the split output .*/splits holds the test split, not data.train's; give data.train its train.parquet$",
    ):
        read_records([str(out / "splits")], None)
    assert read_records([str(out / "splits" / "train.parquet")], None).rows
    # ... nor its kept/, which holds every split (the re-attack trained on it: 20 of 20 test
    # rows inside)
    with pytest.raises(
        InputError,
        match=r"kept/part-00000.parquet of the curate output .*holds every record it kept, its val and test splits too; give data.train its splits/train.parquet$",
    ):
        read_records([str(out / "kept")], None)
    with pytest.raises(InputError, match=r"give data.validation its val.parquet$"):
        read_records([str(out / "splits" / "test.parquet")], None, "validation")
    assert read_records([str(out / "splits" / "val.parquet")], None, "validation").rows
