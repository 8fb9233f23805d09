"""Optuna studies over experiment files: a queue of trials shared by any number of workers.

    plan = SweepPlan.create(load_experiment("quick"))   # journal under runs/optuna/
    prepare(plan)        # study + MLflow parent run; dead trials re-queued; queue filled
    harness.sweep.worker.work(plan)                           # then run the queue
    python -m harness sweep experiments/quick.toml --workers 2     # all of it

How the work is shared. Every trial is enqueued (Optuna WAITING) before it runs, and a
worker claims one with the storage's atomic WAITING -> RUNNING update, so processes on
any number of machines share one study without running anything twice. A grid enqueues
its points, seed outermost; tpe/random enqueue one slot per configuration whose
parameters the sampler fills in when it is claimed, and that trial then enqueues the
same configuration for the other seeds (paired seeds; repeats are claimed first). Each
queued trial has an identity (`harness.key`); if two starting processes queued the same
one, the later copy is closed as a duplicate when claimed. Trials carry the hash of the
experiment's fixed values (`harness.fixed`): a run with other fixed values (`--epochs
1`) adds its own trials to the study and never claims these.

Resume and dead workers. Re-running a command fills the queue only with what is
missing: COMPLETE, PRUNED and FAIL trials are not run again (`--retry-failed` re-queues
the FAIL ones). A RUNNING trial whose process died is failed and re-queued
(`harness.retry_of`): on the same host as soon as its PID is gone, elsewhere when its
heartbeat is older than GRACE_S (Optuna's own heartbeat on RDB storages; a trial
attribute on journal files, which have none); after MAX_RETRY retries it stays FAIL
with its reason (harness/faults.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import socket
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage, fail_stale_trials
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from harness.sweep.experiment import Experiment
from harness.sweep.faults import ATTEMPT, DIED, gave_up, may_retry, requeue, retry_failed
from harness.sweep.stores import creation_lock, repair_journal, restore_from_mlflow
from harness.tracking.runs import Tracker, resolve_tracking_uri
from harness.training.recipes import resolve

HEARTBEAT_S = 20   # seconds between heartbeats of a running trial
GRACE_S = 120      # a trial of another host is dead after this long without one
HOST = socket.gethostname()


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """What every worker needs, picklable for spawned processes."""

    experiment: Experiment
    storage: str        # an Optuna RDB URL, or the path of a journal file
    tracking_uri: str

    @classmethod
    def create(cls, exp: Experiment, storage: str | None = None,
               tracking_uri: str | None = None) -> SweepPlan:
        journal = Path("runs", "optuna", f"{exp.name}.journal").resolve()
        return cls(exp, storage or str(journal), resolve_tracking_uri(tracking_uri))

    @property
    def fixed_id(self) -> str:
        """Short hash of the experiment's identity (the fixed values its file and overrides
        give): trials of other fixed values are not ours."""
        text = json.dumps(self.experiment.identity, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


class Study:
    """An Optuna study with the claim/fail/re-queue operations the sweep needs."""

    def __init__(self, plan: SweepPlan) -> None:
        exp = plan.experiment
        self.plan, self.fixed_id = plan, plan.fixed_id
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if "://" in plan.storage:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                self.storage: BaseStorage = RDBStorage(
                    plan.storage, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=requeue)
        else:
            Path(plan.storage).parent.mkdir(parents=True, exist_ok=True)
            repair_journal(plan.storage)  # a torn last record would poison the next append
            self.storage = JournalStorage(JournalFileBackend(plan.storage))
        sampler: optuna.samplers.BaseSampler = (
            optuna.samplers.TPESampler(constant_liar=True) if exp.sampler == "tpe"
            else optuna.samplers.RandomSampler())  # a grid's trials come fully enqueued
        pruner: optuna.pruners.BasePruner = {
            "none": optuna.pruners.NopPruner(),
            # Steps are 1-based epochs and the earliest prune is at step == n_warmup_steps:
            # 2 lets every trial finish its first epoch, whose accuracy says little.
            "median": optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
            "hyperband": optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=resolve(exp.fixed).epochs),
        }[exp.pruner]
        self.study = optuna.create_study(storage=self.storage, study_name=exp.name,
                                         direction="maximize", sampler=sampler,
                                         pruner=pruner, load_if_exists=True)
        self.study_id = self.storage.get_study_id_from_name(exp.name)

    def trials(self, *states: TrialState) -> list[FrozenTrial]:
        """This plan's trials, leaving out retried and duplicate ones."""
        all_trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("harness.retry_of") for t in all_trials}
        return [t for t in all_trials if t.user_attrs.get("harness.fixed") == self.fixed_id
                and t.number not in retried and not t.user_attrs.get("harness.duplicate")
                and (not states or t.state in states)]

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def frozen(self, number: int) -> FrozenTrial:
        return self.storage.get_trial(self.trial_id(number))

    def enqueue(self, params: dict[str, Any], key: str, **attrs: Any) -> None:
        self.study.enqueue_trial(params, user_attrs={
            "harness.fixed": self.fixed_id, "harness.key": f"{self.fixed_id}:{key}", **attrs})

    def fail(self, number: int, reason: str) -> bool:
        """Fail a RUNNING trial; False when another process finished it first."""
        trial_id = self.trial_id(number)
        try:
            self.storage.set_trial_user_attr(trial_id, "fail_reason", reason)
            return self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False

    def fill(self, more: int | None) -> None:
        """Queue what is missing: the grid points, or n_trials (or `more`) configurations.

        A process that finds another one filling (a marker under a minute old) waits for
        it, so workers started together do not queue everything twice; if they still
        do (a tie), `claim` drops the later copies.
        """
        marker = f"harness.filling.{self.fixed_id}"
        for _ in range(120):
            other = self.study.user_attrs.get(marker)
            if not other or other.get("done") or time.time() - other["time"] > 60:
                break
            time.sleep(0.5)
        self.study.set_user_attr(marker, {"time": time.time(), "done": False})
        self._fill(more)
        self.study.set_user_attr(marker, {"time": time.time(), "done": True})

    def _fill(self, more: int | None) -> None:
        exp = self.plan.experiment
        have = {t.user_attrs.get("harness.key") for t in self.trials()}
        if exp.sampler == "grid":
            for point in exp.grid():
                key = json.dumps(point, sort_keys=True)
                if f"{self.fixed_id}:{key}" not in have:
                    self.enqueue(point, key)
            return
        slots = [int(t.user_attrs["harness.slot"]) for t in self.trials()
                 if "harness.slot" in t.user_attrs]
        start = max(slots, default=-1) + 1 if more is not None else 0
        count = math.ceil((more if more is not None else exp.n_trials or 0) / len(exp.seeds))
        for slot in range(start, start + count):
            if f"{self.fixed_id}:slot{slot}" not in have:
                self.enqueue({"seed": exp.seeds[0]}, f"slot{slot}", **{"harness.slot": slot})

    def recover(self, tracker: Tracker | None = None) -> None:
        """Fail and re-queue RUNNING trials whose process is gone; close their MLflow runs."""
        rdb = isinstance(self.storage, RDBStorage)
        if rdb:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(self.study)  # Optuna's heartbeat; re-queues via `requeue`
        now = time.time()
        for t in self.trials(TrialState.RUNNING):
            if not _abandoned(t, now, rdb):
                continue
            retry = may_retry(t)  # else the cap: it killed its worker every time (OOM?)
            if self.fail(t.number, DIED if retry else gave_up(t.user_attrs.get(ATTEMPT, 1))):
                requeue(self.study, self.frozen(t.number))
        if tracker is not None:  # MLflow runs of trials that failed while RUNNING there
            tracker.fail_orphans({t.number: t.user_attrs.get("fail_reason") or DIED
                                  for t in self.study.get_trials(
                                      deepcopy=False, states=(TrialState.FAIL,))}, DIED)
            tracker.close_finished({t.number: (t.state.name, t.user_attrs.get("fail_reason", ""))
                                    for t in self.study.get_trials(deepcopy=False)
                                    if t.state.is_finished()})  # killed after telling Optuna

    def pending(self) -> int:
        """How many trials the queue will still run: a fresh tpe/random slot, one per seed."""
        seeds = len(self.plan.experiment.seeds)
        return sum(seeds if "harness.slot" in t.user_attrs
                   and "harness.retry_of" not in t.user_attrs else 1
                   for t in self.trials(TrialState.WAITING))

    def heartbeat(self, trial: optuna.Trial) -> _Heartbeat:
        """`with study.heartbeat(trial):` tells the storage that the trial's process lives."""
        return _Heartbeat(self.storage, self.trial_id(trial.number))

    def claim(self) -> optuna.Trial | None:
        """Take the next queued trial of this plan (seed repeats and retries first)."""
        waiting = [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                   if t.user_attrs.get("harness.fixed") == self.fixed_id]
        waiting.sort(key=lambda t: ("harness.slot" in t.user_attrs
                                    and "harness.retry_of" not in t.user_attrs, t.number))
        for t in waiting:
            trial_id = self.trial_id(t.number)
            try:
                if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    continue
            except UpdateFinishedTrialError:
                continue
            self.storage.set_trial_system_attr(trial_id, "harness.worker", _me())
            key = t.user_attrs.get("harness.key")
            if any(o.user_attrs.get("harness.key") == key and o.number != t.number and (
                    o.number < t.number or o.state in (TrialState.COMPLETE, TrialState.PRUNED))
                   for o in self.trials()):  # queued twice, or already done (restored)
                self.storage.set_trial_user_attr(trial_id, "harness.duplicate", True)
                self.fail(t.number, "a duplicate of a trial queued by another process")
                continue
            return optuna.Trial(self.study, trial_id)
        return None


