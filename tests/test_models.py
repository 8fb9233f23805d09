"""Models, front-end/model pairing and `harness list`."""

from __future__ import annotations

import json

import pytest
import torch

from harness.cli import main
from harness.errors import HarnessError
from harness.frontends import create_frontend
from harness.models import (
    MODELS,
    build_pipeline,
    count_macs,
    create_model,
    default_frontend,
    input_dims,
    list_models,
)

torch.set_num_threads(1)

# Small enough that every model x front-end pair runs forward and backward in a blink.
SMALL = {"seed_cnn": dict(width=0.125), "res8": dict(n_maps=8), "res15": dict(n_maps=8),
         "m5": dict(n_channel=8), "bc_resnet": dict(width=0.5), "matchboxnet": dict(width=8),
         "kwt": dict(size=1)}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def small_pipeline(name: str) -> tuple[torch.nn.Module, ...]:
    """A SMALL `name` model, 4 classes, behind its default front-end (its paper's input)."""
    fe_name, fe_opts = default_frontend(name)
    return build_pipeline(fe_name, name, n_classes=4, frontend_opts=fe_opts,
                          model_opts=SMALL[name])


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


@pytest.mark.parametrize(("name", "opts", "n_classes", "published", "exact"), [
    # Kim et al. 2021 (arXiv:2106.04140), GSC results table: BC-ResNet-1 9.2K, -8 321K
    # params; 12 classes on 40 log-mel bins x 101 frames (Qualcomm-AI-research/bcresnet).
    ("bc_resnet", dict(width=1, input_shape=(40, 101)), 12, 9_200, 9_232),
    ("bc_resnet", dict(width=8, input_shape=(40, 101)), 12, 321_000, 321_068),
    # Majumdar & Ginsburg 2020 (arXiv:2004.08531), results table: MatchboxNet 3x1x64 77K,
    # 3x2x64 93K, 6x2x64 140K params; 64 MFCC (NeMo matchboxnet_3x1x64_v1.yaml), 30 words.
    ("matchboxnet", dict(repeat=1, input_shape=(64, 128)), 30, 77_000, 77_214),
    ("matchboxnet", dict(input_shape=(64, 128)), 30, 93_000, 92_766),
    ("matchboxnet", dict(blocks=6, input_shape=(64, 128)), 30, 140_000, 138_846),
    # Berg et al. 2021 (arXiv:2104.00769), Table 1: KWT-1 607K, KWT-2 2,394K, KWT-3 5,361K;
    # 40 MFCC x 98 frames, 12 classes. Exact totals: ARM-software/keyword-transformer
    # models_data_v2_12_labels/kwt{1,2,3}/model_summary.txt (607,308 / 2,394,252 / 5,360,844).
    ("kwt", dict(size=1, input_shape=(40, 98)), 12, 607_000, 607_308),
    ("kwt", dict(size=2, input_shape=(40, 98)), 12, 2_394_000, 2_394_252),
    ("kwt", dict(size=3, input_shape=(40, 98)), 12, 5_361_000, 5_360_844),
])
def test_compact_networks_match_their_papers(name: str, opts: dict, n_classes: int,
                                             published: int, exact: int) -> None:
    count = n_params(create_model(name, in_channels=1, n_classes=n_classes, **opts))
    assert count == pytest.approx(published, rel=0.01)
    assert count == exact


def test_every_model_declares_its_input_rank() -> None:
    assert len(list_models()) >= 4
    assert {m: input_dims(m) for m in list_models()} == {
        "bc_resnet": 2, "kwt": 2, "m5": 1, "matchboxnet": 2, "res15": 2, "res8": 2,
        "seed_cnn": 2}
    assert all(MODELS.describe(m) for m in list_models())


# The model contract (docs/architecture.md): one representative front-end per kind of
# input, each giving 40 bins (BC-ResNet needs a multiple of 40; 101 or 100 frames).
REPRESENTATIVE = {
    "magnitude": ("log_mel", dict(n_mels=40)),
    "complex": ("complex", dict(n_fft=78, win_length=78)),            # 2 x 40 x 101
    "learned": ("leaf", dict(n_filters=40)),                          # 1 x 40 x 100
    "waveform": ("waveform", {}),
}
CONTRACT_OPTS = {**SMALL, "seed_cnn": dict(width=0.125, padding=1)}  # 40 bins < 78


@pytest.mark.parametrize("kind", sorted(REPRESENTATIVE))
@pytest.mark.parametrize("model_name", list_models())
def test_model_contract(model_name: str, kind: str) -> None:
    """(B, C, F, T') float in, (B, n_classes) finite logits out, gradients everywhere; a
    model offered the wrong rank fails in build_pipeline with a HarnessError instead."""
    fe_name, fe_opts = REPRESENTATIVE[kind]
    frontend = create_frontend(fe_name, **fe_opts)
    rank = len(frontend.output_shape()) - 1
    opts = dict(model_opts=CONTRACT_OPTS[model_name], frontend_opts=fe_opts)
    if rank != input_dims(model_name):
        with pytest.raises(HarnessError, match="takes"):
            build_pipeline(fe_name, model_name, n_classes=5, **opts)
        return
    torch.manual_seed(0)
    frontend, model = build_pipeline(fe_name, model_name, n_classes=5, **opts)
    features = frontend(torch.rand(2, 16000) * 2 - 1)
    assert features.dtype == torch.float32 and features.shape[1] == frontend.channels
    logits = model(features)
    assert logits.shape == (2, 5) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    for name, p in [*model.named_parameters(), *frontend.named_parameters()]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


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
    for name in ("seed_cnn", "res8", "res15", "m5"):  # the compact nets: 80 s more on 2 cores
        frontend, model = small_pipeline(name)
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
    with pytest.raises(HarnessError, match=r"unknown model 'resnet'; known: bc_resnet, kwt, m5"):
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
    assert "error: no models match 'nope*'; known: bc_resnet" in capsys.readouterr().err
