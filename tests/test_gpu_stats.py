"""GPU statistics of a trial: skipped cleanly on CPU, sampled in a thread, logged to MLflow."""

from __future__ import annotations

import math
import time

import pytest
import torch
from mlflow.tracking import MlflowClient
from test_sweep import new_tracking_uri

from harness.tracking.runs import Tracker
from harness.training.gpu_stats import GPU_METRICS, THROUGHPUT_METRICS, GpuSampler, trial_metrics
from harness.training.loop import EpochResult


def epoch(n: int, seconds: float, rate: float) -> EpochResult:
    return EpochResult(epoch=n, train_loss=1.0, train_acc=0.5, valid_loss=1.0, valid_acc=0.5,
                       lr=1e-3, beta1=0.9, epoch_seconds=seconds, train_samples_per_s=rate,
                       eval_samples_per_s=4 * rate, peak_memory_mb=10.0, is_best=True)


EPOCHS = [epoch(1, 9.0, 500.0), epoch(2, 2.0, 1000.0), epoch(3, 2.5, 900.0),
          epoch(4, 3.0, 800.0)]


def test_cpu_samples_nothing_and_logs_no_gpu_metric() -> None:
    with GpuSampler("cpu") as gpu:
        time.sleep(0.05)
    assert not gpu.active and "not a GPU" in gpu.skipped and gpu.samples == []
    out = trial_metrics(EPOCHS, batch_size=128, gpu=gpu)
    assert set(out) == set(THROUGHPUT_METRICS)  # no GPU_METRICS: nothing was measured
    assert out["train_samples_per_s_median"] == 850.0  # median of 4 epochs' rates
    assert out["train_step_ms"] == pytest.approx(1000 * 128 / 850)
    assert out["eval_samples_per_s_median"] == 3400.0
    assert out["first_epoch_extra_s"] == 9.0 - 2.5  # beyond the median of epochs 2-4
    assert "first_epoch_extra_s" not in trial_metrics(EPOCHS[:1], 128)
    assert trial_metrics([], 128) == {}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a GPU")
def test_cuda_without_a_driver_is_skipped_with_the_reason() -> None:
    # torch.device("cuda") exists everywhere; NVML (or the package) is missing here.
    with GpuSampler(torch.device("cuda", 0)) as gpu:
        pass
    assert not gpu.active
    assert gpu.skipped.startswith(("NVML unavailable", "nvidia-ml-py is not installed"))
    assert gpu.metrics() == {}


def test_sampler_thread_aggregates_its_readings() -> None:
    readings = iter([(10.0, 100.0), (90.0, 300.0), (50.0, 200.0)])

    def read() -> tuple[float, float]:
        try:
            return next(readings)
        except StopIteration:
            raise RuntimeError("no more") from None  # as a driver gone away mid-trial

    with GpuSampler("cpu", read=read, interval_s=0.001) as gpu:
        deadline = time.monotonic() + 10
        while gpu._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert gpu.samples == [(10.0, 100.0), (90.0, 300.0), (50.0, 200.0)]
    assert "NVML read failed" in gpu.skipped
    assert gpu.metrics() == {"gpu_util_mean_percent": 50.0, "gpu_util_max_percent": 90.0,
                             "gpu_memory_used_max_mb": 300.0}
    assert set(gpu.metrics()) < set(GPU_METRICS)


def test_metrics_reach_the_trial_run(tmp_path) -> None:
    uri = new_tracking_uri(tmp_path)
    run = Tracker("gpu", uri).trial(0, {"frontend": "complex", "model": "seed_cnn"})
    run.log_metrics(trial_metrics(EPOCHS, batch_size=128))
    run.finish("COMPLETE")
    logged = MlflowClient(uri).get_run(run.run_id).data.metrics
    assert {k for k in logged if not k.startswith("system/")} == set(THROUGHPUT_METRICS)
    assert math.isclose(logged["train_step_ms"], 1000 * 128 / 850)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_nvml_samples_a_busy_gpu() -> None:
    x = torch.randn(4096, 4096, device="cuda")
    with GpuSampler("cuda", interval_s=0.05) as gpu:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            x = (x @ x).tanh_()
        torch.cuda.synchronize()
    assert gpu.active, gpu.skipped
    out = gpu.metrics()
    assert set(out) == set(GPU_METRICS)
    assert out["gpu_util_max_percent"] > 0 and out["gpu_memory_used_max_mb"] > 64
