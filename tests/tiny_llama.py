"""A tiny chat model for the ML tests, built from a config in about a second.

A byte-level BPE tokenizer trained on the suite's own corpus (with a ChatML template whose
end-of-turn token is the EOS), and a 2-layer Llama initialised with seed 0, both saved with
``save_pretrained``. Nothing is downloaded. Each suite picks its corpus and sizes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(
    corpus: Iterable[str],
    *,
    chat_template: str | None = CHATML,
    vocab_size: int = 400,
    unk_token: str | None = None,
    bos_token: str | None = None,
) -> Any:
    """A ``PreTrainedTokenizerFast`` with ``<pad>``, ``<|im_start|>`` and ``<|im_end|>`` (EOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    if unk_token is not None:
        specials.insert(0, unk_token)
    tk = Tokenizer(models.BPE(unk_token=unk_token))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(list(corpus), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        unk_token=unk_token,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token=bos_token,
    )
    if chat_template is not None:
        tok.chat_template = chat_template
    return tok


def save_tiny_llama(
    path: Path,
    tok: Any,
    *,
    hidden_size: int = 64,
    num_key_value_heads: int = 2,
    max_position_embeddings: int = 256,
    tie_word_embeddings: bool = False,
    generation_config: bool = True,
) -> Path:
    """Save a seeded 2-layer Llama (intermediate size twice the hidden size) with ``tok``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=num_key_value_heads,
        max_position_embeddings=max_position_embeddings,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        tie_word_embeddings=tie_word_embeddings,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if generation_config:
        model.generation_config = GenerationConfig(
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
        )
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def hide_a_shard(model_dir: Path) -> str:
    """Re-lay ``model_dir``'s model.safetensors as two shards, the second in a hidden
    folder its index names (transformers loads it; a hash that skips hidden files did
    not); returns that shard's path in the folder."""
    import json

    from safetensors.torch import load_file, save_file

    state = load_file(model_dir / "model.safetensors")
    (model_dir / "model.safetensors").unlink()
    names = sorted(state)
    half = len(names) // 2
    first, hidden = "model-00001-of-00002.safetensors", ".shards/model-00002-of-00002.safetensors"
    (model_dir / ".shards").mkdir()
    for shard, part in ((first, names[:half]), (hidden, names[half:])):
        save_file({n: state[n] for n in part}, model_dir / shard, metadata={"format": "pt"})
    weight_map = {n: first if i < half else hidden for i, n in enumerate(names)}
    (model_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    return hidden


# Layouts of a model folder whose output layer transformers does not load as config.json
# says (found by attack: a check of the top-level *.safetensors missed each of them).
# Each is (what it does, whether tie_word_embeddings is true in it).
OUTPUT_LAYER_LAYOUTS = {
    # tie_word_embeddings false and no lm_head.weight that transformers loads:
    "no head": False,
    "embeddings in a sub-folder shard": False,  # the index names sub/b.safetensors
    "head only in a shard no index names": False,
    "head only in shards beside model.safetensors": False,  # transformers reads the latter
    "llama model names, no head": False,  # embed_tokens.weight without model.
    # tie_word_embeddings true and a differing lm_head.weight transformers keeps:
    "tied, head differs": True,
    "tied, head differs, an equal one in a shard no index names": True,
}


def relay_output_layer(model_dir: Path, layout: str) -> Path:
    """Re-lay ``model_dir`` (a saved Llama) as :data:`OUTPUT_LAYER_LAYOUTS` names."""
    import json

    from safetensors.torch import load_file, save_file

    state = load_file(model_dir / "model.safetensors")
    (model_dir / "model.safetensors").unlink()
    embed = state["model.embed_tokens.weight"]
    # A tied model's file holds no lm_head.weight: one that differs from the embeddings.
    head = state.setdefault("lm_head.weight", -embed)
    no_head = {k: v for k, v in state.items() if k != "lm_head.weight"}
    shards: dict[str, dict[str, Any]]
    index: dict[str, str] | None = None
    if layout == "no head":
        shards = {"model.safetensors": no_head}
    elif layout == "embeddings in a sub-folder shard":
        rest = {k: v for k, v in no_head.items() if k != "model.embed_tokens.weight"}
        shards = {"a.safetensors": rest, "sub/b.safetensors": {"model.embed_tokens.weight": embed}}
        index = {**dict.fromkeys(rest, "a.safetensors"), "model.embed_tokens.weight": "sub/b.safetensors"}  # fmt: skip
    elif layout == "head only in a shard no index names":
        one = "model-00001-of-00001.safetensors"
        shards = {one: no_head, "zz-stray.safetensors": {"lm_head.weight": head}}
        index = dict.fromkeys(no_head, one)
    elif layout == "head only in shards beside model.safetensors":
        shards = {"model.safetensors": no_head, "s1.safetensors": state}
        index = dict.fromkeys(state, "s1.safetensors")
    elif layout == "llama model names, no head":
        shards = {"model.safetensors": {k.removeprefix("model."): v for k, v in no_head.items()}}
    elif layout == "tied, head differs":
        shards = {"model.safetensors": state}
    elif layout == "tied, head differs, an equal one in a shard no index names":
        shards = {"m1.safetensors": state, "zz.safetensors": {"lm_head.weight": embed.clone()}}
        index = dict.fromkeys(state, "m1.safetensors")
    else:
        raise ValueError(layout)
    for name, tensors in shards.items():
        (model_dir / name).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, model_dir / name, metadata={"format": "pt"})
    if index is not None:
        (model_dir / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": index})
        )
    config = json.loads((model_dir / "config.json").read_text())
    config["tie_word_embeddings"] = OUTPUT_LAYER_LAYOUTS[layout]
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir


# Damage :func:`damage_weights` does to a saved tiny Llama: files transformers loads into
# another model than they hold.
WEIGHT_DAMAGES = ("fewer layers in config", "nan", "inf")


def damage_weights(model_dir: Path, damage: str) -> str:
    """Damage ``model_dir`` (a saved 2-layer Llama) as ``damage`` names; returns what a
    refusal says after the folder's name."""
    import json

    from safetensors.torch import load_file, save_file

    if damage == "fewer layers in config":
        config = json.loads((model_dir / "config.json").read_text())
        (model_dir / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
        return (
            "the weights transformers loads hold 9 tensors the model does not use "
            "(model.layers.1.input_layernorm.weight"
        )
    state = load_file(model_dir / "model.safetensors")
    name = "model.layers.0.mlp.up_proj.weight"
    state[name][0, 0] = float("nan") if damage == "nan" else float("inf")
    save_file(state, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    return f"the weights hold values that are not finite numbers (NaN or infinity) in {name}"
