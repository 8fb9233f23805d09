"""Data efficiency in the report: test accuracy against the training-set size per front-end,
and a verdict per size.

    from harness.report import data_efficiency as de
    de.fractions(study)   # [0.1, 0.25, 0.5, 1.0]: the train_fraction values of complete trials
    de.table(study)       # one row per curve (front-end, other varying keys) and size
    de.judged(study)      # [(fraction, Judged)]: every (complex, magnitude) pair at each size
    de.blocks(study)      # the section; [] unless the trials ran more than one train_fraction

The trials of a study sweeping `data.train_fraction` (harness.data.speakers.fraction_rows:
each speaker keeps that share of its training clips, and for one seed the smaller sets are
nested in the larger ones) log `train_clips`, the learning curve's x. At each size every
(complex, magnitude) pair is compared as the finding compares it (harness.report.judging:
pairs over seeds, matched on the other searched keys; the trials' design picks the test),
and all sizes' comparisons are one family (harness.report.verdicts), so the section's error
rate covers every size at once.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harness.plotting import colors_for
from harness.report import figures, methods
from harness.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table
from harness.report.cells import ci_text, num
from harness.report.judging import Judged, compare, family_pairs, judge_all
from harness.report.runs import COMPLETE, Study, synthetic
from harness.report.stats import mean_interval

FRACTION = "data.train_fraction"  # harness.data.spec.DataSpec.train_fraction, as a trial param
COLUMNS = ["curve", "frontend", "fraction", "n", "train_clips", "mean", "ci_low", "ci_high",
           "values"]


def fractions(study: Study) -> list[float]:
    """The train_fraction values of the complete trials, ascending ([] before the key)."""
    if FRACTION not in study.runs:
        return []
    done = study.runs[study.runs["state"] == COMPLETE]
    return sorted({float(v) for v in done[FRACTION] if str(v) not in ("", "nan", "None")})


def at(study: Study, fraction: float) -> Study:
    """The study's trials at one train_fraction."""
    keep = pd.to_numeric(study.runs[FRACTION], errors="coerce") == fraction
    return dataclasses.replace(study, runs=study.runs[keep])


def curves(study: Study) -> pd.Series:
    """Each trial's curve: its front-end and the other keys that vary, never the fraction."""
    runs = study.runs
    keys = [k for k in study.group_keys[1:] if k not in (FRACTION, "data.split_seed")
            and runs[k].nunique() > 1]
    return runs["frontend"].str.cat([runs[k] if k == "model" else k + "=" + runs[k]
                                     for k in keys], sep=" · ")


def table(study: Study) -> pd.DataFrame:
    """COLUMNS: per curve and size, the complete trials' mean test accuracy with its 95%
    t-interval over seeds, how many there are, their mean training clips and each value."""
    done = study.runs.assign(curve=curves(study))
    done = done[(done["state"] == COMPLETE) & done["test_acc"].notna()]
    rows = []
    for fraction in fractions(study):
        here = done[pd.to_numeric(done[FRACTION], errors="coerce") == fraction]
        for curve, g in here.groupby("curve", sort=True):
            ci = mean_interval(g["test_acc"])
            rows.append({"curve": curve, "frontend": g["frontend"].iloc[0],
                         "fraction": fraction, "n": ci.n,
                         "train_clips": g["train_clips"].mean(), "mean": ci.mean,
                         "ci_low": ci.low, "ci_high": ci.high,
                         "values": tuple(g["test_acc"].tolist())})
    return pd.DataFrame(rows, columns=COLUMNS)


def judged(study: Study) -> list[tuple[float, Judged]]:
    """Every (complex, magnitude) pair at every size, one family, by size then pair."""
    sized = [(f, compare(at(study, f), a, b)) for f in fractions(study)
             for a, b in family_pairs(at(study, f))]
    verdicts = judge_all(study, [c for _, c in sized])
    return [(f, j) for (f, _), j in zip(sized, verdicts, strict=True)]


def answer(verdicts: list[tuple[float, Judged]]) -> list[str]:
    """Per pair, in words: its verdict at each size, smallest first."""
    lines = []
    for a, b in dict.fromkeys((j.comparison.a, j.comparison.b) for _, j in verdicts):
        sizes = [f"{f:g}: **{j.verdict.head}**" for f, j in verdicts
                 if (j.comparison.a, j.comparison.b) == (a, b)]
        lines.append(f"`{a}` vs `{b}` by train_fraction: " + "; ".join(sizes) + ".")
    return lines


