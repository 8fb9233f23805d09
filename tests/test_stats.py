"""harness.stats: every number checked against scipy or by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.stats import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    mean_interval,
    paired_difference,
    t_quantile,
    verdict,
)


def test_t_quantile_is_the_two_sided_critical_value() -> None:
    assert t_quantile(2) == pytest.approx(4.3027, abs=5e-5)  # the printed t table, df = 2
    assert t_quantile(10, 0.90) == sps.t.ppf(0.95, 10)


def test_mean_interval_is_the_student_t_interval() -> None:
    x = [0.90, 0.92, 0.97]
    ci = mean_interval(x)
    half = sps.t.ppf(0.975, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert ci.n == 3
    assert ci.mean == pytest.approx(np.mean(x), abs=1e-15)
    assert (ci.low, ci.high) == pytest.approx((np.mean(x) - half, np.mean(x) + half), abs=1e-15)
    assert ci.half_width == pytest.approx(half, abs=1e-15)


def test_mean_interval_small_and_degenerate_samples() -> None:
    one = mean_interval([0.8])
    assert (one.n, one.mean, one.low, one.high, one.half_width) == (1, 0.8, None, None, None)
    assert mean_interval([0.5, 0.5, 0.5]) == mean_interval([0.5, 0.5, 0.5])
    same = mean_interval([0.5, 0.5, 0.5])
    assert (same.low, same.high) == (0.5, 0.5)
    nan = mean_interval([float("nan"), 0.7, 0.9])  # pruned trials have no test_acc
    assert nan.n == 2 and nan.mean == pytest.approx(0.8)
    empty = mean_interval([])
    assert empty.n == 0 and math.isnan(empty.mean) and empty.low is None


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.01, 0.05, CONFIRMED), (-0.05, -0.01, REFUTED), (-0.01, 0.02, INCONCLUSIVE),
    (0.0, 0.02, INCONCLUSIVE), (-0.02, 0.0, INCONCLUSIVE), (None, None, None),
])
def test_verdict_reads_the_interval(low: float | None, high: float | None,
                                    expected: str | None) -> None:
    assert verdict(low, high) == expected


def test_paired_difference_matches_scipy_paired_t() -> None:
    a = {0: 0.90, 1: 0.92, 2: 0.94, 9: 0.99}  # seed 9 has no partner: left out
    b = {0: 0.85, 1: 0.88, 2: 0.89, 5: 0.10}
    r = paired_difference(a, b)
    d = np.array([0.05, 0.04, 0.05])
    half = sps.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert r.n == 3
    assert r.mean == pytest.approx(d.mean(), abs=1e-12)
    assert (r.low, r.high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert r.p_value == pytest.approx(sps.ttest_rel([.90, .92, .94], [.85, .88, .89]).pvalue,
                                      abs=1e-12)
    assert r.verdict == CONFIRMED and r.reason is None
    assert r.wilcoxon_p is None and "Wilcoxon skipped" in r.test and "0.25" in r.test


def test_paired_difference_refuted_and_inconclusive() -> None:
    assert paired_difference({0: .90, 1: .92, 2: .94}, {0: .95, 1: .96, 2: .99}).verdict == REFUTED
    assert paired_difference({0: .90, 1: .92, 2: .94},
                             {0: .93, 1: .90, 2: .95}).verdict == INCONCLUSIVE


def test_paired_difference_without_enough_pairs_says_why() -> None:
    one = paired_difference({0: 0.9, 1: 0.8}, {0: 0.7})
    assert (one.n, one.verdict, one.low, one.p_value) == (1, None, None, None)
    assert one.mean == pytest.approx(0.2)
    assert one.reason == "only 1 matching seed: a confidence interval needs at least 2"
    none = paired_difference({0: 0.9}, {1: 0.7})
    assert none.n == 0 and none.verdict is None and none.reason.startswith("no matching seeds")


def test_paired_difference_with_identical_differences() -> None:
    # sd = 0: zero-width interval, p is the limit of the t-test (0), verdict still defined
    r = paired_difference({0: 0.9, 1: 0.8}, {0: 0.8, 1: 0.7})
    assert (r.low, r.high) == pytest.approx((0.1, 0.1)) and r.p_value == 0.0
    assert r.verdict == CONFIRMED
    zero = paired_difference({0: 0.9, 1: 0.8}, {0: 0.9, 1: 0.8})
    assert (zero.mean, zero.p_value, zero.verdict) == (0.0, 1.0, INCONCLUSIVE)


def test_wilcoxon_is_reported_from_six_pairs() -> None:
    a = {s: 0.9 + 0.01 * s for s in range(6)}
    b = {s: 0.88 + 0.013 * s for s in range(6)}
    r = paired_difference(a, b)
    d = [a[s] - b[s] for s in range(6)]
    assert r.wilcoxon_p == pytest.approx(sps.wilcoxon(d).pvalue, abs=1e-12)
    assert r.test == "paired t-test, Wilcoxon signed-rank beside it"


def test_wilcoxon_needs_six_nonzero_differences() -> None:
    a = {s: 0.9 + 0.01 * s for s in range(7)}
    b = {s: a[s] - (0.0 if s < 2 else 0.01 * s) for s in range(7)}  # 2 zero differences
    r = paired_difference(a, b)
    assert r.wilcoxon_p is None
    assert r.test == ("paired t-test (Wilcoxon skipped: with 5 nonzero differences its "
                      "smallest p is 0.0625, never below 0.05)")
