"""Learnable front-ends: registry metadata, learned_stft == complex at init, what each
computes, and that their parameters train with the model (harness.training.loop.fit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.data import Clips
from harness.frontends import FRONTENDS, PCEN, create_frontend, list_frontends
from harness.frontends.filterbanks import gabor_init
from harness.models import build_pipeline
from harness.training.config import TrainConfig
from harness.training.loop import fit

torch.set_num_threads(1)

LEARNABLE = {"learned_stft": "complex", "pcen": "magnitude", "sincnet": "magnitude",
             "leaf": "magnitude"}
SMALL = {"learned_stft": {}, "pcen": dict(n_mels=16), "sincnet": dict(n_filters=16),
         "leaf": dict(n_filters=16)}


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """(3, 16000): a 440 Hz tone, uniform noise, silence."""
    t = torch.arange(16000) / 16000
    noise = torch.rand(16000, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.stack([0.8 * torch.sin(2 * math.pi * 440 * t), noise, torch.zeros(16000)])


def test_registry_metadata() -> None:
    for name, family in LEARNABLE.items():
        info = FRONTENDS.info(name)
        assert (info.learns, info.family) == (True, family), name
        assert info.source, name
    assert "Zeghidour" in FRONTENDS.info("leaf").source
    assert "mravanelli/SincNet" in FRONTENDS.info("sincnet").source
    assert "Wang et al. 2017" in FRONTENDS.info("pcen").source
    for name in list_frontends():  # learns <=> the built module has parameters
        has_params = bool(list(create_frontend(name, **SMALL.get(name, {})).parameters()))
        assert FRONTENDS.info(name).learns == has_params, name


@pytest.mark.parametrize("opts", [
    {}, dict(normalized="frame_length"), dict(normalized=False),
    dict(n_fft=1024, win_length=1024, window="hamming", center=False),
    dict(hop_length=320, pad_mode="constant"),
])
def test_learned_stft_at_init_equals_complex(opts: dict, batch: torch.Tensor) -> None:
    """Max abs error at the defaults is 7.6e-6 against |X| up to 7.1 (float32 conv vs FFT)."""
    ref = create_frontend("complex", **opts)(batch)
    out = create_frontend("learned_stft", **opts)(batch)
    assert out.shape == ref.shape
    scale = ref.abs().max()
    assert (out - ref).abs().max() <= 2e-6 * scale + 1e-6
    if not opts:
        assert out.shape == (3, 2, 257, 101)
        assert sum(p.numel() for p in create_frontend("learned_stft").parameters()) == 514 * 512


def test_pcen_of_a_constant_is_the_closed_form() -> None:
    """Stationary E: the smoother M equals E, so PCEN = (E^(1-a) + d)^(1/r) - d^(1/r)."""
    energy = torch.full((2, 1, 3, 50), 5.0)
    out = PCEN(3, alpha=0.8, delta=2.0, root=3.0, floor=0.0)(energy)
    expected = (5.0 ** 0.2 + 2.0) ** (1 / 3) - 2.0 ** (1 / 3)
    torch.testing.assert_close(out, torch.full_like(out, expected))


def test_pcen_smoother_follows_the_recursion() -> None:
    """Energy steps from 1 to 3 at t=1: M_t = 3 - 2 (1 - s)^t (LEAF's EMA, M_0 = E_0)."""
    energy = torch.ones(1, 1, 6)
    energy[..., 1:] = 3.0
    pcen = PCEN(1, alpha=1.0, smooth=0.25, delta=0.0, root=1.0, floor=0.0)
    t = torch.arange(6.0)
    smoother = torch.where(t == 0, 1.0, 3 - 2 * 0.75 ** t)
    torch.testing.assert_close(pcen(energy)[0, 0], energy[0, 0] / smoother)


def test_leaf_init_matches_mel_and_finds_the_tone(batch: torch.Tensor) -> None:
    params = gabor_init(40, 60.0, 7800.0)
    centres_hz = params[:, 0] * 16000 / (2 * math.pi)
    mel = 2595 * np.log10(1 + np.array([60.0, 7800.0]) / 700)
    expected = 700 * (10 ** (np.linspace(*mel, 42)[1:-1] / 2595) - 1)
    np.testing.assert_allclose(centres_hz.numpy(), expected, rtol=1e-5)
    assert (params[1:, 1] < params[:-1, 1]).all(), "higher bands are wider: shorter in time"
    fe = create_frontend("leaf", n_filters=40)
    out = fe(batch)
    assert out.shape == (3, 1, 40, 100)
    loudest = int(out[0, 0].mean(1).argmax())
    assert abs(centres_hz[loudest] - 440) < 60, centres_hz[loudest]


def test_sincnet_filters_pass_their_band() -> None:
    conv = create_frontend("sincnet", n_filters=8).transform.conv
    kernels = conv.filters()[:, 0].detach()
    assert kernels.shape == (8, 251)
    torch.testing.assert_close(kernels, kernels.flip(1))  # symmetric: linear phase
    response = torch.fft.rfft(kernels, n=4096).abs()
    peak_hz = response.argmax(1) * 16000 / 4096
    low = 50 + conv.low_hz_.abs()[:, 0].detach()
    high = low + 50 + conv.band_hz_.abs()[:, 0].detach()
    assert ((peak_hz >= low - 16) & (peak_hz <= high + 16)).all(), (peak_hz, low, high)


@pytest.mark.parametrize("name", sorted(LEARNABLE))
def test_parameters_change_after_one_step_of_fit(name: str) -> None:
    """One epoch of one batch through harness.training.loop.fit: every front-end tensor moves."""
    torch.manual_seed(0)
    frontend, model = build_pipeline(name, "res8", n_classes=3, frontend_opts=SMALL[name],
                                     model_opts=dict(n_maps=4))
    before = {k: p.detach().clone() for k, p in frontend.named_parameters()}
    rng = np.random.default_rng(0)
    clips = Clips(rng.integers(-8000, 8000, (4, 16000), dtype=np.int16),
                  np.array([0, 1, 2, 0]))
    cfg = TrainConfig(epochs=1, batch_size=4, device="cpu", lr=1e-2)
    results = list(fit(model, frontend, clips, clips, cfg))
    assert math.isfinite(results[0].train_loss)
    for key, param in frontend.named_parameters():
        assert not torch.equal(param.detach(), before[key]), f"{name}: {key} did not train"
