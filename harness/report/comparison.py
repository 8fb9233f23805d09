"""The report's comparison section: one row per configuration, accuracy, speed and cost.

    table(study)     # one row per configuration, best mean test accuracy first (comparison.csv)
    blocks(study)    # the section, its numbers formatted
"""

from __future__ import annotations

import pandas as pd

from harness.report.blocks import Block, Heading, Paragraph, Table
from harness.report.cells import ci_text, num
from harness.report.runs import COMPLETE, DIVERGED, FAILED, PRUNED, Study
from harness.report.stats import mean_interval


def table(study: Study) -> pd.DataFrame:
    """One row per configuration, best mean test accuracy first; failures counted, not averaged."""
    rows = []
    for label, g in study.runs.groupby("config", sort=True):
        done = g[(g["state"] == COMPLETE) & g["test_acc"].notna()]
        ci = mean_interval(done["test_acc"])
        rows.append({
            "config": label, **{k: g[k].iloc[0] for k in study.group_keys},
            "complete": len(done), "pruned": int((g["state"] == PRUNED).sum()),
            "failed": int((g["state"] == FAILED).sum()),
            "diverged": int((g["state"] == DIVERGED).sum()),
            "test_acc_mean": ci.mean, "test_acc_low": ci.low, "test_acc_high": ci.high,
            "valid_acc_mean": done["best_valid_acc"].mean(),
            "best_epoch_mean": done["best_epoch"].mean(),
            # the last epoch's throughput per trial (warm), median over trials
            **{k: done[k].median() for k in ("train_samples_per_s", "eval_samples_per_s",
                                             "frontend_samples_per_s")},
            "peak_memory_mb": done["peak_memory_mb"].max(),
            # the pipeline's cost per clip (harness.models.cost): fixed per configuration
            **{k: done[k].median() for k in ("params", "macs", "latency_ms")},
        })
    out = pd.DataFrame(rows).sort_values(["test_acc_mean", "config"], ascending=[False, True],
                                         na_position="last", kind="stable")
    out["pareto"] = pareto_front(out["macs"], out["test_acc_mean"])
    return out.reset_index(drop=True)


def pareto_front(cost: pd.Series, accuracy: pd.Series) -> list[bool]:
    """Whether each point is on the accuracy-vs-cost Pareto front: no other point costs
    no more and is at least as accurate, better in one of the two. NaN is never on it."""
    points = [(c, a) if pd.notna(c) and pd.notna(a) else None
              for c, a in zip(cost, accuracy, strict=True)]

    def dominated(p: tuple[float, float]) -> bool:
        return any(q is not None and q != p and q[0] <= p[0] and q[1] >= p[1] for q in points)

    return [p is not None and not dominated(p) for p in points]


def blocks(comparison: pd.DataFrame) -> list[Block]:
    """The comparison table (`table(study)`) with its numbers formatted; comparison.csv keeps
    them raw."""
    t = comparison
    shown = pd.DataFrame({
        "configuration": t["config"], "complete": t["complete"],
        "test acc": t["test_acc_mean"].map(num),
        "95% CI": [ci_text(lo, hi) for lo, hi in zip(t["test_acc_low"], t["test_acc_high"],
                                                      strict=True)],
        "valid acc": t["valid_acc_mean"].map(num),
        "best epoch": t["best_epoch_mean"].map(lambda x: num(x, ".1f")),
        **{name: t[col].map(lambda x: num(x, ",.0f")) for name, col in (
            ("train samples/s", "train_samples_per_s"), ("eval samples/s", "eval_samples_per_s"),
            ("front-end samples/s", "frontend_samples_per_s"), ("peak MB", "peak_memory_mb"),
            ("params", "params"))},
        "MACs": t["macs"].map(lambda x: "—" if pd.isna(x) else f"{x / 1e6:,.1f} M"),
        "CPU ms": t["latency_ms"].map(lambda x: num(x, ".2f")),
        "Pareto": t["pareto"].map(lambda on: "yes" if on else ""),
        "pruned": t["pruned"], "failed": t["failed"], "diverged": t["diverged"]})
    return [Heading("Comparison"),
            Paragraph("One row per configuration, best mean test accuracy first. Means and 95% "
                      "t-intervals are over the complete trials (seeds); samples/s are medians "
                      "over trials of each trial's last epoch, peak MB the maximum. Pruned, "
                      "failed and diverged (exploding or non-finite loss) trials are counted in "
                      "their own columns and never averaged in. Cost per clip "
                      "(harness.models.cost): params of front-end and model, MACs, batch-1 "
                      "latency on one CPU thread; Pareto marks the configurations no other "
                      "beats in both accuracy and MACs."),
            Table(shown, "comparison.csv", comparison)]
