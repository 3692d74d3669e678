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
import re
from collections.abc import Callable, Sequence
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


def _head_dim_is_default(value: Any, config: dict[str, Any]) -> bool:
    try:
        return value is None or value == int(config["hidden_size"]) // int(
            config["num_attention_heads"]
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return False


# The config.json keys transformers' Llama obeys that the GGUF the exporter writes cannot
# carry (it writes no key for them, and llama.cpp's llama assumes one value): (key, whether
# transformers' value is the one llama.cpp assumes, what llama.cpp does instead). Found by
# re-attack: ``hidden_act: gelu`` in a bundle's config.json made the gate evaluate a GELU
# model while llama.cpp serves the GGUF with SiLU, and GATE014 passed (the tiny model's
# logits moved little). Not listed: ``pretraining_tp``, which transformers' Llama no longer
# reads, and ``tie_word_embeddings``, which the GGUF follows where the safetensors agree with
# it (:func:`output_layer_problem`: the exporter writes ``output.weight`` exactly when they
# hold ``lm_head.weight``; llama.cpp uses ``token_embd`` without it).
_LLAMA_CPP_ASSUMES: tuple[tuple[str, Callable[[Any, dict[str, Any]], bool], str], ...] = (
    ("hidden_act", lambda v, _: v in ("silu", "swish"), "llama.cpp's llama runs SiLU"),
    ("attention_bias", lambda v, _: not v, "the exporter writes no bias tensors"),
    ("mlp_bias", lambda v, _: not v, "the exporter writes no bias tensors"),
    (
        "head_dim",
        _head_dim_is_default,
        "llama.cpp takes hidden_size / num_attention_heads; the exporter writes no key length",
    ),
)


def _check_supported(config: dict[str, Any], tokenizer: dict[str, Any], bundle: Path) -> None:
    problems = []
    if config.get("model_type") != "llama":
        problems.append(f"architecture {config.get('model_type')!r} (only 'llama' is supported)")
    for key, accepted, why in _LLAMA_CPP_ASSUMES:
        if not accepted(config.get(key), config):
            problems.append(f"config.json {key}: {_shown(config.get(key))} ({why})")
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


def loaded_tensors(folder: Path) -> dict[str, Path]:
    """{tensor name: the file it is read from} for the weights of ``folder`` that
    ``AutoModelForCausalLM.from_pretrained`` loads, found as it finds them:
    ``model.safetensors``, else the shards ``model.safetensors.index.json`` names (in
    sub-folders too). InputError (exit 2) naming the file when one cannot be read (a git-LFS
    pointer, a cut file) or none is there; other ``*.safetensors`` (a backup, a folder of
    that name) are none of the model's, as transformers never reads them.

    Found by attack: the GGUF checks read every top-level ``*.safetensors`` (one unreadable
    made export and GATE014 crash, exit 3), and missed the shards in sub-folders an index
    names, and read tensors transformers does not load (a stray shard, shards beside
    ``model.safetensors``), each later file's tensors over the earlier's."""
    from safetensors import safe_open

    from curagate.export.manifest import loaded_weights

    index = "model.safetensors.index.json"
    present = {n for n in ("model.safetensors", index) if (folder / n).is_file()}
    shards = sorted(loaded_weights(folder, present))
    if not shards:
        raise InputError(
            f"{folder}: holds no weights transformers loads as safetensors: a model.safetensors, "
            f"or an {index} whose weight_map names the shards; export the model again"
        )
    files: dict[str, Path] = {}
    for rel in shards:
        path = folder / rel
        try:
            with safe_open(str(path), "pt") as st:
                keys = list(st.keys())
        except Exception as e:  # SafetensorError, OSError (a folder, a missing shard), ...
            words = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            raise InputError(
                f"{path}: cannot read it as safetensors ({type(e).__name__}: {words}); "
                "transformers loads the model's weights from it: restore the file (a git-LFS "
                "pointer needs `git lfs pull`) or export the model again"
            ) from None
        for key in keys:
            if key in files:
                raise InputError(
                    f"{path}: holds the tensor {key}, which {files[key]} holds too: which "
                    "one a loader keeps is its own choice; keep it in one file"
                )
            files[key] = path
    return files


