"""TrainConfig: one training run's recipe (its keys overridable) and how to execute it.

    cfg = TrainConfig(recipe="as_ran", lr=2e-3, epochs=3)   # every recipe key filled in
    cfg.lr, cfg.resolved                                    # 0.002, the Recipe in force

The recipe keys and their defaults are harness.training.recipes'; the trainer
(harness.training.loop) reads a TrainConfig and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.training.recipes import DEFAULT_RECIPE, RECIPE_KEYS, Recipe, resolve


@dataclass
class TrainConfig:
    """One run: a recipe (harness.training.recipes; its keys overridable) and how to execute it.

    The recipe keys default to None, "the recipe's value"; construction fills every one in
    (and checks it), so `cfg.lr` is always a number. Each field is also a sweep key. The
    recipe keys are Recipe's fields, in its order, each `<its type> | None = None`
    (tests/test_train.py checks the two against each other).
    """

    recipe: str = DEFAULT_RECIPE
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    schedule: str | None = None
    beta1: float | None = None
    beta2: float | None = None
    weight_decay: float | None = None
    patience: int | None = None
    min_delta: float | None = None
    test_weights: str | None = None
    optimizer: str | None = None
    momentum: float | None = None
    milestones: str | None = None
    gamma: float | None = None
    shift_ms: float | None = None  # augmentation (training.augment), off unless the recipe says
    noise_prob: float | None = None
    noise_volume: float | None = None
    time_masks: int | None = None
    time_mask_width: int | None = None
    freq_masks: int | None = None
    freq_mask_width: int | None = None
    robustness: bool = False  # after testing, the sweep also runs harness.evaluation.robustness
    amp: bool = False  # bf16 autocast around the model; the front-end stays float32
    channels_last: bool = False
    compile: bool = False  # torch.compile the model
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **given: Any) -> TrainConfig:
        """The config of a trial's flat params (its other keys ignored), `given` over them."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in params.items() if k in names}, **given})

    def __post_init__(self) -> None:
        resolved = resolve(dataclasses.asdict(self))
        for key in RECIPE_KEYS:
            setattr(self, key, getattr(resolved, key))

    @property
    def resolved(self) -> Recipe:
        return Recipe(**{k: getattr(self, k) for k in RECIPE_KEYS})
