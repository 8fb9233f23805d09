"""Training recipes: named, registered bundles of every key that decides how a model trains.

    RECIPES.create("as_ran")          # Recipe(epochs=50, batch_size=128, lr=0.0004, ...)
    resolve({"recipe": "as_written", "lr": 3e-3})   # the recipe's values, then the overrides
    optimizer, scheduler = build_optimizer(model.parameters(), recipe, steps_per_epoch=75)

Each registered function is the one home of its recipe's values: the CLI, the experiment
files, TrainConfig and the report read them from here. An experiment names `recipe = "..."`
and may override single keys (`lr = 3e-3`); MLflow logs the name and every resolved value.

The two recipes of the reference study (sources in docs/replication.md):

- `as_ran`: what the post's code did. Its one-cycle scheduler was never stepped (luz has no
  `on_batch_end` breakpoint), so Adam kept the values `lr_one_cycle` set when it was built:
  LR max_lr / div_factor = 1e-2 / 25 = 4e-4 and beta1 = max_momentum = 0.95. Early stopping
  on the validation loss (patience 3), and the last epoch's weights were tested.
- `as_written`: what the post meant: one-cycle to 1e-2 stepped per batch (beta1 cycling
  between 0.85 and 0.95, torch's defaults), the same stopping, the last weights tested.

Testing the best epoch's weights instead is `test_weights = "best"` in either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.registry import Registry

if TYPE_CHECKING:
    import torch

SCHEDULES = ("constant", "one_cycle")
TEST_WEIGHTS = ("last", "best")
BASE_MOMENTUM = 0.85  # one-cycle's lowest beta1 (torch's and R torch's default)


@dataclass(frozen=True)
class Recipe:
    """How a model is trained. Each field is also a sweep key of the same name."""

    epochs: int            # at most this many; early stopping usually ends sooner
    batch_size: int
    lr: float              # the constant LR, or the one-cycle peak
    schedule: str          # constant | one_cycle (stepped per batch)
    beta1: float           # Adam's beta1 (one_cycle: its highest, cycled down to 0.85)
    beta2: float
    weight_decay: float    # Adam's L2 penalty (torch.optim.Adam weight_decay)
    patience: int          # epochs without a lower valid loss before stopping
    min_delta: float       # a valid loss counts as lower when below the best by more
    test_weights: str      # last | best: which epoch's weights are tested

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise HarnessError(f"{name}={value!r}: expected an integer >= {low}")
        if not self.lr > 0 or not self.weight_decay >= 0 or not self.min_delta >= 0:
            raise HarnessError(f"lr={self.lr!r}, weight_decay={self.weight_decay!r}, "
                               f"min_delta={self.min_delta!r}: expected lr > 0 and the "
                               "others >= 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise HarnessError(f"beta1={self.beta1!r}, beta2={self.beta2!r}: each must be "
                               "in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise HarnessError(f"schedule={self.schedule!r}: use one of {', '.join(SCHEDULES)}")
        if self.schedule == "one_cycle" and self.beta1 < BASE_MOMENTUM:
            raise HarnessError(f"beta1={self.beta1!r}: one_cycle cycles beta1 down to "
                               f"{BASE_MOMENTUM}, so it must be at least that")
        if self.test_weights not in TEST_WEIGHTS:
            raise HarnessError(f"test_weights={self.test_weights!r}: use one of "
                               f"{', '.join(TEST_WEIGHTS)}")


RECIPE_KEYS = tuple(f.name for f in dataclasses.fields(Recipe))
KEY_TYPES: dict[str, type] = {f.name: {"int": int, "float": float, "str": str}[str(f.type)]
                              for f in dataclasses.fields(Recipe)}
RECIPES: Registry[Recipe] = Registry("recipe")
POST = "the reference study's code, read with luz and torch for R (docs/replication.md)"


@RECIPES.register(source=POST)
def as_ran() -> Recipe:
    """The study as it ran: Adam at a constant 4e-4, betas (0.95, 0.999), last weights."""
    return Recipe(epochs=50, batch_size=128, lr=4e-4, schedule="constant", beta1=0.95,
                  beta2=0.999, weight_decay=0.0, patience=3, min_delta=0.0,
                  test_weights="last")


@RECIPES.register(source=POST)
def as_written() -> Recipe:
    """The study as written: one-cycle to 1e-2 stepped per batch, last weights."""
    return Recipe(epochs=50, batch_size=128, lr=1e-2, schedule="one_cycle", beta1=0.95,
                  beta2=0.999, weight_decay=0.0, patience=3, min_delta=0.0,
                  test_weights="last")


DEFAULT_RECIPE = "as_ran"


def resolve(values: Mapping[str, Any]) -> Recipe:
    """The recipe `values["recipe"]` (default DEFAULT_RECIPE) with the recipe keys that
    `values` gives (not None) put over it; other keys are ignored. HarnessError on a bad
    name or value."""
    base = RECIPES.create(values.get("recipe") or DEFAULT_RECIPE)
    given = {k: values[k] for k in RECIPE_KEYS if values.get(k) is not None}
    return dataclasses.replace(base, **given) if given else base


def build_optimizer(params: Iterable[torch.nn.Parameter], recipe: Recipe,
                    steps_per_epoch: int,
                    ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam and the recipe's per-batch schedule over `recipe.epochs * steps_per_epoch` steps.

    one_cycle is torch's OneCycleLR (pct_start 0.3, cosine, div_factor 25, final_div_factor
    1e4, beta1 cycled between BASE_MOMENTUM and recipe.beta1): at step 0 the LR is
    lr / 25 and beta1 is recipe.beta1, which is what `as_ran` kept for its whole run.
    """
    import torch

    optimizer = torch.optim.Adam(params, lr=recipe.lr, betas=(recipe.beta1, recipe.beta2),
                                 weight_decay=recipe.weight_decay)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if recipe.schedule == "one_cycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch,
            base_momentum=BASE_MOMENTUM, max_momentum=recipe.beta1)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    return optimizer, scheduler


def kept(epochs: Sequence[Any], test_weights: str) -> tuple[Any, Any]:
    """(the best epoch, the epoch whose weights were tested) of a run's EpochResults: the
    last epoch that set a new best valid loss (the first if none did), and for
    `test_weights = "last"` the last epoch, else that best one."""
    best = next((r for r in reversed(epochs) if r.is_best), epochs[0])
    return best, epochs[-1] if test_weights == "last" else best


def converged(epochs: Sequence[Any]) -> bool:
    """Whether a finished run's epochs (harness.train.EpochResult: `stop`, `is_best`, `lr`)
    count as converged, which the report requires before it gives a verdict.

    Not converged: stopped at the epoch cap with the valid loss still falling (the last
    epoch the best so far); or stopped early while the LR was still rising (one-cycle's
    warm-up, where a climbing LR, not a trained-out model, pushes the valid loss up). So the
    rule reads the curve, not where in a schedule the run happened to end. A run that did
    not end by `stop` (pruned, interrupted) is not converged.
    """
    if not epochs:
        return False
    last = epochs[-1]
    if last.stop == "epoch_cap":
        return not last.is_best
    if last.stop == "early_stopping":
        return not (len(epochs) >= 2 and last.lr > epochs[-2].lr)
    return False

