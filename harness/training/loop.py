"""Training: `fit` yields one EpochResult per epoch; `evaluate`; throughput figures.

Checkpoints (front-end and network weights) are harness/checkpoint.py's.

    seed_everything(0)                      # before building: the initial weights draw from it
    frontend, model = build_pipeline(frontend="complex", model="seed_cnn", n_classes=30)
    for r in fit(model, frontend, splits.train, splits.valid, TrainConfig(epochs=3)):
        print(r.epoch, r.valid_acc)         # the model holds the best weights so far here
    print(evaluate(model, frontend, splits.test, TrainConfig()).acc)

Input pipeline, as in airbench (the tensors and devices are `training.device`'s): batches are
drawn from one int16 tensor by indexing with a seeded permutation, scaled to float32 on the
device and passed through the front-end once per batch. No DataLoader, no per-clip Python.
Training drops the last partial batch of each epoch (a new one each epoch, so every clip is
still seen): every step then has the same size, a BatchNorm never sees a batch of one, and
the one-cycle schedule's length is exactly epochs * (N // batch_size) steps. On CPU,
`move_to_device` also tunes glibc's malloc (`keep_freed_memory`): 1.8x faster steps.

The recipe (Adam, its schedule, when to stop, which weights to test) is `harness.training.recipes`';
the default is the reference study as it ran. The trainer knows nothing of Optuna or MLflow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.training.augment import Augmenter
from harness.training.config import TrainConfig
from harness.training.device import (
    DeviceClips,
    keep_freed_memory,
    peak_memory_mb,
    resolve_device,
    seed_everything,
    sync,
)
from harness.training.divergence import DivergedError
from harness.training.recipes import build_optimizer

if TYPE_CHECKING:
    from harness.data import Clips

# Steps between NaN checks of the loss: each check waits for the GPU, so not every step.
CHECK_EVERY = 25
# Validation keeps no activations for a backward pass, so on a GPU it runs in batches this
# large: 8x fewer launches at batch 128. On CPU it keeps the training batch size (a larger
# one there only raises peak memory; the CPU is compute-bound either way).
EVAL_BATCH_CUDA = 1024


@dataclass
class EpochResult:
    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy over the epoch's batches, in train mode
    train_acc: float
    valid_loss: float
    valid_acc: float
    lr: float  # LR after the epoch's last step
    beta1: float  # Adam's beta1 after the epoch's last step (one_cycle cycles it)
    epoch_seconds: float  # training and validation
    train_samples_per_s: float  # clips/s over the training loop: data, front-end, model, optimiser
    eval_samples_per_s: float  # clips/s over the validation pass
    peak_memory_mb: float  # CUDA max allocated since fit started on GPU, process max RSS on CPU
    is_best: bool  # lowest valid_loss so far (lower than the best by more than min_delta)
    stop: str = ""  # on the last epoch: "early_stopping" or "epoch_cap"; else ""


@dataclass
class EvalResult:
    loss: float  # mean cross-entropy per clip
    acc: float
    confusion: np.ndarray  # (n_classes, n_classes) int64, rows = true label, cols = predicted
    samples_per_s: float
    predictions: np.ndarray  # (N,) int64 predicted label per clip, in the clips' order
    # (N,) int64: the argmax over only the `among` logits (a model's label index), else None
    among_predictions: np.ndarray | None = None


def move_to_device(model: nn.Module | None, frontend: nn.Module,
                   cfg: TrainConfig) -> torch.device:
    """Move both to cfg's device; the front-end is always in eval mode (a learnable one
    behaves the same in both, see harness.frontends.base.Frontend)."""
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        keep_freed_memory()
    frontend.to(device).eval()
    if model is not None:
        model.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
    return device


def forward(model: nn.Module, frontend: nn.Module, x: torch.Tensor,
            cfg: TrainConfig, augment: Augmenter | None = None) -> torch.Tensor:
    """x (B, T) float32 -> logits (B, n_classes) float32; `augment` (training only) shifts and
    mixes noise into x and masks the features.

    The front-end runs outside autocast (spectrogram magnitudes span many decades, too
    many for bf16 before any log), and without gradients unless it learns (has parameters).
    """
    learns = torch.is_grad_enabled() and next(frontend.parameters(), None) is not None
    with torch.set_grad_enabled(learns):
        features = frontend(x) if augment is None else augment.features(
            frontend(augment.waves(x)))
    if cfg.channels_last and features.ndim == 4:
        features = features.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
        return model(features).float()


def train_epoch(model: nn.Module, frontend: nn.Module, data: DeviceClips,
                optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                generator: torch.Generator, cfg: TrainConfig, epoch: int = 1,
                augment: Augmenter | None = None) -> tuple[float, float, float]:
    """One pass in a fresh seeded order -> (mean loss, accuracy, training clips/s).

    Losses and hits accumulate on the device; the host waits for the GPU only every
    CHECK_EVERY steps (to catch a NaN) and at the end.
    """
    model.train()
    size = min(cfg.batch_size, len(data))
    steps = len(data) // size
    order = torch.randperm(len(data), generator=generator).to(data.audio.device)
    losses = torch.zeros(steps, device=data.device)
    hits = torch.zeros((), dtype=torch.int64, device=data.device)
    sync(data.device)
    start = time.perf_counter()
    for step in range(steps):
        x, y = data.batch(order[step * size:(step + 1) * size])
        logits = forward(model, frontend, x, cfg, augment)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses[step] = loss.detach()
        hits += (logits.argmax(1) == y).sum()
        if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps:
            finite = torch.isfinite(losses[:step + 1])
            if not finite.all():
                first = int((~finite).nonzero()[0])
                raise DivergedError(epoch, first + 1, steps, float(losses[first]))
    sync(data.device)
    seconds = time.perf_counter() - start
    return losses.mean().item(), hits.item() / (steps * size), steps * size / seconds


@torch.no_grad()
def _evaluate(model: nn.Module, frontend: nn.Module, data: DeviceClips,
              cfg: TrainConfig, among: Sequence[int] | None = None) -> EvalResult:
    if len(data) == 0:
        raise HarnessError("nothing to evaluate: the valid or test split has no clips")
    model.eval()
    size = max(cfg.batch_size, EVAL_BATCH_CUDA) if data.device.type == "cuda" else cfg.batch_size
    loss_sum = torch.zeros((), device=data.device)
    counts: torch.Tensor | None = None
    predicted, restricted = [], []
    subset = None if among is None else torch.as_tensor(list(among), device=data.device)
    sync(data.device)
    start = time.perf_counter()
    for first in range(0, len(data), size):
        idx = torch.arange(first, min(first + size, len(data)), device=data.audio.device)
        x, y = data.batch(idx)
        logits = forward(model, frontend, x, cfg)
        k = logits.shape[1]
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        predicted.append(logits.argmax(1))
        if subset is not None:
            restricted.append(subset[logits[:, subset].argmax(1)])
        # (true, predicted) pairs counted as one flat histogram, reshaped below. scatter_add_,
        # not bincount: CUDA's bincount reads the largest index back to the host every call.
        pairs = y * k + predicted[-1]
        if counts is None:
            counts = torch.zeros(k * k, dtype=torch.int64, device=data.device)
        counts.scatter_add_(0, pairs, torch.ones_like(pairs))
    sync(data.device)
    seconds = time.perf_counter() - start
    assert counts is not None  # len(data) > 0
    confusion = counts.view(k, k).cpu().numpy()
    return EvalResult(loss=loss_sum.item() / len(data), acc=float(np.trace(confusion)) / len(data),
                      confusion=confusion, samples_per_s=len(data) / seconds,
                      predictions=torch.cat(predicted).cpu().numpy(),
                      among_predictions=torch.cat(restricted).cpu().numpy() if restricted
                      else None)


def evaluate(model: nn.Module, frontend: nn.Module, clips: Clips, cfg: TrainConfig,
             among: Sequence[int] | None = None) -> EvalResult:
    """Loss, accuracy and confusion matrix of `model` on `clips`, in eval mode; with `among`
    (label indices) also each clip's argmax over those logits alone (`among_predictions`)."""
    device = move_to_device(model, frontend, cfg)
    return _evaluate(model, frontend, DeviceClips(clips.audio, clips.labels, device), cfg,
                     among)


