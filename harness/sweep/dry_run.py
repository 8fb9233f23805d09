"""`harness sweep --dry-run S`: trials that claim, heartbeat, sleep and log like real ones,
with no torch and no data. For load tests of the stores (docs/scaling.md).

    dry = DryTrial(0.5)                            # 0.5 s of sleep stands in for an epoch
    value = dry.train(trial, params, run)          # in harness.sweep.worker.run_trial
    dry.report(number, state, claim_s, beat_s)     # one `dry-run {json}` line on stdout

Everything a trial does with its stores is done as a real trial does it (run_trial does it;
only the training is replaced): the MLflow child run with every parameter and the tags, the
experiment file's lineage, one metrics batch per epoch and the pruner's report, the test
metrics with the confusion matrix and the predictions as artifacts, epochs.csv, the end
state in both stores. The accuracy is made up, drawn from the trial's seed. A dry run's
trials have their own queue in the study (harness.sweep.plan.SweepPlan.fixed_id), so they
never count as results of the experiment.

$HARNESS_DRY_RUN_GATE names a file that dry-run workers wait for (at most GATE_WAIT_S)
before their first claim, so that a load test starts all of them at once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from harness.errors import HarnessError
from harness.processes import HOST

PREFIX = "dry-run "   # the start of each trial's line; "dry-run waiting" at the gate
GATE_ENV = "HARNESS_DRY_RUN_GATE"
GATE_WAIT_S = 900.0
LABELS = ("no", "on", "yes")  # the made-up confusion matrix's classes


def wait_at_gate() -> None:
    """Wait for $HARNESS_DRY_RUN_GATE's file, when it names one (at most GATE_WAIT_S)."""
    gate = os.environ.get(GATE_ENV)
    if not gate:
        return
    print(f"{PREFIX}waiting {json.dumps({'host': HOST, 'pid': os.getpid()})}", flush=True)
    deadline = time.monotonic() + GATE_WAIT_S
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise HarnessError(f"{GATE_ENV}={gate}: the file did not appear within "
                               f"{GATE_WAIT_S:.0f} s")
        time.sleep(0.1)


class DryTrial:
    """One dry trial's stand-in for training, and its timings (seconds)."""

    def __init__(self, epoch_s: float) -> None:
        self.epoch_s = epoch_s
        self.mlflow_s: list[float] = []  # each logging call the stand-in made

    def _log(self, call: Any, *args: Any, **kwargs: Any) -> None:
        start = time.monotonic()
        try:
            call(*args, **kwargs)
        finally:
            self.mlflow_s.append(time.monotonic() - start)

    def train(self, trial: optuna.Trial, params: dict[str, Any], run: Any) -> float:
        """Sleep and log `params["epochs"]` epochs, then the test; the made-up valid_acc."""
        rng = np.random.default_rng(int(params["seed"]))
        acc = 0.0
        for epoch in range(1, int(params["epochs"]) + 1):
            time.sleep(self.epoch_s)
            acc = min(1.0, acc + rng.uniform(0.05, 0.3))
            self._log(run.log_epoch, {"epoch": epoch, "train_loss": 1 - acc, "train_acc": acc,
                                      "valid_loss": 1 - acc, "valid_acc": acc, "lr": 1e-3})
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")
        n = len(LABELS)
        self._log(run.log_test, test_loss=1 - acc, test_acc=acc,
                  confusion=np.eye(n, dtype=int) * 10, labels=list(LABELS), best_epoch=epoch,
                  best_valid_acc=acc, frontend_samples_per_s=0.0, peak_memory_mb=0.0,
                  tested_epoch=epoch, epochs_run=epoch, stop_reason="max_epochs",
                  converged=True, predictions=np.stack([np.arange(n), np.arange(n)], axis=1))
        return acc

    def report(self, number: int, state: str, claim_s: float, beat_s: list[float],
               beat_failures: int) -> None:
        """The trial's timings as one line on stdout (scripts/cluster_scale.py reads them)."""
        line = {"host": HOST, "pid": os.getpid(), "trial": number, "state": state,
                "end": time.time(), "claim_s": claim_s, "heartbeats_s": beat_s,
                "heartbeat_errors": beat_failures, "mlflow_s": self.mlflow_s,
                "torch": "torch" in sys.modules}
        print(PREFIX + json.dumps(line), flush=True)
