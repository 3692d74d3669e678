"""The leakage index built once and shipped as bytes (Ray's object store
pickles it): a round trip scans exactly like the original, and a damaged
blob is a one-line error, never a crash."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from curagate import _core
from curagate.errors import InputError
from curagate.leakage import LeakageIndex, detect

DATA = Path(__file__).resolve().parents[1] / "data" / "gsm8k_test_sample.jsonl"


def _corpus(tmp_path: Path) -> pa.Array:
    questions = [json.loads(line)["question"] for line in DATA.read_text().splitlines()]
    texts = [
        f"Solve this: {questions[0]} Show your work.",  # n-gram (inside a longer record)
        questions[3].upper(),  # exact after normalization
        questions[5].replace("?", "").replace(" the ", " a ", 1),  # near copy
        "A line that has nothing to do with the reference set at all, none whatsoever.",
    ]
    return pa.array(texts, pa.large_string())


def test_a_pickled_index_scans_like_the_original(tmp_path: Path) -> None:
    built = LeakageIndex.build(DATA)
    copy = pickle.loads(pickle.dumps(built))
    keys = _corpus(tmp_path)

    def seen(leaks: list[_core.Leak]) -> list[tuple[object, ...]]:
        return [
            (x.record, x.item, x.methods, x.shared_ngrams, x.ratio, x.similarity) for x in leaks
        ]

    raw = seen(built.scan(keys))
    assert {r[0] for r in raw} == {0, 1, 2}
    assert seen(copy.scan(keys)) == raw
    assert copy.items == built.items
    assert copy.config == built.config
    assert copy.reference_files == built.reference_files
    # The same index gives the same bytes: the blob can name its content.
    assert _core.leakage_index_to_bytes(copy._core) == _core.leakage_index_to_bytes(built._core)


def test_a_pickled_index_gives_a_joiners_split_view_to_its_item() -> None:
    # A Persian item written with zero-width non-joiners is indexed again with a space for
    # each (a view of its own); shipped to a worker, a hit on the view is still the item's.
    item = (
        "مریم می\u200cخواهد برای بچه\u200cها سیب\u200cها و پرتقال\u200cها را از مغازه\u200cها "  # noqa: RUF001
        "بخرد و او می\u200cداند که بچه\u200cها میوه\u200cها را دوست دارند و هر روز می\u200cخورند."  # noqa: RUF001
    )
    built = LeakageIndex()
    built.add_texts([item, "An unrelated item about apples and oranges in a shop."])
    copy = pickle.loads(pickle.dumps(built))
    assert [i.part for i in copy.items] == ["prompt", "prompt", "joiners split"]
    keys = pa.array(["Copied: " + item.replace("\u200c", " ")], pa.large_string())
    assert [(x.record, x.item) for x in copy.scan(keys)] == [(0, 0)]
    assert [(x.record, x.item) for x in built.scan(keys)] == [(0, 0)]


def _state(index: LeakageIndex) -> dict[str, object]:
    state = index.__getstate__()
    assert isinstance(state["core"], bytes)
    return state


@pytest.mark.parametrize("damage", ["truncate", "flip", "version", "old"])
def test_a_damaged_blob_is_a_clear_error(damage: str) -> None:
    state = _state(LeakageIndex.build(DATA))
    blob = bytearray(state["core"])  # type: ignore[arg-type]
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "version":
        blob[8] += 1  # the format version, right after the 8 magic bytes
    else:
        # Version 3 (words hashed before digits of other scripts were folded): refused,
        # not misread.
        # Re-sealing is not needed, the version is checked before the checksum.
        blob[8:12] = (3).to_bytes(4, "little")
    with pytest.raises(_core.IndexFormatError) as core_error:
        _core.leakage_index_from_bytes(bytes(blob))
    expected = {
        "truncate": "truncated",
        "flip": "checksum mismatch",
        "version": "format version",
        "old": "format version 3, this curagate reads version 28",
    }[damage]
    assert expected in str(core_error.value)
    # Through pickle (what a worker does): a curagate input error, one line.
    fresh = LeakageIndex.__new__(LeakageIndex)
    with pytest.raises(InputError, match="leakage index: serialized leakage index is unreadable"):
        fresh.__setstate__({**state, "core": bytes(blob)})


def test_a_state_from_another_version_is_refused() -> None:
    state = _state(LeakageIndex.build(DATA))
    fresh = LeakageIndex.__new__(LeakageIndex)
    with pytest.raises(InputError, match="another curagate version"):
        fresh.__setstate__({**state, "version": 999})


def test_paraphrase_is_refused_on_ray_before_any_work(tmp_path: Path) -> None:
    from curagate.errors import ConfigError

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "hello there"}) + "\n")
    with pytest.raises(ConfigError, match="--paraphrase runs on one machine only"):
        detect(DATA, corpus, paraphrase=True, executor="ray")


def test_a_pickled_index_keeps_its_reference_rows_it_could_not_read(tmp_path: Path) -> None:
    ref = tmp_path / "ref.jsonl"
    ref.write_text(
        json.dumps({"question": "How many legs do three spiders and two ants have together?"})
        + '\n{"question": "cut off\n',
        encoding="utf-8",
    )
    copy = pickle.loads(pickle.dumps(LeakageIndex.build([ref])))
    assert [(q.file, q.line) for q in copy.unreadable] == [(ref.as_posix(), 2)]
    with pytest.raises(InputError, match=r"ref\.jsonl:2"):
        copy.refuse_unreadable()
