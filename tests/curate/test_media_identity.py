"""Rows with other media are never copies, whatever their text (found by attack: 20 rows
of trl's vision format, one question asked of 20 images in an ``images`` column, were 19
"exact" copies; rows with one short answer about different images were near copies)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curagate import _core
from curagate.curate import curate
from curagate.records import RecordFormat, media_ids
from tests.curate.test_curate import read_dir

QUESTION = "Describe this image in detail: the objects, their colours and the whole scene."


def image_bytes(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest() * 32  # base64 past 512 characters: data


def trl_row(image: bytes, answer: str = "A cat.") -> dict[str, Any]:
    """trl's vision format: the image in `images`, a placeholder part in the messages."""
    return {
        "images": [base64.b64encode(image).decode()],
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        ],
    }


def url_row(url: str, answer: str) -> dict[str, Any]:
    """The image referenced in its part (`{"type": "image", "image": URL}`)."""
    return {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "image": url}, {"type": "text", "text": QUESTION}],
            },
            {"role": "assistant", "content": answer},
        ]
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def reasons(out: Path) -> dict[int, str]:
    removed = read_dir(out / "removed")
    if removed is None:
        return {}
    return {r["source_row"]: r["reason"] for r in removed.to_pylist()}


def test_trl_vision_rows_of_other_images_are_all_kept(tmp_path: Path) -> None:
    rows = [trl_row(image_bytes(i)) for i in range(20)]
    # The image of row 0 again, its base64 wrapped at 76 columns: the same bytes.
    wrapped = base64.encodebytes(image_bytes(0)).decode()
    rows.append({**trl_row(image_bytes(0)), "images": [wrapped]})
    result = curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out")
    assert result.kept == 20
    assert reasons(tmp_path / "out") == {20: "exact"}


def test_one_answer_about_other_images_is_no_near_copy(tmp_path: Path) -> None:
    long = "The picture shows a red bicycle leaning on a white fence under a tall green tree."
    rows = [url_row(f"https://cdn.example.com/{i}.jpg", long) for i in range(10)]
    # The same image with its answer one word changed: a near copy of row 0.
    rows.append(url_row("https://cdn.example.com/0.jpg", long.replace("tall", "big")))
    result = curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out")
    assert reasons(tmp_path / "out") == {10: "near"}
    assert result.kept == 10


def test_hub_image_features_in_parquet_tell_rows_apart(tmp_path: Path) -> None:
    """The Hub's `image` feature: a struct of the bytes and a path (here none)."""
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table(
        {
            "image": pa.array(
                [{"bytes": image_bytes(i % 3), "path": None} for i in range(6)], image
            ),
            "prompt": [QUESTION] * 6,
            "completion": ["A cat."] * 6,
        }
    )
    pq.write_table(table, tmp_path / "d.parquet")
    result = curate([tmp_path / "d.parquet"], tmp_path / "out")
    assert result.kept == 3
    assert reasons(tmp_path / "out") == {3: "exact", 4: "exact", 5: "exact"}


