"""One trial's work between its claim and its result: train, test, and log what it made.

    value = train_trial(trial, params, "auto", run, data_cache, on_epoch)   # valid_acc

`harness.sweep.worker.run_trial` owns the trial's life (heartbeat, failure, tell); this
module is its body: the data set (one kept in `data_cache` between trials), the pipeline
and its cost, `fit` with each epoch logged and reported to the pruner, the test, and the
add-ons an experiment file turns on ([stream], [evaluate] datasets, [tracking] models,
[export]). torch is imported here, never by a dry run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from harness.export.settings import ExportSettings
from harness.sweep.experiment import options_of
from harness.tracking import lineage
from harness.tracking.runs import TrialRun
from harness.training.divergence import mark

EpochHook = Callable[[int, int], None]  # (epoch, epochs)


def train_trial(trial: optuna.Trial, params: dict[str, Any], device: str, run: TrialRun,
           data_cache: dict[Any, Any], on_epoch: EpochHook | None,
           stream: Any = None, models: str = "all",
           other_sets: tuple[str, ...] = (), export: ExportSettings | None = None,
           ) -> float:
    """Train, log and test one trial's pipeline; returns the tested epoch's valid_acc."""
    from harness.data.spec import DataSpec
    from harness.models import build_pipeline
    from harness.models.classifier import Classifier
    from harness.models.cost import log_cost
    from harness.tracking.logged_model import log_pipeline
    from harness.training.config import TrainConfig
    from harness.training.device import seed_everything
    from harness.training.gpu_stats import GpuSampler, trial_metrics
    from harness.training.loop import EpochResult, frontend_throughput
    from harness.training.trial import train_and_test

    spec = DataSpec.from_params(params)
    if spec not in data_cache:
        # One data set at a time: a random split redrawn per replicate is a new in-memory
        # copy each time (2 GB for v0.01), and a grid runs each seed's trials together.
        data_cache.clear()
        data_cache[spec] = spec.load()
    data = data_cache[spec]
    run.client.set_tag(run.run_id, "test_set", data.test_set)  # which test set test_acc is on
    lineage.log_data(run.client, run.run_id, params, data)
    run.log_metrics({"train_clips": len(data.train.labels)})  # a learning curve's x
    cfg = TrainConfig.from_params(params, device=device)
    seed_everything(cfg.seed)  # the initial weights draw from it
    frontend, model = build_pipeline(params["frontend"], params["model"], len(data.labels),
                                     frontend_opts=options_of(params, "frontend"),
                                     model_opts=options_of(params, "model"))
    log_cost(run, frontend, model)  # params, MACs, batch-1 CPU latency of the pipeline

    def epoch_done(result: EpochResult) -> None:
        run.log_epoch(result)
        if on_epoch:
            on_epoch(result.epoch, cfg.epochs)
        trial.report(result.valid_acc, result.epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {result.epoch}")

    with GpuSampler(device) as gpu:  # NVML utilisation and memory while it trains
        out = train_and_test(model, frontend, data, cfg, on_epoch=epoch_done)
    mark(run, out.diverged)  # counted apart in reports
    run.log_test(test_loss=out.test.loss, test_acc=out.test.acc, confusion=out.test.confusion,
                 labels=data.labels, best_epoch=out.best.epoch,
                 best_valid_acc=out.best.valid_acc,
                 frontend_samples_per_s=frontend_throughput(frontend, data.valid, cfg),
                 peak_memory_mb=max(r.peak_memory_mb for r in out.epochs),
                 tested_epoch=out.tested.epoch, epochs_run=len(out.epochs),
                 stop_reason=out.stop_reason, converged=out.converged,
                 predictions=np.stack([data.test.labels, out.test.predictions], axis=1))
    run.log_metrics(trial_metrics(out.epochs, cfg.batch_size, gpu))  # step time, GPU use
    pipeline = Classifier(frontend, model, data.labels)  # what the add-ons test, log, export
    if cfg.robustness:
        from harness.evaluation.robustness import robustness

        run.log_metrics(robustness(model, frontend, data.test, data.noise, cfg))
    if stream is not None:  # [stream] enabled: harness/streaming/track.py
        from harness.streaming.track import stream_trial

        stream_trial(run, frontend, model, data, stream, cfg.device)
    if other_sets:  # [evaluate] datasets: harness/evaluation/other_sets.py
        from harness.evaluation.other_sets import evaluate_trial

        evaluate_trial(run.client, run.run_id, pipeline, other_sets, cfg.device, data.task)
    if models != "none":  # [tracking] models; "best": harness.tracking.logged_model.keep_best
        log_pipeline(run.client, run.run_id, pipeline, data.labels)
    if export is not None:  # [export] onnx: harness/export/track.py
        from harness.export.track import export_trial

        export_trial(run.client, run.run_id, pipeline, data, export,
                     (params["frontend"], params["model"]))
    return out.tested.valid_acc


def device_tag(name: str) -> str:
    """The device tag: "cpu", or "cuda:0 (NVIDIA H100 80GB HBM3)"."""
    import torch

    from harness.training.device import resolve_device

    device = resolve_device(name)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
