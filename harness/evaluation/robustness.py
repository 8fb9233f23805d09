"""Robustness of a trained model: test accuracy under time shifts and background noise.

    metrics = robustness(model, frontend, splits.test, splits.noise, cfg)
    # {"robust_shift_-200ms_acc": 0.91, ..., "robust_shift_200ms_acc": 0.88,
    #  "robust_snr_20db_acc": 0.93, ..., "robust_snr_0db_acc": 0.61}

Each condition changes every test clip the same way, on the device, batch by batch
(harness.training.loop.forward, eval mode, no augmentation):

- shift by d ms (SHIFTS_MS): the clip moved by d ms, zero-filled (harness.training.augment.shift; +d
  delays the word, -d advances it). MLflow metric names may not hold "+", so a delay is
  `robust_shift_100ms_acc` and an advance `robust_shift_-100ms_acc`.
- noise at s dB SNR (SNRS_DB): one window of SplitData.noise (the `_background_noise_`
  recordings, 1 s windows) per clip, drawn with a fixed seed (NOISE_SEED, the same windows
  for every model and every condition), scaled so that 10 log10(P_clip / P_noise) = s, with
  P the mean square over the whole 1 s window, added, and the sum clipped to [-1, 1].
  A clip of digital silence (P_clip = 0) has no SNR: its noise is scaled to zero and it
  stays silent. Silent noise windows (P = 0) are never drawn. With kws12's `_silence_`
  class (clips cut from the same recordings) the noise is measured against that noise.

The noise windows are the ones training augmentation draws from (Speech Commands ships
six recordings): this measures robustness to the noise types seen, louder, not to unseen ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError
from harness.training.augment import shift
from harness.training.device import DeviceClips

if TYPE_CHECKING:
    from harness.data import Clips
    from harness.training.config import TrainConfig

SHIFTS_MS = (-200, -100, 100, 200)
SNRS_DB = (20, 10, 5, 0)
NOISE_SEED = 0


def shift_metric(ms: int) -> str:
    return f"robust_shift_{ms}ms_acc"


def snr_metric(db: int) -> str:
    return f"robust_snr_{db}db_acc"


def metric_names(shifts_ms: tuple[int, ...] = SHIFTS_MS,
                 snrs_db: tuple[int, ...] = SNRS_DB) -> list[str]:
    """The metrics `robustness` logs, shifts then SNRs, in condition order."""
    return [*map(shift_metric, shifts_ms), *map(snr_metric, snrs_db)]


def mix_at_snr(x: torch.Tensor, noise: torch.Tensor, snr_db: float) -> torch.Tensor:
    """x (B, T) + noise (B, T) scaled per row to `snr_db` dB below x's power, clipped to
    [-1, 1]; rows of x with zero power stay as they are."""
    p_clip = x.pow(2).mean(1, keepdim=True)
    p_noise = noise.pow(2).mean(1, keepdim=True)
    gain = torch.sqrt(p_clip / (p_noise * 10 ** (snr_db / 10)))
    return (x + gain * noise).clamp_(-1, 1)


def noise_picks(noise: np.ndarray, n: int, seed: int = NOISE_SEED) -> np.ndarray:
    """(n,) indices of non-silent noise windows, drawn uniformly with `seed`."""
    audible = np.flatnonzero((np.asarray(noise, dtype=np.int64) ** 2).sum(1) > 0)
    if len(audible) == 0:
        raise HarnessError("robustness: the data set's _background_noise_ windows are all "
                           "silent (or there are none); add recordings or set "
                           "robustness = false")
    return audible[np.random.default_rng(seed).integers(0, len(audible), n)]


@torch.no_grad()
def robustness(model: nn.Module, frontend: nn.Module, clips: Clips, noise: np.ndarray,
               cfg: TrainConfig, shifts_ms: tuple[int, ...] = SHIFTS_MS,
               snrs_db: tuple[int, ...] = SNRS_DB) -> dict[str, float]:
    """Accuracy of `model` on `clips` under each shift and SNR -> {metric name: accuracy}.

    `noise`: (K, 16000) int16 windows (SplitData.noise); HarnessError if none is audible.
    """
    from harness.training.loop import forward, move_to_device

    device = move_to_device(model, frontend, cfg)
    model.eval()
    data = DeviceClips(clips.audio, clips.labels, device)
    if len(data) == 0:
        raise HarnessError("robustness: the test split has no clips")
    picks = torch.as_tensor(noise_picks(noise, len(data)), device=device)
    windows = torch.as_tensor(np.asarray(noise)).to(device).float() / 32768
    shifts = [round(ms * SAMPLE_RATE / 1000) for ms in shifts_ms]
    hits = torch.zeros(len(shifts) + len(snrs_db), dtype=torch.int64, device=device)
    for first in range(0, len(data), cfg.batch_size):
        idx = torch.arange(first, min(first + cfg.batch_size, len(data)),
                           device=data.audio.device)
        x, y = data.batch(idx)
        window = windows[picks[first:first + len(idx)], :x.shape[1]]
        variants = [shift(x, torch.full((len(x),), s, device=device), abs(s)) for s in shifts]
        variants += [mix_at_snr(x, window, db) for db in snrs_db]
        for i, v in enumerate(variants):
            hits[i] += (forward(model, frontend, v, cfg).argmax(1) == y).sum()
    acc = (hits.double() / len(data)).cpu().tolist()
    return dict(zip(metric_names(shifts_ms, snrs_db), acc, strict=True))
