"""The paired sign-flip permutation test: exact for small n, seeded Monte Carlo above.

Under H0 (the differences are symmetric about 0) every sign pattern of the n paired
differences is equally likely, so the p-value is the share of the 2^n patterns whose
statistic is at least as extreme as the observed one (Fisher 1935, *The Design of
Experiments*, ch. III section 21, on Darwin's paired plants; Good 2005, *Permutation,
Parametric and Bootstrap Tests of Hypotheses*, 3rd ed.). The statistic is the sum of the
differences (the same order as their mean). It needs no normality, which makes it the
report's check on the t-test's assumption, but its floor is 2 / 2^n: 0.0625 at n = 5, so it
can never reach 0.05 there.

    sign_flip_p([0.05] * 5)                       # 0.0625: all 32 patterns, 2 as extreme
    sign_flip_p(d, alternative="greater")         # one-sided, H1: mean d > 0

Up to EXACT_MAX_N differences every pattern is enumerated; above it MONTE_CARLO
patterns are drawn with NumPy's generator seeded SEED (so a report is reproducible) and
the p-value is (1 + as extreme) / (1 + drawn), which never reaches 0 (Phipson & Smyth 2010,
"Permutation p-values should never be zero").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

EXACT_MAX_N = 16        # 65,536 patterns
MONTE_CARLO = 20_000    # patterns drawn above EXACT_MAX_N
SEED = 0
TOLERANCE = 1e-12       # sums this close to the observed one count as equally extreme


def sign_flip_p(d: Sequence[float], alternative: str = "two-sided", *,
                resamples: int = MONTE_CARLO, seed: int = SEED) -> float:
    """P-value of the paired sign-flip test of H0: mean d = 0.

    alternative: "two-sided" (|sum| at least the observed |sum|), "greater" (sum at least
    the observed) or "less" (at most). NaN for no differences.
    """
    x = np.asarray(d, dtype=float)
    n = len(x)
    if n == 0:
        return float("nan")
    if n <= EXACT_MAX_N:
        sums = _patterns(n) @ x
        return float(np.mean(_extreme(sums, x.sum(), alternative)))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, n))
    hits = int(np.sum(_extreme(signs @ x, x.sum(), alternative)))
    return (1 + hits) / (1 + resamples)


@functools.cache
def _patterns(n: int) -> np.ndarray:
    """(2^n, n) float: every sign pattern once, the observed one (all +1) included."""
    bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
    return (1 - 2 * bits).astype(float)


def _extreme(sums: np.ndarray, observed: float, alternative: str) -> np.ndarray:
    if alternative == "two-sided":
        return np.abs(sums) >= abs(observed) - TOLERANCE
    if alternative == "greater":
        return sums >= observed - TOLERANCE
    if alternative == "less":
        return sums <= observed + TOLERANCE
    raise ValueError(f"alternative {alternative!r}: two-sided, greater or less")
