"""report.stats, report.signflip and report.power: every number checked against statsmodels,
scipy, brute force or by hand (the verdict rules are tests/test_verdicts.py's)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from harness.report.power import (
    minimum_detectable,
    power_difference,
    power_equivalence,
    reachable_margin,
    replicates_needed,
)
from harness.report.signflip import sign_flip_p
from harness.report.stats import (
    holm,
    mcnemar_test,
    mean_interval,
    paired_stats,
    probability_of_improvement,
    t_quantile,
)

A = np.array([0.90, 0.92, 0.94, 0.91, 0.93])
INCONCLUSIVE = np.array([0.006, 0.0, 0.004, 0.0, 0.005])  # p 0.08, TOST p 0.09


def test_t_quantile_is_the_two_sided_critical_value() -> None:
    assert t_quantile(2) == pytest.approx(4.3027, abs=5e-5)  # the printed t table, df = 2
    assert t_quantile(10, 0.90) == sps.t.ppf(0.95, 10)


def test_mean_interval_is_the_student_t_interval() -> None:
    x = [0.90, 0.92, 0.97]
    ci = mean_interval(x)
    half = sps.t.ppf(0.975, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert ci.n == 3 and ci.mean == pytest.approx(np.mean(x), abs=1e-15)
    assert (ci.low, ci.high) == pytest.approx((np.mean(x) - half, np.mean(x) + half), abs=1e-15)
    assert ci.half_width == pytest.approx(half, abs=1e-15)


def test_mean_interval_small_and_degenerate_samples() -> None:
    one = mean_interval([0.8])
    assert (one.n, one.mean, one.low, one.high, one.half_width) == (1, 0.8, None, None, None)
    same = mean_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high) == (0.5, 0.5)
    nan = mean_interval([float("nan"), 0.7, 0.9])  # pruned trials have no test_acc
    assert nan.n == 2 and nan.mean == pytest.approx(0.8)
    empty = mean_interval([])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.low is None


def test_paired_stats_match_statsmodels_and_scipy() -> None:
    b = A - INCONCLUSIVE
    d = A - b
    s = paired_stats(d, margin=0.005)
    half = sps.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (s.n, s.margin, s.ratio, s.test) == (5, 0.005, 0.0, "paired t")
    assert (s.mean, s.sd) == pytest.approx((d.mean(), d.std(ddof=1)), abs=1e-12)
    assert (s.low, s.high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert s.p_value == s.p_t == pytest.approx(sps.ttest_rel(A, b).pvalue, abs=1e-12)
    assert s.tost_p == pytest.approx(ttost_paired(A, b, -0.005, 0.005)[0], abs=1e-12)
    assert s.p_signflip == sps.permutation_test(
        (d,), np.sum, permutation_type="samples", n_resamples=np.inf).pvalue
    assert (s.wins, s.losses, s.ties) == (3, 0, 2)


def test_the_corrected_resampled_t_by_hand() -> None:
    """Nadeau & Bengio's variance: s^2 (1/n + n_test/n_train); at 60/20/20, r = 1/3."""
    d = np.array([0.04, 0.05, 0.03, 0.06, 0.045])
    s = paired_stats(d, 0.005, ratio=1 / 3)
    se = d.std(ddof=1) * math.sqrt(1 / 5 + 1 / 3)
    t = d.mean() / se
    assert s.test == "corrected resampled t"
    assert s.p_value == pytest.approx(2 * sps.t.sf(t, 4), rel=1e-12)
    assert (s.low, s.high) == pytest.approx((d.mean() - sps.t.ppf(0.975, 4) * se,
                                             d.mean() + sps.t.ppf(0.975, 4) * se), rel=1e-12)
    assert s.tost_p == pytest.approx(sps.t.cdf((d.mean() - 0.005) / se, 4), rel=1e-12)
    plain = paired_stats(d, 0.005)
    assert plain.low > s.low and plain.p_value < s.p_value  # the correction only widens


