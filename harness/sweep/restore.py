"""A lost Optuna journal, rebuilt from MLflow: the finished trials come back, not run twice.

    restore_from_mlflow(queue, tracker)   # in fill_queue, before the queue is filled

Each FINISHED (or KILLED: pruned) trial run of this experiment whose key (`harness.key`)
Optuna lacks comes back as a COMPLETE (PRUNED) trial. It is made the way a worker's trial
is: enqueued with its values, then asked through `Experiment.suggest`, then told its
result (`TrialQueue.restore`). So it carries the very distributions the trials still to
run draw from: a grid's remaining points run (a one-value distribution per restored
point made them fail with "CategoricalDistribution does not support dynamic value space"),
a tpe/random sampler learns from the restored trials, and a restored configuration
counts against `n_trials`. A grid point's values are its key; a sampled trial's are its
run's params, read back as the space's types. A restored configuration whose other seeds
never finished is queued for them, as a worker would have.

A run whose values are not in the experiment's space now (the file changed since) cannot
be a trial of this study: one line says how many, and those points run again.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

from harness.console import console
from harness.sweep.experiment import Experiment, Range
from harness.sweep.stores import MLFLOW_STATE
from harness.sweep.trial_key import TrialKey
from harness.tracking.names import KEY, MLFLOW_RUN_ID, RESTORED, ROLE, SLOT

FINISHED = ("COMPLETE", "PRUNED")  # the Optuna states (of MLFLOW_STATE's) that come back


def restore_from_mlflow(queue: Any, tracker: Any) -> int:
    """Restore into `queue` (a harness.sweep.queue.TrialQueue) the finished trials that
    MLflow (`tracker`, a harness.tracking.runs.Tracker) holds and Optuna lacks; how many."""
    exp: Experiment = queue.plan.experiment
    have = {t.user_attrs.get(KEY) for t in queue.trials() if t.state.is_finished()}
    runs = tracker.client.search_runs(
        [tracker.experiment_id], f"tags.`{ROLE}` = 'trial' and "
        "attributes.status != 'RUNNING'", max_results=50_000)
    restored, outside, slots = 0, 0, []
    for run in sorted(runs, key=lambda r: r.info.start_time or 0):  # as they ran
        key = TrialKey.parse(run.data.tags.get(KEY, ""))
        name = MLFLOW_STATE.get(run.info.status)
        state = TrialState[name] if name in FINISHED else None
        value = _objective(run.data.metrics)
        if state is None or key.fixed_id != queue.fixed_id or str(key) in have or (
                state == TrialState.COMPLETE and value is None):
            continue
        params = _values(exp, key, run.data.params)
        if params is None:
            outside += 1
            continue
        slot = _slot(key)
        attrs = {MLFLOW_RUN_ID: run.info.run_id, RESTORED: True,
                 **({SLOT: slot} if slot is not None else {})}
        queue.restore(params, key, state, value, **attrs)
        if slot is not None:
            slots.append((key, params))
        have.add(str(key))
        restored += 1
    for key, params in slots:  # the configuration's other seeds, unless they came back too
        queue.queue_other_seeds(key, {k: v for k, v in params.items() if k != "seed"})
    if restored:
        console.print(f"[yellow]{restored} finished trial(s) found in MLflow but not in "
                      f"Optuna's storage: restored there, not run again[/]")
    if outside:
        console.print(f"[yellow]{outside} finished trial(s) in MLflow have values outside "
                      f"this experiment's space now (the file changed?): they cannot be "
                      f"restored into the study and run again[/]")
    return restored


def _objective(metrics: dict[str, float]) -> float | None:
    """A trial's value as the sweep told it: the validation accuracy of the tested epoch."""
    if metrics.get("tested_epoch") == metrics.get("best_epoch"):
        return metrics.get("best_valid_acc")
    return metrics.get("valid_acc")


def _slot(key: TrialKey) -> int | None:
    """N for a sampled configuration's first-seed key `slotN`; None for a grid point or a
    repeat on another seed (`slotN:seedS`)."""
    point = key.point
    return int(point[4:]) if point.startswith("slot") and point[4:].isdigit() else None


def _values(exp: Experiment, key: TrialKey, logged: dict[str, str]) -> dict[str, Any] | None:
    """The searched values and seed of a finished run, typed as the space has them: a grid
    point's from its key, a sampled trial's from its MLflow params (text); None when they
    are not in `exp`'s space."""
    point = key.grid_params()
    if point is not None:
        return point if point in exp.grid() else None
    out: dict[str, Any] = {}
    for name, dim in {**exp.space, "seed": exp.seeds}.items():
        text = logged.get(name)
        if text is None:
            return None
        if isinstance(dim, Range):
            try:
                value: Any = int(text) if dim.integer else float(text)
            except ValueError:
                return None
            if not dim.low <= value <= dim.high:
                return None
        else:
            value = next((c for c in dim if str(c) == text), None)
            if value is None:
                return None
        out[name] = value
    return out
