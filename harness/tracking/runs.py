"""MLflow tracking: one experiment and one parent run per study, one child run per trial.

    tracker = Tracker("quick", "sqlite:///runs/mlflow.db", searched=["frontend", "seed"],
                      experiment_file="experiments/quick.toml")
    run = tracker.trial(7, {"frontend": "complex", "model": "seed_cnn", "seed": 0, ...},
                        tags={"device": "cpu"})
    for r in fit(...):
        run.log_epoch(r)                        # metrics with step=epoch
    run.log_test(test_loss=..., test_acc=..., confusion=cm, labels=labels, best_epoch=3,
                 best_valid_acc=0.91, frontend_samples_per_s=5e3, peak_memory_mb=812.0,
                 tested_epoch=5, epochs_run=5, stop_reason="early_stopping", converged=True,
                 predictions=np.stack([y_true, y_pred], 1))
    run.finish("COMPLETE")                      # or "PRUNED" / "FAIL", reason="..."

Everything goes through an explicit `MlflowClient`: the fluent API keeps the active run
in process-global state, and a child run must be found by its parent from any process
(the `mlflow.parentRunId` tag is what MLflow's UI nests by). The layout (tags, metric
and artifact names) is the contract in docs/architecture.md; the report reads it back.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from harness.tracking import lineage, ui_view
from harness.tracking.names import FAIL_REASON, ROLE, STATE, TRACEBACK, TRIAL_NUMBER

DEFAULT_TRACKING_URI = "sqlite:///runs/mlflow.db"
EPOCH_METRICS = ("train_loss", "train_acc", "valid_loss", "valid_acc", "lr", "beta1",
                 "train_samples_per_s", "eval_samples_per_s")
DEFAULT_MARGIN = 0.005  # equivalence margin in accuracy (0.5 points) when a file sets none
STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}  # Optuna -> MLflow


def resolve_tracking_uri(uri: str | None = None, *, create: bool = False) -> str:
    """`uri`, else $MLFLOW_TRACKING_URI, else the SQLite file under runs/.

    `create`: make a SQLite file's folder (what writes or serves a store); readers (report,
    stream, evaluate) leave the disk as it is and say when no store is there.
    """
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    db = _sqlite_path(uri)
    if create and db is not None:
        with contextlib.suppress(OSError):  # one that cannot be made: harness.sweep.preflight says
            db.parent.mkdir(parents=True, exist_ok=True)
    return uri


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///relative` or `sqlite:////absolute` URI."""
    if not uri.startswith("sqlite:///") or uri == "sqlite:///:memory:":
        return None
    return Path(uri.removeprefix("sqlite:///"))


def environment_tags() -> dict[str, str]:
    """Versions and the git commit, so a result can be traced to the code that made it."""
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    try:
        commit = subprocess.run(  # the harness's own checkout, wherever the sweep runs
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
            text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"torch_version": version("torch"), "torchaudio_version": version("torchaudio"),
            "git_commit": commit or "unknown"}


