"""What recorded speech has and synthesised speech lacks: rooms, microphones and channels,
everyday noises, and talkers of other sizes. Pure NumPy/SciPy functions of a seeded generator.

    y = perturb(speech, factor=0.9)                 # a longer vocal tract: formants, pitch down
    y = convolve(y, room_response(rng, rt60=0.5, distance=1.5))
    y = channel(y, rng, band="telephone", eq_db=6.0, codec=True, clip_db=0.0)
    noises = street_noise(rng, n), room_tone(rng, n)

Signals are float32 at 16 kHz in about [-1, 1]; lengths are in samples, times in seconds,
levels in dB. Each effect is a simple, stated model, not a measurement of real rooms:
- a room is an exponentially decaying noise tail (Polack's model, faster above 2 kHz as walls
  and air absorb more there) after a direct path and a few early reflections; its
  direct-to-reverberant ratio follows the critical distance 0.057 * sqrt(V / RT60) m of a room
  of volume V m^3 (Kuttruff, Room Acoustics, eq. 5.44);
- a microphone and channel is a low cut, a few peaking EQ bands (RBJ Audio EQ Cookbook
  biquads), a bandwidth (full, a low pass, speech recorded at 8 kHz and upsampled, or a
  300-3,400 Hz telephone line with G.711 mu-law), optionally a lossy codec's dropped spectral
  detail, a gain and clipping;
- a talker's vocal-tract length is changed by resampling (speed perturbation, Ko et al. 2015,
  "Audio augmentation for speech recognition", Interspeech), which also moves pitch and rate.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from harness.data.speech_commands import SAMPLE_RATE

BANDS = ("full", "lowpass", "8k", "telephone")
_MU = 255.0  # G.711 mu-law


def perturb(speech: np.ndarray, factor: float) -> np.ndarray:
    """Play `speech` `factor` times as fast: (L,) -> (about L / factor,). factor < 1 is a
    larger talker (formants and pitch lower by the factor, speech slower)."""
    up = 100
    down = round(up * factor)
    return signal.resample_poly(speech, up, down).astype(np.float32)


def room_response(rng: np.random.Generator, rt60: float, distance: float,
                  volume: float = 100.0) -> np.ndarray:
    """A room's impulse response from a talker `distance` m away, (rt60 * 16000,) float32 with
    the direct path (at sample 0) of amplitude 1. rt60: s; volume: m^3."""
    n = max(int(rt60 * SAMPLE_RATE), 64)
    t = np.arange(n) / SAMPLE_RATE
    noise = rng.standard_normal(n)
    low = signal.sosfilt(signal.butter(2, 2000, fs=SAMPLE_RATE, output="sos"), noise)
    # Energy falls 60 dB in rt60 (amplitude exp(-6.91 t / rt60)); 40 % faster above 2 kHz.
    tail = low * np.exp(-6.91 * t / rt60) + (noise - low) * np.exp(-6.91 * t / (0.6 * rt60))
    first = int(rng.uniform(0.002, 0.01) * SAMPLE_RATE)  # the first wall is a few metres away
    tail[:first] = 0.0
    for _ in range(int(rng.integers(4, 10))):  # early reflections, stronger than the tail
        k = int(rng.uniform(first, min(0.05 * SAMPLE_RATE, n - 1)))
        tail[k] += rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.7) * np.exp(-6.91 * k / n)
    critical = 0.057 * np.sqrt(volume / rt60)
    drr = (critical / distance) ** 2  # direct over reverberant energy
    tail *= np.sqrt(1.0 / (drr * max(float(np.sum(tail**2)), 1e-12)))
    tail[0] = 1.0
    return tail.astype(np.float32)


def convolve(x: np.ndarray, response: np.ndarray) -> np.ndarray:
    """x (L,) through an impulse response -> (L + len(response) - 1,) float32, reverb tail kept."""
    return signal.fftconvolve(x, response).astype(np.float32)


def _peaking(f0: float, gain_db: float, q: float) -> np.ndarray:
    """One RBJ peaking-EQ biquad as a (1, 6) second-order section."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * f0 / SAMPLE_RATE
    alpha = np.sin(w) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w), 1 - alpha / a]
    return np.array([[*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]]])


def _mu_law(x: np.ndarray) -> np.ndarray:
    """G.711-like 8-bit mu-law quantisation of x in [-1, 1]."""
    y = np.sign(x) * np.log1p(_MU * np.minimum(np.abs(x), 1.0)) / np.log1p(_MU)
    y = np.round(y * 127) / 127
    return np.sign(y) * ((1 + _MU) ** np.abs(y) - 1) / _MU


