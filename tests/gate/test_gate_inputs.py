"""What the gate scores with is what it checked and what its report names; bad inputs
stop it before any model runs (found by attacking the gate, each a test that failed)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import pytest
from gate_support import SENTIMENT_ITEMS, CannedServer, write_mini_suite, write_set

from curagate.cli import main
from curagate.errors import ConfigError
from curagate.gate import run_gate
from curagate.gate.config import parse_gate
from curagate.golden import lock

STRICT = {
    "type": "object",
    "properties": {"n": {"type": "integer", "maximum": 4}},
    "required": ["n"],
}
JSON_ITEMS = [
    {"id": f"j{i}", "prompt": f"Give JSON for {i}", "reference": {"n": i}} for i in range(10)
]


def json_gate(tmp_path: Path, root: Path, schema: Path) -> Path:
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: js\ngolden_dir: {root}\ngeneration: {{max_new_tokens: 16, concurrency: 1}}\n"
        "statistics: {bootstrap_resamples: 100}\ngolden_sets:\n  - name: js\n"
        f"    task: structured_json\n    json_schema: {schema}\n"
        "    metrics: {schema_compliance: {min: 0.9}}\ncontamination: {check: false}\n"
    )
    return gate


def sentiment_gate(
    tmp_path: Path, items: list[dict], settings: str = "", metrics: str = ""
) -> Path:
    """Set "s" of ``items`` (classification), locked, and a gate file over it; ``settings``
    (YAML lines) and ``metrics`` (the set's metrics mapping) are added when given."""
    root = tmp_path / "golden"
    write_set(root, "s", "classification", items)
    lock(root)
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {root}\n{settings}golden_sets:\n  - name: s\n"
        "    task: classification\n    labels: [Positive, Negative]\n"
        + (f"    metrics: {metrics}\n" if metrics else "")
        + "contamination: {check: false}\n"
    )
    return gate


def echo_n(prompt: str) -> str:
    return json.dumps({"n": int(prompt.rsplit(" ", 1)[1])})


def test_a_locked_schema_edited_while_models_run_is_not_what_scores(tmp_path) -> None:
    """The schema was read again after generation, from the set folder: an edit made while
    the models ran ({} accepts anything) scored 1.0 under the locked sha256 (exit 0)."""
    root = tmp_path / "golden"
    d = write_set(root, "js", "structured_json", JSON_ITEMS)
    (d / "schema.json").write_text(json.dumps(STRICT))
    yaml = (d / "set.yaml").read_text().replace("[data.jsonl]", "[data.jsonl, schema.json]")
    (d / "set.yaml").write_text(yaml)
    lock(root)
    locked = hashlib.sha256((d / "schema.json").read_bytes()).hexdigest()

    def edit_then_answer(prompt: str) -> str:
        (d / "schema.json").write_text("{}")
        return echo_n(prompt)

    srv = CannedServer(edit_then_answer)
    try:
        out = run_gate(
            json_gate(tmp_path, root, d / "schema.json"), srv.url, srv.url, tmp_path / "o"
        )
    finally:
        srv.close()
    assert (d / "schema.json").read_text() == "{}"  # the edit happened
    assert out.report["results"][0]["metrics"]["schema_compliance"]["candidate"] == 0.5
    assert out.report["verdict"] == "fail" and out.exit_code == 1
    [entry] = out.report["golden_sets"]
    assert entry["json_schema"] == {"file": str(d / "schema.json"), "sha256": locked}


def test_the_report_names_the_bytes_of_an_unlocked_schema(tmp_path) -> None:
    """A schema outside the set (no lock covers it) was not in the report: two runs with the
    same gate and golden sha256 failed and passed on two schemas, indistinguishably."""
    root = tmp_path / "golden"
    write_set(root, "js", "structured_json", JSON_ITEMS)
    lock(root)
    schema = tmp_path / "schema.json"
    srv = CannedServer(echo_n)
    try:
        reports = []
        for k, doc in enumerate((STRICT, {})):
            schema.write_text(json.dumps(doc))
            gate = json_gate(tmp_path, root, schema)
            # the same server as another model: a base that is the candidate fails GATE013
            out = run_gate(gate, srv.url, srv.url, tmp_path / f"o{k}", base_model_name="base")
            reports.append(out.report)
    finally:
        srv.close()
    assert [r["verdict"] for r in reports] == ["fail", "warn"]
    shas = [r["golden_sets"][0]["json_schema"]["sha256"] for r in reports]
    assert shas == [hashlib.sha256(json.dumps(d).encode()).hexdigest() for d in (STRICT, {})]
    # the signed predicate pins gate_report.json, which now differs in what decided
    assert reports[0]["gate"]["sha256"] == reports[1]["gate"]["sha256"]


