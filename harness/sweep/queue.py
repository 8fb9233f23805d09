"""Optuna studies over experiment files: a queue of trials shared by any number of workers.

    plan = SweepPlan.create(load_experiment("quick"))   # journal under runs/optuna/
    fill_queue(plan)     # study + MLflow parent run; dead trials re-queued; queue filled
    harness.sweep.worker.work(plan)                           # then run the queue
    queue = TrialQueue(plan); queue.claim(); queue.fail(number, why)   # what workers use
    python -m harness sweep experiments/quick.toml --workers 2     # all of it

How the work is shared. Every trial is enqueued (Optuna WAITING) before it runs, and a
worker claims one with the storage's atomic WAITING -> RUNNING update, so processes on
any number of machines share one study without running anything twice. A grid enqueues
its points, seed outermost; tpe/random enqueue one slot per configuration whose
parameters the sampler fills in when it is claimed, and that trial then enqueues the
same configuration for the other seeds (paired seeds; repeats are claimed first). Each
queued trial has an identity (`harness.key`, harness.sweep.trial_key); if two starting
processes queued the same one, the later copy is closed as a duplicate when claimed. The
attribute names are harness.tracking.names'. Trials carry the hash of the
experiment's fixed values (`harness.fixed`): a run with other fixed values (`--epochs
1`) adds its own trials to the study and never claims these.

Resume and dead workers. Re-running a command fills the queue only with what is
missing: COMPLETE, PRUNED and FAIL trials are not run again (`--retry-failed` re-queues
the FAIL ones). A RUNNING trial whose process died is failed and re-queued
(`harness.retry_of`): on the same host as soon as its process is gone (harness.processes),
elsewhere when its heartbeat is older than the grace (GRACE_S, or $HARNESS_HEARTBEAT_GRACE_S;
Optuna's own heartbeat on RDB storages; a trial attribute on journal files, which have none;
harness/sweep/heartbeat.py); after MAX_RETRY retries it stays FAIL with its reason
(harness/sweep/faults.py). A worker that finds nothing to claim while trials of its plan
still run elsewhere waits for them (harness.sweep.worker), so a machine switched off
mid-trial costs that trial's time and the grace, not the rest of the study.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

from harness.processes import this_process
from harness.sweep.faults import recover, requeue, retry_failed
from harness.sweep.heartbeat import Heartbeat, grace, interval
from harness.sweep.plan import SweepPlan
from harness.sweep.restore import restore_from_mlflow
from harness.sweep.stores import creation_lock, rdb_storage, repair_journal
from harness.sweep.trial_key import TrialKey
from harness.tracking.names import (
    DUPLICATE,
    FAIL_REASON,
    FILLING,
    FIXED,
    HEARTBEAT,
    KEY,
    RETRY_OF,
    SLOT,
    WORKER,
)
from harness.tracking.runs import Tracker
from harness.training.recipes import resolve


class TrialQueue:
    """A plan's Optuna study as a queue of trials: fill, claim, fail, heartbeat (dead
    workers' trials: harness.sweep.faults.recover)."""

    def __init__(self, plan: SweepPlan) -> None:
        exp = plan.experiment
        self.plan, self.fixed_id = plan, plan.fixed_id
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.claim_s = 0.0  # how long the last `claim` took, seconds (the scale check's figure)
        if "://" in plan.storage:
            self.storage: BaseStorage = rdb_storage(
                plan.storage, heartbeat_interval=interval(), grace_period=grace(),
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
        return _plan_trials(self.study.get_trials(deepcopy=False), self.fixed_id, states)

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def frozen(self, number: int) -> FrozenTrial:
        return self.storage.get_trial(self.trial_id(number))

    def keys(self) -> set[str]:
        """The keys of this plan's trials (harness.sweep.trial_key.TrialKey, as text)."""
        return {t.user_attrs.get(KEY) for t in self.trials()}

    def enqueue(self, params: dict[str, Any], key: TrialKey, **attrs: Any) -> None:
        self.study.enqueue_trial(params, user_attrs={FIXED: self.fixed_id, KEY: str(key),
                                                     **attrs})

    def fail(self, number: int, reason: str) -> bool:
        """Fail a RUNNING trial; False when another process finished it first."""
        trial_id = self.trial_id(number)
        try:
            self.storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
            return self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            return False

    def fill(self, more: int | None) -> None:
        """Queue what is missing: the grid points, or n_trials (or `more`) configurations.

        A process that finds another one filling (a marker under a minute old) waits for
        it, so workers started together do not queue everything twice; if they still
        do (a tie), `claim` drops the later copies.
        """
        marker = f"{FILLING}.{self.fixed_id}"
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
        have = self.keys()
        if exp.sampler == "grid":
            for point in exp.grid():
                key = TrialKey.of_grid(self.fixed_id, point)
                if str(key) not in have:
                    self.enqueue(point, key)
            return
        slots = [int(t.user_attrs[SLOT]) for t in self.trials() if SLOT in t.user_attrs]
        start = max(slots, default=-1) + 1 if more is not None else 0
        count = math.ceil((more if more is not None else exp.n_trials or 0) / len(exp.seeds))
        for slot in range(start, start + count):
            key = TrialKey.of_slot(self.fixed_id, slot)
            if str(key) not in have:
                self.enqueue({"seed": exp.seeds[0]}, key, **{SLOT: slot})

    def queue_other_seeds(self, key: TrialKey, searched: dict[str, Any]) -> None:
        """A tpe/random configuration runs for every seed: queue the sampled values of the
        configuration `key` (its first seed's) for the seeds after the first."""
        have = self.keys()
        for seed in self.plan.experiment.seeds[1:]:
            if str(key.for_seed(seed)) not in have:
                self.enqueue({**searched, "seed": seed}, key.for_seed(seed))

    def restore(self, params: dict[str, Any], key: TrialKey, state: TrialState,
                value: float | None, **attrs: Any) -> None:
        """Add a trial that finished elsewhere (its MLflow run; harness.sweep.restore) as
        finished here, made as a worker's trial is: queued with `params`, asked through
        `Experiment.suggest` (so its distributions are the experiment's), told `state`."""
        self.enqueue(params, key, **attrs)
        number = max(t.number for t in self.study.get_trials(
            deepcopy=False, states=(TrialState.WAITING,)) if t.user_attrs.get(KEY) == str(key))
        trial_id = self.trial_id(number)
        self.storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        trial = optuna.Trial(self.study, trial_id)
        self.plan.experiment.suggest(trial)
        self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)

    def pending(self) -> int:
        """How many trials the queue will still run: a fresh tpe/random slot, one per seed."""
        seeds = len(self.plan.experiment.seeds)
        return sum(seeds if SLOT in t.user_attrs and RETRY_OF not in t.user_attrs else 1
                   for t in self.trials(TrialState.WAITING))

    def heartbeat(self, trial: optuna.Trial) -> Heartbeat:
        """`with queue.heartbeat(trial):` tells the storage that the trial's process lives,
        and stops the block (HeartbeatLost) when the storage cannot be told."""
        trial_id, storage = self.trial_id(trial.number), self.storage

        def beat() -> None:  # Optuna's own heartbeat on RDB storages; journals have none
            if isinstance(storage, RDBStorage):
                storage.record_heartbeat(trial_id)
            else:
                storage.set_trial_system_attr(trial_id, HEARTBEAT, time.time())
        return Heartbeat(beat, f"trial {trial.number}")

    def claim(self) -> optuna.Trial | None:
        """Take the next queued trial of this plan (seed repeats and retries first)."""
        start = time.monotonic()
        try:
            return self._claim()
        finally:
            self.claim_s = time.monotonic() - start

    def _claim(self) -> optuna.Trial | None:
        # One read of the study serves the claim and its duplicate check: a copy of this
        # trial's point numbered lower (queued twice) was made before it, so it is in the
        # read; so is a point already done (restored). Optuna's cached storage re-reads only
        # the unfinished trials, so a claim costs the length of the queue, not of the study.
        every = self.study.get_trials(deepcopy=False)
        plan = _plan_trials(every, self.fixed_id)
        waiting = [t for t in every
                   if t.state == TrialState.WAITING and t.user_attrs.get(FIXED) == self.fixed_id]
        waiting.sort(key=lambda t: (SLOT in t.user_attrs and RETRY_OF not in t.user_attrs,
                                    t.number))
        for t in waiting:
            trial_id = self.trial_id(t.number)
            try:
                if not self.storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                    continue
            except UpdateFinishedTrialError:
                continue
            self.storage.set_trial_system_attr(trial_id, WORKER, this_process())
            key = t.user_attrs.get(KEY)
            if any(o.user_attrs.get(KEY) == key and o.number != t.number and (
                    o.number < t.number or o.state in (TrialState.COMPLETE, TrialState.PRUNED))
                   for o in plan):  # queued twice, or already done (restored)
                self.storage.set_trial_user_attr(trial_id, DUPLICATE, True)
                self.fail(t.number, "a duplicate of a trial queued by another process")
                continue
            return optuna.Trial(self.study, trial_id)
        return None


