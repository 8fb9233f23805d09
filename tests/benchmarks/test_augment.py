"""Augmentation cost: a training step with time shift + background noise (and + SpecAugment)
against the plain step, side by side in one run.

    pytest tests/benchmarks/test_augment.py --benchmark-enable -s    # or: nox -s bench

Each timed call is harness.train.train_epoch over 128 clips (4 steps of 32) of the
`complex` front-end into seed_cnn at width 0.25, Adam, fp32; the augmented rows pass a
harness.augment.Augmenter (shift +-100 ms, noise p 0.8 volume 0.1 from 8 noise windows;
SpecAugment 2 time masks of up to 25 frames, 2 frequency masks of up to 15 bins).
Target: at most 10% slower than the plain step (speedup >= 1 / 1.1).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from harness.augment import Augmenter
from harness.device import DeviceClips, seed_everything
from harness.models import build_pipeline
from harness.recipes import RECIPES
from harness.train import TrainConfig, prepare, train_epoch

from .conftest import N_CLASSES

BATCH, CLIPS = 32, 128
GROUP = f"augmentation: train step, complex -> seed_cnn 0.25, batch {BATCH}"
ROWS = {
    "plain": {},
    "shift_noise": {"shift_ms": 100.0, "noise_prob": 0.8, "noise_volume": 0.1},
    "shift_noise_spec": {"shift_ms": 100.0, "noise_prob": 0.8, "noise_volume": 0.1,
                         "time_masks": 2, "freq_masks": 2},
}


@pytest.mark.parametrize("row", list(ROWS))
def test_augmented_step(measure, device, tone_clips, row):
    audio, labels = tone_clips
    seed_everything(0)
    frontend, model = build_pipeline("complex", "seed_cnn", N_CLASSES, {}, {"width": 0.25})
    cfg = TrainConfig(batch_size=BATCH, device=str(device))
    prepare(model, frontend, cfg)
    data = DeviceClips(audio[:CLIPS], labels[:CLIPS], device)
    noise = (np.random.default_rng(1).standard_normal((8, 16000)) * 3000).astype(np.int16)
    recipe = dataclasses.replace(RECIPES.create("as_ran"), **ROWS[row])
    augment = Augmenter.create(recipe, noise, device, seed=0)
    assert (augment is None) == (row == "plain")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    generator = torch.Generator().manual_seed(0)
    measure(lambda: train_epoch(model, frontend, data, optimizer, scheduler, generator, cfg,
                                augment=augment),
            items=CLIPS, role=row, group=GROUP, baseline=row == "plain",
            target_speedup=None if row == "plain" else 1 / 1.1, batch_size=BATCH,
            dtype="float32")
