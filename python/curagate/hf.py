"""Loading model folders with transformers, peft and safetensors.

What those libraries raise on a folder's files (weights cut short or with a garbage
header, an unknown ``model_type``, a ``tokenizer.json`` that is not one, weights whose
shapes do not match ``config.json``) is a problem with the user's files, not a bug in
curagate: :func:`loading` turns it into an :class:`~curagate.errors.InputError` naming
the folder (exit 2), where it reached the CLI as a KeyError or SafetensorError (exit 3).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curagate.errors import CuragateError, InputError

# What the loaders raise on bad files; safetensors' SafetensorError (a plain Exception
# subclass) is matched by name, so this module imports none of them.
# ArithmeticError: transformers dividing by a size of 0 in config.json (num_attention_heads).
_LOAD_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    RuntimeError,
    TypeError,
    AttributeError,
    ArithmeticError,
)
_LOAD_ERROR_NAMES = frozenset({"SafetensorError", "HeaderTooLarge"})


# Deprecation warnings that the libraries raise about their own calls, which a user of
# curagate can do nothing about: peft and trl read transformers 5's deprecated
# `is_gradient_checkpointing` when they wrap the model (a FutureWarning on every run).
_LIBRARY_DEPRECATIONS = (r"`is_gradient_checkpointing` is deprecated",)


@contextlib.contextmanager
def library_deprecations_quiet() -> Iterator[None]:
    """Run without :data:`_LIBRARY_DEPRECATIONS` (every other warning as the caller's
    filters say): the trainer's set-up and run, every :func:`loading`."""
    with warnings.catch_warnings():
        for message in _LIBRARY_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=FutureWarning)
        yield


@contextlib.contextmanager
def loading(folder: str | os.PathLike[str], what: str = "the model") -> Iterator[None]:
    """Run a ``from_pretrained`` (or several) on ``folder``; a failure caused by its files
    is an InputError naming the folder and the library's own words. Under --quiet, or off
    a terminal, the libraries draw no bars either (gate and export wrote "Loading weights"
    into CI logs)."""
    from curagate.progress import enabled

    if not enabled():
        no_library_bars()
    try:
        with library_deprecations_quiet():
            yield
    except CuragateError:
        raise
    except Exception as e:
        problem = config_problem(e, folder)
        if problem is not None:
            raise InputError(problem) from None
        if not (isinstance(e, _LOAD_ERRORS) or type(e).__name__ in _LOAD_ERROR_NAMES):
            raise
        words = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise InputError(
            f"{os.fspath(folder)}: cannot load {what} ({type(e).__name__}: {words[:300]}); "
            "check its files (weights, config.json, tokenizer files) or export it again"
        ) from None


def no_library_bars() -> None:
    """Turn off transformers' and the Hub's progress bars (a weights load draws one)."""
    from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    disable_progress_bars()


def config_problem(e: BaseException, folder: str | os.PathLike[str]) -> str | None:
    """What is wrong with ``folder``'s config.json when ``e`` is transformers refusing a
    value in it (transformers 5 checks each key's type: huggingface_hub's
    StrictDataclass errors, plain Exceptions), naming the file, the key and the fix; None
    for any other error. Found by attack: ``tie_word_embeddings: "false"`` (a string),
    null or 0 made export, train and the gate crash (exit 3)."""
    if not any(c.__name__.startswith("StrictDataclass") for c in type(e).__mro__):
        return None
    path = Path(folder) / "config.json"
    text = str(e).strip()
    field = re.match(r"Validation error for field '([^']{1,80})':", text)
    if field is None:
        # "Class validation error for validator 'validate_architecture':" heads the reason
        # on the lines below (found by attack: the message stopped at the heading).
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        words = " ".join(lines[:2] if lines and lines[0].endswith(":") else lines[:1])
        words = (words[:197] + "...") if len(words) > 200 else words
        return (
            f"{path}: transformers refuses it ({words or type(e).__name__}); fix the file or "
            "export it again"
        )
    key = field.group(1)
    expected = re.search(r"expected (\w{1,40}), got", text)
    want = expected.group(1) if expected else None
    try:
        data = json.loads(path.read_bytes())
        shown = json.dumps(data[key]) if isinstance(data, dict) and key in data else None
    except (OSError, ValueError, RecursionError, TypeError):
        shown = None
    if shown is None:  # a key of a nested config (text_config, ...): the library's words
        cause = text.splitlines()[-1].strip()[:200]
        what = f"{key} is refused by transformers ({cause})"
    else:
        what = f"{key} is {shown if len(shown) <= 80 else shown[:77] + '...'}"
    if want == "bool":
        fix = (
            "transformers expects true or false there (a JSON boolean, without quotes): "
            f"write {key}: true or false"
        )
    elif want is not None:
        fix = f"transformers expects a value of type {want} there: correct {key} or remove it"
    else:
        fix = f"correct {key} or remove it"
    return f"{path}: {what}, which transformers cannot read; {fix}"


