"""A trial's throughput and GPU use, as final metrics of its MLflow run.

    with GpuSampler("cuda") as gpu:          # a thread reading NVML every SAMPLE_S
        epochs = list(fit(...))
    run.log_metrics(trial_metrics(epochs, batch_size=128, gpu=gpu))

The throughput metrics (THROUGHPUT_METRICS) come from the trainer's own per-epoch rates
and are always logged. The GPU ones (GPU_METRICS) need a CUDA device: utilisation and
memory in use from NVML (`nvidia-ml-py`, the `gpu` extra; the GPU image has it), the
process's peak reserved memory from torch. On CPU, or where NVML cannot be loaded (no
driver, no package), the sampler reads nothing and those metrics are left out, so a run
never shows a GPU figure that was not measured.

NVML's figures are the whole device's: with several workers on one GPU
(`--workers N --device cuda`), every concurrent trial sees the same utilisation, the
share of time any kernel ran, and the memory all of them use. The torch figures
(`peak_memory_mb`, `peak_memory_reserved_mb`) are this process's own.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.training.device import resolve_device

SAMPLE_S = 0.5  # NVML's utilisation is itself an average over 1/6 s to 1 s
THROUGHPUT_METRICS = ("train_step_ms", "train_samples_per_s_median",
                      "eval_samples_per_s_median", "first_epoch_extra_s")
GPU_METRICS = ("gpu_util_mean_percent", "gpu_util_max_percent", "gpu_memory_used_max_mb",
               "peak_memory_reserved_mb")

# Dense bf16 rates that a FLOP floor divides by, by GPU model name. H200: the rate issue 16
# names as measured (~790 TFLOP/s; NVIDIA's data sheet says 989 dense). Others: unknown.
PEAK_TFLOPS = {"H200": 790.0}

Reader = Callable[[], tuple[float, float]]  # () -> (utilisation %, memory used MiB)


class GpuSampler:
    """A background thread sampling GPU utilisation and memory while the block runs.

    `read` defaults to NVML for a CUDA device and to nothing elsewhere; `active` says
    whether anything is sampled, `skipped` why not.
    """

    def __init__(self, device: str | torch.device = "auto", read: Reader | None = None,
                 interval_s: float = SAMPLE_S) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.skipped = ""
        if read is None and self.device.type == "cuda":
            read, self.skipped = nvml_reader(self.device)
        elif read is None:
            self.skipped = f"device {self.device} is not a GPU"
        self.read, self.interval_s = read, interval_s
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-sampler")

    @property
    def active(self) -> bool:
        return self.read is not None

    def _run(self) -> None:
        assert self.read is not None
        while True:
            try:
                self.samples.append(self.read())
            except Exception as exc:  # the driver went away mid-trial: keep what we have
                self.skipped = f"NVML read failed: {exc}"
                return
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> GpuSampler:
        if self.active:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def metrics(self) -> dict[str, float]:
        """GPU_METRICS over the samples taken; {} on CPU or without NVML."""
        out: dict[str, float] = {}
        if self.samples:
            util = [u for u, _ in self.samples]
            out.update(gpu_util_mean_percent=statistics.fmean(util),
                       gpu_util_max_percent=max(util),
                       gpu_memory_used_max_mb=max(m for _, m in self.samples))
        if self.device.type == "cuda" and torch.cuda.is_available():
            out["peak_memory_reserved_mb"] = torch.cuda.max_memory_reserved(self.device) / 2**20
        return out


def nvml_reader(device: torch.device) -> tuple[Reader | None, str]:
    """(a reader of `device`'s utilisation and memory, "") or (None, why not)."""
    try:
        import pynvml  # the nvidia-ml-py package
    except ImportError:
        return None, "nvidia-ml-py is not installed (uv sync --extra gpu)"
    try:
        pynvml.nvmlInit()
        handle = _handle(pynvml, device)
    except pynvml.NVMLError as exc:
        return None, f"NVML unavailable: {exc}"

    def read() -> tuple[float, float]:
        util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
        return float(util), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

    return read, ""


def _handle(pynvml: Any, device: torch.device) -> Any:
    """NVML's handle for a torch device: by UUID, since CUDA_VISIBLE_DEVICES may renumber."""
    try:
        uuid = str(torch.cuda.get_device_properties(device).uuid)
        return pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-")
                                                else f"GPU-{uuid}")
    except (AttributeError, RuntimeError, pynvml.NVMLError):
        return pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)


def peak_tflops(device_name: str) -> float | None:
    """The PEAK_TFLOPS entry whose key is in `device_name` ("NVIDIA H200" -> 790), else None."""
    return next((v for k, v in PEAK_TFLOPS.items() if k in device_name), None)


def trial_metrics(epochs: Sequence[Any], batch_size: int,
                  gpu: GpuSampler | None = None) -> dict[str, float]:
    """THROUGHPUT_METRICS of a trial's EpochResults, plus `gpu.metrics()`.

    Medians over epochs, so the first epoch's one-off costs (cuDNN's kernel search,
    torch.compile) do not count; those are `first_epoch_extra_s`, the first epoch's
    seconds beyond the median of the others (only with 2 or more epochs).
    `train_step_ms`: batch_size / the median training rate (the trainer drops the last
    partial batch, so every step is one full batch).
    """
    if not epochs:
        return {}
    train_rate = statistics.median(r.train_samples_per_s for r in epochs)
    out = {"train_step_ms": 1000 * batch_size / train_rate,
           "train_samples_per_s_median": train_rate,
           "eval_samples_per_s_median": statistics.median(r.eval_samples_per_s
                                                          for r in epochs)}
    if len(epochs) > 1:
        rest = statistics.median(r.epoch_seconds for r in epochs[1:])
        out["first_epoch_extra_s"] = epochs[0].epoch_seconds - rest
    return {**out, **(gpu.metrics() if gpu is not None else {})}


def train_flops_per_sample(frontend: str, model: str, n_classes: int,
                           frontend_opts: dict[str, Any] | None = None,
                           model_opts: dict[str, Any] | None = None) -> float:
    """FLOPs of one training sample through the model, forward + backward, counted.

    torch's FlopCounterMode counts the convolutions and matrix products (2 FLOPs a
    multiply-add) of a real forward and backward pass on CPU, batch 2 (BatchNorm in
    training mode needs more than one clip); the front-end, normalisation, activations and
    Adam are left out, as in a FLOP floor. Full-width seed_cnn on `complex` (2 x 257 x 101):
    0.620 GFLOP forward (0.310 G MACs) + 1.211 backward = 1.83 GFLOP; the first layer
    computes no input gradient, so less than the 3x-forward rule's 1.86.
    """
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from harness.models import build_pipeline

    fe, net = build_pipeline(frontend, model, n_classes, frontend_opts=frontend_opts,
                             model_opts=model_opts)
    with torch.no_grad():
        x = fe(torch.rand(2, 16000) * 2 - 1)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), torch.zeros(2, dtype=torch.long)).backward()
    return counter.get_total_flops() / 2
