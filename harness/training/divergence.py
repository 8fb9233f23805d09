"""Runs that diverged: tagged in MLflow, counted apart in the report, never averaged in.

    why = diverged(test_loss=1.2e7, n_classes=30, test_acc=0.034)   # "" when it did not
    mark(run, why)                                                   # tag `diverged`

A loss that turned NaN or infinite stops training (DivergedError, raised by
harness.training.loop) and fails the trial; that trial is tagged too. A loss that stays
finite but explodes (max_lr 1000: test loss 1e7, accuracy at chance) used to finish
COMPLETE and be averaged into the comparison. The line: a cross-entropy above
DIVERGED_FACTOR times the chance level ln K (what predicting every class alike scores; 34
for 30 classes at factor 10). A model that merely learned nothing sits near ln K, not far
above it, and is not called diverged.
"""

from __future__ import annotations

import math
from typing import Any

DIVERGED_FACTOR = 10.0
TAG = "diverged"  # child-run tag: the reason, present only on diverged runs


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int, step: int, steps: int, loss: float) -> None:
        super().__init__(f"training diverged: loss {loss} at epoch {epoch}, step {step} of "
                         f"{steps}; lower lr or check the front-end's output")
        self.epoch, self.step, self.loss = epoch, step, loss


def diverged(test_loss: float, n_classes: int, test_acc: float | None = None) -> str:
    """Why a finished run counts as diverged, or "" when it does not."""
    chance = math.log(max(n_classes, 2))
    acc = "" if test_acc is None else (f"; test accuracy {test_acc:.3f} "
                                       f"(chance {1 / max(n_classes, 1):.3f})")
    if not math.isfinite(test_loss):
        return f"test loss {test_loss}{acc}"
    if test_loss > DIVERGED_FACTOR * chance:
        return (f"test loss {test_loss:.3g} is above {DIVERGED_FACTOR:g} x the chance level "
                f"ln {n_classes} = {chance:.3g}{acc}")
    return ""


def mark(run: Any, why: str) -> None:
    """Tag a harness.tracking.runs.TrialRun as diverged (nothing when `why` is empty)."""
    if why:
        run.client.set_tag(run.run_id, TAG, why[:5000])