def _module_names(model: Any) -> dict[int, str]:
    return {id(m): n for n, m in model.named_modules(remove_duplicate=False)}


def untied_without_head(head: str, embed: str) -> str:
    """Why a model whose config says ``tie_word_embeddings: false`` and whose weights hold
    no output layer ``head`` is refused (after the config.json it is about)."""
    return (
        f"tie_word_embeddings is false and the weights transformers loads hold no {head}: "
        "transformers initializes the output layer at random on every load (another model "
        "each time), while a GGUF of it would use the token embeddings (llama.cpp); set "
        f"tie_word_embeddings to true if the output layer is the input embeddings ({embed}), or "
        f"restore {head} in model.safetensors (or a shard model.safetensors.index.json names)"
    )


def tied_head_differs(head: str, embed: str) -> str:
    """Why a model whose config says ``tie_word_embeddings: true`` beside an output layer
    ``head`` that differs from its input embeddings ``embed`` is refused."""
    return (
        f"tie_word_embeddings is true and the weights transformers loads hold an {head} that "
        f"differs from the input embeddings ({embed}): loaders disagree on the output layer "
        f"(transformers 5 keeps {head}, as a GGUF does as output.weight; loaders that follow "
        f"the key use the embeddings); set tie_word_embeddings to false if {head} is the "
        f"output layer, or remove {head} if the embeddings are"
    )


def loaded_weights_problem(
    model: Any,
    loading_info: dict[str, Any],
    folder: str | os.PathLike[str],
    loaded_from: str | os.PathLike[str] | None = None,
) -> str | None:
    """Why the model transformers loaded from ``folder`` (``from_pretrained(...,
    output_loading_info=True)``: the model and ``loading_info``) is not the model its files
    hold, or None: a weight the files transformers loads lack (it initializes one at random
    on every load, another model each time), a tensor of the files it dropped
    (:func:`unexpected_problem`), a config.json saying the output layer is the input
    embeddings beside a differing one transformers kept, or a weight that is NaN or
    infinite (:func:`non_finite_problem`).

    Judged on what transformers loaded, not on files: found by attack, a check of the
    folder's top-level ``*.safetensors`` missed embeddings in a sub-folder shard the index
    names, an ``lm_head.weight`` only in a shard no index names (or in shards beside
    ``model.safetensors``, which transformers reads instead), LlamaModel's tensor names, and
    a later file's ``lm_head.weight`` masking the loaded one.

    The output layer and the NaN/infinity checks read the tensors as the files store them
    (:class:`StoredWeights`, from ``loaded_from``, the folder transformers read: a private
    copy of ``folder``, or ``folder`` itself), never only as loaded: found by review, a
    ``lm_head.weight`` that differs from the embeddings in float32 can round to them in
    bfloat16, and the gate (bf16 on a GPU) passed a model export (float32) refused."""
    shown = Path(folder)
    stored = StoredWeights(Path(folder if loaded_from is None else loaded_from), model, shown)
    config = getattr(model, "config", None)
    tied = getattr(config, "tie_word_embeddings", False) is True
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    names = _module_names(model)
    head = f"{names.get(id(out), 'lm_head')}.weight"
    embed = f"{names.get(id(inp), 'model.embed_tokens')}.weight"
    missing = sorted({str(k) for k in loading_info.get("missing_keys") or ()})
    if missing:
        if head in missing and not tied:
            return f"{shown / 'config.json'}: {untied_without_head(head, embed)}"
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        return (
            f"{shown}: the weights transformers loads lack {len(missing)} the model needs "
            f"({', '.join(missing[:5])}{more}): transformers initializes them at random on "
            "every load (another model each time); restore them in model.safetensors (or the "
            "shards model.safetensors.index.json names), or fix config.json"
        )
    unexpected = unexpected_problem(model, loading_info, shown)
    if unexpected is not None:
        return unexpected
    if tied and out is not None and inp is not None:
        a, b = getattr(out, "weight", None), getattr(inp, "weight", None)
        if a is not None and b is not None:
            try:
                differs = _tied_head_differs(stored, head, embed, a, b)
            except InputError as e:  # a weight file loaded_tensors refuses (a key in two)
                return str(e)
            if differs:
                return f"{shown / 'config.json'}: {tied_head_differs(head, embed)}"
    return non_finite_problem(model, shown, stored)


