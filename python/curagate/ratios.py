"""Split ratios (``--ratios 80/10/10``), checked where a config is read: a module of its
own, as light as the config that imports it (curagate.split brings pydantic models,
random and the split's machinery to every curate run)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from curagate.errors import ConfigError

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


def parse_ratios(text: str) -> tuple[float, float, float]:
    """Parse ``--ratios``: ``80/10/10``, ``0.8,0.1,0.1`` or ``8:1:1`` (scaled to sum 1)."""
    parts = [p for p in text.replace(",", "/").replace(":", "/").split("/") if p.strip()]
    if len(parts) != 3:
        raise ConfigError(
            f"--ratios {text!r}: give three numbers for train/val/test, e.g. --ratios 80/10/10"
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(
            f"--ratios {text!r}: not numbers; give three numbers, e.g. --ratios 80/10/10"
        ) from None
    return check_ratios(values, option=f"--ratios {text!r}")


def check_ratios(values: Sequence[float], *, option: str = "ratios") -> tuple[float, float, float]:
    if len(values) != 3:
        raise ConfigError(f"{option}: need three values (train, val, test), got {len(values)}")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ConfigError(f"{option}: ratios must be finite and >= 0, e.g. --ratios 80/10/10")
    total = sum(values)
    if not math.isfinite(total):  # each finite, their sum not: scale them down first
        values = [v / max(values) for v in values]
        total = sum(values)
    if values[0] <= 0 or total <= 0:
        raise ConfigError(f"{option}: the train ratio must be > 0, e.g. --ratios 80/10/10")
    shares = (values[0] / total, values[1] / total, values[2] / total)
    for name, value, share in zip(SPLIT_NAMES, values, shares, strict=True):
        # The manifest records shares to 6 decimals: one that rounds to 0 there would be
        # a train of 0 rows, or a split asked for that the manifest says was not.
        if value > 0 and round(share, 6) == 0:
            raise ConfigError(
                f"{option}: {name}'s share is {share:.3g} of the total, which rounds to 0; "
                f"give it {'' if name == 'train' else '0 or '}at least 0.000001 of the total, "
                "e.g. --ratios 80/10/10"
            )
    return shares
