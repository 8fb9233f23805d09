"""The front-end registry and the `Frontend` module every entry returns.

    FRONTENDS.create("complex")  # -> Frontend; see harness.frontends for the entries
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from harness.registry import Registry

SAMPLE_RATE = 16000  # Hz; the harness's clips are 1 s at 16 kHz
STUDY_SOURCE = "the reference study (docs/replication.md)"

FRONTENDS: Registry[Frontend] = Registry("front-end")
FrontendFn = Callable[..., "Frontend"]
register_frontend = FRONTENDS.register
list_frontends = FRONTENDS.list


def create_frontend(name: str, **kwargs: Any) -> Frontend:
    """Build the front-end `name`; unknown names and options raise HarnessError."""
    return FRONTENDS.create(name, **kwargs)


class Frontend(nn.Module):
    """Waveforms (B, T) float32 in [-1, 1] -> features (B, C, F, T') float32 (or (B, C, T)).

    `transform` sees (B, 1, T) and returns (B, 1, ...). The explicit channel dim matters:
    torchaudio's AmplitudeToDB applies `top_db` per item of dim -3, so with it each clip
    is clipped against its own peak, never against the loudest clip in the batch.
    `to_channels`, if given, maps that (B, 1, F, T') (complex for an STFT) to (B, C, F, T').

    A learnable front-end (registry `learns=True`) holds its parameters in `transform`;
    they train with the model (`harness.training.loop.fit`). It behaves the same in train and
    eval mode (no dropout, no batch statistics): the trainer keeps front-ends in eval mode.
    """

    def __init__(self, transform: nn.Module, channels: int = 1,
                 to_channels: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        self.transform = transform
        self.channels = channels
        self.to_channels = to_channels

    def forward(self, wave: Tensor) -> Tensor:
        x = self.transform(wave.unsqueeze(1))
        return x if self.to_channels is None else self.to_channels(x)

    @torch.no_grad()
    def output_shape(self, n_samples: int = SAMPLE_RATE) -> tuple[int, ...]:
        """(C, F, T') of one clip of `n_samples` samples; (C, T) for `waveform`."""
        # One dummy forward is exact for every entry and costs one STFT of one clip.
        tensor = next(itertools.chain(self.parameters(), self.buffers()), None)
        device = tensor.device if tensor is not None else torch.device("cpu")
        return tuple(self(torch.zeros(1, n_samples, device=device)).shape[1:])