def output_layer_problem(
    folder: Path, config: dict[str, Any], files: dict[str, Path] | None = None
) -> str | None:
    """Why ``folder``'s config.json (read as transformers reads it: ``config``) and the
    weights transformers loads (``files``: :func:`loaded_tensors`, read here when not
    given) disagree on the model's output layer, or None. Llama's names only
    (``lm_head.weight``, ``model.embed_tokens.weight``): without the embeddings there the
    folder is no model this check knows, and it says nothing.

    For the GGUF, where no model is loaded: a model loaded with transformers is checked on
    what it loaded and on these files (:func:`curagate.hf.loaded_weights_problem`, same
    words). Found by
    review: ``tie_word_embeddings: false`` without ``lm_head.weight`` makes transformers
    initialize the output layer at random on each load while the exporter writes no
    ``output.weight`` (llama.cpp then uses the token embeddings); ``tie_word_embeddings:
    true`` beside an ``lm_head.weight`` that differs from the embeddings is read one way by
    transformers 5 (the file's ``lm_head.weight``, as the GGUF's ``output.weight``) and the
    other by loaders that follow the key. Compared bit for bit as stored
    (:func:`curagate.hf.same_stored_tensor`), as the loaded-model check is."""
    from safetensors import safe_open

    from curagate.hf import same_stored_tensor, tied_head_differs, untied_without_head

    files = loaded_tensors(folder) if files is None else files
    head, embed = "lm_head.weight", "model.embed_tokens.weight"
    if embed not in files:
        return None
    if config.get("tie_word_embeddings") is not True:
        return None if head in files else untied_without_head(head, embed)
    if head not in files:
        return None
    tensors = []
    for key in (head, embed):
        try:
            with safe_open(str(files[key]), "pt") as st:
                tensors.append(st.get_tensor(key))
        except Exception as e:  # read a moment ago: cut or replaced since
            return f"{files[key]} cannot be read ({type(e).__name__}: {str(e)[:160]})"
    return None if same_stored_tensor(*tensors) else tied_head_differs(head, embed)


def check_output_layer(
    folder: Path, config: dict[str, Any] | None = None, files: dict[str, Path] | None = None
) -> None:
    """InputError (exit 2) naming ``folder``'s config.json when it and the weights
    transformers loads disagree on the output layer (:func:`output_layer_problem`), or
    naming a weight file it cannot read; ``config``: as transformers reads it (read here
    when not given)."""
    files = loaded_tensors(folder) if files is None else files
    config = _model_config(folder) if config is None else config
    problem = output_layer_problem(folder, config, files)
    if problem is not None:
        raise InputError(f"{folder / 'config.json'}: {problem}")


def _model_config(folder: Path) -> dict[str, Any]:
    """``folder``'s config.json as transformers reads it: with the defaults of its config
    class for the keys the file lacks. Export and GATE014 both read it so, and so does
    transformers loading the model: found by re-attack, a config.json without
    ``rms_norm_eps`` (or ``max_position_embeddings``), which transformers defaults, made the
    gate crash (exit 3, KeyError) on a bundle it evaluated fine, and export likewise."""
    try:
        from transformers import AutoConfig
    except ImportError as e:
        raise MissingExtraError("train", e.name or "transformers") from e
    from curagate.hf import config_problem

    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True).to_dict()
    except Exception as e:
        problem = config_problem(e, folder)
        if problem is not None:
            raise InputError(problem) from None
        if not isinstance(
            e, (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError)
        ):
            raise
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:200]
        raise InputError(
            f"{folder / 'config.json'}: transformers cannot read it ({type(e).__name__}: {why})"
        ) from None
    if not isinstance(config, dict):  # pragma: no cover - to_dict returns one
        raise InputError(f"{folder / 'config.json'}: not a JSON object")
    return config


