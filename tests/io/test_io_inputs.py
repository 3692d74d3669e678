"""expand_inputs: files, directories, globs -> sorted shards, or a clear InputError."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from curagate.errors import InputError
from curagate.io import expand_inputs, read_batches

ROW = {"text": "hello"}


def test_directory_is_searched_recursively_for_every_supported_suffix(
    tmp_path: Path, write_jsonl: Callable[..., Path], write_parquet: Callable[..., Path]
) -> None:
    write_jsonl("d/a.jsonl", [ROW])
    write_jsonl("d/sub/b.jsonl.gz", [ROW])
    write_jsonl("d/sub/deeper/c.jsonl.zst", [ROW])
    write_parquet("d/e.parquet", [ROW])
    (tmp_path / "d" / "notes.txt").write_text("not a shard")

    found = expand_inputs([tmp_path / "d"])

    assert [p.relative_to(tmp_path / "d").as_posix() for p in found] == [
        "a.jsonl",
        "e.parquet",
        "sub/b.jsonl.gz",
        "sub/deeper/c.jsonl.zst",
    ]


def test_hidden_and_underscore_files_in_a_directory_are_not_shards(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    write_jsonl("d/a.jsonl", [ROW])
    write_jsonl("d/.a.jsonl.tmp.jsonl", [ROW])
    write_jsonl("d/_tmp/b.jsonl", [ROW])

    assert expand_inputs([tmp_path / "d"]) == [tmp_path / "d" / "a.jsonl"]


def test_glob_matches_shards(tmp_path: Path, write_jsonl: Callable[..., Path]) -> None:
    write_jsonl("x/part-1.jsonl", [ROW])
    write_jsonl("x/part-2.jsonl", [ROW])
    write_jsonl("x/other.jsonl", [ROW])

    found = expand_inputs([str(tmp_path / "x" / "part-*.jsonl")])

    assert [p.name for p in found] == ["part-1.jsonl", "part-2.jsonl"]


def test_a_recursive_glob_reads_each_folder_once_through_a_link_back_up(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # glob's `**` followed `d/self -> .` 40 levels deep (exit 2: `d/self/self/...: not a
    # regular file`); with two such links it never finished (so one here: a regression
    # fails instead of hanging). As for the folder itself.
    a = write_jsonl("d/a.jsonl", [ROW])
    b = write_jsonl("d/sub/b.jsonl", [ROW])
    write_jsonl("d/sub/.hidden/c.jsonl", [ROW])
    (tmp_path / "d" / "link.jsonl").symlink_to("a.jsonl")
    (tmp_path / "d" / "self").symlink_to(".")

    found = expand_inputs([str(tmp_path / "d" / "**" / "*.jsonl")])

    assert found == [a, b] == expand_inputs([tmp_path / "d"])


def test_a_recursive_glob_walks_a_folder_reached_by_two_links_once(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # Two links to the next folder at each level: 2^levels routes to one file, which the
    # walk took one by one (25 levels: minutes; skipping only a folder's ancestors did not
    # stop it). Here 12 levels: 4,096 matches before, one now.
    from curagate.io.outputs import input_glob as _glob

    d = tmp_path / "d"
    for i in range(13):
        (d / f"f{i}").mkdir(parents=True)
    last = write_jsonl("d/f12/a.jsonl", [ROW])
    for i in range(12):
        for link in ("l1", "l2"):
            (d / f"f{i}" / link).symlink_to(f"../f{i + 1}")
    pattern = str(d / "f0" / "**" / "*.jsonl")
    assert len(_glob(pattern)) == 1
    [found] = expand_inputs([pattern])
    assert found.resolve() == last.resolve()


def test_result_is_sorted_and_deduplicated(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    b = write_jsonl("b.jsonl", [ROW])
    a = write_jsonl("a.jsonl", [ROW])

    found = expand_inputs([b, tmp_path, a, str(tmp_path / "*.jsonl")])

    assert found == [a, b]


def test_one_file_under_several_names_is_read_once_under_the_first_name(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # Found by attack: a hard link was read as a second input (every row counted twice).
    # The name it is first reached by names the rows (a folder's names in sorted order).
    b = write_jsonl("d/b.jsonl", [ROW])
    hard = tmp_path / "d" / "hard.jsonl"
    hard.hardlink_to(b)
    (tmp_path / "d" / "a_link.jsonl").symlink_to("b.jsonl")
    assert expand_inputs([tmp_path / "d"]) == [tmp_path / "d" / "a_link.jsonl"]
    assert expand_inputs([b, hard]) == [b]
    assert expand_inputs([hard, b]) == [hard]


def test_single_path_is_accepted(write_jsonl: Callable[..., Path]) -> None:
    a = write_jsonl("a.jsonl", [ROW])

    assert expand_inputs(a) == [a]


def test_missing_path_is_an_input_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"

    with pytest.raises(InputError, match=r"nope\.jsonl: no such file or directory") as info:
        expand_inputs([missing])
    assert info.value.exit_code == 2


def test_a_link_loop_or_dangling_link_is_named_as_one(tmp_path: Path) -> None:
    # Both were "no such file or directory", though `ls` shows the name.
    (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
    (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
    (tmp_path / "gone.jsonl").symlink_to(tmp_path / "deleted.jsonl")
    for name in ("a.jsonl", "gone.jsonl"):
        with pytest.raises(InputError, match=r"a symbolic link that leads to no file"):
            expand_inputs([tmp_path / name])


def test_glob_matching_nothing_is_an_input_error(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.jsonl")

    with pytest.raises(InputError, match="the pattern matches no file"):
        expand_inputs([pattern])


def test_glob_matching_only_unsupported_files_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n")

    with pytest.raises(InputError, match=r"matches no \.jsonl"):
        expand_inputs([str(tmp_path / "a.*")])


def test_directory_without_shards_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("hi")

    with pytest.raises(InputError, match=r"empty: directory has no \.jsonl"):
        expand_inputs([tmp_path / "empty"])


def test_a_directory_of_only_passed_by_shards_says_so(tmp_path: Path) -> None:
    # It said the folder had no .jsonl file, beside the two it had.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".part.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "data" / "_part.jsonl.gz").write_bytes(b"")

    with pytest.raises(InputError) as caught:
        expand_inputs([tmp_path / "data"])

    assert str(caught.value).endswith(
        "file to read: 2 passed by for a name starting with '.' or '_' "
        f"(first: {(tmp_path / 'data' / '.part.jsonl').as_posix()}; name such a file to read it)"
    )


def test_unsupported_suffix_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text('[{"text": "a"}]')

    with pytest.raises(InputError, match=r"data\.json: unsupported file type"):
        expand_inputs([path])


def test_empty_input_list_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no input given"):
        expand_inputs([])


def test_read_batches_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"gone\.jsonl: no such file"):
        list(read_batches([tmp_path / "gone.jsonl"]))


def test_a_file_under_two_names_has_one_place_whatever_order_it_is_named_in(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # By attack: with z.jsonl -> a.jsonl, `a m z` read a first and `z m a` read m first (the
    # alias sorted by the name given first), so curate kept the other file's duplicates.
    a = write_jsonl("a.jsonl", [ROW])
    m = write_jsonl("m.jsonl", [ROW])
    z = tmp_path / "z.jsonl"
    z.symlink_to("a.jsonl")
    hard = tmp_path / "y.jsonl"
    hard.hardlink_to(a)
    assert expand_inputs([a, m, z]) == [a, m]
    assert expand_inputs([z, m, a]) == [z, m]  # read under the name given first
    assert expand_inputs([hard, m, a]) == [hard, m]
    assert expand_inputs([m, hard]) == [m, hard]  # a not named: y's own place


def test_a_hugging_face_snapshot_is_read_in_shard_name_order_not_blob_hash_order(
    tmp_path: Path, write_jsonl: Callable[..., Path]
) -> None:
    # By attack: ordered by real path, the cache's train-0000N links into blobs/<sha256> were
    # read in hash order (train-00002, 00003, 00000, 00001) and `--keep first` kept the later
    # shard's copies. DVC and git-annex lay data out the same way.
    data = tmp_path / "hub" / "datasets--acme--qa" / "snapshots" / "3f2a" / "data"
    data.mkdir(parents=True)
    names = [f"train-0000{k}-of-00004.jsonl" for k in range(4)]
    for name, blob in zip(names, ("f224", "9005", "0e84", "0ed1"), strict=True):
        write_jsonl(f"hub/datasets--acme--qa/blobs/{blob}", [ROW])
        (data / name).symlink_to(f"../../../blobs/{blob}")
    assert [p.name for p in expand_inputs([data])] == names
    assert [p.name for p in expand_inputs([data / n for n in reversed(names)])] == names


def test_the_order_does_not_depend_on_where_the_checkout_sits_on_disk(
    tmp_path: Path, write_jsonl: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # By attack: ordered by real path, `data/ <abs>/ext/` read ext first in loc/ws/repo and
    # data first in loc/aa/repo (`.../loc/aa` < `.../loc/ext` < `.../loc/ws`).
    ext = write_jsonl("loc/ext/extra.jsonl", [ROW]).parent
    orders = []
    for place in ("aa", "ws"):
        repo = tmp_path / "loc" / place / "repo"
        write_jsonl(f"loc/{place}/repo/data/mine.jsonl", [ROW])
        monkeypatch.chdir(repo)
        orders.append([p.as_posix() for p in expand_inputs([Path("data"), ext])])
    assert orders[0] == orders[1] == [(ext / "extra.jsonl").as_posix(), "data/mine.jsonl"]