def _plan_trials(every: list[FrozenTrial], fixed_id: str,
                 states: tuple[TrialState, ...] = ()) -> list[FrozenTrial]:
    """The trials of the plan `fixed_id` among `every`, leaving out retried and duplicate
    ones; only those in `states` when given."""
    retried = {t.user_attrs.get(RETRY_OF) for t in every}
    return [t for t in every if t.user_attrs.get(FIXED) == fixed_id
            and t.number not in retried and not t.user_attrs.get(DUPLICATE)
            and (not states or t.state in states)]


def fill_queue(plan: SweepPlan, more: int | None = None, *,
               retry: bool = False) -> Counter[str]:
    """Open the queue: create or load the study and its parent run, recover dead trials,
    then fill it (`more`: that many more tpe/random trials); `retry`: queue the FAIL
    trials again (`harness sweep --retry-failed`). This plan's trials by state."""
    exp = plan.experiment
    with creation_lock(plan.storage, plan.tracking_uri):  # two sweeps on a fresh runs/
        queue = TrialQueue(plan)
        tracker = Tracker(exp.name, plan.tracking_uri, searched=exp.searched,
                          experiment_file=str(exp.path), margin=exp.margin,
                          detection_margin=exp.detection_margin)
    queue.study.set_user_attr("experiment_file", str(exp.path))
    recover(queue, tracker)
    restore_from_mlflow(queue, tracker)  # what MLflow finished and Optuna lost
    if retry:
        retry_failed(queue)
    queue.fill(more)
    return counts(queue)


def counts(queue: TrialQueue | SweepPlan) -> Counter[str]:
    """This plan's trials by state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    queue = queue if isinstance(queue, TrialQueue) else TrialQueue(queue)
    return Counter(t.state.name for t in queue.trials())


def finish(plan: SweepPlan) -> Counter[str]:
    """This plan's trials by state; the parent run is closed once nothing is left to run."""
    by_state = counts(plan)
    if not by_state["RUNNING"] and not by_state["WAITING"]:
        Tracker(plan.experiment.name, plan.tracking_uri).close()
    return by_state
