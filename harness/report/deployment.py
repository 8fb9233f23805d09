"""The report's deployment section: what each configuration costs as the graph a device runs,
and whether int8 costs it accuracy.

    table(study)      # one row per configuration: fp32 and int8 ONNX accuracy, bytes, ms
    points(study)     # one row per configuration and precision, on the Pareto front or not
    int8_judge(study) # per configuration: int8_acc vs onnx_acc, paired over seeds
    blocks(study, comparison)   # the section; [] unless trials ran with [export] onnx = true

Reads the metrics and tags harness/export/track.py logs (`[export]` in the experiment file,
or `harness export RUN_ID` per trial). The int8 question is asked of every configuration on
its own: within each trial both graphs are tested on the same clips, so a pair is a trial
(seeds averaged when repeated), the difference `int8_acc - onnx_acc`, and the verdict the
accuracy finding's rules (harness.report.verdicts, one Holm family for the section) at the
study's accuracy margin `[report] margin`: `worse` means int8 costs the configuration
accuracy, `equivalent` that any cost is within the margin.
"""

from __future__ import annotations

import json

import pandas as pd

from harness.plotting import colors_for
from harness.report import figures, methods
from harness.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table
from harness.report.cells import ci_text, num
from harness.report.comparison import pareto_front
from harness.report.design import design_of
from harness.report.judging import PAIR_COLUMNS, Comparison, Judged, judge_all
from harness.report.runs import COMPLETE, Study
from harness.report.stats import mean_interval, paired_stats
from harness.report.verdicts import BETTER, EQUIVALENT, WORSE

FP32, INT8 = "onnx_acc", "int8_acc"
COST = ("onnx_bytes", "int8_bytes", "onnx_latency_ms", "int8_latency_ms")
ISA, CPU, PLAN = "tags.harness.export.isa", "tags.harness.export.cpu", "tags.harness.export.int8"
NO_INT8 = "no trial of this configuration measured int8 ([export] int8 = true)"


def _done(study: Study) -> pd.DataFrame:
    """The complete trials that logged an fp32 ONNX accuracy."""
    r = study.runs
    return r[(r["state"] == COMPLETE) & r[FP32].notna()] if FP32 in r else r.iloc[:0]


def _column(g: pd.DataFrame, col: str) -> pd.Series:
    return g[col] if col in g else pd.Series(float("nan"), g.index)


def _frontend_precision(plans: pd.Series) -> str:
    """`int8`, or `float (Log)`: how the int8 plans (JSON tags) treated the front-end."""
    found = set()
    for raw in plans.dropna():
        plan = json.loads(raw)
        reason = str(plan.get("frontend_reason", "")).split(":")[0]
        found.add(plan.get("frontend", "") + (f" ({reason})" if reason else ""))
    return ", ".join(sorted(found)) or "—"


def table(study: Study) -> pd.DataFrame:
    """One row per configuration: means (95% t-interval) of the ONNX accuracies over its
    trials, the mean int8 − fp32 difference, medians of bytes and ms, how int8 treated the
    front-end, and the instruction set(s) the int8 figures were measured on."""
    rows = []
    for config, g in _done(study).groupby("config", sort=True):
        fp32, int8 = mean_interval(g[FP32]), mean_interval(_column(g, INT8).dropna())
        rows.append({
            "config": config, "frontend": g["frontend"].iloc[0], "n": len(g),
            "onnx_acc_mean": fp32.mean, "onnx_acc_low": fp32.low, "onnx_acc_high": fp32.high,
            "int8_acc_mean": int8.mean, "int8_acc_low": int8.low, "int8_acc_high": int8.high,
            "int8_minus_onnx": (_column(g, INT8) - g[FP32]).mean(),
            "int8_delta": _column(g, "int8_delta").mean(),  # against PyTorch
            **{c: _column(g, c).median() for c in COST},
            "int8_frontend": _frontend_precision(_column(g, PLAN)),
            "isa": ", ".join(sorted(_column(g, ISA).dropna().unique())) or "—",
            "cpu": ", ".join(sorted(_column(g, CPU).dropna().unique())) or "—"})
    return pd.DataFrame(rows)


def points(numbers: pd.DataFrame) -> pd.DataFrame:
    """config, precision (fp32 | int8), bytes, acc_mean/low/high, pareto: the figure's points;
    the Pareto front (harness.report.comparison.pareto_front) is over all of them."""
    parts = [pd.DataFrame({"config": numbers["config"], "precision": precision,
                           "bytes": numbers[f"{prefix}_bytes"],
                           **{f"acc_{k}": numbers[f"{prefix}_acc_{k}"]
                              for k in ("mean", "low", "high")}})
             for precision, prefix in (("fp32", "onnx"), ("int8", "int8"))]
    out = pd.concat(parts, ignore_index=True).dropna(subset=["bytes", "acc_mean"])
    out["pareto"] = pareto_front(out["bytes"], out["acc_mean"])
    return out.reset_index(drop=True)


def _compare(study: Study, config: str, g: pd.DataFrame) -> Comparison:
    """int8 vs fp32 of one configuration, a pair per seed (the same trial's two graphs)."""
    g = g[g[INT8].notna()] if INT8 in g else g.iloc[:0]
    per = g.groupby("seed", sort=False).agg(acc_a=(INT8, "mean"), acc_b=(FP32, "mean"),
                                            runs=("run_id", lambda x: tuple(sorted(x))))
    per = per.reset_index().assign(_o=lambda d: d["seed"].map(lambda s: (len(s), s)))
    per = per.sort_values("_o")
    pairs = pd.DataFrame({"pair": "seed=" + per["seed"], "acc_a": per["acc_a"],
                          "acc_b": per["acc_b"], "runs_a": per["runs"], "runs_b": per["runs"]},
                         columns=PAIR_COLUMNS).reset_index(drop=True)
    design = design_of(g)
    d = (pairs["acc_a"] - pairs["acc_b"]).to_numpy(dtype=float)
    return Comparison(f"{config} int8", f"{config} fp32", "seed: one trial's two graphs",
                      pairs, g, paired_stats(d, study.margin, ratio=design.ratio),
                      "" if len(pairs) else NO_INT8, INT8, design)


def int8_judge(study: Study) -> list[Judged]:
    """Every configuration's int8 − fp32 ONNX accuracy, judged; the section is one family."""
    return judge_all(study, [_compare(study, config, g)
                             for config, g in _done(study).groupby("config", sort=True)])


def meaning(j: Judged) -> str:
    """What the verdict says about int8, in words, then its line (difference, interval,
    evidence)."""
    config, margin = j.comparison.a.removesuffix(" int8"), j.comparison.stats.margin
    said = {WORSE: "int8 **costs** it accuracy",
            EQUIVALENT: f"int8 costs it no accuracy beyond the margin ±{margin:g}",
            BETTER: "int8 is more accurate than fp32 here"}.get(j.verdict.word, "not settled")
    return f"`{config}`: {said}. {j.line}"


def blocks(study: Study, comparison: pd.DataFrame) -> list[Block]:
    """Cost table, accuracy-against-bytes figure, int8 verdicts; [] without export metrics.
    Colours follow the comparison table's order, as every other figure of the report."""
    numbers = table(study)
    if numbers.empty:
        return []
    t = numbers
    shown = pd.DataFrame({
        "configuration": t["config"], "trials": t["n"],
        "fp32 ONNX acc": t["onnx_acc_mean"].map(num),
        "int8 acc": t["int8_acc_mean"].map(num),
        "int8 − fp32": t["int8_minus_onnx"].map(lambda x: num(x, "+.4f")),
        "int8 Δ vs PyTorch": t["int8_delta"].map(lambda x: num(x, "+.4f")),
        "fp32 bytes": t["onnx_bytes"].map(lambda x: num(x, ",.0f")),
        "int8 bytes": t["int8_bytes"].map(lambda x: num(x, ",.0f")),
        "fp32 ms": t["onnx_latency_ms"].map(lambda x: num(x, ".3f")),
        "int8 ms": t["int8_latency_ms"].map(lambda x: num(x, ".3f")),
        "int8 front-end": t["int8_frontend"], "int8 ISA": t["isa"]})
    pts = points(numbers)
    colors = colors_for(list(comparison["config"]))
    cpus = ", ".join(sorted({c for c in t["cpu"] if c != "—"})) or "not recorded"
    out: list[Block] = [
        Heading("Deployed: fp32 and int8 ONNX"),
        Paragraph("Each trial's front-end and network exported as one ONNX graph (waveform in, "
                  "logits out) and, with int8, quantised statically (per-channel int8 weights, "
                  "calibrated on 200 fixed training clips; front-ends that compress their "
                  "output stay float, the column says why), then measured under onnxruntime on "
                  "the CPU: test accuracy on the trial's own test split, the file's bytes, and "
                  "batch-1 latency on one thread (median over windows, MLPerf Tiny's manner; "
                  "docs/export.md). Accuracies are means over trials; bytes and ms medians. "
                  "int8 figures depend on the machine: the instruction set is given beside "
                  f"them. CPU: {cpus}."),
        Table(shown, "export.csv", numbers)]
    if len(pts):
        out.append(Figure("accuracy_vs_bytes", figures.accuracy_vs_bytes(pts, colors),
                          "accuracy vs model bytes, fp32 and int8, Pareto front marked"))
    judged = int8_judge(study) if t["int8_acc_mean"].notna().any() else []
    if judged:
        out += [Heading("Does int8 cost accuracy?"),
                Paragraph("Per configuration, int8 minus fp32 ONNX test accuracy, a pair per "
                          "seed (both graphs of one trial, on the same clips), judged by the "
                          "accuracy finding's rules (harness.report.verdicts) at the study's "
                          f"margin ±{study.margin:g} (`[report] margin`): **worse** is a cost "
                          "shown, **equivalent** a cost within the margin. "
                          + methods.tests(judged) + " "
                          + methods.budget([j.adjusted for j in judged], "int8 vs fp32")),
                Bullets([meaning(j) for j in judged]),
                Table(_verdict_table(judged), "export_verdicts.csv")]
    return out


def _verdict_table(judged: list[Judged]) -> pd.DataFrame:
    return pd.DataFrame({
        "configuration": [j.comparison.a.removesuffix(" int8") for j in judged],
        "pairs": [j.comparison.stats.n for j in judged],
        "int8 − fp32": [num(j.comparison.stats.mean, "+.4f") for j in judged],
        "95% CI": [ci_text(j.comparison.stats.low, j.comparison.stats.high, "+.4f")
                   for j in judged],
        "Holm p": [num(j.holm_p, ".3g") for j in judged],
        "TOST Holm p": [num(j.adjusted.tost_holm_p, ".3g") for j in judged],
        "verdict": [f"**{j.verdict.head}**" for j in judged]})
