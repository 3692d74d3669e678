"""How the gate decodes: its own settings, the same for both sides, never a model folder's.

transformers applies a model folder's ``generation_config.json`` to every ``generate``
call on that model (a setting the call leaves unset is taken from it; a folder without
one has its ``config.json``'s generation settings applied instead): a candidate whose
folder held a ``sequence_bias`` (or a temperature, a repetition penalty, banned or forced
tokens) answered under it while the base answered greedily, and the report named the
same greedy settings for both (found by attack: accuracy 0.0 -> 0.5 from a bias toward
one label). So the gate builds each call's ``GenerationConfig`` from its own settings
only, with the stop and padding tokens of the model's ``config.json``, tokenizer and
generation config, and records what each side's file asks for that the gate did not do
(:func:`ignored_settings`, the report's ``settings.model_generation_config``, GATE015).

Sampled runs (``temperature > 0``) draw each item's answer from its own seed
(:func:`item_seed`), derived from the gate's ``statistics.seed`` and the chat, so neither
the item order nor batching changes an answer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

GENERATION_CONFIG = "generation_config.json"

# Keys of generation_config.json that neither choose tokens nor stop generation, or that the
# gate sets per golden set (the length limits): not reported as ignored.
NOT_DECODING = frozenset(
    {
        "transformers_version",
        "_from_model_config",
        "pad_token_id",
        "bos_token_id",
        "decoder_start_token_id",
        "max_length",
        "max_new_tokens",
        "use_cache",
        "cache_implementation",
        "cache_config",
        "max_cache_len",
        "compile_config",
        "disable_compile",
        "prefill_chunk_size",
        "low_memory",
        "return_dict_in_generate",
        "output_scores",
        "output_logits",
        "output_attentions",
        "output_hidden_states",
        "num_return_sequences",
    }
)

# What transformers does for a decoding key nobody sets (its GenerationConfig defaults); a
# file giving one of these values asks for nothing the gate does not do. A key not listed
# here is reported whenever a file gives it a value other than null.
_DEFAULTS: dict[str, Any] = {
    "do_sample": False,
    "num_beams": 1,
    "num_beam_groups": 1,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "length_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "min_length": 0,
    "diversity_penalty": 0.0,
    "early_stopping": False,
    "renormalize_logits": False,
    "remove_invalid_values": False,
    "token_healing": False,
    # Assisted decoding's knobs, inert without an assistant model (the gate has none).
    "num_assistant_tokens": 20,
    "num_assistant_tokens_schedule": "constant",
    "assistant_confidence_threshold": 0.4,
    "assistant_lookbehind": 10,
    "target_lookbehind": 10,
}


def gate_decoding(temperature: float) -> dict[str, Any]:
    """The decoding keys the gate sets on every call (besides lengths and token ids):
    greedy at temperature 0, else plain sampling from the whole distribution at
    ``temperature`` (no top-k or top-p cut, as an OpenAI-compatible endpoint samples
    unless told otherwise)."""
    if temperature > 0:
        return {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
    return {"do_sample": False}


def _ids(value: Any) -> set[int]:
    """Token ids from a config value: one id, a list of them, or none."""
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool)}


def stop_ids(config_eos: Any, tokenizer_eos: Any, generation_eos: Any = None) -> list[int]:
    """The tokens generation stops at: ``config.json``'s ``eos_token_id``, the
    tokenizer's end-of-sequence token (a chat model's end of turn, as Qwen's
    ``<|im_end|>``, is often only the latter) and generation_config.json's
    ``eos_token_id`` (Llama 3 Instruct's ``<|eot_id|>`` is only there: without it every
    answer ran on to max_new_tokens). Stop tokens say where the model's answer ends; they
    bias no choice of token, so the gate takes them from the file it otherwise ignores."""
    return sorted(_ids(config_eos) | _ids(tokenizer_eos) | _ids(generation_eos))


# GenerationConfig's attributes (transformers 5): the keys of config.json that transformers
# takes as decoding settings when a folder has no generation_config.json (its
# ``GenerationConfig.from_model_config``; tests/gate/test_gate_decoding.py checks this list
# against the installed transformers).
GENERATION_KEYS = frozenset(
    {
        "assistant_confidence_threshold",
        "assistant_early_exit",
        "assistant_ensemble_weight",
        "assistant_lookbehind",
        "bad_words_ids",
        "begin_suppress_tokens",
        "bos_token_id",
        "cache_config",
        "cache_implementation",
        "compile_config",
        "constraints",
        "continuous_batching_config",
        "decoder_start_token_id",
        "disable_compile",
        "diversity_penalty",
        "do_sample",
        "dola_layers",
        "early_stopping",
        "encoder_no_repeat_ngram_size",
        "encoder_repetition_penalty",
        "eos_token_id",
        "epsilon_cutoff",
        "eta_cutoff",
        "exponential_decay_length_penalty",
        "force_words_ids",
        "forced_bos_token_id",
        "forced_eos_token_id",
        "guidance_scale",
        "is_assistant",
        "length_penalty",
        "low_memory",
        "max_cache_len",
        "max_length",
        "max_matching_ngram_size",
        "max_new_tokens",
        "max_time",
        "min_length",
        "min_new_tokens",
        "min_p",
        "no_repeat_ngram_size",
        "num_assistant_tokens",
        "num_assistant_tokens_schedule",
        "num_beam_groups",
        "num_beams",
        "num_return_sequences",
        "output_attentions",
        "output_hidden_states",
        "output_logits",
        "output_scores",
        "pad_token_id",
        "penalty_alpha",
        "prefill_chunk_size",
        "prompt_lookup_num_tokens",
        "remove_invalid_values",
        "renormalize_logits",
        "repetition_penalty",
        "return_dict_in_generate",
        "sequence_bias",
        "speculation_type",
        "stop_strings",
        "suppress_tokens",
        "target_lookbehind",
        "temperature",
        "token_healing",
        "top_h",
        "top_k",
        "top_p",
        "transformers_version",
        "typical_p",
        "use_cache",
        "use_mtp",
        "watermarking_config",
    }
)
# Where transformers reads a decoder's generation settings from a composite config.json
# (the first of these it holds), for a setting the top level leaves unset.
_TEXT_CONFIGS = ("decoder", "generator", "text_config")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def _from_config_json(config: dict[str, Any]) -> dict[str, Any]:
    """The generation settings transformers takes from a ``config.json`` (a folder without
    a readable generation_config.json): its keys that are GenerationConfig attributes, set
    (not null), and for one the top level leaves unset, its decoder's."""
    out = {k: v for k, v in config.items() if k in GENERATION_KEYS and v is not None}
    inner = next((config[n] for n in _TEXT_CONFIGS if config.get(n)), None)
    if isinstance(inner, dict):
        for key, value in inner.items():
            if key in GENERATION_KEYS and value is not None:
                out.setdefault(key, value)
    return out


