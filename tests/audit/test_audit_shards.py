"""Audit statistics merge exactly: one shard or many, columnar or per record, same report."""

from __future__ import annotations

import json
import sys
from functools import reduce
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from audit_support import finding, write_records

from curagate.audit.config import AuditConfig
from curagate.audit.engine import AuditResult, audit_context, finish, run_audit
from curagate.audit.partial import merge, merge_all
from curagate.audit.shard import VISIBLE, audit_shard
from curagate.io import expand_inputs, read_batches
from curagate.records import PY_WHITESPACE

GOLDEN = "Natalia sold clips to 48 of her friends in April and then she sold half as many in May"


def pc(i: int, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "prompt": f"prompt {i} about subject {i * 7} " + "word " * (i % 11),
        "completion": f"completion {i}" + "." * (i % 13),
    }
    row.update(extra)
    return row


def corpus(root: Path) -> list[Path]:
    """Five files that exercise every merged statistic, including across file boundaries."""
    a = [pc(i, label=["pos", "neg", "neutral"][i % 3]) for i in range(40)]
    a[5] = pc(1, label="pos")  # duplicate within the file
    a[7]["completion"] = "mail me at jane.doe@acme-corp.com " + "x" * 900  # PII and an outlier
    a[9].pop("label")  # LBL002
    a[11]["prompt"] = "\u3000\u2003"  # blank in Unicode whitespace only
    b = [pc(i + 100, label="pos") for i in range(30)]
    b[0] = pc(3, label="neg")  # duplicate of a row of a.jsonl: found only when shards merge
    b[4] = pc(4, label="neg")
    b[6]["completion"] = "call +44 20 7946 0958 today"
    b[8]["prompt"] = f"Question: {GOLDEN}. How many clips?"  # leaks
    b[10]["completion"] = "y" * 1200
    lines_b: list[Any] = [*b[:12], "{broken json", *b[12:]]
    c = [
        {
            "messages": [
                *([{"role": "system", "content": "be brief"}] if i % 4 == 0 else []),
                {"role": "user", "content": f"question {i} " * (1 + i % 5)},
                {"role": "assistant", "content": f"answer {i}"},
                *(
                    [{"role": "user", "content": "more"}, {"role": "assistant", "content": "ok"}]
                    if i % 3 == 0
                    else []
                ),
            ],
            "label": "chat",
        }
        for i in range(25)
    ]
    c[2]["messages"].append({"role": "user", "content": "dangling"})  # FMT004
    d = [
        {"prompt": f"pick {i}", "chosen": f"good {i} " * (i % 6 + 1), "rejected": f"bad {i}"}
        for i in range(20)
    ]
    d[3]["rejected"] = d[3]["chosen"]  # FMT006
    d[5]["rejected"] = " \t"  # FMT007
    e = [{"text": f"plain text document {i} " * (1 + i % 9)} for i in range(15)]
    e[2] = {"text": "plain text document 0 "}  # duplicate within e
    e[3] = {"text": "key AKIAIOSFODNN7EXAMPLE in a doc"}
    return [
        write_records(root / "a.jsonl", a),
        write_records(root / "b.jsonl", lines_b),
        write_records(root / "c.jsonl", c),
        write_records(root / "d.jsonl", d),
        write_records(root / "e.jsonl", e),
    ]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[list[Path], AuditConfig]:
    paths = corpus(tmp_path / "data")
    golden = write_records(
        tmp_path / "golden" / "gsm.jsonl", [{"question": GOLDEN, "answer": "72"}]
    )
    cfg = AuditConfig.model_validate(
        {
            "max_row_refs": 3,
            "labels": {"field": "label"},
            "sample": {"n": 6, "seed": 3},
            "leakage": {"reference": [str(golden.parent)]},
            "lengths": {"outlier_iqr": 1.5},
        }
    )
    return paths, cfg


def dump(result: AuditResult) -> str:
    return json.dumps(
        {"report": result.report, "sample": result.sample, "table": result.table}, sort_keys=True
    )


@pytest.mark.slow
def test_shards_merge_to_the_single_shard_report(setup: tuple[list[Path], AuditConfig]) -> None:
    paths, cfg = setup
    one = run_audit(paths, cfg, collect_table=True)
    report = one.report
    # The corpus does what it is meant to: these hits cross file (shard) boundaries.
    dup = finding(report, "DUP001")
    assert dup["count"] == 4 and report["stats"]["duplicates"]["duplicate_rows"] == 4
    assert any(r.endswith("b.jsonl:1") for r in dup["rows"])  # a duplicate of a.jsonl
    assert dup["rows_truncated"]
    assert finding(report, "LEAK001")["count"] == 1
    assert finding(report, "LEN001")["count"] >= 2
    assert report["stats"]["labels"]["counts"]["pos"] > 0
    assert report["stats"]["mix"]["conversations"] == 25
    # Broken JSON, two blank fields, a pair whose chosen is its rejected (FMT006).
    assert report["inputs"]["quarantined_rows"] == 4
    assert len(one.sample) == 6
    for shards in (2, 3, 5):
        assert dump(run_audit(paths, cfg, collect_table=True, shards=shards)) == dump(one)


