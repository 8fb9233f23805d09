"""The raw waveform as one channel, for 1-D models."""

from __future__ import annotations

from torch import nn

from harness.frontends.base import Frontend, register_frontend


@register_frontend(family="waveform")
def waveform() -> Frontend:
    """The raw clip as one channel, for 1-D raw-waveform models."""
    return Frontend(nn.Identity())
