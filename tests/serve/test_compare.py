"""The compare path's caches (issue 12 speed) keep every answer the uncached path gave:
reports judged on every request, statistics equal to a direct computation, each JSON
line read as the json module reads it (orjson is only a faster path), the collector left
as it was."""

from __future__ import annotations

import gc
import hashlib
import html
import json
import re
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from curagate.errors import InputError
from curagate.registry import Registry
from curagate.serve import compare as cmp
from curagate.serve.app import create_app

from .serve_fixtures import World, admin, build_world, items_rows


@pytest.fixture
def world(tmp_path: Path) -> World:
    cmp._ITEMS.clear()
    cmp._PAIRS.clear()
    return build_world(tmp_path)


def bearer(world: World, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[user]}"}


def test_a_cached_compare_still_judges_the_reports_on_every_request(world: World) -> None:
    """Revoking the gate key after a first (caching) compare must show both reports as
    unverified on the next one: only parsed items are cached, never a verdict."""
    client = TestClient(create_app(world.db))
    first = client.get("/api/v1/compare?a=2&b=1", headers=bearer(world, "vera")).json()
    assert first["a"]["trust"] == first["b"]["trust"] == "signature verified"
    assert cmp._PAIRS, "the first compare should have cached its pairing"
    with Registry(world.db) as reg:
        reg.trust_revoke("ci", actor=admin(reg, world), reason="key leaked")
    again = client.get("/api/v1/compare?a=2&b=1", headers=bearer(world, "vera")).json()
    assert again["a"]["trust"].startswith("NOT verified")
    assert again["b"]["trust"].startswith("NOT verified")
    assert again["metrics"] == first["metrics"] and again["items"] == first["items"]


def test_a_deleted_items_blob_is_a_503_before_anything_is_cached(world: World) -> None:
    # The log recorded these items as stored with the report: gone, that is tampering
    # (503, like any stored blob), not a report that never had items (404).
    with Registry(world.db) as reg:
        _, rec = reg.report_by_id(2)
        sha = reg.report_items_sha256(rec)
        assert sha is not None
        (reg.store_dir / sha[:2] / sha).unlink()
    client = TestClient(create_app(world.db))
    r = client.get("/api/v1/compare?a=2", headers=bearer(world, "vera"))
    assert r.status_code == 503 and "stored blob missing" in r.json()["error"]
    assert "changed outside curagate" in r.json()["fix"]
    # Found by attack: the store's path read "the registry.store/ec/...".
    assert "the registry's blob store/" in r.json()["error"]
    assert "registry.store" not in r.json()["error"]


def direct_stats(
    a_items: list[dict[str, object]], b_items: list[dict[str, object]]
) -> dict[str, dict[str, object]]:
    """What the compare page showed before the pairing cache, computed row by row."""
    b_by_key = {(str(r["set"]), str(r["id"])): r for r in b_items}
    pairs = [(r, b_by_key[(str(r["set"]), str(r["id"]))]) for r in a_items]
    out: dict[str, dict[str, object]] = {}
    for name in sorted({str(r["set"]) for r, _ in pairs}):
        group = [(r, b) for r, b in pairs if r["set"] == name]
        out[name] = cmp.paired_stats(
            [bool(r["candidate_correct"]) for r, _ in group],
            [bool(b["candidate_correct"]) for _, b in group],
        )
    out["all"] = cmp.paired_stats(
        [bool(r["candidate_correct"]) for r, _ in pairs],
        [bool(b["candidate_correct"]) for _, b in pairs],
    )
    return out


def test_pairing_statistics_equal_a_row_by_row_computation() -> None:
    a_items = items_rows(500, flip_every=3)
    b_items = items_rows(500, flip_every=7)[::-1]  # another order: matched by key
    for r in b_items:  # B right except on every 5th item: every kind of pair occurs
        r["candidate_correct"] = int(str(r["id"])[-3:]) % 5 != 0
    paired = cmp.pairing("a" * 64, a_items, "b" * 64, b_items)
    want = direct_stats(a_items, b_items)
    assert {m["set"]: m for m in paired.metrics} == {
        k: {"set": k, "overall": k == "all", **v} for k, v in want.items()
    }
    assert sum(m["fixes"] + m["regressions"] for m in paired.metrics[:-1]) > 30
    chosen = paired.select(changed=True, set_name=None, slice_key="length=long")
    flips = [paired.row(k).flip for k in chosen]
    assert flips == sorted(flips, key=lambda f: f != "right→wrong")  # regressions first
    assert all(paired.row(k).slices == {"length": "long"} for k in chosen)
    assert len(chosen) == sum(
        1
        for r in a_items
        if r["slices"] == {"length": "long"}
        and r["candidate_correct"]
        != next(b for b in b_items if b["id"] == r["id"])["candidate_correct"]
    )


