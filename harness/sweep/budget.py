"""How many more trials a sweep may start: one count, shared by its worker processes.

    budget = Budget(10)        # None: no limit
    while budget.take(): ...   # a worker, before it claims a trial (give_back if none was left)
    budget.close()             # the sweep stops: no worker starts another trial

`harness sweep --trials N` on a grid sets it; harness.sweep.faults.FirstFailures closes it
when the first trials all fail alike. It travels to spawned workers (harness.sweep.worker).
"""

from __future__ import annotations

import multiprocessing as mp


class Budget:
    """How many more trials may start, shared by a sweep's worker processes (it travels to
    spawned ones); None: no limit. The one place that counts them."""

    def __init__(self, trials: int | None = None) -> None:
        self._left = mp.get_context("spawn").Value("q", -1 if trials is None else trials)

    def take(self) -> bool:
        """One more trial may start (counted), or not."""
        with self._left.get_lock():
            if self._left.value == 0:
                return False
            if self._left.value > 0:
                self._left.value -= 1
            return True

    def give_back(self) -> None:
        """A taken trial that did not start (the queue was empty)."""
        with self._left.get_lock():
            if self._left.value >= 0:
                self._left.value += 1

    @property
    def closed(self) -> bool:
        """No trial may start any more (`close`d, or all taken)."""
        return self._left.value == 0

    def close(self) -> None:
        """No worker starts another trial (those running finish)."""
        with self._left.get_lock():
            self._left.value = 0
