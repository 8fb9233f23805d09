"""What a front-end, a model or a whole pipeline costs per clip: parameters, MACs, latency.

    count_macs(model, (1, 40, 101))          # multiply-accumulates of one forward pass
    cost(frontend, model, latency=True)      # -> Cost for 1 s of audio through both
    log_cost(run, frontend, model)           # the trial's cost metrics in MLflow

MACs are torch.utils.flop_counter's FLOPs / 2 for one clip at batch 1, in eval mode:
matmuls and convolutions, plus FFTs, which the counter leaves out and this module adds
(a length-n complex FFT as 5 n log2 n FLOPs, a real one half that: the usual radix-2
estimate), so `complex` and `learned_stft` are compared on one scale. Elementwise work
(BatchNorm, activations, pooling, PCEN's recursion) is not counted.

Latency is the median wall time of a batch-1 forward on the CPU, one thread, after two
warm-up calls (`torch.inference_mode`): a per-clip figure comparable across machines'
core counts, not a throughput. It takes seconds per entry, so it is measured only when
asked (`harness list ... --latency`) and once per trial, before training.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

SAMPLES = 16000  # one clip: 1 s at 16 kHz
LATENCY_REPEATS = 15  # timed calls per measurement, after 2 warm-ups
LATENCY_BUDGET_S = 2.0  # stop repeating once the timed calls took this long (>= 3 calls)


def _fft_flops(x_shape: Sequence[int], dim: Sequence[int], *args: Any, out_shape: Any = None,
               real: bool = True, **kwargs: Any) -> int:
    n = math.prod(x_shape[d] for d in dim)
    transforms = math.prod(x_shape) // max(n, 1)
    return int(transforms * 5 * n * math.log2(max(n, 2)) / (2 if real else 1))


_aten = torch.ops.aten
FFT_FORMULAS: dict[Any, Callable[..., int]] = {
    _aten._fft_r2c: _fft_flops,
    _aten._fft_c2r: _fft_flops,
    _aten._fft_c2c: lambda *a, **k: _fft_flops(*a, real=False, **k),
}


@dataclass(frozen=True)
class Cost:
    """Per clip: trainable parameters (front-end and model), MACs, latency in ms (None
    unless measured)."""

    params: int
    macs: int
    latency_ms: float | None = None
    frontend_params: int = 0
    frontend_macs: int = 0


def count_params(module: nn.Module) -> int:
    """Parameters of `module` (a front-end's own count only if it learns)."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass of `module` on one example of `input_shape`
    ((C, F, T'), (C, T), or (T,) for a front-end), in eval mode, FFTs included."""
    was_training = module.training
    module.eval()
    try:
        x = torch.zeros(1, *input_shape, device=_device(module))
        with FlopCounterMode(display=False, custom_mapping=FFT_FORMULAS) as counter:
            module(x)
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2


def latency_ms(module: nn.Module, input_shape: Sequence[int]) -> float:
    """Median ms of a batch-1 forward of a CPU copy of `module`, one thread."""
    cpu = copy.deepcopy(module).cpu().eval()
    x = torch.zeros(1, *input_shape)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for _ in range(2):
                cpu(x)
            times: list[float] = []
            while len(times) < LATENCY_REPEATS and (len(times) < 3
                                                     or sum(times) < LATENCY_BUDGET_S):
                start = time.perf_counter()
                cpu(x)
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return 1000 * statistics.median(times)


def frontend_cost(frontend: nn.Module, latency: bool = False,
                  n_samples: int = SAMPLES) -> Cost:
    """A front-end alone on one clip of `n_samples` samples."""
    params, macs = count_params(frontend), count_macs(frontend, (n_samples,))
    return Cost(params, macs, latency_ms(frontend, (n_samples,)) if latency else None,
                params, macs)


def model_cost(model: nn.Module, input_shape: Sequence[int], latency: bool = False) -> Cost:
    """A model alone on one example of its front-end's `input_shape`."""
    return Cost(count_params(model), count_macs(model, input_shape),
                latency_ms(model, input_shape) if latency else None)


def cost(frontend: nn.Module, model: nn.Module, latency: bool = False,
         n_samples: int = SAMPLES) -> Cost:
    """The whole pipeline, waveform to logits, on one clip: front-end plus model."""
    fe = frontend_cost(frontend, n_samples=n_samples)
    shape = frontend.output_shape(n_samples)
    net = model_cost(model, shape)
    pipeline = nn.Sequential(frontend, model) if latency else None
    return Cost(fe.params + net.params, fe.macs + net.macs,
                latency_ms(pipeline, (n_samples,)) if pipeline is not None else None,
                fe.params, fe.macs)


def log_cost(run: Any, frontend: nn.Module, model: nn.Module, latency: bool = True) -> Cost:
    """Log the pipeline's Cost on the trial's MLflow run (`harness.tracking.runs.TrialRun`) as
    metrics at step 0: params, macs, latency_ms, frontend_params, frontend_macs."""
    result = cost(frontend, model, latency=latency)
    run.log_metrics({k: v for k, v in asdict(result).items() if v is not None})
    return result


def _device(module: nn.Module) -> torch.device:
    tensor = next((t for t in (*module.parameters(), *module.buffers())), None)
    return tensor.device if tensor is not None else torch.device("cpu")
