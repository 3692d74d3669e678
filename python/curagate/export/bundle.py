"""`curagate export`: merge a run's adapter into its base and write a bundle that ships as is.

The bundle is a plain Hugging Face model directory (safetensors, config,
generation config, tokenizer with its chat template) plus a model card and
MANIFEST.json. Nothing is reported as exported until the written directory was
reloaded with plain transformers and shown to behave like base + adapter: same
logits on fixed and golden prompts (within a stated tolerance), bit-identical
weights after the round trip through safetensors, and the same
chat template, rendered byte for byte. The whole directory appears atomically.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curagate.artifacts import (
    AttestationRefused,
    BundleManifest,
    GateReportDoc,
    Loaded,
    RunInfo,
    RunRecord,
    check_adapter_unchanged,
    check_base_unchanged,
    load_run,
    parse_artifact,
    read_artifact,
    run_digests,
    verify_gate_attestation,
)
from curagate.config import MAX_CONFIG_BYTES
from curagate.digest import (
    artifact_digest,
    copy_hashed,
    files_digest,
    sha256_bytes,
    walk_strict,
)
from curagate.errors import CheckFailed, ConfigError, InputError, MissingExtraError
from curagate.export.card import model_card
from curagate.export.manifest import (
    MANIFEST_NAME,
    check_bundle,
    hash_bundle_files,
    manifest_bytes,
)
from curagate.export.quick import DEFAULT_QUICK_ITEMS, QuickCheckPlan, plan_quick_checks
from curagate.golden import jsonl_objects
from curagate.hf import loaded_weights_problem, loading
from curagate.io.atomic import (
    atomic_path,
    claim_output,
    private_dir,
    remove_private,
    write_bytes_atomic,
    write_text_atomic,
)
from curagate.io.outputs import read_regular, refuse_inside_output
from curagate.signing import (
    ATTESTATION_NAME,
    BUNDLE_SIGNATURE_NAME,
    MAX_ATTESTATION_BYTES,
    MAX_KEY_BYTES,
    SignatureInvalid,
    key_fingerprint,
    load_private_key,
    load_public_key,
    public_pem,
    sign_bundle,
    verify_bundle_signature,
)
from curagate.train.provenance import library_versions

DTYPES = ("float32", "bfloat16", "float16")
# Largest |logit difference| accepted between the reloaded bundle and base + adapter
# (both evaluated in float32), as a fraction of the largest |reference logit|.
# A float32 bundle differs only by the rounding of the merge; 16-bit bundles also
# carry the rounding of every weight (SmolLM2-135M in bfloat16: 0.37 on logits up
# to 38, i.e. 0.01). Relative, because logit scales differ by orders of magnitude
# between models.
DEFAULT_RTOL = {"float32": 1e-4, "bfloat16": 2e-2, "float16": 5e-3}
MAX_RTOL = 0.5
MAX_GOLDEN_PROMPTS = 16

# Always checked, whatever the golden prompts: a system turn, a multi-turn
# exchange and non-ASCII text exercise the template's branches.
FIXED_CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "Hello! What can you do?"}],
    [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three colours."},
    ],
    [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3 + 3? Réponds en français, s'il te plaît."},
    ],
]


@dataclass(frozen=True)
class ExportResult:
    out: Path
    digest: str
    files: int
    dtype: str
    max_abs_logit_diff: float
    bound: float
    rtol: float
    prompts: int
    gguf: str | None
    quick_checks: dict[str, Any] | None = None
    signed_by: str | None = None
    gguf_pre_tokenizer: str | None = None
    # Things the user should know that did not stop the export (printed as warnings).
    warnings: tuple[str, ...] = ()


def _check_report_judged_run(report: Loaded[GateReportDoc], info: RunInfo) -> str:
    """A gate report in the card must be about this run, not another candidate; returns
    the run's artifact digest."""
    judged = report.doc.candidate.artifact_sha256 or report.doc.candidate.sha256
    expected = run_digests(info).digest
    if judged != expected:
        raise CheckFailed(
            f"{report.path}: the gate judged candidate {str(judged)[:12]}…, not this run "
            f"({info.path}, {expected[:12]}…); pass the report of `curagate gate "
            f"--candidate {info.path}`, or gate the exported bundle and give that report to "
            "`curagate registry`"
        )
    # The run record too (reports before the gate named it: the weights only): its data,
    # config and golden sets become the bundle's lineage, and the data is what the gate
    # scanned for contamination.
    gated_record = (report.doc.candidate.model_extra or {}).get("run_json_sha256")
    if gated_record is not None and gated_record != info.run_sha256:
        raise CheckFailed(
            f"{info.path / RunRecord.FILE}: changed since the gate judged this run (sha256 "
            f"{info.run_sha256[:12]}…, the report names {str(gated_record)[:12]}…); its "
            "training data, config and golden sets would be the bundle's lineage unchecked: "
            "restore it, or gate the run again"
        )
    return expected


def _read_public_key(flag: str, path: str | os.PathLike[str]) -> bytes:
    """The PEM of ``flag``'s public key, refused (exit 2) unless curagate verifies with it."""
    try:
        pem = read_regular(Path(path), MAX_KEY_BYTES, follow_links=True)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot read ({e.strerror or e})") from None
    load_public_key(pem, source=f"{flag} {path}")
    return pem


