"""`harness sweep --dry-run`: trials that claim, heartbeat and log like real ones, without
torch in the workers, in a queue of their own (real journal, real SQLite MLflow store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.sweep.dry_run import PREFIX
from harness.sweep.experiment_file import load_experiment
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue

pytestmark = pytest.mark.slow


def test_a_dry_run_logs_like_a_sweep_in_a_queue_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    uri = new_tracking_uri(tmp_path)
    exp = tiny_experiment(tmp_path, epochs=2, seeds="[0]")  # 2 front-ends
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", uri, "--dry-run", "0",
                 "--workers", "2"]) == 0
    lines = [json.loads(line.removeprefix(PREFIX)) for line in capfd.readouterr().out.splitlines()
             if line.startswith(PREFIX + "{")]
    assert sorted(x["trial"] for x in lines) == [0, 1]
    assert {x["state"] for x in lines} == {"COMPLETE"}
    assert not any(x["torch"] for x in lines)  # the spawned workers never imported it
    assert all(x["claim_s"] > 0 and x["heartbeats_s"] and len(x["mlflow_s"]) == 3
               for x in lines)  # 2 epochs and the test
    _, children = runs(uri)
    assert [r.info.status for r in children] == ["FINISHED"] * 2
    assert {r.data.tags["device"] for r in children} == {"none (dry run)"}
    client = MlflowClient(uri)
    run = children[0].info.run_id
    assert [m.step for m in client.get_metric_history(run, "valid_acc")] == [1, 2]
    assert {"confusion_matrix.csv", "epochs.csv"} <= {a.path for a in client.list_artifacts(run)}
    # None of them is a trial of the experiment itself: a real sweep runs both points.
    assert TrialQueue(SweepPlan.create(load_experiment(exp), None, uri)).trials() == []
