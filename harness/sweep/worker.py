"""Sweep workers: claim queued trials of a study and run them, here or in processes.

    work(plan)                    # this process, until the queue is empty
    run_workers(plan, 2)          # 2 spawned processes, each running `work`

A trial's parameters come from Optuna (`Experiment.suggest`); the trainer knows nothing
of Optuna or MLflow: `fit` yields epochs, and `run_trial` logs each one to the trial's
MLflow child run (`step=epoch`), reports its validation accuracy to the pruner, and at
the end tests the weights its recipe keeps (`test_weights`: the last epoch's, or the
best's). The objective is the validation accuracy of the epoch whose weights were
tested. Whatever a trial raises (a diverged loss, CUDA out of memory, a bad parameter
combination) fails that trial alone, in Optuna and in MLflow, with the reason, and the
sweep goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from harness.signals import exit_status, ignore_sigint, stop_on_sigterm
from harness.sweep.experiment import options_of
from harness.sweep.queue import Study, SweepPlan, requeue
from harness.sweep.stores import close_run
from harness.tracking import lineage
from harness.tracking.runs import Tracker, TrialRun
from harness.training.divergence import diverged, mark

TrialHook = Callable[[int, dict[str, Any] | None, str, float | None], None]
EpochHook = Callable[[int, int], None]  # (epoch, epochs)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_GRACE_S = 60  # a stopped worker's time to fail and re-queue its trial


def work(plan: SweepPlan, budget: Any = None, *, on_trial: TrialHook | None = None,
         on_epoch: EpochHook | None = None) -> Counter[str]:
    """Run queued trials in this process until the queue (or the budget) is empty.

    `on_trial(number, params, state, value)` is called with state RUNNING at the start
    (params None until known) and with the final state at the end.
    """
    budget = budget if budget is not None else new_budget(None)
    study = Study(plan)
    exp = plan.experiment
    tracker = Tracker(exp.name, plan.tracking_uri, searched=exp.searched,
                      experiment_file=str(exp.path), margin=exp.margin,
                      detection_margin=exp.detection_margin)
    data_cache: dict[tuple[Any, ...], Any] = {}  # the data set of the last trial, reused
    done: Counter[str] = Counter()
    while _take(budget):
        study.recover(tracker)
        trial = study.claim()
        if trial is None:
            _give_back(budget)
            break
        if on_trial:
            on_trial(trial.number, None, "RUNNING", None)
        with study.heartbeat(trial):
            try:
                state, value, params = run_trial(study, trial, tracker, data_cache, on_epoch)
            except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: failed and queued again
                if study.fail(trial.number, exit_status(exc)[1]):
                    requeue(study.study, study.frozen(trial.number), died=False)
                study.recover(tracker)  # its MLflow run: FAILED with the reason
                raise
        done[state] += 1
        if on_trial:
            on_trial(trial.number, params, state, value)
    return done


def run_workers(plan: SweepPlan, n: int, budget: Any = None,
                poll: Callable[[], None] | None = None) -> list[int]:
    """Run `work` in `n` spawned processes; `poll()` is called every second meanwhile."""
    budget = budget if budget is not None else new_budget(None)
    ctx = mp.get_context("spawn")
    threads = threads_per_worker(n)
    procs = [ctx.Process(target=_worker_main, args=(plan, budget, os.getpid(), threads),
                         name=f"sweep-worker-{i}") for i in range(n)]
    with ignore_sigint():  # Ctrl-C is ours; we stop the workers with SIGTERM
        for p in procs:
            p.start()
    try:
        while any(p.is_alive() for p in procs):
            if poll:
                poll()
            for p in procs:
                p.join(timeout=1 / n)
    finally:  # interrupted: each worker fails and re-queues its trial, then exits
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=STOP_GRACE_S)
            if p.is_alive():
                p.kill()  # stuck: its trial is recovered as a dead worker's
                p.join()
    return [p.exitcode or 0 for p in procs]


def threads_per_worker(n: int) -> int:
    """CPU threads for each of `n` workers: this process's cores shared out, at least 1.

    Each torch process otherwise starts one OpenMP thread per core, and n of them on the
    same cores wait on each other's threads (docs/benchmarks.md, "Why 1-thread workers").
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // n)