def test_slices_whose_keys_would_read_alike_stay_two_slices() -> None:
    # Found by attack: column `lang=en` value `yes` and column `lang` value `en=yes` were
    # one slice `lang=en=yes` (n=10, 5 fixes, 5 regressions, delta 0): the half the
    # candidate broke hidden behind the half it fixed, and `slice=` selected one half.
    items = items_rows(10)
    base = [dict(r) for r in items]
    for i, (a, b) in enumerate(zip(items, base, strict=True)):
        a["slices"] = {"lang=en": "yes"} if i < 5 else {"lang": "en=yes"}
        a["candidate_correct"], b["candidate_correct"] = i < 5, i >= 5
    paired = cmp.pairing("c" * 64, items, "d" * 64, base)  # not another test's cached pairs
    stats = {s["key"]: (s["n"], s["fixes"], s["regressions"]) for s in paired.slice_stats}
    assert stats == {"lang\\=en=yes": (5, 5, 0), "lang=en=yes": (5, 0, 5)}
    for key, rows in (("lang\\=en=yes", range(5)), ("lang=en=yes", range(5, 10))):
        chosen = paired.select(changed=True, set_name=None, slice_key=key)
        assert sorted(paired.row(k).id for k in chosen) == [items[i]["id"] for i in rows]


def test_items_lines_read_as_json_reads_them_and_a_bad_line_is_named() -> None:
    rows = [
        b'{"set": "s", "id": "1", "score": NaN}',  # json accepts NaN, orjson does not
        b"",
        b'{"set": "s", "id": "2", "big": 123456789012345678901234567890}',
        b'{"set": "s", "id": "3", "text": "a\xe2\x80\xa8b"}',  # U+2028 inside a string
        b'{"set": "s", "id": "4", "small": -9223372036854775809, "lone": "\\ud800"}',
    ]
    got = cmp.parse_items("c" * 64, b"\n".join(rows) + b"\n")
    assert [r["id"] for r in got] == ["1", "2", "3", "4"]
    assert got[1]["big"] == 123456789012345678901234567890 and got[2]["text"] == "a\u2028b"
    assert got[3] == {**json.loads(rows[4]), "lone": "\ufffd"}  # no page can encode "\ud800"
    assert json.dumps(got[0]["score"]) == "NaN"
    with pytest.raises(InputError, match=r"line 3 is not usable JSON"):
        cmp.parse_items("d" * 64, b'{"id": 1}\n{"id": 2}\n{"id": \n')


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2]", "line 2 is a JSON list, not an item object"),
        (b"null", "line 2 is a JSON null, not an item object"),
        (b'{"id": "2", "candidate_correct": "false"}', 'line 2: candidate_correct is "false"'),
        (b'{"id": "2", "base_correct": 1}', "line 2: base_correct is 1, not true or false"),
    ],
)
def test_an_item_line_that_is_not_an_item_is_named_not_dropped_or_misread(
    line: bytes, message: str
) -> None:
    # Found by attack: lines that were not objects vanished from the page without a word,
    # and "false" (a string, so true) counted a wrong answer as right: 66.7% for 0%.
    with pytest.raises(InputError, match=re.escape(message)):
        cmp.parse_items(hashlib.sha256(line).hexdigest(), b'{"id": "1"}\n' + line + b"\n")


_RIGHT = {"set": "s", "candidate_correct": True, "base_correct": True}


