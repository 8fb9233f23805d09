"""`harness sweep`.

    python -m harness sweep                                  # experiments/quick.toml
    python -m harness sweep tune --workers 2 --trials 10     # 10 more trials, 2 processes
    python -m harness sweep quick --epochs 1 --set model.width=0.125 --device cpu
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from rich.markup import escape

from harness.console import console, progress
from harness.errors import HarnessError
from harness.tracking.names import FAIL_REASON


def sweep(args: argparse.Namespace) -> int:
    """Run or resume the study of one experiment file; one line per finished trial."""
    from harness.cli import parse_options
    from harness.disk import is_full
    from harness.signals import stop_on_sigterm
    from harness.sweep.experiment import check_pipelines
    from harness.sweep.experiment_file import load_experiment
    from harness.sweep.faults import store_full
    from harness.sweep.plan import SweepPlan
    from harness.sweep.preflight import check_sweep

    if args.workers is not None and args.workers < 1:
        raise HarnessError(f"--workers {args.workers}: give 1 or more")
    if args.trials is not None and args.trials < 1:
        raise HarnessError(f"--trials {args.trials}: give 1 or more")
    if args.dry_run is not None and not 0 <= args.dry_run < float("inf"):
        raise HarnessError(f"--dry-run {args.dry_run}: give seconds per epoch, 0 or more")
    overrides = parse_options(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.device is not None:
        overrides["device"] = args.device
    if args.task is not None:
        overrides["data.task"] = args.task
    exp = load_experiment(args.experiment, overrides)
    if args.dry_run is None:  # a dry run builds nothing
        exp = check_pipelines(exp)
    args.workers = args.workers or exp.workers  # the file's [search] workers, else 1
    for fe, model, why in exp.excluded:
        console.print(f"skipping {fe} + {model}: {why}")
    plan = SweepPlan.create(exp, args.storage, args.tracking_uri, args.dry_run)
    stop_on_sigterm()  # a scheduler's SIGTERM cleans up like Ctrl-C
    check_sweep(plan)  # device, data (prepared here, once), stores: before any trial exists
    try:
        return _run(plan, args)
    except Exception as exc:  # a full disk under the stores: one line; the re-run recovers
        if isinstance(exc, HarnessError) or not is_full(exc):
            raise
        raise store_full(exc, "the sweep's records", plan) from None


def _run(plan: Any, args: argparse.Namespace) -> int:
    """Fill the queue and run it (in this process, or `args.workers` processes); the
    summary. `plan`: a harness.sweep.plan.SweepPlan that passed check_sweep."""
    from harness.sweep.budget import Budget
    from harness.sweep.faults import FirstFailures
    from harness.sweep.queue import TrialQueue, fill_queue, finish
    from harness.sweep.stores import plan_disagreement
    from harness.sweep.worker import work
    from harness.sweep.worker_processes import run_workers
    from harness.training.recipes import resolve

    exp = plan.experiment
    before = fill_queue(plan, more=args.trials, retry=args.retry_failed)
    grid_budget = args.trials if exp.sampler == "grid" else None
    todo = TrialQueue(plan).pending()
    todo = todo if grid_budget is None else min(grid_budget, todo)
    finished = sum(before[s] for s in ("COMPLETE", "PRUNED", "FAIL"))
    console.print(f"[bold]{exp.name}[/]: {finished} trials finished, {todo} to run "
                  f"({args.workers} worker{'s' if args.workers > 1 else ''})\n"
                  f"  Optuna: {plan.storage}\n  MLflow: {plan.tracking_uri}")
    budget = Budget(grid_budget)
    streak = FirstFailures(todo)
    stop: list[str] = []

    def watch(state: str, reason: str) -> None:  # the first trials all failing alike stop it
        why = streak.add(state, reason)
        if why:
            stop.append(why)
            budget.close()  # no worker starts another trial
    epochs = resolve(exp.fixed).epochs  # the cap; a searched epochs shows the recipe's

    with progress() as bar:
        trials_task = bar.add_task("trials", total=todo)
        if args.workers == 1:
            epoch_task = bar.add_task("epochs", total=epochs, visible=False)

            def on_trial(number: int, params: dict[str, Any] | None, state: str,
                         value: float | None) -> None:
                if state == "RUNNING":
                    bar.reset(epoch_task, total=epochs, visible=True,
                              description=f"trial {number}")
                    return
                bar.advance(trials_task)
                bar.update(epoch_task, visible=False)
                bar.console.print(_line(number, _searched(params, exp.searched), state, value))
                watch(state, TrialQueue(plan).frozen(number).user_attrs.get(FAIL_REASON, ""))

            def on_epoch(epoch: int, total: int) -> None:
                bar.update(epoch_task, completed=epoch, total=total)

            work(plan, budget, on_trial=on_trial, on_epoch=on_epoch)
            failed_workers = 0
        else:
            queue = TrialQueue(plan)
            seen = {t.number for t in queue.trials() if t.state.is_finished()}

            def poll() -> None:  # the workers print nothing; report what they finished
                for t in queue.trials():
                    if t.state.is_finished() and t.number not in seen:
                        seen.add(t.number)
                        bar.advance(trials_task)
                        bar.console.print(_line(t.number, t.params, t.state.name, t.value))
                        watch(t.state.name, t.user_attrs.get(FAIL_REASON, ""))

            exit_codes = run_workers(plan, args.workers, budget, poll=poll)
            poll()
            failed_workers = sum(code != 0 for code in exit_codes)
    _summary(exp.name, finish(plan), TrialQueue(plan))
    apart = plan_disagreement(plan.storage, exp.name, plan.tracking_uri)
    if apart:
        console.print(f"[yellow]{escape(apart)}[/]", soft_wrap=True)
    if stop:
        raise HarnessError(stop[0])
    if failed_workers:
        console.print(f"[red]{failed_workers} worker process(es) exited with an error[/]")
        return 1
    return 0


def _searched(params: dict[str, Any] | None, keys: list[str]) -> dict[str, Any]:
    return {k: params[k] for k in keys if k in params} if params else {}


def _line(number: int, params: dict[str, Any], state: str, value: float | None) -> str:
    shown = escape(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in params.items()))  # escaped: not rich markup
    color = {"COMPLETE": "green", "PRUNED": "yellow"}.get(state, "red")
    result = f" valid_acc={value:.4f}" if value is not None and state == "COMPLETE" else ""
    return f"trial {number:4d} [{color}]{state:8s}[/]{result}  {shown}"


def _summary(name: str, by_state: Counter[str], queue: Any) -> None:
    parts = ", ".join(f"{by_state[s]} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL",
                                                               "RUNNING", "WAITING")
                      if by_state[s])
    console.print(f"[bold]{name}[/]: {parts or 'no trials'}")
    complete = [t for t in queue.trials() if t.state.name == "COMPLETE"]
    if complete:
        best = max(complete, key=lambda t: t.value)
        console.print(f"best: trial {best.number}, valid_acc={best.value:.4f}, "
                      f"{best.params}")
    failed = [t for t in queue.trials() if t.state.name == "FAIL"]
    for t in failed[:5]:
        console.print(f"[red]trial {t.number} failed[/]: {t.user_attrs.get(FAIL_REASON, '?')}")
    console.print(f"next: python -m harness report {name}   |   python -m harness ui")