def _report_trust(
    report: Loaded[GateReportDoc], run_digest: str, gate_key: bytes | None
) -> tuple[str | None, str | None]:
    """(keyid, None) when the attestation beside ``report`` verifies with ``gate_key``
    for exactly this report and run, else (None, why it is not verified).

    Without a gate key nothing is verified: the report's own ``attestation.signed`` is
    just one more thing anyone can write. With one, anything short of a valid
    attestation fails (exit 1): whoever passed the key asked for proof.
    """
    att_path = report.path.parent / ATTESTATION_NAME
    if gate_key is None:
        if att_path.is_file():
            return None, f"its {ATTESTATION_NAME} was not checked: no --gate-key given"
        return None, f"unsigned: no {ATTESTATION_NAME} beside it"
    try:
        att = read_regular(att_path, MAX_ATTESTATION_BYTES, follow_links=True)
    except FileNotFoundError:
        raise CheckFailed(
            f"{report.path}: unsigned: no {ATTESTATION_NAME} beside it, so --gate-key cannot "
            "verify it; rerun the gate with --sign-key, or export without --gate-key (the card "
            "then marks the report as not verified)"
        ) from None
    except OSError as e:
        raise InputError(f"{att_path}: cannot read the attestation ({e.strerror or e})") from None
    keyid = key_fingerprint(load_public_key(gate_key, source="--gate-key"))
    try:
        _, keyid = verify_gate_attestation(
            att,
            {keyid: gate_key},
            report_raw=report.raw,
            verdict=report.doc.verdict,
            artifact_digest=run_digest,
            source=str(report.path),
        )
    except AttestationRefused as e:
        if e.judged is None:
            raise
        raise AttestationRefused(
            f"{att_path}: the attestation is not about this run ({run_digest[:12]}…); pass the "
            "report and attestation the gate wrote for it",
            e.keyid,
            e.judged,
        ) from None
    return keyid, None


def _tokenizer_source(info: RunInfo) -> Path:
    """The tokenizer saved with the adapter is the one training used; else the base's.
    One that loads a file from outside its folder is refused: the bundle would ship the
    reference, and its tokenizer would come from bytes no manifest covers."""
    from curagate.export.manifest import files_outside

    src = info.adapter_dir
    if not (src / "tokenizer_config.json").is_file():
        src = info.base_dir
    files = [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]
    outside = files_outside(src, files, str(src), stale_paths=True)
    if outside:
        raise InputError(
            f"{src}: {outside[0]}; a bundle's tokenizer must load from the bundle alone: "
            "remove the key from tokenizer_config.json (or copy the file into the folder)"
        )
    return src


def _read_prompts(path: Path) -> list[list[dict[str, str]]]:
    """Golden prompts as conversations ending on a user turn (answers are dropped)."""
    out: list[list[dict[str, str]]] = []
    for lineno, row in jsonl_objects(path):
        where = f"{path}: line {lineno}"
        if "messages" in row and not isinstance(row["messages"], list):
            raise InputError(f"{where}: field 'messages' must be a list of turns")
        if isinstance(row.get("messages"), list):
            msgs = []
            for i, m in enumerate(row["messages"]):
                # A turn as the chat formats hold it (docs/formats.md): a string role, and
                # content as a string, a list of parts, or null beside tool calls.
                if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                    raise InputError(
                        f"{where}: messages[{i}] is not a turn (an object with a string "
                        '\'role\'); give each as {"role": "user", "content": "..."}'
                    )
                if not isinstance(m.get("content"), str | list) and not (
                    m.get("content") is None and m.get("tool_calls")
                ):
                    raise InputError(
                        f"{where}: messages[{i}]: 'content' must be a string or a list of parts "
                        "(null only beside tool_calls)"
                    )
                msgs.append(dict(m))
            if not msgs:
                raise InputError(f"{where}: 'messages' holds no turn; give the prompt's turns")
            while msgs and msgs[-1].get("role") == "assistant":
                msgs.pop()
            if not msgs:
                raise InputError(
                    f"{where}: no prompt: every turn is an assistant turn (answers are "
                    "dropped); give the user turn the answer follows, or delete the line"
                )
        elif isinstance(row.get("prompt"), str):
            msgs = [{"role": "user", "content": row["prompt"]}]
        elif isinstance(row.get("input"), str):
            msgs = [{"role": "user", "content": row["input"]}]
        else:
            raise InputError(
                f"{path}: line {lineno}: no 'messages', 'prompt' or 'input' field to use as a prompt"
            )
        out.append(msgs)
        if len(out) >= MAX_GOLDEN_PROMPTS:
            break
    if not out:
        raise InputError(
            f"{path}: no prompts (an empty file); give golden prompts, one JSON object per "
            "line, or drop --prompts"
        )
    return out


