"""Transfer: train a model on one data set, test it on recordings of another (words by name).

    outcome = train_and_transfer(params, data, {"fsdd dev": (dev_clips, dev_words)})
    outcome.own_acc                     # on the training set's own test split
    outcome.real["fsdd dev"]            # Scores(acc=..., restricted_acc=...)

The training is `harness.training.loop.fit` under the recipe in `params` (a trial's flat
params, `harness.sweep.experiment.Experiment.params`), the test `harness.training.loop.evaluate`.
Accuracy on the other set is measured two ways, as `harness evaluate` reports it:

- `acc`: the argmax over all of the model's words (what a deployed model decides: 30-way for
  a words30 model, so "marvin" for a real "nine" is an error);
- `restricted_acc`: the argmax over the other set's words only (10-way on the digits), which
  asks whether the model ranks the right digit above the other digits.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.evaluation.other_data import label_map

Other = tuple[Any, Sequence[str]]  # (harness.data.Clips, its label names)


@dataclass(frozen=True)
class Scores:
    """A trained model on another set's clips (fractions correct)."""

    acc: float              # argmax over every word the model knows
    restricted_acc: float   # argmax over the other set's words only
    clips: int


@dataclass(frozen=True)
class Outcome:
    """One trained model: its own test accuracy and its scores on each other set."""

    frontend: str
    seed: int
    own_acc: float                 # on the training set's test split
    real: dict[str, Scores]        # other set's name -> scores
    epochs: int                    # epochs trained (early stopping included)
    seconds: float                 # training and testing, wall clock


class _Restricted(nn.Module):
    """A network whose logits outside `keep` are -inf, so its argmax picks among `keep`."""

    def __init__(self, model: nn.Module, keep: np.ndarray, n_classes: int) -> None:
        super().__init__()
        self.model = model
        mask = torch.full((n_classes,), float("-inf"))
        mask[torch.from_numpy(keep)] = 0.0
        self.register_buffer("mask", mask)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model(features) + self.mask


def score(model: nn.Module, frontend: nn.Module, clips: Any, words: Sequence[str],
          model_words: Sequence[str], cfg: Any) -> Scores:
    """`clips` (labels index `words`) through a trained front-end + network, both ways."""
    from harness.data import Clips
    from harness.training.loop import evaluate

    mapping = label_map(model_words, words, "being transferred")
    relabelled = Clips(clips.audio, mapping[clips.labels])
    full = evaluate(model, frontend, relabelled, cfg).acc
    restricted = _Restricted(model, mapping, len(model_words)).to(next(model.parameters()).device)
    return Scores(acc=full, restricted_acc=evaluate(restricted, frontend, relabelled, cfg).acc,
                  clips=len(clips.labels))


def train_and_transfer(params: Mapping[str, Any], data: Any, others: Mapping[str, Other],
                       device: str = "cpu") -> Outcome:
    """Train `params`' front-end and network on `data` (a harness.data.SplitData), test it on
    its own test split and on each of `others` (name -> (Clips, label names)).

    `params`: a trial's flat params; its `frontend.*` / `model.*` keys are the options."""
    from harness.models import build_pipeline
    from harness.training.config import TrainConfig
    from harness.training.device import seed_everything
    from harness.training.loop import evaluate, fit

    start = time.perf_counter()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in params.items() if k in fields and k != "device"},
                      device=device)
    opts = {kind: {k.partition(".")[2]: v for k, v in params.items()
                   if k.startswith(f"{kind}.")} for kind in ("frontend", "model")}
    seed_everything(cfg.seed)  # the initial weights draw from it
    frontend, model = build_pipeline(params["frontend"], params["model"], len(data.labels),
                                     frontend_opts=opts["frontend"], model_opts=opts["model"])
    epochs = len(list(fit(model, frontend, data.train, data.valid, cfg, data.noise)))
    own = evaluate(model, frontend, data.test, cfg).acc  # fit left the recipe's weights in
    real = {name: score(model, frontend, clips, words, data.labels, cfg)
            for name, (clips, words) in others.items()}
    return Outcome(frontend=params["frontend"], seed=cfg.seed, own_acc=own, real=real,
                   epochs=epochs, seconds=time.perf_counter() - start)
