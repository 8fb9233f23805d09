"""Learnable filterbanks on the raw waveform: `sincnet` and `leaf`.

    fe = create_frontend("leaf")       # (B, 16000) -> (B, 1, 128, 100)
    fe = create_frontend("sincnet")    # (B, 16000) -> (B, 1, 128, 100)

Both follow the front-end layout of google-research/leaf-audio (leaf_audio/frontend.py,
classes Leaf and SincNet): a stride-1 filterbank convolution with "same" padding, a
non-linearity, pooling over a 25 ms window every 10 ms (401 taps, stride 160), a floor at
1e-5, then a compression. The output is (B, 1, n_filters, T') with T' = ceil(T / 160),
filters from low to high frequency. The papers used 40 filters; the default here is 128,
like `mel` and `log_mel`, so both feed the seed CNN unchanged (`n_filters=40` gives the
papers'). The stride-1 convolution is most of the cost: n_filters x taps MACs per sample.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.frontends.base import SAMPLE_RATE, Frontend, register_frontend
from harness.frontends.learnable import PCEN

LEAF = "Zeghidour et al. 2021, arXiv:2101.08596; google-research/leaf-audio leaf_audio/"
SINCNET = ("Ravanelli & Bengio 2018, arXiv:1808.00158; mravanelli/SincNet dnn_models.py "
           "(SincConv_fast); front-end layout of leaf-audio leaf_audio/frontend.py (SincNet)")


def _same_pad(x: Tensor, kernel: int, stride: int, value: float = 0.0) -> Tensor:
    """TensorFlow's "SAME" padding on the last dim: ceil(T / stride) outputs, the extra
    sample on the right."""
    length = x.shape[-1]
    total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
    return F.pad(x, (total // 2, total - total // 2), value=value)


def _to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595 * np.log10(1 + np.asarray(hz) / 700)  # HTK, as SincNet and LEAF


def _to_hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (mel / 2595) - 1)


# --- sincnet -------------------------------------------------------------------------

class SincConv(nn.Module):
    """Band-pass sinc filters, two trainable cut-offs each: SincNet's SincConv_fast.

    (B, 1, T) -> (B, n_filters, T), "same" padding. Filter i passes [low_i, high_i] with
    low_i = min_low_hz + |low_hz_i| and high_i = clamp(low_i + min_band_hz + |band_hz_i|,
    min_low_hz, sr/2), as in dnn_models.py; a Hamming window, unit gain at the centre
    (divided by 2 x band). Initial bands are equally spaced in mel from 30 Hz to
    sr/2 - (min_low_hz + min_band_hz). `kernel_size` is made odd (symmetric filters).
    """

    def __init__(self, n_filters: int, kernel_size: int = 251, sample_rate: int = SAMPLE_RATE,
                 min_low_hz: float = 50.0, min_band_hz: float = 50.0) -> None:
        super().__init__()
        self.kernel_size = kernel_size + (kernel_size % 2 == 0)
        self.sample_rate, self.min_low_hz, self.min_band_hz = sample_rate, min_low_hz, min_band_hz
        high_hz = sample_rate / 2 - (min_low_hz + min_band_hz)
        hz = _to_hz(np.linspace(_to_mel(30.0), _to_mel(high_hz), n_filters + 1))
        self.low_hz_ = nn.Parameter(torch.tensor(hz[:-1], dtype=torch.float32)[:, None])
        self.band_hz_ = nn.Parameter(torch.tensor(np.diff(hz), dtype=torch.float32)[:, None])
        half = self.kernel_size // 2
        n_lin = torch.linspace(0, self.kernel_size / 2 - 1, steps=half)
        self.register_buffer("window", 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin /
                                                               self.kernel_size))
        # Only the left half of the time axis (the filters are symmetric), in radians.
        self.register_buffer("n", 2 * math.pi * torch.arange(-half, 0.0)[None] / sample_rate)

    def filters(self) -> Tensor:
        """(n_filters, 1, kernel_size) band-pass kernels."""
        low = self.min_low_hz + self.low_hz_.abs()
        high = torch.clamp(low + self.min_band_hz + self.band_hz_.abs(), self.min_low_hz,
                           self.sample_rate / 2)
        band = (high - low)[:, 0]
        left = (torch.sin(high * self.n) - torch.sin(low * self.n)) / (self.n / 2) * self.window
        kernel = torch.cat([left, 2 * band[:, None], left.flip(1)], dim=1) / (2 * band[:, None])
        return kernel[:, None, :]

    def forward(self, wave: Tensor) -> Tensor:
        return F.conv1d(wave, self.filters(), padding=self.kernel_size // 2)


class SincNetFrontend(nn.Module):
    """SincConv -> LeakyReLU(0.2) -> max pool (window, stride; -inf "same" padding) ->
    floor 1e-5 -> LayerNorm over the filters of each frame (trainable gain and bias).

    (B, 1, T) -> (B, 1, n_filters, T'): leaf-audio's SincNet front-end with SincNet's own
    filters.
    """

    def __init__(self, n_filters: int, kernel_size: int, window: int, stride: int) -> None:
        super().__init__()
        self.conv = SincConv(n_filters, kernel_size)
        self.norm = nn.LayerNorm(n_filters)
        self.window, self.stride = window, stride

    def forward(self, wave: Tensor) -> Tensor:
        x = F.leaky_relu(self.conv(wave), 0.2)
        x = F.max_pool1d(_same_pad(x, self.window, self.stride, -math.inf), self.window,
                         self.stride)
        x = self.norm(x.clamp(min=1e-5).transpose(1, 2)).transpose(1, 2)
        return x[:, None]


@register_frontend(family="magnitude", source=SINCNET, learns=True)
def sincnet(n_filters: int = 128, kernel_size: int = 251, window_ms: float = 25.0,
            stride_ms: float = 10.0) -> Frontend:
    """SincNet band-pass filters (Ravanelli & Bengio 2018), max-pooled to frames, LayerNorm.

    2 x n_filters cut-offs and 2 x n_filters LayerNorm weights train; kernel_size 251 is
    SincNet's cfg (cnn_len_filt); window and stride are leaf-audio's 25 ms and 10 ms.
    """
    window, stride = _frame_samples(window_ms, stride_ms)
    return Frontend(SincNetFrontend(n_filters, kernel_size, window, stride))


def _frame_samples(window_ms: float, stride_ms: float) -> tuple[int, int]:
    """leaf-audio's frame lengths in samples at 16 kHz: 25 ms -> 401, 10 ms -> 160."""
    return int(SAMPLE_RATE * window_ms // 1000 + 1), int(SAMPLE_RATE * stride_ms // 1000)


# --- leaf ----------------------------------------------------------------------------

def gabor_init(n_filters: int, min_freq: float, max_freq: float,
               sample_rate: int = SAMPLE_RATE) -> Tensor:
    """(n_filters, 2): centre (radians per sample) and time-domain width sigma (samples)
    of Gabor filters matching HTK mel filters over [min_freq, max_freq].

    leaf-audio's melfilters.Gabor.gabor_params_from_mels reads the centre (argmax) and
    the full width at half maximum of each sqrt(mel filter) off a 512-point grid; with
    128 filters the lowest ones are narrower than a bin there, so this takes the same
    two numbers in closed form: sqrt(triangle) is above half its peak over 3/4 of the
    triangle's base. sigma = sqrt(2 ln 2) x sr / (pi x FWHM in Hz), as there.
    """
    edges = _to_hz(np.linspace(_to_mel(min_freq), _to_mel(max_freq), n_filters + 2))
    centre_hz = edges[1:-1]
    fwhm_hz = 0.75 * (edges[2:] - edges[:-2])
    centre = 2 * np.pi * centre_hz / sample_rate
    sigma = np.sqrt(2 * np.log(2)) * sample_rate / (np.pi * fwhm_hz)
    return torch.tensor(np.stack([centre, sigma], axis=1), dtype=torch.float32)


class GaborConv(nn.Module):
    """Complex Gabor filters, two trainable numbers each (centre, width): LEAF's GaborConv1D.

    (B, 1, T) -> (B, n_filters, T): |x * g_i|^2, the squared modulus of the complex
    response (leaf-audio's SquaredModulus), "same" padding. g(t) = exp(i mu t) x
    N(t; 0, sigma^2) on t = -(K // 2) .. (K - 1) // 2 (impulse_responses.gabor_filters),
    mu clamped to [0, pi] and sigma to [4, K] x sqrt(2 ln 2) / pi (convolution.
    GaborConstraint), applied in the forward pass rather than after each step.
    """

    def __init__(self, n_filters: int, kernel_size: int, min_freq: float,
                 max_freq: float) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.params = nn.Parameter(gabor_init(n_filters, min_freq, max_freq))
        t = torch.arange(-(kernel_size // 2), (kernel_size + 1) // 2, dtype=torch.float32)
        self.register_buffer("t", t)
        root = math.sqrt(2 * math.log(2)) / math.pi
        self.sigma_range = (4 * root, kernel_size * root)

    def filters(self) -> Tensor:
        """(2 n_filters, 1, K): the real and imaginary kernels interleaved."""
        mu = self.params[:, 0].clamp(0.0, math.pi)[:, None]
        sigma = self.params[:, 1].clamp(*self.sigma_range)[:, None]
        gauss = torch.exp(-self.t ** 2 / (2 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)
        kernel = torch.stack([gauss * torch.cos(mu * self.t), gauss * torch.sin(mu * self.t)],
                             dim=1)
        return kernel.flatten(0, 1)[:, None]

    def forward(self, wave: Tensor) -> Tensor:
        x = F.conv1d(_same_pad(wave, self.kernel_size, 1), self.filters())
        return x.unflatten(1, (-1, 2)).pow(2).sum(2)


class GaussianLowpass(nn.Module):
    """Depthwise Gaussian low-pass pooling, one trainable width per channel (LEAF).

    (B, C, T) -> (B, C, ceil(T / stride)). The window is exp(-((t - (K-1)/2) /
    (sigma (K-1)/2))^2 / 2), sigma clamped to [2 / K, 0.5] (impulse_responses.
    gaussian_lowpass), initialised at 0.4 (close to a Hann window; pooling.GaussianLowpass).
    """

    def __init__(self, channels: int, kernel_size: int, stride: int, init: float = 0.4) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.sigma = nn.Parameter(torch.full((channels,), init))
        self.register_buffer("t", torch.arange(kernel_size, dtype=torch.float32))

    def filters(self) -> Tensor:
        """(channels, 1, K) Gaussian windows, one per channel (a depthwise kernel)."""
        half = 0.5 * (self.kernel_size - 1)
        sigma = self.sigma.clamp(2.0 / self.kernel_size, 0.5)[:, None]
        return torch.exp(-0.5 * ((self.t - half) / (sigma * half)) ** 2)[:, None]

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(_same_pad(x, self.kernel_size, self.stride), self.filters(),
                        stride=self.stride, groups=x.shape[1])


class LeafFrontend(nn.Module):
    """Gabor filterbank -> squared modulus -> Gaussian low-pass -> floor 1e-5 -> sPCEN.

    (B, 1, T) -> (B, 1, n_filters, T'): leaf-audio's Leaf at its defaults (no
    pre-emphasis, no instance norm, no SpecAugment). sPCEN is PCENLayer(alpha=0.96,
    smooth_coef=0.04, delta=2.0, floor=1e-12, trainable, per-channel smoothing).
    """

    def __init__(self, n_filters: int, window: int, stride: int, min_freq: float,
                 max_freq: float) -> None:
        super().__init__()
        self.filterbank = GaborConv(n_filters, window, min_freq, max_freq)
        self.pooling = GaussianLowpass(n_filters, window, stride)
        self.compression = PCEN(n_filters, alpha=0.96, smooth=0.04, delta=2.0, root=2.0,
                                floor=1e-12, learn_smooth=True)

    def forward(self, wave: Tensor) -> Tensor:
        x = self.pooling(self.filterbank(wave)).clamp(min=1e-5)
        return self.compression(x)[:, None]


@register_frontend(family="magnitude", source=LEAF + " (frontend.py, convolution.py, "
                   "pooling.py, postprocessing.py, impulse_responses.py, melfilters.py)",
                   learns=True)
def leaf(n_filters: int = 128, window_ms: float = 25.0, stride_ms: float = 10.0,
         min_freq: float = 60.0, max_freq: float = 7800.0) -> Frontend:
    """LEAF (Zeghidour et al. 2021): Gabor filterbank, Gaussian pooling, sPCEN; all trained.

    Initialised to match mel filters over [min_freq, max_freq] Hz; 7 x n_filters
    parameters (2 Gabor, 1 pooling width, 4 sPCEN per filter).
    """
    window, stride = _frame_samples(window_ms, stride_ms)
    return Frontend(LeafFrontend(n_filters, window, stride, min_freq, max_freq))
