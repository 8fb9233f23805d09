"""Front-ends: shapes, agreement with torchaudio and torch.stft, options, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio.transforms as T

from harness.errors import HarnessError
from harness.frontends import FRONTENDS, create_frontend, list_frontends

torch.set_num_threads(1)

N = 16000
STFT = dict(n_fft=512, win_length=480, hop_length=160, normalized=True)  # the study's


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    """(3, 16000) float32 in [-1, 1]: a tone, noise and silence (the x / 0 edge case)."""
    t = torch.arange(N) / 16000
    tone = 0.8 * torch.sin(2 * math.pi * 440 * t)
    noise = torch.rand(N, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return torch.stack([tone, noise, torch.zeros(N)])


def _complex_ref(clip: torch.Tensor) -> torch.Tensor:
    return T.Spectrogram(power=None, **STFT)(clip)  # (F, T') complex


def _mel_ref(clip: torch.Tensor) -> torch.Tensor:
    return T.MelSpectrogram(16000, n_mels=128, **STFT)(clip)


def _db(power: torch.Tensor) -> torch.Tensor:
    return T.AmplitudeToDB("power")(power)


# What each front-end should give for one clip (T,), written with torchaudio directly.
REFERENCE = {
    "power": lambda c: T.Spectrogram(power=2.0, **STFT)(c)[None],
    "magnitude": lambda c: T.Spectrogram(power=1.0, **STFT)(c)[None],
    "sqrt_magnitude": lambda c: T.Spectrogram(power=0.5, **STFT)(c)[None],
    "log_power": lambda c: _db(T.Spectrogram(power=2.0, **STFT)(c))[None],
    "log1p_magnitude": lambda c: torch.log1p(_complex_ref(c).abs())[None],
    "complex": lambda c: torch.stack([_complex_ref(c).real, _complex_ref(c).imag]),
    "magnitude_phase": lambda c: torch.stack([_complex_ref(c).abs(), _complex_ref(c).angle()]),
    "complex_log": lambda c: torch.stack([
        torch.log1p(_complex_ref(c).abs()) * torch.cos(_complex_ref(c).angle()),
        torch.log1p(_complex_ref(c).abs()) * torch.sin(_complex_ref(c).angle()),
    ]),
    "mel": lambda c: _mel_ref(c)[None],
    "log_mel": lambda c: _db(_mel_ref(c))[None],
    # One clip at a time: MFCC's top_db=80 then clips against this clip's own peak.
    "mfcc": lambda c: T.MFCC(16000, n_mfcc=40, melkwargs=dict(n_mels=40, **STFT))(c)[None],
    "waveform": lambda c: c[None],
}

EXPECTED_SHAPES = {
    "complex": (2, 257, 101), "complex_log": (2, 257, 101), "magnitude_phase": (2, 257, 101),
    "power": (1, 257, 101), "log_power": (1, 257, 101), "mel": (1, 128, 101),
    "log_mel": (1, 128, 101), "mfcc": (1, 40, 101), "waveform": (1, 16000),
}


def test_registry_has_the_issue_entries() -> None:
    assert len(list_frontends()) >= 11
    assert set(REFERENCE) <= set(list_frontends())
    assert list_frontends("log*") == ["log1p_magnitude", "log_mel", "log_power"]
    assert all(FRONTENDS.describe(name) for name in list_frontends())


@pytest.mark.parametrize("name", list_frontends())
def test_shape_dtype_channels(name: str, batch: torch.Tensor) -> None:
    fe = create_frontend(name)
    out = fe(batch)
    assert out.dtype == torch.float32
    assert out.shape == (3, *fe.output_shape(N))
    assert out.shape[1] == fe.channels
    assert torch.isfinite(out).all()
    if name in EXPECTED_SHAPES:
        assert fe.output_shape() == EXPECTED_SHAPES[name]
    assert bool(list(fe.parameters())) == FRONTENDS.info(name).learns


@pytest.mark.filterwarnings("ignore:At least one mel filterbank")  # 128 bands, 257 bins
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_batch_matches_per_clip_torchaudio(name: str, batch: torch.Tensor) -> None:
    out = create_frontend(name)(batch)
    for i, clip in enumerate(batch):
        ref = REFERENCE[name](clip)
        if name == "magnitude_phase":  # the phase of a near-zero bin is noise; compare it
            mask = ref[0] > 1e-3        # only where the bin has energy
            torch.testing.assert_close(out[i, 0], ref[0], rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(out[i, 1][mask], ref[1][mask], rtol=1e-4, atol=1e-4)
        else:
            torch.testing.assert_close(out[i], ref, rtol=1e-4, atol=1e-4)


def test_complex_equals_torch_stft(batch: torch.Tensor) -> None:
    """torchaudio's normalized=True ("window") is torch.stft divided by ||window||_2."""
    window = torch.hann_window(480)  # torch.stft zero-pads it to n_fft=512, centred
    kw = dict(n_fft=512, hop_length=160, win_length=480, window=window, center=True,
              pad_mode="reflect", return_complex=True)
    raw = torch.stft(batch, normalized=False, **kw)
    out = create_frontend("complex")(batch)
    ref = raw / window.pow(2).sum().sqrt()
    torch.testing.assert_close(out[:, 0], ref.real, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[:, 1], ref.imag, rtol=1e-5, atol=1e-5)

    # "frame_length" is torch.stft's own normalized=True (a division by sqrt(n_fft))
    out = create_frontend("complex", normalized="frame_length")(batch)
    ref = torch.stft(batch, normalized=True, **kw)
    torch.testing.assert_close(out, torch.stack([ref.real, ref.imag], 1), rtol=1e-5, atol=1e-5)

    out = create_frontend("complex", normalized=False)(batch)
    torch.testing.assert_close(out, torch.stack([raw.real, raw.imag], 1), rtol=1e-5, atol=1e-5)


