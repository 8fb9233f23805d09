"""Input-pipeline cost: this harness's pipeline vs the reference study's vs pure model steps.

    pytest tests/benchmarks/test_pipeline.py --benchmark-enable -s    # or: nox -s bench

One training epoch over 512 clips (4 steps of 128), the `complex` front-end, seed_cnn at
width 0.25, Adam + one-cycle, the same `harness.training.loop.forward` for every row:
  reference  the reference study's style: a torch Dataset computing the spectrogram of one
             clip in __getitem__, batched by a DataLoader (shuffle, num_workers=0)
  pure       model steps on pre-made feature batches: the floor (the group's baseline)
  ours       harness.training.loop.train_epoch: the clips as one int16 tensor, batches drawn by
             indexing with a seeded permutation, the front-end run once per batch
Target: ours takes at most 10% longer than pure (speedup >= 1 / 1.1). `ours` runs last and
records both ratios (ours/reference, ours/pure, as time ratios) in its extra_info.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from harness.models import build_pipeline
from harness.training.config import TrainConfig
from harness.training.device import DeviceClips, seed_everything
from harness.training.loop import forward, move_to_device, train_epoch

from .conftest import N_CLASSES, Variant, cuda_sync

BATCH = 128
MEDIANS: dict[tuple[str, str], float] = {}  # (variant, role) -> median seconds per epoch


def setup(variant: Variant, device: torch.device):
    """Front-end, model, step model, config, optimiser and schedule, all seeded alike."""
    seed_everything(0)
    frontend, model = build_pipeline("complex", "seed_cnn", N_CLASSES, {}, {"width": 0.25})
    cfg = TrainConfig(batch_size=BATCH, amp=variant.amp, channels_last=variant.channels_last,
                      compile=variant.compile, device=str(device))
    move_to_device(model, frontend, cfg)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    # Long enough for every round: the schedule's position does not change a step's cost.
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=10_000)
    step_model = torch.compile(model) if variant.compile else model
    return frontend, step_model, cfg, optimizer, scheduler


def model_steps(batches, step_model, cfg, optimizer, scheduler, device) -> None:
    """The trainer's step on ready features: nn.Identity stands in for the front-end."""
    for x, y in batches:
        logits = forward(step_model, nn.Identity(), x.to(device, non_blocking=True), cfg)
        loss = F.cross_entropy(logits, y.to(device, non_blocking=True))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()


class PerClipSpectrogram(Dataset):
    """The reference study's style: one clip's features computed in __getitem__."""

    def __init__(self, audio: np.ndarray, labels: np.ndarray, frontend: nn.Module) -> None:
        self.audio, self.labels, self.frontend = audio, labels, frontend

    def __len__(self) -> int:
        return len(self.labels)

    @torch.no_grad()
    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        wave = torch.from_numpy(self.audio[i].astype(np.float32) / 32768)
        return self.frontend(wave[None])[0], int(self.labels[i])


def group(variant: Variant) -> str:
    return f"input pipeline {variant.name}: one epoch, 512 clips"


def test_reference_style(measure, benchmark, device, tone_clips, variant):
    frontend, step_model, cfg, optimizer, scheduler = setup(variant, device)
    frontend.cpu()  # a DataLoader's place: features are made on the host, clip by clip
    loader = DataLoader(PerClipSpectrogram(*tone_clips, frontend), batch_size=BATCH,
                        shuffle=True, drop_last=True, num_workers=0,
                        pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(0))
    measure(lambda: model_steps(loader, step_model, cfg, optimizer, scheduler, device),
            items=len(tone_clips[1]), role="reference", group=group(variant))
    MEDIANS[variant.name, "reference"] = benchmark.stats.stats.median if benchmark.enabled else 0


def test_pure_model_steps(measure, benchmark, device, tone_clips, variant):
    frontend, step_model, cfg, optimizer, scheduler = setup(variant, device)
    audio, labels = (torch.from_numpy(a).to(device) for a in tone_clips)
    with torch.no_grad():
        batches = [(frontend(audio[i:i + BATCH].float() / 32768), labels[i:i + BATCH])
                   for i in range(0, len(labels) - BATCH + 1, BATCH)]
    measure(lambda: model_steps(batches, step_model, cfg, optimizer, scheduler, device),
            items=len(labels), role="pure model", group=group(variant), baseline=True)
    MEDIANS[variant.name, "pure"] = benchmark.stats.stats.median if benchmark.enabled else 0


def test_ours(measure, benchmark, device, tone_clips, variant):
    frontend, step_model, cfg, optimizer, scheduler = setup(variant, device)
    data = DeviceClips(*tone_clips, device)
    generator = torch.Generator().manual_seed(0)
    measure(lambda: train_epoch(step_model, frontend, data, optimizer, scheduler, generator, cfg),
            items=len(data), role="ours", group=group(variant), target_speedup=1 / 1.1)
    cuda_sync(device)
    ref, pure = MEDIANS.get((variant.name, "reference")), MEDIANS.get((variant.name, "pure"))
    if not (benchmark.enabled and ref and pure):
        return
    ours = benchmark.stats.stats.median
    ratios = {"time_ours_over_reference": ours / ref, "time_ours_over_pure": ours / pure,
              "median_s": {"ours": ours, "reference": ref, "pure": pure}}
    benchmark.extra_info.update(ratios)
    print(f"\n{group(variant)}: median s/epoch ours {ours:.3f}, reference {ref:.3f}, "
          f"pure {pure:.3f}; time ours/reference {ours / ref:.3f}, ours/pure {ours / pure:.3f} "
          f"(target <= 1.10: {'met' if ours / pure <= 1.10 else 'NOT met'})")
