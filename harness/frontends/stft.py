"""The fixed STFT family: every spectral entry, and the STFT options they share.

Every spectral front-end is one `Frontend` module: a torchaudio transform applied to
the whole batch at once, then an optional pure function that turns its output into
channels. torchaudio keeps the window, mel filters and DCT matrix in buffers, so
`.to(device)` moves everything. The STFT defaults are the reference study's:
n_fft 512, a 480-sample (30 ms) Hann window, hop 160 (10 ms), normalized=True, which
gives 257 frequency bins x 101 frames for one second at 16 kHz.

`normalized` follows torchaudio, not `torch.stft`: True (= "window") divides the STFT
by the window's L2 norm, sqrt(sum(w^2)); "frame_length" is torch.stft(normalized=True),
a division by sqrt(n_fft). A full-scale sine peaks near 9 in |X| with the defaults.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from harness.environment import require_torchaudio
from harness.errors import HarnessError
from harness.frontends.base import (
    SAMPLE_RATE,
    STUDY_SOURCE,
    Frontend,
    FrontendFn,
    register_frontend,
)

T = require_torchaudio().transforms  # one clear line if torchaudio does not load beside torch


# --- STFT options shared by every spectral entry ---------------------------------

WINDOWS: dict[str, Callable[..., Tensor]] = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
    "rect": torch.ones,
}


def _stft_kwargs(n_fft: int = 512, win_length: int = 480, hop_length: int = 160,
                 normalized: bool | str = True, window: str = "hann", center: bool = True,
                 pad_mode: str = "reflect") -> dict[str, Any]:
    """The STFT options every spectral entry takes, as torchaudio keyword arguments.

    Lengths in samples at 16 kHz (480 = 30 ms, 160 = 10 ms); a window shorter than n_fft
    is zero-padded on both sides by torch.stft. This signature is the one place the
    defaults live: `register_stft_frontend` copies it onto each entry.
    """
    if window not in WINDOWS:
        raise HarnessError(f"unknown window {window!r}; known: {', '.join(WINDOWS)}")
    if normalized not in (True, False, "window", "frame_length"):
        raise HarnessError(f"normalized={normalized!r}: use true, false, 'window' or "
                           "'frame_length'")
    return dict(n_fft=n_fft, win_length=win_length, hop_length=hop_length,
                normalized=normalized, window_fn=WINDOWS[window], center=center,
                pad_mode=pad_mode)


STFT_DEFAULTS: dict[str, Any] = {k: p.default for k, p in
                                 inspect.signature(_stft_kwargs).parameters.items()}


def register_stft_frontend(family: str, source: str = "", learns: bool = False,
                           log: bool = False) -> Callable[[FrontendFn], FrontendFn]:
    """`register_frontend` for an entry taking `**stft`: its signature shows the STFT options.

    `_stft_kwargs`'s parameters replace `**stft` in `fn.__signature__`. The registry (and
    the experiment checker) read options from the signature, so a misspelt `n_ffts=1024`
    fails naming every option, and the defaults are written once instead of per entry.
    `family` is "magnitude" (phase discarded) or "complex" (phase kept): the report's
    complex-vs-magnitude comparisons are read from it; `learns` marks an entry with
    parameters that train with the model; `log` one whose magnitude is log-compressed.
    """
    def decorate(fn: FrontendFn) -> FrontendFn:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        stft = inspect.signature(_stft_kwargs).parameters.values()
        params = own + [p.replace(kind=p.KEYWORD_ONLY) for p in stft]
        fn.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return register_frontend(fn, family=family, source=source, learns=learns, log=log)
    return decorate


def _spectrogram(power: float | None, **stft: Any) -> T.Spectrogram:
    """torchaudio's Spectrogram: |X|^power (B, 1, F, T'), or complex X for power=None."""
    return T.Spectrogram(power=power, **_stft_kwargs(**stft))


# --- channel maps from the complex STFT X (B, 1, F, T') ---------------------------

def _real_imag(x: Tensor) -> Tensor:
    return torch.cat([x.real, x.imag], dim=1)


def _magnitude_phase(x: Tensor) -> Tensor:
    return torch.cat([x.abs(), x.angle()], dim=1)  # phase in radians, (-pi, pi]


def _log1p_scaled(x: Tensor) -> Tensor:
    """X * log1p(|X|) / |X|: magnitude log-compressed, phase kept; 0 stays 0.

    log1p(m)/m -> 1 as m -> 0, but 0/0 is NaN, so zero bins get the limit 1 instead.
    Both `where`s are needed: the inner one keeps the unused branch (and its gradient)
    finite, the outer one picks the limit.
    """
    mag = x.abs()
    nonzero = mag > 0
    scale = torch.where(nonzero, torch.log1p(mag) / torch.where(nonzero, mag, 1.0), 1.0)
    return x * scale


def _complex_log(x: Tensor) -> Tensor:
    return _real_imag(_log1p_scaled(x))


def _log1p_magnitude(x: Tensor) -> Tensor:
    return torch.log1p(x.abs())


# --- entries ----------------------------------------------------------------------

@register_stft_frontend("magnitude", STUDY_SOURCE)
def power(**stft: Any) -> Frontend:
    """|X|^2, power spectrogram without log: the reference study's baseline."""
    return Frontend(_spectrogram(2.0, **stft))


