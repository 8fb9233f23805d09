"""GPU rows: the trainer's own passes over full-width seed_cnn, the clips resident on the GPU.

    HARNESS_BENCH_DEVICE=cuda pytest tests/benchmarks/test_gpu.py --benchmark-enable
    scripts/gpu_check.sh                     # runs these among its benchmark rows

Skipped without CUDA, unless HARNESS_BENCH_REHEARSE=1 (`scripts/gpu_check.sh --tiny`): then
they run on the bench device at tiny sizes (a 1/8-width network, 256 clips) so that the code
path is checked before any GPU time is spent on it.

  train   `harness.training.loop.train_epoch`: CLIPS int16 clips on the device (`DeviceClips`), a
          seeded permutation, the `complex` front-end, the model, Adam: what `fit` runs
          each epoch, host reads included (one every CHECK_EVERY steps)
  eval    `harness.training.loop._evaluate` over the same clips, in batches of EVAL_BATCH_CUDA
Variants (conftest): fp32, bf16, bf16 + channels_last, that compiled. extra_info holds
`first_call_s`, the untimed first pass (cuDNN's kernel search; with compile, the compile),
and for training `flops_per_sample` (counted: harness.training.gpu_stats.train_flops_per_sample),
the TFLOP/s reached and, on a GPU with a known peak, the fraction of it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch

from harness.models import build_pipeline
from harness.training.config import TrainConfig
from harness.training.device import DeviceClips, seed_everything
from harness.training.gpu_stats import peak_tflops, train_flops_per_sample
from harness.training.loop import _evaluate, move_to_device, train_epoch
from harness.training.recipes import build_optimizer

from .conftest import N_CLASSES, Variant, bench_device, cuda_sync, device_name

REHEARSE = os.environ.get("HARNESS_BENCH_REHEARSE") == "1"
pytestmark = pytest.mark.skipif(bench_device().type != "cuda" and not REHEARSE,
                                reason="GPU rows: need CUDA (or HARNESS_BENCH_REHEARSE=1)")
BATCH = 128  # the reference recipe's
CLIPS = 256 if REHEARSE else 8192  # 64 training steps a pass on the GPU
MODEL_OPTS = {"width": 0.125} if REHEARSE else {}


@functools.cache
def flops_per_sample() -> float:
    return train_flops_per_sample("complex", "seed_cnn", N_CLASSES, model_opts=MODEL_OPTS)


def passes(variant: Variant, device: torch.device,
           tone_clips: tuple[np.ndarray, np.ndarray]) -> dict[str, Callable[[], float]]:
    """{"train": one train_epoch, "eval": one _evaluate}, each returning its mean loss."""
    seed_everything(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as `fit` sets it
    frontend, model = build_pipeline("complex", "seed_cnn", N_CLASSES, model_opts=MODEL_OPTS)
    cfg = TrainConfig(amp=variant.amp, channels_last=variant.channels_last,
                      compile=variant.compile, batch_size=BATCH, device=str(device))
    move_to_device(model, frontend, cfg)
    reps = -(-CLIPS // len(tone_clips[0]))
    data = DeviceClips(np.tile(tone_clips[0], (reps, 1))[:CLIPS],
                       np.tile(tone_clips[1], reps)[:CLIPS], device)
    step_model = torch.compile(model) if variant.compile else model
    optimizer, scheduler = build_optimizer(model.parameters(), cfg.resolved, CLIPS // BATCH)
    generator = torch.Generator().manual_seed(0)

    def train() -> float:
        return train_epoch(step_model, frontend, data, optimizer, scheduler, generator, cfg)[0]

    def evaluate() -> float:
        return _evaluate(step_model, frontend, data, cfg).loss

    return {"train": train, "eval": evaluate}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_trainer_pass(measure, benchmark, device, tone_clips, variant: Variant,
                      mode: str) -> None:
    run = passes(variant, device, tone_clips)  # eval: the initial weights (timing only)
    cuda_sync(device)
    start = time.perf_counter()
    run[mode]()
    cuda_sync(device)
    first = time.perf_counter() - start
    items = CLIPS // BATCH * BATCH if mode == "train" else CLIPS
    loss = measure(run[mode], items=items, role=variant.name, group=f"trainer {mode} pass",
                   baseline=variant.name == "fp32", warmup=2 if variant.compile else 1,
                   unit="samples", model="seed_cnn", frontend="complex", batch_size=BATCH,
                   clips=CLIPS, dtype=variant.dtype, amp=variant.amp,
                   channels_last=variant.channels_last, compile=variant.compile,
                   model_opts=MODEL_OPTS, first_call_s=first)
    assert np.isfinite(loss)
    rate = benchmark.extra_info.get("items_per_s")  # absent with --benchmark-disable
    if mode == "train" and rate:
        tflops = rate * flops_per_sample() / 1e12
        peak = peak_tflops(device_name(device))
        benchmark.extra_info.update(flops_per_sample=flops_per_sample(), tflops=tflops,
                                    peak_tflops=peak,
                                    fraction_of_peak=tflops / peak if peak else None)