def test_two_items_all_lost_are_not_a_significant_regression(tmp_path) -> None:
    """macro_f1 on two items, both lost: the bootstrap's p sat at its floor (0.002,
    "significant", a fail) while McNemar gave accuracy on the same answers 0.5 (a warn)."""
    two = [
        next(i for i in SENTIMENT_ITEMS if i["reference"] == label)
        for label in ("Positive", "Negative")
    ]
    gate = sentiment_gate(
        tmp_path,
        two,
        "statistics: {bootstrap_resamples: 200, fail_only_if_significant: true}\n",
        "{accuracy: {}, macro_f1: {}}",
    )
    truth = {i["prompt"]: i["reference"] for i in two}
    flip = {"Positive": "Negative", "Negative": "Positive"}
    right, wrong = CannedServer(truth.__getitem__), CannedServer(lambda p: flip[truth[p]])
    try:
        out = run_gate(gate, wrong.url, right.url, tmp_path / "o")
    finally:
        right.close()
        wrong.close()
    metrics = out.report["results"][0]["metrics"]
    assert metrics["macro_f1"]["delta"] == metrics["accuracy"]["delta"] == -1.0
    assert metrics["macro_f1"]["p_value"] == metrics["accuracy"]["p_value"] == 0.5
    verdicts = {c["name"]: c["verdict"] for c in out.report["checks"]}
    assert verdicts["s.macro_f1.regression"] == verdicts["s.accuracy.regression"] == "warn"


@pytest.mark.parametrize(
    ("suite", "error"),
    [
        # no task: the config loaded, then lm-eval raised after both models loaded (exit 3)
        ("[]", "List should have at least 1 item"),
        # a task twice: two identical checks of one name
        ("[tiny_mc, tiny_mc]", "task listed twice: tiny_mc"),
    ],
)
def test_a_regression_suite_without_tasks_or_with_one_twice_is_a_config_error(
    suite: str, error: str
) -> None:
    text = f"name: g\nregression_suite:\n  tasks: {suite}\n"
    with pytest.raises(ConfigError, match=rf"g\.yaml:3: key 'regression_suite\.tasks'.*{error}"):
        parse_gate(text, "g.yaml")


def test_a_slice_column_listed_twice_is_a_config_error() -> None:
    text = (
        "name: g\ngolden_sets:\n  - name: s\n    task: classification\n"
        "    labels: [a, b]\n    slices:\n      - {column: length}\n      - {column: length}\n"
    )
    with pytest.raises(ConfigError, match="slice column listed twice: length"):
        parse_gate(text, "g.yaml")


def test_a_metric_named_without_a_bound_writes_no_threshold_check(tmp_path) -> None:
    """`accuracy: {}` wrote a GATE001 check that passed having checked nothing."""
    gate = sentiment_gate(
        tmp_path,
        SENTIMENT_ITEMS[:10],
        "statistics: {bootstrap_resamples: 100}\n",
        "{accuracy: {}, macro_f1: {min: 0.5}}",
    )
    truth = {i["prompt"]: i["reference"] for i in SENTIMENT_ITEMS}
    srv = CannedServer(truth.__getitem__)
    try:
        out = run_gate(gate, srv.url, srv.url, tmp_path / "o")
    finally:
        srv.close()
    names = sorted(c["name"] for c in out.report["checks"] if c["id"] in ("GATE001", "GATE002"))
    assert names == ["s.accuracy.regression", "s.macro_f1.regression", "s.macro_f1.threshold"]


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("prompt", None, "null"),
        ("prompt", 42, "42"),
        ("prompt", ["is this", "positive?"], r'\["is this", "positive\?"\]'),
        ("prompt", {"text": "great"}, r'\{"text": "great"\}'),
        ("prompt", False, "false"),
        ("messages", "hello", '"hello"'),
    ],
)
def test_an_item_whose_prompt_is_not_text_exits_2_before_any_request(
    tmp_path, capsys, field: str, value: object, shown: str
) -> None:
    """A non-string prompt was sent as Python's str() of it ('None', "['is this', ...]")
    and scored; exit 0."""
    items = [dict(i) for i in SENTIMENT_ITEMS[:10]]
    items[3][field] = value
    gate = sentiment_gate(tmp_path, items)
    srv = CannedServer(lambda p: "Positive")
    try:
        rc = main(
            [
                "gate",
                str(gate),
                "--candidate",
                srv.url,
                "--base",
                srv.url,
                "--out",
                str(tmp_path / "o"),
            ]
        )
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2, err
    assert re.search(rf"golden set 's': item 's03': '{field}' must be a .*not {shown}", err), err
    assert srv.requests == 0