@pytest.mark.parametrize(
    ("bad", "against_base", "message"),
    [
        ({"candidate_correct": None}, True, "line 3: candidate_correct is null, not true or"),
        ({"candidate_correct": None}, False, "line 3: candidate_correct is null, not true or"),
        ({"candidate_correct": ...}, True, "line 3: candidate_correct is missing, not true"),
        ({"base_correct": None}, True, "line 3: base_correct is null, not true or false"),
        ({"base_correct": ...}, True, "line 3: base_correct is missing, not true or false"),
        ({"set": ...}, True, "line 3: set is missing, items are matched by golden set and id"),
        ({"id": None}, False, "line 3: id is null, items are matched by golden set and id"),
    ],
)
def test_an_item_without_a_verdict_set_or_id_is_named_not_counted_as_wrong(
    bad: dict[str, object], against_base: bool, message: str
) -> None:
    # Found by attack: {true, true}, {null, true}, {no verdict, true} showed "A correct
    # 33.3%, right→wrong 2" (missing or null read as wrong), and an item without a set
    # was listed under a golden set "None".
    item = {k: v for k, v in {**_RIGHT, "id": "2", **bad}.items() if v is not ...}
    # A blank line first: the item is named by its line, not its position.
    raw = b"\n".join([b"", json.dumps({**_RIGHT, "id": "1"}).encode(), json.dumps(item).encode()])
    sha = hashlib.sha256(raw).hexdigest()
    items = cmp.parse_items(sha, raw)
    with pytest.raises(InputError, match=re.escape(f"stored items {sha[:12]}: {message}")):
        if against_base:
            cmp.pairing(sha, items, None, None)
        else:  # the A side of a compare with another report's candidate, then the B side
            cmp.pairing(sha, items, "b" * 64, [{**_RIGHT, "id": "1"}, {**_RIGHT, "id": "2"}])
    if not against_base:
        with pytest.raises(InputError, match=re.escape(message)):
            cmp.pairing("c" * 64, [{**_RIGHT, "id": "1"}, {**_RIGHT, "id": "2"}], sha, items)


def test_a_missing_base_verdict_is_no_matter_when_compared_with_another_candidate() -> None:
    rows = [{**_RIGHT, "id": str(i)} for i in range(3)]
    b_rows = [{k: v for k, v in r.items() if k != "base_correct"} for r in rows]
    paired = cmp.pairing("d" * 64, rows, "e" * 64, b_rows)
    assert paired.matched == 3 and paired.metrics[0]["a"] == paired.metrics[0]["b"] == 1.0


def test_a_compare_of_items_without_a_verdict_is_a_400_naming_the_line(world: World) -> None:
    rows = items_rows(3)
    rows[1]["candidate_correct"] = None
    del rows[2]["candidate_correct"]
    client, rid = _uploaded(world, rows)
    for url, headers in (
        (f"/api/v1/compare?a={rid}", bearer(world, "vera")),
        (f"/compare?a={rid}", {}),
    ):
        r = client.get(url, headers=headers)
        assert r.status_code == 400 and "line 2: candidate_correct is null" in r.text, r.text


def test_items_that_would_not_fit_the_memory_budget_are_refused_not_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by attack: 28 MiB of `{}` lines is 10 million dicts, 3 GB held by the server.
    raw = b"{}\n" * 1000
    monkeypatch.setattr(cmp, "_ITEMS_BUDGET", cmp.parse_cost(raw) - 1)
    with pytest.raises(InputError, match=r"more than the .* MiB compare may hold"):
        cmp.parse_items("f" * 64, raw)
    assert cmp.cached_items("f" * 64) is None


def test_parsing_leaves_the_collector_as_it_found_it() -> None:
    raw = b"".join(json.dumps({"set": "s", "id": str(i)}).encode() + b"\n" for i in range(2000))
    assert gc.isenabled()
    errors: list[BaseException] = []

    def parse(n: int) -> None:
        try:
            cmp.parse_items(f"{n:064x}", raw)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=parse, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and gc.isenabled()
    gc.disable()
    try:
        cmp.parse_items("e" * 64, raw)
        assert not gc.isenabled()  # a caller's choice is kept too
    finally:
        gc.enable()


def test_compare_pages_are_the_same_from_the_cache(world: World) -> None:
    client = TestClient(create_app(world.db))
    urls = ["/api/v1/compare?a=2&b=1&changed=1", "/api/v1/compare?a=2", "/api/v1/compare?a=1&b=2"]
    first = [client.get(u, headers=bearer(world, "vera")).text for u in urls]
    cmp._ITEMS.clear()
    cmp._PAIRS.clear()
    fresh = [client.get(u, headers=bearer(world, "vera")).text for u in urls]
    cached = [client.get(u, headers=bearer(world, "vera")).text for u in urls]
    assert first == fresh == cached
    assert re.search(r'"total":\s*\d+', first[0])


