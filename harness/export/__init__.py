"""A trained trial as a device would run it: one ONNX graph with the front-end inside.

    result = measure(pipeline, splits.test, splits.train, "out/", int8=True,
                     names=("complex", "seed_cnn"))     # export, quantise, measure
    log_export(client, run_id, result)                  # metrics, tags, .onnx files

Modules: `graph` (export-time rewrites of the front-end and torch.onnx.export), `quantize`
(static int8 with onnxruntime's quantiser and the choices it makes), `measure` (accuracy,
bytes and latency, the same for every trial), `track` (into the trial's MLflow run),
`runtime` (the packages it needs, the CPU's instruction set). Layer: above training,
models and frontends, below sweep and report; onnx, onnxscript and onnxruntime are imported
only when called. docs/export.md has the method and a table over every front-end.
"""

from harness.export.graph import ExportedGraph, export_onnx, exportable
from harness.export.measure import PROTOCOL, ExportResult, LatencyProtocol, measure
from harness.export.quantize import Int8Plan, calibration_indices, plan_int8, quantize_int8
from harness.export.runtime import cpu_isa, require_onnx

__all__ = [
    "PROTOCOL", "ExportResult", "ExportedGraph", "Int8Plan", "LatencyProtocol",
    "calibration_indices", "cpu_isa", "export_onnx", "exportable", "measure", "plan_int8",
    "quantize_int8", "require_onnx",
]
