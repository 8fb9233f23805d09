"""Models, front-end/model pairing and `harness list`."""

from __future__ import annotations

import json

import pytest
import torch

from harness.cli import main
from harness.errors import HarnessError
from harness.frontends import create_frontend, list_frontends
from harness.models import (
    MODELS,
    build_pipeline,
    count_macs,
    create_model,
    input_dims,
    list_models,
)

torch.set_num_threads(1)

# Small enough that every model x front-end pair runs forward and backward in a blink.
SMALL = {"seed_cnn": dict(width=0.125), "res8": dict(n_maps=8), "res15": dict(n_maps=8),
         "m5": dict(n_channel=8)}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def small_pipeline(name: str, spectral: str = "complex") -> tuple[torch.nn.Module, ...]:
    """A SMALL `name` model, 4 classes, behind `waveform` or the `spectral` front-end."""
    fe_name = "waveform" if input_dims(name) == 1 else spectral
    return build_pipeline(fe_name, name, n_classes=4, model_opts=SMALL[name])


def test_seed_cnn_has_the_reference_parameter_count() -> None:
    assert n_params(create_model("seed_cnn", in_channels=2, n_classes=30)) == 1_849_342


def test_seed_cnn_pads_0_as_the_study_ran_and_counts_its_macs() -> None:
    """R's nn_conv2d pads 0: same parameters as padding 1, 1.54x fewer MACs on 2x257x101."""
    pad0 = create_model("seed_cnn", in_channels=2, n_classes=30)
    pad1 = create_model("seed_cnn", in_channels=2, n_classes=30, padding=1)
    assert all(c.padding == (0, 0) for c in pad0.modules() if isinstance(c, torch.nn.Conv2d))
    assert n_params(pad1) == n_params(pad0)
    assert count_macs(pad0, (2, 257, 101)) == pytest.approx(0.310e9, rel=0.002)
    assert count_macs(pad1, (2, 257, 101)) == pytest.approx(0.478e9, rel=0.002)
    with pytest.raises(HarnessError, match="padding=2: use 0"):
        create_model("seed_cnn", in_channels=2, n_classes=30, padding=2)
    with pytest.raises(HarnessError, match=r"width=-0\.5"):
        create_model("seed_cnn", in_channels=2, n_classes=30, width=-0.5)