def test_the_staged_pipeline_reads_media_as_the_one_process_run(tmp_path: Path) -> None:
    long = "The picture shows a red bicycle leaning on a white fence under a tall green tree."
    rows = [trl_row(image_bytes(i % 4), long) for i in range(8)]
    rows += [url_row(f"https://cdn.example.com/{i}.jpg", long) for i in range(4)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    one = curate([path], tmp_path / "one")
    staged = curate([path], tmp_path / "staged", executor="local", work_dir=tmp_path / "w")
    assert one.kept == staged.kept == 8
    assert reasons(tmp_path / "one") == reasons(tmp_path / "staged")
    for name in ("kept/part-00000.parquet", "removed/part-00000.parquet", "clusters.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "staged" / name).read_bytes()


def test_text_only_tables_have_no_media_and_cost_no_row_walk() -> None:
    chat = pa.table({"messages": [[{"role": "user", "content": "hi"}]]})
    assert media_ids(chat, RecordFormat.CHAT) is None
    text = pa.table({"text": ["a", "b"]})
    assert media_ids(text, RecordFormat.TEXT) is None
    # A part list without media (text parts only) is no media either.
    parts = pa.table({"messages": [[{"role": "user", "content": [{"type": "text", "text": "x"}]}]]})
    assert media_ids(parts, RecordFormat.CHAT) is None


def test_media_ids_follow_the_media_not_the_text() -> None:
    rows = [trl_row(image_bytes(1)), trl_row(image_bytes(2)), trl_row(image_bytes(1), "A dog.")]
    rows.append({**trl_row(image_bytes(0)), "images": []})  # no image at all
    ids = media_ids(pa.Table.from_pylist(rows), RecordFormat.CHAT)
    assert ids is not None
    a, b, c, none = ids.to_pylist()
    assert a == c and a != b and none == 0 and a != 0 and b != 0


def test_the_core_takes_one_media_identity_per_key() -> None:
    keys = pa.array(["the same words about a picture here"] * 3, pa.large_string())
    priorities = pa.array([0.0] * 3)
    plain = _core.Deduper(num_perm=64, threshold=0.8)
    plain.add(keys, priorities)
    zeros = _core.Deduper(num_perm=64, threshold=0.8)
    zeros.add(keys, priorities, pa.array([0, 0, 0], pa.uint64()))
    assert bytes(plain.finish().status) == bytes(zeros.finish().status) == b"\x00\x01\x01"
    other = _core.Deduper(num_perm=64, threshold=0.8)
    other.add(keys, priorities, pa.array([7, 8, 7], pa.uint64()))
    assert bytes(other.finish().status) == b"\x00\x00\x01"
    short = _core.Deduper(num_perm=64, threshold=0.8)
    with pytest.raises(
        _core.InputDataError, match=r"^media has 2 values for 3 texts; give one per text$"
    ):
        short.add(keys, priorities, pa.array([1, 2], pa.uint64()))


@pytest.mark.slow
def test_semantic_dedup_joins_no_rows_of_other_images(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("faiss")
    long = "The picture shows a red bicycle leaning on a white fence under a tall green tree."
    rows = [url_row(f"https://cdn.example.com/{i}.jpg", long) for i in range(4)]
    # Row 0's image with its answer reworded: a semantic copy of row 0 alone.
    rows.append(url_row("https://cdn.example.com/0.jpg", long.replace("tall", "big") + " Nice."))
    result = curate(
        [write_jsonl(tmp_path / "d.jsonl", rows)],
        tmp_path / "out",
        near__enabled=False,
        semantic__enabled=True,
        semantic__threshold=0.9,
        semantic__cache_dir=str(tmp_path / "cache"),
    )
    assert reasons(tmp_path / "out") == {4: "semantic"}
    assert result.kept == 4


def test_check_and_audit_count_the_duplicates_curate_removes(tmp_path: Path) -> None:
    """One rule of what a copy is: DUP001 in check and audit names the row curate removes
    (they reported 19 duplicates of 20 rows of other images)."""
    from curagate.audit import audit
    from curagate.check import check

    rows = [trl_row(image_bytes(i)) for i in range(5)] + [trl_row(image_bytes(2))]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    found = [(f.line, f.rule.id) for f in check([path], leakage=False)]
    assert found == [(6, "DUP001")]
    report = audit([path], out=tmp_path / "audit", leakage=False)
    (dup,) = [f for f in report["findings"] if f["rule"] == "DUP001"]
    assert dup["count"] == 1
    assert reasons(tmp_path / "out") == {} and curate([path], tmp_path / "out").kept == 5
    assert reasons(tmp_path / "out") == {5: "exact"}


@pytest.mark.parametrize(
    "media",
    [
        pytest.param([{"image": i} for i in range(5)], id="integer ids"),
        pytest.param([{"images": [i]} for i in range(5)], id="lists of integer ids"),
        pytest.param([{"images": [{"file_name": f"{i}.png"}]} for i in range(5)], id="file_name"),
        pytest.param([{"images": [{"src": f"s3://b/{i}"}]} for i in range(5)], id="src"),
        pytest.param(
            [{"image": {"id": i, "file_name": f"{i}.jpg", "height": 480}} for i in range(5)],
            id="COCO records",
        ),
        pytest.param(
            [{"audio": {"array": [0.5, float(i)], "sampling_rate": 16000}} for i in range(5)],
            id="decoded audio",
        ),
    ],
)
def test_every_value_of_a_media_column_is_media(
    tmp_path: Path, media: list[dict[str, Any]]
) -> None:
    """Found by re-attack: only strings under the reference names were read, and five
    images numbered 0-4 were four copies."""
    rows = [{**m, "prompt": QUESTION, "completion": "A cat."} for m in media]
    result = curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out")
    assert result.kept == 5, reasons(tmp_path / "out")


def test_null_and_empty_media_are_no_media_and_pieces_never_run_together() -> None:
    def ids(values: list[Any]) -> list[int]:
        table = pa.table({"images": values, "prompt": ["q"] * len(values)})
        found = media_ids(table, RecordFormat.PROMPT_ONLY)
        return [0] * len(values) if found is None else found.to_pylist()

    assert ids([None, [], [""]]) == [0, 0, 0]
    a, b = ids([["a\x00b"], ["a", "b"]])
    assert a != b and 0 not in (a, b)


def test_one_image_in_three_formats_is_one_identity_for_dedup_and_leakage(
    tmp_path: Path,
) -> None:
    """trl's `images` entry, an OpenAI `image_url` part and a processor's `image` part of
    one URL are one image (found by re-attack: the part's type and a column tag were in the
    identity, so a golden VQA item copied in OpenAI's format was no leak and no copy)."""
    from curagate.leakage import detect

    def row(form: str, i: int) -> dict[str, Any]:
        url = f"https://example.org/bench/img{i}.png"
        part = {
            "trl": {"type": "image"},
            "openai": {"type": "image_url", "image_url": {"url": url, "detail": "auto"}},
            "processor": {"type": "image", "image": url},
        }[form]
        out: dict[str, Any] = {
            "messages": [
                {"role": "user", "content": [part, {"type": "text", "text": QUESTION}]},
                {"role": "assistant", "content": [{"type": "text", "text": f"A cat, {i}."}]},
            ]
        }
        if form == "trl":
            out["images"] = [url, ""]  # an empty entry is no image
        return out

    golden = write_jsonl(tmp_path / "golden.jsonl", [row("trl", i) for i in range(5)])
    for form in ("openai", "processor"):
        train = write_jsonl(tmp_path / f"{form}.jsonl", [row(form, i) for i in range(5)])
        report = detect([train], [golden])
        assert len(report.leaks) == 5, form
        both = curate([golden, train], tmp_path / f"out-{form}")
        assert both.kept == 5 and both.removed == {"exact": 5}, form


def test_the_audit_sample_tells_rows_of_other_images_apart() -> None:
    """Keys hold no media: rows of one caption about other images at one line of several
    shards tied in the sample's order (found by re-attack); rows without media keep theirs."""
    from curagate.audit.keys import row_keys

    lines = pa.array([3, 3, 3], pa.int64())
    keys = pa.array(["a caption"] * 3, pa.large_string())
    plain = row_keys(7, lines, keys).to_pylist()
    assert len(set(plain)) == 1
    mixed = row_keys(7, lines, keys, pa.array([0, 5, 9], pa.uint64())).to_pylist()
    assert mixed[0] == plain[0] and len(set(mixed)) == 3


@pytest.mark.parametrize("field", ["uri", "src", "image_file"])
def test_a_media_part_with_its_reference_under_another_name_is_media(
    tmp_path: Path, field: str
) -> None:
    """Found by re-attack: a part such as `{"type": "image", "uri": ...}` gave no identity,
    and rows of five images were four exact copies."""
    rows = [
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", field: f"s3://bucket/{i}.png"},
                        {"type": "text", "text": QUESTION},
                    ],
                },
                {"role": "assistant", "content": "A cat."},
            ]
        }
        for i in range(5)
    ]
    assert curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out").kept == 5