def _uploaded(world: World, rows: list[dict[str, object]]) -> tuple[TestClient, int]:
    """``rows`` uploaded as bot v2's items (alice), and a client logged in as vera."""
    from curagate.digest import sha256_bytes

    from ..registry.registry_fixtures import report_doc

    items = "".join(json.dumps(r) + "\n" for r in rows)
    doc = report_doc("0" * 64, "pass")
    doc["items"] = {
        "file": "items.jsonl",
        "sha256": sha256_bytes(items.encode()),
        "count": len(rows),
    }
    client = TestClient(create_app(world.db))
    up = client.post(
        "/api/v1/reports",
        headers=bearer(world, "alice"),
        json={"name": "bot", "version": 2, "report": json.dumps(doc), "items": items},
    )
    assert up.status_code in (200, 201), up.text
    nonce = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    client.post(
        "/login",
        data={"token": world.tokens["vera"], "csrf": nonce.group(1)},
        follow_redirects=False,
    )
    return client, int(up.json()["id"])


@pytest.mark.parametrize(
    "judge",
    [
        {"verdict": "tie"},
        {"verdict": "win", "candidate_first": {"verdict": 3}, "base_first": {}},
        {"verdict": ["x"], "candidate_first": None, "base_first": "y"},
    ],
)
def test_an_uploaded_item_whose_judge_has_another_shape_never_breaks_compare(
    world: World, judge: object
) -> None:
    # items.jsonl is an upload like any other: a judge object without the keys the page
    # reads was a 500 for every viewer of the compare page.
    rows = items_rows(4)
    rows[0]["judge"] = judge
    client, rid = _uploaded(world, rows)
    page = client.get(f"/compare?a={rid}")
    assert page.status_code == 200, page.text[-500:]


def test_judge_verdicts_are_bounded_like_every_shown_field(world: World) -> None:
    # Found by attack: only the judge's `raw` texts were cut; verdicts of a MB each in 50
    # items made one compare page (and its API answer) 150 MB.
    big = "V" * 100_000
    rows = items_rows(3)
    rows[0]["judge"] = {
        "verdict": big,
        "position_disagreement": False,
        "candidate_first": {"verdict": big, "raw": "A"},
        "base_first": {"verdict": big, "raw": "B"},
    }
    client, rid = _uploaded(world, rows)
    api = client.get(f"/api/v1/compare?a={rid}", headers=bearer(world, "vera"))
    page = client.get(f"/compare?a={rid}")
    assert api.status_code == page.status_code == 200
    assert len(api.content) < 50_000 and len(page.text) < 50_000
    [judge] = [i["judge"] for i in api.json()["items"] if i["id"] == "item-00000"]
    for shown in (judge["verdict"], judge["candidate_first"]["verdict"]):
        assert shown.startswith("V" * cmp.MAX_SHOWN_CHARS + " … [96,000 more characters")


def test_a_lone_surrogate_in_an_item_is_shown_as_a_replacement_character(world: World) -> None:
    # "x\ud800y" in items.jsonl (valid UTF-8 JSON) made every compare of the report a 500.
    rows = items_rows(3)
    rows[0]["candidate_output"] = "x\ud800y"
    client, rid = _uploaded(world, rows)
    api = client.get(f"/api/v1/compare?a={rid}", headers=bearer(world, "vera"))
    assert api.status_code == 200
    outputs = [i["a_output"] for i in api.json()["items"]]
    assert "x\ufffdy" in outputs
    assert client.get(f"/compare?a={rid}").status_code == 200


def test_long_texts_many_slices_and_bidi_controls_are_bounded_and_shown_plainly(
    world: World,
) -> None:
    # 50 items of 1.2 MB prompts made a 171 MiB page; a slice value per item a page of
    # 100,000 options; U+202E in an answer reordered what the page shows ("\u202eon": "no").
    rows = items_rows(300)
    rows[0]["prompt"] = "p" * (cmp.MAX_SHOWN_CHARS + 5000)
    rows[0]["candidate_output"] = "\u202eon"
    for i, r in enumerate(rows):
        r["slices"] = {"id": f"v{i}"}
    client, rid = _uploaded(world, rows)
    page = client.get(f"/compare?a={rid}").text
    assert "p" * cmp.MAX_SHOWN_CHARS + " … [5,000 more characters" in page
    assert "p" * (cmp.MAX_SHOWN_CHARS + 1) not in page
    assert page.count("<option") < 220 and "100 more slice(s) not listed" in page
    assert "\u202e" not in page and "\ufffdon" in page