def check_supported(config_dir: Path, tokenizer_dir: Path) -> None:
    """InputError (exit 2) before any work when this model cannot be written as GGUF."""
    try:
        tok_json = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise InputError(f"{tokenizer_dir}: --gguf needs a tokenizer.json ({why})") from None
    _check_supported(_model_config(config_dir), tok_json, config_dir)


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


def _tensor_plan(
    config: dict[str, Any], shapes: dict[str, tuple[int, ...]], bundle: Path
) -> list[tuple[str, str, bool]]:
    """(Hugging Face name, GGUF name, quantized to Q8_0) for each tensor the GGUF holds,
    in the order written, from the safetensors' tensor ``shapes`` alone: what the
    exporter writes, and what a bundle's GGUF is re-checked against (GATE014)."""
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, int(config["num_hidden_layers"]))
    plan = []
    for hf_name in sorted(shapes):
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise InputError(
                f"{bundle}: tensor {hf_name} has no GGUF llama name; cannot write GGUF"
            )
        shape = shapes[hf_name]
        plan.append((hf_name, name, len(shape) >= 2 and shape[-1] % _BLOCK == 0))
    return plan


def _add_metadata(
    writer: Any,
    name: str,
    config: dict[str, Any],
    tok: Any,
    tok_json: dict[str, Any],
    pre: PreTokenizer,
    bundle: Path,
) -> None:
    """Every key/value the exporter writes into a GGUF (``general.architecture`` aside: the
    writer adds it), onto ``writer``: the GGUF's file and, for GATE014, the expectation."""
    import gguf

    n_head = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    rope = config.get("rope_parameters") or {}
    writer.add_name(name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_rope_dimension_count(int(config.get("head_dim") or hidden // n_head))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(int(config.get("num_key_value_heads") or n_head))
    writer.add_layer_norm_rms_eps(float(config["rms_norm_eps"]))
    writer.add_rope_freq_base(float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0))
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


def _gguf_tensor_data(tensor: Any, hf_name: str, quantized: bool, n_head: int, n_kv: int) -> Any:
    """The array the exporter writes into the GGUF for the safetensors ``tensor`` named
    ``hf_name``: float32, Q/K rows in llama.cpp's rotary layout, Q8_0 blocks (uint8) when
    ``quantized`` (:func:`_tensor_plan`). One function for export and for GATE014, which
    compares a bundle's GGUF with it tensor by tensor."""
    import gguf
    import numpy as np
    import torch

    data = tensor.to(torch.float32).numpy()
    if hf_name.endswith("q_proj.weight"):
        data = _permute(data, n_head, n_head)
    elif hf_name.endswith("k_proj.weight"):
        data = _permute(data, n_head, n_kv)
    if quantized:
        return gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
    return np.ascontiguousarray(data, dtype=np.float32)


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a JSON object")
    return data


def write_gguf_file(bundle: Path, tok: Any, pre: PreTokenizer, name: str | None = None) -> Path:
    """Write ``model.Q8_0.gguf`` into ``bundle`` with ``pre`` as llama.cpp's pre-tokenizer
    (unverified: :func:`write_gguf_q8_0` verifies), named ``name`` (``general.name``;
    default: the folder's name). Export names it after the output folder, not the temporary
    folder it writes in: that name holds the process id, and two exports of one run wrote
    two different GGUF files."""
    try:
        import gguf
        import torch  # noqa: F401  (the safetensors are read as torch tensors)
        from safetensors.torch import load_file
    except ImportError as e:
        raise MissingExtraError("train", e.name or "gguf") from e

    config = _model_config(bundle)
    tok_json = _read_json(bundle / "tokenizer.json")
    _check_supported(config, tok_json, bundle)
    files = loaded_tensors(bundle)
    check_output_layer(bundle, config, files)

    state: dict[str, Any] = {}
    for f in sorted(set(files.values())):
        state.update(load_file(f))
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)

    path = bundle / GGUF_NAME
    writer = gguf.GGUFWriter(path, "llama")
    _add_metadata(writer, bundle.name if name is None else name, config, tok, tok_json, pre, bundle)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    for hf_name, name, quantized in _tensor_plan(config, shapes, bundle):
        data = _gguf_tensor_data(state[hf_name], hf_name, quantized, n_head, n_kv)
        if quantized:
            writer.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, data)
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
    bundle: Path,
    *,
    reference_logits: Sequence[Any],
    texts: Sequence[str],
    pre: PreTokenizer,
    name: str,
) -> GgufResult:
    """Write ``model.Q8_0.gguf`` (named ``name``) into the bundle and verify its tokenization
    (llama.cpp) and logits (transformers); the file is deleted and CheckFailed raised if
    either differs."""
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("train", e.name or "transformers") from e

    tok = AutoTokenizer.from_pretrained(bundle, local_files_only=True)
    path = write_gguf_file(bundle, tok, pre, name)
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


