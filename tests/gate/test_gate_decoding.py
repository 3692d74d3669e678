"""The gate decodes both sides with its own settings, never a model folder's
generation_config.json, and says what such a file asks for (curagate.gate.decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.gate.checks import model_generation_config_check
from curagate.gate.decoding import GENERATION_KEYS, ignored_settings, stop_ids

# A chat model's files as Qwen2.5-Instruct ships them: config.json stops at <|endoftext|>,
# the tokenizer's eos is <|im_end|>, generation_config.json lists both and asks to sample.
QWEN_LIKE = {
    "bos_token_id": 151643,
    "pad_token_id": 151643,
    "do_sample": True,
    "eos_token_id": [151645, 151643],
    "repetition_penalty": 1.05,
    "temperature": 0.7,
    "top_p": 0.8,
    "top_k": 20,
    "transformers_version": "4.37.0",
}


IM_END = 151645  # the tokenizer's eos, <|im_end|>


def _model(
    tmp_path: Path, generation: object | None, *, eos: object = 151643, **config: object
) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"eos_token_id": eos, **config}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>"}))
    (folder / "tokenizer.json").write_text(
        json.dumps({"added_tokens": [{"id": 151645, "content": "<|im_end|>"}], "model": {}})
    )
    if generation is not None:
        (folder / "generation_config.json").write_text(json.dumps(generation))
    return folder


def test_what_a_generation_config_asks_beyond_the_gate_is_named(tmp_path: Path) -> None:
    folder = _model(tmp_path, QWEN_LIKE)
    # Greedy: the sampling settings are not applied; the stop tokens are the gate's own
    # (config.json's and the tokenizer's), so they are not named.
    assert ignored_settings(folder, IM_END, 0.0) == {
        "do_sample": True,
        "repetition_penalty": 1.05,
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.8,
    }
    # Sampling at 0.7: the gate samples too, without a top-k or top-p cut.
    assert ignored_settings(folder, IM_END, 0.7) == {
        "repetition_penalty": 1.05,
        "top_k": 20,
        "top_p": 0.8,
    }


def test_a_generation_config_of_defaults_and_token_ids_asks_nothing(tmp_path: Path) -> None:
    plain = {"bos_token_id": 1, "eos_token_id": 151643, "pad_token_id": 0, "do_sample": False,
             "temperature": 1.0, "top_p": 1.0, "max_length": 4096, "transformers_version": "5"}  # fmt: skip
    # config.json says 151643: the file's one stop token is one the gate stops at.
    assert ignored_settings(_model(tmp_path, plain), IM_END, 0.0) == {}
    # No generation_config.json: config.json's generation settings, here none.
    assert ignored_settings(_model(tmp_path / "none", None), IM_END, 0.0) == {}
    assert ignored_settings(tmp_path / "empty", None, 0.0) is None


def test_stop_tokens_a_generation_config_adds_are_named_and_the_gate_stops_there(
    tmp_path: Path,
) -> None:
    # Found by review: Llama 3 Instruct's end of turn (<|eot_id|>) is only in its
    # generation_config.json; ignoring the file ran every answer on to max_new_tokens. The
    # gate stops there too, and names what the file adds (GATE015 compares the sides).
    assert stop_ids(128001, 128001, [128001, 128009]) == [128001, 128009]
    folder = _model(tmp_path, {"eos_token_id": [2, 151643], "sequence_bias": [[[5], 9.0]]})
    assert ignored_settings(folder, IM_END, 0.0) == {
        "eos_token_id": [2, 151643],
        "sequence_bias": [[[5], 9.0]],
    }
    assert stop_ids([151643, 2], 151645) == [2, 151643, 151645]
    assert stop_ids(None, None) == []


# Decoding settings an older transformers saved into config.json (found by attack): with no
# generation_config.json beside it, transformers' from_pretrained makes the model's
# generation config from them, and plain generate() applies them.
LEGACY = {
    "repetition_penalty": 5.0,
    "do_sample": True,
    "temperature": 0.3,
    "suppress_tokens": [7],
    "bad_words_ids": [[7]],
    "no_repeat_ngram_size": 2,
}


def test_a_config_jsons_generation_settings_are_named_when_no_generation_config(
    tmp_path: Path,
) -> None:
    # Found by attack: they were named as asking nothing, GATE015 passed.
    arch = {"hidden_size": 64, "use_cache": True, "pad_token_id": 0, "bos_token_id": 1}
    folder = _model(tmp_path / "legacy", None, **LEGACY, **arch, min_length=0, top_k=None)
    assert ignored_settings(folder, IM_END, 0.0) == LEGACY
    # A decoder's settings in a composite config (text_config), for what the top leaves unset.
    inner = _model(tmp_path / "inner", None, text_config={"top_p": 0.9, "hidden_size": 8})
    assert ignored_settings(inner, IM_END, 0.0) == {"top_p": 0.9}
    # A generation_config.json that is not JSON is one transformers falls back from, too.
    (folder / "generation_config.json").write_bytes(b"\xef\xbb\xbf{}")
    assert ignored_settings(folder, IM_END, 0.0) == LEGACY
    # Beside a generation_config.json, config.json's are not applied: not named.
    (folder / "generation_config.json").write_text('{"top_k": 20}')
    assert ignored_settings(folder, IM_END, 0.0) == {"top_k": 20}
    (folder / "generation_config.json").unlink()
    check = model_generation_config_check(
        {"candidate": ignored_settings(folder, IM_END, 0.0), "base": {}},
        None,
        {"candidate": "config.json", "base": "generation_config.json"},
    )
    assert check.verdict.value == "warn"
    assert "the candidate's config.json asks for bad_words_ids [[7]], do_sample true" in (
        check.message
    )
    assert check.stats["sources"] == {"candidate": "config.json", "base": "generation_config.json"}


@pytest.mark.slow
def test_the_generation_keys_are_transformers_generation_config_attributes() -> None:
    # The keys of config.json named as generation settings are the ones transformers takes.
    from transformers import GenerationConfig

    assert set(GenerationConfig().to_dict()) - {"_from_model_config"} <= GENERATION_KEYS


@pytest.mark.parametrize(
    ("ignored", "verdict"),
    [
        ({"candidate": {"sequence_bias": [[[5], 9.0]]}, "base": {}}, "warn"),
        ({"candidate": {}, "base": {"temperature": 0.7}}, "warn"),
        ({"candidate": {"top_k": 20}, "base": {"top_k": 20}}, "pass"),
        ({"candidate": {}, "base": {}}, "pass"),
        ({"candidate": {"top_k": 20}}, "warn"),  # the base an endpoint: nothing to compare
        ({"base": {}}, "pass"),
    ],
)
def test_gate015_warns_when_the_sides_files_ask_for_different_decoding(
    ignored: dict, verdict: str
) -> None:
    check = model_generation_config_check(ignored)
    assert (check.rule.id, check.verdict.value) == ("GATE015", verdict)
    for side, asked in ignored.items():
        for key in asked:
            assert f"the {side}'s generation_config.json asks for {key}" in check.message


def _convs(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"Review {i}: fine, I guess"}] for i in range(n)]


def test_a_sampled_request_carries_the_items_seed_and_a_greedy_one_none() -> None:
    from curagate.gate.decoding import item_seed
    from curagate.gate.models import GenSettings, HttpGenerator

    gen = HttpGenerator("http://127.0.0.1:9/v1", "m")
    conv = _convs(1)[0]

    def body(settings: GenSettings) -> dict:
        data = gen._request(conv, settings).data
        assert isinstance(data, bytes)
        return json.loads(data)

    assert "seed" not in body(GenSettings(temperature=0.0))
    sampled = body(GenSettings(temperature=0.7, seed=3))
    assert (
        sampled["seed"] == item_seed(3, conv) == body(GenSettings(temperature=0.7, seed=3))["seed"]
    )
    assert sampled["seed"] != body(GenSettings(temperature=0.7, seed=4))["seed"]
    assert 0 <= sampled["seed"] < 2**31
    # The cache keeps sampled answers per seed; greedy ones under the key they had.
    assert GenSettings(temperature=0.7, seed=3).key() != GenSettings(temperature=0.7).key()
    assert GenSettings(seed=3).key() == {"max_new_tokens": 64, "temperature": 0.0}


@pytest.mark.slow
def test_sampled_local_answers_depend_on_the_seed_not_on_order_or_batching(
    tiny_model_dir: Path,
) -> None:
    # Nothing seeded generation: two runs at temperature > 0 gave other answers.
    from curagate.gate.models import GenSettings, HFGenerator, LoadedModels, resolve_model

    with LoadedModels(device="cpu") as models:
        gen = HFGenerator(*models.hf(resolve_model(str(tiny_model_dir))))
        convs = _convs(6)
        settings = GenSettings(max_new_tokens=8, temperature=1.0, batch_size=4, seed=7)
        first = gen.generate(convs, settings)
        again = gen.generate(convs[::-1], GenSettings(**{**settings.__dict__, "batch_size": 1}))
        assert first == again[::-1]
        assert gen.generate(convs[2:3], settings) == first[2:3]
        other = gen.generate(convs, GenSettings(**{**settings.__dict__, "seed": 8}))
        assert other != first
        # Greedy answers are the same whatever the seed.
        greedy = GenSettings(max_new_tokens=8, seed=1)
        assert gen.generate(convs, greedy) == gen.generate(convs, GenSettings(max_new_tokens=8))


def test_gate015_warns_when_the_sides_stop_at_different_tokens() -> None:
    # Found by re-attack: a candidate whose config.json stopped at an ordinary token ("%")
    # had every answer cut there, and GATE015 passed, naming nothing. The stop tokens are
    # each side's (config.json, the tokenizer, generation_config.json), compared.
    stops = {"candidate": [8, 151645], "base": [151643, 151645]}
    check = model_generation_config_check({"candidate": {}, "base": {}}, stops)
    assert check.verdict.value == "warn"
    assert (
        "stop their answers at different tokens (candidate [8, 151645], base [151643, 151645]"
        in check.message
    )
    assert check.stats["stop_tokens"] == stops
    same = {"candidate": [151643, 151645], "base": [151645, 151643]}
    assert (
        model_generation_config_check({"candidate": {}, "base": {}}, same).verdict.value == "pass"
    )


def test_gate015_says_the_gate_stops_at_a_files_stop_tokens(tmp_path: Path) -> None:
    # Found by re-attack: the warning said the gate measured neither side's file, though it
    # stops at the file's eos_token_id.
    folder = _model(tmp_path, {"eos_token_id": [2, 151643]})
    check = model_generation_config_check(
        {"candidate": ignored_settings(folder, IM_END, 0.0), "base": {}}
    )
    assert "but for a file's stop tokens, eos_token_id, which it stops at" in check.message


def _variant(src: Path, dest: Path, files: dict[str, bytes | None]) -> Path:
    """A copy of model folder ``src`` with ``files`` written (None: removed)."""
    import shutil

    shutil.copytree(src, dest)
    for name, data in files.items():
        if data is None:
            (dest / name).unlink(missing_ok=True)
        else:
            (dest / name).write_bytes(data)
    return dest


@pytest.mark.slow
def test_the_stop_tokens_compared_are_the_ones_the_loaded_model_generates_with(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # Found by attack: GATE015 read the tokenizer's eos from tokenizer_config.json only;
    # transformers took it from special_tokens_map.json ("%"), so the gate stopped every
    # answer of the candidate there while the check named [2] for both sides and passed.
    from transformers import AutoTokenizer

    from curagate.gate.models import folder_stop_tokens, gate_token_ids
    from curagate.hf import load_causal_lm

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    percent = tok.convert_tokens_to_ids("%")
    config = json.loads((tiny_model_dir / "config.json").read_text())
    tc = json.loads((tiny_model_dir / "tokenizer_config.json").read_text())
    eos = tok.eos_token_id
    stmap = json.dumps({"eos_token": "%"}).encode()
    variants = {
        "special tokens map": {"special_tokens_map.json": stmap},
        "special tokens map alone": {
            "special_tokens_map.json": stmap,
            "tokenizer_config.json": json.dumps({**tc, "eos_token": None}).encode(),
        },
        "generation config": {"generation_config.json": b'{"eos_token_id": [%d, 7]}' % eos},
        # Not JSON to transformers: it falls back to config.json's, and so does the check.
        "generation config with a BOM": {
            "generation_config.json": b'\xef\xbb\xbf{"eos_token_id": [%d, 7]}' % eos
        },
        "config.json": {"config.json": json.dumps({**config, "eos_token_id": [eos, 9]}).encode()},
    }
    expected = {
        "special tokens map": sorted({eos, percent}),
        "special tokens map alone": sorted({eos, percent}),
        "generation config": sorted({eos, 7}),
        "generation config with a BOM": [eos],
        "config.json": sorted({eos, 9}),
    }
    for name, files in variants.items():
        folder = _variant(tiny_model_dir, tmp_path / name.replace(" ", "_"), files)
        stops, _ = folder_stop_tokens(folder, folder)
        model = load_causal_lm(str(folder))
        loaded = gate_token_ids(model, AutoTokenizer.from_pretrained(str(folder)))
        assert stops == loaded["eos_token_id"] == expected[name], name
    assert folder_stop_tokens(tiny_model_dir, tiny_model_dir) == ([eos], eos)