def _worker_main(plan: SweepPlan, budget: Any, parent: int, threads: int) -> None:
    """A spawned worker: it dies with its parent, so a killed sweep leaves no orphans."""
    # Linux: the kernel kills us the moment the parent dies, mid-trial or not; elsewhere
    # (no prctl) the watch below notices within a second.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)  # the parent died before we could ask

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    stop_on_sigterm()
    import torch

    torch.set_num_threads(threads)
    try:
        work(plan, budget)
    except KeyboardInterrupt as exc:  # cleaned up in `work`; no traceback from a worker
        sys.exit(exit_status(exc)[0])


def new_budget(trials: int | None) -> Any:
    """How many more trials may start, shared by worker processes; -1 means no limit."""
    return mp.get_context("spawn").Value("q", -1 if trials is None else trials)


def _take(budget: Any) -> bool:
    with budget.get_lock():
        if budget.value == 0:
            return False
        if budget.value > 0:
            budget.value -= 1
        return True


def _give_back(budget: Any) -> None:
    with budget.get_lock():
        if budget.value >= 0:
            budget.value += 1


def run_trial(study: Study, trial: optuna.Trial, tracker: Tracker,
              data_cache: dict[tuple[Any, ...], Any], on_epoch: EpochHook | None = None,
              ) -> tuple[str, float | None, dict[str, Any] | None]:
    """Run one claimed trial to its end; returns (state, value, params)."""
    exp = study.plan.experiment
    params: dict[str, Any] | None = None
    run: TrialRun | None = None
    state, value, reason = "COMPLETE", None, ""
    try:
        searched = exp.suggest(trial)
        if "harness.slot" in trial.user_attrs:
            _queue_other_seeds(study, trial, searched)
        params = exp.params(searched)
        device = _device(exp.device)
        run = tracker.trial(trial.number, params, tags={  # the key: MLflow knows the point
            "device": device, "harness.key": trial.user_attrs.get("harness.key", "")})
        trial.set_user_attr("mlflow_run_id", run.run_id)
        lineage.log_experiment(run.client, run.run_id, exp)
        value = _train(trial, params, exp.device, run, data_cache, on_epoch, exp.stream,
                       exp.models)
    except optuna.TrialPruned:
        state = "PRUNED"
    except Exception as exc:  # the trial fails, the sweep goes on
        state, reason = "FAIL", f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("fail_reason", reason)
        if run is not None and type(exc).__name__ == "DivergedError":
            mark(run, reason)
    if run is not None:  # before tell: from tell to run.finish, a kill leaves the run open
        run.stop_system_metrics()
    told = study.study.tell(trial, value, state=getattr(optuna.trial.TrialState, state),
                            skip_if_finished=True)
    if told.state.name != state:  # failed meanwhile by a worker that saw no heartbeat
        state, value, reason = told.state.name, None, told.user_attrs.get("fail_reason", "")
    if run is not None:
        close_run(run, state, reason)
    if exp.models == "best":  # after our tell: the last trial to end sees every value
        from mlflow.exceptions import MlflowException

        from harness.tracking.logged_model import keep_best

        with contextlib.suppress(MlflowException, OSError):  # the next trial's end retries
            keep_best(tracker.client, study.trials())
    return state, value, params


def _queue_other_seeds(study: Study, trial: optuna.Trial, searched: dict[str, Any]) -> None:
    """A tpe/random configuration runs for every seed: queue it for the seeds after the first."""
    root = trial.user_attrs["harness.key"].partition(":")[2]
    have = {t.user_attrs.get("harness.key") for t in study.trials()}
    for seed in study.plan.experiment.seeds[1:]:
        key = f"{root}:seed{seed}"
        if f"{study.fixed_id}:{key}" not in have:
            study.enqueue({**searched, "seed": seed}, key)


