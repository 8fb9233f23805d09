"""Robustness in the report: accuracy under shift and noise per front-end, and whether the
complex front-end's advantage survives them.

    from harness.report import robustness as rr
    rr.conditions(study)          # ["test_acc", "robust_shift_-200ms_acc", ...] present here
    rr.table(study)               # one row per configuration and condition (robustness.csv)
    rr.judge_conditions(study)    # per (complex, magnitude) pair and condition: a verdict
    rr.blocks(study)              # the report's section

The metrics are harness.evaluation.robustness's, logged by trials with `robustness = true`. Each
condition is judged exactly as the clean finding is (harness.report.judging: pairs over
seeds, harness.report.verdicts's rules), on that condition's accuracy instead of `test_acc`.
The clean verdict is the finding's own (its family, no second adjustment); the conditions
form a family of their own: every (pair, condition) comparison with a p-value. Whether a
clean result holds under a condition is said as "shown under k conditions, not shown under
the rest", never as a count of wins, so a withheld verdict is not read as a loss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from harness.report import figures, methods
from harness.report.blocks import Block, Bullets, Figure, Heading, Paragraph, Table
from harness.report.cells import ci_text, num
from harness.report.judging import ACCURACY, Judged, compare, family_pairs, judge, judge_all
from harness.report.runs import COMPLETE, Study, synthetic
from harness.report.stats import PairedStats, mean_interval
from harness.report.verdicts import Adjusted, Verdict

CLEAN = "test_acc"
_SHIFT = re.compile(r"robust_shift_(-?\d+)ms_acc$")
_SNR = re.compile(r"robust_snr_(-?\d+)db_acc$")


def describe(metric: str) -> tuple[str, float, str]:
    """(kind, value, label): ("clean", 0, "clean"), ("shift", -200, "shift -200 ms"),
    ("snr", 5, "SNR 5 dB")."""
    if m := _SHIFT.match(metric):
        ms = int(m.group(1))
        return "shift", ms, f"shift {ms:+d} ms"
    if m := _SNR.match(metric):
        return "snr", int(m.group(1)), f"SNR {int(m.group(1))} dB"
    return "clean", 0, "clean"


def conditions(study: Study) -> list[str]:
    """The clean metric, then every robustness metric some trial logged: shifts in ms order,
    SNRs from high to low. Only `test_acc` when no trial ran the robustness evaluation."""
    present = [c for c in study.runs.columns if _SHIFT.match(c) or _SNR.match(c)]
    present = [c for c in present if study.runs[c].notna().any()]
    shifts = sorted((c for c in present if _SHIFT.match(c)), key=lambda c: describe(c)[1])
    snrs = sorted((c for c in present if _SNR.match(c)), key=lambda c: -describe(c)[1])
    return [CLEAN, *shifts, *snrs]


def table(study: Study) -> pd.DataFrame:
    """One row per (configuration, condition): mean accuracy and 95% t-interval over the
    complete trials (seeds) that logged it."""
    rows = []
    done = study.runs[study.runs["state"] == COMPLETE]
    for config, g in done.groupby("config", sort=True):
        for metric in conditions(study):
            kind, value, label = describe(metric)
            ci = mean_interval(g[metric].dropna())
            rows.append({"config": config, "frontend": g["frontend"].iloc[0],
                         "condition": label, "kind": kind, "value": value, "metric": metric,
                         "n": int(g[metric].notna().sum()), "mean": ci.mean,
                         "ci_low": ci.low, "ci_high": ci.high})
    return pd.DataFrame(rows, columns=["config", "frontend", "condition", "kind", "value",
                                       "metric", "n", "mean", "ci_low", "ci_high"])


@dataclass(frozen=True)
class ConditionVerdict:
    a: str
    b: str
    metric: str
    stats: PairedStats
    adjusted: Adjusted
    verdict: Verdict

    @property
    def label(self) -> str:
        return describe(self.metric)[2]

    @property
    def holm_p(self) -> float | None:
        return self.adjusted.holm_p


def judge_conditions(study: Study, clean: list[Judged] | None = None
                     ) -> list[ConditionVerdict]:
    """Every (complex, magnitude) pair: the finding's clean verdict (`clean`, else judged
    here the finding's way), then every condition, the conditions one family."""
    clean = judge(study, ACCURACY) if clean is None else clean
    family = [compare(study, a, b, metric) for metric in conditions(study)[1:]
              for a, b in family_pairs(study)]
    return [ConditionVerdict(j.comparison.a, j.comparison.b, j.comparison.metric,
                             j.comparison.stats, j.adjusted, j.verdict)
            for j in [*clean, *judge_all(study, family)]]