def generation_source(model_dir: Path) -> tuple[str, dict[str, Any] | None]:
    """Where transformers takes ``model_dir``'s generation settings from, and what that file
    holds: ``generation_config.json`` when it reads as JSON (None unless an object); else
    (none, or not JSON: transformers falls back, as its ``from_pretrained`` does)
    ``config.json``'s generation settings (:func:`_from_config_json`; found by attack: a
    folder without generation_config.json whose config.json asked for a repetition
    penalty, sampling and suppressed tokens, which plain ``generate`` applies, was named
    as asking for nothing)."""
    data = _read_json(model_dir / GENERATION_CONFIG)
    if data is not None:
        return GENERATION_CONFIG, data if isinstance(data, dict) else None
    config = _read_json(model_dir / "config.json")
    return "config.json", _from_config_json(config) if isinstance(config, dict) else None


def ignored_settings(
    model_dir: Path, tokenizer_eos: int | None, temperature: float
) -> dict[str, Any] | None:
    """What ``model_dir``'s generation settings (:func:`generation_source`:
    generation_config.json, else config.json's) ask for that the gate's decoding
    (:func:`gate_decoding` at ``temperature``, stopping at :func:`stop_ids`) does not do:
    key -> the file's value ({} when nothing); None when the folder has neither file as a
    JSON object. ``eos_token_id`` is reported when generation_config.json adds a stop token
    to config.json's and the tokenizer's (``tokenizer_eos``, as transformers loads it): the
    gate stops there too (:func:`stop_ids`), and GATE015 warns when the two sides' stop
    tokens differ (a candidate's file stopping at a common token would cut its answers
    short)."""
    source, data = generation_source(model_dir)
    if data is None:
        return None
    gate = {**_DEFAULTS, **gate_decoding(temperature)}
    out: dict[str, Any] = {}
    for key, value in sorted(data.items()):
        if key in NOT_DECODING or value is None or key == "eos_token_id":
            continue
        if key not in gate or gate[key] != value:
            out[key] = value
    if source == GENERATION_CONFIG and data.get("eos_token_id") is not None:
        config = _read_json(model_dir / "config.json")
        ours = set(
            stop_ids(
                config.get("eos_token_id") if isinstance(config, dict) else None, tokenizer_eos
            )
        )
        if _ids(data["eos_token_id"]) - ours:
            out["eos_token_id"] = data["eos_token_id"]
    return out


def item_seed(seed: int, conversation: Any) -> int:
    """The seed one item's sampled answer is drawn with: from the gate's seed and the chat
    the model reads (what the generation cache keys the answer by; a set's items ask
    different things, curagate.golden.check_distinct), so it depends on neither the item
    order, batching nor the other items; 31 bits, which every server's ``seed`` takes."""
    blob = json.dumps([seed, conversation], sort_keys=True, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF
