"""Does the study's answer hold on other data? Its paired verdicts on each other set.

    table(study)      # one row per comparison x data set x accuracy
    blocks(study)     # the report's section; [] when the trials were tested on no other set

The trials of an experiment with `[evaluate] datasets` (harness/evaluation/other_sets.py)
each have an evaluation run per other set, with `eval_acc` (argmax over all the model's
words) and `eval_acc_restricted` (argmax over the set's words). Each is paired by seed as
the study's own `test_acc` is, and judged with the same loop (harness.report.judging.judge):
one Holm family per data set and accuracy. A line per set says whether its verdicts agree
with those on the study's own test data.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harness.report import evaluations
from harness.report.blocks import Block, Heading, Paragraph, Table
from harness.report.judging import ACCURACY, Judged, judge
from harness.report.runs import Study
from harness.report.verdicts import NO_VERDICT

ACCURACIES = {"eval_acc": "all the model's words", "eval_acc_restricted": "the set's words only"}
SKIPPED = "tags.harness.evaluate_skipped"  # harness.evaluation.other_sets.SKIPPED, as read
COLUMNS = ["comparison", "dataset", "accuracy", "verdict", "mean_difference", "pairs", "line"]


def judged(study: Study) -> dict[tuple[str, str], list[Judged]]:
    """(data set, accuracy metric) -> the verdicts of the study's comparisons on it; the
    study's own test data is ("", "test_acc")."""
    out = {("", ACCURACY): judge(study, ACCURACY)}
    evals = evaluations.table(study)
    evals = evals[(evals["part"] == "test") & (evals["dataset"] != "")]
    for dataset, rows in evals.groupby("dataset", sort=True):
        for metric in ACCURACIES:
            col = f"{metric} {dataset}"
            per_trial = rows.groupby("trial_run_id")[metric].mean()
            runs = study.runs.assign(**{col: study.runs["run_id"].map(per_trial)})
            out[(str(dataset), metric)] = judge(dataclasses.replace(study, runs=runs), col)
    return out


def table(study: Study) -> pd.DataFrame:
    """COLUMNS: every comparison's verdict on the own test data and on each other set."""
    rows = []
    for (dataset, metric), verdicts in judged(study).items():
        for j in verdicts:
            c = j.comparison
            rows.append({"comparison": f"{c.a} vs {c.b}", "dataset": dataset or "own test",
                         "accuracy": ACCURACIES.get(metric, "own test accuracy"),
                         "verdict": j.verdict.head, "mean_difference": c.stats.mean,
                         "pairs": c.stats.n, "line": j.line})
    return pd.DataFrame(rows, columns=COLUMNS)


def agreement(own: list[Judged], other: list[Judged]) -> str:
    """`agree`, which comparisons' verdicts differ, or why they cannot be compared (a
    verdict withheld on either side: two withheld verdicts are no agreement)."""
    words = {(j.comparison.a, j.comparison.b): j.verdict.word for j in own}
    pairs = [((j.comparison.a, j.comparison.b), words.get((j.comparison.a, j.comparison.b)),
              j.verdict.word) for j in other]
    withheld = [f"{a} vs {b}" for (a, b), mine, theirs in pairs
                if NO_VERDICT in (mine, theirs) or mine is None]
    differ = [f"{a} vs {b} ({mine} on the own test, {theirs} here)"
              for (a, b), mine, theirs in pairs if f"{a} vs {b}" not in withheld and mine != theirs]
    if differ:
        return "differ from those on the study's own test data: " + "; ".join(differ)
    if withheld:
        return ("cannot be set beside the study's own (a verdict withheld on one side or "
                f"both: {', '.join(withheld)})")
    return "agree with those on the study's own test data"


def blocks(study: Study) -> list[Block]:
    """The section: verdicts side by side, one agreement line per set; or how to prepare a
    set the trials skipped."""
    skipped = sorted({s for v in study.runs.get(SKIPPED, pd.Series(dtype=str)).dropna()
                      for s in str(v).split(",") if s})
    verdicts = judged(study)
    if len(verdicts) == 1 and not skipped:
        return []
    out: list[Block] = [Heading("Does it hold on other data?")]
    if len(verdicts) > 1:
        t = table(study)
        out += [Paragraph("Each trial's model tested on other data sets' test clips (words "
                          "matched by name), paired by seed and judged as on the study's own "
                          "test set. Accuracy over all the model's words is what a deployed "
                          "model scores; over the set's words only it asks whether the "
                          "model tells those words apart."),
                Table(t[["comparison", "dataset", "accuracy", "line"]].rename(
                    columns={"line": "verdict"}), "other_sets.csv", t)]
        own = verdicts[("", ACCURACY)]
        for (dataset, metric), other in verdicts.items():
            if dataset:
                out.append(Paragraph(f"On {dataset} ({ACCURACIES[metric]}), the verdicts "
                                     f"{agreement(own, other)}."))
    for dataset in skipped:
        out.append(Paragraph(f"{dataset} was not prepared when the trials ran, so they were "
                             f"not tested on it: run `harness data prepare {dataset}`, then "
                             "the sweep again (or `harness evaluate RUN_ID --dataset "
                             f"{dataset} --part test` per trial)."))
    return out
