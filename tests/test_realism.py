"""The recording effects of synth_commands_v2 (harness.data.realism), measured on real signals."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import realism
from harness.data.speech_commands import SAMPLE_RATE


def band_power(x: np.ndarray, low: float, high: float) -> float:
    """Power of x between low and high Hz (periodogram sum)."""
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(spec[(f >= low) & (f < high)].sum())


def schroeder_rt60(h: np.ndarray) -> float:
    """RT60 from the backward-integrated energy's fall from -5 to -25 dB (T20 x 3)."""
    energy = np.cumsum(h[::-1] ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0])
    t5, t25 = np.argmax(db <= -5), np.argmax(db <= -25)
    return 3 * (t25 - t5) / SAMPLE_RATE


@pytest.mark.parametrize("rt60", [0.3, 0.7])
def test_room_response_decays_as_asked(rt60: float) -> None:
    h = realism.room_response(np.random.default_rng(0), rt60, distance=2.0)
    assert h[0] == 1.0 and len(h) == int(rt60 * SAMPLE_RATE)
    # The tail's high band decays faster than asked, so the broadband figure is a bit short.
    assert 0.6 * rt60 < schroeder_rt60(h) < 1.1 * rt60


def test_nearer_talker_is_drier() -> None:
    def reverberant_share(distance: float) -> float:
        h = realism.room_response(np.random.default_rng(1), 0.5, distance)
        return float(np.sum(h[1:] ** 2) / np.sum(h**2))

    assert reverberant_share(0.3) < reverberant_share(1.0) < reverberant_share(3.0)


def test_eight_khz_and_telephone_bands() -> None:
    x = np.random.default_rng(2).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    for band, (low, high) in (("8k", (0, 3800)), ("telephone", (400, 3200))):
        y = realism.channel(x, np.random.default_rng(3), band=band, eq_db=0.0, codec=False,
                            clip_db=0.0)
        assert len(y) == len(x) and y.dtype == np.float32
        inside = band_power(y, low, high) / (high - low)
        assert band_power(y, 4200, 8000) / 3800 < 3e-3 * inside, band  # 25 dB down at least
    phone = realism.channel(x, np.random.default_rng(3), band="telephone", eq_db=0.0,
                            codec=False, clip_db=0.0)
    assert band_power(phone, 0, 150) / 150 < 0.01 * band_power(phone, 400, 3200) / 2800


def test_clipping_keeps_the_peak_and_flattens_it() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = realism.channel(x, np.random.default_rng(4), band="full", eq_db=0.0, codec=False,
                        clip_db=10.0)
    peak = np.abs(y).max()
    assert np.mean(np.abs(y) > 0.99 * peak) > 0.3  # a sine spends ~6 % that high unclipped


def test_perturb_moves_frequency_and_length() -> None:
    t = np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE
    x = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    y = realism.perturb(x, 0.8)  # a larger talker: slower and lower
    assert abs(len(y) - len(x) / 0.8) <= 1
    f = np.fft.rfftfreq(len(y), 1 / SAMPLE_RATE)[np.argmax(np.abs(np.fft.rfft(y)))]
    assert abs(f - 800) < 5


def test_noises_are_seeded_and_differ() -> None:
    n = SAMPLE_RATE * 2
    a = realism.street_noise(np.random.default_rng(5), n)
    assert np.array_equal(a, realism.street_noise(np.random.default_rng(5), n))
    b = realism.room_tone(np.random.default_rng(5), n)
    assert a.shape == b.shape == (n,)
    # Street noise rumbles (most power below 300 Hz); room tone is ventilation up to ~1 kHz.
    assert band_power(a, 0, 300) > band_power(a, 300, 8000)
    assert band_power(b, 0, 1500) > 2 * band_power(b, 1500, 8000)
