"""Pairing replicates and judging every complex-vs-magnitude comparison of one metric.

Every pair (a, b) of front-ends present in the study with a in the "complex" family and
b in the "magnitude" family (the registry's `harness.frontends.FRONTENDS.info(name).family`)
is one comparison. `compare` pairs a's and b's trials over replicates on one metric (a
column of `study.runs`: `test_acc`, a robustness condition's accuracy, a streaming rate);
`judge_all` gives a family of comparisons their Holm-adjusted p-values and verdicts
(harness.report.stats, harness.report.verdicts); `judge(study, metric)` is both for one
metric. The finding, robustness and streaming sections all judge through here.

    from harness.report.judging import judge
    [j.line for j in judge(study, "test_acc")]   # ["complex vs power: better (...)", ...]
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.frontends import FRONTENDS
from harness.report.runs import COMPLETE, Study, synthetic
from harness.report.stats import PairedStats, holm, paired_stats
from harness.report.verdicts import MIN_PAIRS, Verdict, decide, withheld

ACCURACY = "test_acc"
COMPLEX, MAGNITUDE = "complex", "magnitude"  # the registry families the finding compares
NO_PAIRS = ("no matching seeds: no seed (with the same other parameters) has a complete "
            "trial on both sides")
PAIR_COLUMNS = ["pair", "acc_a", "acc_b", "runs_a", "runs_b"]
MCNEMAR_COLUMNS = ["a", "b", "pair", "run_a", "run_b", "clips", "a_only", "b_only", "exact",
                   "statistic", "p_value", "note"]


@dataclass(frozen=True)
class Comparison:
    """a vs b on one metric, paired over replicates: the pairs, the trials they use, their
    statistics."""

    a: str
    b: str
    matched_on: str        # what a pair shares, in words
    pairs: pd.DataFrame    # pair (label), acc_a, acc_b (the metric's mean), runs_a, runs_b (ids)
    trials: pd.DataFrame   # the complete trials of both sides that the pairs use
    stats: PairedStats     # of acc_a - acc_b over the pairs
    reason: str = ""       # why there are no pairs at all, else ""
    metric: str = ACCURACY


@dataclass(frozen=True)
class Judged:
    """A comparison with its Holm-adjusted p, its verdict and (accuracy on one test set
    only) its per-pair McNemar tests."""

    comparison: Comparison
    holm_p: float | None
    verdict: Verdict
    mcnemar: pd.DataFrame = field(  # MCNEMAR_COLUMNS, one row per pair
        default_factory=lambda: pd.DataFrame(columns=MCNEMAR_COLUMNS))

    @property
    def line(self) -> str:
        """`a vs b: <verdict> (difference and CI, evidence)`, plain text for any reader."""
        s, c = self.comparison.stats, self.comparison
        lead = () if s.low is None else (  # a withheld verdict names n itself when few
            f"a − b = {s.mean:+.4f}, 95% CI [{s.low:+.4f}, {s.high:+.4f}]"
            + (f", {s.n} pairs" if s.n >= MIN_PAIRS else ""),)
        return f"{c.a} vs {c.b}: " + dataclasses.replace(
            self.verdict, notes=(*lead, *self.verdict.notes)).text


def family(name: str) -> str:
    """The front-end's registry family; "" for a name no longer registered."""
    try:
        return FRONTENDS.info(name).family
    except HarnessError:
        return ""


def family_members(kind: str) -> list[str]:
    """The registered front-ends of one family, sorted."""
    return [fe for fe in FRONTENDS.list() if family(fe) == kind]


def family_pairs(study: Study) -> list[tuple[str, str]]:
    """Every (complex-family, magnitude-family) pair of front-ends with runs in the study."""
    present = sorted(set(study.runs["frontend"]) - {""})
    fam = {fe: family(fe) for fe in present}
    return [(a, b) for a in present if fam[a] == COMPLEX
            for b in present if fam[b] == MAGNITUDE]


