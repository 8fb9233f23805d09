"""Augmentation cost: a training step with time shift + background noise (and + SpecAugment)
against the plain step, side by side in one run.

    pytest tests/benchmarks/test_augment.py --benchmark-enable -s    # or: nox -s bench

Each timed call is harness.training.loop.train_epoch over 128 clips (4 steps of 32) of the
`complex` front-end into seed_cnn at width 0.25, Adam, fp32; the augmented rows pass a
harness.training.augment.Augmenter (shift +-100 ms, noise p 0.8 volume 0.1 from 8 noise windows;
SpecAugment 2 time masks of up to 25 frames, 2 frequency masks of up to 15 bins).
Target: at most 10% slower than the plain step (speedup >= 1 / 1.1).

On a shared CPU the three rows' wall-clock medians, measured one after another, drift
with the neighbours' load more than augmentation costs; `test_augmented_step_paired`
runs the three in turn, round after round, and compares the CPU time this process spent
on each (time.process_time; one torch thread), the median of its per-round ratios.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

import numpy as np
import pytest
import torch

from harness.models import build_pipeline
from harness.training.augment import Augmenter
from harness.training.config import TrainConfig
from harness.training.device import DeviceClips, seed_everything
from harness.training.loop import move_to_device, train_epoch
from harness.training.recipes import RECIPES

from .conftest import N_CLASSES

BATCH, CLIPS = 32, 128
GROUP = f"augmentation: train step, complex -> seed_cnn 0.25, batch {BATCH}"
ROWS = {
    "plain": {},
    "shift_noise": {"shift_ms": 100.0, "noise_prob": 0.8, "noise_volume": 0.1},
    "shift_noise_spec": {"shift_ms": 100.0, "noise_prob": 0.8, "noise_volume": 0.1,
                         "time_masks": 2, "freq_masks": 2},
}


def step_of(row: str, device: torch.device, tone_clips):
    """A ready call of one epoch of `row`'s training over CLIPS clips."""
    audio, labels = tone_clips
    seed_everything(0)
    frontend, model = build_pipeline("complex", "seed_cnn", N_CLASSES, {}, {"width": 0.25})
    cfg = TrainConfig(batch_size=BATCH, device=str(device))
    move_to_device(model, frontend, cfg)
    data = DeviceClips(audio[:CLIPS], labels[:CLIPS], device)
    noise = (np.random.default_rng(1).standard_normal((8, 16000)) * 3000).astype(np.int16)
    recipe = dataclasses.replace(RECIPES.create("as_ran"), **ROWS[row])
    augment = Augmenter.create(recipe, noise, device, seed=0)
    assert (augment is None) == (row == "plain")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    generator = torch.Generator().manual_seed(0)
    return lambda: train_epoch(model, frontend, data, optimizer, scheduler, generator, cfg,
                               augment=augment)


@pytest.mark.parametrize("row", list(ROWS))
def test_augmented_step(measure, device, tone_clips, row):
    measure(step_of(row, device, tone_clips), items=CLIPS, role=row, group=GROUP,
            baseline=row == "plain", budget_s=12.0, min_rounds=5,
            target_speedup=None if row == "plain" else 1 / 1.1, batch_size=BATCH,
            dtype="float32")


def test_augmented_step_paired(benchmark, device, tone_clips):
    """CPU seconds per epoch of each row, interleaved; ratios to plain in extra_info."""
    steps = {row: step_of(row, device, tone_clips) for row in ROWS}
    rounds = 8 if benchmark.enabled else 1
    seconds: dict[str, list[float]] = {row: [] for row in ROWS}

    def run() -> None:
        for step in steps.values():  # warm-up
            step()
        for i in range(rounds):
            order = list(ROWS)[i % 3:] + list(ROWS)[:i % 3]  # each row first in turn
            for row in order:
                start = time.process_time()
                steps[row]()
                seconds[row].append(time.process_time() - start)

    benchmark.pedantic(run, rounds=1)
    ratios = {row: statistics.median(a / b for a, b in zip(seconds[row], seconds["plain"],
                                                              strict=True))
              for row in ROWS if row != "plain"}
    benchmark.extra_info.update(
        cpu_seconds_median={row: statistics.median(v) for row, v in seconds.items()},
        cost_ratio_vs_plain=ratios, rounds=rounds, torch_threads=torch.get_num_threads(),
        load_avg=os.getloadavg())
    print(f"\naugmentation cost (CPU time, median of {rounds} paired rounds): "
          + ", ".join(f"{row} {r:.3f}x plain" for row, r in ratios.items())
          + f"; plain {statistics.median(seconds['plain']):.3f} s per {CLIPS} clips")
