"""What listening costs: MACs and measured CPU time per second of audio at a hop.

    cost = streaming_cost(net, hop=1600)
    cost.clip_macs          # one 1 s window through front-end and network
    cost.macs_per_audio_s   # clip_macs * windows per second (16000 / hop)
    cost.cpu_s_per_audio_s  # process CPU seconds per second of audio, measured on CPU

A non-streaming network re-reads the whole second at every hop, so the stream costs
16000 / hop times the clip (10x at the default 100 ms). MACs are
`harness.models.cost.count_macs` of the whole pipeline on one window, the count the
report's comparison table shows: matmuls and convolutions (the mel filterbank and DCT
included) and the FFTs, not elementwise work. CPU time is `time.process_time` (all
threads of this process) around `posteriors` on a copy of the pipeline on the CPU, after
one warm-up pass, at torch's current thread count; `wall_s_per_audio_s` beside it is the
real-time factor.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from harness.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE
from harness.models.cost import count_macs
from harness.streaming.infer import posteriors

COST_SECONDS = 20.0  # audio timed on the CPU: 200 windows at the default hop


@dataclass(frozen=True)
class StreamCost:
    clip_macs: int              # MACs of one 1 s window, front-end and network
    windows_per_audio_s: float  # 16000 / hop
    macs_per_audio_s: float     # clip_macs * windows_per_audio_s
    cpu_s_per_audio_s: float    # measured process CPU time per second of audio
    wall_s_per_audio_s: float   # measured wall time per second of audio (real-time factor)
    threads: int                # torch CPU threads during the measurement

    def metrics(self) -> dict[str, float]:
        """MLflow metric names: `stream_<field>`."""
        return {f"stream_{k}": float(v) for k, v in asdict(self).items()}


def streaming_cost(net: nn.Module, hop: int, seconds: float = COST_SECONDS,
                   batch: int = 512) -> StreamCost:
    """Count and time `net` at `hop` on `seconds` of seeded noise, on the CPU."""
    cpu = copy.deepcopy(net).to("cpu").eval()
    audio = (np.random.default_rng(0).standard_normal(round(seconds * SAMPLE_RATE))
             * 0.1).astype(np.float32)
    posteriors(cpu, audio[:CLIP_SAMPLES + hop], hop=hop, batch=batch)  # warm-up: plans, allocator
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    posteriors(cpu, audio, hop=hop, batch=batch)
    cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    macs = count_macs(cpu, (CLIP_SAMPLES,))
    per_s = SAMPLE_RATE / hop
    return StreamCost(clip_macs=macs, windows_per_audio_s=per_s, macs_per_audio_s=macs * per_s,
                      cpu_s_per_audio_s=cpu_s / seconds, wall_s_per_audio_s=wall_s / seconds,
                      threads=torch.get_num_threads())
