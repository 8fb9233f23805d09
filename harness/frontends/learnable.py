"""Learnable front-ends on the STFT: `learned_stft` and trainable PCEN (`pcen`).

    fe = create_frontend("learned_stft")   # (B, 16000) -> (B, 2, 257, 101), == complex at init
    fe = create_frontend("pcen")           # (B, 16000) -> (B, 1, 128, 101), PCEN of mel power

Both take the STFT options of the fixed family (`harness.frontends.stft`) and their
parameters train with the model. `PCEN` is also the compression stage of `leaf`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.frontends.base import Frontend
from harness.frontends.stft import _mel_spectrogram, _stft_kwargs, register_stft_frontend

LEAF_PCEN = ("google-research/leaf-audio leaf_audio/postprocessing.py (PCENLayer, "
             "ExponentialMovingAverage)")


class STFTConv(nn.Module):
    """A strided Conv1d whose 2F kernels start as the STFT's real and imaginary basis.

    (B, 1, T) -> (B, 2, F, T'), F = n_fft // 2 + 1: channel 0 is Re X, channel 1 is Im X,
    with X exactly torchaudio's Spectrogram(power=None) at init (window zero-padded to
    n_fft and centred, the chosen normalisation folded into the kernels, the same
    reflect/constant padding when `center`). The kernels are free afterwards: nothing
    ties them to sinusoids or to each other.
    """

    def __init__(self, n_fft: int, win_length: int, hop_length: int, normalized: bool | str,
                 window_fn: Any, center: bool, pad_mode: str) -> None:
        super().__init__()
        window = window_fn(win_length, dtype=torch.float64)
        left = (n_fft - win_length) // 2  # torch.stft centres a shorter window in n_fft
        padded = F.pad(window, (left, n_fft - win_length - left))
        if normalized in (True, "window"):
            padded = padded / window.pow(2).sum().sqrt()
        elif normalized == "frame_length":
            padded = padded / n_fft ** 0.5
        f = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * torch.pi * f * torch.arange(n_fft, dtype=torch.float64) / n_fft
        basis = torch.cat([padded * torch.cos(angle), -padded * torch.sin(angle)])
        self.conv = nn.Conv1d(1, basis.shape[0], n_fft, stride=hop_length, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(basis[:, None, :].float())
        self.pad = n_fft // 2 if center else 0
        self.pad_mode = pad_mode

    def forward(self, wave: Tensor) -> Tensor:
        if self.pad:
            wave = F.pad(wave, (self.pad, self.pad), mode=self.pad_mode)
        out = self.conv(wave)  # (B, 2F, T')
        return out.unflatten(1, (2, -1))


@register_stft_frontend("complex", "this harness: the complex STFT as a trainable strided "
                                   "conv, to separate phase from learnability", learns=True)
def learned_stft(**stft: Any) -> Frontend:
    """Strided conv initialised to the STFT basis: `complex` at step 0, trained with the model."""
    kw = _stft_kwargs(**stft)
    return Frontend(STFTConv(**kw), channels=2)


class PCEN(nn.Module):
    """Per-channel energy normalisation, every coefficient trainable per channel.

    (..., F, T) energies >= 0 -> (..., F, T). With M the exponential moving average of E
    over time (M_0 = E_0, M_t = s E_t + (1 - s) M_{t-1}):

        PCEN(E) = (E / (floor + M)^alpha + delta)^(1/root) - delta^(1/root)

    alpha (AGC strength), delta (bias) and root (compression; 1/r in Wang et al.) are
    trainable per channel and clamped as in LEAF's PCENLayer (alpha <= 1, root >= 1); the
    smoothing s is fixed unless `learn_smooth` (LEAF's sPCEN: per channel, clipped to
    [0, 1]). The recursion runs over T' frames in a loop, as LEAF's tf.scan does.
    """

    def __init__(self, channels: int, alpha: float = 0.96, smooth: float = 0.04,
                 delta: float = 2.0, root: float = 2.0, floor: float = 1e-6,
                 learn_smooth: bool = False) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.full((channels,), alpha))
        self.delta = nn.Parameter(torch.full((channels,), delta))
        self.root = nn.Parameter(torch.full((channels,), root))
        smooth_init = torch.full((channels,), smooth)
        if learn_smooth:
            self.smooth = nn.Parameter(smooth_init)
        else:
            self.register_buffer("smooth", smooth_init)
        self.floor = floor

    def ema(self, energy: Tensor) -> Tensor:
        """M: the exponential moving average of `energy` (..., F, T) over time, same shape."""
        s = self.smooth.clamp(0.0, 1.0)  # (F,): broadcasts over one frame (..., F)
        frames = [energy[..., 0]]
        for t in range(1, energy.shape[-1]):
            frames.append(s * energy[..., t] + (1 - s) * frames[-1])
        return torch.stack(frames, dim=-1)

    def forward(self, energy: Tensor) -> Tensor:
        smoothed = self.ema(energy)
        alpha = self.alpha.clamp(max=1.0)[:, None]
        inv_root = 1.0 / self.root.clamp(min=1.0)[:, None]
        delta = self.delta[:, None]
        return ((energy / (self.floor + smoothed) ** alpha + delta) ** inv_root
                - delta ** inv_root)


@register_stft_frontend("magnitude", "Wang et al. 2017, arXiv:1607.05666 (trainable PCEN); "
                                     + LEAF_PCEN, learns=True)
def pcen(n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
         alpha: float = 0.96, smooth: float = 0.04, delta: float = 2.0, root: float = 2.0,
         floor: float = 1e-6, learn_smooth: bool = False, **stft: Any) -> Frontend:
    """Trainable PCEN on the mel power spectrogram (Wang et al. 2017), 128 bands like log_mel.

    Initial values are LEAF's PCENLayer defaults; alpha, delta and root train per band,
    the smoothing coefficient too with `learn_smooth`.
    """
    mel = _mel_spectrogram(n_mels, f_min, f_max, **stft)
    return Frontend(nn.Sequential(mel, PCEN(n_mels, alpha, smooth, delta, root, floor,
                                            learn_smooth)))