def test_five_identical_differences_never_give_p_zero() -> None:
    """Zero variance: t is undefined, the 32 sign patterns are the evidence (2 as extreme)."""
    s = paired_stats([0.05] * 5, 0.005)
    assert s.zero_variance and s.p_t is None and s.test == "sign-flip (zero variance)"
    assert s.p_value == s.p_signflip == 2 / 32 and (s.low, s.high) == (0.05, 0.05)
    assert s.tost_p == 1.0  # every difference is outside ±0.005
    ten = paired_stats([0.05] * 10, 0.005)
    assert ten.p_value == 2 / 1024 > 0
    within = paired_stats([0.001] * 5, 0.005)  # all inside the margin: one-sided 1/32 each
    assert within.tost_p == 1 / 32
    zero = paired_stats([0.0, 0.0, 0.0], 0.005)
    assert (zero.p_value, zero.tost_p, zero.ties, zero.p_improve) == (1.0, 1 / 8, 3, None)


def test_paired_stats_of_fewer_than_two_pairs() -> None:
    empty = paired_stats([], 0.005)
    assert empty.n == 0 and math.isnan(empty.mean) and empty.p_value is None
    one = paired_stats([0.02], 0.005)
    assert (one.n, one.mean, one.low, one.p_value, one.p_improve, one.wins) == \
        (1, 0.02, None, None, 1.0, 1)


def test_sign_flip_p_is_every_pattern_counted() -> None:
    d = [0.03, -0.01, 0.02, 0.025, 0.004, -0.002]
    sums = [abs(sum(s * x for s, x in zip(signs, d, strict=True)))
            for signs in itertools.product((1, -1), repeat=len(d))]
    assert sign_flip_p(d) == sum(v >= abs(sum(d)) - 1e-12 for v in sums) / 64
    greater = [sum(s * x for s, x in zip(signs, d, strict=True))
               for signs in itertools.product((1, -1), repeat=len(d))]
    assert sign_flip_p(d, "greater") == sum(v >= sum(d) - 1e-12 for v in greater) / 64
    assert sign_flip_p([0.05] * 5) == 0.0625 and sign_flip_p([0.05] * 5, "greater") == 1 / 32


def test_sign_flip_above_16_pairs_is_seeded_monte_carlo() -> None:
    d = np.random.default_rng(3).normal(0.004, 0.01, 17)
    signs = 1 - 2 * ((np.arange(2 ** 17)[:, None] >> np.arange(17)) & 1)  # all 2^17 patterns
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    p = sign_flip_p(d)
    assert p == sign_flip_p(d) and p > 0  # reproducible, never 0
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000)


def test_p_improve_is_wins_of_untied_pairs_with_clopper_pearson() -> None:
    assert probability_of_improvement([-0.01] * 5) == (0, 5, (0.0, 0.0, pytest.approx(0.5218,
                                                                                   abs=1e-4)))
    wins, losses, (p, low, high) = probability_of_improvement([0.01, 0.02, 0.0, -0.01, 0.03])
    assert (wins, losses, p) == (3, 1, 0.75)  # the tie is neither
    assert (low, high) == pytest.approx((sps.beta.ppf(0.025, 3, 2), sps.beta.ppf(0.975, 4, 1)))
    assert probability_of_improvement([0.0, 0.0]) == (0, 0, (None, None, None))


def test_holm_matches_statsmodels_and_the_hand_computation() -> None:
    p = [0.01, 0.04, 0.03]
    # by hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    rng = np.random.default_rng(0)
    for m in (2, 10):  # statsmodels collects garbage on every call: few calls
        q = list(rng.uniform(size=m) ** 2)
        assert holm(q) == pytest.approx(list(multipletests(q, method="holm")[1]), abs=1e-15)
    assert holm([]) == [] and holm([0.7]) == [0.7]


