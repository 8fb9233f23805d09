"""`harness evaluate` results beside each trial's own test score, for the report.

    table = evaluation_table(study)     # one row per evaluation run of the study's trials
    blocks(study)                       # the report's section; [] when there is none

Evaluation runs (harness/evaluation.py) live in the study's MLflow experiment with tag
`harness.role = evaluation` and `harness.evaluates = <trial run id>`; the trial readers
(harness/report/runs.py) select `trial` and never see them.
"""

from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from harness.report.runs import Study

COLUMNS = ["config", "seed", "trial_run_id", "run_id", "dataset", "root", "split", "part",
           "task", "clips", "trial_test_acc", "eval_acc", "eval_loss", "difference"]


def evaluation_table(study: Study) -> pd.DataFrame:
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
            "eval_loss": m.get("eval_loss"), "difference": m.get("eval_acc", float("nan")) - own})
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.sort_values(["config", "seed", "dataset", "root", "part", "run_id"],
                             kind="stable").reset_index(drop=True)


def blocks(study: Study) -> list[tuple]:
    """The report's section: each evaluation beside its trial's own test accuracy."""
    table = evaluation_table(study)
    if table.empty:
        return []

    def num(x: object, fmt: str = ".4f") -> str:
        return "—" if x is None or pd.isna(x) else format(x, fmt)

    data = [r if r not in ("", "None") else d for d, r in zip(table["dataset"], table["root"],
                                                                strict=True)]
    shown = pd.DataFrame({
        "configuration": table["config"], "seed": table["seed"], "evaluated on": data,
        "clips": [f"{p} of {s} ({t}), {num(n, '.0f')}" for p, s, t, n in zip(
            table["part"], table["split"], table["task"], table["clips"], strict=True)],
        "own test acc": table["trial_test_acc"].map(num),
        "acc here": table["eval_acc"].map(num),
        "difference": table["difference"].map(lambda x: num(x, "+.4f")),
        "loss here": table["eval_loss"].map(num)})
    return [("h2", "Evaluations on other data"),
            ("p", "Trained trials tested again with `harness evaluate` on another data set or "
                  "split (their logged model, words matched by name), beside the accuracy on "
                  "their own test split. A front-end whose gain holds here is not an artefact "
                  "of one recording set; one run per row, no interval."),
            ("table", shown, "evaluations.csv", table)]
