"""Small-sample statistics for the report's paired comparisons, on plain numbers.

Accuracies and differences of accuracies are fractions (0.005 = 0.5 percentage
points); p-values are two-sided unless said otherwise. A comparison pairs the
replicates (seeds) of two configurations and works on the n paired differences
d = a - b (docs/statistics.md states every rule with its source):

- the test that decides: the paired t-test, or where replicates share clips the
  corrected resampled t (harness.report.design; standard error s * sqrt(1/n + r),
  r = n_test / n_train, Nadeau & Bengio 2003), with its 95% interval;
- beside it, the exact paired sign-flip p (harness.report.signflip), a check on the
  normality the t-test assumes. When the differences have zero variance the t statistic
  is undefined, not infinite: the sign-flip p (and its one-sided form for TOST) is then
  the only evidence, and decides; it is never 0 (2 / 2^n at the least);
- TOST equivalence p for |mean d| < margin (Schuirmann 1987): the larger of the two
  one-sided t p-values, on the same standard error;
- the probability of improvement P(a > b): wins out of the untied pairs with an exact
  Clopper-Pearson interval (Clopper & Pearson 1934); ties are counted beside it;
- Holm's step-down adjustment over a family of p-values (Holm 1979);
- McNemar's test on clip-level predictions of two models on one test set
  (`statsmodels.stats.contingency_tables.mcnemar`, exact binomial when fewer than
  25 clips are discordant, else chi-square with continuity correction).

    from harness.report.stats import paired_stats, holm
    s = paired_stats([0.02, 0.01, 0.03, 0.02, 0.015], margin=0.005)
    s.mean, s.low, s.high, s.p_value, s.p_signflip, s.tost_p, s.p_improve
    holm([0.01, 0.04, 0.03])                    # [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.special import stdtr
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from harness.report.signflip import MONTE_CARLO, sign_flip_p

CONFIDENCE = 0.95
ALPHA = 0.05          # two-sided level of every test here
TIE_TOLERANCE = 1e-12  # accuracies are counts / N: differences this close are equal
MCNEMAR_EXACT_BELOW = 25  # discordant clips; below this McNemar uses the exact binomial test


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
class PairedStats:
    """The statistics of n paired differences d = a - b (metric units); None where n < 2."""

    n: int
    margin: float                   # equivalence margin of the TOST, metric units
    mean: float                     # mean of d; NaN when n = 0
    sd: float | None = None         # sample sd of d (ddof 1)
    ratio: float = 0.0              # n_test / n_train of the correction, 0 for the plain t
    low: float | None = None        # 95% (corrected) t-interval of the mean
    high: float | None = None
    p_value: float | None = None    # the deciding two-sided p, H0: mean d = 0
    p_t: float | None = None        # the (corrected) t-test's p; None when sd is 0
    p_signflip: float | None = None  # exact paired sign-flip p (Monte Carlo above n = 16)
    tost_p: float | None = None     # TOST, H0: |mean d| >= margin
    wins: int = 0                   # pairs with d > 0
    losses: int = 0                 # pairs with d < 0
    ties: int = 0                   # pairs with d = 0 (within TIE_TOLERANCE)
    p_improve: float | None = None  # P(a > b): wins / (wins + losses); None if all tie
    p_improve_low: float | None = None   # its Clopper-Pearson 95% interval
    p_improve_high: float | None = None

    @property
    def zero_variance(self) -> bool:
        """All differences equal: the t statistic is undefined and the sign-flip p decides."""
        return self.sd == 0

    @property
    def test(self) -> str:
        """The test behind p_value, in words."""
        if self.zero_variance:
            return "sign-flip (zero variance)"
        return "corrected resampled t" if self.ratio > 0 else "paired t"


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of two models' clip-level correctness on one test set."""

    clips: int
    a_only: int       # clips a got right and b wrong
    b_only: int       # clips b got right and a wrong
    exact: bool       # exact binomial test (few discordant clips) or chi-square
    statistic: float  # exact: min(a_only, b_only); chi-square: the corrected statistic
    p_value: float


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


@functools.cache  # the report and the calibration ask the same few df again and again
def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value of Student's t with df degrees of freedom."""
    return float(sps.t.ppf(0.5 + confidence / 2, df))


