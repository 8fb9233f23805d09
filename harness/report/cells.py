"""A table cell's text: a number or an interval, an em dash where there is none."""

from __future__ import annotations

import pandas as pd


def num(x: object, fmt: str = ".4f") -> str:
    """A table cell: `x` formatted, or an em dash for a missing value (None, NaN)."""
    return "—" if x is None or pd.isna(x) else format(x, fmt)


def ci_text(low: float | None, high: float | None, fmt: str = ".4f") -> str:
    """An interval cell, `[low, high]`, or an em dash when there is none."""
    return "—" if low is None or pd.isna(low) else f"[{format(low, fmt)}, {format(high, fmt)}]"