# What GGUFReader reports about the file itself rather than a key it holds (the counts
# differ between a bundle's GGUF and the tensor-less one written to compare it with).
_READER_COUNTS = frozenset({"GGUF.tensor_count", "GGUF.kv_count"})


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unaccounted_byte(reader: Any) -> str | None:
    """Where the file ``reader`` read holds a byte its parse does not account for, or None.

    GGUFReader reads the header, the keys and the tensor infos in sequence and each tensor's
    data at its offset; the rest of the file is GGUFWriter's padding: zeros up to the next
    multiple of the alignment after the tensor infos and after each tensor's data, the last
    one's included, and nothing after. Found by re-attack: ``b'EVILPAYLOAD' * 100`` appended
    after the last tensor, or written over the padding before the tensor data, passed GATE014
    (it compared the keys and each tensor's data, not the other bytes), and the gate's signed
    verdict covers the file's sha256, so any payload (a ZIP appended) rode in a gated file."""
    import numpy as np
    from gguf import GGUFWriter

    align = int(reader.alignment)
    infos = [*reader.fields.values(), *(t.field for t in reader.tensors)]
    header_end = max(int(f.offset) + sum(int(p.nbytes) for p in f.parts) for f in infos)
    data_start = int(reader.data_offset)
    if data_start != GGUFWriter.ggml_pad(header_end, align):  # pragma: no cover - the reader's
        return f"its tensor data starts at byte {data_start}, not after the tensor infos"
    padding = [(header_end, data_start, "padding before the tensor data")]
    at = data_start
    for t in reader.tensors:
        if int(t.data_offset) != at:
            return (
                f"its tensor {t.name}'s data starts at byte {t.data_offset}, the exporter "
                f"writes it at byte {at} (each tensor right after the previous one's, "
                f"{align}-byte aligned)"
            )
        end = at + int(t.n_bytes)
        at = GGUFWriter.ggml_pad(end, align)
        padding.append((end, at, f"padding after the tensor {t.name}"))
    size = int(reader.data.size)
    if size != at:
        if size < at:
            return f"it ends at byte {size}, the exporter writes {at} bytes (the file is cut)"
        return (
            f"it holds {size - at} bytes after the last tensor's data and its padding, from "
            f"byte {at} on, which no GGUF reader reads: the exporter writes none"
        )
    for start, stop, what in padding:
        nonzero = np.flatnonzero(np.asarray(reader.data[start:stop]))
        if nonzero.size:
            first = start + int(nonzero[0])
            return (
                f"its byte {first} ({what}) is {int(reader.data[first]):#04x}: the exporter "
                "writes zeros there, which no GGUF reader reads"
            )
    return None


