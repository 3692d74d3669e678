"""The audit configuration (``audit.yaml``), validated by typed models.

Errors name the key, the file and the line, so a typo costs one glance.
Relative paths (tokenizer, golden sets, schema files) are resolved against
the directory of the config file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from curagate.audit.rules import RULES
from curagate.config import MAX_CONFIG_BYTES, line_of, read_yaml, refuse_renamed
from curagate.errors import ConfigError
from curagate.io.outputs import read_regular
from curagate.limits import MAX_BATCH_ROWS, MAX_CHARS, MAX_SEED, check_int


def _bounded(lo: int, hi: int) -> AfterValidator:
    # The error names the range (``must be in 0..2147483647, got ...``); a value past
    # it used to reach Arrow or the core and crash there (exit 3).
    return AfterValidator(lambda v: check_int(v, lo, hi))


def _known_rule(rule_id: str) -> str:
    # The live registry, so a rule registered after this import (outside the package) counts.
    if rule_id not in RULES:
        raise ValueError(f"unknown rule id; known: {', '.join(sorted(RULES))}")
    return rule_id


# A known id, so an unknown one is reported at its own line.
RuleId = Annotated[str, AfterValidator(_known_rule)]


# A path from YAML's string: the one conversion the strict models make.
LaxPath = Annotated[Path, Strict(False)]


class _Model(BaseModel):
    # allow_inf_nan: no setting here means anything as nan or inf.
    # strict: a value of another type is an error (`error_above: "0.1"`, `enabled:
    # "false"`), not converted; paths are the one conversion (YAML has no path type).
    model_config = ConfigDict(extra="forbid", defer_build=True, allow_inf_nan=False, strict=True)


class RuleConfig(_Model):
    severity: Literal["error", "warning", "info", "off"] | None = None
    error_above: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("severity", mode="before")
    @classmethod
    def _yaml_off(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `off` as false.
        return "off" if v is False else v


class LengthsConfig(_Model):
    outlier_iqr: float = Field(default=3.0, gt=0)
    min_cv: float = Field(default=0.1, ge=0)
    bins: int = Field(default=20, ge=2, le=200)


class TokensConfig(_Model):
    tokenizer: LaxPath | None = None
    max_seq_len: Annotated[int, _bounded(1, MAX_CHARS)] | None = None


class LabelsConfig(_Model):
    field: str | None = None
    max_share: float = Field(default=0.9, gt=0, le=1)
    min_share: float = Field(default=0.01, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> LabelsConfig:
        if self.min_share > self.max_share:  # every class would be a finding
            raise ValueError("min_share must not exceed max_share")
        return self


class MixConfig(_Model):
    multi_turn_min: float = Field(default=0.2, ge=0, le=1)
    multi_turn_max: float = Field(default=0.3, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> MixConfig:
        if self.multi_turn_min > self.multi_turn_max:
            raise ValueError("multi_turn_min must not exceed multi_turn_max")
        return self


class SecretsConfig(_Model):
    entropy_threshold: float = Field(default=4.5, gt=0, le=8)
    min_length: Annotated[int, _bounded(8, MAX_CHARS)] = 24


class StructuredOutput(_Model):
    """A column (or ``assistant``: the last assistant message) that must hold JSON."""

    field: str
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: LaxPath | None = None

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, defer_build=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _one_schema(self) -> StructuredOutput:
        if self.json_schema is not None and self.schema_file is not None:
            raise ValueError("give either 'schema' or 'schema_file', not both")
        return self


class LeakageConfig(_Model):
    # Files or folders of items that must not be in the data (LEAK001): the golden
    # sets, as curate's decontaminate.reference and `curagate leakage --reference`.
    reference: list[LaxPath] = Field(default_factory=list)
    ngram: int = Field(default=13, ge=8, le=50)  # the leakage index's range


class SampleConfig(_Model):
    n: Annotated[int, _bounded(0, MAX_BATCH_ROWS)] = 50
    seed: Annotated[int, _bounded(0, MAX_SEED)] = 0
    redact: bool = True


class AuditConfig(_Model):
    format: (
        Literal[
            "text",
            "prompt_completion",
            "chat",
            "preference",
            "prompt_only",
            "unpaired_preference",
            "stepwise_supervision",
        ]
        | None
    ) = None
    text_field: str | None = None
    preference_key: Literal["prompt", "prompt+responses"] = "prompt"
    sft: bool = True
    max_row_refs: Annotated[int, _bounded(1, MAX_BATCH_ROWS)] = 100
    rules: dict[RuleId, RuleConfig] = Field(default_factory=dict)
    lengths: LengthsConfig = Field(default_factory=LengthsConfig)
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    labels: LabelsConfig = Field(default_factory=LabelsConfig)
    mix: MixConfig = Field(default_factory=MixConfig)
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    structured_outputs: list[StructuredOutput] = Field(default_factory=list)
    leakage: LeakageConfig = Field(default_factory=LeakageConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)

    @field_validator("rules", mode="after")
    @classmethod
    def _locked_rules(cls, rules: dict[str, RuleConfig]) -> dict[str, RuleConfig]:
        # A file that cannot be read (FMT010) fails whatever the config says: switched off,
        # an unreadable file passed check and audit with exit 0 (found by attack).
        for rid, rc in rules.items():
            rule = RULES.get(rid)
            if (
                rule is not None
                and rule.locked
                and (rc.severity not in (None, "error") or rc.error_above is not None)
            ):
                # The rule id travels in ctx: load_config names its line, not `rules:`'s.
                raise PydanticCustomError(
                    "locked_rule",
                    "{rule} ({name}) cannot be switched off or re-levelled: a file that "
                    "cannot be read loses its rows; fix the file or leave it out of the "
                    "inputs, and remove rules.{rule}",
                    {"rule": rid, "name": rule.name},
                )
            if rule is not None and rule.dataset_level and rc.error_above is not None:
                # Accepted and ignored, a 99% label share stayed a warning under
                # error_above: 0.97 (found by attack).
                own = f", or change its own limit ({', '.join(rule.limits)})" if rule.limits else ""
                raise PydanticCustomError(
                    "dataset_rule",
                    "{rule} ({name}) is decided on the whole dataset and counts no rows, so "
                    "error_above has no share of rows to compare; remove it and set "
                    "`severity: error` instead{own}",
                    {"rule": rid, "name": rule.name, "own": own},
                )
        return rules

    @model_validator(mode="after")
    def _tokens_need_both(self) -> AuditConfig:
        if self.tokens.max_seq_len is not None and self.tokens.tokenizer is None:
            raise ValueError("tokens.max_seq_len needs tokens.tokenizer (a local tokenizer path)")
        return self

    def enabled(self, rule: str) -> bool:
        """Whether ``rule`` reports (not switched ``off``)."""
        rc = self.rules.get(rule)
        return rc is None or rc.severity != "off"

    def resolved(self, base: Path) -> AuditConfig:
        """Relative paths resolved against ``base`` and schema files loaded."""
        c = self.model_copy(deep=True)
        if c.tokens.tokenizer is not None and not c.tokens.tokenizer.is_absolute():
            c.tokens.tokenizer = base / c.tokens.tokenizer
        if "reference" in c.leakage.model_fields_set:  # unset stays unset (./golden_sets)
            c.leakage.reference = [p if p.is_absolute() else base / p for p in c.leakage.reference]
        for so in c.structured_outputs:
            if so.schema_file is not None:
                path = so.schema_file if so.schema_file.is_absolute() else base / so.schema_file
                try:
                    raw = read_regular(path, MAX_CONFIG_BYTES, follow_links=True)
                    so.json_schema = json.loads(raw.decode("utf-8"))
                except (OSError, ValueError, RecursionError) as e:
                    why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
                    raise ConfigError(
                        f"structured_outputs: schema_file {path} for field {so.field!r} cannot "
                        f"be read as JSON ({why}); point it at a JSON Schema file"
                    ) from None
                so.schema_file = path
        return c

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def load_config(path: str | Path | None) -> AuditConfig:
    """Load and validate ``audit.yaml``; ``None`` gives the defaults."""
    if path is None:
        return AuditConfig()
    p = Path(path)
    data, root = read_yaml(p, keys_hint="format, rules, ...")
    refuse_renamed(data, root, str(p), {"golden_sets": "leakage.reference"})
    try:
        cfg = AuditConfig.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(err["loc"])
            if err["type"] == "locked_rule":
                loc = (*loc, err["ctx"]["rule"])
            elif err["type"] == "dataset_rule":
                loc = (*loc, err["ctx"]["rule"], "error_above")
            key = ".".join(str(x) for x in loc) or "<root>"
            line = line_of(root, loc)
            where = f"{p}:{line}" if line else str(p)
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see docs/audit.md for the keys)"
            elif loc[:1] == ("rules",) and loc[-1:] == ("[key]",):
                key = f"rules.{loc[1]}"
                msg = f"unknown rule id; known: {', '.join(sorted(RULES))}"
            msgs.append(f"{where}: {key}: {msg}")
        raise ConfigError("; ".join(msgs)) from None
    return cfg.resolved(p.parent)