def _menu_values(page: str, name: str) -> list[str]:
    """The values a browser submits for the options of ``<select name=NAME>``."""
    from html.parser import HTMLParser

    values: list[str] = []

    class Menus(HTMLParser):
        select: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "select":
                self.select = dict(attrs).get("name")
            elif tag == "option" and self.select == name:
                values.append(dict(attrs).get("value") or "")

    Menus().feed(page)
    return [v for v in values if v]


@pytest.mark.slow
def test_the_filter_menus_find_sets_and_slices_that_hold_bidi_controls(world: World) -> None:
    # Found by attack: the page shows a bidi control as U+FFFD, and did so in the menus'
    # option values too: the browser submitted a label no item has, "0 item(s) match".
    rows = items_rows(8)
    for i, r in enumerate(rows):
        r["set"] = "sup\u202eport" if i % 2 else "plain"
        r["slices"] = {"lang": "\u2067ar" if i % 2 else "en"}
    client, rid = _uploaded(world, rows)
    page = client.get(f"/compare?a={rid}").text
    assert "\u202e" not in page and "\u2067" not in page  # still never in the page's source
    sets, slices = _menu_values(page, "set"), _menu_values(page, "slice")
    assert "sup\u202eport" in sets and "lang=\u2067ar" in slices
    for name, value in (("set", "sup\u202eport"), ("slice", "lang=\u2067ar")):
        chosen = client.get("/compare", params={"a": rid, name: value}).text
        assert "4 item(s) match" in chosen, (name, value)
        assert re.search(r'<option value="[^"]*&#x2(02e|067);[^"]*" selected>', chosen)


def test_the_filter_menus_find_sets_and_slices_that_hold_line_breaks_or_nul(
    world: World,
) -> None:
    # Found by the re-attack: a browser's form submits a line break as CRLF and a NUL as
    # U+FFFD, so an option of the page's own menus asked for a label no item has (404).
    rows = items_rows(12)
    names = ["s\nA", "s\x00B", "s\rC"]
    for i, r in enumerate(rows):
        r["set"] = names[i % 3]
        r["slices"] = {"topic": "line1\nline2" if i % 2 else "plain"}
    client, rid = _uploaded(world, rows)
    for name, submitted in (
        ("set", "s\r\nA"),
        ("set", "s\ufffdB"),
        ("set", "s\r\nC"),
        ("slice", "topic=line1\r\nline2"),
    ):
        chosen = client.get("/compare", params={"a": rid, name: submitted})
        assert chosen.status_code == 200, (name, submitted, chosen.text[:300])
        assert ("4 item(s) match" if name == "set" else "6 item(s) match") in chosen.text
    assert client.get("/compare", params={"a": rid, "set": "s\r\nZ"}).status_code == 404


def test_labels_a_browser_submits_alike_are_refused_on_the_page_not_mixed_up(
    world: World,
) -> None:
    # Found by the re-attack: sets "a\nb" (3 items) and "a\r\nb" (9) are one value once a
    # browser's form sends them: either option showed the 9 items' numbers.
    rows = items_rows(12)
    for i, r in enumerate(rows):
        r["set"] = "a\nb" if i < 3 else "a\r\nb"
    client, rid = _uploaded(world, rows)
    for value in ("a\r\nb", "a\nb"):
        page = client.get("/compare", params={"a": rid, "set": value})
        assert page.status_code == 404 and "names 2 golden sets" in page.text
    api = client.get(
        "/api/v1/compare", params={"a": rid, "set": "a\nb"}, headers=bearer(world, "vera")
    )
    assert api.status_code == 200 and api.json()["total"] == 3  # the label as it is


