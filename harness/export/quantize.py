"""Static post-training int8 quantisation of an exported graph with onnxruntime's quantiser.

    indices = calibration_indices(len(splits.train.labels))    # fixed, recorded
    plan = plan_int8(graph, cpu_isa())                          # what is quantised, and why
    quantize_int8(graph.path, splits.train.audio[indices], "model.int8.onnx", plan)

The choices, one place each:
- format QDQ, calibration MinMax over CALIBRATION_CLIPS training clips whose indices are
  drawn once with a fixed seed and logged with the result (MLPerf Tiny fixes its keyword-
  spotting calibration clips the same way: mlcommons/tiny benchmark/training/keyword_spotting/
  quantize.py reads them from quant_cal_idxs.txt);
- weights int8, symmetric, per output channel (conv channels differ in range by orders of
  magnitude once BatchNorm is folded in); activations uint8 on x86-64 and int8 on ARM, with
  `reduce_range` (7-bit weights) only on x86-64 without VNNI, as onnxruntime 1.32 advises for
  each (quantize_static's docstring, "Choosing parameters for CPU inference"; onnxruntime.ai
  docs/performance/model-optimizations/quantization: U8S8 saturation on AVX2/AVX-512
  without VNNI);
- operators: the ones with weights (Conv, Gemm, MatMul) and the ones that keep a tensor in
  int8 between them (Relu, Clip, MaxPool, AveragePool); everything else stays float between
  a DequantizeLinear and a QuantizeLinear;
- the front-end: quantised only when nothing in it compresses its filterbank's output
  (COMPRESSIONS: a log, a power law, a division, an angle). An 8-bit step before a log or a
  PCEN's division is magnified where the values are small, so such a front-end stays in
  float (its nodes are excluded) and the plan says which op kept it there; its output, the
  network's input, is still quantised by the network's first layer.
The graph is first pre-processed (`quant_pre_process`: ONNX shape inference and onnxruntime's
graph optimisations, which fold BatchNorm into the convolutions), as onnxruntime advises.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.export.graph import INPUT, ExportedGraph
from harness.export.runtime import has_vnni, is_x86

CALIBRATION_CLIPS = 200  # MLPerf Tiny's KWS calibration list is a few hundred clips too
CALIBRATION_SEED = 0
OPS = ("Conv", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool")
COMPRESSIONS = {  # op type -> why a front-end holding it stays float
    "Log": "a log, which magnifies the 8-bit steps of small values",
    "Pow": "a power law (|X|^p, PCEN's root), steep near zero",
    "Sqrt": "a square root, steep near zero",
    "Div": "a division by a signal-dependent value (dB scaling, PCEN's gain control)",
    "Atan": "a phase angle, discontinuous where the imaginary part changes sign",
}


@dataclass(frozen=True)
class Int8Plan:
    """What is quantised and how; logged beside every int8 figure."""

    isa: str                    # runtime.cpu_isa(): the machine the choices were made for
    activations: str            # "uint8" | "int8"
    weights: str = "int8"
    per_channel: bool = True
    reduce_range: bool = False
    ops: tuple[str, ...] = OPS
    calibration: str = "MinMax"
    frontend: str = "int8"      # "int8" or "float"
    frontend_reason: str = ""   # why float, naming the op
    exclude: tuple[str, ...] = ()   # node names kept in float

    def describe(self) -> dict[str, object]:
        """The plan as loggable values, without the node list."""
        out = asdict(self)
        out.pop("exclude")
        out["ops"] = ",".join(self.ops)
        return out


def plan_int8(graph: ExportedGraph, isa: str) -> Int8Plan:
    """The quantisation choices for `graph` on a CPU with instruction set `isa`."""
    x86 = is_x86(isa)
    found = next((op for op in graph.frontend_ops if op in COMPRESSIONS), None)
    frontend, reason, exclude = "int8", "", ()
    if found is not None:
        frontend, exclude = "float", graph.frontend_nodes
        reason = f"{found}: {COMPRESSIONS[found]}"
    return Int8Plan(isa=isa, activations="uint8" if x86 else "int8",
                    reduce_range=x86 and not has_vnni(isa), frontend=frontend,
                    frontend_reason=reason, exclude=exclude)


def calibration_indices(n_train: int, n: int = CALIBRATION_CLIPS,
                        seed: int = CALIBRATION_SEED) -> np.ndarray:
    """Sorted indices of the calibration clips in a training split of `n_train` clips."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_train, size=min(n, n_train), replace=False))


def quantize_int8(fp32: str | Path, calibration: np.ndarray, out: str | Path,
                  plan: Int8Plan, batch: int = 16) -> Path:
    """Write the int8 graph of the fp32 ONNX file `fp32` to `out`.

    `calibration`: (N, 16000) int16 or float32 clips; int16 are scaled by 1/32768 as in
    training.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    waves = np.asarray(calibration)
    waves = (waves / 32768.0 if waves.dtype == np.int16 else waves).astype(np.float32)

    class Clips(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{INPUT: waves[i:i + batch]}
                                 for i in range(0, len(waves), batch)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    kind = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    with tempfile.TemporaryDirectory(prefix="harness-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        # onnxruntime's symbolic shape inference (for transformers' dynamic dims) fails on
        # some front-ends' graphs (log1p_magnitude: a rank it cannot read); ONNX's own shape
        # inference and the graph optimisations still run.
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(out), Clips(), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(plan.ops), per_channel=plan.per_channel,
            reduce_range=plan.reduce_range, activation_type=kind[plan.activations],
            weight_type=kind[plan.weights], nodes_to_exclude=list(plan.exclude),
            calibrate_method=CalibrationMethod.MinMax)
    return Path(out)


def write_calibration(path: str | Path, indices: np.ndarray, plan: Int8Plan) -> Path:
    """The calibration clips' indices (into the run's training split) and the plan, as JSON."""
    record = {"split": "train", "seed": CALIBRATION_SEED, "indices": indices.tolist(),
              "plan": plan.describe()}
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    return Path(path)