def blocks(study: Study) -> list[Block]:
    """The section: the learning curves (table and figure), then the verdict per size."""
    if len(fractions(study)) < 2:
        return []
    points = table(study)
    colors = colors_for(list(dict.fromkeys(points["curve"])))
    shown = pd.DataFrame({
        "curve": points["curve"], "train_fraction": points["fraction"].map(lambda f: f"{f:g}"),
        "training clips": points["train_clips"].map(lambda x: num(x, ".0f")),
        "n": points["n"], "mean acc": points["mean"].map(num),
        "95% CI": [ci_text(lo, hi) for lo, hi in zip(points["ci_low"], points["ci_high"],
                                                      strict=True)]})
    out: list[Block] = [
        Heading("Data efficiency: accuracy against training-set size"),
        Paragraph("Each trial trained on `train_fraction` of its split's training clips, drawn "
                  "per speaker (every speaker keeps that share of its clips, spread over its "
                  "words) and nested: for one seed, a smaller set's clips are all in every "
                  "larger one (harness.data.speakers.fraction_rows). Validation and test "
                  "clips are the split's, whatever the fraction. The epoch count is the "
                  "study's at every size, so a smaller set also takes fewer steps. Mean test "
                  "accuracy and 95% t-interval over seeds."),
        Table(shown, "data_efficiency.csv", points.drop(columns="values"))]
    plotted = points.dropna(subset=["train_clips"])
    if len(plotted):
        out.append(Figure("learning_curve", figures.learning_curve(plotted, colors),
                          "test accuracy against training clips, per front-end"))
    verdicts = judged(study)
    out.append(Heading("Does the answer depend on how much data there is?"))
    if not verdicts:
        return [*out, Paragraph("No pair of a complex-family and a magnitude-family front-end "
                                "here: nothing to compare.")]
    rows = pd.DataFrame([{"a": j.comparison.a, "b": j.comparison.b, "train_fraction": f,
                          "pairs": j.comparison.stats.n, "matched_on": j.comparison.matched_on,
                          "mean_diff": j.comparison.stats.mean, "ci_low": j.comparison.stats.low,
                          "ci_high": j.comparison.stats.high, "p_holm": j.holm_p,
                          "tost_holm": j.adjusted.tost_holm_p, "verdict": j.verdict.word,
                          "verdict_text": j.line} for f, j in verdicts])
    shown = pd.DataFrame({
        "comparison": [f"`{a}` − `{b}`" for a, b in zip(rows["a"], rows["b"], strict=True)],
        "train_fraction": rows["train_fraction"].map(lambda f: f"{f:g}"),
        "pairs": rows["pairs"],
        "mean difference": rows["mean_diff"].map(lambda x: num(x, "+.4f")),
        "95% CI": [ci_text(lo, hi, "+.4f") for lo, hi in zip(rows["ci_low"], rows["ci_high"],
                                                             strict=True)],
        "Holm p": rows["p_holm"].map(lambda x: num(x, ".3g")),
        "verdict": [f"**{j.verdict.head}**" for _, j in verdicts]})
    judged_only = [j for _, j in verdicts]
    fake = synthetic(study.runs)
    return [*out,
            Paragraph("At each size, each pair's paired difference (complex side minus "
                      "magnitude side, over seeds, matched on the other searched keys) gets a "
                      "verdict by the finding's rules (harness.report.verdicts). The finding "
                      "above pools the sizes; this section judges each. On speaker folds the "
                      "correction's n_test/n_train is the folds' at the full size: subsets "
                      "drawn from overlapping training folds overlap less than the folds do. "
                      + methods.tests(judged_only) + " "
                      + methods.budget([j.adjusted for j in judged_only],
                                       "data efficiency: every pair at every size")),
            Bullets(answer(verdicts) + ([f"Synthetic data ({', '.join(fake)}): these verdicts "
                                         "say nothing yet about recorded speech."]
                                        if fake else [])),
            Table(shown, "data_efficiency_verdicts.csv", rows)]
