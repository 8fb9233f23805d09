"""The report's methods sentences, shared by every section that gives verdicts: which test
decides and why, and the section's error budget (docs/statistics.md has the rules).

    methods.tests(judged)              # "The paired t-test decides: ..."
    methods.budget([j.adjusted for j in judged], "the finding")   # "Error budget: ..."
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.report.judging import Judged
from harness.report.stats import ALPHA
from harness.report.verdicts import MIN_PAIRS, Adjusted


def tests(judged: Sequence[Judged]) -> str:
    """Which test decided these comparisons, and why that one."""
    designs = sorted({j.comparison.design for j in judged if j.comparison.stats.n},
                     key=lambda d: d.ratio)
    parts = []
    for d in designs:
        if d.ratio > 0:
            parts.append(f"On {d.why} replicates share clips, so a plain paired t-interval is "
                         "too narrow for any claim beyond this pool: the corrected resampled "
                         "t-test decides (variance s²·(1/n + n_test/n_train), Nadeau & Bengio "
                         "2003; Bouckaert & Frank 2004)")
        else:
            parts.append(f"On {d.why} the paired t-test decides (its claim is about this "
                         "split)")
    flip = (f"The exact sign-flip permutation p beside it (all 2^n sign patterns up to 16 "
            f"pairs, seeded Monte Carlo above) checks the normality the t-test assumes; it "
            f"cannot decide at {MIN_PAIRS} pairs (its floor is 2/2^{MIN_PAIRS} = "
            f"{2 / 2 ** MIN_PAIRS:.4f}), except for differences of zero variance, where the t "
            "statistic is undefined and the sign patterns are the only evidence.")
    return (("; ".join(parts) + ". ") if parts else "") + flip


def budget(family: Sequence[Adjusted], section: str) -> str:
    """The section's family (its comparisons' adjustments) and what its error rate covers."""
    m = max((a.m for a in family), default=0)
    return (f"Error budget: the {m} comparison(s) with a p-value in this section ({section}) "
            f"are one family, Holm-adjusted at {ALPHA:g} for differences and, separately, for "
            f"equivalence (TOST); MDDs and planned replicates use {ALPHA:g}/{max(m, 1)}, the "
            "strictest Holm step. The error rate is controlled per section, not across the "
            "report's sections.")