@pytest.mark.parametrize("out", ["file", "file/sub"])
def test_an_out_that_cannot_hold_the_reports_exits_2_before_any_request(
    tmp_path, capsys, out: str
) -> None:
    """`--out` naming a file was refused after both models answered every item."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    (tmp_path / "file").write_text("mine\n")
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / out)])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and "file" in err and srv.requests == 0, err
    assert (tmp_path / "file").read_text() == "mine\n"


def _model_and_run(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder (never loaded: the gate stops first) and a run trained on it."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}\n")
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}\n")
    record = {"schema_version": 1, "name": "run", "adapter_dir": "adapter"}
    record["base_model"] = {"path": str(model), "files": {}}
    (run / "run.json").write_text(json.dumps(record))
    return model, run


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
@pytest.mark.parametrize(
    ("side", "given", "inside", "what", "folder"),
    [
        ("--candidate", "model", "model", "candidate", "model"),
        ("--base", "model", "model", "base", "model"),
        ("--candidate", "run", "model", "candidate run's base model", "model"),
        ("--candidate", "run", "run/adapter", "candidate run's adapter", "run/adapter"),
        ("--candidate", "run", "run", "candidate", "run"),
        ("--base", "model", "golden/s", "golden set s", "golden/s"),
        ("--base", "model", "golden", "golden-set folder", "golden"),
    ],
)
def test_an_out_or_cache_inside_what_the_gate_reads_exits_2_before_any_request(
    tmp_path, capsys, option: str, side: str, given: str, inside: str, what: str, folder: str
) -> None:
    """Found by attack: --out and --cache-dir inside the candidate or base model folder (a
    run's base too) or a golden set were accepted, and the gate wrote into its own inputs:
    the signed digest no longer named the folder, the run was refused as trained on other
    weights ("base model files changed since training"), `leakage --reference` read the
    reports as golden items. Refused before any request, naming the option and the input."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    _model_and_run(tmp_path)
    target = tmp_path / inside / "gate-out"
    srv = CannedServer(lambda p: "Positive")
    try:
        other = "--base" if side == "--candidate" else "--candidate"
        argv = ["gate", str(gate), side, str(tmp_path / given), other, srv.url]
        argv += ["--out", str(tmp_path / "out"), option, str(target)]
        rc = main(argv)
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and srv.requests == 0, err
    assert f"{option} {target}: is inside the {what} {tmp_path / folder}, " in err, err
    assert not target.exists() and not (tmp_path / "out").exists()


def test_an_endpoint_scheme_in_capitals_is_an_endpoint(tmp_path, capsys) -> None:
    """Found by re-attack: ``HTTP://host/v1`` (a URL's scheme is read in any case, by the
    client too) was refused as "not a run directory, model directory or http(s) endpoint"."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    srv = CannedServer(lambda p: "Positive")
    try:
        upper = srv.url.replace("http://", "HTTP://", 1)
        argv = ["gate", str(gate), "--candidate", upper, "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / "out")])
    finally:
        srv.close()
    assert rc in (0, 1) and srv.requests > 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "gate_report.json").read_text())
    assert report["candidate"]["endpoint"] == upper


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
@pytest.mark.parametrize("scheme", ["x", "file"])
def test_a_spec_with_another_scheme_is_a_folder_the_gate_reads(
    tmp_path, capsys, monkeypatch, option: str, scheme: str
) -> None:
    """A --candidate holding ``://`` but no http(s) endpoint (``x://m``, ``file://m``) is
    loaded as the folder its path names (``x:/m``), and is a folder the gate reads: --out
    or --cache-dir inside it is refused (with the check's old rule, any spec holding
    ``://`` is no folder, they were accepted and the gate went on to load the model)."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    monkeypatch.chdir(tmp_path)
    model = Path(f"{scheme}:") / "m"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}\n")
    target = model / "gate-out"
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", f"{scheme}://m", "--base", srv.url]
        rc = main([*argv, "--out", "out", option, str(target)])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and srv.requests == 0, err
    assert f"{option} {target}: is inside the candidate {model}, " in err, err
    assert not target.exists() and not Path("out").exists()


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_an_out_inside_a_golden_set_linked_from_elsewhere_exits_2(
    tmp_path, capsys, option: str
) -> None:
    """Found by re-attack: a set folder that is a link to a folder elsewhere resolves
    outside the golden-set folder, and an --out given inside it was written into the set
    (`leakage --reference` then refused the reports as golden items)."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    elsewhere = (tmp_path / "golden" / "s").rename(tmp_path / "s-elsewhere")
    (tmp_path / "golden" / "s").symlink_to(elsewhere)
    target = tmp_path / "golden" / "s" / "gate-out"
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / "out"), option, str(target)])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and srv.requests == 0, err
    assert f"{option} {target}: is inside the golden set s {tmp_path / 'golden' / 's'}" in err
    assert not (elsewhere / "gate-out").exists()


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
@pytest.mark.parametrize("given", ["data", "data/*", "data/**/*.jsonl"])
def test_an_out_or_cache_where_the_train_data_reaches_exits_2(
    tmp_path, capsys, option: str, given: str
) -> None:
    """Found by attack: --out and --cache-dir inside a --train-data folder (or where a
    --train-data glob reaches) were accepted, and the reports (items.jsonl holds the golden
    items) were written into the data the contamination check reads. Refused before any
    request, as an output inside an input folder is; a hidden folder there, which the
    reader passes by, is not."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "train.jsonl").write_text('{"text": "clean"}\n')
    target = data / "sub" / "gate-out"
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        argv += ["--train-data", str(tmp_path / given)]
        out = str(target) if option == "--out" else str(tmp_path / "out")
        argv += ["--out", out] + ([option, str(target)] if option == "--cache-dir" else [])
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and srv.requests == 0, err
        assert f"{option} {target}: " in err and "the next run would read" in err, err
        assert not target.exists() and not (tmp_path / "out").exists()
        rc = main([*argv[:-1], str(data / "sub" / ".gate-out")])
    finally:
        srv.close()
    assert rc != 2, capsys.readouterr().err  # a verdict, not an input error


@pytest.mark.parametrize(
    ("option", "at"), [("--out", "m/judge/gate-out"), ("--cache-dir", "m/judge/c"), ("--out", "m")]
)
def test_an_out_or_cache_at_a_local_judge_exits_2(tmp_path, capsys, option: str, at: str) -> None:
    """Found by re-attack: a set's judge that is a model folder (``model: m/judge``, relative
    to the gate file) was no folder the gate reads: --out or --cache-dir inside it were
    accepted, and an --out holding it was refused only as a folder not the gate's. Refused
    before any request, naming the judge."""
    root = tmp_path / "golden"
    write_set(root, "chat", "generation", SENTIMENT_ITEMS[:10])
    lock(root)
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {root}\ngolden_sets:\n  - name: chat\n    task: generation\n"
        "    metrics: {judge_win_rate: {min: 0.5}}\n    judge: {model: m/judge}\n"
        "contamination: {check: false}\n"
    )
    judge = tmp_path / "m" / "judge"
    judge.mkdir(parents=True)
    (judge / "config.json").write_text("{}\n")
    target = tmp_path / at
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        out = str(target) if option == "--out" else str(tmp_path / "out")
        rc = main([*argv, "--out", out, *([option, str(target)] if option != "--out" else [])])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and srv.requests == 0, err
    if at == "m":
        assert f"--out {target}: holds the judge of set chat {judge}, " in err, err
    else:
        assert f"{option} {target}: is inside the judge of set chat {judge}, " in err, err
        assert not target.exists() and not (tmp_path / "out").exists()


