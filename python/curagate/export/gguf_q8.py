"""An optional GGUF Q8_0 file next to the safetensors, from PyPI packages only.

Why only Q8_0 and only llama: the `gguf` package quantizes to Q8_0 in NumPy
and knows llama.cpp's tensor names, but it has no Hugging Face converter; this
module is that converter for the plain llama architecture (default RoPE, no
biases, a byte-level BPE tokenizer), which covers SmolLM2 and Llama-style
fine-tunes. K-quants (Q4_K_M, …) need llama.cpp's C++ quantize tool and are not
offered. Anything else is refused with a clear message rather than written
half-right. The file is verified twice: llama.cpp must tokenize a fixed multilingual
set and the prompts exactly like the bundle's tokenizer (see ``gguf_tokenizer``: the
pre-tokenizer name decides how llama.cpp splits text), and transformers (``gguf_file=``),
which dequantizes it, must give logits close to the merged model's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.errors import CheckFailed, InputError, MissingExtraError
from curagate.export.gguf_tokenizer import PreTokenizer, verify_tokenization

GGUF_NAME = "model.Q8_0.gguf"
# Q8_0 keeps 8 bits per weight with one scale per 32 values. Accepted: max
# |logit diff| up to this fraction of the largest |reference logit|. Measured:
# SmolLM2-135M 1.2 on logits up to 41 (0.03, greedy token unchanged on 97-100% of
# positions), the tiny random test model 0.03-0.05. A wrong Q/K layout (rotary
# permutation left out) gives 1.0 and 0.36 respectively.
Q8_0_RTOL = 0.1
_BLOCK = 32


def _permute(w: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """llama.cpp's rotary layout for Q/K rows (transformers reverses it on load)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _check_supported(config: dict[str, Any], tokenizer: dict[str, Any], bundle: Path) -> None:
    problems = []
    if config.get("model_type") != "llama":
        problems.append(f"architecture {config.get('model_type')!r} (only 'llama' is supported)")
    if config.get("attention_bias") or config.get("mlp_bias"):
        problems.append("attention/MLP biases")
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if isinstance(rope, dict) and rope.get("rope_type", "default") != "default":
        problems.append(f"rope_type {rope.get('rope_type')!r} (only default RoPE)")
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("merges"), list):
        problems.append(f"tokenizer model {model.get('type')!r} (only byte-level BPE)")
    if problems:
        raise InputError(
            f"{bundle}: cannot write GGUF Q8_0 with the gguf package for this model: "
            f"{'; '.join(problems)}; export without --gguf (llama.cpp's convert_hf_to_gguf.py "
            "handles more architectures)"
        )


def check_supported(config_dir: Path, tokenizer_dir: Path) -> None:
    """InputError (exit 2) before any work when this model cannot be written as GGUF."""
    try:
        config = json.loads((config_dir / "config.json").read_text(encoding="utf-8"))
        tok_json = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise InputError(
            f"{config_dir}: --gguf needs config.json and a tokenizer.json ({why})"
        ) from None
    _check_supported(config, tok_json, config_dir)


def _added_by_tokenizer(tok: Any) -> tuple[bool, bool]:
    """Whether the tokenizer puts BOS before and EOS after a plain text (llama.cpp's
    ``add_bos_token``/``add_eos_token`` must say the same)."""
    text = "it's 100% worth it"
    plain = list(tok(text, add_special_tokens=False)["input_ids"])
    full = list(tok(text)["input_ids"])
    bos, eos = tok.bos_token_id, tok.eos_token_id
    add_bos = bos is not None and len(full) > len(plain) and full[0] == bos
    add_eos = eos is not None and len(full) > len(plain) and full[-1] == eos
    return add_bos, add_eos