def _codec(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A lossy codec's artefact: spectral detail more than 25-45 dB below each frame's peak is
    dropped (20 ms frames), the rest kept, as a low-bit-rate perceptual coder does."""
    _, _, z = signal.stft(x, SAMPLE_RATE, nperseg=320)
    mag = np.abs(z)
    floor = mag.max(axis=0, keepdims=True) * 10 ** (-rng.uniform(25, 45) / 20)
    _, y = signal.istft(np.where(mag >= floor, z, 0), SAMPLE_RATE, nperseg=320)
    return y[: len(x)]


def channel(x: np.ndarray, rng: np.random.Generator, *, band: str, eq_db: float,
            codec: bool, clip_db: float) -> np.ndarray:
    """A microphone and transmission channel: (L,) float32 -> (L,) float32.

    band: one of BANDS; eq_db: the largest boost or cut of each of 3 EQ bands (0: none);
    codec: drop spectral detail as a lossy coder does; clip_db: drive into the clipping point
    by this much (0: no clipping)."""
    sos = [signal.butter(2, rng.uniform(40, 250), "highpass", fs=SAMPLE_RATE, output="sos")]
    if eq_db > 0:
        sos += [_peaking(rng.uniform(150, 6000), rng.uniform(-eq_db, eq_db), rng.uniform(0.5, 2))
                for _ in range(3)]
    if band == "lowpass":
        sos.append(signal.butter(int(rng.integers(4, 9)), rng.uniform(3500, 7000),
                                 fs=SAMPLE_RATE, output="sos"))
    elif band == "telephone":
        sos.append(signal.butter(4, (300, 3400), "bandpass", fs=SAMPLE_RATE, output="sos"))
    y = signal.sosfilt(np.concatenate(sos), x)
    if band in ("8k", "telephone"):  # sampled at 8 kHz, upsampled back as a 16 kHz file is
        narrow = signal.resample_poly(y, 1, 2)
        if band == "telephone":
            narrow = _mu_law(narrow / max(np.abs(narrow).max(), 1e-9)) * np.abs(narrow).max()
        y = signal.resample_poly(narrow, 2, 1)[: len(x)]
    if codec:
        y = _codec(y, rng)
    if clip_db > 0:
        peak = max(float(np.abs(y).max()), 1e-9)
        y = np.clip(y * (10 ** (clip_db / 20) / peak), -1.0, 1.0) * (peak / 10 ** (clip_db / 20))
    return y.astype(np.float32)


def _slow_envelope(rng: np.random.Generator, n: int, seconds: float) -> np.ndarray:
    """A positive random envelope varying over about `seconds`, (n,) in [0, 1]."""
    knots = rng.standard_normal(int(n / (seconds * SAMPLE_RATE)) + 2)
    env = np.interp(np.arange(n), np.linspace(0, n, len(knots)), knots)
    return (env - env.min()) / max(float(np.ptp(env)), 1e-9)


def street_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Traffic: a low rumble whose level swells as vehicles pass, tyre hiss, distant horns;
    (n,) float64, unscaled."""
    white = rng.standard_normal(n)
    rumble = signal.sosfilt(signal.butter(2, 300, fs=SAMPLE_RATE, output="sos"), white)
    hiss = signal.sosfilt(signal.butter(2, (800, 4000), "bandpass", fs=SAMPLE_RATE,
                                        output="sos"), rng.standard_normal(n))
    env = 0.3 + _slow_envelope(rng, n, 3.0) ** 2
    out = rumble * env * 3 + hiss * env * 0.5
    t = np.arange(n) / SAMPLE_RATE
    for _ in range(int(rng.integers(1, 4))):  # horns: a harmonic tone of 0.2-0.8 s
        start, dur, f0 = rng.uniform(0, t[-1]), rng.uniform(0.2, 0.8), rng.uniform(250, 500)
        on = (t >= start) & (t < start + dur)
        out[on] += 0.5 * np.std(out) * sum(np.sin(2 * np.pi * f0 * h * t[on]) / h
                                           for h in range(1, 5))
    return out


def room_tone(rng: np.random.Generator, n: int) -> np.ndarray:
    """A quiet room: ventilation (low-passed noise), a faint mains hum, a computer fan;
    (n,) float64, unscaled."""
    t = np.arange(n) / SAMPLE_RATE
    air = signal.sosfilt(signal.butter(1, rng.uniform(300, 1200), fs=SAMPLE_RATE,
                                       output="sos"), rng.standard_normal(n))
    f0 = float(rng.choice([50.0, 60.0]))
    hum = 0.1 * np.std(air) * sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h
                                  for h in (1, 2, 3))
    fan = 0.05 * np.std(air) * np.sin(2 * np.pi * rng.uniform(80, 200) * t)
    return air + hum + fan
