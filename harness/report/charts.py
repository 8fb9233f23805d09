"""The report's figures section: validation curves, test accuracy with its intervals,
accuracy against throughput and against MACs (harness.report.figures draws them).

    table(study)                  # per-epoch valid_acc of every complete trial
    blocks(study, comparison)     # the section; colours follow the comparison's order
"""

from __future__ import annotations

import pandas as pd

from harness.plotting import colors_for
from harness.report import figures
from harness.report.blocks import Block, Figure, Heading
from harness.report.runs import COMPLETE, Study, valid_curves


def table(study: Study) -> pd.DataFrame:
    """config, run_id, step, value: the validation accuracy curves (runs.valid_curves)."""
    return valid_curves(study)


def blocks(study: Study, comparison: pd.DataFrame) -> list[Block]:
    """Curves, accuracy with CIs, accuracy vs speed and vs MACs."""
    colors = colors_for(list(comparison["config"]))  # best first, as in the table
    done = study.runs[study.runs["state"] == COMPLETE]
    out: list[Block] = [Heading("Figures")]
    curves = table(study)
    if not curves.empty:
        out.append(Figure("valid_curves", figures.valid_curves(curves, colors),
                          "validation accuracy per epoch"))
    if comparison["complete"].sum():
        out += [Figure("test_accuracy", figures.test_accuracy(comparison, done, colors),
                       "test accuracy with 95% CI"),
                Figure("accuracy_vs_throughput",
                       figures.accuracy_vs_throughput(comparison, colors),
                       "accuracy vs throughput")]
        if comparison["macs"].notna().any():
            out.append(Figure("accuracy_vs_macs", figures.accuracy_vs_macs(comparison, colors),
                              "accuracy vs MACs, Pareto front marked"))
    return out
