"""The files that cross a stage boundary and carry trust, as typed contracts.

Each artifact is one pydantic model with a ``schema_version``, owned by the stage
that writes it and imported by every stage that reads it; nothing else parses these
files. Reading is strict about what trust depends on (types of the fields a later
stage acts on) and tolerant about the rest (``extra="allow"``: a report keeps its
full content for display). A file from a newer curagate is refused with a message;
an older schema is migrated on read.

=======================  ==============  ========================================
file                     writer          readers
=======================  ==============  ========================================
``run.json``             train           export, gate
``MANIFEST.json``        export          verify, gate, registry
``gate_report.json``     gate            registry, export (lineage), serve
``stats.json``           curate          (users, CI); the accounting invariant
``manifest.json``        curate          (users, train's dataset manifests)
``leakage.json``         leakage         (users, CI)
``split_manifest.json``  split           (users, CI)
=======================  ==============  ========================================
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curagate.digest import (
    MANIFEST_NAME,
    files_digest,
    hash_tree,
    sha256_bytes,
    sha256_file,
    tree_paths,
)
from curagate.errors import CheckFailed, InputError

Sha256 = str  # 64 lowercase hex digits; checked where it is compared
Verdict = Literal["pass", "warn", "fail"]
# A UTC time as attestations and the registry write it: one format, so the strings
# compare as the times do.
ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$"


def iso_utc(at: datetime | None = None) -> str:
    """``at`` (default: now) in :data:`ISO_UTC`'s format."""
    at = datetime.now(UTC) if at is None else at
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso_utc(text: object) -> datetime | None:
    """``text`` as a UTC time when it is exactly in :data:`ISO_UTC`'s form (what
    :func:`iso_utc` writes), else None. The registry holds every time it compares to this
    form, as it holds digests to lowercase hex: such strings compare as text in the order of
    their times, and one without a zone, at another offset or not a time at all was written
    by hand (found by re-attack: a row dated without a zone, or at -10:00, sorted before a
    waiver's expiry in Z, and an expiry of "9999" never came)."""
    if not isinstance(text, str) or re.fullmatch(ISO_UTC, text) is None:
        return None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:  # 2026-13-45T...: the form, not a time
        return None


