"""The report's verdict on one paired comparison a vs b within its family: better, worse,
equivalent, or no verdict with its reason.

A verdict is one of `better`, `worse`, `equivalent` or `no verdict: <reasons>`, followed
by its evidence in parentheses; on synthetic data every verdict says so. A family is the
comparisons of one report section (the finding, robustness, streaming): the error rate is
controlled per section, not across sections. The rules, in order (alpha = 0.05; m = the
family's comparisons with a p-value; docs/statistics.md gives each its source):

1. Withheld, `no verdict: <reasons>`, listing every reason that applies: fewer than 5
   pairs; a paired trial without the `converged` metric (`convergence not recorded`); a
   paired trial with `converged` 0 (`unconverged trials`: its accuracy is not the
   configuration's).
2. `better` / `worse`: the family's Holm-adjusted p of the deciding test (paired t,
   corrected resampled t, or for zero-variance differences the sign-flip test) is below
   alpha and the 95% interval of the mean difference lies above / below 0. Power does not
   veto it: a significant sign is reliable unless power is very low (Gelman & Carlin
   2014), and power computed from the same data adds nothing to the p-value (Hoenig &
   Heisey 2001). When TOST also passes the line says the difference is within the margin.
3. `equivalent`: the TOST p (the larger one-sided p at ±margin), Holm-adjusted over the
   same family, is below alpha.
4. Otherwise `no verdict: underpowered` when the MDD at alpha / m (the strictest Holm
   step) exceeds the margin, else `no verdict: inconclusive`; both say about how many
   replicates would settle it (power 0.8 at alpha / m both to detect a difference of the
   margin and to show equivalence at a true difference of 0), or that no number would.

McNemar's per-seed tests, the sign-flip p and P(a > b) are reported beside the verdict and
change it only as rule 2 says (zero variance).

    from harness.report.verdicts import adjust, decide
    family = [paired_stats(d, margin=0.005) for d in diffs]
    [decide(s, a, trials=10).text for s, a in zip(family, adjust(family))]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.power import minimum_detectable, replicates_needed
from harness.report.stats import ALPHA, PairedStats, holm

BETTER, WORSE, EQUIVALENT, NO_VERDICT = "better", "worse", "equivalent", "no verdict"
MIN_PAIRS = 5
FEW_PAIRS = f"fewer than {MIN_PAIRS} pairs"
NOT_RECORDED = "convergence not recorded"
UNCONVERGED = "unconverged trials"
UNDERPOWERED = "underpowered"
INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    """A verdict word, the reasons when it is `no verdict`, and the evidence shown with it."""

    word: str                      # BETTER | WORSE | EQUIVALENT | NO_VERDICT
    reasons: tuple[str, ...] = ()  # only for NO_VERDICT: FEW_PAIRS, NOT_RECORDED, ...
    notes: tuple[str, ...] = ()    # the numbers behind it, then "synthetic data: ..."

    @property
    def head(self) -> str:
        """`better` or `no verdict: fewer than 5 pairs, unconverged trials`, without notes."""
        return f"{NO_VERDICT}: {', '.join(self.reasons)}" if self.word == NO_VERDICT \
            else self.word

    @property
    def text(self) -> str:
        """The verdict as printed: head, then the notes in parentheses."""
        return f"{self.head} ({'; '.join(self.notes)})" if self.notes else self.head


@dataclass(frozen=True)
class Adjusted:
    """A comparison's place in its family: its Holm-adjusted p-values and the family's size."""

    holm_p: float | None       # the deciding test's p, Holm over the family
    tost_holm_p: float | None  # the TOST p, Holm over the same family
    m: int                     # comparisons in the family with a p-value
    alpha: float = ALPHA

    @property
    def level(self) -> float:
        """alpha / m: the strictest Holm step, at which MDDs and plans are computed."""
        return self.alpha / max(self.m, 1)


def adjust(family: Sequence[PairedStats], alpha: float = ALPHA) -> list[Adjusted]:
    """Holm over the family's comparisons that have a p-value, for the difference and for
    TOST alike; withheld ones keep their place, so withholding one never eases another."""
    tested = [i for i, s in enumerate(family) if s.p_value is not None]
    diff = dict(zip(tested, holm([family[i].p_value for i in tested]), strict=True))
    tost = dict(zip(tested, holm([family[i].tost_p for i in tested]), strict=True))
    return [Adjusted(diff.get(i), tost.get(i), len(tested), alpha) for i in range(len(family))]


def family_mdd(s: PairedStats, adj: Adjusted) -> float | None:
    """The minimum detectable difference at alpha / m, power 0.8 (None below 2 pairs)."""
    return None if s.sd is None else minimum_detectable(s.sd, s.n, adj.level, s.ratio)


def to_settle(s: PairedStats, adj: Adjusted) -> tuple[int | None, int | None]:
    """Replicates for power 0.8 at alpha / m: (to detect a difference of the margin, to show
    equivalence at a true difference of 0), each None when no number is enough."""
    if s.sd is None:
        return None, None
    return tuple(replicates_needed(s.sd, s.margin, adj.level, s.ratio, aim=aim,  # type: ignore
                                   at_least=MIN_PAIRS) for aim in ("difference", "equivalence"))


def settle_note(s: PairedStats, adj: Adjusted) -> str:
    """`about 23 replicates would settle it (18 more)`, or why no number would."""
    need = to_settle(s, adj)
    if None in need:
        return ("no number of replicates would settle it at this margin: the corrected test's "
                f"standard error never falls below sd x {s.ratio ** 0.5:.2f}")
    n = max(need)  # type: ignore[type-var]
    return f"about {n} replicates would settle it ({max(n - s.n, 0)} more)"


def withheld(reason: str, *notes: str, synthetic: Sequence[str] = ()) -> Verdict:
    """`no verdict: <reason>`, for comparisons that never reach the statistics."""
    return Verdict(NO_VERDICT, (reason,), (*notes, *_synthetic(synthetic)))


def word(s: PairedStats, adj: Adjusted) -> str:
    """Rules 2 and 3 for a comparison with a p-value: BETTER, WORSE, EQUIVALENT, or NO_VERDICT
    (decide says which no verdict, and why). The calibration simulation runs this."""
    assert s.low is not None and s.high is not None
    assert adj.holm_p is not None and adj.tost_holm_p is not None
    if adj.holm_p < adj.alpha and (s.low > 0 or s.high < 0):
        return BETTER if s.low > 0 else WORSE
    return EQUIVALENT if adj.tost_holm_p < adj.alpha else NO_VERDICT


def decide(s: PairedStats, adj: Adjusted, *, trials: int = 0, unconverged: int = 0,
           unrecorded: int = 0, synthetic: Sequence[str] = ()) -> Verdict:
    """The verdict of the module docstring's rules.

    s: the pairs' statistics (s.margin is the equivalence margin); adj: its family's
    adjustment (`adjust`); trials: how many trials the pairs use (both sides);
    unconverged / unrecorded: how many of them have `converged` 0 / no `converged`
    metric; synthetic: the synthetic data sets among the trials' (harness.data.SYNTHETIC).
    """
    tail = _synthetic(synthetic)
    reasons, notes = [], []
    if s.n < MIN_PAIRS:
        reasons.append(FEW_PAIRS)
        notes += [f"{s.n} pair{'s' * (s.n != 1)}", *([settle_note(s, adj)] if s.n >= 2 else [])]
    if unrecorded:
        reasons.append(NOT_RECORDED)
        notes.append(f"{unrecorded} of {trials} trials logged without `converged`")
    if unconverged:
        reasons.append(UNCONVERGED)
        notes.append(f"{unconverged} of {trials} trials stopped at the epoch cap with valid "
                     "loss still falling or early while the LR still rose")
    if reasons:
        return Verdict(NO_VERDICT, tuple(reasons), (*notes, *tail))
    assert s.low is not None and s.high is not None and s.p_signflip is not None
    assert adj.holm_p is not None and adj.tost_holm_p is not None  # n >= MIN_PAIRS
    a = adj.alpha
    p = f"{s.test} Holm p {adj.holm_p:.3g} {'<' if adj.holm_p < a else '≥'} {a:g}"
    tost = (f"TOST Holm p {adj.tost_holm_p:.3g} {'<' if adj.tost_holm_p < a else '≥'} {a:g} "
            f"at margin ±{s.margin:g}")
    flip = (f"zero variance: the t statistic is undefined, the sign-flip p "
            f"{s.p_signflip:.3g} decides" if s.zero_variance
            else f"sign-flip p {s.p_signflip:.3g}")
    found = word(s, adj)
    if found in (BETTER, WORSE):
        within = [f"within the margin: {tost}"] if adj.tost_holm_p < a else []
        return Verdict(found, (), (p, flip, *within, *tail))
    if found == EQUIVALENT:
        return Verdict(EQUIVALENT, (), (tost, p, flip, *tail))
    mdd = family_mdd(s, adj)
    assert mdd is not None
    if mdd > s.margin:
        return Verdict(NO_VERDICT, (UNDERPOWERED,), (
            f"MDD {mdd:.4f} > margin {s.margin:g}", settle_note(s, adj), p, tost, flip, *tail))
    return Verdict(NO_VERDICT, (INCONCLUSIVE,), (
        p, tost, f"MDD {mdd:.4f} ≤ margin {s.margin:g}", settle_note(s, adj), flip, *tail))


def _synthetic(names: Sequence[str]) -> list[str]:
    return [f"synthetic data: {', '.join(sorted(names))}"] if names else []
