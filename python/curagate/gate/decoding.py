"""How the gate decodes: its own settings, the same for both sides, never a model folder's.

transformers applies a model folder's ``generation_config.json`` to every ``generate``
call on that model (a setting the call leaves unset is taken from it): a candidate whose
folder held a ``sequence_bias`` (or a temperature, a repetition penalty, banned or forced
tokens) answered under it while the base answered greedily, and the report named the
same greedy settings for both (found by attack: accuracy 0.0 -> 0.5 from a bias toward
one label). So the gate builds each call's ``GenerationConfig`` from its own settings
only, with the stop and padding tokens of the model's ``config.json`` and tokenizer,
and records what each side's file asks for that the gate did not do
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


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def _file_tokenizer_eos(folder: Path) -> int | None:
    """The tokenizer's end-of-sequence id as its files state it (tokenizer_config.json's
    ``eos_token``, looked up in tokenizer.json), without loading transformers; None when
    they do not say."""
    tc = _read_json(folder / "tokenizer_config.json")
    eos = tc.get("eos_token") if isinstance(tc, dict) else None
    if isinstance(eos, dict):
        eos = eos.get("content")
    if not isinstance(eos, str):
        return None
    tj = _read_json(folder / "tokenizer.json")
    if not isinstance(tj, dict):
        return None
    for tok in tj.get("added_tokens") or []:
        if isinstance(tok, dict) and tok.get("content") == eos and isinstance(tok.get("id"), int):
            return int(tok["id"])
    vocab = (tj.get("model") or {}).get("vocab") if isinstance(tj.get("model"), dict) else None
    found = vocab.get(eos) if isinstance(vocab, dict) else None
    return found if isinstance(found, int) else None


def file_stop_ids(model_dir: Path, tokenizer_dir: Path) -> list[int]:
    """The tokens the gate stops ``model_dir``'s answers at (:func:`stop_ids`), read from
    its files: config.json's and generation_config.json's ``eos_token_id`` and the
    tokenizer's end-of-sequence token (in ``tokenizer_dir``)."""
    config = _read_json(model_dir / "config.json")
    generation = _read_json(model_dir / GENERATION_CONFIG)
    return stop_ids(
        config.get("eos_token_id") if isinstance(config, dict) else None,
        _file_tokenizer_eos(tokenizer_dir),
        generation.get("eos_token_id") if isinstance(generation, dict) else None,
    )


def ignored_settings(
    model_dir: Path, tokenizer_dir: Path, temperature: float
) -> dict[str, Any] | None:
    """What ``model_dir``'s generation_config.json asks for that the gate's decoding
    (:func:`gate_decoding` at ``temperature``, stopping at :func:`stop_ids`) does not do:
    key -> the file's value ({} when nothing); None when the folder has no such file (or
    one that is not a JSON object). ``eos_token_id`` is reported when the file adds a stop
    token to config.json's and the tokenizer's: the gate stops there too (:func:`stop_ids`),
    and GATE015 warns when the two sides' files differ (a candidate's file stopping at a
    common token would cut its answers short)."""
    data = _read_json(model_dir / GENERATION_CONFIG)
    if not isinstance(data, dict):
        return None
    gate = {**_DEFAULTS, **gate_decoding(temperature)}
    out: dict[str, Any] = {}
    for key, value in sorted(data.items()):
        if key in NOT_DECODING or value is None or key == "eos_token_id":
            continue
        if key not in gate or gate[key] != value:
            out[key] = value
    if "eos_token_id" in data and data["eos_token_id"] is not None:
        config = _read_json(model_dir / "config.json")
        ours = set(
            stop_ids(
                config.get("eos_token_id") if isinstance(config, dict) else None,
                _file_tokenizer_eos(tokenizer_dir),
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
