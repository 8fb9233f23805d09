"""A trained trial as a device would run it: one ONNX graph with the front-end inside.

    result = measure(pipeline, splits.test, splits.train, "out/", int8=True,
                     names=("complex", "seed_cnn"))     # export, quantise, measure
    log_export(client, run_id, result)                  # metrics, tags, .onnx files
    export_trial(run, pipeline, data, settings, names)  # both, from a sweep's trial

Modules: `graph` (export-time rewrites of the front-end and torch.onnx.export), `quantize`
(static int8 with onnxruntime's quantiser and the choices it makes), `measure` (accuracy,
bytes and latency, the same for every trial), `track` (into the trial's MLflow run, and the
sweep's call after a trial's test), `runtime` (the packages it needs, the CPU's instruction
set), `settings` (the experiment file's `[export]` table; no torch). Layer: above training,
models and frontends, below sweep and report; onnx, onnxscript and onnxruntime are imported
only when called. This file imports nothing, so `harness.export.settings` stays light for
the experiment-file layer. docs/export.md has the method and a table over every front-end.
"""
