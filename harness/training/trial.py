"""One training run, trained and tested: what `harness train` and a sweep's trial both run,
so the two judge a run alike (converged, diverged) from one place.

    seed_everything(cfg.seed)
    frontend, model = build_pipeline(...)
    outcome = train_and_test(model, frontend, data, cfg, on_epoch=print)
    outcome.test.acc, outcome.converged, outcome.diverged   # "" unless it diverged

A loss that turns NaN stops training with harness.training.divergence.DivergedError; one
that stays finite but ends far above chance is `outcome.diverged` (its reason). A sweep
tags either `diverged` and keeps it out of the comparison; `harness train` exits with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from harness.training.config import TrainConfig
from harness.training.divergence import diverged
from harness.training.loop import EpochResult, EvalResult, evaluate, fit
from harness.training.recipes import converged, kept


@dataclass
class Outcome:
    """A finished run: its epochs, which weights were tested, and how it ended."""

    epochs: list[EpochResult]
    best: EpochResult     # the last epoch that set a new lowest valid loss
    tested: EpochResult   # the epoch whose weights were tested (the recipe's test_weights)
    test: EvalResult      # the test split, on those weights
    converged: bool       # harness.training.recipes.converged
    diverged: str         # why it counts as diverged (harness.training.divergence); "" if not

    @property
    def stop_reason(self) -> str:
        """"early_stopping" or "epoch_cap"."""
        return self.epochs[-1].stop


def train_and_test(model: nn.Module, frontend: nn.Module, data: Any, cfg: TrainConfig,
                   on_epoch: Callable[[EpochResult], None] | None = None) -> Outcome:
    """Fit `model` on `data` (harness.data.SplitData: train, valid, test, noise, labels), then
    test the weights the recipe keeps.

    `on_epoch(result)` is called after each epoch (to print or log it); whatever it raises
    (a pruned trial) ends training with the recipe's weights in the model. DivergedError
    when the training loss turns NaN or infinite.
    """
    epochs: list[EpochResult] = []
    with contextlib.closing(fit(model, frontend, data.train, data.valid, cfg,
                                data.noise)) as results:
        for result in results:
            epochs.append(result)
            if on_epoch:
                on_epoch(result)
    best, tested = kept(epochs, cfg.test_weights)
    test = evaluate(model, frontend, data.test, cfg)
    return Outcome(epochs=epochs, best=best, tested=tested, test=test,
                   converged=converged(epochs),
                   diverged=diverged(test.loss, len(data.labels), test.acc))
