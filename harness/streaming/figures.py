"""DET figures as PNG bytes, in harness/figures.py's way (Figure without pyplot, pinned PNG).

    det_curves(result.det, title)            # one run: overall and per-keyword curves
    det_bands(curves, colors)                # the report: mean FRR per configuration, band
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.plotting import to_png
from harness.streaming.metrics import ALL, AUC_MAX_FA, BUDGETS, envelope

# FA/h at which curves are drawn and averaged: linear to 1 (the budgets), log to 1000, so a
# weak pipeline's trade-off, far beyond the DET area's 0-10 FA/h, is still on the figure.
MAX_FA = 1000.0
GRID = np.unique(np.concatenate([np.linspace(0.0, 1.0, 21), np.logspace(0, 3, 121)]))


def _axes(ax: object, title: str) -> None:
    for b in BUDGETS:
        ax.axvline(b, color="0.6", linestyle=":", linewidth=1)
    ax.axvspan(0, AUC_MAX_FA, color="0.5", alpha=0.06)  # the DET area's range
    ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
    ax.set(xlabel="false alarms per hour (linear to 1, log beyond; shaded: the DET area's "
                  f"0-{AUC_MAX_FA:g})", ylabel="false-reject rate", title=title,
           xlim=(0, MAX_FA), ylim=(0, 1.02))
    ax.grid(alpha=0.3)


def det_curves(det: pd.DataFrame, title: str, top: int = 8) -> bytes:
    """One run's DET curve (lowest FRR at each FA/h) over all keywords, bold, and those of
    its `top` keywords with the most clips, thin."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    occ = det.groupby("keyword", sort=False)["occurrences"].first()
    names = [k for k in occ.drop(ALL, errors="ignore").sort_values(ascending=False,
                                                                   kind="stable").index][:top]
    for name in names:
        ax.step(GRID, envelope(det, GRID, name), where="post", linewidth=0.8, alpha=0.7,
                label=f"{name} ({occ[name]})")
    ax.step(GRID, envelope(det, GRID, ALL), where="post", color="black", linewidth=2.2,
            label=f"all keywords ({occ.get(ALL, 0)})")
    _axes(ax, title)
    ax.legend(fontsize=7, loc="upper right", ncols=2)
    return to_png(fig)


def det_bands(curves: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Mean DET curve per configuration over its seeds, band from min to max.

    `curves` has config, run_id, fa_per_hour (GRID values), frr.
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label, color in colors.items():
        sub = curves[curves["config"] == label]
        if sub.empty:
            continue
        g = sub.groupby("fa_per_hour")["frr"].agg(["mean", "min", "max"]).sort_index()
        n = sub["run_id"].nunique()
        ax.step(g.index, g["mean"], where="post", color=color, label=f"{label} (n={n})")
        ax.fill_between(g.index, g["min"], g["max"], step="post", color=color, alpha=0.18)
    _axes(ax, "Streaming DET curves (mean over seeds, band = min to max)")
    ax.legend(fontsize=8, loc="upper right")
    return to_png(fig)