@register_stft_frontend("magnitude")
def magnitude(**stft: Any) -> Frontend:
    """|X|, magnitude spectrogram."""
    return Frontend(_spectrogram(1.0, **stft))


@register_stft_frontend("magnitude", STUDY_SOURCE)
def sqrt_magnitude(**stft: Any) -> Frontend:
    """|X|^0.5, as in the reference study's plots."""
    return Frontend(_spectrogram(0.5, **stft))


@register_stft_frontend("magnitude", log=True)
def log_power(top_db: float | None = None, **stft: Any) -> Frontend:
    """10*log10(|X|^2) in dB, floored at -100 dB (power 1e-10).

    `top_db`, if set, also raises each clip's floor to its own peak minus `top_db`.
    """
    return Frontend(nn.Sequential(_spectrogram(2.0, **stft), T.AmplitudeToDB("power", top_db)))


@register_stft_frontend("magnitude", log=True)
def log1p_magnitude(**stft: Any) -> Frontend:
    """log1p(|X|): complex_log's magnitude without its phase."""
    return Frontend(_spectrogram(None, **stft), 1, _log1p_magnitude)


@register_stft_frontend("complex", STUDY_SOURCE)
def complex(**stft: Any) -> Frontend:  # shadows the builtin: entries are named by function
    """Re X and Im X as 2 channels: the reference study's winner."""
    return Frontend(_spectrogram(None, **stft), 2, _real_imag)


@register_stft_frontend("complex")
def magnitude_phase(**stft: Any) -> Frontend:
    """|X| and phase angle in radians as 2 channels."""
    return Frontend(_spectrogram(None, **stft), 2, _magnitude_phase)


@register_stft_frontend("complex", log=True)
def complex_log(**stft: Any) -> Frontend:
    """log1p(|X|)·cos φ and log1p(|X|)·sin φ: compressed magnitude, phase kept."""
    return Frontend(_spectrogram(None, **stft), 2, _complex_log)


def _mel_spectrogram(n_mels: int, f_min: float, f_max: float | None, **stft: Any) -> nn.Module:
    # 128 HTK bands over 257 bins leave the lowest bands without a bin (all-zero rows).
    # That is the reference study's setting, so torchaudio's warning about it is noise.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero")
        return T.MelSpectrogram(SAMPLE_RATE, n_mels=n_mels, f_min=f_min, f_max=f_max,
                                power=2.0, **_stft_kwargs(**stft))


@register_stft_frontend("magnitude", STUDY_SOURCE)
def mel(n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
        **stft: Any) -> Frontend:
    """Mel power spectrogram without log, 128 HTK bands by default."""
    return Frontend(_mel_spectrogram(n_mels, f_min, f_max, **stft))


@register_stft_frontend("magnitude", log=True)
def log_mel(n_mels: int = 128, f_min: float = 0.0, f_max: float | None = None,
            top_db: float | None = None, **stft: Any) -> Frontend:
    """Mel power spectrogram in dB, floored at -100 dB."""
    mel_db = nn.Sequential(_mel_spectrogram(n_mels, f_min, f_max, **stft),
                           T.AmplitudeToDB("power", top_db))
    return Frontend(mel_db)


@register_stft_frontend("magnitude", log=True)
def mfcc(n_mfcc: int = 40, n_mels: int = 40, f_min: float = 0.0, f_max: float | None = None,
         **stft: Any) -> Frontend:
    """MFCC (torchaudio: dB mel, top 80 dB per clip, orthonormal DCT-II)."""
    melkwargs = dict(n_mels=n_mels, f_min=f_min, f_max=f_max, **_stft_kwargs(**stft))
    return Frontend(T.MFCC(SAMPLE_RATE, n_mfcc=n_mfcc, melkwargs=melkwargs))
