"""Small-sample statistics for the report: t-intervals, paired differences, verdicts.

Pure functions of plain numbers, so every value the report prints can be checked
by hand. Sweeps have a handful of seeds per configuration, which decides the
choices here:

- intervals are Student-t intervals (a bootstrap over 3-5 values is mostly noise);
- the p-value comes from the paired t-test; the exact Wilcoxon signed-rank test
  is reported beside it only from 6 pairs on, because with n pairs its smallest
  two-sided p-value is 2 / 2**n, which never reaches 0.05 below n = 6;
- the verdict is read off the interval, not the p-value, so the table says how
  big the difference is, not only whether it exists.

    from harness.stats import mean_interval, paired_difference
    mean_interval([0.91, 0.93, 0.92])           # Interval(n=3, mean=0.92, low=..., high=...)
    paired_difference({0: 0.93, 1: 0.94}, {0: 0.89, 1: 0.90})   # Paired(..., verdict="confirmed")
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
TIE_TOLERANCE = 1e-12  # accuracies are counts / N: differences this close are equal
WILCOXON_MIN_PAIRS = 6  # below this the exact signed-rank test cannot reach p < 0.05

CONFIRMED, REFUTED, INCONCLUSIVE = "confirmed", "refuted", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """Mean of n values with a two-sided t confidence interval; low/high are None when n < 2."""

    n: int
    mean: float
    low: float | None = None
    high: float | None = None

    @property
    def half_width(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2


@dataclass(frozen=True)
class Paired:
    """Paired difference a - b over matching keys (seeds), with its test and verdict.

    `verdict` is None exactly when `reason` says why no verdict is possible.
    """

    n: int
    mean: float | None
    low: float | None
    high: float | None
    p_value: float | None           # paired t-test, two-sided
    wilcoxon_p: float | None        # exact signed-rank test, only from WILCOXON_MIN_PAIRS on
    test: str                       # which test produced p_value, in words
    verdict: str | None
    reason: str | None = None


def mean_interval(values: Iterable[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and t-interval: mean +- t(1 - alpha/2, n - 1) * sd / sqrt(n), sd with ddof=1.

    NaNs are dropped. n = 0 gives mean NaN; n = 1 gives no interval (there is no
    spread to estimate); identical values give a zero-width interval.
    """
    x = np.asarray([v for v in values if not _isnan(v)], dtype=float)
    n = len(x)
    if n == 0:
        return Interval(0, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean)
    half = t_quantile(n - 1, confidence) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(n, mean, mean - half, mean + half)


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value of Student's t with df degrees of freedom."""
    return float(sps.t.ppf(0.5 + confidence / 2, df))


def verdict(low: float | None, high: float | None) -> str | None:
    """confirmed if the whole interval is above 0, refuted if below, else inconclusive."""
    if low is None or high is None:
        return None
    if low > 0:
        return CONFIRMED
    if high < 0:
        return REFUTED
    return INCONCLUSIVE


def paired_difference(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], confidence: float = CONFIDENCE
) -> Paired:
    """Differences a[k] - b[k] over the keys both sides share (NaN values dropped).

    Keys are whatever identifies a pair: the seed, or a tuple of seed and other
    matched parameters. With fewer than 2 pairs there is no interval and so no
    verdict, and `reason` says so in words the report prints as they are.
    """
    keys = sorted((k for k in a if k in b and not _isnan(a[k]) and not _isnan(b[k])), key=repr)
    d = np.asarray([a[k] - b[k] for k in keys], dtype=float)
    n = len(d)
    if n == 0:
        return no_verdict(0, None, "no matching seeds: no seed (with the same other "
                                    "parameters) has a trial on both sides")
    if n == 1:
        return no_verdict(1, float(d[0]), "only 1 matching seed: a confidence interval "
                                           "needs at least 2")
    ci = mean_interval(d, confidence)
    w = wilcoxon_p(d)
    return Paired(n, ci.mean, ci.low, ci.high, paired_t_p(d), w, _test_name(d, w),
                  verdict(ci.low, ci.high))


def paired_t_p(d: np.ndarray) -> float:
    """Two-sided p of the paired t-test on differences d (a one-sample test against 0).

    Identical differences have sd = 0, where scipy returns NaN or a p from
    rounding noise (0.93 - 0.88 != 0.91 - 0.86 in floating point): the limit is
    p = 0 for a nonzero mean (infinite t) and p = 1 when every difference is 0.
    """
    if float(np.ptp(d)) <= TIE_TOLERANCE:
        return 0.0 if abs(float(d.mean())) > TIE_TOLERANCE else 1.0
    return float(sps.ttest_1samp(d, 0.0).pvalue)


def wilcoxon_p(d: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p from WILCOXON_MIN_PAIRS nonzero differences on.

    Zero differences carry no sign and are dropped (zero_method="wilcox"), so
    they do not count towards the minimum. scipy uses the exact distribution for
    small samples without ties, the normal approximation otherwise.
    """
    d = np.where(np.abs(d) > TIE_TOLERANCE, d, 0.0)
    if _nonzero(d) < WILCOXON_MIN_PAIRS:
        return None
    return float(sps.wilcoxon(d, zero_method="wilcox", method="auto").pvalue)


def _nonzero(d: np.ndarray) -> int:
    return int(np.count_nonzero(np.abs(d) > TIE_TOLERANCE))


def _test_name(d: np.ndarray, wilcoxon: float | None) -> str:
    """Which tests produced the p-values, and why Wilcoxon is missing when it is."""
    if wilcoxon is not None:
        return "paired t-test, Wilcoxon signed-rank beside it"
    k = _nonzero(d)
    return (f"paired t-test (Wilcoxon skipped: with {k} nonzero differences its smallest "
            f"p is {2 / 2 ** k:.3g}, never below 0.05)")


def no_verdict(n: int, mean: float | None, reason: str) -> Paired:
    """A comparison without an interval; `reason` is printed as the verdict's place-holder."""
    return Paired(n, mean, None, None, None, None, "none", None, reason)


def _isnan(v: float | None) -> bool:
    return v is None or v != v  # NaN is the one value unequal to itself