@pytest.mark.slow
def test_batches_as_shards_merge_exactly(setup: tuple[list[Path], AuditConfig]) -> None:
    """Shards that cut files in the middle (every 4 rows) merge to the same report."""
    paths, cfg = setup
    one = run_audit(paths, cfg, collect_table=True)
    ctx = audit_context(cfg, collect_table=True)
    files = expand_inputs([str(p) for p in paths])
    parts = [audit_shard(ctx, [b]) for b in read_batches(files, batch_rows=4)]
    assert len(parts) > 30
    merged = reduce(merge, parts)  # pairwise, as partials arrive
    assert dump(finish(merged, cfg, files)) == dump(one)
    parts = [audit_shard(ctx, [b]) for b in read_batches(files, batch_rows=4)]
    assert dump(finish(merge_all(parts), cfg, files)) == dump(one)  # all at once


def test_columnar_and_per_record_paths_agree(setup: tuple[list[Path], AuditConfig]) -> None:
    paths, cfg = setup
    ctx = audit_context(cfg, collect_table=True)
    files = expand_inputs([str(p) for p in paths])
    fast = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    ctx.columnar = False
    slow = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    assert dump(fast) == dump(slow)
    assert "FMT006" in {f["rule"] for f in fast.report["findings"]}
    assert "FMT007" in {f["rule"] for f in fast.report["findings"]}


def test_python_whitespace_list_is_complete() -> None:
    """The columnar path strips what str.strip() strips, no more and no less, and reads a
    text as blank where records.is_blank does (invisible characters and controls too)."""
    from curagate.records import is_blank

    every = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert sorted(PY_WHITESPACE) == sorted(every)
    invisible = ["\u200b", "\x00", "\x07", "\u3164", "\ufe0f", "\U000e0100", "\u034f", "\u2800"]
    invisible += ["\U0001d159", "\ufdd0", "\ufffe", "\U0010ffff"]
    texts = [*every, "", every, "a", f"{every}.{every}", *invisible, "\u3164a", "\x00 b"]
    blank = (~pl.Series(texts).str.contains(VISIBLE)).to_list()
    assert blank == [is_blank(t) for t in texts]
    assert blank == [True] * (len(every) + 2) + [False] + [False] + [True] * len(invisible) + [
        False,
        False,
    ]


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_cli_local_executor_writes_the_same_bytes(
    setup: tuple[list[Path], AuditConfig], tmp_path: Path
) -> None:
    """`--executor local`: one task per file, merged: the one-pass run's bytes."""
    from curagate.cli import main

    paths, cfg = setup
    config = tmp_path / "audit.yaml"
    config.write_text(json.dumps(cfg.to_dict(), default=str), encoding="utf-8")
    data = str(paths[0].parent)
    assert main(["audit", data, "--config", str(config), "--out", str(tmp_path / "one")]) == 1
    rc = main(
        [
            "audit",
            data,
            "--config",
            str(config),
            "--out",
            str(tmp_path / "ex"),
            "--executor",
            "local",
        ]
    )
    assert rc == 1  # FMT004 and friends are errors
    one, ex = _outputs(tmp_path / "one"), _outputs(tmp_path / "ex")
    assert set(one) == {
        ".curagate-output.json",  # the marker: the folder is one complete audit output
        "audit.json",
        "audit.md",
        "report.html",
        "sample.jsonl",
    }
    assert one == ex


