"""A sweep worker's loop: claim queued trials of a study and run them, one at a time.

    work(plan)                    # this process, until the queue is empty
    work(plan, Budget(10))        # at most 10 trials (harness.sweep.budget)
    # n processes, each running `work`: harness.sweep.worker_processes.run_workers

A trial's parameters come from Optuna (`Experiment.suggest`); the trainer knows nothing
of Optuna or MLflow: `fit` yields epochs, and `run_trial` logs each one to the trial's
MLflow child run (`step=epoch`), reports its validation accuracy to the pruner, and at
the end tests the weights its recipe keeps (`test_weights`: the last epoch's, or the
best's). The objective is the validation accuracy of the epoch whose weights were
tested. Whatever a trial raises (a diverged loss, CUDA out of memory, a bad parameter
combination) fails that trial alone, in Optuna and in MLflow, with the reason (the last
line of its traceback, `fail_reason`; the whole traceback is its run's `traceback.txt`),
and the sweep goes on. A trial whose heartbeat cannot be written stops
(harness/sweep/heartbeat.py); a worker whose Optuna storage refuses a trial's result stops
too, with one line. A worker with nothing left to claim while trials of its plan still run
(on other machines, or in its sweep's other processes) waits for them, so that a trial whose
machine died is re-run here once its heartbeat is older than the grace. `--dry-run`: the
training is replaced by sleep (harness/sweep/dry_run.py), the rest is as here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from harness.console import console
from harness.disk import is_full
from harness.errors import HarnessError
from harness.signals import exit_status, release_frames
from harness.sweep.budget import Budget
from harness.sweep.dry_run import DryTrial, wait_at_gate
from harness.sweep.faults import recover, requeue, store_full
from harness.sweep.heartbeat import HeartbeatLost, interval
from harness.sweep.plan import SweepPlan
from harness.sweep.queue import TrialQueue
from harness.sweep.stores import close_run
from harness.sweep.train_trial import EpochHook, device_tag, train_trial
from harness.sweep.trial_key import TrialKey
from harness.tracking import lineage
from harness.tracking.names import FAIL_REASON, KEY, MLFLOW_RUN_ID, SLOT
from harness.tracking.runs import Tracker, TrialRun
from harness.training.divergence import DivergedError, mark

TrialHook = Callable[[int, dict[str, Any] | None, str, float | None], None]
WAIT_STEP_S = 1.0  # an idle worker's look at the trials that still run


def work(plan: SweepPlan, budget: Budget | None = None, *, on_trial: TrialHook | None = None,
         on_epoch: EpochHook | None = None) -> Counter[str]:
    """Run queued trials in this process until the queue (or the budget) is empty.

    `on_trial(number, params, state, value)` is called with state RUNNING at the start
    (params None until known) and with the final state at the end.
    """
    budget = budget if budget is not None else Budget()
    # MLflow logs each database error it raises at ERROR, traceback and all; the trial's
    # fail reason (a full disk: the sweep's one line) says it already
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    queue = TrialQueue(plan)
    exp = plan.experiment
    tracker = Tracker(exp.name, plan.tracking_uri, searched=exp.searched,
                      experiment_file=str(exp.path), margin=exp.margin,
                      detection_margin=exp.detection_margin)
    data_cache: dict[Any, Any] = {}  # the data set of the last trial, reused
    done: Counter[str] = Counter()
    if plan.dry_run is not None:
        wait_at_gate()  # a load test's workers start together
    while budget.take():
        try:
            trial = next_trial(queue, tracker, budget)
        except Exception as exc:  # the journal's disk is full, say: one line, not a traceback
            if not is_full(exc):
                raise
            raise store_full(exc, "the next trial's claim", plan) from None
        if trial is None:
            budget.give_back()
            break
        if on_trial:
            on_trial(trial.number, None, "RUNNING", None)
        try:
            state, value, params = run_trial(queue, trial, tracker, data_cache, on_epoch)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: failed and queued again
            release_frames(exc)  # a query it cut off would keep SQLite locked
            if queue.fail(trial.number, exit_status(exc)[1]):
                requeue(queue.study, queue.frozen(trial.number), died=False)
            recover(queue, tracker)  # its MLflow run: FAILED with the reason
            raise
        done[state] += 1
        if on_trial:
            on_trial(trial.number, params, state, value)
    return done


def next_trial(queue: TrialQueue, tracker: Tracker, budget: Budget) -> optuna.Trial | None:
    """Claim the next queued trial; None once none is queued and none of the plan runs.

    While the plan's trials still run elsewhere, wait for them, looking every WAIT_STEP_S
    and recovering dead trials every heartbeat interval: one whose machine was switched off
    goes silent, is failed after the grace and queued again (`recover`), and is claimed here.
    Without the wait every live worker could leave before the grace runs out, and that trial
    would wait for the next sweep command.
    """
    said, recovered = False, -math.inf
    while True:
        if time.monotonic() - recovered >= interval():
            recover(queue, tracker)
            recovered = time.monotonic()
        trial = queue.claim()
        running = [] if trial is not None or budget.closed else queue.trials(TrialState.RUNNING)
        if not running:
            return trial
        if not said:
            console.print(f"waiting for {len(running)} running trial(s) to end, in another "
                          "worker or on another machine (one whose machine stopped is run "
                          "here after the heartbeat grace)", soft_wrap=True)
            said = True
        time.sleep(min(WAIT_STEP_S, interval()))


def run_trial(queue: TrialQueue, trial: optuna.Trial, tracker: Tracker,
              data_cache: dict[Any, Any], on_epoch: EpochHook | None = None,
              ) -> tuple[str, float | None, dict[str, Any] | None]:
    """Run one claimed trial to its end; returns (state, value, params)."""
    exp = queue.plan.experiment
    dry = None if queue.plan.dry_run is None else DryTrial(queue.plan.dry_run)
    params: dict[str, Any] | None = None
    run: TrialRun | None = None
    state, value, reason = "COMPLETE", None, ""
    full: BaseException | None = None  # a full disk under the stores: the sweep stops
    beats = queue.heartbeat(trial)  # HeartbeatLost when the storage refuses the beats
    try:
        with beats:
            searched = exp.suggest(trial)
            if SLOT in trial.user_attrs:
                queue.queue_other_seeds(TrialKey.parse(trial.user_attrs[KEY]), searched)
            params = exp.params(searched)
            device = device_tag(exp.device) if dry is None else "none (dry run)"
            run = tracker.trial(trial.number, params, tags={  # the key: MLflow knows the point
                "device": device, KEY: trial.user_attrs.get(KEY, "")})
            trial.set_user_attr(MLFLOW_RUN_ID, run.run_id)
            lineage.log_experiment(run.client, run.run_id, exp)
            value = (dry.train(trial, params, run) if dry is not None else
                     train_trial(trial, params, exp.device, run, data_cache, on_epoch, exp.stream,
                            exp.models, exp.evaluate, exp.export))
    except optuna.TrialPruned:
        state = "PRUNED"
    except (Exception, HeartbeatLost) as exc:  # the trial fails, the sweep goes on
        state, reason = "FAIL", f"{type(exc).__name__}: {exc}"  # its traceback's last line
        full = exc if is_full(exc) else None  # not the trial's fault: it runs again
        with contextlib.suppress(Exception):  # a storage that refuses the heartbeat may too
            trial.set_user_attr(FAIL_REASON, reason)
        if run is not None and full is None:  # on a full disk it could not be kept either
            _keep_traceback(run, exc)
            if isinstance(exc, DivergedError):
                mark(run, reason)
    if run is not None:  # before tell: from tell to run.finish, a kill leaves the run open
        try:
            run.stop_system_metrics()
        except Exception as exc:  # the store refuses the last sample: only it is lost
            if is_full(exc) and full is None:
                state, value, reason, full = "FAIL", None, f"{type(exc).__name__}: {exc}", exc
    try:
        told = queue.study.tell(trial, value, state=getattr(optuna.trial.TrialState, state),
                                skip_if_finished=True)
    except Exception as exc:  # the storage is gone: end the MLflow run, stop the worker
        if is_full(exc):  # the trial stays RUNNING: the next sweep recovers it
            raise store_full(exc, f"trial {trial.number}'s result",
                             queue.plan) from None
        if run is not None:
            close_run(run, "FAIL", reason or f"{type(exc).__name__}: {exc}")
        raise HarnessError(f"the Optuna storage {queue.plan.storage} refused trial "
                           f"{trial.number}'s result ({type(exc).__name__}: {exc}); fix it "
                           "and run the sweep again (the trial then runs again)") from exc
    if full is not None:  # queued again; its MLflow run is closed by the next sweep
        requeue(queue.study, told, died=False)
        raise store_full(full, f"trial {trial.number}'s MLflow run", queue.plan) from None
    if told.state.name != state:  # failed meanwhile by a worker that saw no heartbeat
        state, value, reason = told.state.name, None, told.user_attrs.get(FAIL_REASON, "")
    if run is not None:
        try:
            close_run(run, state, reason)
        except Exception as exc:  # finished in Optuna; the next sweep closes the run
            if not is_full(exc):
                raise
            raise store_full(exc, f"trial {trial.number}'s MLflow run", queue.plan) from None
    if dry is not None:
        dry.report(trial.number, state, queue.claim_s, beats.beat_s, beats.failures)
        return state, value, params
    if exp.models == "best":  # after our tell: the last trial to end sees every value
        from mlflow.exceptions import MlflowException

        from harness.tracking.logged_model import keep_best

        with contextlib.suppress(MlflowException, OSError):  # the next trial's end retries
            keep_best(tracker.client, queue.trials())
    return state, value, params


def _keep_traceback(run: TrialRun, exc: BaseException) -> None:
    """The failed trial's whole traceback, as its run's `traceback.txt`."""
    text = "".join(traceback.format_exception(exc))
    try:
        run.log_traceback(text)
    except Exception as err:  # MLflow's store refuses it: the fail reason still says why
        console.print(f"[yellow]trial run {run.run_id}: traceback not kept "
                      f"({type(err).__name__})[/]")
