"""The offline generator's knobs, and its keyed random streams: shared by the speech
(harness.data.synth) and the noise (harness.data.noise) it writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator. Units: dB, words per minute, espeak's 0..99 pitch scale, seconds.

    speakers x 30 words x repeats clips. The defaults (12,000 clips, 9,600 of them for training)
    are sized for the reference recipe: at batch 128 an epoch is 75 optimiser steps (Speech
    Commands v0.01 gives 303), and with 120 speakers and 0-20 dB SNR an epoch was 22 steps and
    the quarter-width seed CNN stayed at chance for 3 epochs; with these defaults it reaches
    about 5x chance in 3 epochs (docs/benchmarks.md) and is far from solved. Empty accents /
    variants mean every English accent / every voice variant espeak-ng has installed.
    """

    speakers: int = 400
    repeats: int = 1
    seed: int = 0
    snr_db: tuple[float, float] = (10.0, 30.0)  # speech power over its own span / noise power
    level_db: tuple[float, float] = (-24.0, -3.0)  # speech peak, dBFS
    rate_wpm: tuple[int, int] = (100, 240)
    pitch: tuple[int, int] = (10, 90)
    pitch_range: tuple[int, int] = (10, 90)
    jitter: float = 0.08            # per utterance: rate x U(1-j, 1+j), pitch +- j*50
    valid_fraction: float = 0.1     # of speakers; at least one
    test_fraction: float = 0.1
    noise_seconds: float = 20.0     # length of each background-noise file
    babble_streams: int = 5         # overlapping talkers in the babble noise
    accents: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()



def rng_for(cfg: SynthConfig, *key: int) -> np.random.Generator:
    """An independent generator per purpose and index, so results never depend on call order."""
    return np.random.default_rng([cfg.seed, *key])