class Artifact(BaseModel):
    """Base of every artifact: a versioned JSON object.

    Every model here is ``defer_build``: its validator is built on first use,
    so importing this module (which curate and split do) builds none (docs/
    architecture.md, "Start-up").
    """

    model_config = ConfigDict(extra="allow", defer_build=True)

    FILE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int]
    WRITER: ClassVar[str]

    schema_version: int

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring an older schema up to date (identity by default)."""
        return data

    def to_json_bytes(self) -> bytes:
        """Canonical bytes (sorted keys, 2-space indent): same content, same digest."""
        return (
            json.dumps(self.model_dump(mode="json"), sort_keys=True, indent=2, ensure_ascii=False)
            + "\n"
        ).encode()


A = TypeVar("A", bound=Artifact)


@dataclass(frozen=True)
class Loaded(Generic[A]):
    """An artifact together with the bytes it was read from."""

    path: Path
    raw: bytes
    doc: A

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.raw)

    @property
    def data(self) -> dict[str, Any]:
        """The whole document as JSON data (typed fields and the rest)."""
        return self.doc.model_dump(mode="json")


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    cause = (err.get("ctx") or {}).get("error")
    # A validator's own message as it wrote it (pydantic prefixes it with "Value error, ").
    msg = str(cause) if err["type"] == "value_error" and cause is not None else err["msg"]
    return f"field {where!r}: {msg}"


def load_json(raw: bytes | str) -> Any:
    """JSON as curagate reads what it wrote (:func:`curagate.records.loads_strict`): no
    ``NaN`` or ``Infinity``, no number past a double (``1e999``), no object that repeats a
    key, no integer of more than 4300 digits, no string that is not text. Raises
    ValueError (UnicodeEncodeError for a lone surrogate, JSONDecodeError), or
    RecursionError when nested past the interpreter's stack.

    Found by attack: a bundle manifest listing ``config.json`` twice, with two digests,
    verified against the last one, where another reader may take the first."""
    from curagate.records import loads_strict

    data = loads_strict(raw)
    # Every string must be text: a lone surrogate escape ("\ud800") passed here and
    # failed where the value was written on (the registry's log: exit 3).
    json.dumps(data, ensure_ascii=False).encode("utf-8")
    return data


def parse_artifact(cls: type[A], raw: bytes, *, source: str | os.PathLike[str]) -> A:
    """Parse ``raw`` as ``cls``; every problem is one line naming the file and field."""
    try:
        data = load_json(raw)
    except UnicodeEncodeError:
        raise InputError(
            f"{source}: holds a string that is no text (a lone surrogate escape such as "
            f"\\ud800); {cls.WRITER} writes this file"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{source}: not valid JSON ({e}); {cls.WRITER} writes this file") from None
    except (RecursionError, ValueError) as e:  # nesting or integers beyond any sane file
        raise InputError(
            f"{source}: not a usable JSON file ({type(e).__name__}: {str(e)[:80]}); "
            f"{cls.WRITER} writes this file"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object; {cls.WRITER} writes this file")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(f"{source}: field 'schema_version' is missing or not an integer")
    if version > cls.SCHEMA_VERSION:
        raise InputError(
            f"{source}: schema_version {version} is newer than this curagate reads "
            f"({cls.SCHEMA_VERSION}); upgrade curagate"
        )
    if version < 1:
        raise InputError(f"{source}: schema_version {version} is not valid")
    if version < cls.SCHEMA_VERSION:
        data = cls.migrate(data, version)
    try:
        return cls.model_validate(data)
    except RecursionError:
        raise InputError(f"{source}: nested too deeply; {cls.WRITER} writes this file") from None
    except ValidationError as e:
        raise InputError(f"{source}: {_first_error(e)}; {cls.WRITER} writes this file") from None


# The most a JSON artifact read from a path may weigh (run.json, gate_report.json).
MAX_ARTIFACT_BYTES = 64 << 20


def read_artifact(cls: type[A], path: str | os.PathLike[str]) -> Loaded[A]:
    from curagate.io.outputs import read_regular

    p = Path(path)
    if p.is_dir():
        p = p / cls.FILE
    try:  # a regular file of bounded size: /dev/zero was a MemoryError, a FIFO a hang
        raw = read_regular(p, MAX_ARTIFACT_BYTES, follow_links=True)
    except OSError as e:
        raise InputError(f"{p}: cannot read {cls.FILE} ({e.strerror or e})") from None
    return Loaded(p, raw, parse_artifact(cls, raw, source=p))


# run.json


def _check_data_manifest(value: Any, where: str) -> None:
    """Raise ValueError naming what is wrong (``where`` + the entry) with a run's
    ``dataset_manifest`` / ``validation_manifest``, if anything is."""
    try:
        manifest = RunDataManifest.model_validate(value)
    except ValidationError as e:
        err = e.errors()[0]
        where += "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        msg = "not an object" if err["type"] == "model_type" else err["msg"].lower()
        raise ValueError(
            f"{where.lstrip('.') or 'it'}: {msg} (train writes "
            "{files: [{path, sha256, rows}, ...], total_rows})"
        ) from None
    rows = [f.rows for f in manifest.files]
    if manifest.total_rows is not None and None not in rows:
        counted = sum(r for r in rows if r is not None)
        if manifest.total_rows != counted:
            # `total_rows: -1` beside files of 32 rows was taken, and printed on the card.
            raise ValueError(
                f"{(where + '.total_rows').lstrip('.')}: {manifest.total_rows} is not the sum "
                f"of its files' rows ({counted}); train writes total_rows as that sum: "
                "restore run.json as training wrote it"
            )


class BaseModelRecord(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    path: str
    files: dict[str, Sha256] = Field(default_factory=dict)


class RunRecord(Artifact):
    """``run.json``: what a training run was given and produced."""

    FILE = "run.json"
    SCHEMA_VERSION = 2
    WRITER = "`curagate train`"

    name: str
    task: str | None = None
    base_model: BaseModelRecord
    adapter_dir: str
    # sha256 of every adapter file as training saved it (schema 2): export and the gate
    # refuse an adapter that differs. None in a schema-1 run.json (nothing to check).
    adapter_files: dict[str, Sha256] | None = None
    # Needed by export (the bundle must render as training did); runs made by hand for
    # the gate may lack it.
    chat_template_sha256: Sha256 | None = None
    seed: int | None = None
    git_commit: str | None = None
    allow_leakage: bool | None = None
    config: dict[str, Any] | None = None
    dataset_manifest: dict[str, Any] | None = None
    validation_manifest: dict[str, Any] | None = None
    golden_sets: dict[str, Any] | None = None
    versions: dict[str, Any] | None = None

    @field_validator("dataset_manifest", "validation_manifest")
    @classmethod
    def _data_manifest_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # The gate hashes and scans the files these name, export lists them: a hand-edited
        # shape (files: ["x"], files: {"a": 1}, an entry without its path) was exit 3 there,
        # once the models had loaded. Checked as read; kept as the dict it is.
        if value is not None:
            _check_data_manifest(value, "")
        return value

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        # v1 recorded no adapter hashes: the adapter cannot be checked (adapter_files None).
        return dict(data, schema_version=cls.SCHEMA_VERSION, adapter_files=None)


@dataclass(frozen=True)
class RunInfo:
    """A training run directory, resolved: the record and where its weights are."""

    path: Path
    record: RunRecord
    run_sha256: str
    base_dir: Path
    adapter_dir: Path


def load_run(run_dir: str | os.PathLike[str]) -> RunInfo:
    """Read and resolve a run directory; the one reader of ``run.json``."""
    root = Path(run_dir)
    if not (root / RunRecord.FILE).is_file():
        raise InputError(f"{root}: no run.json; pass a run directory written by `curagate train`")
    loaded = read_artifact(RunRecord, root)
    run = loaded.doc
    base = Path(run.base_model.path)
    candidates = [base] if base.is_absolute() else [root / base, Path.cwd() / base]
    base_dir = next((c.resolve() for c in candidates if c.is_dir()), None)
    if base_dir is None:
        raise InputError(
            f"{loaded.path}: base_model.path {run.base_model.path!r} is not a directory "
            "(looked relative to the run directory and the working directory)"
        )
    adapter_dir = root / run.adapter_dir
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InputError(
            f"{loaded.path}: adapter_dir {adapter_dir} has no adapter_config.json "
            "(expected a PEFT adapter saved with save_pretrained)"
        )
    return RunInfo(root, run, loaded.sha256, base_dir, adapter_dir)


@dataclass(frozen=True)
class RunDigests:
    """What a run's model is made of: the base weights and the adapter."""

    base: str
    adapter: str

    @property
    def digest(self) -> str:
        """The run's artifact digest (what a gate report on the run names)."""
        return files_digest({"base": self.base, "adapter": self.adapter})


