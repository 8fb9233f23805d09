"""The report's streaming section: FRR at 1 FA/h per configuration, verdicts, DET bands.

    table(study)                     # one row per configuration (stream.csv)
    judged = stream_judge(study)     # complex vs magnitude on 1 - FRR@1FA/h, accuracy's rules
    blocks(study, comparison)        # the section (harness.report.blocks)

Reads the `stream_*` metrics and each run's `stream_det.csv` (harness/streaming/track.py).
A study whose trials ran without `[stream]` gets no section at all.

The verdicts are those of the accuracy finding, on another number: the detection rate at
1 false alarm per hour, 1 - `stream_frr_at_1fa_h` (DETECTION, a column of its own), paired
over seeds the same way, the section's pairs one family of their own
(harness.report.judging.judge), judged by harness.report.verdicts at the study's own margin
for this rate, `[report] detection_margin` (a fraction of keyword clips; default
harness.tracking.runs.DEFAULT_DETECTION_MARGIN), not the accuracy margin.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harness.report import methods
from harness.report.artifacts import artifact_csv
from harness.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table
from harness.report.cells import num
from harness.report.judging import Judged, judge
from harness.report.runs import COMPLETE, Study
from harness.report.stats import mean_interval

KEY = "stream_frr_at_1fa_h"
DETECTION = "stream_detect_at_1fa_h"  # 1 - KEY: the rate the verdicts compare (higher wins)
SHOWN = (("stream_frr_at_1fa_h", "FRR @ 1 FA/h"), ("stream_frr_at_0.5fa_h", "FRR @ 0.5 FA/h"),
         ("stream_det_auc", "DET area"))
COST = ("stream_clip_macs", "stream_macs_per_audio_s", "stream_cpu_s_per_audio_s",
        "stream_audio_s_per_s", "stream_hours")


def _done(study: Study) -> pd.DataFrame:
    r = study.runs
    if KEY not in r:
        return r.iloc[:0]
    return r[(r["state"] == COMPLETE) & r[KEY].notna()]


def table(study: Study) -> pd.DataFrame:
    """config, n, then <metric>_mean/_low/_high for SHOWN (95% t-interval over seeds) and
    the median of each COST column."""
    rows = []
    for label, g in _done(study).groupby("config", sort=True):
        row: dict[str, object] = {"config": label, "n": len(g)}
        for col, _ in SHOWN:
            ci = mean_interval(g[col]) if col in g else mean_interval([])
            row |= {f"{col}_mean": ci.mean, f"{col}_low": ci.low, f"{col}_high": ci.high}
        row |= {c: g[c].median() if c in g else float("nan") for c in COST}
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values([f"{KEY}_mean", "config"], kind="stable").reset_index(drop=True)


def stream_curves(study: Study) -> pd.DataFrame:
    """config, run_id, fa_per_hour, frr: each run's DET envelope on figures.GRID."""
    from harness.streaming.figures import GRID
    from harness.streaming.metrics import envelope

    parts = []
    for config, rid in zip(_done(study)["config"], _done(study)["run_id"], strict=True):
        det = artifact_csv(study, rid, "stream_det.csv")
        if det is not None:
            parts.append(pd.DataFrame({"config": config, "run_id": rid, "fa_per_hour": GRID,
                                       "frr": envelope(det, GRID)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["config", "run_id", "fa_per_hour", "frr"])


def stream_judge(study: Study) -> list[Judged]:
    """Each family pair on the detection rate at 1 FA/h (no McNemar: a stream is no clip
    set)."""
    runs = study.runs.assign(**{DETECTION: 1.0 - study.runs[KEY] if KEY in study.runs
                                else float("nan")})
    return judge(dataclasses.replace(study, runs=runs), DETECTION, study.detection_margin)


def blocks(study: Study, comparison: pd.DataFrame) -> list[Block]:
    """The section's blocks ([] when no trial has stream metrics); colours follow the
    comparison table's order, as every other figure of the report."""
    numbers = table(study)
    if numbers.empty:
        return []
    from harness.plotting import colors_for
    from harness.streaming.figures import det_bands

    acc = comparison.set_index("config")["test_acc_mean"]
    t = numbers
    shown = pd.DataFrame({"configuration": t["config"], "trials": t["n"],
                          "clip test acc": t["config"].map(acc).map(num), **{
        name: [f"{num(m)} [{num(lo)}, {num(hi)}]" if pd.notna(lo) else num(m) for m, lo, hi in zip(
            t[f"{col}_mean"], t[f"{col}_low"], t[f"{col}_high"], strict=True)]
        for col, name in SHOWN},
        "clip MMACs": (t["stream_clip_macs"] / 1e6).map(lambda x: num(x, ".2f")),
        "stream MMACs/s": (t["stream_macs_per_audio_s"] / 1e6).map(lambda x: num(x, ".1f")),
        "CPU s per audio s": t["stream_cpu_s_per_audio_s"].map(lambda x: num(x, ".4f")),
        "audio s/s (device)": t["stream_audio_s_per_s"].map(lambda x: num(x, ",.0f")),
        "stream hours": t["stream_hours"].map(lambda x: num(x, ".2f"))})
    judged = stream_judge(study)
    out: list[Block] = [
        Heading("Streaming: false rejects at a false-alarm budget"),
        Paragraph("Each trial's pipeline slid over a long stream cut from its test split "
                  "(keyword clips at random onsets over background noise; docs/streaming.md): "
                  "1 s window, posteriors smoothed and thresholded with a refractory period. FRR "
                  "is the share of keyword clips not detected at the best threshold whose false "
                  "alarms per hour stay within the budget; the DET area is the mean FRR over "
                  "0–10 FA/h (lower is better), beside the clips' test accuracy. Means and 95% "
                  "t-intervals over seeds; cost columns are medians: MACs of one window and per "
                  "second of audio at the hop, CPU seconds per second of audio."),
        Table(shown, "stream.csv", numbers)]
    if judged:
        out += [Paragraph("Verdicts on the detection rate at 1 FA/h (1 − FRR), complex side "
                          "minus magnitude side, under the accuracy finding's rules (paired over "
                          "seeds) at this rate's own margin ±"
                          f"{study.detection_margin:g} (`[report] detection_margin`). "
                          + methods.tests(judged) + " "
                          + methods.budget([j.adjusted for j in judged], "streaming")),
                Bullets([j.line for j in judged])]
    curves = stream_curves(study)
    if not curves.empty:
        colors = colors_for(list(comparison["config"]))
        out.append(Figure("stream_det", det_bands(curves, colors), "streaming DET curves"))
    return out
