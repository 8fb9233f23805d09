"""Small-sample statistics for the report's paired comparisons, on plain numbers (statsmodels).

Accuracies and differences of accuracies are fractions (0.005 = 0.5 percentage
points); p-values are two-sided unless said otherwise. A comparison pairs the
replicates (seeds) of two configurations and works on the n paired differences
d = a - b:

- mean, Student-t 95% interval and paired t-test p (statsmodels `DescrStatsW`);
- TOST equivalence p for |mean d| < margin (`DescrStatsW.ttost_mean`, the same
  test as `statsmodels.stats.weightstats.ttost_paired` on the two sides);
- the minimum detectable difference (MDD): the true mean difference a paired
  t-test at alpha 0.05 (two-sided) would detect with power 0.8 at this n, from
  `TTestPower().solve_power` (an effect size in sd units) times the sd of d;
- the probability of improvement P(a > b): the fraction of pairs with d > 0, ties
  counting half, with a seeded percentile bootstrap interval over the pairs
  (Bouthillier et al. 2021; Agarwal et al. 2021, rliable);
- Holm's step-down adjustment over a family of p-values (`multipletests`);
- McNemar's test on clip-level predictions of two models on one test set
  (`statsmodels.stats.contingency_tables.mcnemar`, exact binomial when fewer than
  25 clips are discordant, else chi-square with continuity correction).

Differences that are all equal (sd 0, e.g. 0.93 - 0.88 and 0.91 - 0.86 up to
rounding) are the limit of the tests: t infinite, so p = 0 unless the mean is 0.

    from harness.report.stats import paired_stats, holm
    s = paired_stats([0.02, 0.01, 0.03, 0.02, 0.015], margin=0.005)
    s.mean, s.low, s.high, s.p_value, s.tost_p, s.mdd, s.p_improve
    holm([0.01, 0.04, 0.03])                    # [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW

CONFIDENCE = 0.95
ALPHA = 0.05          # two-sided level of every test here
POWER = 0.8           # the power the MDD is computed for
TIE_TOLERANCE = 1e-12  # accuracies are counts / N: differences this close are equal
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0    # fixed, so the same runs always give the same interval
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
    """The statistics of n paired differences d = a - b (accuracy units); None where n < 2."""

    n: int
    margin: float                   # equivalence margin of the TOST, accuracy units
    mean: float                     # mean of d; NaN when n = 0
    sd: float | None = None         # sample sd of d (ddof 1)
    low: float | None = None        # 95% t-interval of the mean
    high: float | None = None
    p_value: float | None = None    # paired t-test, H0: mean d = 0
    tost_p: float | None = None     # TOST, H0: |mean d| >= margin
    mdd: float | None = None        # minimum detectable difference at alpha 0.05, power 0.8
    p_improve: float | None = None  # P(a > b): share of pairs with d > 0, ties half (n >= 1)
    p_improve_low: float | None = None   # its bootstrap 95% interval (n >= 2)
    p_improve_high: float | None = None


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


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided critical value of Student's t with df degrees of freedom."""
    return float(sps.t.ppf(0.5 + confidence / 2, df))


def paired_stats(d: Sequence[float], margin: float, *, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> PairedStats:
    """Every statistic of the paired differences d (accuracy units) at equivalence `margin`."""
    x = np.asarray(d, dtype=float)
    n = len(x)
    if n == 0:
        return PairedStats(0, margin, math.nan)
    prob = probability_of_improvement(x, resamples, seed)
    if n == 1:
        return PairedStats(1, margin, float(x[0]), p_improve=prob[0])
    mean, sd = float(x.mean()), float(x.std(ddof=1))
    if _constant(x):  # sd 0: the tests' limits, a zero-width interval
        p, tost_p, low, high, sd = (0.0 if abs(mean) > TIE_TOLERANCE else 1.0,
                                    0.0 if abs(mean) < margin else 1.0, mean, mean, 0.0)
    else:
        ds = DescrStatsW(x)
        p = float(ds.ttest_mean(0.0)[1])
        low, high = (float(v) for v in ds.tconfint_mean(alpha=1 - CONFIDENCE))
        tost_p = float(ds.ttost_mean(-margin, margin)[0])
    return PairedStats(n, margin, mean, sd, low, high, p, tost_p, minimum_detectable(sd, n),
                       *prob)


def minimum_detectable(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The mean difference (units of sd) a two-sided paired t-test of n pairs detects with
    `power`: statsmodels' TTestPower effect size at (n, alpha, power) times sd."""
    if sd == 0:
        return 0.0
    d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                 alternative="two-sided")
    return float(np.asarray(d).item()) * sd


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Holm-adjusted p-values (statsmodels `multipletests(method="holm")`), input order."""
    if not len(p_values):
        return []
    return [float(v) for v in multipletests(list(p_values), alpha=alpha, method="holm")[1]]


def probability_of_improvement(d: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                               seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE
                               ) -> tuple[float, float | None, float | None]:
    """P(a > b) over pairs (d > 0 scores 1, a tie 0.5, d < 0 0) and its percentile bootstrap
    interval: `resamples` resamples of the pairs with replacement, NumPy generator `seed`.
    The interval is None for a single pair."""
    x = np.asarray(d, dtype=float)
    score = np.where(np.abs(x) <= TIE_TOLERANCE, 0.5, (x > 0).astype(float))
    if len(x) < 2:
        return float(score.mean()), None, None
    rng = np.random.default_rng(seed)
    boot = score[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return float(score.mean()), float(low), float(high)


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