def run_digests(info: RunInfo) -> RunDigests:
    return RunDigests(
        base=files_digest(hash_tree(info.base_dir)),
        adapter=files_digest(hash_tree(info.adapter_dir)),
    )


def check_base_unchanged(info: RunInfo) -> dict[str, str]:
    """The base model's files as recorded at training; a changed one fails (exit 1).

    The adapter was trained on exactly those weights: on others it is a different
    model, whoever asks (gate or export).
    """
    from curagate.export.manifest import refuse_unhashed_loads

    refuse_unhashed_loads(info.base_dir, "the base model")
    recorded = info.record.base_model.files
    # Added files too: an adapter_config.json or another weights file dropped into the
    # base folder changes what from_pretrained loads from it.
    added = set(tree_paths(info.base_dir)) - recorded.keys()
    changed = sorted(
        added
        | {
            rel
            for rel, sha in recorded.items()
            if not (info.base_dir / rel).is_file() or sha256_file(info.base_dir / rel) != sha
        }
    )
    if changed:
        raise CheckFailed(
            f"{info.path / RunRecord.FILE}: base model files changed since training: "
            f"{', '.join(changed[:5])}; the adapter was trained on other weights: restore the base "
            "model or retrain"
        )
    return dict(recorded)


def check_adapter_unchanged(info: RunInfo) -> dict[str, str] | None:
    """The adapter's files as recorded at training, or None when run.json predates the
    record (schema 1); an adapter file changed, added or missing fails (exit 1).

    Whoever asks (gate or export) would otherwise credit this run's training, data and
    lineage to whatever adapter sits in its folder.
    """
    from curagate.export.manifest import refuse_unhashed_loads

    refuse_unhashed_loads(info.adapter_dir, "the adapter")
    recorded = info.record.adapter_files
    if recorded is None:
        return None
    current = hash_tree(info.adapter_dir)
    changed = sorted(
        rel for rel in recorded.keys() | current.keys() if recorded.get(rel) != current.get(rel)
    )
    if changed:
        raise CheckFailed(
            f"{info.path / RunRecord.FILE}: adapter files changed since training: "
            f"{', '.join(changed[:5])} (in {info.adapter_dir}); this is not the adapter the run "
            "trained: restore it or retrain"
        )
    return dict(recorded)


