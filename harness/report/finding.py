"""The finding: does complex STFT input (phase kept) beat magnitude input (phase discarded)?

Every pair (a, b) of front-ends present in the study with a in the "complex" family
and b in the "magnitude" family (`harness.frontends.FRONTENDS.info(name).family`)
is one comparison; together they are the Holm family. Each compares test accuracy
a - b paired over replicates (harness.report.stats) and gets a verdict by the rules of
harness.report.verdicts; McNemar's test per pair runs on the trials' `test_predictions.csv`
where both share a test set.

    from harness import report
    study = report.load("quick", "sqlite:///runs/mlflow.db")
    report.verdict_lines(study)   # ["complex vs power: better (...)", ...]
    report.finding(study)         # one row per comparison, every number (finding.csv)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.frontends import FRONTENDS
from harness.report.runs import COMPLETE, Study, predictions, synthetic
from harness.report.stats import ALPHA, PairedStats, holm, mcnemar_test, paired_stats
from harness.report.verdicts import MIN_PAIRS, Verdict, decide, withheld

# The reference study: same CNN, random 60/20/20 split of Speech Commands v0.01, one run each.
# complex: the post and the book; power and mel: the book chapter only (docs/replication.md).
STUDY = {"power": 0.8898, "mel": 0.8555, "complex": 0.9324}
SPLIT_KEYS = ("data.dataset", "data.root", "data.split", "data.split_seed")  # one test set
NO_PAIRS = ("no matching seeds: no seed (with the same other parameters) has a complete "
            "trial on both sides")
PAIR_COLUMNS = ["pair", "acc_a", "acc_b", "runs_a", "runs_b"]
MCNEMAR_COLUMNS = ["a", "b", "pair", "run_a", "run_b", "clips", "a_only", "b_only", "exact",
                   "statistic", "p_value", "note"]


@dataclass(frozen=True)
class Comparison:
    """a vs b paired over replicates: the pairs, the trials they use, their statistics."""

    a: str
    b: str
    matched_on: str        # what a pair shares, in words
    pairs: pd.DataFrame    # pair (label), acc_a, acc_b (mean test_acc), runs_a, runs_b (ids)
    trials: pd.DataFrame   # the complete trials of both sides that the pairs use
    stats: PairedStats     # of acc_a - acc_b over the pairs
    reason: str = ""       # why there are no pairs at all, else ""


@dataclass(frozen=True)
class Judged:
    """A comparison with its Holm-adjusted p, its verdict and its per-pair McNemar tests."""

    comparison: Comparison
    holm_p: float | None
    verdict: Verdict
    mcnemar: pd.DataFrame  # MCNEMAR_COLUMNS, one row per pair

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


def family_pairs(study: Study) -> list[tuple[str, str]]:
    """Every (complex-family, magnitude-family) pair of front-ends with runs in the study."""
    present = sorted(set(study.runs["frontend"]) - {""})
    fam = {fe: family(fe) for fe in present}
    return [(a, b) for a in present if fam[a] == "complex"
            for b in present if fam[b] == "magnitude"]


def compare(study: Study, a: str, b: str) -> Comparison:
    """Paired test_acc difference a - b over replicates, at the study's margin.

    Pairs match on the seed and every other configuration key; front-end options
    (`frontend.*`) only where both sides have them. Repeated trials of one key are
    averaged first. When tuned options (a sampled `max_lr`) leave fewer than 2 such
    pairs, each side's best configuration is compared over seeds instead, chosen on
    validation accuracy so that the test set plays no part in the choice.
    """
    sides = []
    for fe in (a, b):
        runs = study.runs[study.runs["frontend"] == fe]
        done = runs[(runs["state"] == COMPLETE) & runs["test_acc"].notna()]
        if done.empty:
            why = (f"no `{fe}` runs in this experiment" if runs.empty else
                   f"no complete `{fe}` runs ({len(runs)} pruned or failed)")
            return Comparison(a, b, "", pd.DataFrame(columns=PAIR_COLUMNS), runs.iloc[:0],
                              paired_stats([], study.margin), why)
        sides.append(done)
    keys = ["seed"] + [k for k in study.group_keys[1:] if not k.startswith("frontend.")
                       or all((~s[k].isin(["", "None"])).all() for s in sides)]
    pairs, used = _pair(sides, keys)
    matched = ", ".join(keys)
    if len(pairs) < 2 and len(keys) > 1:
        best = [s[s["config"] == s.groupby("config")["best_valid_acc"].mean().idxmax()]
                for s in sides]
        tuned, tuned_used = _pair(best, ["seed"])
        if len(tuned) >= 2:
            pairs, used = tuned, tuned_used
            matched = "seed; best configuration of each side by validation accuracy: " + \
                " vs ".join(s["config"].iloc[0] for s in best)
    d = (pairs["acc_a"] - pairs["acc_b"]).to_numpy(dtype=float)
    return Comparison(a, b, matched, pairs, used, paired_stats(d, study.margin),
                      "" if len(pairs) else NO_PAIRS)


def _pair(sides: list[pd.DataFrame], keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, the trials they use): mean test_acc and run ids per key, inner-joined."""
    agg = [s.groupby(keys, sort=False).agg(acc=("test_acc", "mean"),
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


def mcnemar_pairs(study: Study, c: Comparison,
                  cache: dict[str, pd.DataFrame | None] | None = None) -> pd.DataFrame:
    """McNemar's test for each pair whose two trials share a test set (SPLIT_KEYS equal,
    labels equal clip by clip); `note` says why a pair could not be tested."""
    cache = {} if cache is None else cache
    by_id = c.trials.set_index("run_id")
    rows = []
    for p in c.pairs.itertuples():
        row = {"a": c.a, "b": c.b, "pair": p.pair, "run_a": ";".join(p.runs_a),
               "run_b": ";".join(p.runs_b), "note": ""}
        if len(p.runs_a) != 1 or len(p.runs_b) != 1:
            rows.append({**row, "note": "repeated trials of this pair"})
            continue
        ra, rb = by_id.loc[p.runs_a[0]], by_id.loc[p.runs_b[0]]
        if [_text(ra.get(k)) for k in SPLIT_KEYS] != [_text(rb.get(k)) for k in SPLIT_KEYS]:
            rows.append({**row, "note": "different test sets (data or split differ)"})
            continue
        for rid in (p.runs_a[0], p.runs_b[0]):
            if rid not in cache:
                cache[rid] = predictions(study, rid)
        pa, pb = cache[p.runs_a[0]], cache[p.runs_b[0]]
        if pa is None or pb is None:
            rows.append({**row, "note": "no test_predictions.csv"})
        elif len(pa) != len(pb) or not np.array_equal(pa["label"], pb["label"]):
            rows.append({**row, "note": "different test sets (labels differ clip by clip)"})
        else:
            m = mcnemar_test(pa["label"], pa["pred"], pb["pred"])
            rows.append({**row, **dataclasses.asdict(m)})
    return pd.DataFrame(rows, columns=MCNEMAR_COLUMNS)


def mcnemar_summary(m: pd.DataFrame, a: str) -> tuple[int, int, str]:
    """(pairs tested, pairs with p < 0.05, in words); unadjusted, one test per pair."""
    tested = m[m["p_value"].notna()]
    sig = tested[tested["p_value"] < ALPHA]
    if tested.empty:
        notes = sorted(set(m["note"]))
        return 0, 0, "not testable" + (f": {'; '.join(notes)}" if notes else "")
    wins = int((sig["a_only"] > sig["b_only"]).sum())
    return len(tested), len(sig), (f"{len(sig)} of {len(tested)} pairs p < {ALPHA:g} "
                                   f"({wins} favour `{a}`)")


def judge(study: Study) -> list[Judged]:
    """Every comparison of the family with its Holm p (over those with a p-value), verdict
    and McNemar tests, in family_pairs order."""
    comps = [compare(study, a, b) for a, b in family_pairs(study)]
    tested = [i for i, c in enumerate(comps) if c.stats.p_value is not None]
    adjusted = dict(zip(tested, holm([comps[i].stats.p_value for i in tested]), strict=True))
    cache: dict[str, pd.DataFrame | None] = {}
    out = []
    for i, c in enumerate(comps):
        sides = study.runs[study.runs["frontend"].isin([c.a, c.b])]
        fake = synthetic(c.trials if len(c.trials) else sides)
        conv = _converged(c.trials)
        v = withheld(c.reason, synthetic=fake) if c.reason else decide(
            c.stats, adjusted.get(i), trials=len(c.trials), unconverged=int((conv == 0).sum()),
            unrecorded=int(conv.isna().sum()), synthetic=fake)
        out.append(Judged(c, adjusted.get(i), v, mcnemar_pairs(study, c, cache)))
    return out


def verdict_lines(study: Study) -> list[str]:
    """One plain-text line per comparison, as the report prints them (for a run description)."""
    return [j.line for j in judge(study)]


def finding_table(judged: list[Judged]) -> pd.DataFrame:
    """One row per comparison with every number (finding.csv); accuracies as fractions."""
    rows = []
    for j in judged:
        c, s = j.comparison, j.comparison.stats
        tested, significant, words = mcnemar_summary(j.mcnemar, c.a)
        conv = _converged(c.trials)
        rows.append({
            "a": c.a, "b": c.b, "pairs": s.n, "matched_on": c.matched_on, "mean_diff": s.mean,
            "ci_low": s.low, "ci_high": s.high, "p_value": s.p_value, "p_holm": j.holm_p,
            "tost_p": s.tost_p, "margin": s.margin, "mdd": s.mdd, "p_improve": s.p_improve,
            "p_improve_low": s.p_improve_low, "p_improve_high": s.p_improve_high,
            "mcnemar_tested": tested, "mcnemar_significant": significant, "mcnemar": words,
            "trials": len(c.trials), "unconverged": int((conv == 0).sum()),
            "unrecorded": int(conv.isna().sum()), "verdict": j.verdict.word,
            "reasons": ", ".join(j.verdict.reasons), "verdict_text": j.verdict.text,
            "study_diff": STUDY[c.a] - STUDY[c.b] if c.a in STUDY and c.b in STUDY else None})
    columns = ["a", "b", "pairs", "matched_on", "mean_diff", "ci_low", "ci_high", "p_value",
               "p_holm", "tost_p", "margin", "mdd", "p_improve", "p_improve_low",
               "p_improve_high", "mcnemar_tested", "mcnemar_significant", "mcnemar", "trials",
               "unconverged", "unrecorded", "verdict", "reasons", "verdict_text", "study_diff"]
    return pd.DataFrame(rows, columns=columns)


def finding(study: Study) -> pd.DataFrame:
    """finding_table(judge(study))."""
    return finding_table(judge(study))


def _converged(trials: pd.DataFrame) -> pd.Series:
    """The trials' `converged` metric (1.0 / 0.0), NaN where not recorded."""
    return trials["converged"] if "converged" in trials else pd.Series(np.nan, trials.index)


def _text(v: object) -> str:
    """A param as text, "" for missing (NaN, None): MLflow params are strings."""
    return "" if v is None or pd.isna(v) else str(v)