def _tied_head_differs(stored: StoredWeights, head: str, embed: str, a: Any, b: Any) -> bool:
    """Whether the output layer ``head`` (loaded as ``a``) of a model whose config.json
    ties it to the input embeddings ``embed`` (loaded as ``b``) is another tensor than
    them in the files (:func:`same_stored_tensor`, bit for bit as stored): the verdict of
    the files, whatever dtype the model was loaded in. Where the files hold no ``head``
    (a tied model as saved) there is nothing to differ. Only where the files' names for them
    are not found (a model class that renames its weights on load) are the loaded tensors
    compared, which can only err towards passing: loaded tensors that differ were stored
    differing, but two stored ones can round to one loaded one."""
    import torch

    head_key, embed_key = stored.name(head), stored.name(embed)
    if embed_key is not None and (head_key is not None or a is b):
        if head_key is None:  # transformers tied them: it found no head in the files
            return False
        return not same_stored_tensor(stored.tensor(head_key), stored.tensor(embed_key))
    return a is not b and not (a.shape == b.shape and bool(torch.equal(a.detach(), b.detach())))


def same_stored_tensor(a: Any, b: Any) -> bool:
    """Whether two tensors read from weight files are one: the same dtype, shape and
    bytes (bit for bit: -0.0 is not 0.0, a NaN is the same NaN), so that every loader, in
    whatever dtype it loads them, gets one tensor from both."""
    import torch

    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(
        torch.equal(
            a.contiguous().reshape(-1).view(torch.uint8),
            b.contiguous().reshape(-1).view(torch.uint8),
        )
    )


_SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
_BIN_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