def test_a_golden_set_named_all_is_told_apart_from_the_overall_row(world: World) -> None:
    # Found by attack: a set named "all" and the row of every set both read "all" (the
    # metrics table, the API's metrics, the set menu's first option).
    rows = items_rows(10)
    for i, r in enumerate(rows):
        r["set"] = "all" if i % 2 else "other"
    client, rid = _uploaded(world, rows)
    api = client.get(f"/api/v1/compare?a={rid}", headers=bearer(world, "vera")).json()
    assert [(m["set"], m["overall"], m["n"]) for m in api["metrics"]] == [
        ("all", False, 5),
        ("other", False, 5),
        ("all", True, 10),  # still named "all", as before
    ]
    page = client.get(f"/compare?a={rid}").text
    metrics = page[page.index('<table id="metrics">') : page.index("</table>")]
    assert metrics.count("<td>all</td>") == 1
    assert '<tr class="overall"><th scope="row">every golden set (overall)</th>' in metrics
    menu = page[page.index('<select name="set">') : page.index("</select>")]
    assert re.fullmatch(
        r'<select name="set"><option value="">all</option><optgroup label="golden sets">'
        r'<option value="all" >all</option><option value="other" >other</option></optgroup>',
        menu,
    ), menu


def test_an_answer_that_is_a_json_value_is_shown_as_its_json_text(world: World) -> None:
    # Found by attack: {"ok": true, "unit": null} showed as {'ok': True, 'unit': None}.
    rows = items_rows(2)
    rows[0]["candidate_answer"] = {"ok": True, "unit": None, "name": "é"}
    rows[0]["base_answer"] = [1.5, False]
    client, rid = _uploaded(world, rows)
    page = html.unescape(client.get(f"/compare?a={rid}").text)
    assert 'answer: {"name": "é", "ok": true, "unit": null}</div>' in page
    assert "answer: [1.5, false]</div>" in page and "'ok'" not in page


def test_answers_set_and_id_are_bounded_and_golden_sets_listed_at_most_200(
    world: World,
) -> None:
    # Only prompt, reference and outputs were cut: 1 MiB answers made a 40 MB page; one
    # golden set per item a table of 50,000 rows (the slices were capped, the sets not).
    rows = items_rows(300)
    big = "a" * (cmp.MAX_SHOWN_CHARS + 1000)
    rows[0].update(candidate_answer=big, base_answer={"k": big}, id="i" * (cmp.MAX_SHOWN_CHARS + 9))
    for i, r in enumerate(rows):
        r["set"] = f"set-{i:04d}"
    client, rid = _uploaded(world, rows)
    api = client.get(f"/api/v1/compare?a={rid}", headers=bearer(world, "vera")).json()
    assert api["sets_not_listed"] == 100 and len(api["metrics"]) == 201
    assert api["metrics"][-1]["set"] == "all" and api["metrics"][-1]["n"] == 300
    [first] = [i for i in api["items"] if i["set"] == "set-0000"]
    for key in ("a_answer", "b_answer", "id"):
        assert len(first[key]) < cmp.MAX_SHOWN_CHARS + 100 and "more characters" in first[key]
    page = client.get(f"/compare?a={rid}").text
    assert "100 more golden set(s) not listed" in page and big not in page
    by_set = {r["set"]: r for r in rows}
    other = next(i for i in api["items"] if i["set"] != "set-0000")
    assert other["a_answer"] == by_set[other["set"]]["candidate_answer"]  # short: as it was


@pytest.mark.slow
def test_long_set_names_and_slices_are_bounded_and_stay_distinct(world: World) -> None:
    # Set names and slice keys and values were printed whole in tables, menus and links:
    # 200 of 20,000 characters from an uploader made a 109 MB page of an 8 MB upload.
    rows = items_rows(200)
    for i, r in enumerate(rows):
        r["set"] = "<" * 20_000 + str(i % 2)
        r["slices"] = {"k" * 5_000: "v" * 20_000 + str(i)}
    client, rid = _uploaded(world, rows)
    page = client.get(f"/compare?a={rid}")
    assert page.status_code == 200 and len(page.text) < 2_000_000
    api = client.get(f"/api/v1/compare?a={rid}", headers=bearer(world, "vera")).json()
    sets = [m["set"] for m in api["metrics"] if m["set"] != "all"]
    assert len(sets) == 2 and len(set(sets)) == 2  # distinct names stay distinct
    assert all(len(s) < cmp.MAX_LABEL_CHARS + 80 and "characters, sha256" in s for s in sets)
    assert all(len(next(iter(i["slices"]))) < cmp.MAX_LABEL_CHARS + 80 for i in api["items"])
    # The bounded name filters as the page links it.
    chosen = client.get("/compare", params={"a": rid, "set": sets[0]})
    assert chosen.status_code == 200
    other = html.escape(sets[1], quote=False)
    # The other set is still in the menus and the metrics table, no longer in the rows.
    assert 0 < chosen.text.count(other) < page.text.count(other)


