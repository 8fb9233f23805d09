"""One ONNX graph from a trial's front-end and network: (B, 16000) float32 in, logits out.

    graph = export_onnx(frontend, model, "model.onnx", names=("complex", "seed_cnn"))
    graph.frontend_nodes    # names of the front-end's nodes (all prefixed "frontend/")

The file holds the graph and its weights only: the exporter's per-node debugging records
(source stack traces with this checkout's paths, FX nodes) are dropped, so its size is the
deployment's and two exports of one trial are the same bytes wherever the code lives.

The exporter is torch's dynamo-based one, `torch.onnx.export(..., dynamo=True)`: torch 2.11
documents it as "the recommended and default way to export models to ONNX" (its default since
2.9; torch/onnx/__init__.py, docs.pytorch.org/docs/stable/onnx.html). It captures the model
with torch.export and translates it with onnxscript, which it needs installed, as it does onnx.

Before export, a copy of the front-end is rewritten into plain convolutions (`exportable`);
the trial's modules are never touched:
- every torchaudio `Spectrogram` (inside mel, log_mel, mfcc, pcen too) becomes `ConvSTFT`,
  the STFT as a fixed strided Conv1d the way `learned_stft` computes it. torch 2.11 does
  export torch.stft (to the ONNX STFT op, opset 17), but Conv runs on every runtime, was
  5 to 10x faster than onnxruntime 1.32's STFT kernel at batch 1 on one thread (1.1 against
  8.6 ms for `complex`), and has a weight int8 can quantise. tests/test_export.py holds it to
  torch.stft within STFT_TOLERANCE;
- filterbanks computed from their parameters on every call (sincnet, leaf: any module with a
  `filters()` method) are computed once and stored as the Conv weight;
- PCEN's moving average (pcen, leaf), a Python loop over frames, becomes one causal
  depthwise convolution (`conv_ema`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.environment import require_torchaudio
from harness.errors import HarnessError
from harness.frontends import PCEN, SAMPLE_RATE, STFTConv

# |ConvSTFT - torch.stft| <= STFT_TOLERANCE x max |torch.stft| on a clip: float32 sums of
# n_fft products against an FFT's log2(n_fft) rounding steps (measured: 1e-6 at n_fft 512).
STFT_TOLERANCE = 1e-5
INPUT, OUTPUT = "waveform", "logits"
FRONTEND = "frontend/"  # prefix of the front-end's node names in the graph


class ConvSTFT(nn.Module):
    """A torchaudio Spectrogram as a strided Conv1d: (..., T) -> (..., F, T').

    The same normalisation, window, centring and padding (STFTConv copies them), and the
    same output: complex X for power=None, else |X|^power. The imaginary kernels of the DC
    and Nyquist bins are exactly +0, as an FFT's are: a float sum of tiny sines would leave
    +-1e-8 there, which flips `magnitude_phase`'s angle between +pi and -pi.
    """

    def __init__(self, spec: nn.Module) -> None:
        super().__init__()
        if spec.pad or not spec.onesided:  # the harness sets neither; STFTConv has no such option
            raise HarnessError(f"Spectrogram(pad={spec.pad}, onesided={spec.onesided}) cannot be "
                               "rewritten as a convolution for export; use pad=0, onesided")
        window = spec.window.detach().clone()
        self.stft = STFTConv(spec.n_fft, spec.win_length, spec.hop_length, spec.normalized,
                             lambda n, dtype=None: window.to(dtype), spec.center, spec.pad_mode)
        bins = spec.n_fft // 2 + 1
        with torch.no_grad():
            self.stft.conv.weight[bins] = 0.0
            if spec.n_fft % 2 == 0:
                self.stft.conv.weight[2 * bins - 1] = 0.0
        self.power = spec.power

    def forward(self, wave: Tensor) -> Tensor:
        lead = wave.shape[:-1]
        out = self.stft(wave.reshape(-1, 1, wave.shape[-1]))  # (N, 2, F, T')
        re = out[:, 0].reshape(*lead, *out.shape[-2:])
        im = out[:, 1].reshape(*lead, *out.shape[-2:])
        if self.power is None:
            return torch.complex(re, im)
        power = re * re + im * im
        return power if self.power == 2 else power.pow(self.power / 2)


def exportable(frontend: nn.Module) -> nn.Module:
    """A copy of `frontend` with each Spectrogram as a ConvSTFT and each `filters()` frozen."""
    spectrogram = require_torchaudio().transforms.Spectrogram
    out = copy.deepcopy(frontend).cpu().eval()

    def swap(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, spectrogram):
                setattr(module, name, ConvSTFT(child))
            else:
                swap(child)

    swap(out)
    for module in out.modules():  # instance attributes: the copy's methods only
        if callable(getattr(type(module), "filters", None)):
            with torch.no_grad():
                module.register_buffer("export_kernel", module.filters().detach().clone())
            module.filters = lambda m=module: m.export_kernel
        if isinstance(module, PCEN):
            module.ema = lambda energy, m=module: conv_ema(m, energy)
    return out


def conv_ema(pcen: PCEN, energy: Tensor) -> Tensor:
    """`PCEN.ema` as one causal depthwise convolution over the T' frames of (..., F, T').

    M_t = sum_{k<=t} s (1-s)^(t-k) E_k + (1-s)^(t+1) E_0, the recursion M_0 = E_0,
    M_t = s E_t + (1-s) M_{t-1} unrolled: one Conv node instead of ~5 nodes a frame (500
    for a clip), which exported 4x slower and ran node by node in onnxruntime.
    """
    s = pcen.smooth.detach().clamp(0.0, 1.0)[:, None]  # (F, 1)
    bands, frames = energy.shape[-2], energy.shape[-1]
    decay = (1 - s) ** torch.arange(frames, dtype=s.dtype)  # (F, T'): (1-s)^j
    kernel = (s * decay).flip(-1)[:, None, :]  # conv1d correlates: the newest frame last
    x = energy.reshape(-1, bands, frames)
    out = F.conv1d(F.pad(x, (frames - 1, 0)), kernel, groups=bands)
    return (out + decay * (1 - s) * x[..., :1]).reshape(energy.shape)


class Deployed(nn.Module):
    """(B, T) waveform -> (B, n_classes) float32 logits: the front-end, then the network."""

    def __init__(self, frontend: nn.Module, model: nn.Module) -> None:
        super().__init__()
        self.frontend = frontend
        self.model = model

    def forward(self, wave: Tensor) -> Tensor:
        return self.model(self.frontend(wave)).float()


@dataclass(frozen=True)
class ExportedGraph:
    path: Path
    frontend_nodes: tuple[str, ...]   # node names, all starting with FRONTEND
    frontend_ops: tuple[str, ...]     # their op types, in graph order, without repeats


def export_onnx(frontend: nn.Module, model: nn.Module, path: str | Path,
                names: Sequence[str] = ("front-end", "model"),
                n_samples: int = SAMPLE_RATE) -> ExportedGraph:
    """Write front-end + network as one ONNX file at `path`, with a dynamic batch size.

    `names` (front-end, network) name the culprit when an op has no ONNX translation.
    """
    import onnx

    deployed = Deployed(exportable(frontend), copy.deepcopy(model).cpu().eval()).eval()
    try:
        proto = _export(deployed, n_samples)
    except Exception as exc:  # the exporter raises several types; the op is in the text
        culprit, error = names[1], exc
        try:
            _export(deployed.frontend, n_samples)  # is it the front-end's op?
        except Exception as frontend_exc:
            culprit, error = names[0], frontend_exc
        raise HarnessError(
            f"{culprit!r} does not export to ONNX: {_op_of(error)} has no ONNX translation in "
            f"torch {torch.__version__}'s exporter; use another front-end or network") from error
    nodes, ops = _mark_frontend(proto)
    _strip_debug_records(proto)
    path = Path(path)
    onnx.save(proto, str(path))
    return ExportedGraph(path, nodes, ops)


def _export(module: nn.Module, n_samples: int) -> object:
    """The ModelProto of `module` on a (B, n_samples) input, B dynamic."""
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    example = torch.zeros(2, n_samples)  # 2, not 1: a size-1 dim would be specialised
    with _quiet():
        program = torch.onnx.export(module, (example,), dynamo=True, input_names=[INPUT],
                                    output_names=[OUTPUT], dynamic_shapes=({0: batch},))
    return program.model_proto


def _op_of(exc: BaseException) -> str:
    """The op an exporter error names (`aten.median.dim`), else the error's first line."""
    text = str(exc)
    overload = re.search(r"op='([\w.]+)', overload='(\w+)'", text)  # OpOverload(...)
    if overload:
        return ".".join(overload.groups())
    found = re.findall(r"\b(?:aten|prims)\.[\w.]+", text)
    return max(found, key=len) if found else (text.splitlines() or ["an op"])[0][:160]