def _gguf_fields(
    path: Path,
) -> tuple[
    dict[str, tuple[list[str], Any]], list[tuple[str, list[int], str]], dict[str, Any], str | None
]:
    """({key: (value type names, value)}, [(tensor name, shape, type name)], {tensor name:
    its data, memory-mapped}, where the file holds a byte the parse does not account for
    (:func:`_unaccounted_byte`) or None) as GGUFReader reads ``path``; ValueError when it
    is no GGUF."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
        fields = {
            key: ([t.name for t in field.types], field.contents())
            for key, field in reader.fields.items()
            if key not in _READER_COUNTS
        }
        tensors = [(t.name, [int(x) for x in t.shape], t.tensor_type.name) for t in reader.tensors]
        data = {t.name: t.data for t in reader.tensors}
        unaccounted = _unaccounted_byte(reader)
    except Exception as e:  # the reader raises ValueError, KeyError, IndexError, numpy's own
        raise ValueError(f"{type(e).__name__}: {str(e)[:160]}") from None
    return fields, tensors, data, unaccounted


def _data_problem(name: str, got: Any, want: Any) -> str | None:
    """Why the GGUF tensor ``name``'s data ``got`` is not ``want``, the bytes the exporter
    writes (byte for byte: a float32 NaN equals itself), naming the first differing row."""
    import numpy as np

    got_bytes = np.ascontiguousarray(got).reshape(-1).view(np.uint8)
    want_bytes = np.ascontiguousarray(want).reshape(-1).view(np.uint8)
    if got_bytes.shape == want_bytes.shape and np.array_equal(got_bytes, want_bytes):
        return None
    if got_bytes.shape != want_bytes.shape:
        return (
            f"its tensor {name} holds {got_bytes.size} bytes of data, the exporter writes "
            f"{want_bytes.size}"
        )
    first = int(np.flatnonzero(got_bytes != want_bytes)[0])
    rows = int(np.prod(want.shape[:-1])) if want.ndim > 1 else 1
    row = first // (want_bytes.size // rows)
    where = f"row {row} of {rows}" if rows > 1 else f"byte {first}"
    return (
        f"its tensor {name}'s data differs from what the exporter writes for the "
        f"safetensors (first at {where}): weights edited after export"
    )


def gguf_layout_problem(path: Path, folder: Path, tok: Any, pre: PreTokenizer) -> str | None:
    """Why the GGUF ``path`` is not the file curagate's exporter writes for the
    safetensors, config and tokenizer in ``folder`` (the first differing key or tensor),
    or None: every key/value (``general.name`` aside, the output folder's name at export) and
    every tensor's name, shape, type and data must be the exporter's own.

    The logits check reloads a GGUF with transformers, which ignores keys llama.cpp obeys:
    found by attack, ``llama.rope.scaling.type``/``factor`` added (llama.cpp's logits off
    by 3.5x the bound), ``tokenizer.ggml.eos_token_id`` pointed at another token (served
    generation stopped at 'the'), a named chat template or a ``rope_freqs`` tensor added,
    the manifest's hash edited, and the gate re-checked the file "pass". The expected keys
    come from the exporter's own code (:func:`_add_metadata`, :func:`_tensor_plan`,
    :func:`_gguf_tensor_data`) on the same files, each tensor quantized again."""
    import tempfile

    import gguf
    from safetensors import safe_open

    try:
        found, found_tensors, found_data, unaccounted = _gguf_fields(path)
    except ValueError as e:
        return f"not a GGUF file ({e})"
    if unaccounted is not None:
        return unaccounted
    try:
        config = _model_config(folder)
        tok_json = _read_json(folder / "tokenizer.json")
    except (OSError, ValueError, RecursionError, InputError) as e:
        return f"the bundle's config.json or tokenizer.json cannot be read ({str(e)[:200]})"
    _check_supported(config, tok_json, folder)
    files = loaded_tensors(folder)  # InputError naming a weight file it cannot read
    check_output_layer(folder, config, files)
    types, name = found.get("general.name", ([], ""))
    with tempfile.TemporaryDirectory(prefix="curagate-gguf-") as tmp:
        expected_path = Path(tmp) / "expected.gguf"
        writer = gguf.GGUFWriter(expected_path, "llama")
        _add_metadata(
            writer, name if types == ["STRING"] else "", config, tok, tok_json, pre, folder
        )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
        expected, _, _, _ = _gguf_fields(expected_path)
    for key, (want_types, want) in expected.items():
        if key not in found:
            return f"lacks the key {key} (the exporter writes {_shown(want)})"
        got_types, got = found[key]
        if got_types != want_types:
            return (
                f"its key {key} is of type {'/'.join(got_types)}, the exporter writes "
                f"{'/'.join(want_types)}"
            )
        if got != want:
            return f"its key {key} is {_shown(got)}, the exporter writes {_shown(want)}"
    extra = next((k for k in found if k not in expected), None)
    if extra is not None:
        return (
            f"holds the key {extra} (= {_shown(found[extra][1])}), which the exporter does not "
            "write"
        )

    shapes: dict[str, tuple[int, ...]] = {}
    for f in sorted(set(files.values())):
        with safe_open(str(f), "pt") as st:
            shapes.update({k: tuple(st.get_slice(k).get_shape()) for k in st.keys()})  # noqa: SIM118
    want_tensors = [
        (name, list(reversed(shapes[hf_name])), "Q8_0" if quantized else "F32")
        for hf_name, name, quantized in _tensor_plan(config, shapes, folder)
    ]
    have = {t[0]: t for t in found_tensors}
    want_by_name = {t[0]: t for t in want_tensors}
    for tname, shape, qtype in want_tensors:
        if tname not in have:
            return f"lacks the tensor {tname} (the exporter writes it, {qtype} {shape})"
        _, got_shape, got_type = have[tname]
        if (got_shape, got_type) != (shape, qtype):
            return (
                f"its tensor {tname} is {got_type} {got_shape}, the exporter writes {qtype} {shape}"
            )
    extra = next((t[0] for t in found_tensors if t[0] not in want_by_name), None)
    if extra is not None:
        t = have[extra]
        return f"holds the tensor {extra} ({t[2]} {t[1]}), which the exporter does not write"
    if [t[0] for t in found_tensors] != [t[0] for t in want_tensors]:
        return "holds the exporter's tensors in another order"
    # The data too, byte for byte: the logits check runs on a few fixed texts, so a
    # tensor edited where they do not look passed it (found by attack: token 305's
    # token_embd row overwritten with token 291's, a token no text holds, put llama.cpp's
    # logits on it 4.5x the bound away, and GATE014 passed). Each tensor is converted and
    # quantized again by the exporter's own code, one at a time (memory: one tensor), and
    # compared with the file's. Q8_0 is deterministic (NumPy, round-half-away-from-zero),
    # so an honest export compares equal under the same gguf package version.
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    for hf_name, tname, quantized in _tensor_plan(config, shapes, folder):
        with safe_open(str(files[hf_name]), "pt") as st:
            tensor = st.get_tensor(hf_name)
        want = _gguf_tensor_data(tensor, hf_name, quantized, n_head, n_kv)
        del tensor
        problem = _data_problem(tname, found_data[tname], want)
        if problem is not None:
            return problem
    return None


_VERSION = re.compile(r"[0-9A-Za-z.+_-]{1,40}")


def gguf_versions(folder: Path) -> dict[str, str | None]:
    """The ``gguf`` package version the bundle ``folder``'s export wrote its GGUF with (its
    MANIFEST.json, ``lineage.versions.export.gguf``; None when it records none, or no version) and the one
    installed here, which :func:`gguf_layout_problem` writes and quantizes with again."""
    from importlib.metadata import PackageNotFoundError, version

    from curagate.errors import CuragateError
    from curagate.export.manifest import load_manifest

    try:
        recorded = load_manifest(folder).lineage["versions"]["export"]["gguf"]
    except (CuragateError, KeyError, TypeError):
        recorded = None
    try:
        here: str | None = version("gguf")
    except PackageNotFoundError:  # pragma: no cover - the re-check imports it first
        here = None
    # Only a version's form goes into findings and the report: found by attack, 2 MB there
    # made a 4 MB report (and a newline in it a forged line).
    valid = isinstance(recorded, str) and _VERSION.fullmatch(recorded) is not None
    return {"exported_with": recorded if valid else None, "checked_with": here}


def _versions_note(versions: dict[str, str | None]) -> str:
    """For a GGUF that is not the exporter's: which ``gguf`` versions wrote and re-wrote it,
    when they may differ (another version may write other keys or quantize otherwise)."""
    written, here = versions["exported_with"], versions["checked_with"]
    if written is None:
        return (
            "; the bundle's MANIFEST.json records no valid gguf version that wrote it, and gguf "
            f"{here} re-checks it: another version may write other keys or quantize otherwise"
        )
    if written != here:
        return (
            f"; the bundle's MANIFEST.json (lineage.versions.export) says gguf {written} wrote "
            f"it, and gguf {here} re-checks it: another version may write other keys or "
            f"quantize otherwise, so gate with gguf {written} installed before taking the "
            "file for edited"
        )
    return ""


def recheck_gguf(
    folder: Path, name: str, conversations: Sequence[list[dict[str, str]]]
) -> GgufResult:
    """:func:`check_gguf` for a GGUF already in a bundle, against the bundle's own
    safetensors (loaded in float32, as export compared them): the gate evaluates those,
    and signs off on the GGUF beside them only when it is the same model. The texts are
    ``conversations`` through the chat template, as export renders its prompts."""
    try:
        import torch
        from transformers import AutoTokenizer
    except ImportError as e:
        raise MissingExtraError("train", e.name or "torch") from e
    from curagate.export.bundle import _logits, _render
    from curagate.export.gguf_tokenizer import determine_pre_tokenizer
    from curagate.hf import load_causal_lm

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    pre = determine_pre_tokenizer(tok, folder)
    texts = (
        _render(tok, conversations, folder)
        if getattr(tok, "chat_template", None)
        else ["\n\n".join(m["content"] for m in c) + "\n" for c in conversations]
    )
    fix = (
        "the gate signs off only on weights it evaluated: re-export the bundle (with "
        "--gguf) or without the GGUF, and gate a GGUF you serve as served (its endpoint)"
    )
    # Before the logits: transformers, which they are computed with, ignores keys and
    # tensors llama.cpp obeys (rope scaling, the end-of-generation token, named chat
    # templates), so the file must be exactly what export writes (its name aside).
    problem = gguf_layout_problem(folder / name, folder, tok, pre)
    if problem is not None:
        raise CheckFailed(
            f"{folder / name}: {problem}: not the GGUF `curagate export --gguf` writes for "
            f"the safetensors the gate evaluated (llama.cpp, which serves it, would run "
            f"another model than the one checked){_versions_note(gguf_versions(folder))}; "
            f"{fix}"
        )
    # The model the gate evaluates, as transformers loads it: refused (exit 2) when that
    # is not the model the files hold (a weight initialized at random on each load).
    model: Any = load_causal_lm(folder, dtype=torch.float32, local_files_only=True)
    model.eval()
    reference = _logits(model, tok, texts)
    del model
    return check_gguf(
        folder, name, tok=tok, reference_logits=reference, texts=texts, pre=pre,
        against="the safetensors the gate evaluated", fix=fix,
    )  # fmt: skip