def test_an_out_holding_a_runs_base_model_exits_2(tmp_path, capsys) -> None:
    """Replacing --out would delete the base model the run candidate is loaded from."""
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    model, run = _model_and_run(tmp_path)
    outer = tmp_path / "outer"
    outer.mkdir()
    record = json.loads((run / "run.json").read_text())
    record["base_model"]["path"] = str(model.rename(outer / "model"))
    (run / "run.json").write_text(json.dumps(record))
    argv = ["gate", str(gate), "--candidate", str(run), "--base", str(outer / "model")]
    rc = main([*argv, "--out", str(outer), "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 2 and "holds the candidate run's base model" in err, err


def test_a_schema_that_refers_to_itself_without_end_is_a_config_error(tmp_path) -> None:
    # {"$ref": "#"} resolves, so the gate file loaded; scoring hit RecursionError (exit 3).
    root = tmp_path / "golden"
    write_set(root, "js", "structured_json", JSON_ITEMS)
    lock(root)
    schema = tmp_path / "schema.json"
    schema.write_text('{"$ref": "#"}')
    srv = CannedServer(echo_n)
    try:
        with pytest.raises(ConfigError, match="refers to itself without end"):
            run_gate(json_gate(tmp_path, root, schema), srv.url, srv.url, tmp_path / "o")
    finally:
        srv.close()


def _two_sets(tmp_path: Path, second: list[dict], slices: str = "", suite: str = "") -> Path:
    """Sets "a" (good) and "b" (``second``), locked, and a gate over both, "b" with
    ``slices`` (a YAML flow list) when given, and ``suite`` (YAML lines) after them."""
    root = tmp_path / "golden"
    write_set(root, "a", "classification", SENTIMENT_ITEMS[:10])
    write_set(root, "b", "classification", second)
    if suite:
        write_mini_suite(root, [{"question": "q", "choices": ["x", "y"], "label": 0}] * 4)
    lock(root)
    sets = "".join(
        f"  - name: {n}\n    task: classification\n    labels: [Positive, Negative]\n"
        for n in ("a", "b")
    )
    gate = tmp_path / "gate.yaml"
    gate.write_text(
        f"name: t\ngolden_dir: {root}\ngolden_sets:\n{sets}"
        + (f"    slices: {slices}\n" if slices else "")
        + suite
        + "contamination: {check: false}\n"
    )
    return gate


@pytest.mark.parametrize(
    ("second", "slices", "suite", "error"),
    [
        (
            [{k: v for k, v in i.items() if k != "reference"} for i in SENTIMENT_ITEMS[:10]],
            "",
            "",
            "golden set 'b': item 's00' has no 'reference'",
        ),
        (
            [{**i, "length": 1 if n else "short"} for n, i in enumerate(SENTIMENT_ITEMS[:10])],
            "[{column: length}]",
            "",
            "slice column 'length' holds values of several types",
        ),
        (SENTIMENT_ITEMS[:10], "[{column: topic}]", "", "slice column 'topic' is in no item"),
        (
            SENTIMENT_ITEMS[:10],
            "",
            "regression_suite:\n  golden_set: mini_suite\n  tasks: [tiny_mc]\n  metric: acc_nrom\n",
            "regression_suite.metric 'acc_nrom': task 'tiny_mc'",
        ),
    ],
)
def test_an_error_in_a_later_set_or_the_suite_exits_2_before_any_request(
    tmp_path, capsys, second: list[dict], slices: str, suite: str, error: str
) -> None:
    # Found by attack: each set's inputs were checked as its turn to generate came, and the
    # suite's metric after every set: a bad reference or slice column in the second set,
    # or a typo'd regression_suite.metric, stopped the gate once the first was generated.
    gate = _two_sets(tmp_path, second, slices, suite)
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / "o")])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and error in err, err
    assert srv.requests == 0