def one_media_id(value: Any) -> int:
    """The media identity of one row whose `images` entry is `value` (0: none)."""
    table = pa.table({"images": [[value]], "prompt": ["q"]})
    found = media_ids(table, RecordFormat.PROMPT_ONLY)
    return 0 if found is None else found.to_pylist()[0]


def test_text_that_is_no_base64_is_not_the_bytes_of_other_base64(tmp_path: Path) -> None:
    """Found by re-attack: inline data that is no base64 was hashed as its text, the very
    identity of the base64 of those bytes: `"A"` and `"QQ=="` (b"A") were one image."""
    as_text = one_media_id({"bytes": "A", "path": None})
    encoded = [
        one_media_id({"bytes": "QQ==", "path": None}),
        one_media_id({"bytes": b"A", "path": "a.png"}),  # the raw bytes, whatever the path
        one_media_id({"bytes": "data:image/png;base64,QQ==", "path": None}),
        one_media_id("data:image/png;base64,QQ=="),
        one_media_id("data:,A"),
    ]
    assert len(set(encoded)) == 1 and as_text not in (0, encoded[0])
    # Two rows of one text, one about each image: two records; a third, the base64's data
    # URL, is an exact copy of the second.
    images = ["A", "QQ==", "data:image/png;base64,QQ=="]
    rows = [
        {"image": {"bytes": image, "path": None}, "prompt": QUESTION, "completion": "A cat."}
        for image in images
    ]
    result = curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out")
    assert result.kept == 2 and reasons(tmp_path / "out") == {2: "exact"}