class Tracker:
    """The study's MLflow experiment and parent run, created on first use, found on resume."""

    def __init__(self, study_name: str, tracking_uri: str | None = None, *,
                 searched: Sequence[str] | None = None, experiment_file: str = "",
                 margin: float | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri, create=True)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        self.study_name = study_name
        self.experiment_file = str(experiment_file)
        self.experiment_id = self._experiment()
        self.searched = searched
        self.parent_run_id = self._parent_run()
        ui_view.prepare_experiment(self.client, self.experiment_id, self.parent_run_id, searched)
        tags = [] if searched is None else [RunTag("harness.searched", json.dumps(list(searched)))]
        if experiment_file:
            tags.append(RunTag("experiment_file", self.experiment_file))
        if margin is not None:  # the report's equivalence margin (accuracy, 0.005 = 0.5 pp)
            tags.append(RunTag("harness.margin", repr(float(margin))))
        self.client.log_batch(self.parent_run_id, tags=tags)  # None/"": keep what was set
        self.client.update_run(self.parent_run_id, status="RUNNING")
        self._env = {**environment_tags(), **lineage.git_tags()}

    def _experiment(self) -> str:
        found = self.client.get_experiment_by_name(self.study_name)
        if found is None:
            db = _sqlite_path(self.tracking_uri)
            # Artifacts beside the database (runs/mlartifacts); a server picks its own.
            location = ((db.parent / "mlartifacts" / self.study_name).resolve().as_uri()
                        if db is not None else None)
            try:
                return self.client.create_experiment(self.study_name, location)
            except MlflowException:  # another worker created it a moment ago
                found = self.client.get_experiment_by_name(self.study_name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        return found.experiment_id

    def _parents(self) -> list[Any]:
        return self.client.search_runs([self.experiment_id], f"tags.`{ROLE}` = 'study'",
                                       order_by=["attributes.start_time ASC"], max_results=50)

    def _parent_run(self) -> str:
        """The oldest parent run; two workers starting at once both create one, keep one."""
        parents = self._parents()
        if parents:
            return parents[0].info.run_id
        mine = self.client.create_run(self.experiment_id, run_name=self.study_name,
                                      tags={ROLE: "study"}).info.run_id
        oldest = min(self._parents(), key=lambda r: (r.info.start_time, r.info.run_id))
        if oldest.info.run_id != mine:
            self.client.delete_run(mine)
        return oldest.info.run_id

    def trial(self, number: int, params: Mapping[str, Any],
              tags: Mapping[str, str] | None = None) -> TrialRun:
        """A child run for Optuna trial `number`, every param logged, state RUNNING."""
        all_tags = {"mlflow.parentRunId": self.parent_run_id, ROLE: "trial",
                    TRIAL_NUMBER: str(number), STATE: "RUNNING", FAIL_REASON: "",
                    "experiment_file": self.experiment_file, **self._env, **(tags or {})}
        run = self.client.create_run(self.experiment_id, tags=all_tags,
                                     run_name=ui_view.run_name(params, self.searched))
        items = [Param(k, str(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params a call
            self.client.log_batch(run.info.run_id, params=items[i:i + 100])
        monitor = lineage.start_system_metrics(self.tracking_uri, run.info.run_id)
        return TrialRun(self.client, run.info.run_id, monitor)

    def fail_orphans(self, numbers: Collection[int] | Mapping[int, str], reason: str) -> None:
        """Close the still-RUNNING child runs of these trial numbers (their process died);
        a mapping gives each its own reason.

        Found by the `trial_number` tag, set when the run is created: a process killed
        before it could note the run's id anywhere else leaves no run open.
        """
        self._close_running({n: ("FAIL", numbers[n] if isinstance(numbers, Mapping) else reason)
                             for n in numbers})

    def close_finished(self, states: Mapping[int, tuple[str, str]]) -> None:
        """Close the still-RUNNING child runs of trials Optuna has finished: trial number
        -> (state, reason). A worker killed after telling Optuna, before ending its run,
        leaves such a run; it ends with the state Optuna holds."""
        self._close_running(states)

    def _close_running(self, states: Mapping[int, tuple[str, str]]) -> None:
        """End each still-RUNNING child run whose trial number is in `states` with its
        (state, reason)."""
        if not states:
            return
        running = self.client.search_runs(
            [self.experiment_id], f"tags.`{ROLE}` = 'trial' and attributes.status = 'RUNNING'",
            max_results=1000)
        for run in running:
            number = int(run.data.tags.get(TRIAL_NUMBER, -1))
            if number in states:
                TrialRun(self.client, run.info.run_id).finish(*states[number])

    def close(self) -> None:
        """Mark the parent run finished (a resume marks it RUNNING again)."""
        self.client.set_terminated(self.parent_run_id, "FINISHED")


class TrialRun:
    """One trial's child run: per-epoch metrics, test results, artifacts, final state."""

    def __init__(self, client: MlflowClient, run_id: str, monitor: Any = None) -> None:
        self.client = client
        self.run_id = run_id
        self.monitor = monitor  # lineage.start_system_metrics's, stopped by finish
        self.epochs: list[dict[str, Any]] = []

    def log_epoch(self, result: Any) -> None:
        """Log an EpochResult (or a mapping with its fields) with step = its epoch."""
        row = _as_dict(result)
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(row[k]), now, int(row["epoch"])) for k in EPOCH_METRICS if k in row])
        self.epochs.append(row)

    def log_test(self, *, test_loss: float, test_acc: float, confusion: Any,
                 labels: Sequence[str], best_epoch: int, best_valid_acc: float,
                 frontend_samples_per_s: float, peak_memory_mb: float, tested_epoch: int,
                 epochs_run: int, stop_reason: str, converged: bool,
                 predictions: Any = None) -> None:
        """Final metrics, tag `stop_reason`, `confusion_matrix.csv` (rows true, columns
        predicted) and, given (N, 2) `predictions` (true, predicted label index per test
        clip, in the test split's order), `test_predictions.csv` for paired clip-level tests.

        `tested_epoch`: the epoch whose weights were tested (the recipe's `test_weights`);
        `converged`: 1.0 unless the trial stopped at the epoch cap with its valid loss
        still falling (`harness.training.loop.stop_reason` decides).
        """
        finals = {"test_loss": test_loss, "test_acc": test_acc, "best_epoch": best_epoch,
                  "best_valid_acc": best_valid_acc,
                  "frontend_samples_per_s": frontend_samples_per_s,
                  "peak_memory_mb": peak_memory_mb, "tested_epoch": tested_epoch,
                  "epochs_run": epochs_run, "converged": float(converged)}
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), now, 0) for k, v in finals.items()],
            tags=[RunTag("stop_reason", stop_reason)])
        if predictions is not None:
            lines = ["label,pred", *(f"{int(t)},{int(q)}" for t, q in predictions)]
            self.client.log_text(self.run_id, "\n".join(lines) + "\n", "test_predictions.csv")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["", *labels])
        for label, row in zip(labels, confusion, strict=True):
            writer.writerow([label, *(int(n) for n in row)])
        self.client.log_text(self.run_id, out.getvalue(), "confusion_matrix.csv")

    def log_metrics(self, values: Mapping[str, float]) -> None:
        """Final metrics (step 0) beside log_test's, e.g. harness.training.gpu_stats.trial_metrics,
        harness.evaluation.robustness's `robust_*_acc`."""
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            Metric(k, float(v), now, 0) for k, v in values.items()])

    def log_traceback(self, text: str) -> None:
        """A failed trial's whole traceback, as the artifact `traceback.txt` (its last line
        is the run's `fail_reason` tag)."""
        self.client.log_text(self.run_id, text, TRACEBACK)

    def stop_system_metrics(self) -> None:
        """Stop the run's system-metrics thread, once (`finish` does it too)."""
        if self.monitor is not None:
            lineage.stop_system_metrics(self.monitor)
            self.monitor = None

    def finish(self, state: str, reason: str = "") -> None:
        """Write `epochs.csv`, tag `state` (COMPLETE | PRUNED | FAIL) and end the run."""
        self.stop_system_metrics()
        if self.epochs:
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(self.epochs[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.epochs)
            self.client.log_text(self.run_id, out.getvalue(), "epochs.csv")
        self.client.log_batch(self.run_id, tags=[RunTag(STATE, state),
                                                 RunTag(FAIL_REASON, reason[:5000])])
        self.client.set_terminated(self.run_id, STATUS[state])


def _as_dict(result: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return dict(result)