def test_every_slice_link_the_page_offers_is_accepted(world: World) -> None:
    # Found by attack: a column of 200 `=` (the label limit) with a 250-character value made
    # a link of 2 * 200 + 1 + 243 characters, past the 600 the query took: 422.
    rows = items_rows(4)
    for i, r in enumerate(rows):
        r["slices"] = {"=" * 200: "v" * 250} if i % 2 else {"\\" * 5_000: "=" * 20_000}
    client, rid = _uploaded(world, rows)
    page = client.get(f"/compare?a={rid}").text
    links = [html.unescape(h) for h in re.findall(r'<a href="(/compare\?[^"]*slice=[^"]*)"', page)]
    assert len(links) == 2
    for link in links:
        r = client.get(link)
        assert r.status_code == 200 and '" selected>' in r.text, r.text[-500:]  # its slice
    key = cmp.slice_key(cmp._label("=" * 10**7), cmp._label("=" * 10**7))  # among the longest
    assert len(key) <= cmp.MAX_SLICE_PARAM


def test_repeated_items_never_make_the_unmatched_count_negative() -> None:
    # A's three items with one (set, id) matched B's one: "3 matched, -2 in only one".
    rows = items_rows(2)
    a = [dict(rows[0]) for _ in range(3)] + [dict(rows[1], id="only-in-a")]
    b = [dict(rows[0]), dict(rows[1], id="only-in-b")]
    paired = cmp._pair(a, b)
    assert (paired.matched, paired.unmatched) == (3, 2)


@pytest.mark.parametrize("how", ["deleted", "changed"])
def test_an_items_blob_deleted_or_changed_after_it_was_cached_is_a_503(
    world: World, how: str
) -> None:
    # The cached items hid it: compare answered 200 while `registry check` failed (a
    # deleted blob was looked for only on a cache miss, a changed one never).
    client = TestClient(create_app(world.db))
    assert client.get("/api/v1/compare?a=2", headers=bearer(world, "vera")).status_code == 200
    with Registry(world.db) as reg:
        _, rec = reg.report_by_id(2)
        sha = reg.report_items_sha256(rec)
        assert sha is not None
        blob = reg.store_dir / sha[:2] / sha
        if how == "deleted":
            blob.unlink()
        else:
            blob.chmod(0o644)
            blob.write_bytes(b'{"set": "x", "id": "forged"}\n')
    urls = ["/api/v1/compare?a=2"] + (["/api/v1/models/bot/versions/2"] if how == "deleted" else [])
    said = "stored blob missing" if how == "deleted" else "sha256"
    for url in urls:
        r = client.get(url, headers=bearer(world, "vera"))
        assert r.status_code == 503 and said in r.json()["error"], (url, r.text)


def test_the_interval_excludes_zero_exactly_when_mcnemar_is_significant() -> None:
    # Found by attack: the Wald interval collapsed to a point when every discordant pair
    # went one way: [+1, +1] for 3 items of 3 fixed, beside p 0.25 "within noise"; and
    # [+0.02, +0.68] excluded 0 on a row McNemar called within noise.
    tiny = cmp.stats_from_counts(3, 3, 0, 3, 0)
    assert tiny["ci_low"] < 0 < tiny["ci_high"] and not tiny["significant"]
    for n in (1, 3, 10, 40, 200):
        for fixes in range(0, min(n, 40) + 1, 3):
            for regressions in range(0, min(n - fixes, 40) + 1, 2):
                s = cmp.stats_from_counts(n, fixes, regressions, fixes, regressions)
                assert -1 <= s["ci_low"] <= s["delta"] <= s["ci_high"] <= 1
                assert s["ci_low"] < s["ci_high"], (n, fixes, regressions)
                excludes = s["ci_low"] > 0 or s["ci_high"] < 0
                assert excludes == s["significant"], (n, fixes, regressions, s)
    # p 0.049999863 is 0.05 at the report's 6 decimals, within noise; the interval of the
    # unrounded test excluded 0 by 2e-8 and printed [-0.073611, -0.0000] beside it.
    edge = cmp.stats_from_counts(2880, 0, 0, 1382, 1488)
    assert (edge["p_value"], edge["significant"]) == (0.05, False)
    assert edge["ci_low"] < 0 <= edge["ci_high"]