def write_gguf_file(bundle: Path, tok: Any, pre: PreTokenizer) -> Path:
    """Write ``model.Q8_0.gguf`` into ``bundle`` with ``pre`` as llama.cpp's pre-tokenizer
    (unverified: :func:`write_gguf_q8_0` verifies)."""
    try:
        import gguf
        import numpy as np
        import torch
        from safetensors.torch import load_file
    except ImportError as e:
        raise MissingExtraError("train", e.name or "gguf") from e

    config = json.loads((bundle / "config.json").read_text(encoding="utf-8"))
    tok_json = json.loads((bundle / "tokenizer.json").read_text(encoding="utf-8"))
    _check_supported(config, tok_json, bundle)

    state: dict[str, Any] = {}
    for f in sorted(bundle.glob("*.safetensors")):
        state.update(load_file(f))
    n_layers = int(config["num_hidden_layers"])
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    rope = config.get("rope_parameters") or {}
    rope_theta = float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0)

    path = bundle / GGUF_NAME
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(bundle.name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_rope_dimension_count(head_dim)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_rope_freq_base(rope_theta)
    writer.add_vocab_size(len(tok))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)

    vocab = tok.get_vocab()
    by_id = sorted(vocab.items(), key=lambda kv: kv[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise InputError(f"{bundle}: tokenizer ids are not contiguous; GGUF needs one token per id")
    special = set(tok.all_special_tokens) | {
        t.content for t in tok.added_tokens_decoder.values() if getattr(t, "special", False)
    }
    # Added tokens that are not special are still split out before BPE by Hugging Face;
    # llama.cpp does that for USER_DEFINED tokens (as its converter marks them).
    added = {t.content for t in tok.added_tokens_decoder.values()} - special

    def token_type(t: str) -> Any:
        if t in special:
            return gguf.TokenType.CONTROL
        return gguf.TokenType.USER_DEFINED if t in added else gguf.TokenType.NORMAL

    merges = tok_json["model"]["merges"]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre.name)
    writer.add_token_list([t for t, _ in by_id])
    writer.add_token_types([token_type(t) for t, _ in by_id])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    for key, setter in (
        ("bos_token_id", writer.add_bos_token_id),
        ("eos_token_id", writer.add_eos_token_id),
        ("pad_token_id", writer.add_pad_token_id),
    ):
        value = getattr(tok, key)
        if isinstance(value, int):
            setter(value)
    add_bos, add_eos = _added_by_tokenizer(tok)
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(add_eos)
    if isinstance(tok.chat_template, str):
        writer.add_chat_template(tok.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layers)
    for hf_name in sorted(state):
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise InputError(
                f"{bundle}: tensor {hf_name} has no GGUF llama name; cannot write GGUF"
            )
        data = state[hf_name].to(torch.float32).numpy()
        if hf_name.endswith("q_proj.weight"):
            data = _permute(data, n_head, n_head)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute(data, n_head, n_kv)
        if data.ndim >= 2 and data.shape[-1] % _BLOCK == 0:
            q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@dataclass(frozen=True)
class GgufResult:
    file: str
    max_abs_logit_diff: float
    tokenizer: dict[str, Any]


def write_gguf_q8_0(
    bundle: Path, *, reference_logits: Sequence[Any], texts: Sequence[str], pre: PreTokenizer
) -> GgufResult:
    """Write ``model.Q8_0.gguf`` into the bundle and verify its tokenization (llama.cpp) and
    logits (transformers); the file is deleted and CheckFailed raised if either differs."""
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("train", e.name or "transformers") from e

    tok = AutoTokenizer.from_pretrained(bundle, local_files_only=True)
    path = write_gguf_file(bundle, tok, pre)
    try:
        return check_gguf(
            bundle, GGUF_NAME, tok=tok, reference_logits=reference_logits, texts=texts, pre=pre,
            against="base + adapter", fix="export without --gguf",
        )  # fmt: skip
    except CheckFailed:
        path.unlink()
        raise


def check_gguf(
    folder: Path,
    name: str,
    *,
    tok: Any,
    reference_logits: Sequence[Any],
    texts: Sequence[str],
    pre: PreTokenizer,
    against: str,
    fix: str,
) -> GgufResult:
    """The check every GGUF of a bundle passes: llama.cpp reading ``folder/name`` tokenizes
    :data:`PARITY_STRINGS` and ``texts`` like ``tok``, and transformers (``gguf_file=``,
    dequantized) gives logits on ``texts`` within :data:`Q8_0_RTOL` of ``reference_logits``
    (``against`` says whose: in the message, with ``fix``). CheckFailed otherwise."""
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as e:
        raise MissingExtraError("train", e.name or "torch") from e

    path = folder / name
    tokenizer_record = verify_tokenization(path, tok, texts, pre)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise CheckFailed(
            f"{path}: transformers cannot load the GGUF ({type(e).__name__}: {str(e)[:200]}); {fix}"
        ) from None
    model.eval()
    worst = 0.0
    with torch.no_grad():
        for text, ref in zip(texts, reference_logits, strict=True):
            ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            got = model(input_ids=ids).logits.float()[0]
            if got.shape != ref.shape:
                raise CheckFailed(
                    f"{path}: the GGUF's logits have shape {tuple(got.shape)}, {against}'s "
                    f"{tuple(ref.shape)}: another model; {fix}"
                )
            worst = max(worst, float((got - ref).abs().max()))
    bound = Q8_0_RTOL * max(float(r.abs().max()) for r in reference_logits)
    if not worst <= bound:
        raise CheckFailed(
            f"{path}: reloaded GGUF Q8_0 differs from {against} by max |logit diff| {worst:.3g} "
            f"> {bound:.3g} ({Q8_0_RTOL} x max |logit|); {fix}"
        )
    return GgufResult(name, worst, tokenizer_record)


def recheck_gguf(
    folder: Path, name: str, conversations: Sequence[list[dict[str, str]]]
) -> GgufResult:
    """:func:`check_gguf` for a GGUF already in a bundle, against the bundle's own
    safetensors (loaded in float32, as export compared them): the gate evaluates those,
    and signs off on the GGUF beside them only when it is the same model. The texts are
    ``conversations`` through the chat template, as export renders its prompts."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("train", e.name or "torch") from e
    from curagate.export.bundle import _logits, _render
    from curagate.export.gguf_tokenizer import determine_pre_tokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    pre = determine_pre_tokenizer(tok, folder)
    texts = (
        _render(tok, conversations, folder)
        if getattr(tok, "chat_template", None)
        else ["\n\n".join(m["content"] for m in c) + "\n" for c in conversations]
    )
    model: Any = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, local_files_only=True
    )
    model.eval()
    reference = _logits(model, tok, texts)
    del model
    return check_gguf(
        folder, name, tok=tok, reference_logits=reference, texts=texts, pre=pre,
        against="the safetensors the gate evaluated",
        fix="the gate signs off only on weights it evaluated: re-export the bundle (with "
        "--gguf) or without the GGUF, and gate a GGUF you serve as served (its endpoint)",
    )  # fmt: skip