class StoredWeights:
    """The tensors of the weight files transformers loaded a model from, as stored (their
    own dtype, not the one the model was loaded in), read on demand: found as
    transformers finds them (``model.safetensors``, else the shards its index names:
    :func:`curagate.export.gguf_q8.loaded_tensors`; else ``pytorch_model.bin`` or its
    index's shards). A folder without them (none of the model's weights there) has none,
    and :meth:`name` finds nothing in it."""

    def __init__(self, folder: Path, model: Any, shown: Path) -> None:
        self.folder, self.shown = folder, shown
        self.prefix = str(getattr(model, "base_model_prefix", "") or "")
        self._files: dict[str, Path] | None = None
        self._bins: dict[Path, dict[str, Any]] = {}

    def _named(self, message: str) -> str:
        """``message`` with the folder read (a private copy) named as the user's."""
        if self.folder == self.shown:
            return message
        return message.replace(os.fspath(self.folder), os.fspath(self.shown))

    def files(self) -> dict[str, Path]:
        """{tensor name in the files: the file it is read from}; InputError naming the file
        when loaded_tensors refuses one (a tensor two shards hold)."""
        if self._files is None:
            from curagate.export.gguf_q8 import loaded_tensors
            from curagate.export.manifest import loaded_weights

            present = {n for n in _SAFETENSORS_FILES + _BIN_FILES if (self.folder / n).is_file()}
            files: dict[str, Path] = {}
            if present & set(_SAFETENSORS_FILES):
                try:
                    files = loaded_tensors(self.folder)
                except InputError as e:
                    raise InputError(self._named(str(e))) from None
            else:
                for rel in sorted(loaded_weights(self.folder, present)):
                    for key in self._bin(self.folder / rel) or {}:
                        files.setdefault(key, self.folder / rel)
            self._files = files
        return self._files

    def _bin(self, path: Path) -> dict[str, Any] | None:
        import torch

        if path not in self._bins:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # transformers read it a moment ago: replaced since
                return None
            self._bins[path] = state if isinstance(state, dict) else {}
        return self._bins[path]

    def name(self, param: str) -> str | None:
        """The name the files give the model's parameter ``param``: its own, or with the
        model class's ``base_model_prefix`` taken off or put on, as transformers matches
        them (``embed_tokens.weight`` of a LlamaModel's file for
        ``model.embed_tokens.weight``); None when the files hold none of them."""
        files = self.files()
        names = [param]
        if self.prefix:
            if param.startswith(self.prefix + "."):
                names.append(param[len(self.prefix) + 1 :])
            names.append(f"{self.prefix}.{param}")
        return next((n for n in names if n in files), None)

    def tensor(self, key: str) -> Any:
        """The tensor ``key`` (a name :meth:`name` found) as the file stores it; InputError
        naming the file when it cannot be read (cut or replaced since transformers read it)."""
        path = self.files()[key]
        try:
            if path.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(path), "pt") as st:
                    return st.get_tensor(key)
            state = self._bin(path)
            if state is not None and key in state:
                return state[key]
            raise KeyError(key)
        except Exception as e:
            words = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
            raise InputError(
                self._named(
                    f"{path}: cannot read the tensor {key} ({type(e).__name__}: {words}); "
                    "restore the file or export the model again"
                )
            ) from None


# Constant buffers older checkpoints saved beside the weights, which transformers computes
# from config.json and drops when it reads them (GPT-2's attn.masked_bias is not in the
# class's own list of keys to ignore): no sign of another model.
_CONSTANT_BUFFERS = frozenset({"masked_bias", "inv_freq", "position_ids"})


def _shortlist(names: list[str]) -> str:
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"{', '.join(names[:5])}{more}"


def unexpected_problem(model: Any, loading_info: dict[str, Any], folder: Path) -> str | None:
    """Why the tensors transformers read from ``folder`` but dropped (its
    ``unexpected_keys``, less those the model class says to drop and
    :data:`_CONSTANT_BUFFERS`) make the loaded model another one, or None. Found by attack:
    config.json saying ``num_hidden_layers: 1`` beside weights of 2 layers was exported,
    gated and trained as a 1-layer model (transformers drops the second layer's tensors)."""
    dropped = sorted(
        k
        for k in {str(k) for k in loading_info.get("unexpected_keys") or ()}
        if k.rsplit(".", 1)[-1] not in _CONSTANT_BUFFERS
    )
    if not dropped:
        return None
    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", None)
    beyond = sorted(
        {int(m.group(1)) for k in dropped if (m := re.search(r"\.(?:layers|h)\.(\d+)\.", k))}
    )
    if isinstance(layers, int) and beyond and beyond[-1] >= layers:
        fix = (
            f"{folder / 'config.json'} says num_hidden_layers is {layers} but the weights hold "
            f"layer {beyond[-1]}: set num_hidden_layers to the layers the weights hold, or "
            "remove the extra tensors"
        )
    else:
        fix = (
            "config.json describes another model than the weights: fix config.json, or remove "
            "the extra tensors from model.safetensors (or the shards "
            "model.safetensors.index.json names)"
        )
    return (
        f"{folder}: the weights transformers loads hold {len(dropped)} tensors the model does "
        f"not use ({_shortlist(dropped)}): transformers drops them and runs a smaller model "
        f"than the files hold; {fix}"
    )


