"""`harness evaluate` results beside each trial's own test score, for the report.

    table(study)      # one row per evaluation run of the study's trials
    blocks(study)     # the report's section; [] when there is none

Evaluation runs (harness/evaluation/other_data.py) live in the study's MLflow experiment with tag
`harness.role = evaluation` and `harness.evaluates = <trial run id>`; the trial readers
(harness/report/runs.py) select `trial` and never see them.
"""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from harness.report.blocks import Block, Heading, Paragraph, Table
from harness.report.cells import num
from harness.report.runs import Study

COLUMNS = ["config", "seed", "trial_run_id", "run_id", "dataset", "root", "split", "part",
           "task", "clips", "trial_test_acc", "eval_acc", "eval_loss", "difference",
           "eval_acc_restricted"]


def table(study: Study) -> pd.DataFrame:
    """COLUMNS, by configuration, seed, data set; only evaluations of the study's trials
    (a trial's retry replaced it: its evaluations go with it)."""
    client = MlflowClient(study.tracking_uri)
    exp = client.get_experiment_by_name(study.name)
    found = [] if exp is None else client.search_runs(
        [exp.experiment_id], "tags.`harness.role` = 'evaluation' and "
        "attributes.status = 'FINISHED'", max_results=5000)
    trials = study.runs.set_index("run_id")
    rows = []
    for run in found:
        trial = run.data.tags.get("harness.evaluates", "")
        if trial not in trials.index:
            continue
        p, m = run.data.params, run.data.metrics
        own = trials.at[trial, "test_acc"]
        rows.append({
            "config": trials.at[trial, "config"], "seed": trials.at[trial, "seed"],
            "trial_run_id": trial, "run_id": run.info.run_id,
            "dataset": p.get("data.dataset", ""), "root": p.get("data.root", ""),
            "split": p.get("data.split", ""), "part": p.get("eval.part", ""),
            "task": p.get("data.task", ""), "clips": m.get("eval_clips"),
            "trial_test_acc": own, "eval_acc": m.get("eval_acc"),
            "eval_loss": m.get("eval_loss"), "difference": m.get("eval_acc", float("nan")) - own,
            "eval_acc_restricted": m.get("eval_acc_restricted")})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["config", "seed", "dataset", "root", "part", "run_id"],
                             kind="stable").reset_index(drop=True)


def blocks(study: Study) -> list[Block]:
    """The report's section: each evaluation beside its trial's own test accuracy."""
    t = table(study)
    if t.empty:
        return []
    data = [r if r not in ("", "None") else d for d, r in zip(t["dataset"], t["root"],
                                                                strict=True)]
    shown = pd.DataFrame({
        "configuration": t["config"], "seed": t["seed"], "evaluated on": data,
        "clips": [f"{p} of {s} ({task}), {num(n, '.0f')}" for p, s, task, n in zip(
            t["part"], t["split"], t["task"], t["clips"], strict=True)],
        "own test acc": t["trial_test_acc"].map(num),
        "acc here": t["eval_acc"].map(num),
        "difference": t["difference"].map(lambda x: num(x, "+.4f")),
        "loss here": t["eval_loss"].map(num)})
    return [Heading("Evaluations on other data"),
            Paragraph("Trained trials tested again with `harness evaluate` on another data set or "
                  "split (their logged model, words matched by name), beside the accuracy on "
                  "their own test split. A front-end whose gain holds here is not an artefact "
                  "of one recording set; one run per row, no interval."),
            Table(shown, "evaluations.csv", t)]
