"""Augmentation (training.augment), real torch: shift, noise mixing, SpecAugment, in fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_train import TinyCNN, TinyFrontend, tones

from harness.data.background import read_noise
from harness.errors import HarnessError
from harness.frontends import create_frontend
from harness.training.augment import Augmenter, bands, shift
from harness.training.config import TrainConfig
from harness.training.loop import fit
from harness.training.recipes import RECIPES, Recipe

CPU = torch.device("cpu")
OFF = RECIPES.create("as_ran")


def recipe(**keys: object) -> Recipe:
    return dataclasses.replace(OFF, **keys)


def noise_windows(k: int = 3, t: int = 16000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((k, t)) * 3000).astype(np.int16)


def test_off_by_default_and_in_the_reference_recipes() -> None:
    for name in ("as_ran", "as_written"):
        assert Augmenter.create(RECIPES.create(name), None, CPU, 0) is None
    assert Augmenter.create(TrainConfig().resolved, None, CPU, 0) is None


def test_shift_moves_samples_by_the_amount_and_zero_fills() -> None:
    x = torch.arange(1, 11, dtype=torch.float32).repeat(3, 1)  # (3, 10): 1..10
    out = shift(x, torch.tensor([2, -3, 0]))
    assert out[0].tolist() == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8]          # +2: delayed
    assert out[1].tolist() == [4, 5, 6, 7, 8, 9, 10, 0, 0, 0]         # -3: advanced
    assert torch.equal(out[2], x[2])


def test_drawn_shifts_stay_in_range_and_match_a_pure_shift() -> None:
    aug = Augmenter.create(recipe(shift_ms=1.0), None, CPU, seed=3)  # +-16 samples
    assert aug is not None and aug.shift_samples == 16
    x = torch.zeros(400, 100)
    x[:, 50] = 1.0  # one impulse per row: where it lands is the drawn shift
    moved = aug.waves(x).argmax(1) - 50
    assert moved.abs().max() <= 16 and len(set(moved.tolist())) > 20  # uniform-ish over 33
    assert moved.float().mean().abs() < 3


def test_seeded_reproducibility() -> None:
    r = recipe(shift_ms=50.0, noise_prob=0.5, time_masks=2, freq_masks=2,
               time_mask_width=5, freq_mask_width=4)
    x = torch.rand(8, 16000) - 0.5
    f = torch.rand(8, 2, 20, 30)
    runs = []
    for seed in (7, 7, 8):
        aug = Augmenter.create(r, noise_windows(), CPU, seed)
        assert aug is not None
        runs.append((aug.waves(x), aug.features(f)))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    assert not torch.equal(runs[0][0], runs[2][0])


def test_noise_mixing_probability_and_volume() -> None:
    noise = noise_windows(k=4, t=1000)
    aug = Augmenter.create(recipe(noise_prob=0.8, noise_volume=0.1), noise, CPU, seed=0)
    assert aug is not None
    x = torch.zeros(4000, 1000)
    out = aug.waves(x)  # silent clips: the output is volume * one noise window
    windows = torch.as_tensor(noise).float() / 32768
    mixed = out.abs().amax(1) > 0
    assert 0.77 < mixed.float().mean() < 0.83
    # Each mixed row is exactly a multiple of one of the windows; the multiple is its volume.
    rows = out[mixed]
    fit_ = rows @ windows.T / (windows * windows).sum(1)  # least-squares volume per window
    best = fit_.abs().argmax(1)
    vol = fit_[torch.arange(len(rows)), best]
    torch.testing.assert_close(rows, vol[:, None] * windows[best], atol=1e-6, rtol=0)
    assert vol.min() >= 0 and vol.max() <= 0.1 and 0.045 < vol.mean() < 0.055  # U[0, 0.1]
    assert len(set(best.tolist())) == 4  # every window drawn


def test_noise_mix_is_clipped_to_full_scale() -> None:
    aug = Augmenter.create(recipe(noise_prob=1.0, noise_volume=1.0),
                           np.full((1, 100), 32767, np.int16), CPU, 0)
    assert aug is not None
    assert aug.waves(torch.full((50, 100), 0.9)).max() <= 1.0


def test_noise_without_windows_is_a_clear_error() -> None:
    with pytest.raises(HarnessError, match=r"noise_prob=0\.8: the data set has no "
                                           r"_background_noise_"):
        Augmenter.create(recipe(noise_prob=0.8), np.zeros((0, 16000), np.int16), CPU, 0)


def test_bands_mark_the_drawn_ranges() -> None:
    band = bands(torch.tensor([[2, 0], [3, 1]]), torch.tensor([[1, 5], [0, 6]]), 8)
    assert band.int().tolist() == [[0, 1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 1, 0]]


def test_masks_zero_whole_bands_across_channels() -> None:
    aug = Augmenter.create(recipe(time_masks=2, time_mask_width=6, freq_masks=1,
                                  freq_mask_width=4), None, CPU, seed=5)
    assert aug is not None
    f = torch.rand(64, 2, 20, 30) + 0.1  # never zero before masking
    zero = aug.features(f) == 0
    assert torch.equal(zero[:, 0], zero[:, 1])  # both channels masked alike
    z = zero[:, 0]
    freq_rows = z.all(2)   # (B, F): bins zeroed at every frame
    time_cols = z.all(1)   # (B, T'): frames zeroed at every bin
    # Every zero lies in a fully zeroed bin or frame: masks are bands, nothing else.
    assert torch.equal(z, freq_rows[:, :, None] | time_cols[:, None, :])
    assert freq_rows.sum(1).max() <= 4 and time_cols.sum(1).max() <= 12
    assert freq_rows.any() and time_cols.any()
    for row in freq_rows:  # one frequency band: contiguous
        idx = row.nonzero().flatten()
        if len(idx):
            assert idx.max() - idx.min() + 1 == len(idx)


def test_masks_need_a_spectrogram() -> None:
    aug = Augmenter.create(recipe(time_masks=1), None, CPU, 0)
    assert aug is not None
    wave = create_frontend("waveform")(torch.zeros(2, 16000))
    with pytest.raises(HarnessError, match=r"SpecAugment.*need a spectrogram"):
        aug.features(wave)


def test_recipe_checks_augmentation_values() -> None:
    with pytest.raises(HarnessError, match=r"noise_prob=1\.5"):
        recipe(noise_prob=1.5)
    with pytest.raises(HarnessError, match="time_masks=-1"):
        recipe(time_masks=-1)


def _fit(cfg: TrainConfig, noise: np.ndarray | None) -> list[float]:
    torch.manual_seed(0)
    model = TinyCNN()
    return [r.train_loss for r in fit(model, TinyFrontend(), tones(96, 0), tones(32, 1), cfg,
                                      noise)]


def test_fit_off_is_unchanged_and_on_is_seeded(speech_commands) -> None:
    noise = read_noise(speech_commands)  # the conftest folder's _background_noise_
    assert noise.ndim == 2 and noise.shape[1] == 16000 and len(noise) >= 2
    base = dict(epochs=2, batch_size=32, patience=5, device="cpu")
    plain = _fit(TrainConfig(**base), None)
    assert _fit(TrainConfig(**base), noise) == plain  # noise given but off: unchanged
    on = dict(base, shift_ms=20.0, noise_prob=0.8, freq_masks=1, freq_mask_width=3)
    first, again = _fit(TrainConfig(**on), noise), _fit(TrainConfig(**on), noise)
    assert first == again and first != plain


def test_augmentation_keys_are_typed_sweepable_train_keys(tmp_path) -> None:
    from harness.sweep.experiment_file import load_experiment

    def exp(train: str, space: str = 'frontend = ["complex"]'):
        path = tmp_path / "aug.toml"
        path.write_text(f'name = "aug"\n[train]\nmodel = "seed_cnn"\n{train}\n'
                        f"[search.space]\n{space}\n")
        return load_experiment(path)

    e = exp("shift_ms = 100\nnoise_prob = 0.8\ntime_masks = 2",
            'frontend = ["log_mel"]\nfreq_masks = [0, 2]')
    assert (e.fixed["shift_ms"], e.fixed["noise_prob"], e.fixed["time_masks"]) == (100.0, 0.8, 2)
    assert e.space["freq_masks"] == (0, 2) and len(e.grid()) == 2
    assert exp("").params({"frontend": "complex", "seed": 0})["noise_prob"] == 0.0  # off
    with pytest.raises(HarnessError, match=r"\[train\] time_masks: 1\.5 is not a int"):
        exp("time_masks = 1.5")
    with pytest.raises(HarnessError, match=r"noise_prob=2\.0: expected a number in \[0, 1\]"):
        exp("noise_prob = 2")
