"""The gate decodes both sides with its own settings, never a model folder's
generation_config.json, and says what such a file asks for (curagate.gate.decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curagate.gate.checks import model_generation_config_check
from curagate.gate.decoding import file_stop_ids, ignored_settings, stop_ids

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


def _model(tmp_path: Path, generation: object | None, *, eos: object = 151643) -> Path:
    folder = tmp_path / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"eos_token_id": eos}))
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
    assert ignored_settings(folder, folder, 0.0) == {
        "do_sample": True,
        "repetition_penalty": 1.05,
        "temperature": 0.7,
        "top_k": 20,
        "top_p": 0.8,
    }
    # Sampling at 0.7: the gate samples too, without a top-k or top-p cut.
    assert ignored_settings(folder, folder, 0.7) == {
        "repetition_penalty": 1.05,
        "top_k": 20,
        "top_p": 0.8,
    }


def test_a_generation_config_of_defaults_and_token_ids_asks_nothing(tmp_path: Path) -> None:
    plain = {"bos_token_id": 1, "eos_token_id": 151643, "pad_token_id": 0, "do_sample": False,
             "temperature": 1.0, "top_p": 1.0, "max_length": 4096, "transformers_version": "5"}  # fmt: skip
    # config.json says 151643: the file's one stop token is one the gate stops at.
    assert ignored_settings(_model(tmp_path, plain), tmp_path / "model", 0.0) == {}
    assert ignored_settings(_model(tmp_path / "none", None), tmp_path / "none/model", 0.0) is None


def test_stop_tokens_a_generation_config_adds_are_named_and_the_gate_stops_there(
    tmp_path: Path,
) -> None:
    # Found by review: Llama 3 Instruct's end of turn (<|eot_id|>) is only in its
    # generation_config.json; ignoring the file ran every answer on to max_new_tokens. The
    # gate stops there too, and names what the file adds (GATE015 compares the sides).
    assert stop_ids(128001, 128001, [128001, 128009]) == [128001, 128009]
    folder = _model(tmp_path, {"eos_token_id": [2, 151643], "sequence_bias": [[[5], 9.0]]})
    assert ignored_settings(folder, folder, 0.0) == {
        "eos_token_id": [2, 151643],
        "sequence_bias": [[[5], 9.0]],
    }
    assert stop_ids([151643, 2], 151645) == [2, 151643, 151645]
    assert stop_ids(None, None) == []


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


def test_gate015_warns_when_the_sides_stop_at_different_tokens(tmp_path: Path) -> None:
    # Found by re-attack: a candidate whose config.json stopped at an ordinary token ("%")
    # had every answer cut there, and GATE015 passed, naming nothing. The stop tokens are
    # each side's files' (config.json, the tokenizer, generation_config.json), compared.
    base = _model(tmp_path / "base", None)
    cand = _model(tmp_path / "cand", None, eos=8)
    stops = {"candidate": file_stop_ids(cand, cand), "base": file_stop_ids(base, base)}
    assert stops == {"candidate": [8, 151645], "base": [151643, 151645]}
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
        {"candidate": ignored_settings(folder, folder, 0.0), "base": {}}
    )
    assert "but for a file's stop tokens, eos_token_id, which it stops at" in check.message