def compare(study: Study, a: str, b: str, metric: str = ACCURACY) -> Comparison:
    """Paired `metric` difference a - b over replicates, at the study's margin.

    Pairs match on the seed and every other configuration key; front-end options
    (`frontend.*`) only where both sides have them. Repeated trials of one key are
    averaged first. When tuned options (a sampled `max_lr`) leave fewer than 2 such
    pairs, each side's best configuration is compared over seeds instead, chosen on
    validation accuracy so that the test set plays no part in the choice.
    """
    sides = []
    for fe in (a, b):
        runs = study.runs[study.runs["frontend"] == fe]
        done = runs[(runs["state"] == COMPLETE) & runs[metric].notna()] if metric in runs \
            else runs.iloc[:0]
        if done.empty:
            why = (f"no `{fe}` runs in this experiment" if runs.empty else
                   f"no complete `{fe}` runs ({len(runs)} pruned or failed)")
            return Comparison(a, b, "", pd.DataFrame(columns=PAIR_COLUMNS), runs.iloc[:0],
                              paired_stats([], study.margin), why, metric)
        sides.append(done)
    keys = ["seed"] + [k for k in study.group_keys[1:] if not k.startswith("frontend.")
                       or all((~s[k].isin(["", "None"])).all() for s in sides)]
    pairs, used = _pair(sides, keys, metric)
    matched = ", ".join(keys)
    if len(pairs) < 2 and len(keys) > 1:
        best = [s[s["config"] == s.groupby("config")["best_valid_acc"].mean().idxmax()]
                for s in sides]
        tuned, tuned_used = _pair(best, ["seed"], metric)
        if len(tuned) >= 2:
            pairs, used = tuned, tuned_used
            matched = "seed; best configuration of each side by validation accuracy: " + \
                " vs ".join(s["config"].iloc[0] for s in best)
    d = (pairs["acc_a"] - pairs["acc_b"]).to_numpy(dtype=float)
    return Comparison(a, b, matched, pairs, used, paired_stats(d, study.margin),
                      "" if len(pairs) else NO_PAIRS, metric)


def _pair(sides: list[pd.DataFrame], keys: list[str], metric: str
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, the trials they use): the metric's mean and run ids per key, inner-joined."""
    agg = [s.groupby(keys, sort=False).agg(acc=(metric, "mean"),
                                           runs=("run_id", lambda x: tuple(sorted(x))))
           for s in sides]
    pairs = agg[0].reset_index().merge(agg[1].reset_index(), on=keys, suffixes=("_a", "_b"))
    pairs = pairs.assign(_o=pairs["seed"].map(lambda s: (len(s), s))).sort_values(
        ["_o", *keys[1:]]).drop(columns="_o")
    shown = ["seed", *(k for k in keys[1:] if pairs[k].nunique() > 1)]  # what tells pairs apart
    pairs.insert(0, "pair", pairs[shown].apply(
        lambda r: ", ".join(f"{k}={r[k]}" for k in shown), axis=1) if len(pairs) else [])
    ids = {i for col in ("runs_a", "runs_b") for t in pairs[col] for i in t}
    used = pd.concat(sides)
    used = used[used["run_id"].isin(ids)]
    return pairs[PAIR_COLUMNS].reset_index(drop=True), used


def judge_all(study: Study, comparisons: list[Comparison]) -> list[Judged]:
    """One family: Holm over the comparisons that have a p-value, then each one's verdict
    (withheld ones keep their place in the family), in the given order."""
    tested = [i for i, c in enumerate(comparisons) if c.stats.p_value is not None]
    adjusted = dict(zip(tested, holm([comparisons[i].stats.p_value for i in tested]),
                        strict=True))
    out = []
    for i, c in enumerate(comparisons):
        sides = study.runs[study.runs["frontend"].isin([c.a, c.b])]
        fake = synthetic(c.trials if len(c.trials) else sides)
        conv = converged(c.trials)
        v = withheld(c.reason, synthetic=fake) if c.reason else decide(
            c.stats, adjusted.get(i), trials=len(c.trials), unconverged=int((conv == 0).sum()),
            unrecorded=int(conv.isna().sum()), synthetic=fake)
        out.append(Judged(c, adjusted.get(i), v))
    return out


def judge(study: Study, metric: str = ACCURACY) -> list[Judged]:
    """Every family pair on `metric`, one Holm family, in family_pairs order."""
    return judge_all(study, [compare(study, a, b, metric) for a, b in family_pairs(study)])


def converged(trials: pd.DataFrame) -> pd.Series:
    """The trials' `converged` metric (1.0 / 0.0), NaN where not recorded."""
    return trials["converged"] if "converged" in trials else pd.Series(np.nan, trials.index)