def paired_stats(d: Sequence[float], margin: float, *, ratio: float = 0.0,
                 resamples: int = MONTE_CARLO) -> PairedStats:
    """Every statistic of the paired differences d at equivalence `margin`; `ratio` > 0
    applies the corrected resampled t (standard error s * sqrt(1/n + ratio)); `resamples`:
    the sign-flip test's Monte Carlo draws above 16 pairs."""
    x = np.asarray(d, dtype=float)
    n = len(x)
    if n == 0:
        return PairedStats(0, margin, math.nan, ratio=ratio)
    wins, losses, prob = probability_of_improvement(x)
    counts = {"wins": wins, "losses": losses, "ties": n - wins - losses}
    if n == 1:
        return PairedStats(1, margin, float(x[0]), ratio=ratio, **counts,
                           p_improve=prob[0])
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    flip = sign_flip_p(x, resamples=resamples)
    if _constant(x):  # t undefined: the sign patterns are the evidence
        sd, low, high, p_t, p = 0.0, mean, mean, None, flip
        tost = max(sign_flip_p(x + margin, "greater", resamples=resamples),
                   sign_flip_p(x - margin, "less", resamples=resamples))
    else:
        se = sd * math.sqrt(1 / n + ratio)
        df = n - 1
        half = t_quantile(df) * se
        low, high = mean - half, mean + half
        # stdtr(df, x) is Student's t CDF (scipy.special: the ufunc under scipy.stats.t,
        # without its per-call overhead, which the calibration's 10^6 calls would feel)
        p_t = p = float(2 * stdtr(df, -abs(mean) / se))
        tost = float(max(stdtr(df, -(mean + margin) / se), stdtr(df, (mean - margin) / se)))
    return PairedStats(n, margin, mean, sd, ratio, low, high, p, p_t, flip, tost, **counts,
                       p_improve=prob[0], p_improve_low=prob[1], p_improve_high=prob[2])


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, input order: the i-th smallest of m times (m - i + 1), made
    non-decreasing in that order, capped at 1 (Holm 1979; the same numbers as statsmodels'
    `multipletests(method="holm")`, which runs a full garbage collection on every call)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    steps = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = steps
    return [float(v) for v in out]


def probability_of_improvement(d: Sequence[float], confidence: float = CONFIDENCE
                               ) -> tuple[int, int, tuple[float | None, float | None,
                                                          float | None]]:
    """(wins, losses, (P(a > b), low, high)): P(a > b) = wins / (wins + losses) over the
    pairs that are not tied, with its exact Clopper-Pearson interval (beta quantiles,
    statsmodels `proportion_confint(method="beta")`). Ties are not scored; all tied (or no
    pairs) gives None."""
    x = np.asarray(d, dtype=float)
    wins = int(np.sum(x > TIE_TOLERANCE))
    losses = int(np.sum(x < -TIE_TOLERANCE))
    untied = wins + losses
    if untied == 0:
        return wins, losses, (None, None, None)
    low, high = _clopper_pearson(wins, untied, confidence)
    return wins, losses, (wins / untied, low, high)


@functools.cache
def _clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="beta")
    return float(low), float(high)


def mcnemar_test(labels: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int]
                 ) -> McNemar:
    """McNemar's test on one test set: labels and both models' predictions, clip by clip.

    The 2 x 2 table counts clips both got right, only a, only b, neither; only the
    discordant cells matter. Exact binomial test below MCNEMAR_EXACT_BELOW discordant
    clips, else the chi-square test with continuity correction.
    """
    y, a, b = (np.asarray(v) for v in (labels, pred_a, pred_b))
    if not len(y) == len(a) == len(b):
        raise ValueError(f"McNemar needs equal lengths, got {len(y)}, {len(a)}, {len(b)}")
    ra, rb = a == y, b == y
    table = [[int(np.sum(ra & rb)), int(np.sum(ra & ~rb))],
             [int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))]]
    a_only, b_only = table[0][1], table[1][0]
    exact = a_only + b_only < MCNEMAR_EXACT_BELOW
    res = mcnemar(table, exact=exact, correction=True)
    return McNemar(len(y), a_only, b_only, exact, float(res.statistic), float(res.pvalue))


def _constant(x: np.ndarray) -> bool:
    return float(np.ptp(x)) <= TIE_TOLERANCE


def _isnan(v: float | None) -> bool:
    return v is None or v != v  # NaN is the one value unequal to itself
