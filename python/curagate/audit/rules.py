"""The audit rules: stable ids, default severities and their documentation.

Ids never change meaning once released (ruff style): a rule that is
retired keeps its id reserved. ``docs/audit.md`` documents every rule in the
same three parts as here: what it checks, why it matters, how to fix it.
``Rule``, ``Severity`` and the ``Finding`` base are shared with the training
and gate checks (curagate.findings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curagate.findings import Finding, Rule, Severity, rule_table

_RULES = [
    Rule(
        "FMT001",
        "unreadable-record",
        Severity.ERROR,
        "A row is not valid JSON, or a required field of its record format is missing or has "
        "the wrong type (the reader quarantines it).",
        "Training loaders either crash on such rows or skip them silently, so the data you "
        "trained on is not the data you reviewed.",
        "Fix the row as the message says (the field is named), or remove it.",
    ),
    Rule(
        "FMT002",
        "invalid-role",
        Severity.ERROR,
        "A chat message has a role other than system, user, assistant or tool.",
        "Chat templates map only known roles; an unknown role is dropped or raises while "
        "rendering, and the model never sees that turn as intended.",
        "Rename the role to one of system, user, assistant, tool (e.g. human->user, "
        "gpt->assistant).",
    ),
    Rule(
        "FMT003",
        "turns-do-not-alternate",
        Severity.ERROR,
        "Chat turns do not alternate: system messages only at the start, then user and "
        "assistant in turn (tool results only after an assistant turn, answered by the "
        "assistant).",
        "Many chat templates reject non-alternating conversations, and two user turns in a "
        "row teach the model to ignore one of them.",
        "Merge consecutive turns of the same role, or insert the missing turn.",
    ),
    Rule(
        "FMT004",
        "last-turn-not-assistant",
        Severity.ERROR,
        "The last message of an SFT conversation is not the assistant's.",
        "SFT trains on assistant tokens; a trailing user or system turn is context with no "
        "answer, wasting the example (and with completion-only loss, contributing nothing).",
        "Drop the trailing turns or add the assistant's answer.",
    ),
    Rule(
        "FMT005",
        "empty-content",
        Severity.ERROR,
        "A text, prompt, completion or chat message is empty or whitespace only.",
        "Empty turns teach the model to answer with nothing and break some templates.",
        "Fill in the content or remove the turn/record.",
    ),
    Rule(
        "FMT006",
        "chosen-equals-rejected",
        Severity.ERROR,
        "A preference pair has the same chosen and rejected response.",
        "DPO learns from the difference between the two responses; identical responses give a "
        "zero gradient and dilute the batch, and usually mean a data-generation bug.",
        "Regenerate the rejected response, or drop the pair.",
    ),
    Rule(
        "FMT007",
        "empty-preference-response",
        Severity.ERROR,
        "A preference pair has an empty chosen or rejected response.",
        "An empty response is trivially ranked; the pair teaches length, not quality.",
        "Provide both responses, or drop the pair.",
    ),
    Rule(
        "FMT008",
        "structured-output-not-json",
        Severity.ERROR,
        "A structured output (a field or the assistant answer, declared in the config with a "
        "JSON schema) does not parse as JSON.",
        "The model learns to emit broken JSON, and downstream parsers fail in production.",
        "Fix the output so it parses (quotes, trailing commas, code fences around it).",
    ),
    Rule(
        "FMT009",
        "structured-output-schema",
        Severity.ERROR,
        "A structured output parses but does not validate against its declared JSON schema.",
        "The model learns outputs your application rejects.",
        "Fix the output (the message names the failing path), or update the schema.",
    ),
    Rule(
        "LEN001",
        "length-outlier",
        Severity.WARNING,
        "Input or output lengths (characters, and tokens when a tokenizer is configured) far "
        "above the rest: beyond Q3 + k*IQR (k = lengths.outlier_iqr, default 3).",
        "Outliers are often scraping accidents (whole pages, logs); they dominate the loss of "
        "their batch and may be truncated.",
        "Look at the referenced rows; trim or remove the accidental ones.",
    ),
    Rule(
        "LEN002",
        "length-bias",
        Severity.WARNING,
        "Output lengths are nearly constant (coefficient of variation below "
        "lengths.min_cv, default 0.1).",
        "A model fine-tuned on same-length answers learns the length, not the task: it pads "
        "short answers and cuts long ones.",
        "Mix in examples with naturally shorter and longer answers.",
    ),
    Rule(
        "LEN003",
        "exceeds-max-seq-len",
        Severity.ERROR,
        "A record rendered with the tokenizer's own chat template is longer than "
        "tokens.max_seq_len.",
        "Trainers truncate silently: the end of the answer (the part the loss is on) is lost, "
        "and the model learns to stop mid-sentence.",
        "Shorten or split the record, drop it, or raise max_seq_len.",
    ),
    Rule(
        "LBL001",
        "label-imbalance",
        Severity.WARNING,
        "A class of the label column holds more than labels.max_share (default 0.9) or less "
        "than labels.min_share (default 0.01) of the rows.",
        "The model learns the prior: it predicts the majority class and never sees enough of "
        "the rare one.",
        "Rebalance (down-sample the majority, add rare examples) or weight the loss.",
    ),
    Rule(
        "LBL002",
        "label-missing",
        Severity.ERROR,
        "A row has no value (absent or null) in the configured label column.",
        "Rows without a label cannot be counted for balance and usually mean a join failed.",
        "Fill in the label or remove the row; check labels.field names the right column.",
    ),
    Rule(
        "MIX001",
        "multi-turn-share",
        Severity.WARNING,
        "The share of multi-turn conversations (more than one user turn) lies outside "
        "mix.multi_turn_min..mix.multi_turn_max (default 0.2..0.3, the fine-tuning guide's "
        "suggestion).",
        "Too few multi-turn examples and the model forgets context across turns; too many "
        "and single questions get verbose, context-seeking answers.",
        "Add (or remove) multi-turn conversations to reach the target mix.",
    ),
    Rule(
        "MIX002",
        "inconsistent-system-prompt",
        Severity.INFO,
        "Some conversations have a system prompt and others do not.",
        "The model learns two behaviours and which one applies depends on a prompt your "
        "serving stack may or may not send.",
        "Use the system prompt you will serve with in every conversation, or in none.",
    ),
    Rule(
        "PII001",
        "email-address",
        Severity.WARNING,
        "An e-mail address.",
        "Models memorise and regurgitate personal data; shipping it may breach privacy law.",
        "Replace it with a placeholder (e.g. user@example.com) or remove the record.",
    ),
    Rule(
        "PII002",
        "phone-number",
        Severity.WARNING,
        "A phone number (international +CC form, or grouped digits such as 555-123-4567).",
        "Personal data a model can memorise and reveal.",
        "Replace it with a placeholder (e.g. 555-0100) or remove the record.",
    ),
    Rule(
        "PII003",
        "card-number",
        Severity.ERROR,
        "A payment card number: 13-19 digits with a card-network prefix that pass the Luhn check.",
        "Card numbers are regulated (PCI DSS) and must never enter training data.",
        "Remove the number or the record; find the upstream source that leaked it.",
    ),
    Rule(
        "PII004",
        "ip-address",
        Severity.INFO,
        "An IPv4 or IPv6 address (validated, not just dotted digits).",
        "IP addresses can identify people and internal hosts.",
        "Replace with documentation addresses (192.0.2.x, 2001:db8::) if they carry no meaning.",
    ),
    Rule(
        "PII005",
        "iban",
        Severity.ERROR,
        "An IBAN that passes the ISO 13616 mod-97 check.",
        "Bank account numbers are personal financial data.",
        "Remove the number or replace it with a documentation IBAN.",
    ),
    Rule(
        "SEC001",
        "api-key",
        Severity.ERROR,
        "An API key, token or private key with a known prefix (AWS, GitHub, GitLab, OpenAI, "
        "Anthropic, Hugging Face, Slack, Stripe, Google, JWT, PEM private key).",
        "A model trained on a credential can print it to anyone; the credential is "
        "compromised as soon as the data is shared.",
        "Revoke the credential, then remove it from the data (and from git history).",
    ),
    Rule(
        "SEC002",
        "high-entropy-string",
        Severity.WARNING,
        "A long random-looking string (Shannon entropy above secrets.entropy_threshold bits "
        "per character for base64-like strings, 3.0 for hex of 32+ chars).",
        "Unknown credentials look like this; so do hashes and ids, hence a warning.",
        "Check the referenced rows; remove real secrets, ignore (or disable the rule for) ids.",
    ),
    Rule(
        "DUP001",
        "exact-duplicate",
        Severity.WARNING,
        "Records whose dedup key is identical after normalization (case, spacing, punctuation, "
        "Unicode form) to an earlier record.",
        "Duplicates over-weight some examples, make the model memorise them and inflate "
        "validation scores when copies land on both sides of a split.",
        "Run `curagate curate` to remove them.",
        error_above=0.05,
    ),
    Rule(
        "LEAK001",
        "golden-set-leakage",
        Severity.ERROR,
        "Records containing a golden (evaluation) set item: exact match or a shared "
        "13-gram (curagate.leakage).",
        "Training on the test set makes every later evaluation and gate meaningless.",
        "Remove the leaking records: `curagate curate DATA --out DIR --decontaminate "
        "golden_sets/` drops them with reason `leakage` (`curagate leakage` lists them).",
    ),
]

RULES: dict[str, Rule] = rule_table(*_RULES)


@dataclass(kw_only=True)
class AuditFinding(Finding):
    """Rows that broke one rule (or the dataset-level metric that did), as audit.json lists it."""

    count: int  # rows affected (0 for dataset-level findings)
    share: float  # count / rows, or the dataset-level metric that broke the threshold
    rows: list[str]  # "file:line" references, the first max_row_refs
    rows_truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **Finding.to_dict(self),
            "fix": self.rule.fix,
            "count": self.count,
            "share": round(self.share, 6),
            "rows": self.rows,
            "rows_truncated": self.rows_truncated,
        }


__all__ = ["RULES", "AuditFinding", "Rule", "Severity"]
