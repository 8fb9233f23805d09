"""The report's streaming section: FRR at 1 FA/h per configuration, verdicts, DET bands.

    table = stream_table(study)      # one row per configuration (stream.csv)
    judged = stream_judge(study)     # complex vs magnitude on 1 - FRR@1FA/h, accuracy's rules
    blocks(study, comparison)        # the section, in harness/commands/render.py's blocks

Reads the `stream_*` metrics and each run's `stream_det.csv` (harness/streaming/track.py).
A study whose trials ran without `[stream]` gets no section at all.

The verdicts are those of the accuracy finding, on another number: the detection rate at
1 false alarm per hour, 1 - `stream_frr_at_1fa_h`, paired over seeds the same way
(harness.report.finding.compare), Holm over the same family of front-end pairs, judged
by harness.report.verdicts.decide at the study's margin (a fraction of keyword clips here, as it
is a fraction of test clips for accuracy).
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from harness.report.finding import MCNEMAR_COLUMNS, Judged, compare, family_pairs
from harness.report.runs import COMPLETE, Study, artifact_csv, num, synthetic
from harness.report.stats import holm, mean_interval
from harness.report.verdicts import decide, withheld

KEY = "stream_frr_at_1fa_h"
SHOWN = (("stream_frr_at_1fa_h", "FRR @ 1 FA/h"), ("stream_frr_at_0.5fa_h", "FRR @ 0.5 FA/h"),
         ("stream_det_auc", "DET area"))
COST = ("stream_clip_macs", "stream_macs_per_audio_s", "stream_cpu_s_per_audio_s",
        "stream_audio_s_per_s", "stream_hours")


def _done(study: Study) -> pd.DataFrame:
    r = study.runs
    if KEY not in r:
        return r.iloc[:0]
    return r[(r["state"] == COMPLETE) & r[KEY].notna()]


def stream_table(study: Study) -> pd.DataFrame:
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
    """Each family pair on 1 - FRR@1FA/h, judged (no McNemar: a stream is no clip set)."""
    runs = study.runs.copy()
    runs["test_acc"] = 1.0 - runs[KEY] if KEY in runs else float("nan")
    s = dataclasses.replace(study, runs=runs)
    comps = [compare(s, a, b) for a, b in family_pairs(s)]
    tested = [i for i, c in enumerate(comps) if c.stats.p_value is not None]
    adjusted = dict(zip(tested, holm([comps[i].stats.p_value for i in tested]), strict=True))
    out = []
    for i, c in enumerate(comps):
        fake = synthetic(c.trials if len(c.trials) else runs[runs["frontend"].isin([c.a, c.b])])
        conv = c.trials["converged"] if "converged" in c.trials else pd.Series(dtype=float)
        v = withheld(c.reason, synthetic=fake) if c.reason else decide(
            c.stats, adjusted.get(i), trials=len(c.trials), unconverged=int((conv == 0).sum()),
            unrecorded=int(conv.isna().sum()), synthetic=fake)
        out.append(Judged(c, adjusted.get(i), v, pd.DataFrame(columns=MCNEMAR_COLUMNS)))
    return out



def blocks(study: Study, comparison: pd.DataFrame) -> list[tuple]:
    """The section's blocks ([] when no trial has stream metrics); colours follow the
    comparison table's order, as every other figure of the report."""
    table = stream_table(study)
    if table.empty:
        return []
    from harness.plotting import colors_for
    from harness.streaming.figures import det_bands

    acc = comparison.set_index("config")["test_acc_mean"]
    shown = pd.DataFrame({"configuration": table["config"], "trials": table["n"],
                          "clip test acc": table["config"].map(acc).map(num), **{
        name: [f"{num(m)} [{num(lo)}, {num(hi)}]" if pd.notna(lo) else num(m) for m, lo, hi in zip(
            table[f"{col}_mean"], table[f"{col}_low"], table[f"{col}_high"], strict=True)]
        for col, name in SHOWN},
        "clip MMACs": (table["stream_clip_macs"] / 1e6).map(lambda x: num(x, ".2f")),
        "stream MMACs/s": (table["stream_macs_per_audio_s"] / 1e6).map(lambda x: num(x, ".1f")),
        "CPU s per audio s": table["stream_cpu_s_per_audio_s"].map(lambda x: num(x, ".4f")),
        "audio s/s (device)": table["stream_audio_s_per_s"].map(lambda x: num(x, ",.0f")),
        "stream hours": table["stream_hours"].map(lambda x: num(x, ".2f"))})
    judged = stream_judge(study)
    out: list[tuple] = [
        ("h2", "Streaming: false rejects at a false-alarm budget"),
        ("p", "Each trial's pipeline slid over a long stream cut from its test split (keyword "
              "clips at random onsets over background noise; docs/streaming.md): 1 s window, "
              "posteriors smoothed and thresholded with a refractory period. FRR is the share "
              "of keyword clips not detected at the best threshold whose false alarms per hour "
              "stay within the budget; the DET area is the mean FRR over 0–10 FA/h (lower is "
              "better), beside the clips' test accuracy. Means and 95% t-intervals over seeds; "
              "cost columns are medians: MACs of one window and per second of audio at the "
              "hop, CPU seconds per second of audio."),
        ("table", shown, "stream.csv", table)]
    if judged:
        out += [("p", "Verdicts on the detection rate at 1 FA/h (1 − FRR), complex side minus "
                      "magnitude side, under the accuracy finding's rules (paired over seeds, "
                      f"Holm, margin ±{study.margin:g}):"), ("ul", [j.line for j in judged])]
    curves = stream_curves(study)
    if not curves.empty:
        colors = colors_for(list(comparison["config"]))
        out.append(("fig", "stream_det", det_bands(curves, colors), "streaming DET curves"))
    return out