@pytest.mark.parametrize(
    "given", ["train.json", "empty_folder", "train.jsonl.gz", "train.parquet", "shards"]
)
def test_unreadable_train_data_exits_2_before_any_request(tmp_path, capsys, given: str) -> None:
    # Found by attack: --train-data of a type the reader does not take (or a folder holding
    # none) was refused by the contamination scan, after both models answered every item;
    # found by the re-attack, a corrupt .jsonl.gz or .parquet (also in a folder) failed
    # GATE005 after generation as "holds no record".
    gate = sentiment_gate(tmp_path, SENTIMENT_ITEMS[:10])
    gate.write_text(gate.read_text().replace("contamination: {check: false}\n", ""))
    train = tmp_path / given
    if given.endswith(".json"):
        train.write_text('[{"prompt": "x", "completion": "y"}]')
    elif given.endswith(".gz"):
        whole = gzip.compress(b'{"prompt": "x", "completion": "y"}\n' * 50)
        train.write_bytes(whole[:20])  # truncated
    elif given.endswith(".parquet"):
        train.write_bytes(b"PAR1 not a parquet file PAR1")
    elif given == "shards":
        train.mkdir()
        (train / "a.jsonl").write_text('{"prompt": "x", "completion": "y"}\n')
        (train / "b.parquet").write_bytes(b"not parquet")
    else:
        train.mkdir()
    srv = CannedServer(lambda p: "Positive")
    try:
        argv = ["gate", str(gate), "--candidate", srv.url, "--base", srv.url]
        rc = main([*argv, "--out", str(tmp_path / "o"), "--train-data", str(train)])
    finally:
        srv.close()
    err = capsys.readouterr().err
    assert rc == 2 and given in err, err
    assert srv.requests == 0