# MANIFEST.json


MAX_BUNDLE_PATH = 4096  # PATH_MAX on Linux
MAX_BUNDLE_DEPTH = 64


class BundleManifest(Artifact):
    """``MANIFEST.json``: the sha256 of every file of an exported bundle, and its lineage."""

    FILE = MANIFEST_NAME
    SCHEMA_VERSION = 1
    WRITER = "`curagate export`"

    kind: Literal["curagate-bundle"] = "curagate-bundle"
    files: dict[str, Sha256]

    @field_validator("files")
    @classmethod
    def _plain_paths(cls, files: dict[str, str]) -> dict[str, str]:
        # A name of 100,000 folders made every check of it quadratic (GBs, then exit 3).
        for name in files:
            if len(name) > MAX_BUNDLE_PATH or name.count("/") >= MAX_BUNDLE_DEPTH:
                raise ValueError(
                    f"file {name[:60]!r}…: longer than {MAX_BUNDLE_PATH} characters or deeper "
                    f"than {MAX_BUNDLE_DEPTH} folders; an export writes no such name"
                )
        return files

    lineage: dict[str, Any] = Field(default_factory=dict)

    @field_validator("lineage")
    @classmethod
    def _lineage_data_manifests(cls, lineage: dict[str, Any]) -> dict[str, Any]:
        # The gate reads a bundle candidate's training data from these, as a run's
        # (RunRecord): a hand-edited shape was exit 3 there.
        for key in ("dataset_manifest", "validation_manifest"):
            if lineage.get(key) is not None:
                _check_data_manifest(lineage[key], key)
        return lineage

    export: dict[str, Any] = Field(default_factory=dict)
    verification: dict[str, Any] = Field(default_factory=dict)


# gate_report.json


class GateSide(BaseModel):
    """One side of a gate comparison, as the report names it."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    kind: Literal["run", "model_dir", "bundle", "http"]
    spec: str
    identity: str
    sha256: Sha256 | None = None
    # The digest a registry knows the artifact by: MANIFEST.json's sha256 for a bundle,
    # the weights digest otherwise; None for an endpoint (no bytes to name).
    artifact_sha256: Sha256 | None = None


class GateFileRef(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    name: str
    file: str
    sha256: Sha256


class GoldenSetRef(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    name: str
    version: str | int
    sha256: Sha256


class AttestationRef(BaseModel):
    """Whether the run was signed, and by which key (the envelope sits beside the report)."""

    model_config = ConfigDict(defer_build=True)
    signed: bool
    keyid: str | None = None
    file: str | None = None


class ItemsRef(BaseModel):
    """``items.jsonl`` beside the report: one row per golden item, both sides' outputs."""

    model_config = ConfigDict(defer_build=True)
    file: str
    sha256: Sha256
    count: int


