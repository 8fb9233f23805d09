"""Learning-rate range test (Smith 2015, fastai's lr_find): the loss as the LR grows.

    python -m harness lr-find --frontend complex --model seed_cnn --model-opt width=0.25

One batch per step, plain Adam without a schedule, the LR growing exponentially from
`min_lr` to `max_lr`. The loss is smoothed by a bias-corrected exponential moving average,
and the test stops early once the smoothed loss passes `diverge` times its minimum or
becomes non-finite. The model's weights are put back afterwards.

Suggested one-cycle max_lr: the LR of the lowest smoothed loss divided by 10 -- the rule of
the one-cycle papers, and steadier than the steepest-descent point, which is reported too.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.training.config import TrainConfig
from harness.training.device import DeviceClips, seed_everything
from harness.training.loop import forward, move_to_device

if TYPE_CHECKING:
    from harness.data import Clips


@dataclass
class LRFindResult:
    lrs: list[float]  # one per step taken
    losses: list[float]  # the batch's training loss at that LR
    smoothed: list[float]  # bias-corrected moving average of `losses`
    min_loss_lr: float  # LR of the lowest smoothed loss
    steepest_lr: float  # LR where the smoothed loss falls fastest per decade of LR
    suggested_lr: float  # min_loss_lr / 10
    stopped_early: bool  # the loss exploded before max_lr


def lr_range_test(model: nn.Module, frontend: nn.Module, train: Clips, cfg: TrainConfig, *,
                  min_lr: float = 1e-7, max_lr: float = 1.0, steps: int = 100,
                  beta: float = 0.98, diverge: float = 4.0) -> LRFindResult:
    """Train for up to `steps` batches with LR min_lr -> max_lr (geometric); restore weights."""
    device = move_to_device(model, frontend, cfg)
    seed_everything(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    data = DeviceClips(train.audio, train.labels, device)
    size = min(cfg.batch_size, len(data))
    per_epoch = len(data) // size
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=min_lr, betas=(cfg.beta1, cfg.beta2),
                                 weight_decay=cfg.weight_decay)
    lrs, losses, smoothed = [], [], []
    avg, best, stopped = 0.0, math.inf, False
    model.train()
    try:
        for step in range(steps):
            if step % per_epoch == 0:  # a fresh order each pass over the data
                order = torch.randperm(len(data), generator=generator).to(data.audio.device)
            lr = min_lr * (max_lr / min_lr) ** (step / max(steps - 1, 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            i = step % per_epoch
            x, y = data.batch(order[i * size:(i + 1) * size])
            loss = F.cross_entropy(forward(model, frontend, x, cfg), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()  # one sync per step is fine here: this is not the timed loop
            avg = beta * avg + (1 - beta) * value
            lrs.append(lr)
            losses.append(value)
            smoothed.append(avg / (1 - beta ** (step + 1)))
            best = min(best, smoothed[-1])
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge * best:
                stopped = step + 1 < steps
                break
    finally:
        model.load_state_dict(saved)
        model.eval()
    return _suggest(lrs, losses, smoothed, stopped)


def _suggest(lrs: list[float], losses: list[float], smoothed: list[float],
             stopped: bool) -> LRFindResult:
    curve = np.array(smoothed)
    finite = np.isfinite(curve)
    lowest = int(np.argmin(np.where(finite, curve, np.inf)))
    # Steepest descent in loss per decade of LR, searched up to the minimum only.
    if lowest >= 2:
        slope = np.gradient(curve[:lowest + 1], np.log10(lrs[:lowest + 1]))
        steepest = lrs[int(np.argmin(slope))]
    else:
        steepest = lrs[lowest]
    return LRFindResult(lrs=lrs, losses=losses, smoothed=smoothed, min_loss_lr=lrs[lowest],
                        steepest_lr=steepest, suggested_lr=lrs[lowest] / 10,
                        stopped_early=stopped)


def write_lr_find(result: LRFindResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write lr_find.csv (step, lr, loss, smoothed_loss) and lr_find.png into `out_dir`."""
    from matplotlib.figure import Figure  # no pyplot: no global backend, no GUI

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out / "lr_find.csv", out / "lr_find.png"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "lr", "loss", "smoothed_loss"])
        for i, row in enumerate(zip(result.lrs, result.losses, result.smoothed, strict=True)):
            writer.writerow([i + 1, *(f"{v:.6g}" for v in row)])
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="batch loss")
    ax.plot(result.lrs, result.smoothed, color="C0", label="smoothed")
    ax.axvline(result.suggested_lr, color="C2", ls="--",
               label=f"suggested max_lr {result.suggested_lr:.2g} (min / 10)")
    ax.axvline(result.steepest_lr, color="C1", ls=":",
               label=f"steepest {result.steepest_lr:.2g}")
    finite = [v for v in result.smoothed if math.isfinite(v)]
    if finite:  # keep the explosion at the end from squashing the interesting part
        ax.set_ylim(min(finite) * 0.9, min(max(finite), 2.5 * finite[0]) * 1.05)
    ax.set(xscale="log", xlabel="learning rate", ylabel="training loss",
           title="LR range test")
    ax.legend(fontsize="small")
    fig.savefig(png_path, dpi=120)
    return csv_path, png_path