def _me() -> dict[str, Any]:
    return {"host": HOST, "pid": os.getpid(), "start": _process_start(os.getpid())}


def _process_start(pid: int) -> str | None:
    """The process's start time from /proc (None when unknown); "Z" for a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return "Z" if fields[0] in ("Z", "X") else fields[19]


def _abandoned(t: FrozenTrial, now: float, rdb: bool) -> bool:
    """Is this RUNNING trial's process gone (same host), or silent for too long (journal)?"""
    worker = t.system_attrs.get("harness.worker")
    if worker and worker.get("host") == HOST:
        try:
            os.kill(worker["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, another user's
        start = _process_start(worker["pid"])
        if start == "Z" or (start and worker.get("start") and start != worker["start"]):
            return True  # a zombie, or the PID now belongs to another process
    if rdb:
        return False  # Optuna's heartbeat decides for the other hosts
    started = t.datetime_start.timestamp() if t.datetime_start else now
    return now - float(t.system_attrs.get("harness.heartbeat", started)) > GRACE_S


class _Heartbeat:
    """A thread that tells the storage, every HEARTBEAT_S, that this trial's process lives."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self.storage, self.trial_id, self.stop = storage, trial_id, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            try:
                if isinstance(self.storage, RDBStorage):
                    self.storage.record_heartbeat(self.trial_id)
                else:
                    self.storage.set_trial_system_attr(self.trial_id, "harness.heartbeat",
                                                       time.time())
            except Exception:  # a storage hiccup: the next beat may get through
                pass
            if self.stop.wait(HEARTBEAT_S):
                return

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def prepare(plan: SweepPlan, more: int | None = None, *,
            retry: bool = False) -> Counter[str]:
    """Create or load the study and its parent run, recover dead trials, fill the queue;
    `retry`: queue the FAIL trials again (`harness sweep --retry-failed`)."""
    exp = plan.experiment
    with creation_lock(plan.storage, plan.tracking_uri):  # two sweeps on a fresh runs/
        study = Study(plan)
        tracker = Tracker(exp.name, plan.tracking_uri, searched=exp.searched,
                          experiment_file=str(exp.path), margin=exp.margin,
                          detection_margin=exp.detection_margin)
    study.study.set_user_attr("experiment_file", str(exp.path))
    study.recover(tracker)
    restore_from_mlflow(study, tracker)  # what MLflow finished and Optuna lost
    if retry:
        retry_failed(study)
    study.fill(more)
    return counts(study)


def counts(study: Study | SweepPlan) -> Counter[str]:
    """This plan's trials by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    study = study if isinstance(study, Study) else Study(study)
    return Counter(t.state.name for t in study.trials())


def finish(plan: SweepPlan) -> Counter[str]:
    """This plan's trials by state; the parent run is closed once nothing is left to run."""
    by_state = counts(plan)
    if not by_state["RUNNING"] and not by_state["WAITING"]:
        Tracker(plan.experiment.name, plan.tracking_uri).close()
    return by_state
