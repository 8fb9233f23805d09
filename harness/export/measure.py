"""What a trial costs as a deployed graph: accuracy, bytes and latency of fp32 and int8 ONNX.

    result = measure(pipeline, splits.test, splits.train, "out/", int8=True,
                     names=("complex", "seed_cnn"))
    result.metrics()   # onnx_acc, int8_acc, int8_delta, onnx_bytes, int8_bytes, ...

Every trial is measured the same way:
- accuracy: argmax of the logits over the whole test split, under onnxruntime on the CPU, for
  the fp32 graph and the int8 graph; the PyTorch model is run on the same clips, so the deltas
  (`onnx_delta`, `int8_delta`: ONNX minus PyTorch, in accuracy points as fractions) and the
  largest logit difference (`onnx_max_abs_diff`) compare like with like;
- bytes: the .onnx file's size (weights included);
- latency: LatencyProtocol, batch 1 on one thread, after MLPerf Tiny's performance mode.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.export.graph import INPUT, export_onnx
from harness.export.quantize import (
    Int8Plan,
    calibration_indices,
    plan_int8,
    quantize_int8,
    write_calibration,
)
from harness.export.runtime import cpu_isa, cpu_name, require_onnx, session

BATCH = 64  # clips per accuracy batch (PyTorch and onnxruntime alike)


@dataclass(frozen=True)
class LatencyProtocol:
    """Batch-1 latency on one thread, in MLPerf Tiny's manner (mlcommons/tiny benchmark/runner:
    tests.yaml runs kws01 as 5 windows of `infer 10 1`, one input each, 1 warm-up and 10 timed
    inferences, and script.py reports the median throughput over the windows; its runs must
    last 10 s, a per-trial budget here does not allow that, hence `min_window_s`)."""

    warmup: int = 10            # untimed inferences first: allocations, caches, lazy init
    windows: int = 5            # one test clip each; the median over windows is reported
    min_runs: int = 10          # inferences per window at least ...
    min_window_s: float = 0.2   # ... and at least this long

    def describe(self) -> str:
        return (f"batch 1, 1 thread; {self.warmup} warm-up inferences, then the median over "
                f"{self.windows} windows (one test clip each: 1 warm-up, then >= "
                f"{self.min_runs} timed inferences and >= {self.min_window_s:g} s) of the mean "
                "time per inference")


PROTOCOL = LatencyProtocol()


@dataclass
class ExportResult:
    """One trial's deployed-graph figures; accuracies are fractions, latencies milliseconds."""

    torch_acc: float
    onnx_acc: float
    onnx_max_abs_diff: float
    onnx_bytes: int
    onnx_latency_ms: float
    test_clips: int
    isa: str
    cpu: str
    files: list[Path] = field(default_factory=list)
    int8_acc: float | None = None
    int8_bytes: int | None = None
    int8_latency_ms: float | None = None
    plan: Int8Plan | None = None
    calibration_clips: int = 0
    protocol: str = PROTOCOL.describe()

    @property
    def onnx_delta(self) -> float:
        return self.onnx_acc - self.torch_acc

    @property
    def int8_delta(self) -> float | None:
        return None if self.int8_acc is None else self.int8_acc - self.torch_acc

    def metrics(self) -> dict[str, float]:
        """The MLflow metrics; the int8 ones only when int8 was measured."""
        out = {"torch_acc": self.torch_acc, "onnx_acc": self.onnx_acc,
               "onnx_delta": self.onnx_delta, "onnx_max_abs_diff": self.onnx_max_abs_diff,
               "onnx_bytes": float(self.onnx_bytes), "onnx_latency_ms": self.onnx_latency_ms}
        if self.int8_acc is not None:
            out.update(int8_acc=self.int8_acc, int8_delta=float(self.int8_delta or 0.0),
                       int8_bytes=float(self.int8_bytes or 0),
                       int8_latency_ms=float(self.int8_latency_ms or 0.0))
        return out