@pytest.mark.parametrize("url", ["data:,", "data:image/png;base64,", "data:image/png;base64,\n"])
def test_a_data_url_with_no_data_is_no_media(url: str) -> None:
    """Found by re-attack: `data:,` was an image (of the SHA-256 of no bytes), in a part as
    in a media column; it is no media, as null and `""` are, wherever it is read."""

    def part(media: dict[str, Any]) -> pa.Table:
        content = [{"type": "image", **media}, {"type": "text", "text": QUESTION}]
        return pa.table({"messages": [[{"role": "user", "content": content}]]})

    for table, fmt in [
        (pa.table({"images": [[url]], "prompt": ["q"]}), RecordFormat.PROMPT_ONLY),
        (
            pa.table({"image": [{"bytes": url, "path": None}], "prompt": ["q"]}),
            RecordFormat.PROMPT_ONLY,
        ),
        (part({"image": url}), RecordFormat.CHAT),
        (part({"image_url": {"url": url}}), RecordFormat.CHAT),
        (part({"uri": url}), RecordFormat.CHAT),
    ]:
        assert media_ids(table, fmt) is None, table.to_pylist()
    # Empty bytes are no media either (the Hub's `{"bytes": b"", "path": None}`).
    hub = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    empty = pa.table({"image": pa.array([{"bytes": b"", "path": None}], hub), "prompt": ["q"]})
    assert media_ids(empty, RecordFormat.PROMPT_ONLY) is None


def test_a_data_string_with_no_comma_is_text_not_no_media(tmp_path: Path) -> None:
    """Found by re-attack: any `data:` string without a comma was no media, so two images
    written `data:image/png;base64;...` (a `;` for the comma) were one exact copy. Only a
    data URL with nothing after its comma is no media; with no comma it is text, hashed as
    such, apart from the bytes of the well-formed URL."""
    typo = [f"data:image/png;base64;{base64.b64encode(image_bytes(i)).decode()}" for i in (1, 2)]
    ids = [one_media_id(u) for u in typo]
    assert 0 not in ids and ids[0] != ids[1]
    assert ids[0] != one_media_id(typo[0].replace("base64;", "base64,"))
    assert one_media_id("data:image/png") != 0
    rows = [url_row(u, "A cat sleeps.") for u in typo]
    assert curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out").kept == 2


