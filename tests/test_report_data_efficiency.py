"""The report's data-efficiency section on a logged study sweeping `data.train_fraction`:
the learning curve's numbers, a verdict per size in one family, the figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from mlflow import MlflowClient
from test_report import COMPLEX, D, log_study, t_interval

from harness import report as rp
from harness.report import data_efficiency
from harness.report.blocks import Figure
from harness.report.render import to_markdown

# complex minus power per seed: a clear gain with all the data, none with half of it
ACC = {("complex", 1.0): COMPLEX, ("power", 1.0): COMPLEX - D["power"],
       ("complex", 0.5): COMPLEX - 0.1, ("power", 0.5): COMPLEX - 0.1 - D["log_power"]}
CLIPS = {1.0: 2000, 0.5: 1000}


def test_learning_curve_and_a_verdict_per_size(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    log_study(uri, "eff", ["frontend", "data.train_fraction", "seed"],
              [({"frontend": fe, "data.train_fraction": f, "seed": s}, "COMPLETE", float(a))
               for (fe, f), accs in ACC.items() for s, a in enumerate(accs)])
    client = MlflowClient(uri)
    for run in client.search_runs([client.get_experiment_by_name("eff").experiment_id]):
        if "data.train_fraction" in run.data.params:  # a trial: the worker logs its size
            client.log_metric(run.info.run_id, "train_clips",
                              CLIPS[float(run.data.params["data.train_fraction"])])
    study = rp.load("eff", uri)
    assert data_efficiency.fractions(study) == [0.5, 1.0]
    table = data_efficiency.table(study).set_index(["curve", "fraction"])
    for (fe, f), accs in ACC.items():
        mean, low, high = t_interval(list(accs))
        row = table.loc[(fe, f)]
        assert row["n"] == 5 and row["train_clips"] == CLIPS[f]
        np.testing.assert_allclose([row["mean"], row["ci_low"], row["ci_high"]],
                                   [mean, low, high])
    judged = data_efficiency.judged(study)
    assert [(f, j.comparison.a, j.comparison.b, j.verdict.word) for f, j in judged] == [
        (0.5, "complex", "power", "equivalent"), (1.0, "complex", "power", "better")]
    assert {j.adjusted.m for _, j in judged} == {2}  # every size in one family
    assert all(j.comparison.stats.n == 5 for _, j in judged)  # pairs within one size
    blocks = data_efficiency.blocks(study)  # build.sections adds them after the other sets
    text = to_markdown("eff", blocks)
    assert "## Data efficiency: accuracy against training-set size" in text
    assert "`complex` vs `power` by train_fraction: 0.5: **equivalent**; 1: **better**." in text
    curve = next(b for b in blocks if isinstance(b, Figure))
    assert curve.name == "learning_curve" and curve.png.startswith(b"\x89PNG")
    one_size = study.runs[study.runs["data.train_fraction"] == "1.0"]
    assert data_efficiency.blocks(dataclasses.replace(study, runs=one_size)) == []  # no curve