def non_finite_problem(model: Any, folder: Path, stored: StoredWeights | None = None) -> str | None:
    """Why ``model`` (loaded from ``folder``) cannot be evaluated, merged or trained: a
    parameter holding NaN or an infinity (found by attack: export blamed its own merge for
    the NaN logits, the gate passed the model with a WARN), or None. One pass over the
    floating-point parameters (quantized ones hold integers).

    Where ``stored`` (the files transformers read) holds every such parameter finite, the
    files are not at fault but the dtype the model was loaded in: a float32 weight beyond
    bfloat16's range (about 3.39e38) loads as an infinity on a GPU; the model is refused
    all the same (it computes NaN there), with that reason."""
    import torch

    bad = [
        (name, p.dtype)
        for name, p in model.named_parameters()
        if p.is_floating_point()
        and p.device.type != "meta"
        and not bool(torch.isfinite(p.detach()).all())
    ]
    if not bad:
        return None
    in_files: list[str] = []  # not finite as stored, or not found there: the files' fault
    overflown: dict[str, str] = {}  # finite as stored: {name: its stored dtype}
    for name, _ in bad:
        kept = _stored_tensor(stored, name)
        if kept is not None and kept.is_floating_point() and bool(torch.isfinite(kept).all()):
            overflown[name] = str(kept.dtype).removeprefix("torch.")
        else:
            in_files.append(name)
    if not in_files:
        loaded_as = str(bad[0][1]).removeprefix("torch.")
        return (
            f"{folder}: the weights hold values too large for {loaded_as}, the dtype the model "
            f"is loaded in here, in {_shortlist(list(overflown))}: finite as stored "
            f"({', '.join(sorted(set(overflown.values())))}), they load as infinity, and what "
            "the model computes through them is not a number; load it in float32 (curagate "
            "loads float32 on CPU, bfloat16 on a GPU), or bring those weights within range"
        )
    return (
        f"{folder}: the weights hold values that are not finite numbers (NaN or infinity) in "
        f"{_shortlist(in_files)}: what the model computes through them is not a number either; restore the weights "
        "from a good copy (model.safetensors or the shards model.safetensors.index.json names)"
    )


def _stored_tensor(stored: StoredWeights | None, param: str) -> Any:
    """The parameter ``param`` as the files store it, or None where they cannot tell (no
    files known, a name the model class renames on load, a file that cannot be read)."""
    if stored is None:
        return None
    try:
        key = stored.name(param)
        return None if key is None else stored.tensor(key)
    except InputError:
        return None


def load_causal_lm(
    folder: str | os.PathLike[str],
    named: str | os.PathLike[str] | None = None,
    what: str = "the model",
    **kwargs: Any,
) -> Any:
    """``AutoModelForCausalLM.from_pretrained(folder, **kwargs)`` under :func:`loading`,
    refused (InputError, exit 2) when transformers did not load the model the files hold
    (:func:`loaded_weights_problem`); ``named``: the folder named in messages (the user's,
    where ``folder`` is a private copy of it)."""
    from transformers import AutoModelForCausalLM

    shown = folder if named is None else named
    with loading(shown, what):
        pair: Any = AutoModelForCausalLM.from_pretrained(folder, output_loading_info=True, **kwargs)
    model, info = pair
    problem = loaded_weights_problem(model, info, shown, folder)
    if problem is not None:
        raise InputError(problem)
    return model
