"""report.stats and report.verdicts: every number checked against statsmodels, scipy or
by hand; every verdict rule on constructed statistics and on constructed run tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from harness import report as rp
from harness.errors import HarnessError
from harness.frontends import FRONTENDS
from harness.report import finding
from harness.report.blocks import Paragraph
from harness.report.stats import (
    BOOTSTRAP_RESAMPLES,
    PairedStats,
    holm,
    mcnemar_test,
    mean_interval,
    minimum_detectable,
    paired_stats,
    probability_of_improvement,
    t_quantile,
)
from harness.report.verdicts import (
    BETTER,
    EQUIVALENT,
    FEW_PAIRS,
    INCONCLUSIVE,
    LOW_POWER,
    NO_VERDICT,
    NOT_RECORDED,
    UNCONVERGED,
    WORSE,
    decide,
    withheld,
)
from harness.tracking.runs import DEFAULT_MARGIN

A = np.array([0.90, 0.92, 0.94, 0.91, 0.93])
D = {  # paired differences a - b (accuracy), n = 5, margin 0.005
    "better": [0.05, 0.048, 0.051, 0.049, 0.052],            # sd 0.0016: MDD 0.0027
    "worse": [-0.05, -0.052, -0.049, -0.051, -0.048],        # sd 0.0016: MDD 0.0027
    "equivalent": [0.001, -0.001, 0.0, 0.002, -0.002],      # sd 0.0016: MDD 0.0027
    "inconclusive": [0.006, 0.0, 0.004, 0.0, 0.005],         # p 0.08, TOST p 0.09, MDD 0.0048
    "low_power": [0.01, -0.02, 0.03, -0.01, 0.0],            # sd 0.019: MDD 0.032
    "underpowered": [0.05, 0.04, 0.05, 0.03, 0.06],          # p 0.0008, but MDD 0.0192
}


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
    b = A - np.array(D["inconclusive"])
    d = A - b
    s = paired_stats(d, margin=0.005)
    half = sps.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert (s.n, s.margin) == (5, 0.005)
    assert (s.mean, s.sd) == pytest.approx((d.mean(), d.std(ddof=1)), abs=1e-12)
    assert (s.low, s.high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert s.p_value == pytest.approx(sps.ttest_rel(A, b).pvalue, abs=1e-12)
    assert s.tost_p == pytest.approx(ttost_paired(A, b, -0.005, 0.005)[0], abs=1e-12)
    effect = TTestPower().solve_power(nobs=5, alpha=0.05, power=0.8, alternative="two-sided")
    assert s.mdd == pytest.approx(effect * d.std(ddof=1), rel=1e-9)
    # the MDD is the difference a 5-pair design detects with power 0.8
    assert TTestPower().power(s.mdd / s.sd, 5, 0.05) == pytest.approx(0.8, abs=1e-6)
    assert (s.p_value > 0.05, s.tost_p > 0.05, s.mdd < 0.005) == (True, True, True)


def test_paired_stats_small_and_identical_differences() -> None:
    empty = paired_stats([], 0.005)
    assert empty.n == 0 and math.isnan(empty.mean) and empty.p_value is None
    one = paired_stats([0.02], 0.005)
    assert (one.n, one.mean, one.low, one.p_value, one.mdd, one.p_improve) == \
        (1, 0.02, None, None, None, 1.0)
    same = paired_stats([0.1, 0.1, 0.1], 0.005)  # sd 0: the tests' limits
    assert (same.low, same.high, same.p_value, same.tost_p, same.mdd) == \
        (pytest.approx(0.1), pytest.approx(0.1), 0.0, 1.0, 0.0)
    zero = paired_stats([0.0, 0.0, 0.0], 0.005)
    assert (zero.p_value, zero.tost_p, zero.p_improve) == (1.0, 0.0, 0.5)


def test_minimum_detectable_scales_with_the_sd() -> None:
    assert minimum_detectable(0.0, 5) == 0.0
    assert minimum_detectable(0.02, 10) == pytest.approx(2 * minimum_detectable(0.01, 10))
    assert minimum_detectable(0.01, 10) < minimum_detectable(0.01, 5)


def test_holm_matches_statsmodels_and_the_hand_computation() -> None:
    p = [0.01, 0.04, 0.03]
    # by hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; running max
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06], abs=1e-15)
    q = [0.2, 0.001, 0.013, 0.04, 0.5]
    assert holm(q) == pytest.approx(list(multipletests(q, method="holm")[1]), abs=1e-15)
    assert holm([]) == [] and holm([0.7]) == [0.7]


def test_probability_of_improvement_counts_ties_half() -> None:
    p, low, high = probability_of_improvement([0.01, 0.02, 0.0, -0.01, 0.03])
    assert p == pytest.approx(3.5 / 5)
    assert 0 <= low <= p <= high <= 1
    assert probability_of_improvement([0.01, 0.02, 0.0, -0.01, 0.03]) == (p, low, high)
    # the same percentile bootstrap over pairs, written out
    score = np.array([1, 1, 0.5, 0, 1])
    rng = np.random.default_rng(0)
    boot = score[rng.integers(0, 5, size=(BOOTSTRAP_RESAMPLES, 5))].mean(axis=1)
    assert (low, high) == tuple(np.percentile(boot, [2.5, 97.5]))
    assert probability_of_improvement([0.01] * 5) == (1.0, 1.0, 1.0)
    assert probability_of_improvement([-0.01, -0.02]) == (0.0, 0.0, 0.0)
    assert probability_of_improvement([0.01]) == (1.0, None, None)


def test_mcnemar_matches_statsmodels_on_the_clip_table() -> None:
    y = np.arange(40) % 4
    a, b = y.copy(), y.copy()
    a[[0, 1]] = 9          # a wrong on 2 clips, b right there
    b[[2, 3, 4, 5, 6, 7]] = 9  # b wrong on 6, a right there
    b[0] = 9               # both wrong on clip 0
    m = mcnemar_test(y, a, b)
    table = [[32, 6], [1, 1]]
    ref = mcnemar(table, exact=True)
    assert (m.clips, m.a_only, m.b_only, m.exact) == (40, 6, 1, True)
    assert (m.statistic, m.p_value) == (ref.statistic, pytest.approx(ref.pvalue, abs=1e-15))
    big = mcnemar_test(np.zeros(100), np.r_[np.zeros(30), np.ones(70)],
                       np.r_[np.ones(30), np.zeros(70)])   # 30 + 70 discordant: chi-square
    ref = mcnemar([[0, 30], [70, 0]], exact=False, correction=True)
    assert big.exact is False and big.p_value == pytest.approx(ref.pvalue, abs=1e-15)
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar_test([0, 1], [0], [0, 1])


def _stats(kind: str, margin: float = 0.005, n: int = 5) -> PairedStats:
    return paired_stats(D[kind][:n], margin)


@pytest.mark.parametrize(("kind", "word", "reasons"), [
    ("better", BETTER, ()), ("worse", WORSE, ()), ("equivalent", EQUIVALENT, ()),
    ("inconclusive", NO_VERDICT, (INCONCLUSIVE,)), ("low_power", NO_VERDICT, (LOW_POWER,)),
    ("underpowered", NO_VERDICT, (LOW_POWER,)),
])
def test_verdict_rules(kind: str, word: str, reasons: tuple[str, ...]) -> None:
    s = _stats(kind)
    v = decide(s, s.p_value, trials=10)
    assert (v.word, v.reasons) == (word, reasons)
    assert v.text.startswith(f"no verdict: {reasons[0]} (" if reasons else f"{word} (")
    for old in ("confirmed", "refuted"):
        assert old not in v.text


def test_holm_p_decides_a_difference_not_the_raw_p() -> None:
    s = _stats("better")
    assert s.p_value < 0.04 and s.mdd <= s.margin and s.tost_p >= 0.05
    assert decide(s, 0.04, trials=10).word == BETTER
    v = decide(s, 0.06, trials=10, alpha=0.05)  # raw p 2.4e-07, but Holm p not below alpha
    assert v.head == f"no verdict: {INCONCLUSIVE}"
    assert v.notes[0].startswith("Holm p 0.06 ≥ 0.05")


def test_a_significant_difference_is_withheld_when_the_mdd_exceeds_the_margin() -> None:
    s = _stats("underpowered")
    assert s.p_value < 0.05 and s.low > 0 and s.margin < s.mdd < s.mean
    v = decide(s, s.p_value, trials=10)
    assert (v.word, v.reasons) == (NO_VERDICT, (LOW_POWER,))
    assert v.notes[0] == ("MDD 0.0192 > margin 0.005: this design cannot tell a difference of "
                          "the margin's size from noise")
    assert v.notes[1] == f"Holm p {s.p_value:.3g} < 0.05" and v.notes[2].startswith("TOST p ")
    weak = paired_stats([0.01, 0.02, 0.0, 0.015, 0.005], 0.005)  # p 0.047, mean below MDD
    assert weak.p_value < 0.05 and weak.low > 0 and weak.mean < weak.mdd
    assert decide(weak, weak.p_value, trials=10).head == f"no verdict: {LOW_POWER}"
    wide = _stats("underpowered", margin=0.02)  # the same pairs, a margin the MDD is within
    v = decide(wide, wide.p_value, trials=10)
    assert v.word == BETTER and v.notes[1] == "MDD 0.0192 ≤ margin 0.02"
    assert not any(n.startswith("within the margin") for n in v.notes)  # TOST fails at 0.02


def test_a_difference_within_the_margin_says_so() -> None:
    s = paired_stats([0.001, 0.002, 0.001, 0.002, 0.0015], 0.005)
    v = decide(s, s.p_value, trials=10)
    assert v.word == BETTER and any(n.startswith("within the margin: TOST p") for n in v.notes)


def test_mdd_above_the_margin_withholds_equivalence_even_when_tost_passes() -> None:
    s = _stats("equivalent", margin=0.0025)  # MDD 0.0027 > 0.0025, TOST p 0.02
    assert s.tost_p < 0.05 < s.p_value and s.mdd > s.margin
    v = decide(s, s.p_value, trials=10)
    assert v.head == "no verdict: MDD exceeds margin"
    assert "cannot tell a difference of the margin's size from noise" in v.text
    assert decide(_stats("equivalent"), 1.0, trials=10).word == EQUIVALENT


def test_withheld_for_few_pairs_and_convergence() -> None:
    four = _stats("better", n=4)
    v = decide(four, four.p_value, trials=8)
    assert v.text == "no verdict: fewer than 5 pairs (4 pairs)"
    s = _stats("better")
    v = decide(s, s.p_value, trials=10, unconverged=1)
    assert v.head == f"no verdict: {UNCONVERGED}"
    assert "1 of 10 trials stopped at the epoch cap with valid loss still falling" in v.text
    v = decide(s, s.p_value, trials=10, unrecorded=10)
    assert v.head == "no verdict: convergence not recorded"
    v = decide(four, four.p_value, trials=8, unconverged=2, unrecorded=1)
    assert v.reasons == (FEW_PAIRS, NOT_RECORDED, UNCONVERGED)
    assert v.head == ("no verdict: fewer than 5 pairs, convergence not recorded, "
                      "unconverged trials")


def test_every_verdict_on_synthetic_data_says_so() -> None:
    for kind in D:
        s = _stats(kind)
        text = decide(s, s.p_value, trials=10, synthetic=["synth_commands"]).text
        assert text.endswith("; synthetic data: synth_commands)")
    assert decide(_stats("better", n=2), None, synthetic=["synth_commands"]).text == \
        "no verdict: fewer than 5 pairs (2 pairs; synthetic data: synth_commands)"
    assert withheld("no matching seeds", synthetic=["synth_commands"]).text == \
        "no verdict: no matching seeds (synthetic data: synth_commands)"


# verdicts on constructed run tables (harness.report on a hand-made Study, no MLflow)

def constructed(tmp_path: Path, rows: list[dict], margin: float = 0.005) -> rp.Study:
    """A Study from a hand-made run table (no MLflow store: no artifacts to find)."""
    base = {"model": "seed_cnn", "state": "COMPLETE", "best_valid_acc": 0.5, "converged": 1.0,
            "recipe": "as_ran", "data.dataset": "synth_commands", "data.root": "None",
            "data.split": "random"}
    df = pd.DataFrame([{**base, "run_id": f"r{i}", "data.split_seed": str(r["seed"]), **r}
                       for i, r in enumerate(rows)])
    df = df.assign(seed=df["seed"].astype(str), config=df["frontend"])
    return rp.Study("constructed", f"sqlite:///{tmp_path}/none.db", df, ["frontend", "model"],
                    margin)


def rows(fe: str, accs: list[float], **extra: object) -> list[dict]:
    return [{"frontend": fe, "seed": s, "test_acc": a, **extra} for s, a in enumerate(accs)]


def test_families_decide_the_comparisons(tmp_path: Path) -> None:
    study = constructed(tmp_path, [*rows("complex", [0.9] * 5), *rows("magnitude_phase", [0.9]),
                                   *rows("waveform", [0.8] * 5), *rows("mel", [0.85] * 5)])
    assert rp.family_pairs(study) == [("complex", "mel"), ("magnitude_phase", "mel")]


def test_withheld_on_constructed_run_tables(tmp_path: Path) -> None:
    a = list(A)
    b = list(np.subtract(a, D["better"]))

    def verdict(*runs: list[dict], margin: float = 0.005) -> str:
        study = constructed(tmp_path, [r for rs in runs for r in rs], margin)
        return finding.table(study)["verdict_text"].item()

    p = sps.ttest_rel(a, b).pvalue  # a family of one: Holm p = p
    assert verdict(rows("complex", a), rows("power", b)) == (
        f"better (Holm p {p:.3g} < 0.05; MDD 0.0027 ≤ margin 0.005; synthetic data: "
        "synth_commands)")
    worse = list(np.subtract(a, D["worse"]))
    p = sps.ttest_rel(a, worse).pvalue
    assert verdict(rows("complex", a), rows("power", worse)) == (
        f"worse (Holm p {p:.3g} < 0.05; MDD 0.0027 ≤ margin 0.005; synthetic data: "
        "synth_commands)")
    spread = list(np.subtract(a, D["underpowered"]))
    p = sps.ttest_rel(a, spread).pvalue
    assert p < 0.05 and verdict(rows("complex", a), rows("power", spread)).startswith(
        "no verdict: MDD exceeds margin (MDD 0.0192 > margin 0.005: this design cannot tell a "
        f"difference of the margin's size from noise; Holm p {p:.3g} < 0.05; TOST p ")
    assert verdict(rows("complex", a), rows("power", spread), margin=0.02) == (
        f"better (Holm p {p:.3g} < 0.05; MDD 0.0192 ≤ margin 0.02; synthetic data: "
        "synth_commands)")
    assert verdict(rows("complex", a[:4]), rows("power", b[:4])) == \
        "no verdict: fewer than 5 pairs (4 pairs; synthetic data: synth_commands)"
    assert verdict(rows("complex", a), rows("power", b, converged=math.nan))  == (
        "no verdict: convergence not recorded (5 of 10 trials logged without `converged`; "
        "synthetic data: synth_commands)")
    assert verdict(rows("complex", a), rows("power", [*b[:3], 0.0, *b[4:]], converged=0.0)
                   ).startswith("no verdict: unconverged trials (5 of 10 trials stopped")
    noisy = list(np.subtract(a, D["low_power"]))
    assert verdict(rows("complex", a), rows("power", noisy)).startswith(
        "no verdict: MDD exceeds margin (MDD 0.0324 > margin 0.005")
    assert verdict(rows("complex", a), rows("power", noisy), margin=0.035).startswith(
        "equivalent (TOST p ")  # a wider margin: MDD 0.0324 within it
    close = list(np.subtract(a, D["inconclusive"]))
    assert verdict(rows("complex", a), rows("power", close)).startswith(
        "no verdict: inconclusive (Holm p 0.0767 ≥ 0.05; TOST p 0.0945 ≥ 0.05 at margin ±0.005; "
        "MDD 0.0048 ≤ margin 0.005")
    pending = rows("power", b, state="RUNNING")
    assert verdict(rows("complex", a), pending) == (
        "no verdict: no complete `power` runs (5 pruned or failed) "
        "(synthetic data: synth_commands)")


def test_mcnemar_needs_one_test_set(tmp_path: Path) -> None:
    runs = [*rows("complex", [0.9] * 5), *rows("power", [0.8] * 5)]
    runs[5]["data.split_seed"] = "7"  # power seed 0 drew another random split
    judged = finding.judged(constructed(tmp_path, runs))
    notes = judged[0].mcnemar["note"].tolist()
    assert notes == ["different test sets (data or split differ)"] + \
        ["no test_predictions.csv"] * 4
    assert not (tmp_path / "none.db").exists()  # looking for artifacts created no store


def test_margin_tag_must_be_a_positive_number() -> None:
    assert rp.study_margin(pd.DataFrame({"tags.harness.margin": ["0.01"]}), "x") == 0.01
    assert rp.study_margin(pd.DataFrame({"tags.x": ["y"]}), "x") == DEFAULT_MARGIN
    with pytest.raises(HarnessError, match=r"harness\.margin"):
        rp.study_margin(pd.DataFrame({"tags.harness.margin": ["half a point"]}), "x")


def test_no_pair_names_the_complex_family_from_the_registry(tmp_path: Path) -> None:
    study = constructed(tmp_path, [*rows("power", [0.9] * 5), *rows("mel", [0.8] * 5)])
    assert rp.judge(study) == []
    text = " ".join(b.text for b in finding.blocks(study, pd.DataFrame(), [])
                    if isinstance(b, Paragraph))
    kept = [fe for fe in FRONTENDS.list() if FRONTENDS.info(fe).family == "complex"]
    assert "learned_stft" in kept  # a complex-family entry no list in the report names
    assert f"(phase kept: {', '.join(f'`{fe}`' for fe in kept)})" in text