def test_list_models_json_has_params_macs_and_metadata(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["seed_cnn"]["params"] == 1_849_342
    assert rows["seed_cnn"]["macs"] == pytest.approx(0.310e9, rel=0.002)
    assert rows["seed_cnn"]["input_shape"] == [2, 257, 101]
    assert all(r["macs"] > 0 and r["family"] and r["source"] for r in rows.values())


def test_seeded_weights_do_not_depend_on_the_pairing_check() -> None:
    """build_pipeline's probe is built on the meta device and draws nothing from the RNG."""
    torch.manual_seed(0)
    _, piped = build_pipeline("complex", "seed_cnn", n_classes=30, model_opts=dict(width=0.25))
    torch.manual_seed(0)
    direct = create_model("seed_cnn", in_channels=2, n_classes=30, width=0.25)
    for a, b in zip(piped.state_dict().values(), direct.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_seed_cnn_width_scales_channels() -> None:
    model = create_model("seed_cnn", in_channels=2, n_classes=30, width=0.25)
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [8, 16, 32, 64, 128]


@pytest.mark.parametrize(("name", "in_channels", "n_classes", "expected"), [
    ("res8", 1, 12, 110_307),    # Tang & Lin 2018, Table 1: 110K (12 keywords, 40-d MFCC)
    ("res15", 1, 12, 237_882),   # 238K
    ("m5", 1, 35, 26_915),       # torchaudio tutorial: "Number of parameters: 26915"
])
def test_published_parameter_counts(name: str, in_channels: int, n_classes: int,
                                    expected: int) -> None:
    assert n_params(create_model(name, in_channels=in_channels, n_classes=n_classes)) == expected


def test_every_model_declares_its_input_rank() -> None:
    assert len(list_models()) >= 4
    assert {m: input_dims(m) for m in list_models()} == {
        "m5": 1, "res15": 2, "res8": 2, "seed_cnn": 2}
    assert all(MODELS.describe(m) for m in list_models())


def _pairs() -> list[tuple[str, str]]:
    ranks = {f: len(create_frontend(f).output_shape()) - 1 for f in list_frontends()}
    return [(m, f) for m in list_models() for f in list_frontends() if ranks[f] == input_dims(m)]


@pytest.mark.filterwarnings("ignore:At least one mel filterbank")
@pytest.mark.parametrize(("model_name", "frontend_name"), _pairs())
def test_forward_backward_on_every_accepted_frontend(model_name: str,
                                                     frontend_name: str) -> None:
    torch.manual_seed(0)
    opts = dict(SMALL.get(model_name, {}))
    try:
        frontend, model = build_pipeline(frontend_name, model_name, n_classes=5, model_opts=opts)
    except HarnessError as exc:  # padding-0 seed_cnn on 40 MFCC bins: too small, says the fix
        assert model_name == "seed_cnn" and "padding=1" in str(exc), exc
        frontend, model = build_pipeline(frontend_name, model_name, n_classes=5,
                                         model_opts={**opts, "padding": 1})
    wave = torch.rand(2, 16000) * 2 - 1
    logits = model(frontend(wave))
    assert logits.shape == (2, 5)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_channels_last_and_eval_mode(name: str) -> None:
    frontend, model = small_pipeline(name)
    x = frontend(torch.rand(2, 16000) * 2 - 1)
    model.eval()
    expected = model(x)
    if x.dim() == 4:  # channels_last is a 4-D memory format
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


def test_models_trace_whole_under_torch_compile() -> None:
    """Dynamo captures each model in one graph, forward and backward (fullgraph=True).

    The "aot_eager" backend runs dynamo and AOT autograd but skips inductor's C++
    code generation, which takes minutes on a small CPU; compiled speed is measured in
    the benchmarks. Front-ends are not compiled whole: torchaudio's Spectrogram calls
    torch.jit.isinstance, a graph break (they still run under torch.compile).
    """
    for name in SMALL:
        frontend, model = small_pipeline(name, spectral="log_power")
        x = frontend(torch.rand(2, 16000) * 2 - 1)
        compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
        compiled(x).sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    torch._dynamo.reset()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(SMALL))
def test_runs_on_cuda(name: str) -> None:
    frontend, model = (m.cuda() for m in small_pipeline(name))
    logits = model(frontend(torch.rand(2, 16000, device="cuda") * 2 - 1))
    assert logits.device.type == "cuda"
    logits.sum().backward()


# --- errors -------------------------------------------------------------------------

def test_unknown_model_and_option() -> None:
    with pytest.raises(HarnessError, match=r"unknown model 'resnet'; known: m5, res15, res8"):
        create_model("resnet", in_channels=1, n_classes=2)
    with pytest.raises(HarnessError, match=r"no option 'depth'; its options: width"):
        create_model("seed_cnn", in_channels=1, n_classes=2, depth=3)
    with pytest.raises(HarnessError, match=r"unknown front-end 'cplx'"):
        build_pipeline("cplx", "seed_cnn", n_classes=2)


def test_impossible_pairings_say_what_to_use() -> None:
    with pytest.raises(HarnessError, match=r"'seed_cnn' takes spectrograms.*'waveform' gives "
                                           r"waveforms.*front-end 'waveform' with model m5"):
        build_pipeline("waveform", "seed_cnn", n_classes=2)
    with pytest.raises(HarnessError, match=r"'m5' takes waveforms.*'complex' gives "
                                           r"spectrograms.*model 'm5' with front-end waveform"):
        build_pipeline("complex", "m5", n_classes=2)
    with pytest.raises(HarnessError, match=r"\(1, 10, 101\).*smaller than.*'seed_cnn'"):
        build_pipeline("mfcc", "seed_cnn", n_classes=2, frontend_opts=dict(n_mfcc=10, n_mels=10))


# --- harness list -------------------------------------------------------------------

def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[dict]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.filterwarnings("ignore:At least one mel filterbank")
def test_list_frontends_json(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r["name"]: r for r in _json(capsys, ["list", "frontends", "--json"])}
    assert len(rows) >= 11
    assert rows["complex"]["shape"] == [2, 257, 101]
    assert rows["complex"]["channels"] == 2
    assert rows["waveform"]["shape"] == [1, 16000]
    assert all(r["description"] for r in rows.values())
    assert [r["name"] for r in _json(capsys, ["list", "frontends", "log*", "--json"])] == [
        "log1p_magnitude", "log_mel", "log_power"]


def test_list_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    rows = {r["name"]: r for r in _json(capsys, ["list", "models", "--json"])}
    assert len(rows) >= 4
    assert rows["seed_cnn"]["params"] == 1_849_342
    assert rows["m5"]["frontend"] == "waveform"
    assert "Tang & Lin 2018" in rows["res8"]["description"]


def test_list_table_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "models", "res*"]) == 0
    out = capsys.readouterr().out
    assert "res8" in out and "res15" in out and "seed_cnn" not in out
    assert main(["list", "models", "nope*"]) == 2
    assert "error: no models match 'nope*'; known: m5" in capsys.readouterr().err
