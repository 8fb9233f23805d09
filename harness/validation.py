"""Ranges of numeric options, read from each factory's own default.

    check_range("model", "seed_cnn", "width", -0.5, default=1.0)   # HarnessError

A factory's signature says an option's type (harness.registry checks it) but not its
range, and an out-of-range value trains anyway or fails deep in torch, in every trial.
The default says what kind of number it is:

- a dropout (the name holds "dropout"): in [0, 1], as torch.nn.Dropout takes;
- a positive integer default (n_fft, n_maps, n_mels, stride): an integer >= 1;
- a positive float default (width, a scale): > 0;
- a zero default (f_min, padding): >= 0.

Every number must also be finite (TOML has `inf` and `nan`). Options without a numeric
default (None, strings, tuples) are left to the factory.
"""

from __future__ import annotations

import math
from typing import Any

from harness.errors import HarnessError


def check_range(kind: str, name: str, option: str, value: Any, default: Any) -> None:
    """HarnessError naming entry, option and the range when `value` is outside it."""
    if not _number(value) or not _number(default):
        return
    rule = _rule(option, default)
    if not math.isfinite(value) or (rule and not rule[0](value)):
        expected = rule[1] if rule else "a finite number"
        raise HarnessError(f"{kind} {name!r}: option {option}={value!r} is out of range; "
                           f"expected {expected} (default {default!r})")


def _rule(option: str, default: float) -> tuple[Any, str] | None:
    if "dropout" in option:
        return (lambda v: 0 <= v <= 1), "a probability in [0, 1]"
    if isinstance(default, int) and default > 0:
        return (lambda v: v >= 1), "an integer >= 1"
    if default > 0:
        return (lambda v: v > 0), "a number > 0"
    if default == 0:
        return (lambda v: v >= 0), "a number >= 0"
    return None


def check_finite(where: str, value: Any) -> None:
    """HarnessError for inf or nan, which TOML and --set accept as floats."""
    if isinstance(value, float) and not math.isfinite(value):
        raise HarnessError(f"{where}: {value!r} is not a finite number")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