def parts(pipeline: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(front-end, network) of a logged trial pipeline (harness.tracking.logged_model)."""
    frontend, model = getattr(pipeline, "frontend", None), getattr(pipeline, "model", None)
    if frontend is None or model is None:
        raise HarnessError(f"{type(pipeline).__name__} has no .frontend and .model; export "
                           "takes a trial's logged pipeline (load_pipeline)")
    return frontend, model


def measure(pipeline: nn.Module, test: Any, train: Any, out_dir: str | Path, *,
            int8: bool = True, names: tuple[str, str] = ("front-end", "model"),
            protocol: LatencyProtocol = PROTOCOL) -> ExportResult:
    """Export `pipeline` to `out_dir`/model.onnx (and model.int8.onnx), then measure both.

    `test`, `train`: the trial's Clips (harness.data; audio (N, 16000) int16, labels (N,)).
    The int8 graph is calibrated on `calibration_indices` of `train`, recorded in
    `out_dir`/calibration.json.
    """
    require_onnx()
    out = Path(out_dir)
    frontend, model = (copy.deepcopy(m).cpu().eval() for m in parts(pipeline))
    graph = export_onnx(frontend, model, out / "model.onnx", names)
    labels = np.asarray(test.labels)
    ref = _torch_logits(frontend, model, test.audio)
    fp32 = session(graph.path, torch.get_num_threads())
    logits = _onnx_logits(fp32, test.audio)
    result = ExportResult(
        torch_acc=_acc(ref, labels), onnx_acc=_acc(logits, labels),
        onnx_max_abs_diff=float(np.abs(logits - ref).max()) if len(ref) else 0.0,
        onnx_bytes=graph.path.stat().st_size, test_clips=len(labels),
        onnx_latency_ms=latency_ms(session(graph.path), test.audio, protocol),
        isa=cpu_isa(), cpu=cpu_name(), files=[graph.path], protocol=protocol.describe())
    if int8:
        plan = plan_int8(graph, result.isa)
        indices = calibration_indices(len(train.labels))
        path = quantize_int8(graph.path, np.asarray(train.audio)[indices],
                             out / "model.int8.onnx", plan)
        result.int8_acc = _acc(_onnx_logits(session(path, torch.get_num_threads()),
                                            test.audio), labels)
        result.int8_bytes = path.stat().st_size
        result.int8_latency_ms = latency_ms(session(path), test.audio, protocol)
        result.plan, result.calibration_clips = plan, len(indices)
        result.files += [path, write_calibration(out / "calibration.json", indices, plan)]
    return result


def latency_ms(sess: Any, audio: np.ndarray, protocol: LatencyProtocol = PROTOCOL) -> float:
    """Median ms per batch-1 inference of `sess` (a 1-thread session) over the protocol's
    windows, window i on clip i of `audio` (cycled if fewer)."""
    if len(audio) == 0:
        raise HarnessError("no test clips to time the exported graph on")
    clips = [_waves(audio[i % len(audio): i % len(audio) + 1]) for i in range(protocol.windows)]
    for _ in range(protocol.warmup):
        sess.run(None, {INPUT: clips[0]})
    per_window = []
    for x in clips:
        start = time.perf_counter()
        sess.run(None, {INPUT: x})  # the window's own warm-up, as kws01's `infer 10 1`
        runs = max(protocol.min_runs,
                   math.ceil(protocol.min_window_s / max(time.perf_counter() - start, 1e-6)))
        start = time.perf_counter()
        for _ in range(runs):
            sess.run(None, {INPUT: x})
        per_window.append((time.perf_counter() - start) / runs * 1e3)
    return statistics.median(per_window)


def _waves(audio: np.ndarray) -> np.ndarray:
    """(N, T) int16 clips as float32 in [-1, 1), as training feeds them; float passes through."""
    audio = np.asarray(audio)
    return (audio / 32768.0 if audio.dtype == np.int16 else audio).astype(np.float32)


@torch.no_grad()
def _torch_logits(frontend: nn.Module, model: nn.Module, audio: np.ndarray) -> np.ndarray:
    out = [model(frontend(torch.from_numpy(_waves(audio[i:i + BATCH])))).float().numpy()
           for i in range(0, len(audio), BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _onnx_logits(sess: Any, audio: np.ndarray) -> np.ndarray:
    out = [sess.run(None, {INPUT: _waves(audio[i:i + BATCH])})[0]
           for i in range(0, len(audio), BATCH)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def _acc(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean()) if len(labels) else float("nan")