def test_one_image_in_any_valid_spelling_is_one_identity(tmp_path: Path) -> None:
    """Found by re-attack: one image was another identity with its `data:` scheme or
    `;base64` in capitals (both case-insensitive, RFC 2397), its base64 unpadded or
    URL-safe, or a plain data URL's payload percent-encoded (`data:,%41` is `data:,A`).
    Text that is no valid base64 stays text (`sha256:text:`), apart from the bytes."""
    from curagate.leakage import detect

    image = hashlib.sha256(b"1").digest() * 40 + b"\xfb\xff"  # base64 ends "/w==", "_w=="
    b64 = base64.b64encode(image).decode()
    spellings = [
        f"data:image/png;base64,{b64}",
        f"DATA:image/png;base64,{b64}",
        f"Data:image/png;BASE64,{b64}",
        f"data:image/png;Base64,{b64.rstrip('=')}",
        f"data:image/png;base64,{base64.urlsafe_b64encode(image).decode()}",
        f"data:image/png;base64,{b64.replace('/', '%2F').replace('=', '%3D')}",
        {"bytes": b64.rstrip("="), "path": None},
        {"bytes": base64.urlsafe_b64encode(image).decode(), "path": None},
        {"bytes": image, "path": "a.png"},
    ]
    assert len({one_media_id(s) for s in spellings}) == 1
    assert one_media_id("DATA:,%41") == one_media_id("data:,A") == one_media_id({"bytes": "QQ"})
    assert one_media_id("data:,A") != one_media_id("data:,%2541")
    assert one_media_id("DATA:,") == one_media_id({"bytes": "data:;BASE64,"}) == 0
    # no base64: length 1 past a multiple of 4, both alphabets, a byte past ASCII
    for text in [b64[:-3], b64.replace("/", "_", 1), "data:;base64,QQ%C3%A9"]:
        assert one_media_id({"bytes": text}) not in (0, one_media_id(spellings[0])), text
    golden = write_jsonl(tmp_path / "golden.jsonl", [url_row(spellings[0], "A cat sleeps.")])
    train = [url_row(str(s), "A cat sleeps.") for s in spellings[1:6]]
    [leak] = detect([golden], [write_jsonl(tmp_path / "t.jsonl", train)]).leaks
    assert len(leak.matches) == len(train)  # each spelling of the item's image: a leak


@pytest.mark.parametrize("blank", ["\n", "   ", "\t\r\n"])
def test_inline_data_of_whitespace_alone_is_no_media(tmp_path: Path, blank: str) -> None:
    """Found by re-attack: `{"bytes": "\\n"}` was an image (the base64 of no bytes: the
    SHA-256 of nothing), where `""` and `data:image/png;base64,\\n` are no media; rows of
    one text with each of them are one record."""
    content = [{"type": "image", "data": blank}, {"type": "text", "text": QUESTION}]
    table = pa.table({"messages": [[{"role": "user", "content": content}]]})
    assert media_ids(table, RecordFormat.CHAT) is None
    assert one_media_id({"bytes": blank, "path": None}) == 0
    assert one_media_id(blank) == 0
    rows = [
        {"image": {"bytes": image, "path": None}, "prompt": QUESTION, "completion": "A cat."}
        for image in ["", blank, "data:image/png;base64,\n"]
    ]
    result = curate([write_jsonl(tmp_path / "d.jsonl", rows)], tmp_path / "out")
    assert result.kept == 1 and reasons(tmp_path / "out") == {1: "exact", 2: "exact"}


def test_a_path_alone_and_embedded_bytes_are_two_identities() -> None:
    """The limit docs/curate.md states: curagate never opens a file, so the Hub's image by
    its path alone and the same file embedded are two identities; a path is never unified
    with bytes (two images embedded under one name stay two)."""
    hub = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    images = [
        {"bytes": None, "path": "birds/1.png"},
        {"bytes": None, "path": "birds/1.png"},
        {"bytes": image_bytes(1), "path": "birds/1.png"},
        {"bytes": image_bytes(1), "path": "image.png"},
        {"bytes": image_bytes(2), "path": "image.png"},
    ]
    table = pa.table({"image": pa.array(images, hub), "prompt": ["q"] * len(images)})
    ids = media_ids(table, RecordFormat.PROMPT_ONLY)
    assert ids is not None
    path, same_path, embedded, renamed, other = ids.to_pylist()
    assert path == same_path and embedded == renamed
    assert len({path, embedded, other}) == 3
