"""Model throughput: one training step and one inference pass of every registered model.

    pytest tests/benchmarks/test_models.py --benchmark-enable        # or: nox -s bench

Each model sees pre-made features of its natural front-end (default_frontend), BATCH at a time, so
only the network is timed:
  train   forward, cross-entropy, backward, Adam step: the trainer's step without the data
  infer   forward in eval mode under no_grad
The forward pass is the trainer's own (`harness.training.loop.forward`): bf16 autocast around the
model when `amp`, channels_last features when `channels_last`, `torch.compile` when
`compile`. Variants: fp32 everywhere; on CUDA also bf16+channels_last and the same with
torch.compile (see `pytest_generate_tests` in conftest.py). Within a group
("model <name> <mode>") fp32 is the baseline the other variants are compared with.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.models import build_pipeline, default_frontend, list_models
from harness.training.config import TrainConfig
from harness.training.device import seed_everything
from harness.training.loop import forward, move_to_device

from .conftest import N_CLASSES, Variant

# Each model's natural input is its registry entry's (harness.models.default_frontend):
# the study's complex STFT for the seed CNN, Honk's 40 MFCC x 101 frames for res8/res15,
# 40 log-mel bins for BC-ResNet, the raw clip for M5, ...
CPU_BATCH, CUDA_BATCH = 32, 128  # small on CPU: seed_cnn at full width takes seconds a step


def setup(name: str, variant: Variant, device: torch.device, batch: int,
          clips: torch.Tensor) -> tuple[nn.Module, nn.Module, TrainConfig, torch.Tensor,
                                        torch.Tensor]:
    """(model, step model, config, features (B, C, ...), labels (B,)) on the device."""
    seed_everything(0)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as `fit` sets it: fixed shapes, tuned kernels
    fe_name, fe_opts = default_frontend(name)
    frontend, model = build_pipeline(fe_name, name, N_CLASSES, frontend_opts=fe_opts)
    cfg = TrainConfig(amp=variant.amp, channels_last=variant.channels_last,
                      compile=variant.compile, device=str(device))
    move_to_device(model, frontend, cfg)
    with torch.no_grad():
        x = frontend(clips[:batch].to(device).float() / 32768)
    if variant.channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch, device=device) % N_CLASSES
    step_model = torch.compile(model) if variant.compile else model
    return model, step_model, cfg, x, y


def train_step(model: nn.Module, step_model: nn.Module, cfg: TrainConfig, x: torch.Tensor,
               y: torch.Tensor) -> Callable[[], torch.Tensor]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> torch.Tensor:
        loss = F.cross_entropy(forward(step_model, nn.Identity(), x, cfg), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def infer_step(model: nn.Module, step_model: nn.Module, cfg: TrainConfig, x: torch.Tensor,
               y: torch.Tensor) -> Callable[[], torch.Tensor]:
    model.eval()

    @torch.no_grad()
    def step() -> torch.Tensor:
        return forward(step_model, nn.Identity(), x, cfg)

    return step


MODES = {"train": train_step, "infer": infer_step}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list_models())
def test_model(measure, device, tone_clips, variant: Variant, name: str, mode: str) -> None:
    batch = CUDA_BATCH if device.type == "cuda" else CPU_BATCH
    clips = torch.from_numpy(tone_clips[0])
    model, step_model, cfg, x, y = setup(name, variant, device, batch, clips)
    step = MODES[mode](model, step_model, cfg, x, y)
    out = measure(step, items=batch, role=variant.name, group=f"model {name} {mode}",
                  baseline=variant.name == "fp32", warmup=3 if variant.compile else 1,
                  min_rounds=3, unit="samples", model=name, frontend=default_frontend(name)[0],
                  mode=mode, input_shape=list(x.shape[1:]), batch_size=batch,
                  dtype=variant.dtype, amp=variant.amp, channels_last=variant.channels_last,
                  compile=variant.compile,
                  parameters=sum(p.numel() for p in model.parameters()))
    assert torch.isfinite(out).all()
    assert out.shape == ((batch, N_CLASSES) if mode == "infer" else ())


# The reference CNN's own speed path, side by side in one run: the old network (padding 1)
# in fp32 NCHW is the baseline; padding 0 (the study's network, 1.54x fewer MACs), then
# channels_last, bf16 autocast and both on top. Full width, the study's 2 x 257 x 101 input.
SPEED_PATH = {  # role: (padding, amp, channels_last, target speedup over the baseline)
    "pad1_fp32_nchw": (1, False, False, None),
    "pad0_fp32_nchw": (0, False, False, None),
    "pad0_fp32_cl": (0, False, True, None),
    "pad0_bf16_nchw": (0, True, False, None),
    "pad0_bf16_cl": (0, True, True, 4.0),
}


@pytest.mark.parametrize("role", list(SPEED_PATH))
def test_seed_cnn_speed_path(measure, device, tone_clips, role: str) -> None:
    padding, amp, channels_last, target = SPEED_PATH[role]
    batch = CUDA_BATCH if device.type == "cuda" else CPU_BATCH
    seed_everything(0)
    frontend, model = build_pipeline("complex", "seed_cnn", N_CLASSES,
                                     model_opts={"padding": padding})
    cfg = TrainConfig(amp=amp, channels_last=channels_last, device=str(device))
    move_to_device(model, frontend, cfg)
    with torch.no_grad():
        x = frontend(torch.from_numpy(tone_clips[0][:batch]).to(device).float() / 32768)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch, device=device) % N_CLASSES
    step = train_step(model, model, cfg, x, y)
    out = measure(step, items=batch, role=role, group="seed_cnn train step: speed path",
                  baseline=role == "pad1_fp32_nchw", target_speedup=target, min_rounds=3,
                  unit="samples", model="seed_cnn", padding=padding, amp=amp,
                  channels_last=channels_last, batch_size=batch,
                  input_shape=list(x.shape[1:]))
    assert torch.isfinite(out)