class GateReportDoc(Artifact):
    """``gate_report.json``. Only the fields trust depends on are typed here; the full
    layout is ``gate/report_schema.json``."""

    FILE = "gate_report.json"
    SCHEMA_VERSION = 2
    WRITER = "`curagate gate`"

    verdict: Verdict
    strict: bool = False
    candidate: GateSide
    base: GateSide
    gate: GateFileRef
    golden_sets: list[GoldenSetRef] = Field(default_factory=list)
    summary: dict[str, int] = Field(default_factory=dict)
    attestation: AttestationRef = Field(default_factory=lambda: AttestationRef(signed=False))
    items: ItemsRef | None = None
    # The LLM judge of each golden set that has one (weights digest, or endpoint plus
    # stated identity): its verdicts are evidence, so the attestation names it too.
    judges: dict[str, GateSide] = Field(default_factory=dict)

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        # v1 had no artifact_sha256 and no attestation: it was never signed.
        data = dict(data, schema_version=cls.SCHEMA_VERSION)
        data.setdefault("attestation", {"signed": False})
        return data


class PredicateSide(BaseModel):
    model_config = ConfigDict(defer_build=True)
    kind: str
    spec: str
    identity: str
    artifact_sha256: Sha256 | None = None
    stated_identity: str | None = None  # an endpoint judge's identity, in words


