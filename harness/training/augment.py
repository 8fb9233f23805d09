"""Training-time augmentation on the device, batched and seeded: time shift, background noise,
SpecAugment masks. Every knob is a recipe key (harness.training.recipes.Recipe), off by default.

    aug = Augmenter.create(cfg.resolved, noise, device, seed=cfg.seed)   # None when all off
    x = aug.waves(x)              # (B, T) float32 in [-1, 1] -> shifted, noise mixed in
    f = aug.features(frontend(x)) # (B, C, F, T') -> time and frequency bands zeroed

Each draw is one tensor op over the whole batch (no per-clip Python), from a generator on
the device seeded by the trial seed, so a run is reproducible on its device.

The waveform steps follow Honk (castorini/honk utils/model.py, SpeechDataset.preprocess and
_timeshift_audio) and TensorFlow (tensorflow/examples/speech_commands/input_data.py,
AudioProcessor.get_data): a shift drawn uniformly from [-shift_ms, +shift_ms] (whole
samples), the gap zero-filled; then, with probability `noise_prob` per clip, a
background-noise window times a volume drawn uniformly from [0, noise_volume] added, and the
sum clipped to [-1, 1] (Honk: `a = random.random() * 0.1` when `random.random() <
noise_prob`, defaults noise_prob 0.8, timeshift_ms 100; TF: `background_volume =
np.random.uniform(0, background_volume_range)` when `np.random.uniform(0, 1) <
background_frequency`, train.py's flags 0.8, 0.1 and time_shift_ms 100). Both crop the noise
at a random offset of a random file; here a random 1 s window of SplitData.noise (0.5 s hop,
harness.data.background) is drawn. Both augment training clips only; so does fit here
(validation and test batches are never augmented).

SpecAugment (Park et al. 2019, "SpecAugment", Interspeech; section 2): `time_masks` bands of
t ~ U{0..time_mask_width} consecutive frames and `freq_masks` bands of f ~ U{0..freq_mask_width}
bins, each placed uniformly, set to zero (torchaudio's and NeMo's mask value; the paper's
normalised features make zero their mean). A band covers every channel (real and imaginary
rows of the complex front-end alike). Time warping is not done. Masks need a spectrogram:
a `waveform` front-end's (B, C, T) output with masks on fails the trial with a HarnessError
(`Augmenter.features`), rather than silently training without them.

Sign convention, here and in evaluation.robustness: a shift of +d ms delays the word (x'[t] =
x[t - d]); -d ms advances it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.training.recipes import Recipe

def shift(x: torch.Tensor, samples: torch.Tensor, most: int | None = None) -> torch.Tensor:
    """x (B, T) shifted by samples (B,) int64 each, zero-filled: out[b, t] = x[b, t - s_b].

    `most` bounds |samples| (pass it when known: reading it from a GPU tensor waits for
    the GPU). One copy: the zero-padded batch viewed as every T-long window (unfold, no
    copy), and each row's window picked by its shift.
    """
    if most is None:
        most = int(samples.abs().max()) if len(samples) else 0
    if most == 0:
        return x.clone()
    windows = F.pad(x, (most, most)).unfold(1, x.shape[1], 1)  # (B, 2 most + 1, T) view
    return windows[torch.arange(len(x), device=x.device), most - samples]


def bands(lengths: torch.Tensor, starts: torch.Tensor, size: int) -> torch.Tensor:
    """(B, M) band widths and starts -> (B, size) bool, True inside any of a row's M bands."""
    pos = torch.arange(size, device=starts.device)
    inside = (pos >= starts[..., None]) & (pos < (starts + lengths)[..., None])
    return inside.any(1)


@dataclass
class Augmenter:
    """The augmentation of one run: its settings, noise windows and generator, on one device."""

    shift_samples: int            # the largest shift, in samples (0: no shift)
    noise_prob: float
    noise_volume: float
    noise: torch.Tensor | None    # (K, T) float32 in [-1, 1] on the device, or None
    time_masks: int
    time_mask_width: int
    freq_masks: int
    freq_mask_width: int
    generator: torch.Generator

    @classmethod
    def create(cls, recipe: Recipe, noise: np.ndarray | None, device: torch.device,
               seed: int) -> Augmenter | None:
        """The recipe's augmentation, or None when every knob is off (training unchanged).

        `noise`: (K, T) int16 windows (SplitData.noise); HarnessError when noise mixing is
        on and there are none.
        """
        if not any(getattr(recipe, k) for k in ("shift_ms", "noise_prob", "time_masks",
                                                "freq_masks")):
            return None
        windows = None
        if recipe.noise_prob > 0:
            if noise is None or len(noise) == 0:
                raise HarnessError(f"noise_prob={recipe.noise_prob}: the data set has no "
                                   "_background_noise_/*.wav to mix in; add that folder or "
                                   "set noise_prob = 0")
            windows = torch.as_tensor(np.asarray(noise)).to(device).float() / 32768
        generator = torch.Generator(device=device).manual_seed(seed)
        return cls(shift_samples=round(recipe.shift_ms * SAMPLE_RATE / 1000),
                   noise_prob=recipe.noise_prob, noise_volume=recipe.noise_volume,
                   noise=windows, time_masks=recipe.time_masks,
                   time_mask_width=recipe.time_mask_width, freq_masks=recipe.freq_masks,
                   freq_mask_width=recipe.freq_mask_width, generator=generator)

    def _uniform(self, *shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.generator.device)

    def _integers(self, high: torch.Tensor | int, *shape: int) -> torch.Tensor:
        """Integers uniform in [0, high] (inclusive; `high` broadcast), int64."""
        return (self._uniform(*shape) * (torch.as_tensor(high) + 1)).long()

    def waves(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) float32 -> shifted, noise mixed in; a new tensor (x is not written)."""
        b, t = x.shape
        if self.shift_samples:
            drawn = self._integers(2 * self.shift_samples, b) - self.shift_samples
            x = shift(x, drawn.clamp_(max=self.shift_samples), self.shift_samples)
        if self.noise is not None:
            pick = self._integers(len(self.noise) - 1, b).clamp_(max=len(self.noise) - 1)
            volume = self._uniform(b) * self.noise_volume
            volume = volume * (self._uniform(b) < self.noise_prob)
            x = torch.addcmul(x, volume[:, None], self.noise[pick, :t]).clamp_(-1, 1)
        return x

    def features(self, f: torch.Tensor) -> torch.Tensor:
        """f (B, C, F, T') front-end output -> with the masked bands set to 0."""
        if not (self.time_masks or self.freq_masks):
            return f
        if f.ndim != 4:
            raise HarnessError(f"time_masks/freq_masks (SpecAugment) need a spectrogram "
                               f"front-end's (B, C, F, T) output, got shape {tuple(f.shape)}: "
                               "use another front-end or set time_masks = freq_masks = 0")
        b, _, n_freq, n_time = f.shape
        keep = []  # (B, 1, F, 1) and (B, 1, 1, T'): 1 outside the bands, 0 inside
        for count, width, size, dim in ((self.freq_masks, self.freq_mask_width, n_freq, 2),
                                        (self.time_masks, self.time_mask_width, n_time, 3)):
            lengths = self._integers(min(width, size), b, count)
            starts = self._integers(size - lengths, b, count).clamp_(max=size - lengths)
            band = bands(lengths, starts, size)  # (B, size); all False when count is 0
            keep.append((~band).to(f.dtype).view(b, 1, *((size, 1) if dim == 2 else (1, size))))
        # The small outer product first: one pass over the features, not two.
        return f * (keep[0] * keep[1])
