"""A sweep's worker processes: start `n`, each running harness.sweep.worker.work, and stop them.

    run_workers(plan, 2)               # 2 processes, each running `work` until the queue is empty
    run_workers(plan, 2, Budget(10))   # at most 10 trials among them (harness.sweep.budget)

Each worker dies with the sweep's process (PR_SET_PDEATHSIG, or a watch where there is no
prctl), so a killed sweep leaves no orphans; a stopped sweep sends its workers SIGTERM and
gives each STOP_GRACE_S to fail and re-queue its trial. The trial loop itself is
harness.sweep.worker's.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from harness.console import console
from harness.disk import is_full
from harness.errors import HarnessError
from harness.signals import exit_status, ignore_sigint, stop_on_sigterm
from harness.sweep.budget import Budget
from harness.sweep.faults import store_full
from harness.sweep.plan import SweepPlan
from harness.sweep.worker import work

PR_SET_PDEATHSIG = 1  # linux/prctl.h
STOP_GRACE_S = 60  # a stopped worker's time to fail and re-queue its trial


def run_workers(plan: SweepPlan, n: int, budget: Budget | None = None,
                poll: Callable[[], None] | None = None) -> list[int]:
    """Run `work` in `n` spawned processes; `poll()` is called every second meanwhile.

    A dry run's workers are forked from a forkserver that imported this module once, and
    with it harness.sweep.worker and its imports: they share those ~180 MB (MLflow's, mostly)
    instead of each loading its own, so 64 of them fit in a load test's memory
    (docs/scaling.md). Real workers are spawned: torch and CUDA must start in a clean process.
    """
    budget = budget if budget is not None else Budget()
    if plan.dry_run is None:
        ctx, parent = mp.get_context("spawn"), os.getpid()
    else:
        ctx, parent = mp.get_context("forkserver"), None  # their parent: the forkserver
        ctx.set_forkserver_preload([__name__])  # imports harness.sweep.worker: all a worker needs
    threads = threads_per_worker(n)
    procs = [ctx.Process(target=_worker_main, args=(plan, budget, parent, threads),
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


def _worker_main(plan: SweepPlan, budget: Budget, parent: int | None, threads: int) -> None:
    """A spawned worker: it dies with its parent (the sweep's process, or None: the
    forkserver, which ends with the sweep's), so a killed sweep leaves no orphans."""
    # Linux: the kernel kills us the moment the parent dies, mid-trial or not; elsewhere
    # (no prctl) the watch below notices within a second.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        os._exit(1)  # the parent died before we could ask

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    stop_on_sigterm()
    if plan.dry_run is None:  # a dry run's workers never import torch
        import torch

        torch.set_num_threads(threads)
    try:
        try:
            work(plan, budget)
        except Exception as exc:  # a full disk met outside a trial: one line too
            if isinstance(exc, HarnessError) or not is_full(exc):
                raise
            raise store_full(exc, "a worker's records", plan) from None
    except KeyboardInterrupt as exc:  # cleaned up in `work`; no traceback from a worker
        sys.exit(exit_status(exc)[0])
    except HarnessError as exc:  # its storage gone, a full disk: one line, as the CLI says
        budget.close()  # the others start no trial: they would meet the same
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)