class GatePredicate(BaseModel):
    """The predicate of a signed gate attestation (in-toto Statement v1, DSSE).

    Written by the gate beside ``gate_report.json``; read by the registry, which
    acts on a report only through this: the subject names the artifact, and
    ``gate_report_sha256`` pins the report's exact bytes.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    verdict: Verdict
    strict: bool
    summary: dict[str, int]
    gate_report_sha256: Sha256
    gate: GateFileRef
    golden_sets: list[GoldenSetRef]
    candidate: PredicateSide
    base: PredicateSide
    tool: dict[str, str]
    # The sha256 of items.jsonl (per-item outputs), so the attestation covers them too;
    # None for reports written before the gate wrote items.
    items_sha256: Sha256 | None = None
    # The judge per golden set (reports without judges: empty).
    judges: dict[str, PredicateSide] = Field(default_factory=dict)
    # When the gate signed it (UTC): the registry lets the newest signed verdict on the
    # same bytes decide, so an older pass offered again never outvotes a newer fail.
    # None for attestations signed before the gate wrote it.
    issued_at: str | None = Field(default=None, pattern=ISO_UTC)

    @classmethod
    def of_report(
        cls, report: GateReportDoc, report_sha256: str, issued_at: str | None = None
    ) -> GatePredicate:
        def side(s: GateSide) -> PredicateSide:
            extra = s.model_extra or {}
            stated = extra.get("stated_identity")
            return PredicateSide(
                kind=s.kind,
                spec=s.spec,
                identity=s.identity,
                artifact_sha256=s.artifact_sha256,
                stated_identity=str(stated) if stated is not None else None,
            )

        return cls(
            verdict=report.verdict,
            strict=report.strict,
            summary=report.summary,
            gate_report_sha256=report_sha256,
            gate=GateFileRef(
                name=report.gate.name, file=report.gate.file, sha256=report.gate.sha256
            ),
            golden_sets=[
                GoldenSetRef(name=g.name, version=g.version, sha256=g.sha256)
                for g in report.golden_sets
            ],
            candidate=side(report.candidate),
            base=side(report.base),
            tool={k: str(v) for k, v in (report.model_extra or {}).get("tool", {}).items()},
            items_sha256=report.items.sha256 if report.items is not None else None,
            judges={name: side(j) for name, j in sorted(report.judges.items())},
            issued_at=issued_at,
        )


class AttestationRefused(CheckFailed):
    """A gate attestation that does not back its report; ``keyid`` is the key that
    signed it once the envelope verified (None before), ``judged`` the artifact it names
    when that is what is wrong."""

    def __init__(self, message: str, keyid: str | None = None, judged: str | None = None):
        super().__init__(message)
        self.keyid = keyid
        self.judged = judged


def verify_gate_attestation(
    attestation: bytes,
    trusted: Mapping[str, bytes],
    *,
    report_raw: bytes,
    verdict: str,
    artifact_digest: str,
    source: str,
) -> tuple[GatePredicate, str]:
    """(predicate, keyid) when ``attestation`` is signed by a ``trusted`` key, is a
    curagate gate attestation whose one subject is ``artifact_digest``, pins exactly
    ``report_raw`` and says ``verdict``; :class:`AttestationRefused` saying why not.

    The one check behind the registry's judgement of an offered report and export's
    ``--gate-key``."""
    from curagate.signing import (
        GATE_PREDICATE_TYPE,
        SignatureInvalid,
        open_envelope,
        subject_digests,
    )

    try:
        opened = open_envelope(attestation, trusted, source=f"{source} attestation")
    except SignatureInvalid as e:
        raise AttestationRefused(str(e)) from None
    stmt, keyid = opened.statement, opened.keyid
    if stmt.get("predicateType") != GATE_PREDICATE_TYPE:
        raise AttestationRefused(
            f"{source}: the attestation is not a curagate gate attestation", keyid
        )
    try:
        pred = GatePredicate.model_validate(stmt.get("predicate"))
    except ValidationError as e:
        raise AttestationRefused(
            f"{source}: attestation predicate is not valid ({e.errors()[0]['msg']})", keyid
        ) from None
    subjects = subject_digests(stmt)
    if subjects != [artifact_digest] or pred.candidate.artifact_sha256 != artifact_digest:
        # Exactly one subject, and the predicate's candidate is that same artifact.
        judged = (
            (subjects or ["nothing"])[0]
            if subjects != [artifact_digest]
            else str(pred.candidate.artifact_sha256)
        )
        raise AttestationRefused(
            f"{source}: the attestation is for artifact {judged[:12]}…, not "
            f"{artifact_digest[:12]}…",
            keyid,
            judged,
        )
    report_sha256 = sha256_bytes(report_raw)
    if pred.gate_report_sha256 != report_sha256:
        raise AttestationRefused(
            f"{source}: the report was changed after the gate signed it (sha256 "
            f"{report_sha256[:12]}… is not the attested {pred.gate_report_sha256[:12]}…)",
            keyid,
        )
    if pred.verdict != verdict:
        raise AttestationRefused(f"{source}: report and attestation disagree on the verdict", keyid)
    return pred, keyid


# curate: stats.json and manifest.json


class CurateTotals(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    input_rows: int
    kept: int
    removed: dict[str, int]
    quarantined: int
    dedup_rate: float


class CurateStats(Artifact):
    """``stats.json`` of a curate output: counters per step and file, and the totals.

    The contract carries curate's promise: every input row is kept, removed (with a
    reason) or quarantined, so the totals add up or the file is not valid.
    """

    FILE = "stats.json"
    SCHEMA_VERSION = 1
    WRITER = "`curagate curate`"

    curagate_version: str
    config: dict[str, Any]
    steps: dict[str, Any]
    inputs: list[dict[str, Any]]
    skipped_inputs: list[dict[str, Any]] = Field(default_factory=list)
    totals: CurateTotals
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rows_add_up(self) -> CurateStats:
        t = self.totals
        accounted = t.kept + sum(t.removed.values()) + t.quarantined
        if accounted != t.input_rows:
            raise ValueError(
                f"totals do not add up: {t.input_rows} input rows, but kept + removed + "
                f"quarantined = {accounted}"
            )
        return self


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    path: str
    sha256: Sha256
    # A count: `rows: -5` was taken, and the export's model card printed it.
    rows: int | None = Field(default=None, ge=0)


class RunDataManifest(BaseModel):
    """A run record's ``dataset_manifest`` / ``validation_manifest`` (train's
    ``build_manifest``): the files it read, each with its sha256 and rows, and
    ``total_rows``, their sum (:func:`_check_data_manifest` checks it)."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    files: list[FileEntry]
    total_rows: int | None = Field(default=None, ge=0, strict=True)