def _mark_frontend(proto: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Prefix the front-end's nodes with FRONTEND; return their names and op types.

    A node is the front-end's when the exporter's `pkg.torch.onnx.name_scopes` puts it under
    the `frontend` submodule, or, for nodes the optimiser made without that record, when all
    its inputs come from front-end nodes, the graph input or constants.
    """
    graph = proto.graph  # type: ignore[attr-defined]
    outside = {t.name for t in graph.initializer} | {INPUT}
    frontend_tensors: set[str] = set(outside)
    names, ops = [], []
    for node in graph.node:
        scopes = next((p.value for p in node.metadata_props
                       if p.key == "pkg.torch.onnx.name_scopes"), None)
        inputs = [i for i in node.input if i]
        if not inputs and scopes is None:  # an untagged Constant: belongs to its users
            frontend_tensors.update(node.output)
            continue
        if scopes is not None:
            mine = scopes.startswith("['', 'frontend'")
        else:
            mine = all(i in frontend_tensors for i in inputs)
        if mine:
            frontend_tensors.update(node.output)
            node.name = FRONTEND + node.name
            names.append(node.name)
            if node.op_type not in ops:
                ops.append(node.op_type)
    return tuple(names), tuple(ops)


def _strip_debug_records(proto: object) -> None:
    """Drop the exporter's per-node records (`metadata_props`: the source stack trace with
    this checkout's file paths, the FX node, the module path and class hierarchy).

    They are debugging text, not the model: 40 KB of quick.toml's 631 KB fp32 graph on
    `complex` and 33 KB of its 207 KB int8 one (docs/export.md), more for front-ends of more
    nodes, and they made two exports of one trial differ by where the code was checked
    out. Read by `_mark_frontend` first; node names (the FRONTEND prefix) are kept.
    """
    for g in (proto.graph, *proto.functions):  # type: ignore[attr-defined]
        for node in g.node:
            del node.metadata_props[:]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints its progress ("[torch.onnx] Obtain model graph...") to stdout, and
    logs a warning per torchvision op it cannot register when torchvision is absent."""
    log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)