def answer(judged: list[ConditionVerdict]) -> list[str]:
    """Per pair, in words: is the clean result of a vs b shown under each condition?"""
    lines = []
    for a, b in dict.fromkeys((j.a, j.b) for j in judged):
        mine = [j for j in judged if (j.a, j.b) == (a, b)]
        clean = next(j for j in mine if j.metric == CLEAN)
        rest = [j for j in mine if j.metric != CLEAN]
        word = clean.verdict.word
        if word == "no verdict":
            lines.append(f"`{a}` vs `{b}`: no clean result to carry over (clean, the finding: "
                         f"{clean.verdict.head}).")
            continue
        shown = [j.label for j in rest if j.verdict.word == word]
        others: dict[str, list[str]] = {}
        for j in rest:
            if j.verdict.word != word:
                others.setdefault(j.verdict.head, []).append(j.label)
        line = f"`{a}` vs `{b}`: {word} on clean test data (the finding); "
        line += (f"shown under {len(shown)} condition(s) ({', '.join(shown)})" if shown
                 else "shown under no condition")
        if others:
            line += ", not shown under the rest (" + "; ".join(
                f"{head} under {', '.join(labels)}" for head, labels in others.items()) + ")"
        lines.append(line + ".")
    return lines

def blocks(study: Study, clean: list[Judged] | None = None) -> list[Block]:
    """The report's robustness section; [] when no trial logged robustness metrics.
    `clean`: the finding's verdicts (judged here the finding's way when not given)."""
    if len(conditions(study)) == 1:
        return []
    numbers = table(study)
    out: list[Block] = [
        Heading("Robustness: time shift and background noise"),
        Paragraph("Test accuracy with every clip shifted (zero-filled; + delays the word) and "
                  "with a `_background_noise_` window added at a fixed SNR (mean-square power "
                  "over the 1 s clip; digitally silent clips stay silent; fixed seed, the same "
                  "windows for every model; harness.evaluation.robustness). Mean and 95% "
                  "t-interval over seeds.")]
    for fe, g in numbers.groupby("frontend", sort=True):
        name = re.sub(r"[^\w.-]+", "_", fe)
        shown = pd.DataFrame({
            "configuration": g["config"], "condition": g["condition"], "n": g["n"],
            "mean acc": g["mean"].map(num),
            "95% CI": [ci_text(lo, hi) for lo, hi in zip(g["ci_low"], g["ci_high"],
                                                          strict=True)]})
        out += [Paragraph(f"**`{fe}`**"), Table(shown, f"robustness_{name}.csv", g),
                Figure(f"robustness_{name}", figures.robustness(g, fe),
                       f"{fe}: accuracy vs shift and SNR")]
    judged = judge_conditions(study, clean)
    out.append(Heading("Is the finding shown under shift and noise?"))
    if not judged:
        return [*out, Paragraph("No pair of a complex-family and a magnitude-family front-end "
                                "here: nothing to compare.")]
    rows = pd.DataFrame([{"a": j.a, "b": j.b, "condition": j.label, "metric": j.metric,
                          "pairs": j.stats.n, "mean_diff": j.stats.mean, "ci_low": j.stats.low,
                          "ci_high": j.stats.high, "p_value": j.stats.p_value,
                          "p_holm": j.holm_p, "tost_holm": j.adjusted.tost_holm_p,
                          "family": "finding" if j.metric == CLEAN else "robustness",
                          "verdict": j.verdict.word,
                          "verdict_text": j.verdict.text} for j in judged])
    shown = pd.DataFrame({
        "comparison": [f"`{a}` − `{b}`" for a, b in zip(rows["a"], rows["b"], strict=True)],
        "condition": rows["condition"], "pairs": rows["pairs"],
        "mean difference": rows["mean_diff"].map(lambda x: num(x, "+.4f")),
        "95% CI": [ci_text(lo, hi, "+.4f") for lo, hi in zip(rows["ci_low"], rows["ci_high"],
                                                             strict=True)],
        "Holm p": rows["p_holm"].map(lambda x: num(x, ".3g")),
        "TOST Holm p": rows["tost_holm"].map(lambda x: num(x, ".3g")),
        "verdict": [f"**{j.verdict.head}**" for j in judged]})
    return [*out,
            Paragraph("Each condition's paired difference (complex side minus magnitude side, "
                      "over seeds) gets a verdict by the same rules as the clean finding "
                      "(harness.report.verdicts); the clean row is the finding's own verdict, "
                      "not adjusted again. A clean result is **shown** under a condition when "
                      "the condition's verdict is the same word; a withheld verdict there is "
                      "not shown, not a reversal. " + methods.budget(
                          [j.adjusted for j in judged if j.metric != CLEAN],
                          "robustness: every pair under every condition")),
            Bullets(answer(judged) + ([f"Synthetic data ({', '.join(fake)}): these verdicts "
                                       "say nothing yet about recorded speech."]
                                      if (fake := synthetic(study.runs)) else [])),
            Table(shown, "robustness_verdicts.csv", rows)]