class DatasetManifest(Artifact):
    """``manifest.json`` of a curate output: every file with its sha256 and rows."""

    FILE = "manifest.json"
    SCHEMA_VERSION = 1
    WRITER = "`curagate curate`"

    files: list[FileEntry]


# leakage.json


class LeakageCorpus(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    files: list[Any]
    records: int
    quarantined: int = 0
    quarantined_scanned: int = 0
    unreadable: int = 0


class LeakageSummary(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)
    leaked_reference_items: int
    contaminated_records: int
    by_method: dict[str, int]


class LeakageReportDoc(Artifact):
    """``leakage.json``: every leaked reference item, where and how."""

    FILE = "leakage.json"
    SCHEMA_VERSION = 8  # curagate.leakage.SCHEMA_VERSION (the writer's; tests hold them equal)
    WRITER = "`curagate leakage`"

    config: dict[str, Any]
    reference: dict[str, Any]
    corpus: LeakageCorpus
    summary: LeakageSummary
    leaks: list[dict[str, Any]]

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        # v1 did not scan quarantined rows nor list unreadable ones: it says none;
        # v2 had no span settings; v3 no reference.quarantined / reference.unreadable;
        # v4 no answers indexed; v5 no multiple-choice views; v6 no `text` column views;
        # v7 no views of a row's other fields (each adds, nothing moved).
        return dict(data, schema_version=cls.SCHEMA_VERSION)


# split_manifest.json


class SplitManifestDoc(Artifact):
    """``split_manifest.json``: how the splits were made and checked."""

    FILE = "split_manifest.json"
    SCHEMA_VERSION = 2
    WRITER = "`curagate split`"

    mode: str
    seed: int
    ratios: dict[str, float]
    splits: dict[str, Any]
    verification: dict[str, Any]
    repair: dict[str, Any]
    inputs: dict[str, Any]
    # A split asked for (ratio > 0) that got no row, and why (the CLI prints each).
    warnings: list[str] = Field(default_factory=list)


def write_artifact(doc: Artifact, path: str | os.PathLike[str]) -> bytes:
    """Write ``doc`` atomically in its canonical form; returns the bytes written."""
    from curagate.io.atomic import write_bytes_atomic

    data = doc.to_json_bytes()
    write_bytes_atomic(path, data)
    return data


def validated(cls: type[A], data: dict[str, Any], *, what: str) -> A:
    """A writer's dict through its contract: a writer that breaks it is a bug (exit 3)."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise RuntimeError(
            f"{what} breaks its contract ({cls.__name__}): {_first_error(e)}"
        ) from None


__all__ = [
    "Artifact",
    "AttestationRef",
    "BundleManifest",
    "CurateStats",
    "DatasetManifest",
    "GatePredicate",
    "GateReportDoc",
    "GateSide",
    "ItemsRef",
    "LeakageReportDoc",
    "Loaded",
    "RunDigests",
    "RunInfo",
    "RunRecord",
    "SplitManifestDoc",
    "check_adapter_unchanged",
    "check_base_unchanged",
    "load_run",
    "parse_artifact",
    "read_artifact",
    "run_digests",
    "validated",
    "write_artifact",
]