def test_mcnemar_matches_statsmodels_on_the_clip_table() -> None:
    y = np.arange(40) % 4
    a, b = y.copy(), y.copy()
    a[[0, 1]] = 9          # a wrong on 2 clips, b right there
    b[[2, 3, 4, 5, 6, 7]] = 9  # b wrong on 6, a right there
    b[0] = 9               # both wrong on clip 0
    m = mcnemar_test(y, a, b)
    ref = mcnemar([[32, 6], [1, 1]], exact=True)
    assert (m.clips, m.a_only, m.b_only, m.exact) == (40, 6, 1, True)
    assert (m.statistic, m.p_value) == (ref.statistic, pytest.approx(ref.pvalue, abs=1e-15))
    big = mcnemar_test(np.zeros(100), np.r_[np.zeros(30), np.ones(70)],
                       np.r_[np.ones(30), np.zeros(70)])   # 30 + 70 discordant: chi-square
    ref = mcnemar([[0, 30], [70, 0]], exact=False, correction=True)
    assert big.exact is False and big.p_value == pytest.approx(ref.pvalue, abs=1e-15)
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar_test([0, 1], [0], [0, 1])


def test_power_and_mdd_are_statsmodels_ttestpower_at_ratio_0() -> None:
    for n, alpha in ((5, 0.05), (10, 0.005), (20, 0.025)):
        assert power_difference(0.01, 0.01, n, alpha) == pytest.approx(
            TTestPower().power(1.0, n, alpha), rel=1e-9)
        mdd = minimum_detectable(0.01, n, alpha)
        assert power_difference(mdd, 0.01, n, alpha) == pytest.approx(0.8, abs=1e-5)
    assert minimum_detectable(0.02, 10, 0.05) == pytest.approx(2 * minimum_detectable(0.01, 10,
                                                                                      0.05))
    # the strictest Holm step of 10 comparisons asks a larger difference than alpha alone
    assert minimum_detectable(0.01, 5, 0.005) > minimum_detectable(0.01, 5, 0.05)
    # a far tail that scipy's noncentral t underflows to NaN counts as 0, not NaN
    assert power_difference(0.02, 0.01, 20, 0.025) == pytest.approx(1.0, abs=1e-8)
    # the corrected test: the same power at sd x sqrt(1 + n r)
    assert minimum_detectable(0.01, 5, 0.05, 1 / 3) == pytest.approx(
        minimum_detectable(0.01, 5, 0.05) * math.sqrt(1 + 5 / 3))


def test_replicates_needed_is_the_smallest_n_with_power() -> None:
    n = replicates_needed(0.0654, 0.05, 0.05)  # the committed quick study's sd and margin
    assert power_difference(0.05, 0.0654, n, 0.05) >= 0.8 > power_difference(0.05, 0.0654,
                                                                               n - 1, 0.05)
    e = replicates_needed(0.0654, 0.05, 0.05, aim="equivalence")
    assert power_equivalence(0.05, 0.0654, e, 0.05) >= 0.8 > power_equivalence(0.05, 0.0654,
                                                                                 e - 1, 0.05)
    assert replicates_needed(0.001, 0.05, 0.05, at_least=5) == 5


def test_a_corrected_design_reaches_some_margins_and_never_others() -> None:
    """The correction's standard error never falls below sd sqrt(r): 0.01 x sqrt(1/3) leaves
    a margin of 0.005 unreachable at alpha 0.005, for any number of replicates."""
    assert replicates_needed(0.01, 0.005, 0.005, 1 / 3) is None
    assert replicates_needed(0.01, 0.005, 0.005, 1 / 3, aim="equivalence") is None
    floor = reachable_margin(0.01, 0.005, 1 / 3)
    assert floor == pytest.approx((sps.norm.ppf(1 - 0.0025) + sps.norm.ppf(0.8)) * 0.01
                                  * math.sqrt(1 / 3))
    n = replicates_needed(0.01, floor * 1.1, 0.005, 1 / 3)
    assert n is not None and power_difference(floor * 1.1, 0.01, n, 0.005, 1 / 3) >= 0.8
    assert replicates_needed(0.01, 0.005, 0.005) is not None  # the plain test always gets there
