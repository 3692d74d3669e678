"""LEN001-LEN003: lengths that are accidents, biases or over the model's limit.

The audit's single pass collects each row's lengths (characters, and tokens
with a tokenizer) into exact histograms; LEN001 and LEN002 are decided on the
merged histograms at the end, LEN003 per record on the rendered chat template.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from curagate.audit.rules.base import BatchView, DatasetView, RowHit, register
from curagate.audit.stats import coefficient_of_variation
from curagate.findings import Rule, Severity

if TYPE_CHECKING:
    from curagate.audit.partial import RuleHits

RULES = (
    Rule(
        "LEN001",
        "length-outlier",
        Severity.WARNING,
        "Input or output lengths (characters, and tokens when a tokenizer is configured) far "
        "above the rest: beyond Q3 + k*IQR (k = lengths.outlier_iqr, default 3). Limit: with "
        "an IQR of 0 (most rows one length, as fixed answers) there is no threshold, and a "
        "huge row among them is not flagged (a floor of Q3 flagged legitimate longer "
        "answers among one-word labels).",
        "Outliers are often scraping accidents (whole pages, logs); they dominate the loss of "
        "their batch and may be truncated.",
        "Look at the referenced rows; trim or remove the accidental ones.",
    ),
    Rule(
        "LEN002",
        "length-bias",
        Severity.WARNING,
        "Output lengths (input lengths where records have no output) are nearly constant: "
        "their coefficient of variation, unrounded, is below lengths.min_cv (default 0.1). "
        "Judged on at least 10 rows (fewer give no LEN002).",
        "A model fine-tuned on same-length answers learns the length, not the task: it pads "
        "short answers and cuts long ones.",
        "Mix in examples with naturally shorter and longer answers.",
        dataset_level=True,
        limits=("lengths.min_cv",),
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
)


def rows(view: BatchView) -> list[RowHit]:
    """LEN003: records whose rendered chat template is over the token limit."""
    limit = view.cfg.tokens.max_seq_len
    if view.rendered is None or limit is None:
        return []
    return [("LEN003", k, f"{n} tokens") for k, n in enumerate(view.rendered) if n and n > limit]


def dataset(view: DatasetView) -> dict[str, RuleHits | tuple[str, float]]:
    import polars as pl

    from curagate.audit.partial import RuleHits

    cfg, part, lengths = view.cfg, view.part, view.stats["lengths"]
    out: dict[str, RuleHits | tuple[str, float]] = {}
    # LEN001: rows beyond their series' outlier threshold (from the merged histograms).
    series = [("input chars", "in_chars", lengths["chars"]["input"])]
    if "output" in lengths["chars"]:
        series.append(("output chars", "out_chars", lengths["chars"]["output"]))
    if "tokens" in lengths:
        series.append(("input tokens", "tok_in", lengths["tokens"]["input"]))
        if "output" in lengths["tokens"]:
            series.append(("output tokens", "tok_out", lengths["tokens"]["output"]))
    above = [
        (name, pl.col(column) > summ["outlier_threshold"])
        for name, column, summ in series
        if summ.get("outlier_threshold") is not None
    ]
    if above:
        flags = [pl.when(over).then(pl.lit(name)).otherwise(pl.lit(None)) for name, over in above]
        hit = (
            part.rows.lazy()
            # The few outliers first, so the labels are built for them alone.
            .filter(pl.any_horizontal([over for _, over in above]))
            .select("file", "line", pl.concat_list(flags).list.drop_nulls().alias("why"))
            .filter(pl.col("why").list.len() > 0)
            .select("file", "line", pl.col("why").list.join(" and "))
            .collect()
        )
        out["LEN001"] = RuleHits(
            count=hit.height,
            refs=[part.ref(f, line) for f, line, _ in hit.head(cfg.max_row_refs).iter_rows()],
            details=Counter(dict(hit.get_column("why").value_counts().iter_rows())),
        )
    # LEN002: nearly constant output (else input) lengths, on the unrounded coefficient of
    # variation (the summary's 4-decimal one read 0.0999727 as 0.1: not below 0.1).
    which = "output" if "output" in lengths["chars"] else "input"
    cv = coefficient_of_variation(part.hist[f"chars.{which}"])
    limit = cfg.lengths.min_cv
    if lengths["chars"][which]["count"] >= 10 and cv < limit:
        out["LEN002"] = (
            f"{which} lengths are nearly constant (coefficient of variation {_below(cv, limit)}, "
            f"below {limit})",
            cv,
        )
    return out


def _below(cv: float, limit: float) -> str:
    """``cv`` at 4 decimals, or 6 where 4 would read as the limit (the gate's rule), or in
    full where 6 would too: never a value that does not read as below ``limit``."""
    for d in (4, 6):
        if round(cv, d) < limit:
            return f"{round(cv, d)}"
    return repr(cv)


register(__name__, *RULES, rows=rows, dataset=dataset)
