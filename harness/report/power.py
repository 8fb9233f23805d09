"""Power and sample size of the report's paired tests: what a design can detect, and how
many replicates a question needs.

A comparison's test is the paired t-test on n differences with sample sd s, or the
corrected resampled t where replicates share clips (harness.report.design): its standard
error is s * sqrt(1/n + r), r = n_test / n_train (Nadeau & Bengio 2003, "Inference for the
generalization error", Machine Learning 52(3), the corrected resampled t-test). Under a true mean
difference delta the statistic mean / se is noncentral t with n - 1 degrees of freedom and
noncentrality delta / (sigma * sqrt(1/n + r)) (Cohen 1988, ch. 2; the same distribution
statsmodels' `TTestPower` uses at r = 0).

    minimum_detectable(sd, n, alpha)            # the MDD: power 0.8 at level alpha
    power_difference(delta, sd, n, alpha, r)    # P(the two-sided test rejects)
    power_equivalence(margin, sd, n, alpha, r)  # P(TOST rejects) at a true difference of 0
    replicates_needed(sd, margin, alpha, r)     # smallest n with power 0.8, None if none

With r > 0 the standard error never falls below s * sqrt(r), so some margins cannot be
reached by any n: `replicates_needed` then returns None, not a huge number.
TOST power (Schuirmann 1987, "A comparison of the two one-sided tests procedure", J.
Pharmacokinet. Biopharm. 15) is the Bonferroni bound 1 - P(lower test fails) - P(upper test
fails), each one-sided test's failure a noncentral t probability: exact when the two
failures cannot happen together, a slight under-estimate otherwise, so a plan built on it
errs towards more replicates.
"""

from __future__ import annotations

import math

from scipy import stats as sps
from statsmodels.stats.power import TTestPower

POWER = 0.8         # the power every plan and MDD is computed for
MAX_REPLICATES = 1_000_000  # a search bound: plans beyond it are reported unreachable


def _se_factor(n: int, ratio: float) -> float:
    """The standard error of the mean difference in units of the differences' sd."""
    return math.sqrt(1 / n + ratio)


def power_difference(delta: float, sd: float, n: int, alpha: float, ratio: float = 0.0
                     ) -> float:
    """Power of the two-sided paired (or corrected) t-test at level `alpha` when the true
    mean difference is `delta`; sd 0 gives the sign-flip test's all-or-nothing power."""
    if n < 2:
        return float("nan")
    if sd == 0:
        return float(delta != 0 and 2 / 2 ** n < alpha)
    df, nc = n - 1, abs(delta) / (sd * _se_factor(n, ratio))
    crit = sps.t.ppf(1 - alpha / 2, df)
    return float(_tail(sps.nct.sf(crit, df, nc)) + _tail(sps.nct.cdf(-crit, df, nc)))


def power_equivalence(margin: float, sd: float, n: int, alpha: float, ratio: float = 0.0,
                      delta: float = 0.0) -> float:
    """Power of TOST at ±margin, each one-sided test at level `alpha`, when the true mean
    difference is `delta` (module docstring: a lower bound)."""
    if n < 2:
        return float("nan")
    if sd == 0:
        return float(abs(delta) < margin and 1 / 2 ** n < alpha)
    df, se = n - 1, sd * _se_factor(n, ratio)
    crit = sps.t.ppf(1 - alpha, df)
    fail_lower = _tail(sps.nct.cdf(crit, df, (delta + margin) / se))
    fail_upper = _tail(sps.nct.sf(-crit, df, (delta - margin) / se))
    return float(max(0.0, 1 - fail_lower - fail_upper))


def _tail(p: float) -> float:
    """A noncentral t tail probability; scipy returns NaN where a far tail underflows."""
    return 0.0 if math.isnan(p) else float(p)


def minimum_detectable(sd: float, n: int, alpha: float, ratio: float = 0.0,
                       power: float = POWER) -> float:
    """The true mean difference the test detects with `power` at level `alpha` (two-sided):
    statsmodels' TTestPower effect size at (n, alpha, power) times sd * sqrt(1 + n r)."""
    if sd == 0:  # the sign-flip test: nothing, or everything, is detectable
        return 0.0 if 2 / 2 ** n < alpha else math.inf
    effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                      alternative="two-sided")
    return float(effect) * sd * math.sqrt(1 + n * ratio)


def replicates_needed(sd: float, margin: float, alpha: float, ratio: float = 0.0, *,
                      aim: str = "difference", power: float = POWER, at_least: int = 2
                      ) -> int | None:
    """The fewest replicates (>= at_least) whose test has `power` at level `alpha`: to detect
    a true difference of `margin` (aim "difference"), or to show equivalence at ±margin when
    the true difference is 0 ("equivalence"). None when no number is enough (r > 0)."""
    def enough(n: int) -> bool:
        got = (power_difference(margin, sd, n, alpha, ratio) if aim == "difference"
               else power_equivalence(margin, sd, n, alpha, ratio))
        return got >= power

    if aim not in ("difference", "equivalence"):
        raise ValueError(f"aim {aim!r}: difference or equivalence")
    if sd > 0 and ratio > 0 and not _reachable(sd, margin, alpha, ratio, aim, power):
        return None
    low, high = max(at_least, 2), max(at_least, 2)
    while not enough(high):  # power grows with n: double, then bisect
        low, high = high + 1, high * 2
        if high > MAX_REPLICATES:
            return None
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid + 1, high)
    return high


def reachable_margin(sd: float, alpha: float, ratio: float, aim: str = "difference",
                     power: float = POWER) -> float:
    """The smallest margin some number of replicates reaches (0 for the plain test): the
    normal limit, (z(1 - alpha/2) + z(power)) sd sqrt(r) for a difference (the far tail left
    out), (z(1 - alpha) + z((1 + power)/2)) sd sqrt(r) for equivalence."""
    norm = sps.norm
    z = (norm.ppf(1 - alpha / 2) + norm.ppf(power) if aim == "difference"
         else norm.ppf(1 - alpha) + norm.ppf((1 + power) / 2))
    return float(z * sd * math.sqrt(ratio))


def _reachable(sd: float, margin: float, alpha: float, ratio: float, aim: str,
               power: float) -> bool:
    """Whether infinitely many replicates reach `power`: the normal limit of the tests, the
    standard error at its floor sd * sqrt(r)."""
    z = margin / (sd * math.sqrt(ratio))
    norm = sps.norm
    if aim == "difference":
        crit = norm.ppf(1 - alpha / 2)
        return norm.cdf(z - crit) + norm.cdf(-z - crit) > power
    return 1 - 2 * norm.cdf(norm.ppf(1 - alpha) - z) > power