def test_complex_log_compresses_magnitude_keeps_phase(batch: torch.Tensor) -> None:
    x = create_frontend("complex")(batch)
    y = create_frontend("complex_log")(batch)
    x_c, y_c = torch.complex(x[:, 0], x[:, 1]), torch.complex(y[:, 0], y[:, 1])
    torch.testing.assert_close(y_c.abs(), torch.log1p(x_c.abs()), rtol=1e-5, atol=1e-6)
    loud = x_c.abs() > 1e-3
    torch.testing.assert_close(y_c.angle()[loud], x_c.angle()[loud], rtol=1e-4, atol=1e-4)
    assert (y[2] == 0).all(), "silence maps to exactly 0, not NaN"


def test_complex_log_gradient_is_finite_at_zero() -> None:
    from harness.frontends.stft import _log1p_scaled

    x = torch.tensor([0j, 1e-30 + 0j, 3 + 4j], requires_grad=True)
    _log1p_scaled(x).abs().sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(("opts", "shape"), [
    (dict(n_fft=1024, win_length=1024), (2, 513, 101)),
    (dict(hop_length=320), (2, 257, 51)),
    (dict(window="hamming", center=False), (2, 257, 97)),
])
def test_stft_options(opts: dict, shape: tuple, batch: torch.Tensor) -> None:
    fe = create_frontend("complex", **opts)
    assert fe.output_shape() == shape
    assert fe(batch[:1]).shape == (1, *shape)


def test_mel_and_mfcc_options() -> None:
    assert create_frontend("mel", n_mels=64, n_fft=1024).output_shape() == (1, 64, 101)
    assert create_frontend("mfcc", n_mfcc=13, f_max=4000.0).output_shape() == (1, 13, 101)


def test_unknown_names_and_options_fail_clearly() -> None:
    with pytest.raises(HarnessError, match=r"unknown front-end 'powr'; known: .*power"):
        create_frontend("powr")
    with pytest.raises(HarnessError, match=r"no option 'n_ffts'; its options: n_fft, win_length"):
        create_frontend("power", n_ffts=1024)
    with pytest.raises(HarnessError, match=r"unknown window 'hanning'; known: hann"):
        create_frontend("complex", window="hanning")
    with pytest.raises(HarnessError, match=r"waveform' has no option 'n_fft'"):
        create_frontend("waveform", n_fft=512)
    with pytest.raises(HarnessError, match=r"option hop_length='160' must be int \(default 160\)"):
        create_frontend("power", hop_length="160")
    with pytest.raises(HarnessError, match=r"option center=1 must be bool"):
        create_frontend("power", center=1)  # an int is not a bool, though a bool is an int
    assert create_frontend("mel", normalized="window", f_min=20, f_max=None).output_shape()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list_frontends())
def test_runs_on_cuda(name: str, batch: torch.Tensor) -> None:
    fe = create_frontend(name)
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # fp32 convs, as on CPU
        out = fe.to("cuda")(batch.cuda())
    assert out.device.type == "cuda"
    assert fe.output_shape() == tuple(out.shape[1:])
    torch.testing.assert_close(out.cpu(), create_frontend(name)(batch), rtol=1e-3, atol=1e-3)
