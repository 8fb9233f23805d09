"""Background noises for `synth_commands`, and resampling of espeak-ng's output to 16 kHz.

White, pink, brown, mains hum, fan and babble (overlapping talkers saying non-keywords), each a
pure function of the generator's seed; `_background_noise_/` holds them in the written set.
"""

from __future__ import annotations

import numpy as np

from harness.data.espeak import Espeak
from harness.data.speech_commands import SAMPLE_RATE
from harness.data.synth_config import SynthConfig, rng_for

# Filler words for babble: no keyword, and nothing that sounds like one ("to", "won", "know"...).
_FILLER = (
    "the", "and", "with", "about", "water", "table", "morning", "people", "little", "because",
    "through", "window", "green", "paper", "number", "village", "summer", "market", "picture",
    "between", "garden", "yellow", "kitchen", "always", "never", "under", "coffee",
    "station", "weather", "animal", "pocket", "letter", "silver", "minute", "open", "music",
    "ticket", "bottle", "orange", "jacket", "simple", "travel", "quiet", "family", "river",
)


def resample_16k(waves: list[np.ndarray], orig_sr: int) -> list[np.ndarray]:
    """int16 utterances at orig_sr -> float32 in [-1, 1] at 16 kHz. One call on a zero-padded
    batch (words are of similar length) instead of 30+ small ones."""
    import torch

    from harness.environment import require_torchaudio

    AF = require_torchaudio().functional

    batch = np.zeros((len(waves), max(len(w) for w in waves)), np.float32)
    for row, w in zip(batch, waves, strict=True):
        row[: len(w)] = w / 32768.0
    out = AF.resample(torch.from_numpy(batch), orig_sr, SAMPLE_RATE).numpy()
    return [out[k, : -(-len(w) * SAMPLE_RATE // orig_sr)] for k, w in enumerate(waves)]


def _spectral(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Gaussian noise of length n with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown);
    below 20 Hz it is cut, so brown noise does not wander off as a DC drift."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec *= np.where(f < 20.0, 0.0, np.maximum(f, 20.0) ** (-exponent / 2))
    return np.fft.irfft(spec, n)


NOISES = ("white_noise", "pink_noise", "brown_noise", "hum", "fan", "babble")  # make_noises'


def make_noises(cfg: SynthConfig, eng: Espeak, voices: list[str]) -> dict[str, np.ndarray]:
    """Background noises (NOISES), name -> (noise_seconds * 16000,) int16 peaking at 90 % of
    full scale."""
    n = int(cfg.noise_seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    noises = {
        "white_noise": rng_for(cfg, 4, 0).standard_normal(n),
        "pink_noise": _spectral(rng_for(cfg, 4, 1), n, 1.0),
        "brown_noise": _spectral(rng_for(cfg, 4, 2), n, 2.0),
    }
    rng = rng_for(cfg, 4, 3)  # mains hum: 50 or 60 Hz with decaying harmonics and a slow wobble
    f0 = float(rng.choice([50.0, 60.0]))
    hum = sum(rng.uniform(0.3, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
              for h in range(1, 12))
    noises["hum"] = hum * (1 + 0.2 * np.sin(2 * np.pi * 0.3 * t)) + 0.05 * _spectral(rng, n, 1.0)
    rng = rng_for(cfg, 4, 4)  # fan: a band of noise around a random centre, modulated by the blades
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec *= np.exp(-0.5 * (np.log(np.maximum(f, 1.0) / rng.uniform(300, 2000)) / 0.6) ** 2)
    noises["fan"] = np.fft.irfft(spec, n) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(8, 30) * t))
    noises["babble"] = _babble(cfg, eng, voices, n)
    assert tuple(noises) == NOISES, "NOISES names what is made here"
    return {k: np.round(x * (0.9 * 32767 / np.abs(x).max())).astype(np.int16)
            for k, x in noises.items()}


def _babble(cfg: SynthConfig, eng: Espeak, voices: list[str], n: int) -> np.ndarray:
    """`babble_streams` talkers saying runs of filler words with short pauses, summed; (n,)."""
    rng = rng_for(cfg, 4, 5)
    eng.reset(int(rng.integers(2**31)))
    sr = eng.sample_rate
    need = -(-n * sr // SAMPLE_RATE)
    total = np.zeros(need, np.float64)
    for _ in range(cfg.babble_streams):
        # Start before t = 0, so that every stream is already talking when the file begins.
        voice, pos = str(rng.choice(voices)), -int(rng.integers(0, 2 * sr))
        while pos < need:
            words = " ".join(rng.choice(_FILLER, size=int(rng.integers(4, 10))))
            w = eng.speak(words, voice, rate=int(rng.integers(*cfg.rate_wpm)),
                          pitch=int(rng.integers(*cfg.pitch)))
            seg = w[max(0, -pos) : need - pos]
            total[max(0, pos) : max(0, pos) + len(seg)] += seg
            pos += len(w) + int(rng.uniform(0.05, 0.5) * sr)
    peak = max(1.0, np.abs(total).max())
    return resample_16k([np.round(total / peak * 32767).astype(np.int16)], sr)[0][:n]
