"""The report's figures and the signal figures of `harness inspect`, as PNG bytes.

Figures are built on `matplotlib.figure.Figure` directly, never through pyplot:
no global figure registry to leak, no backend switch that could surprise the
caller, and the PNG is rendered by Agg whatever the session's default backend.
Every function takes plain tables (pandas) or arrays and returns PNG bytes, so
the same store always gives the same bytes.

    python -m harness inspect --word yes --out reports/inspect
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from harness.plotting import colors_for, to_png


def valid_curves(curves: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Validation accuracy per epoch: mean over seeds per configuration, min-max band.

    `curves` has columns config, run_id, step, value. Early stopping ends runs at
    different epochs, so each epoch's mean is over the runs that reached it.
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for label in colors:
        sub = curves[curves["config"] == label]
        if sub.empty:
            continue
        g = sub.groupby("step")["value"].agg(["mean", "min", "max"]).sort_index()
        ax.plot(g.index, g["mean"], color=colors[label], label=label, marker=".")
        ax.fill_between(g.index, g["min"], g["max"], color=colors[label], alpha=0.18)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title="Validation accuracy (mean over seeds, band = min to max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return to_png(fig)


def test_accuracy(table: pd.DataFrame, points: pd.DataFrame,
                  colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Mean test accuracy per configuration with its 95% CI bar; each seed as a dot.

    `table` has config, test_acc_mean, test_acc_low, test_acc_high; `points` has
    config, test_acc (one row per complete trial).
    """
    fig = Figure(figsize=(8, 0.9 + 0.45 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    rows = table.iloc[::-1].reset_index(drop=True)  # best at the top
    for y, r in rows.iterrows():
        color = colors[r["config"]]
        if pd.notna(r["test_acc_low"]):
            ax.errorbar(r["test_acc_mean"], y, capsize=4, color=color, fmt="none",
                        xerr=[[r["test_acc_mean"] - r["test_acc_low"]],
                              [r["test_acc_high"] - r["test_acc_mean"]]])
        ax.plot(r["test_acc_mean"], y, "D", color=color, markersize=7)
        seeds = points.loc[points["config"] == r["config"], "test_acc"]
        ax.plot(seeds, [y] * len(seeds), "o", color=color, alpha=0.45, markersize=4)
    ax.set_yticks(range(len(rows)), rows["config"], fontsize=8)
    ax.set(xlabel="test accuracy", title="Test accuracy: mean (diamond), 95% CI, seeds (dots)")
    ax.grid(axis="x", alpha=0.3)
    return to_png(fig)


def accuracy_vs_throughput(table: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Mean test accuracy against median training samples/s, one point per configuration."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for _, r in table.iterrows():
        x, y = r["train_samples_per_s"], r["test_acc_mean"]
        if pd.isna(x) or pd.isna(y):
            continue
        ci_point(ax, x, y, r["test_acc_low"], r["test_acc_high"], colors[r["config"]],
                 label=r["config"])
        ax.annotate(r["config"], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
    speeds = table["train_samples_per_s"].dropna()
    log = len(speeds) > 0 and speeds.max() > 5 * speeds.min()  # log only for wide ranges
    if log:
        ax.set_xscale("log")
    ax.set(xlabel="training samples/s (median over trials" + (", log scale)" if log else ")"),
           ylabel="test accuracy",
           title="Accuracy vs training throughput (up and right is better)")
    ax.grid(alpha=0.3, which="both")
    return to_png(fig)


def accuracy_vs_macs(table: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Mean test accuracy against the pipeline's MACs per clip (log scale), one point per
    configuration; the Pareto front (`table["pareto"]`) joined by a line and ringed."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    shown = table.dropna(subset=["macs", "test_acc_mean"])
    for _, r in shown.iterrows():
        x, y = r["macs"], r["test_acc_mean"]
        ci_point(ax, x, y, r["test_acc_low"], r["test_acc_high"], colors[r["config"]])
        ax.annotate(r["config"], (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
    front = shown[shown["pareto"].astype(bool)].sort_values("macs")
    return pareto_png(fig, ax, front["macs"], front["test_acc_mean"],
                      xlabel="MACs per clip, front-end + model (log scale)",
                      ylabel="test accuracy", title="Accuracy vs compute (up and left is better)")


def ci_point(ax: Axes, x: float, y: float, low: float, high: float,
             color: tuple[float, ...], fmt: str = "o", **kwargs: object) -> None:
    """One mean at (x, y) with its 95% CI bar from `low` to `high` (no bar where NaN)."""
    yerr = None if pd.isna(low) else [[y - low], [high - y]]
    ax.errorbar(x, y, yerr=yerr, fmt=fmt, capsize=3, color=color, **kwargs)


def pareto_png(fig: Figure, ax: Axes, cost: pd.Series, accuracy: pd.Series,
               **labels: str) -> bytes:
    """Finish an accuracy-against-cost figure: the Pareto front's points (sorted by cost)
    stepped with a dashed line and ringed, cost on a log scale, `labels` (xlabel, ylabel,
    title), legend and grid; its PNG."""
    ax.step(cost, accuracy, where="post", color="0.3", linestyle="--", linewidth=1,
            label="Pareto front")
    ax.plot(cost, accuracy, "o", markersize=13, markerfacecolor="none", markeredgecolor="0.3")
    ax.set_xscale("log")
    ax.set(**labels)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return to_png(fig)


def accuracy_vs_bytes(points: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Mean ONNX test accuracy against the .onnx file's bytes (log scale): per configuration
    its fp32 graph (circle) and int8 graph (square) joined by a line, 95% CI bars; the Pareto
    front over all of them (`points["pareto"]`) stepped and ringed.

    `points`: harness.report.deployment.points (config, precision, bytes, acc_mean,
    acc_low, acc_high, pareto).
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for config, g in points.groupby("config", sort=False):
        g = g.sort_values("bytes")
        ax.plot(g["bytes"], g["acc_mean"], color=colors[config], linewidth=1, alpha=0.6)
        for _, r in g.iterrows():
            ci_point(ax, r["bytes"], r["acc_mean"], r["acc_low"], r["acc_high"], colors[config],
                     "s" if r["precision"] == "int8" else "o")
        top = g.sort_values("precision").iloc[0]  # fp32 where there is one
        ax.annotate(config, (top["bytes"], top["acc_mean"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=7)
    for marker, label in (("o", "fp32 ONNX"), ("s", "int8 ONNX")):
        ax.plot([], [], marker, color="0.4", label=label)
    front = points[points["pareto"].astype(bool)].sort_values("bytes")
    return pareto_png(fig, ax, front["bytes"], front["acc_mean"],
                      xlabel="model file, bytes (log scale)",
                      ylabel="test accuracy (onnxruntime)",
                      title="Accuracy vs model size, fp32 and int8 (up and left is better)")


def confusion(matrix: pd.DataFrame, title: str) -> bytes:
    """Row-normalised confusion matrix (true label down, predicted across)."""
    counts = matrix.to_numpy(dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(matrix)
    side = min(max(5.0, 0.28 * n + 2), 12.0)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true label")
    ticks, size = range(n), 7 if n > 15 else 9
    ax.set_xticks(ticks, [str(c) for c in matrix.columns], rotation=90, fontsize=size)
    ax.set_yticks(ticks, [str(i) for i in matrix.index], fontsize=size)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return to_png(fig)


def most_confused(matrix: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """The largest off-diagonal counts: true, predicted, count, rate (of the true label's clips).

    Ties are broken by label names so the table is stable.
    """
    counts = matrix.to_numpy(dtype=float)
    totals = counts.sum(axis=1)
    rows = [(str(t), str(p), int(counts[i, j]), counts[i, j] / totals[i])
            for i, t in enumerate(matrix.index) for j, p in enumerate(matrix.columns)
            if i != j and counts[i, j] > 0]
    rows.sort(key=lambda r: (-r[2], r[0], r[1]))
    return pd.DataFrame(rows[:top], columns=["true", "predicted", "count", "rate"])


def stft_log_power(audio: np.ndarray) -> np.ndarray:
    """The `log_power` front-end at its defaults, the features a network sees: 10*log10
    power STFT in dB, (n_fft//2 + 1, frames), 257 x 101 for 1 s at 16 kHz."""
    import torch

    from harness.frontends import create_frontend

    with torch.no_grad():
        x = torch.as_tensor(np.asarray(audio), dtype=torch.float32)[None]
        return create_frontend("log_power")(x)[0, 0].double().numpy()


def signal(audio: np.ndarray, sample_rate: int, title: str) -> bytes:
    """The study's three views of one clip: waveform, DFT magnitude (dB), log-power spectrogram."""
    from harness.frontends import STFT_DEFAULTS as stft

    x = np.asarray(audio, dtype=np.float64)
    if np.issubdtype(np.asarray(audio).dtype, np.integer):
        x = x / 32768.0  # int16 PCM -> [-1, 1], as the front-ends see it
    t = np.arange(len(x)) / sample_rate
    dft = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    spec = stft_log_power(x)

    fig = Figure(figsize=(9, 9), layout="constrained")
    fig.suptitle(title)
    ax1, ax2, ax3 = fig.subplots(3, 1)
    ax1.plot(t, x, linewidth=0.6)
    ax1.set(xlabel="time (s)", ylabel="amplitude", title="Waveform", xlim=(0, t[-1]))
    ax2.plot(freqs, 20 * np.log10(dft + 1e-10), linewidth=0.6)
    ax2.set(xlabel="frequency (Hz)", ylabel="magnitude (dB)",
            title=f"DFT magnitude ({len(x)}-point rfft)", xlim=(0, sample_rate / 2))
    floor = spec.max() - 80  # an 80 dB range keeps silence from washing out the speech
    im = ax3.imshow(np.maximum(spec, floor), origin="lower", aspect="auto", cmap="magma",
                    extent=(0, len(x) / sample_rate, 0, sample_rate / 2))
    fig.colorbar(im, ax=ax3, label="dB")
    ax3.set(xlabel="time (s)", ylabel="frequency (Hz)",
            title=f"Log-power spectrogram ({spec.shape[0]} bins x {spec.shape[1]} frames; "
                  f"n_fft {stft['n_fft']}, window {stft['win_length']}, hop "
                  f"{stft['hop_length']})")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return to_png(fig)


def robustness(table: pd.DataFrame, frontend: str) -> bytes:
    """Accuracy vs time shift (left) and vs SNR (right) for one front-end's configurations:
    mean over seeds with its 95% CI bar; the clean accuracy at shift 0 and as a dotted line.

    `table`: harness.report.robustness.table rows of one front-end (config, kind
    "clean" | "shift" | "snr", value in ms or dB, mean, ci_low, ci_high).
    """
    fig = Figure(figsize=(10, 4), layout="constrained")
    shift_ax, snr_ax = fig.subplots(1, 2, sharey=True)
    colors = colors_for(sorted(set(table["config"])))
    for config, g in table.groupby("config", sort=True):
        clean = g[g["kind"] == "clean"]
        for ax, kind in ((shift_ax, "shift"), (snr_ax, "snr")):
            rows = g[g["kind"] == kind]
            if kind == "shift":  # the clean accuracy is the zero shift
                rows = pd.concat([rows, clean]).sort_values("value")
            if rows.empty:
                continue
            err = [rows["mean"] - rows["ci_low"], rows["ci_high"] - rows["mean"]]
            ax.errorbar(rows["value"], rows["mean"], yerr=np.nan_to_num(np.array(err)),
                        marker="o", capsize=3, color=colors[config], label=config)
            if kind == "snr" and len(clean):
                ax.axhline(clean["mean"].iloc[0], color=colors[config], ls=":", lw=1)
    shift_ax.set(xlabel="time shift, ms (+ delays the word)", ylabel="test accuracy",
                 title=f"{frontend}: accuracy vs shift")
    snr_ax.set(xlabel="SNR, dB (dotted: clean)", title=f"{frontend}: accuracy vs SNR")
    snr_ax.invert_xaxis()  # noisier to the right
    for ax in (shift_ax, snr_ax):
        ax.grid(alpha=0.3)
    shift_ax.legend(fontsize=8, loc="lower center")
    return to_png(fig)


def learning_curve(table: pd.DataFrame, colors: Mapping[str, tuple[float, ...]]) -> bytes:
    """Test accuracy against training clips (log scale): one line per curve (a front-end and
    the study's other varying keys), its mean over seeds at each training-set size with the
    95% t-interval as a bar; each seed as a faint dot.

    `table` has curve, train_clips (mean over the seeds), mean, ci_low, ci_high, values (the
    seeds' accuracies, a tuple).
    """
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    groups = list(table.groupby("curve", sort=False))
    for i, (curve, g) in enumerate(groups):
        g = g.sort_values("train_clips")
        color = colors[str(curve)]
        # curves side by side at each size (3% apart on the log axis) so their bars show
        x = g["train_clips"] * 1.03 ** (i - (len(groups) - 1) / 2)
        low = (g["mean"] - g["ci_low"]).fillna(0).clip(lower=0)
        high = (g["ci_high"] - g["mean"]).fillna(0).clip(lower=0)
        ax.errorbar(x, g["mean"], yerr=[low, high], color=color, marker="o", capsize=3,
                    label=str(curve))
        for xi, values in zip(x, g["values"], strict=True):
            ax.plot([xi] * len(values), values, ".", color=color, alpha=0.35)
    ax.set_xscale("log")
    sizes = sorted(table["train_clips"].round().unique())
    ax.set_xticks(sizes, [f"{s:,.0f}" for s in sizes])  # the sizes trained, not powers of 10
    ax.minorticks_off()
    ax.set(xlabel="training clips (log scale)", ylabel="test accuracy",
           title="Learning curves: mean test accuracy over seeds, 95% CI, seeds (dots)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return to_png(fig)
