"""ONNX export (harness/export/): the fp32 graph against PyTorch for every registered front-end,
the export-time rewrites against what they replace, the int8 plan, and `harness export`'s
one-line errors (int8 on a learnable task through `harness export`: test_export_study.py,
on a trial of its study). Real torch models, real onnxruntime sessions, a
real SQLite MLflow store; skipped, with the reason, where onnx/onnxscript/onnxruntime are not
installed (the `export` extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_speech_commands
from test_sweep import new_tracking_uri
from torch import Tensor, nn

from harness.cli import main
from harness.environment import require_torchaudio
from harness.frontends import PCEN, Frontend, list_frontends
from harness.models import build_pipeline
from harness.models.classifier import Classifier
from harness.tracking.logged_model import log_pipeline
from harness.tracking.runs import Tracker

MISSING = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
needs_onnx = pytest.mark.skipif(bool(MISSING), reason=f"{', '.join(MISSING)} not installed "
                                 "(the `export` extra: uv sync --extra export)")
# |ONNX - PyTorch| logits, relative to max(1, max |logit|). magnitude_phase is looser: reflect
# padding makes the first frame even about its centre, so X is real there and its phase is
# rounding noise in torch.stft and in the convolution alike: the angle flips between +-pi.
LOGIT_TOLERANCE = {"magnitude_phase": 1e-3}
DEFAULT_LOGIT_TOLERANCE = 1e-5


def _clips(n: int, seed: int = 0) -> Tensor:
    """(n, 16000) tones in noise, peak about 0.5: speech-like levels, not full scale."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(16000) / 16000
    pitch = 200 + 1000 * torch.rand(n, 1, generator=g)
    return 0.3 * torch.sin(2 * torch.pi * pitch * t) + 0.05 * torch.randn(n, 16000, generator=g)


def _tiny(name: str) -> tuple[nn.Module, nn.Module]:
    """`name` with a tiny network sized to it: m5 for the waveform, else a 1/8 seed CNN."""
    torch.manual_seed(0)
    if name == "waveform":
        fe, model = build_pipeline(name, "m5", 3)
    else:
        fe, model = build_pipeline(name, "seed_cnn", 3, {}, {"width": 0.125, "padding": 1})
    return fe.eval(), model.eval()


@needs_onnx
def test_fp32_graph_matches_pytorch_for_every_frontend(
        record_property: pytest.RecordProperty) -> None:
    """Every registered front-end (with a tiny network) exported, rewritten as export_onnx
    rewrites it, and run by onnxruntime at batch 3 and batch 1: the largest |logit
    difference| against PyTorch, per front-end. One graph holds them all: each export
    rebuilds the exporter's op registry (seconds), so sixteen would cost a minute."""
    from harness.export.graph import INPUT, Deployed, _export, exportable
    from harness.export.runtime import session

    names = list_frontends()
    pairs = [_tiny(name) for name in names]
    everything = nn.ModuleList(Deployed(exportable(fe), model) for fe, model in pairs)
    sess = session(_export(_Concat(everything), 16000).SerializeToString())
    wave = _clips(3)
    batch3 = sess.run(None, {INPUT: wave.numpy()})[0]
    batch1 = np.concatenate([sess.run(None, {INPUT: w[None].numpy()})[0] for w in wave])
    failed = []
    for i, (name, (frontend, model)) in enumerate(zip(names, pairs, strict=True)):
        with torch.no_grad():
            ref = model(frontend(wave)).numpy()
        got = slice(3 * i, 3 * i + 3)
        diff = float(max(np.abs(batch3[:, got] - ref).max(), np.abs(batch1[:, got] - ref).max()))
        record_property(f"max_abs_logit_diff[{name}]", diff)
        print(f"{name:16s} largest |logit difference| {diff:.2e}")
        limit = LOGIT_TOLERANCE.get(name, DEFAULT_LOGIT_TOLERANCE) * max(1.0, np.abs(ref).max())
        if not diff <= limit:
            failed.append(f"{name}: {diff:.2e} > {limit:.2e}")
    assert not failed, failed


class _Concat(nn.Module):
    """(B, T) -> (B, 3 x pipelines): every pipeline's logits side by side."""

    def __init__(self, pipelines: nn.ModuleList) -> None:
        super().__init__()
        self.pipelines = pipelines

    def forward(self, wave: Tensor) -> Tensor:
        return torch.cat([p(wave) for p in self.pipelines], dim=1)


@needs_onnx
def test_export_names_the_frontend_nodes(tmp_path: Path) -> None:
    from harness.export.graph import INPUT, OUTPUT, export_onnx
    from harness.export.runtime import session

    graph = export_onnx(*_tiny("log_mel"), tmp_path / "m.onnx")
    sess = session(graph.path)
    assert [i.name for i in sess.get_inputs()] == [INPUT]
    assert [o.name for o in sess.get_outputs()] == [OUTPUT]
    assert all(n.startswith("frontend/") for n in graph.frontend_nodes)
    assert {"Conv", "MatMul", "Log"} <= set(graph.frontend_ops)  # the STFT, mel, dB
    assert "STFT" not in graph.frontend_ops
    # the exporter's debugging records (stack traces with this checkout's paths) are gone:
    # the file is the model, the same bytes wherever the code lives
    import onnx

    proto = onnx.load(str(graph.path))
    assert not any(n.metadata_props for g in (proto.graph, *proto.functions) for n in g.node)
    assert str(Path(__file__).resolve().parent.parent).encode() not in graph.path.read_bytes()


