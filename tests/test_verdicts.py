"""report.verdicts and report.judging: every rule on known numbers, within families, and on
constructed run tables (a hand-made Study, no MLflow)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness import report as rp
from harness.errors import HarnessError
from harness.frontends import FRONTENDS
from harness.report import finding
from harness.report.blocks import Paragraph
from harness.report.power import minimum_detectable
from harness.report.stats import mean_interval, paired_stats
from harness.report.verdicts import (
    BETTER,
    EQUIVALENT,
    FEW_PAIRS,
    INCONCLUSIVE,
    NO_VERDICT,
    NOT_RECORDED,
    UNCONVERGED,
    UNDERPOWERED,
    WORSE,
    Adjusted,
    adjust,
    decide,
    family_mdd,
    withheld,
)
from harness.tracking.runs import DEFAULT_MARGIN

A = np.array([0.90, 0.92, 0.94, 0.91, 0.93])
BETTER_D = [0.04, 0.05, 0.03, 0.06, 0.045]           # the issue's: better at margin 0.005
EQUIVALENT_D = [0.004, -0.004, 0.003, -0.003, 0.0]    # the issue's: equivalent at 0.005


def alone(s: object) -> Adjusted:
    """The adjustment of a family of one."""
    return adjust([s])[0]  # type: ignore[list-item]


def test_a_clear_difference_is_better() -> None:
    s = paired_stats(BETTER_D, 0.005)
    v = decide(s, alone(s), trials=10)
    assert (v.word, v.reasons) == (BETTER, ())
    assert v.text == (f"better (paired t Holm p {s.p_value:.3g} < 0.05; sign-flip p 0.0625)")
    worse = paired_stats(-np.array(BETTER_D), 0.005)
    assert decide(worse, alone(worse), trials=10).word == WORSE


def test_small_differences_within_the_margin_are_equivalent() -> None:
    s = paired_stats(EQUIVALENT_D, 0.005)
    low, high = mean_interval(EQUIVALENT_D, confidence=0.90).low, \
        mean_interval(EQUIVALENT_D, confidence=0.90).high
    assert -0.005 < low < high < 0.005  # TOST at 0.05 = the 90% interval inside ±margin
    assert family_mdd(s, alone(s)) > 0.005  # the MDD no longer vetoes a shown equivalence
    v = decide(s, alone(s), trials=10)
    assert v.word == EQUIVALENT and v.notes[0] == (
        f"TOST Holm p {s.tost_p:.3g} < 0.05 at margin ±0.005")


def test_identical_differences_are_judged_by_their_signs() -> None:
    five = paired_stats([0.05] * 5, 0.005)
    v = decide(five, alone(five), trials=10)
    assert v.head == f"no verdict: {UNDERPOWERED}" and five.p_value == 0.0625
    assert v.notes[:2] == ("MDD inf > margin 0.005",
                           "about 6 replicates would settle it (1 more)")
    assert ("zero variance: the t statistic is undefined, the sign-flip p 0.0625 decides"
            in v.notes)
    ten = paired_stats([0.05] * 10, 0.005)
    assert decide(ten, alone(ten), trials=20).word == BETTER  # 2/1024 < 0.05


def test_an_underpowered_miss_says_what_would_settle_it() -> None:
    s = paired_stats([0.01, -0.02, 0.03, -0.01, 0.0], 0.005)  # sd 0.019
    v = decide(s, alone(s), trials=10)
    mdd = minimum_detectable(s.sd, 5, 0.05)
    assert v.head == f"no verdict: {UNDERPOWERED}"
    assert v.notes[0] == f"MDD {mdd:.4f} > margin 0.005"
    assert v.notes[1].startswith("about ") and v.notes[1].endswith(" more)")
    assert v.text.startswith(f"no verdict: underpowered (MDD {mdd:.4f} > margin 0.005; about ")


def test_inconclusive_when_the_design_had_the_power() -> None:
    s = paired_stats([0.006, 0.0, 0.004, 0.0, 0.005], 0.005)  # p 0.08, TOST p 0.09, MDD 0.0048
    v = decide(s, alone(s), trials=10)
    assert v.head == f"no verdict: {INCONCLUSIVE}"
    assert v.notes[:3] == (f"paired t Holm p {s.p_value:.3g} ≥ 0.05",
                           f"TOST Holm p {s.tost_p:.3g} ≥ 0.05 at margin ±0.005",
                           "MDD 0.0048 ≤ margin 0.005")


def test_a_family_adjusts_differences_and_equivalences_alike() -> None:
    """Holm over the family for both tests; the MDD at alpha / m."""
    family = [paired_stats(d, 0.005) for d in (BETTER_D, EQUIVALENT_D,
                                                [0.006, 0.0, 0.004, 0.0, 0.005])]
    adj = adjust(family)
    assert [a.m for a in adj] == [3, 3, 3] and adj[0].level == pytest.approx(0.05 / 3)
    tost = sorted(s.tost_p for s in family)
    assert adj[1].tost_holm_p == pytest.approx(3 * tost[0])  # the smallest TOST p times 3
    assert family_mdd(family[2], adj[2]) == pytest.approx(
        minimum_detectable(family[2].sd, 5, 0.05 / 3))
    # withheld comparisons (one pair) keep no p-value and do not count in m
    few = paired_stats([0.01], 0.005)
    assert adjust([few, family[0]])[1].m == 1 and adjust([few])[0].holm_p is None


def test_a_difference_within_the_margin_says_so() -> None:
    s = paired_stats([0.001, 0.002, 0.001, 0.002, 0.0015], 0.005)
    v = decide(s, alone(s), trials=10)
    assert v.word == BETTER and any(n.startswith("within the margin: TOST Holm p")
                                    for n in v.notes)


def test_withheld_for_few_pairs_and_convergence() -> None:
    four = paired_stats(BETTER_D[:4], 0.005)
    v = decide(four, alone(four), trials=8)
    assert v.head == f"no verdict: {FEW_PAIRS}" and v.notes[0] == "4 pairs"
    # sd 0.013 against a margin of 0.005: equivalence at a true 0 needs many more
    need = int(v.notes[1].split()[1])
    assert v.notes[1] == f"about {need} replicates would settle it ({need - 4} more)"
    s = paired_stats(BETTER_D, 0.005)
    v = decide(s, alone(s), trials=10, unconverged=1)
    assert v.head == f"no verdict: {UNCONVERGED}"
    assert "1 of 10 trials stopped at the epoch cap with valid loss still falling" in v.text
    assert decide(s, alone(s), trials=10, unrecorded=10).head == \
        "no verdict: convergence not recorded"
    v = decide(four, alone(four), trials=8, unconverged=2, unrecorded=1)
    assert v.reasons == (FEW_PAIRS, NOT_RECORDED, UNCONVERGED)
    one = paired_stats([0.01], 0.005)
    assert decide(one, alone(one)).text == "no verdict: fewer than 5 pairs (1 pair)"


def test_every_verdict_on_synthetic_data_says_so() -> None:
    for d in (BETTER_D, EQUIVALENT_D, [0.05] * 5, [0.01, -0.02, 0.03, -0.01, 0.0]):
        s = paired_stats(d, 0.005)
        text = decide(s, alone(s), trials=10, synthetic=["synth_commands"]).text
        assert text.endswith("; synthetic data: synth_commands)")
    assert withheld("no matching seeds", synthetic=["synth_commands"]).text == \
        "no verdict: no matching seeds (synthetic data: synth_commands)"


# verdicts on constructed run tables (harness.report on a hand-made Study, no MLflow)

def constructed(tmp_path: Path, rows: list[dict], margin: float = 0.005) -> rp.Study:
    """A Study from a hand-made run table (no MLflow store: no artifacts to find)."""
    base = {"model": "seed_cnn", "state": "COMPLETE", "best_valid_acc": 0.5, "converged": 1.0,
            "recipe": "as_ran", "data.dataset": "synth_commands", "data.root": "None",
            "data.split": "official", "data.split_seed": "0"}
    df = pd.DataFrame([{**base, "run_id": f"r{i}", **r} for i, r in enumerate(rows)])
    df = df.assign(seed=df["seed"].astype(str), config=df["frontend"])
    return rp.Study("constructed", f"sqlite:///{tmp_path}/none.db", df, ["frontend", "model"],
                    margin)


def rows(fe: str, accs: list[float], **extra: object) -> list[dict]:
    return [{"frontend": fe, "seed": s, "test_acc": a, **extra} for s, a in enumerate(accs)]


def test_families_decide_the_comparisons(tmp_path: Path) -> None:
    study = constructed(tmp_path, [*rows("complex", [0.9] * 5), *rows("magnitude_phase", [0.9]),
                                   *rows("waveform", [0.8] * 5), *rows("mel", [0.85] * 5)])
    assert rp.family_pairs(study) == [("complex", "mel"), ("magnitude_phase", "mel")]


def test_verdicts_on_constructed_run_tables(tmp_path: Path) -> None:
    a = list(A)
    b = list(np.subtract(a, BETTER_D))

    def verdict(*runs: list[dict], margin: float = 0.005) -> str:
        study = constructed(tmp_path, [r for rs in runs for r in rs], margin)
        return finding.table(study)["verdict_text"].item()

    p = sps.ttest_rel(a, b).pvalue  # a family of one: Holm p = p
    assert verdict(rows("complex", a), rows("power", b)) == (
        f"better (paired t Holm p {p:.3g} < 0.05; sign-flip p 0.0625; synthetic data: "
        "synth_commands)")
    assert verdict(rows("complex", a[:4]), rows("power", b[:4])).startswith(
        "no verdict: fewer than 5 pairs (4 pairs; about ")
    assert verdict(rows("complex", a), rows("power", b, converged=math.nan)) == (
        "no verdict: convergence not recorded (5 of 10 trials logged without `converged`; "
        "synthetic data: synth_commands)")
    assert verdict(rows("complex", a), rows("power", [*b[:3], 0.0, *b[4:]], converged=0.0)
                   ).startswith("no verdict: unconverged trials (5 of 10 trials stopped")
    pending = rows("power", b, state="RUNNING")
    assert verdict(rows("complex", a), pending) == (
        "no verdict: no complete `power` runs (5 pruned or failed) "
        "(synthetic data: synth_commands)")


def test_a_split_redrawn_per_replicate_gets_the_corrected_test(tmp_path: Path) -> None:
    a, b = list(A), list(np.subtract(A, BETTER_D))
    redrawn = [{**r, "data.split": "random", "data.split_seed": str(r["seed"])}
               for r in [*rows("complex", a), *rows("power", b)]]
    [row] = finding.table(constructed(tmp_path, redrawn)).to_dict("records")
    se = np.std(BETTER_D, ddof=1) * math.sqrt(1 / 5 + 1 / 3)
    assert (row["test"], row["test_train_ratio"]) == ("corrected resampled t",
                                                      pytest.approx(1 / 3))
    assert row["p_value"] == pytest.approx(2 * sps.t.sf(np.mean(BETTER_D) / se, 4))
    fixed = [{**r, "data.split": "random", "data.split_seed": "7"}
             for r in [*rows("complex", a), *rows("power", b)]]  # one split for every seed
    assert finding.table(constructed(tmp_path, fixed))["test"].item() == "paired t"
    folds = [{**r, "data.split": "speaker_folds", "data.split_seed": str(r["seed"]),
              "data.folds": "5"} for r in [*rows("complex", a), *rows("power", b)]]
    assert finding.table(constructed(tmp_path, folds))["test_train_ratio"].item() == \
        pytest.approx(1 / 3)
    with pytest.raises(HarnessError, match=r"the `data\.folds` param"):
        finding.table(constructed(tmp_path, [{k: v for k, v in r.items() if k != "data.folds"}
                                             for r in folds]))


def test_mcnemar_needs_one_test_set(tmp_path: Path) -> None:
    runs = [*rows("complex", [0.9] * 5), *rows("power", [0.8] * 5)]
    runs[5]["data.split_seed"] = "7"  # power seed 0 drew another split
    judged = finding.judged(constructed(tmp_path, runs))
    notes = judged[0].mcnemar["note"].tolist()
    assert notes == ["different test sets (data or split differ)"] + \
        ["no test_predictions.csv"] * 4
    assert not (tmp_path / "none.db").exists()  # looking for artifacts created no store


def test_margin_tags_must_be_positive_numbers() -> None:
    assert rp.study_margin(pd.DataFrame({"tags.harness.margin": ["0.01"]}), "x") == 0.01
    assert rp.study_margin(pd.DataFrame({"tags.x": ["y"]}), "x") == DEFAULT_MARGIN
    with pytest.raises(HarnessError, match=r"harness\.margin"):
        rp.study_margin(pd.DataFrame({"tags.harness.margin": ["half a point"]}), "x")
    assert rp.study_margin(pd.DataFrame({"tags.harness.detection_margin": ["0.03"]}), "x",
                           "detection_margin", 0.02) == 0.03


def test_no_pair_names_the_complex_family_from_the_registry(tmp_path: Path) -> None:
    study = constructed(tmp_path, [*rows("power", [0.9] * 5), *rows("mel", [0.8] * 5)])
    assert rp.judge(study) == []
    text = " ".join(b.text for b in finding.blocks(study, pd.DataFrame(), [])
                    if isinstance(b, Paragraph))
    kept = [fe for fe in FRONTENDS.list() if FRONTENDS.info(fe).family == "complex"]
    assert "learned_stft" in kept  # a complex-family entry no list in the report names
    assert f"(phase kept: {', '.join(f'`{fe}`' for fe in kept)})" in text


def test_no_verdict_word_is_left_over(tmp_path: Path) -> None:
    assert NO_VERDICT == "no verdict"
    for old in ("MDD exceeds margin", "confirmed", "refuted"):
        for d in (BETTER_D, EQUIVALENT_D, [0.01, -0.02, 0.03, -0.01, 0.0]):
            s = paired_stats(d, 0.005)
            assert old not in decide(s, alone(s), trials=10).text