def test_ray_address_without_the_ray_executor_is_a_usage_error(
    setup: tuple[list[Path], AuditConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curagate.cli import main

    paths, _ = setup
    rc = main(["audit", str(paths[0]), "--out", str(tmp_path / "o"), "--ray-address", "auto"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ray-address needs --executor ray" in err[0]


def _turns(*pairs: tuple[Any, Any]) -> dict[str, Any]:
    return {"messages": [{"role": r, "content": c} for r, c in pairs]}


CHATS: list[Any] = [
    _turns(("user", "hi"), ("assistant", "hello")),
    _turns(("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")),
    _turns(("human", "hi"), ("assistant", "hello")),  # FMT002
    _turns(("user", "a"), ("user", "b"), ("assistant", "c")),  # FMT003
    _turns(("assistant", "first"), ("user", "q"), ("assistant", "a")),  # FMT003 first turn
    _turns(("user", "a"), ("assistant", "b"), ("user", "c")),  # FMT004
    _turns(("user", "a"), ("assistant", " \u3000")),  # FMT005 (maybe quarantined)
    _turns(("user", "q"), ("assistant", "calling"), ("tool", "42"), ("assistant", "it is 42")),
    _turns(("user", "q"), ("tool", "x"), ("assistant", "a")),  # FMT003 tool after user
    _turns(("a-very-long-role-name-beyond-twenty", "x"), ("user", "q"), ("assistant", "a")),
    _turns((None, "no role"), ("user", "q"), ("assistant", "a")),
    _turns(("user", None), ("assistant", "a")),
    _turns(("system", "s"), ("system", "s2"), ("user", "q"), ("assistant", "a")),
    _turns(("user", "mail a@acme-corp.com"), ("assistant", "key AKIAIOSFODNN7EXAMPLE")),
    _turns(("user", "x" * 500), ("assistant", "y" * 900)),
    _turns(("user", "hi"), ("assistant", "hello")),  # duplicate
    {"messages": []},
    _turns(
        ("user", "last is a user"),
    ),
]


@pytest.mark.parametrize("sft", [True, False])
def test_columnar_chat_matches_per_record(tmp_path: Path, sft: bool) -> None:
    rows = [
        {**c, "label": ["a", "b", None][i % 3]} for i, c in enumerate(CHATS * 3) if c is not None
    ]
    paths = [
        write_records(tmp_path / "c1.jsonl", rows[:20]),
        write_records(tmp_path / "c2.jsonl", rows[20:]),
    ]
    cfg = AuditConfig.model_validate(
        {"sft": sft, "labels": {"field": "label"}, "max_row_refs": 100, "sample": {"n": 4}}
    )
    ctx = audit_context(cfg, collect_table=True)
    files = expand_inputs([str(p) for p in paths])
    fast = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    ctx.columnar = False
    slow = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    assert dump(fast) == dump(slow)
    found = {f["rule"] for f in fast.report["findings"]}
    assert {"FMT002", "FMT003", "PII001", "SEC001", "DUP001", "LBL002"} <= found
    assert ("FMT004" in found) == sft


def test_pii_in_every_column_is_the_same_columnar_or_per_record(tmp_path: Path) -> None:
    """Every string of a record is scanned (what the sample redacts), the columnar path's
    columns and turns as the per-record path's dicts: same hits, same counts."""
    leaky = "mail a@acme-corp.com key AKIAIOSFODNN7EXAMPLE at 10.1.2.3"
    rows = [pc(i, system=leaky if i % 3 == 0 else "s", meta={"tags": [leaky]}) for i in range(9)]
    chats = [{**c, "source": leaky} for c in CHATS[:6]]
    paths = [write_records(tmp_path / "pc.jsonl", rows), write_records(tmp_path / "c.jsonl", chats)]
    cfg = AuditConfig.model_validate({"max_row_refs": 100, "sample": {"n": 20}})
    ctx = audit_context(cfg, collect_table=True)
    files = expand_inputs([str(p) for p in paths])
    fast = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    ctx.columnar = False
    slow = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    assert dump(fast) == dump(slow)
    assert finding(fast.report, "SEC001")["count"] == len(rows) + len(chats)
    assert fast.report["stats"]["pii"]["PII004"] == 3 + 9 + 6  # system, meta, source


def test_parquet_shards_merge_exactly(tmp_path: Path) -> None:
    """Parquet rows are referenced by row number (no lines); shards still merge exactly."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for k in range(3):
        rows = [pc(i % 17, label="ab"[i % 2]) for i in range(k * 20, k * 20 + 20)]
        pq.write_table(pa.Table.from_pylist(rows), tmp_path / f"p{k}.parquet")
    cfg = AuditConfig.model_validate({"labels": {"field": "label"}, "sample": {"n": 5}})
    one = run_audit([tmp_path], cfg, collect_table=True)
    assert finding(one.report, "DUP001")["count"] == 60 - 17
    assert all(".parquet:" in r["ref"] for r in one.sample)
    assert dump(run_audit([tmp_path], cfg, collect_table=True, shards=3)) == dump(one)


@pytest.mark.parametrize("shape", ["completion", "preference prompt", "chosen", "message"])
def test_invisible_content_is_empty_columnar_or_per_record(tmp_path: Path, shape: str) -> None:
    """Found by attack: content of Hangul fillers, variation selectors, U+2800 or controls
    passed as content; both paths read it as empty, as check and curate do."""
    from tests.test_check import INVISIBLE_NOT_CF, WITH_FILLERS, blank_record

    rows = [blank_record(shape, WITH_FILLERS)[0]]
    rows += [blank_record(shape, b)[0] for b in INVISIBLE_NOT_CF]
    path = write_records(tmp_path / "d.jsonl", rows)
    cfg = AuditConfig.model_validate({"max_row_refs": 100})
    ctx = audit_context(cfg, collect_table=True)
    files = expand_inputs([str(path)])
    fast = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    ctx.columnar = False
    slow = finish(audit_shard(ctx, read_batches(files)), cfg, files)
    assert dump(fast) == dump(slow)
    flagged = {
        int(r.rsplit(":", 1)[1])
        for f in fast.report["findings"]
        if f["rule"] in ("FMT005", "FMT007")
        for r in f["rows"]
    }
    assert flagged == set(range(2, len(rows) + 1))
