"""Front-end throughput: the harness's batched front-ends vs the reference study's per-clip style.

    pytest tests/benchmarks/test_frontends.py --benchmark-enable     # or: nox -s bench

For every registered front-end, one batch of BATCH clips from int16 to features, two ways:
  batched    the harness: the clips as one int16 tensor on the device, a batch drawn by
             indexing (`DeviceClips.batch`), scaled to float32 and passed through the
             front-end once (`harness.training.loop` does exactly this every step)
  reference  the reference study's style: a torch Dataset applying the same torchaudio
             transform to one clip in __getitem__, batched by a DataLoader (shuffle,
             num_workers=0, the features made on the host), then moved to the device
Each pair is one benchmark group ("frontend <name>"); the end-of-run summary prints the
speedup batched / reference against the target: at least 10x on CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from harness.frontends import create_frontend, list_frontends
from harness.training.device import DeviceClips

BATCH = 128  # the reference recipe's batch size
TARGET_SPEEDUP = 10.0
Step = Callable[[], torch.Tensor]  # one batch of features, (B, C, F, T') or (B, C, T)


class PerClipFeatures(Dataset):
    """The reference study's style: one clip's features computed in __getitem__.

    Returns (features (C, F, T'), index), the index standing in for a label.
    """

    def __init__(self, audio: np.ndarray, frontend: nn.Module) -> None:
        self.audio, self.frontend = audio, frontend

    def __len__(self) -> int:
        return len(self.audio)

    @torch.no_grad()
    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        wave = torch.from_numpy(self.audio[i].astype(np.float32) / 32768)
        return self.frontend(wave[None])[0], i


def batched_step(name: str, audio: np.ndarray, device: torch.device) -> Step:
    """One harness batch: index the int16 tensor, scale, front-end; -> (B, C, ...) features."""
    frontend = create_frontend(name).to(device).eval()
    data = DeviceClips(audio, np.zeros(len(audio), dtype=np.int64), device)
    generator = torch.Generator().manual_seed(0)

    @torch.no_grad()
    def step() -> torch.Tensor:
        idx = torch.randperm(len(data), generator=generator)[:BATCH].to(data.audio.device)
        return frontend(data.batch(idx)[0])

    return step


def reference_step(name: str, audio: np.ndarray, device: torch.device) -> Step:
    """One DataLoader batch of per-clip features, moved to the device."""
    frontend = create_frontend(name).eval()  # on the host, as in a DataLoader worker
    loader = DataLoader(PerClipFeatures(audio, frontend), batch_size=BATCH, shuffle=True,
                        drop_last=True, num_workers=0, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(0))

    def step() -> torch.Tensor:
        features, _ = next(iter(loader))
        return features.to(device, non_blocking=True)

    return step


STYLES = {"batched": batched_step, "reference": reference_step}


@pytest.mark.parametrize("style", list(STYLES))
@pytest.mark.parametrize("name", list_frontends())
def test_frontend(measure, device, tone_clips, name: str, style: str) -> None:
    audio = tone_clips[0][:4 * BATCH]
    step = STYLES[style](name, audio, device)
    features = measure(step, items=BATCH, role=style, group=f"frontend {name}",
                       baseline=style == "reference",
                       target_speedup=TARGET_SPEEDUP if style == "batched" else None,
                       batch_size=BATCH, dtype="float32", frontend=name, unit="clips")
    expected = (BATCH, *create_frontend(name).output_shape(audio.shape[1]))
    assert tuple(features.shape) == expected
    assert features.device.type == device.type
    assert torch.isfinite(features).all()
