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

And the field's standard keyword-spotting recipe:

- `honk_res15`: Tang & Lin 2018 ("Deep Residual Learning for Small-Footprint Keyword
  Spotting", ICASSP; arXiv:1710.10361) as castorini/honk runs it. Its README.md gives the
  command for every res model: `--n_epochs 26 --weight_decay 0.00001 --lr 0.1 0.01 0.001
  --schedule 3000 6000`; utils/train.py's defaults add SGD with momentum 0.9 (no Nesterov)
  and batch 64, no early stopping, and the test after the last epoch is of the live model;
  utils/model.py's SpeechDataset defaults give the augmentation (timeshift_ms 100,
  noise_prob 0.8, volume uniform up to 0.1). One difference: Honk builds a new SGD (its
  momentum buffer emptied) at each LR step; torch's MultiStepLR keeps the buffer.

Augmentation keys (`shift_ms`, `noise_prob`, `noise_volume`, `time_masks`, ...; what they do
is harness.training.augment's) default to off: the reference study used none.
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

SCHEDULES = ("constant", "one_cycle", "step")
OPTIMIZERS = ("adam", "sgd")
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
    # Defaults below are the reference study's (Adam, no augmentation): as_ran/as_written
    # name none of them.
    optimizer: str = "adam"      # adam | sgd
    momentum: float = 0.0        # SGD's momentum (Adam uses beta1)
    milestones: str = ""         # step schedule: the optimiser steps (batches) after which
    gamma: float = 0.1           # the LR is multiplied by gamma, e.g. "3000,6000"
    shift_ms: float = 0.0        # random time shift, uniform in +-shift_ms (training.augment)
    noise_prob: float = 0.0      # chance per clip of background noise mixed in
    noise_volume: float = 0.1    # its volume: uniform in [0, noise_volume]
    time_masks: int = 0          # SpecAugment: time bands per example
    time_mask_width: int = 25    # ... each up to this many frames (NeMo MatchboxNet: 25)
    freq_masks: int = 0          # SpecAugment: frequency bands per example
    freq_mask_width: int = 15    # ... each up to this many bins (NeMo MatchboxNet: 15)

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0),
                          ("time_masks", 0), ("time_mask_width", 0), ("freq_masks", 0),
                          ("freq_mask_width", 0)):
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
        self._check_optimizer()
        for name, high in (("noise_prob", 1.0), ("noise_volume", 1.0), ("momentum", 1.0),
                           ("gamma", 1.0), ("shift_ms", 500.0)):
            if not 0 <= getattr(self, name) <= high:
                raise HarnessError(f"{name}={getattr(self, name)!r}: expected a number in "
                                   f"[0, {high:g}]")

    def _check_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise HarnessError(f"optimizer={self.optimizer!r}: use one of "
                               f"{', '.join(OPTIMIZERS)}")
        if self.optimizer == "sgd" and self.schedule == "one_cycle":
            raise HarnessError("optimizer='sgd' with schedule='one_cycle': one_cycle cycles "
                               "Adam's beta1; use schedule 'constant' or 'step' with sgd")
        if (self.schedule == "step") != bool(self.milestones.strip()):
            raise HarnessError(f"schedule={self.schedule!r}, milestones={self.milestones!r}: "
                               "a step schedule needs milestones (e.g. \"3000,6000\") and "
                               "milestones need schedule = \"step\"")
        self.steps()

    def steps(self) -> list[int]:
        """The milestones as increasing optimiser-step counts (HarnessError if not)."""
        try:
            steps = [int(s) for s in self.milestones.split(",") if s.strip()]
        except ValueError:
            steps = []
        if self.milestones.strip() and (not steps or min(steps) < 1 or steps != sorted(
                set(steps))):
            raise HarnessError(f"milestones={self.milestones!r}: comma-separated increasing "
                               "step counts, e.g. \"3000,6000\"")
        return steps


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


HONK = ("Tang & Lin 2018, arXiv:1710.10361; castorini/honk README.md (res models' command), "
        "utils/train.py, utils/model.py (SpeechDataset.default_config)")


@RECIPES.register(source=HONK)
def honk_res15() -> Recipe:
    """Honk's res15: SGD (momentum 0.9), LR 0.1/0.01/0.001 at steps 3000/6000, shift, noise."""
    return Recipe(epochs=26, batch_size=64, lr=0.1, schedule="step", beta1=0.95, beta2=0.999,
                  weight_decay=1e-5, patience=26, min_delta=0.0, test_weights="last",
                  optimizer="sgd", momentum=0.9, milestones="3000,6000", gamma=0.1,
                  shift_ms=100.0, noise_prob=0.8, noise_volume=0.1)


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
    """The recipe's optimiser (Adam, or SGD with momentum) and its per-batch schedule over
    `recipe.epochs * steps_per_epoch` steps.

    step is torch's MultiStepLR at the recipe's milestones (optimiser steps). one_cycle is
    torch's OneCycleLR (pct_start 0.3, cosine, div_factor 25, final_div_factor 1e4, beta1
    cycled between BASE_MOMENTUM and recipe.beta1): at step 0 the LR is lr / 25 and beta1
    is recipe.beta1, which is what `as_ran` kept for its whole run.
    """
    import torch

    optimizer: torch.optim.Optimizer
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                                    weight_decay=recipe.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=recipe.lr, betas=(recipe.beta1, recipe.beta2),
                                     weight_decay=recipe.weight_decay)
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if recipe.schedule == "step":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, recipe.steps(),
                                                         gamma=recipe.gamma)
    elif recipe.schedule == "one_cycle":
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
    """Whether a finished run's epochs (harness.training.loop.EpochResult: `stop`, `is_best`, `lr`)
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