def _train(trial: optuna.Trial, params: dict[str, Any], device: str, run: TrialRun,
           data_cache: dict[tuple[Any, ...], Any], on_epoch: EpochHook | None,
           stream: Any = None, models: str = "all") -> float:
    """Train, log and test one trial's pipeline; returns the tested epoch's valid_acc."""
    from harness.data import load_splits
    from harness.models import build_pipeline
    from harness.models.cost import log_cost
    from harness.tracking.logged_model import log_pipeline
    from harness.training.device import seed_everything
    from harness.training.gpu_stats import GpuSampler, trial_metrics
    from harness.training.loop import TrainConfig, evaluate, fit, frontend_throughput
    from harness.training.recipes import converged, kept

    key = (*(params[f"data.{k}"] for k in ("dataset", "root", "split", "split_seed")),
           params.get("data.task", "words30"))
    if key not in data_cache:
        # One data set at a time: a random split redrawn per replicate is a new in-memory
        # copy each time (2 GB for v0.01), and a grid runs each seed's trials together.
        data_cache.clear()
        data_cache[key] = load_splits(*key[:3], key[3] or 0, task=key[4])
    data = data_cache[key]
    run.client.set_tag(run.run_id, "test_set", data.test_set)  # which test set test_acc is on
    lineage.log_data(run.client, run.run_id, params, data)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in params.items() if k in fields}, device=device)
    seed_everything(cfg.seed)  # the initial weights draw from it
    frontend, model = build_pipeline(params["frontend"], params["model"], len(data.labels),
                                     frontend_opts=options_of(params, "frontend"),
                                     model_opts=options_of(params, "model"))
    log_cost(run, frontend, model)  # params, MACs, batch-1 CPU latency of the pipeline
    epochs = []
    with (GpuSampler(device) as gpu,  # NVML utilisation and memory while it trains
          contextlib.closing(fit(model, frontend, data.train, data.valid, cfg,
                                 data.noise)) as results):
        for result in results:  # on exit the model holds the weights the recipe tests
            run.log_epoch(result)
            epochs.append(result)
            if on_epoch:
                on_epoch(result.epoch, cfg.epochs)
            trial.report(result.valid_acc, result.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {result.epoch}")
    best, tested = kept(epochs, cfg.test_weights)
    test = evaluate(model, frontend, data.test, cfg)
    mark(run, diverged(test.loss, len(data.labels), test.acc))  # counted apart in reports
    run.log_test(test_loss=test.loss, test_acc=test.acc, confusion=test.confusion,
                 labels=data.labels, best_epoch=best.epoch, best_valid_acc=best.valid_acc,
                 frontend_samples_per_s=frontend_throughput(frontend, data.valid, cfg),
                 peak_memory_mb=max(r.peak_memory_mb for r in epochs),
                 tested_epoch=tested.epoch, epochs_run=len(epochs),
                 stop_reason=epochs[-1].stop, converged=converged(epochs),
                 predictions=np.stack([data.test.labels, test.predictions], axis=1))
    run.log_metrics(trial_metrics(epochs, cfg.batch_size, gpu))  # step time, GPU use
    if cfg.robustness:
        from harness.evaluation.robustness import robustness

        run.log_metrics(robustness(model, frontend, data.test, data.noise, cfg))
    if stream is not None:  # [stream] enabled: harness/streaming/track.py
        from harness.streaming.track import stream_trial

        stream_trial(run, frontend, model, data, stream, cfg.device)
    if models != "none":  # [tracking] models; "best": harness.tracking.logged_model.keep_best
        log_pipeline(run.client, run.run_id, frontend, model, data.labels)
    return tested.valid_acc


def _device(name: str) -> str:
    """The device tag: "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3)"."""
    import torch

    from harness.training.device import resolve_device

    device = resolve_device(name)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