def _render(tok: Any, conversations: Sequence[list[dict[str, str]]], source: Any) -> list[str]:
    """Each conversation through the chat template; a template that does not render (a
    syntax error, raise_exception, an undefined name) is the user's file, not a bug."""
    import jinja2

    try:
        return [
            tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
    except jinja2.TemplateError as e:
        raise InputError(
            f"{source}: the chat template does not render ({type(e).__name__}: "
            f"{str(e)[:200]}); fix chat_template.jinja"
        ) from None


def _check_run_signed(info: RunInfo, train_pem: bytes) -> str:
    """The key id of ``train_pem`` (``--train-key``) when it signed exactly this run.json
    (else exit 1): an adapter swapped and run.json's hashes edited to match was merged,
    signed and said to be the trained one."""
    from curagate.signing import verify_run_record

    return verify_run_record(info.path, info.run_sha256, train_pem)


def _private_copies(
    info: RunInfo, into: Path, *, copy_base: bool
) -> tuple[dict[str, str], Path, Path]:
    """The adapter's files hashed while copied into ``into`` (by the rules `curagate train`
    recorded them and the gate's candidate digest hashes them, so the lineage's adapter
    sha256 is the gate's), checked against run.json's record; the base model's too with
    ``copy_base``. Returns (adapter files, base dir, adapter dir) to load from."""
    adapter_dir = into / "adapter"
    adapter_files = copy_hashed(info.adapter_dir, adapter_dir)
    recorded = info.record.adapter_files
    if recorded is not None and adapter_files != recorded:
        raise CheckFailed(
            f"{info.adapter_dir}: changed while export ran (its files no longer have the "
            "sha256 run.json records); nothing was written: export a run nothing writes to"
        )
    base_dir = info.base_dir
    if copy_base:
        base_dir = into / "base"
        if copy_hashed(info.base_dir, base_dir) != info.record.base_model.files:
            raise CheckFailed(
                f"{info.base_dir}: changed while export ran (its files no longer have the "
                "sha256 run.json records); nothing was written: export a run nothing writes to"
            )
    return adapter_files, base_dir, adapter_dir


def _check_adapter_loaded(model: Any, adapter_dir: Path) -> None:
    """The adapter file's tensors are exactly the ones the model's LoRA layers load.

    peft only warns when an adapter's keys do not match its target modules (another
    target_modules, another base): those LoRA weights then keep their initial values and
    the "merged" bundle holds no training at all (or random weights, different at every
    export), while every later check compares it with that same model."""
    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        return  # a .bin adapter (not written by curagate train): loaded as peft loads it
    with loading(path, "the adapter weights"), safe_open(str(path), "pt") as f:
        stored = set(f.keys())
    expected = set(get_peft_model_state_dict(model).keys())
    missing, unexpected = sorted(expected - stored), sorted(stored - expected)
    if not stored or missing or unexpected:
        what = (
            "holds no tensor"
            if not stored
            else (
                f"lacks {len(missing)} of the {len(expected)} tensors its adapter_config.json "
                f"makes ({', '.join(missing[:2]) or '-'}) and holds {len(unexpected)} it does not "
                f"({', '.join(unexpected[:2]) or '-'})"
            )
        )
        raise InputError(
            f"{path}: {what}: its LoRA weights would not be merged (target_modules or the "
            "base model differ from training); export the run the adapter was trained in"
        )


def _logits(model: Any, tok: Any, texts: Sequence[str]) -> list[Any]:
    import torch

    out = []
    with torch.no_grad():
        for text in texts:
            ids = tok(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            out.append(model(input_ids=ids).logits.float()[0])
    return out


def _weight_digests(model: Any, dtype: str | None = None) -> dict[str, str]:
    """sha256 of every tensor's bytes (in ``dtype`` when given): exact, and cheap on memory."""
    import hashlib

    import torch

    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach()
        if dtype is not None and t.is_floating_point():
            t = t.to(getattr(torch, dtype))
        out[name] = hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()
    return out


def _model_config(base_dir: Path) -> dict[str, Any]:
    """The base model's config.json as an object; InputError (exit 2) when it is not one."""
    path = base_dir / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise InputError(f"{path}: cannot read the base model config ({why})") from None
    if not isinstance(cfg, dict):
        raise InputError(f"{path}: the base model config is not a JSON object")
    return cfg


def _check_base_loads_no_remote_code(base_dir: Path) -> None:
    """A bundle's model must load without remote code (`curagate verify` refuses an
    ``auto_map``): one in the base config would be copied into the bundle, so it is
    refused before minutes of merging."""
    for name in ("config.json", "tokenizer_config.json"):
        path = base_dir / name
        try:
            data = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError):
            continue  # read, and refused if need be, where it is loaded
        if isinstance(data, dict) and "auto_map" in data:
            raise InputError(
                f"{path}: names remote code (auto_map); a curagate bundle's model loads with "
                "transformers' own classes only: export a base model without it"
            )


def _check_base_unquantized(base_dir: Path) -> None:
    """Merging needs full-precision base weights (QLoRA quantizes at load time, not on disk)."""
    cfg = _model_config(base_dir)
    quant = cfg.get("quantization_config")
    if quant:
        method = quant.get("quant_method", "unknown") if isinstance(quant, dict) else "unknown"
        raise InputError(
            f"{base_dir / 'config.json'}: the base model is stored quantized ({method}); merging "
            "into quantized weights would round the adapter away: point base_model.path at the "
            "16/32-bit weights the quantized copy was made from"
        )


def _resolve_dtype(dtype: str, base_dir: Path) -> str:
    if dtype != "auto":
        if dtype not in DTYPES:
            raise InputError(f"--dtype {dtype!r}: choose auto or one of {', '.join(DTYPES)}")
        return dtype
    cfg = _model_config(base_dir)
    saved = cfg.get("dtype") or cfg.get("torch_dtype")
    return saved if saved in DTYPES else "float32"


def _gate_of_report(report: Loaded[GateReportDoc]) -> Path | None:
    """The gate file a report was made with, if it is still there and unchanged."""
    file = report.doc.gate.file
    recorded = report.doc.gate.sha256
    if not file:
        return None
    path = Path(file)
    if not path.is_file():
        raise InputError(
            f"{report.path}: its gate file {file} is not found from {Path.cwd()}; pass --gate FILE "
            "for the quick checks (or --quick-items 0 to skip them)"
        )
    # The gate hashes the file's text (as curagate.gate.config.parse_gate does).
    try:
        text = read_regular(path, MAX_CONFIG_BYTES, follow_links=True).decode("utf-8")
    except OSError as e:
        raise InputError(f"{report.path}: its gate file {file}: cannot read it ({e})") from None
    except UnicodeDecodeError as e:
        raise InputError(
            f"{report.path}: its gate file {file} is not UTF-8 text (byte {e.start}), so not "
            "the gate file the report was made with; pass --gate FILE or --quick-items 0"
        ) from None
    current = sha256_bytes(text.encode("utf-8"))
    if recorded and current != recorded:
        raise InputError(
            f"{report.path}: gate file {file} changed since the report was written (sha256 "
            f"{current[:12]}… != {str(recorded)[:12]}…); pass --gate {file} to run the quick "
            "checks with the gate as it is now, or restore it"
        )
    return path


def _quick_plan(
    gate: str | os.PathLike[str] | None, report: Loaded[GateReportDoc] | None, items: int
) -> tuple[QuickCheckPlan | None, str | None]:
    """(plan, None) when quick checks run, else (None, why they do not)."""
    if items < 0:
        raise InputError(f"--quick-items {items}: must be 0 (skip) or more")
    if items == 0:  # before the report's gate file is looked for: 0 skips that too
        return None, "--quick-items 0"
    if gate is None and report is not None:
        gate = _gate_of_report(report)
    if gate is None:
        return None, "no gate given (--gate, or a --gate-report naming its gate file)"
    plan = plan_quick_checks(gate, items)
    if not plan.sets:
        return None, f"gate {plan.gate.name!r} has no golden sets (only a regression suite)"
    return plan, None


def _not_a_bundle(out: Path) -> str | None:
    """Why the non-empty folder ``out`` is not a complete earlier bundle, or None.

    Export replaces ``--out`` as a whole, so only a folder that is nothing but a bundle
    qualifies: a MANIFEST.json that parses as a bundle manifest (``kind``
    curagate-bundle), every file it lists present, and nothing else but model.sig. The
    contents are not hashed (the folder is about to be replaced; a hand-edited README
    is still the bundle's own file).
    """
    path = out / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except OSError:
        return f"no {MANIFEST_NAME}"
    try:
        data = json.loads(raw)
        manifest = parse_artifact(BundleManifest, raw, source=path)
    except (InputError, ValueError, RecursionError):
        return f"{MANIFEST_NAME} is not a curagate bundle manifest"
    if not isinstance(data, dict) or data.get("kind") != "curagate-bundle":
        return f"{MANIFEST_NAME} is not a curagate bundle manifest"
    files, problems = walk_strict(out)
    if problems:
        return problems[0]
    present = set(files) - {MANIFEST_NAME, BUNDLE_SIGNATURE_NAME}
    unlisted = sorted(present - set(manifest.files))
    if unlisted:
        return f"{unlisted[0]} is not listed in its {MANIFEST_NAME}"
    missing = sorted(set(manifest.files) - present)
    if missing:
        return f"{missing[0]}, listed in its {MANIFEST_NAME}, is missing"
    return None


def _check_numbers(rtol: float | None, max_shard_size: str | int) -> int:
    """The numeric flags, before minutes of merging (an --rtol of 1 or more accepts any
    logits: a difference as large as the largest |logit| turns the check off); returns
    the shard size in bytes."""
    if rtol is not None and not (math.isfinite(rtol) and 0 < rtol <= MAX_RTOL):
        raise InputError(
            f"--rtol {rtol}: must be a number in (0, {MAX_RTOL}], e.g. 1e-4 (a fraction of "
            "the largest |logit|: a larger one would accept any model)"
        )
    from transformers.utils.hub import convert_file_size_to_int

    given = max_shard_size.strip() if isinstance(max_shard_size, str) else max_shard_size
    try:
        size = int(given) if isinstance(given, str) and given.isdigit() else given
        size = convert_file_size_to_int(size)
    except (ValueError, TypeError, AttributeError):
        raise InputError(
            f"--max-shard-size {max_shard_size!r}: not a size; give bytes or a number with a "
            "unit, e.g. 2GB or 500MB"
        ) from None
    if size <= 0:
        raise InputError(
            f"--max-shard-size {max_shard_size!r}: must be more than 0 bytes, e.g. 2GB"
        )
    return int(size)


def _check_out(out: Path, run_dir: Path, base_dir: Path, adapter_dir: Path | None = None) -> None:
    """Refuse an ``--out`` that export must not replace (it replaces it as a whole)."""
    try:
        where = out.resolve()
    except (RuntimeError, OSError) as e:  # a symbolic link loop (exit 3)
        raise InputError(f"--out {out}: cannot be resolved ({e}); give a real folder") from None
    if where == run_dir.resolve() or run_dir.resolve() in where.parents:
        raise InputError(f"--out {out}: must not be inside the run directory {run_dir}")
    adapter = adapter_dir.resolve() if adapter_dir is not None else None
    if adapter is not None and (where == adapter or adapter in where.parents):
        # The bundle's lineage hashes the adapter folder: one holding the bundle being
        # written recorded its temporary files as the adapter's.
        raise InputError(f"--out {out}: must not be inside the adapter folder {adapter_dir}")
    base = base_dir.resolve()
    if where == base or base in where.parents or where in base.parents:
        # An exported bundle is a fine base for the next fine-tune: replacing it would
        # destroy the weights the run's adapter was trained on.
        raise InputError(
            f"--out {out}: is, holds or lies inside the run's base model {base_dir}; "
            "export to another folder"
        )
    refuse_inside_output(out)  # inside another bundle or output (after the more precise ones)
    if out.is_symlink():
        raise InputError(
            f"--out {out}: is a symbolic link (to {out.readlink()}); the bundle is written beside "
            "--out and renamed into its place, so give the real folder instead"
        )
    if not out.exists():
        return
    why = "not a directory" if not out.is_dir() else None
    if why is None and any(out.iterdir()):
        why = _not_a_bundle(out)
    if why is not None:
        raise InputError(
            f"--out {out}: exists and is not a curagate bundle ({why}); choose a new or empty "
            "directory (only a complete earlier bundle is replaced, atomically)"
        )


def export_run(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    gate_report: str | os.PathLike[str] | None = None,
    prompts: str | os.PathLike[str] | None = None,
    dtype: str = "auto",
    max_shard_size: str = "2GB",
    rtol: float | None = None,
    license: str | None = None,
    base_model_id: str | None = None,
    datasets: Sequence[str] = (),
    gguf: bool = False,
    gate: str | os.PathLike[str] | None = None,
    quick_items: int = DEFAULT_QUICK_ITEMS,
    sign_key: str | os.PathLike[str] | None = None,
    gate_key: str | os.PathLike[str] | None = None,
    train_key: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Merge, write, reload and compare; return only when the bundle is proven equal.

    With ``train_key`` (the trainer's public key, PEM), run.json must be the record that
    key signed (``train --sign-key``): its adapter hashes, data and lineage are then the
    trainer's, not a hand edit's; the lineage names the key (``run.signed_by``)."""
    for dataset in datasets:
        if not dataset.strip():
            # An empty id was written into the card's `datasets:` list as "".
            raise InputError(
                f"--dataset: {dataset!r} is an empty dataset id; give a Hub dataset id "
                "(org/name), or leave --dataset out"
            )
    if gate_key is not None and gate_report is None:
        raise InputError(
            "--gate-key: verifies the attestation of --gate-report, and no --gate-report was "
            "given; add --gate-report DIR or drop --gate-key"
        )
    # Every key before anything is read: one curagate cannot sign or verify with (a
    # secp256k1 --sign-key) failed after the whole merge, exit 3. And before torch, peft
    # and transformers are imported: found by re-attack, the refusal came after 7-14 s of
    # imports (the gate refuses in 0.3 s).
    if sign_key is not None:
        load_private_key(sign_key)
    gate_pem = _read_public_key("--gate-key", gate_key) if gate_key is not None else None
    train_pem = _read_public_key("--train-key", train_key) if train_key is not None else None
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    except ImportError as e:
        raise MissingExtraError("train", e.name or "torch") from e

    if gguf:
        from curagate.export.gguf_tokenizer import require_llama_cpp

        require_llama_cpp()  # no GGUF is written unverified
    shard_bytes = _check_numbers(rtol, max_shard_size)
    info = load_run(run_dir)
    run_signed_by = _check_run_signed(info, train_pem) if train_pem is not None else None
    signed_by: str | None = None
    out_path = Path(out)
    _check_out(out_path, info.path, info.base_dir, info.adapter_dir)
    claim = claim_output(out_path)  # another export's bundle put there since: exit 2
    base_files = check_base_unchanged(info)
    adapter_recorded = check_adapter_unchanged(info) is not None
    warnings: list[str] = []
    if not adapter_recorded:
        warnings.append(
            f"{info.path / 'run.json'} records no adapter hashes (written before curagate "
            "recorded them): the adapter in its folder cannot be checked against training; "
            "retrain to get a run that can"
        )
    _check_base_unquantized(info.base_dir)
    _check_base_loads_no_remote_code(info.base_dir)
    report = read_artifact(GateReportDoc, gate_report) if gate_report is not None else None
    report_keyid: str | None = None
    unverified: str | None = None
    if report is not None:
        run_digest = _check_report_judged_run(report, info)
        report_keyid, unverified = _report_trust(report, run_digest, gate_pem)
    quick_plan, quick_skipped = _quick_plan(gate, report, quick_items)
    golden = _read_prompts(Path(prompts)) if prompts is not None else []
    conversations = FIXED_CONVERSATIONS + golden
    target_dtype = _resolve_dtype(dtype, info.base_dir)
    tolerance = DEFAULT_RTOL[target_dtype] if rtol is None else rtol
    offline = {"local_files_only": True}

    tok_src = _tokenizer_source(info)
    with loading(tok_src, "the tokenizer"):
        tok = AutoTokenizer.from_pretrained(tok_src, **offline)
    template = tok.chat_template
    if not isinstance(template, str) or not template:
        raise InputError(
            f"{tok_src}: the tokenizer has no chat template; the bundle would not be usable as a chat model"
        )
    recorded_template = info.record.chat_template_sha256
    if recorded_template is None:
        raise InputError(
            f"{info.path / 'run.json'}: no chat_template_sha256; export needs the template the run "
            "was trained with (runs written by `curagate train` record it)"
        )
    if sha256_bytes(template.encode("utf-8")) != recorded_template:
        raise CheckFailed(
            f"{tok_src}: chat template sha256 {sha256_bytes(template.encode())[:12]}… differs from "
            f"the one recorded at training time ({str(recorded_template)[:12]}…, run.json "
            "chat_template_sha256); restore the tokenizer the run was trained with"
        )
    gguf_pre = None
    if gguf:
        # Before minutes of merging: a GGUF that llama.cpp would mis-tokenize is refused.
        from curagate.export.gguf_q8 import check_supported
        from curagate.export.gguf_tokenizer import determine_pre_tokenizer

        check_supported(info.base_dir, tok_src)
        gguf_pre = determine_pre_tokenizer(tok, tok_src)
    rendered = _render(tok, conversations, tok_src)
    token_ids = [tok(t, add_special_tokens=False)["input_ids"] for t in rendered]
    empty = next((i for i, ids in enumerate(token_ids) if not ids), None)
    if empty is not None:
        raise InputError(
            f"{tok_src}: the chat template renders prompt {empty} as no tokens at all; a chat "
            "model's template renders every conversation (fix chat_template.jinja)"
        )

    # Merge in float32 from an unquantized base, whatever training used (QLoRA
    # included): merging into 4-bit weights would round the adapter away. The adapter is
    # loaded from a private copy hashed while copied (and, signing, the base too): one
    # written over between the checks above and the load was merged, signed and said to
    # be the gated one. ``adapter_files`` are the bytes merged.
    # Mode 0700, named by this process: a killed export's copies go at the next one.
    private = private_dir("curagate-export-")
    try:
        adapter_files, base_dir, adapter_dir = _private_copies(
            info, private, copy_base=sign_key is not None
        )
        # Refused when transformers does not load the model the base's files hold (a random
        # output layer, one config.json says is not): merged, the bundle would inherit it.
        with loading(info.base_dir, "the base model"):
            pair: Any = AutoModelForCausalLM.from_pretrained(
                base_dir, dtype=torch.float32, output_loading_info=True, **offline
            )
        base, loaded = pair
        problem = loaded_weights_problem(base, loaded, info.base_dir, base_dir)
        if problem is not None:
            raise InputError(
                f"{problem}; the run records the base's files, so train again on the corrected base"
            )
        with loading(adapter_dir, "the adapter"):
            model: Any = PeftModel.from_pretrained(base, adapter_dir, is_trainable=False)
        _check_adapter_loaded(model, adapter_dir)
    finally:
        remove_private(private)
    if sign_key is None:
        check_base_unchanged(info)  # not copied: at least the same bytes after the load
    model.eval()
    from curagate.progress import Bar

    # Steps, not bytes: merge, write, reload and compare, quick checks, GGUF (stderr, TTY only).
    steps = Bar(
        total=3 + (quick_plan is not None) + (gguf_pre is not None), desc="export", unit="step"
    )
    reference = _logits(model, tok, rendered)
    try:
        merged = model.merge_and_unload(safe_merge=True)
    except ValueError as e:  # peft's safe merge: "NaNs detected in the merged weights"
        raise InputError(
            f"{info.adapter_dir}: merging the adapter gives weights that are not numbers "
            f"({str(e)[:160]}); the adapter holds NaN or infinite values: retrain it"
        ) from None
    merged.to(getattr(torch, target_dtype))
    weight_digests = _weight_digests(merged)
    scale = max(float(r.abs().max()) for r in reference)
    bound = tolerance * scale
    if getattr(merged.config, "quantization_config", None) is not None:
        del merged.config.quantization_config
    merged.config.dtype = target_dtype

    # What export checked (and signed), filled in below: the bundle is checked against it
    # once in place, before the previous bundle is discarded (put back if it fails).
    checked: dict[str, str] = {}
    with atomic_path(
        out_path,
        replaceable=lambda t: _check_out(t, info.path, info.base_dir, info.adapter_dir),
        claim=claim,
        placed=lambda t, previous: _check_placed(t, out_path, checked, sign_key, previous),
    ) as tmp:
        tmp.mkdir()
        steps.update()  # merged
        merged.save_pretrained(tmp, max_shard_size=shard_bytes)
        tok.save_pretrained(tmp)
        mode = (tmp / "config.json").stat().st_mode & 0o777
        for shard in tmp.glob("*.safetensors"):  # written 0600 by the saver; as the rest
            shard.chmod(mode)
        if not (tmp / "generation_config.json").is_file():
            GenerationConfig.from_model_config(merged.config).save_pretrained(tmp)
        del merged, model, base

        # Verify what was written, reloaded with nothing but transformers.
        reloaded_tok = AutoTokenizer.from_pretrained(tmp, **offline)
        reloaded_template = reloaded_tok.chat_template
        if (
            not isinstance(reloaded_template, str)
            or sha256_bytes(reloaded_template.encode()) != recorded_template
        ):
            raise CheckFailed(
                f"{out_path}: the written chat template differs from the training one"
            )
        re_rendered = _render(reloaded_tok, conversations, out_path)
        for i, (a, b) in enumerate(zip(rendered, re_rendered, strict=True)):
            if a != b or token_ids[i] != reloaded_tok(b, add_special_tokens=False)["input_ids"]:
                raise CheckFailed(
                    f"{out_path}: prompt {i} renders or tokenizes differently from training time; "
                    "the tokenizer was not saved faithfully"
                )
        reloaded: Any = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, **offline)
        reloaded.eval()
        reloaded_digests = _weight_digests(reloaded, target_dtype)
        changed = sorted(
            k
            for k in weight_digests.keys() | reloaded_digests.keys()
            if weight_digests.get(k) != reloaded_digests.get(k)
        )
        if changed:
            raise CheckFailed(
                f"{out_path}: reloaded weights differ from the merged weights ({', '.join(changed[:5])}); "
                "the safetensors were not written faithfully"
            )
        steps.update()  # written and reloaded
        got = _logits(reloaded, reloaded_tok, re_rendered)
        del reloaded
        diff = max(float((a - b).abs().max()) for a, b in zip(reference, got, strict=True))
        if not diff <= bound:
            raise CheckFailed(
                f"{out_path}: reloaded bundle differs from base + adapter: max |logit diff| {diff:.3g} "
                f"> {bound:.3g} ({tolerance:g} x max |logit| {scale:.3g}, {target_dtype}); the merge "
                "is wrong or too lossy (try --dtype float32)"
            )

        # The gate's own generation, parsing and scoring, on base + adapter and the bundle.
        steps.update()  # logits compared
        quick_record: dict[str, Any] = {"skipped": quick_skipped}
        if quick_plan is not None:
            quick = quick_plan.run(info.base_dir, info.adapter_dir, tmp)
            steps.update()
            if not quick.passed:
                raise CheckFailed(
                    f"{quick.failure_message(str(out_path))}\nnothing was written to {out_path}"
                )
            quick_record = quick.record

        gguf_result = None
        if gguf_pre is not None:
            from curagate.export.gguf_q8 import Q8_0_RTOL, write_gguf_q8_0

            gguf_result = write_gguf_q8_0(
                tmp, reference_logits=reference, texts=rendered, pre=gguf_pre, name=out_path.name
            )
            steps.update()
        steps.close()
        gguf_name = gguf_result.file if gguf_result is not None else None

        lineage: dict[str, Any] = {
            "run": {
                "name": info.record.name,
                "task": info.record.task,
                "run_json_sha256": info.run_sha256,
                # The trainer's key that signed run.json (--train-key), or None: unchecked.
                "signed_by": run_signed_by,
                "seed": info.record.seed,
                "git_commit": info.record.git_commit,
            },
            "base_model": {
                "path": info.record.base_model.path,
                "files": base_files,
                "sha256": files_digest(base_files),
            },
            "adapter": {
                "files": adapter_files,
                "sha256": files_digest(adapter_files),
                # Whether run.json recorded these hashes at training (and they matched).
                "recorded_at_training": adapter_recorded,
            },
            "training_config": info.record.config,
            "dataset_manifest": info.record.dataset_manifest,
            # The rows that chose the checkpoint shipped (the gate scans them too).
            "validation_manifest": info.record.validation_manifest,
            "golden_sets": info.record.golden_sets,
            "chat_template_sha256": recorded_template,
            "allow_leakage": info.record.allow_leakage,
            "gate_report": (
                {
                    "sha256": report.sha256,
                    # Only a verified verdict is one; otherwise it is what the report claims.
                    "verified": unverified is None,
                    "verdict": report.doc.verdict if unverified is None else None,
                    "claimed_verdict": report.doc.verdict,
                    "signed_by": report_keyid,
                    "not_verified": unverified,
                    "candidate_digest": report.doc.candidate.artifact_sha256,
                }
                if report
                else None
            ),
            "versions": {"training": info.record.versions, "export": library_versions()},
        }
        export_info = {
            "dtype": target_dtype,
            "merge": "peft merge_and_unload(safe_merge=True) into float32 base weights",
            "max_shard_size": max_shard_size,
            "gguf": gguf_name,
        }
        verification = {
            "reloaded_with": "transformers AutoModelForCausalLM + AutoTokenizer",
            "prompts": len(conversations),
            "golden_prompts": len(golden),
            "weights_identical_after_reload": True,
            "max_abs_logit_diff": float(f"{diff:.2e}"),
            "max_abs_reference_logit": float(f"{scale:.4g}"),
            "rtol": tolerance,
            "chat_template_identical": True,
            "quick_checks": quick_record,
        }
        if gguf_result is not None:
            verification["gguf"] = {
                "file": gguf_result.file,
                "reloaded_with": "transformers gguf_file= (dequantized)",
                "max_abs_logit_diff": float(f"{gguf_result.max_abs_logit_diff:.2e}"),
                "rtol": Q8_0_RTOL,
                "tokenizer": gguf_result.tokenizer,
            }
        card = model_card(
            run=info.record.model_dump(mode="json"),
            name=out_path.name,
            base_model_id=base_model_id or _base_model_id(info.base_dir),
            license=license or _base_license(info.base_dir),
            datasets=list(datasets),
            report=report,
            unverified=unverified,
            export_info=export_info,
            verification=verification,
        )
        write_text_atomic(tmp / "README.md", card)
        manifest = BundleManifest(
            schema_version=BundleManifest.SCHEMA_VERSION,
            files=hash_bundle_files(tmp),
            lineage=lineage,
            export=export_info,
            verification=verification,
        )
        write_bytes_atomic(tmp / MANIFEST_NAME, manifest_bytes(manifest))
        files = len(manifest.files)
        # What `curagate verify` will say of it, said now: a bundle export calls verified
        # must not fail verify (an auto_map the base config carried did).
        written = check_bundle(tmp)
        if not written.ok:
            raise CheckFailed(
                f"{out_path}: the written bundle would not pass `curagate verify`: "
                f"{'; '.join(written.problems()[:3])}; nothing was written to {out_path}"
            )
        if sign_key is not None:
            # Inside the temp directory: a bundle appears signed or not at all; signed as
            # checked, or not at all.
            try:
                sign_bundle(tmp, sign_key, written.hashed())
            except SignatureInvalid as e:
                raise CheckFailed(f"{out_path}: {e}; nothing was written to {out_path}") from None
            signed_by = key_fingerprint(load_private_key(sign_key).public_key())
        checked.update(written.hashed())
    return ExportResult(
        out=out_path,
        digest=artifact_digest(out_path),
        files=files,
        dtype=target_dtype,
        max_abs_logit_diff=diff,
        bound=bound,
        rtol=tolerance,
        prompts=len(conversations),
        gguf=gguf_name,
        quick_checks=quick_record,
        signed_by=signed_by,
        gguf_pre_tokenizer=gguf_pre.name if gguf_pre is not None else None,
        warnings=tuple(warnings),
    )


def _check_placed(
    placed_at: Path,
    out_path: Path,
    checked: dict[str, str],
    sign_key: str | os.PathLike[str] | None,
    previous: bool,
) -> None:
    """The bundle in place (at ``placed_at``, ``--out`` as the swap names it) holds the
    bytes export checked (and signed): what export says of it is true when it says it.
    Found by re-attack: a file changed after the signing, before the rename, by a writer of
    the parent folder, and export said "verified" of a bundle `curagate verify` refused.
    Raised, the bundle is removed and what was at ``--out`` (``previous``) put back: the
    check used to come after the swap, and a good bundle something served was lost."""
    placed = check_bundle(placed_at)
    problem = None
    if not placed.ok:
        problem = "; ".join(placed.problems()[:3])
    elif placed.hashed() != checked:
        problem = "other bytes than export checked"
    elif sign_key is not None:
        public = public_pem(load_private_key(sign_key).public_key())
        try:
            verify_bundle_signature(placed_at, public, checked)
        except SignatureInvalid as e:
            problem = str(e)
    if problem is not None:
        now = (
            "what was there before this run is back in place, unchanged"
            if previous
            else "nothing is there, as before the run"
        )
        raise CheckFailed(
            f"{out_path}: changed after export checked it ({problem}), once renamed into "
            f"place; this bundle was removed and nothing changed at {out_path}: {now}; "
            "export again, with nothing else writing to its folder"
        )


def _front_matter(base_dir: Path) -> dict[str, Any]:
    readme = base_dir / "README.md"
    if not readme.is_file():
        return {}
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    from curagate.yamlio import load_yaml

    try:  # unreadable front matter (bad YAML, a repeated key, an alias bomb): none
        data, _ = load_yaml(text[3:end], str(readme))
    except ConfigError:
        return {}
    return data if isinstance(data, dict) else {}


def _base_model_id(base_dir: Path) -> str:
    """The hub id the base model card names, else the base directory's name."""
    meta = _front_matter(base_dir)
    for key in ("model_id", "model_name"):
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return base_dir.name


def _base_license(base_dir: Path) -> str:
    value = _front_matter(base_dir).get("license")
    return value if isinstance(value, str) and value else "other"
