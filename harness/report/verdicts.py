"""The report's verdict on one paired comparison a vs b: better, worse, equivalent, or none.

A verdict is one of `better`, `worse`, `equivalent` or `no verdict: <reasons>`,
followed by its evidence in parentheses; on synthetic data every verdict says so,
"better (Holm p 0.0012; synthetic data: synth_commands)". The rules, in order
(alpha = 0.05, differences d = a - b in accuracy over paired replicates):

1. Withheld, `no verdict: <reasons>` listing every reason that applies:
   - `fewer than 5 pairs`: under 5 paired replicates (seeds);
   - `convergence not recorded`: a trial of either side in the pairs has no
     `converged` metric (logged before the harness recorded it);
   - `unconverged trials`: a trial in the pairs has `converged` 0
     (`harness.training.recipes.converged`: stopped at the epoch cap with its valid loss still
     falling, or early while a one-cycle LR still rose), so its accuracy is not the
     configuration's.
2. `no verdict: MDD exceeds margin`: the smallest true difference the design
   detects with power 0.8 (paired t, alpha 0.05) is larger than the margin. The
   design then cannot tell a difference of the margin's size from noise: "no
   difference" would say nothing, "equivalent" could not be shown, and a
   significant difference from an underpowered design overstates the effect on
   average (the winner's curse), so no verdict at all is the honest answer. The
   Holm p, TOST p and MDD are shown; a researcher who needs a verdict adds
   replicates or declares the margin the question needs (`[report] margin`).
3. `better` / `worse`: the Holm-adjusted paired t-test p < 0.05 and the 95%
   t-interval of the mean difference lies above / below 0. The Holm family is
   every comparison of the report that has a p-value (at least 2 pairs), withheld
   ones included, so withholding one never makes another easier to pass. The line
   notes when the difference is within the margin too (TOST p < 0.05 as well):
   real but smaller than the margin.
4. `equivalent`: TOST p < 0.05 at the margin (|mean d| < margin shown), unadjusted.
5. Otherwise `no verdict: inconclusive`: neither a difference nor equivalence shown.

The TOST p is not adjusted for the family; the verdicts are read per comparison
for equivalence, with the family-wise error controlled for the claims of a
difference. McNemar's per-seed tests and P(a > b) are reported beside the verdict
and do not change it: McNemar conditions on one trained model per side (it
ignores training variance), and P(a > b) describes how often a wins, not by how
much.

    from harness.report.verdicts import decide
    decide(paired_stats(d, margin=0.005), holm_p=0.01, trials=10).text   # "better (...)"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.stats import ALPHA, PairedStats

BETTER, WORSE, EQUIVALENT, NO_VERDICT = "better", "worse", "equivalent", "no verdict"
MIN_PAIRS = 5
FEW_PAIRS = f"fewer than {MIN_PAIRS} pairs"
NOT_RECORDED = "convergence not recorded"
UNCONVERGED = "unconverged trials"
LOW_POWER = "MDD exceeds margin"
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


def withheld(reason: str, *notes: str, synthetic: Sequence[str] = ()) -> Verdict:
    """`no verdict: <reason>`, for comparisons that never reach the statistics."""
    return Verdict(NO_VERDICT, (reason,), (*notes, *_synthetic(synthetic)))


def decide(s: PairedStats, holm_p: float | None, *, trials: int = 0, unconverged: int = 0,
           unrecorded: int = 0, synthetic: Sequence[str] = (), alpha: float = ALPHA
           ) -> Verdict:
    """The verdict of the module docstring's rules.

    s: the pairs' statistics (s.margin is the equivalence margin, accuracy units);
    holm_p: the Holm-adjusted p of s.p_value within the report's family;
    trials: how many trials the pairs use (both sides); unconverged / unrecorded:
    how many of them have `converged` 0 / no `converged` metric; synthetic: the
    synthetic data sets among the trials' (harness.data.SYNTHETIC).
    """
    tail = _synthetic(synthetic)
    reasons, notes = [], []
    if s.n < MIN_PAIRS:
        reasons.append(FEW_PAIRS)
        notes.append(f"{s.n} pair{'s' * (s.n != 1)}")
    if unrecorded:
        reasons.append(NOT_RECORDED)
        notes.append(f"{unrecorded} of {trials} trials logged without `converged`")
    if unconverged:
        reasons.append(UNCONVERGED)
        notes.append(f"{unconverged} of {trials} trials stopped at the epoch cap with valid "
                     "loss still falling or early while the LR still rose")
    if reasons:
        return Verdict(NO_VERDICT, tuple(reasons), (*notes, *tail))
    assert s.low is not None and s.high is not None and s.mdd is not None  # n >= MIN_PAIRS
    assert holm_p is not None and s.tost_p is not None
    p = f"Holm p {holm_p:.3g} {'<' if holm_p < alpha else '≥'} {alpha:g}"
    tost = f"TOST p {s.tost_p:.3g} {'<' if s.tost_p < alpha else '≥'} {alpha:g} at margin " \
           f"±{s.margin:g}"
    mdd = f"MDD {s.mdd:.4f} {'>' if s.mdd > s.margin else '≤'} margin {s.margin:g}"
    if s.mdd > s.margin:
        return Verdict(NO_VERDICT, (LOW_POWER,), (
            f"{mdd}: this design cannot tell a difference of the margin's size from noise",
            p, tost, *tail))
    if holm_p < alpha and (s.low > 0 or s.high < 0):
        notes = [p, mdd]
        if s.tost_p < alpha:
            notes.append(f"within the margin: {tost}")
        return Verdict(BETTER if s.low > 0 else WORSE, (), (*notes, *tail))
    if s.tost_p < alpha:
        return Verdict(EQUIVALENT, (), (tost, mdd, *tail))
    return Verdict(NO_VERDICT, (INCONCLUSIVE,), (p, tost, mdd, *tail))


def _synthetic(names: Sequence[str]) -> list[str]:
    return [f"synthetic data: {', '.join(sorted(names))}"] if names else []