def fit(model: nn.Module, frontend: nn.Module, train: Clips, valid: Clips,
        cfg: TrainConfig, noise: np.ndarray | None = None) -> Iterator[EpochResult]:
    """Train `model` on front-end features of `train`, yielding one EpochResult per epoch.

    The optimiser and schedule are the recipe's (`harness.training.recipes.build_optimizer`), so is
    the augmentation of training batches (`harness.training.augment`; `noise`: SplitData.noise, the
    windows it mixes in); validation is never augmented. Training
    stops after `patience` epochs without a valid loss lower than the best by more than
    `min_delta`, or at `epochs`; the last result's `stop` says which. Whenever control is
    with the caller (at each yield, and after the loop however it ends: a stop, `break`, an
    exception, a diverged loss), the model is in eval mode and holds the weights the recipe
    tests: the live ones for `test_weights = "last"`, the best so far (lowest valid loss)
    for "best", swapped back before training resumes. So a caller needs no `close()`.
    """
    device = move_to_device(model, frontend, cfg)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: pick the fastest kernels once
        torch.cuda.reset_peak_memory_stats(device)
    seed_everything(cfg.seed)  # dropout draws from the global generator
    generator = torch.Generator().manual_seed(cfg.seed)  # shuffling, apart from dropout
    augment = Augmenter.create(cfg.resolved, noise, device, cfg.seed)  # None: all off
    train_data = DeviceClips(train.audio, train.labels, device)
    valid_data = DeviceClips(valid.audio, valid.labels, device)
    if len(train_data) == 0:
        raise HarnessError("nothing to train on: the train split has no clips")
    steps = len(train_data) // min(cfg.batch_size, len(train_data))
    step_model = torch.compile(model) if cfg.compile else model
    trained = nn.ModuleList([model, frontend])  # a learnable front-end trains with the model
    optimizer, scheduler = build_optimizer(trained.parameters(), cfg.resolved, steps)
    keep_best = cfg.test_weights == "best"
    best_loss, best, since_best = math.inf, None, 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            start = time.perf_counter()
            train_loss, train_acc, train_rate = train_epoch(
                step_model, frontend, train_data, optimizer, scheduler, generator, cfg, epoch,
                augment)
            valid_result = _evaluate(step_model, frontend, valid_data, cfg)
            is_best = valid_result.loss < best_loss - cfg.min_delta
            if is_best:
                best_loss, since_best = valid_result.loss, 0
                best = _snapshot(trained) if keep_best else None
            else:
                since_best += 1
            stop = ("early_stopping" if not is_best and since_best >= cfg.patience
                    else "epoch_cap" if epoch == cfg.epochs else "")
            result = EpochResult(
                epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                valid_loss=valid_result.loss, valid_acc=valid_result.acc,
                lr=scheduler.get_last_lr()[0], beta1=_beta1(optimizer),
                epoch_seconds=time.perf_counter() - start,
                train_samples_per_s=train_rate, eval_samples_per_s=valid_result.samples_per_s,
                peak_memory_mb=peak_memory_mb(device), is_best=is_best, stop=stop)
            live = _snapshot(trained) if keep_best and not is_best and best is not None else None
            if live is not None:
                trained.load_state_dict(best)
            model.eval()
            yield result
            if stop:
                break
            if live is not None:
                trained.load_state_dict(live)
    finally:
        if keep_best and best is not None:
            trained.load_state_dict(best)
        model.eval()


@torch.no_grad()
def frontend_throughput(frontend: nn.Module, clips: Clips, cfg: TrainConfig,
                        max_clips: int = 2048) -> float:
    """Clips/s of the front-end alone (int16 batch -> features) over up to `max_clips` clips."""
    device = move_to_device(None, frontend, cfg)
    n = min(len(clips.audio), max_clips)
    data = DeviceClips(clips.audio[:n], clips.labels[:n], device)
    batches = [torch.arange(i, min(i + cfg.batch_size, n), device=data.audio.device)
               for i in range(0, n, cfg.batch_size)]
    frontend(data.batch(batches[0])[0])  # warm-up: FFT plans, allocator
    sync(device)
    start = time.perf_counter()
    for idx in batches:
        frontend(data.batch(idx)[0])
    sync(device)
    return n / (time.perf_counter() - start)


def _beta1(optimizer: torch.optim.Optimizer) -> float:
    """Adam's beta1, or SGD's momentum (the same role: the gradient average's decay)."""
    group = optimizer.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum", 0.0)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