@pytest.mark.parametrize("options", [
    {}, {"n_fft": 160, "win_length": 160, "hop_length": 200}, {"normalized": "frame_length"},
    {"normalized": False, "window": "hamming"}, {"center": False}, {"n_fft": 511},
])
@pytest.mark.parametrize("power", [None, 2.0, 0.5])
def test_conv_stft_matches_torch_stft(options: dict, power: float | None) -> None:
    """ConvSTFT against the torchaudio Spectrogram it replaces, within STFT_TOLERANCE."""
    from harness.export.graph import STFT_TOLERANCE, ConvSTFT
    from harness.frontends.stft import _stft_kwargs

    spec = require_torchaudio().transforms.Spectrogram(power=power, **_stft_kwargs(**options))
    wave = _clips(2)[:, None]
    with torch.no_grad():
        want, got = spec(wave), ConvSTFT(spec)(wave)
    assert got.shape == want.shape and got.dtype == want.dtype
    assert (got - want).abs().max() <= STFT_TOLERANCE * want.abs().max()


def test_conv_ema_matches_pcen_recursion() -> None:
    from harness.export.graph import conv_ema

    pcen = PCEN(16, learn_smooth=True)
    with torch.no_grad():
        pcen.smooth.copy_(torch.linspace(-0.1, 1.1, 16))  # clamped to [0, 1] both ways
    energy = torch.rand(2, 1, 16, 101) ** 4
    want, got = pcen.ema(energy), conv_ema(pcen, energy)
    assert (got - want).abs().max() <= 1e-6 * want.abs().max()


def _trial(tmp_path: Path, uri: str, frontend: nn.Module, model: nn.Module, root: Path,
           labels: list[str], name: str) -> str:
    """A trial run with its pipeline logged, as a sweep logs it; returns the run id."""
    run = Tracker("export", uri).trial(0, {
        "frontend": name, "model": "seed_cnn", "data.dataset": None, "data.root": str(root),
        "data.split": "official", "data.split_seed": None})
    log_pipeline(run.client, run.run_id, Classifier(frontend, model, labels), labels)
    run.finish("COMPLETE")
    return run.run_id


def test_int8_plan_keeps_compressing_frontends_float() -> None:
    from harness.export.graph import ExportedGraph
    from harness.export.quantize import plan_int8

    log_mel = ExportedGraph(Path("m.onnx"), ("frontend/conv", "frontend/log"),
                            ("Conv", "MatMul", "Log"))
    plan = plan_int8(log_mel, "x86_64 avx2")
    assert plan.frontend == "float" and plan.frontend_reason.startswith("Log: a log")
    assert plan.exclude == log_mel.frontend_nodes
    assert plan.reduce_range and plan.activations == "uint8"  # U8S8 saturation, no VNNI
    assert not plan_int8(log_mel, "x86_64 avx512_vnni").reduce_range
    complex_ = ExportedGraph(Path("c.onnx"), ("frontend/conv",), ("Pad", "Conv", "Concat"))
    arm = plan_int8(complex_, "aarch64 asimddp")
    assert arm.frontend == "int8" and not arm.exclude and not arm.reduce_range
    assert arm.activations == "int8"
    forced = plan_int8(complex_, "aarch64 asimddp", float_frontend=True)
    assert forced.frontend == "float" and forced.exclude == complex_.frontend_nodes
    sincnet = ExportedGraph(Path("s.onnx"), ("frontend/conv",),
                            ("Conv", "LeakyRelu", "MaxPool", "LayerNormalization"))
    assert plan_int8(sincnet, "x86_64 avx2").frontend_reason.startswith("LayerNormalization")


class MedianNorm(nn.Module):
    """Per-band median subtraction: torch.median(dim) has no ONNX translation in torch 2.11."""

    def forward(self, x: Tensor) -> Tensor:
        return x - x.median(dim=-1, keepdim=True).values


@needs_onnx
def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    uri = new_tracking_uri(tmp_path)
    bare = Tracker("bare", uri).trial(0, {"frontend": "complex"}).run_id
    assert main(["export", bare, "--tracking-uri", uri, "--out", str(tmp_path / "o")]) == 2
    assert "logged no model" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", bare, "--tracking-uri", uri, "--out",
                 str(tmp_path / "file" / "sub")]) == 2
    assert "--out: cannot make the folder" in capsys.readouterr().err

    root = make_speech_commands(tmp_path / "sc", words=("no", "on", "yes"), speakers=5)
    spec = require_torchaudio().transforms.Spectrogram(n_fft=160, hop_length=400)
    frontend = Frontend(nn.Sequential(spec, MedianNorm()))
    _, model = build_pipeline("power", "seed_cnn", 3, {"n_fft": 160, "win_length": 160,
                                                      "hop_length": 400},
                              {"width": 0.125, "padding": 1})
    run_id = _trial(tmp_path, uri, frontend, model, root, ["no", "on", "yes"], "median_norm")
    assert main(["export", run_id, "--tracking-uri", uri, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: 'median_norm' does not export to ONNX: aten.median.dim ")


def test_export_without_onnxruntime(tmp_path: Path, capsys: pytest.CaptureFixture,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an absent package imports as
    assert main(["export", "0" * 32, "--tracking-uri", new_tracking_uri(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs" in err and "onnxruntime" in err and err.count("\n") == 1