def test_compare_numbers_are_never_rounded_onto_a_limit() -> None:
    # Found by attack: the compare page printed the gate's own metrics with 4 decimals, so a
    # candidate the gate failed at 0.799996 < 0.8 read 0.8000, a significant p = 0.049996
    # read 0.0500 (0.05 in the paired table) and a CI not touching 0 read [+0.0000, ...].
    from curagate.reports import environment

    filters = environment().filters
    assert filters["fmt"](0.799996) == "0.799996" and filters["fmt"](0.5) == "0.5000"
    assert filters["fmt"](0.049996) == "0.049996"
    assert filters["num"](0.000004) == "+0.000004" and filters["num"](-0.3) == "-0.3000"
    assert filters["num"](None) == "-" and filters["fmt"]("n/a") == "n/a"


@pytest.mark.slow
def test_big_items_are_kept_within_a_memory_budget_and_their_pairings_go_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Found by attack: an items file over 32 MB was parsed again for every request (never
    # kept), ~2 GB of memory each, while its pairing kept the parse anyway.
    cmp._ITEMS.clear()
    cmp._PAIRS.clear()
    verdicts = {"candidate_correct": True, "base_correct": False}
    row = json.dumps({"set": "s", "id": "0", "prompt": "p" * 4000, **verdicts}).encode() + b"\n"
    big = row * (33 * 2**20 // len(row) + 1)
    items = cmp.parse_items("a" * 64, big)
    assert cmp.cached_items("a" * 64) is items and len(big) > 32 << 20
    assert cmp.parse_cost(big) >= len(big)
    cmp.pairing("a" * 64, items, None, None)
    # A budget below two such files keeps the newest only, and drops the older's pairing.
    monkeypatch.setattr(cmp, "_ITEMS_BUDGET", cmp.parse_cost(big + row) + 1)
    cmp.parse_items("b" * 64, big + row)
    assert cmp.cached_items("a" * 64) is None and cmp.cached_items("b" * 64) is not None
    assert not [k for k in cmp._PAIRS if "a" * 64 in k]
    # One that fits the budget alone evicts every other.
    monkeypatch.setattr(cmp, "_ITEMS_BUDGET", cmp.parse_cost(row))
    cmp.parse_items("c" * 64, row)
    assert list(cmp._ITEMS) == ["c" * 64]


@pytest.mark.slow
def test_the_estimate_of_parsed_memory_is_from_above() -> None:
    import tracemalloc

    shapes = [
        b'{"a":1}\n' * 20000,
        b'{"a":{"b":{"c":{"d":{}}}}}\n' * 5000,
        b'{"a":[[],[],[],[],[],[],[],[]]}\n' * 5000,
        b'{"a":["x","y","z"],"b":"v","c":{"d":"e"},"n":1.5}\n' * 5000,
        b"".join(json.dumps(r).encode() + b"\n" for r in items_rows(2000)),
        # One astral character: the whole string at 4 bytes a character (re-attack).
        b"".join(
            json.dumps({"id": f"x{i}", "output": "\U0001f600" + "a" * 100_000}).encode() + b"\n"
            for i in range(20)
        ),
    ]
    for n, raw in enumerate(shapes):
        gc.collect()
        tracemalloc.start()
        try:
            cmp.parse_items(f"{n + 100:064x}", raw)
            used = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert used <= cmp.parse_cost(raw), (n, used, cmp.parse_cost(raw))


@pytest.mark.slow
def test_concurrent_compares_of_one_big_report_parse_it_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every viewer of a big report parsed it at once (a dozen exhausted the memory): big
    # files are read and parsed one at a time, and the others find the parse cached.
    monkeypatch.setattr(cmp, "_BIG_PARSE_BYTES", 0)  # every items file counts as big
    reads: list[str] = []
    real = Registry.report_items

    def counted(self: Registry, rec: object) -> bytes | None:
        reads.append(threading.current_thread().name)
        time.sleep(0.3)  # a slow disk: the other requests arrive meanwhile
        return real(self, rec)  # type: ignore[arg-type]

    monkeypatch.setattr(Registry, "report_items", counted)
    client = TestClient(create_app(world.db))
    got: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: got.append(
                client.get("/api/v1/compare?a=2", headers=bearer(world, "vera")).status_code
            )
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [200] * 6 and len(reads) == 1
