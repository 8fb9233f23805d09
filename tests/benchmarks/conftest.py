"""Shared benchmark fixtures: the device, torch threads, test clips, and `measure`.

    nox -s bench                                                # all of tests/benchmarks
    pytest tests/benchmarks --benchmark-enable --benchmark-autosave   # same, JSON in .benchmarks/
    pytest tests/benchmarks                 # --benchmark-disable (pyproject): each runs once
    HARNESS_BENCH_DEVICE=cpu HARNESS_BENCH_THREADS=all pytest tests/benchmarks --benchmark-enable

HARNESS_BENCH_DEVICE: cpu | cuda | cuda:N | auto (default: cuda when available, else cpu).
HARNESS_BENCH_BUDGET_S: seconds of timing per benchmark, default 4.
HARNESS_BENCH_THREADS: torch intra-op threads, a number or "all" (the cores this process may
use). Default 1, as torch.utils.benchmark.Timer: on a shared CPU, threads of one op wait for
each other at every barrier while a neighbour holds a core, which made 2 threads 1.8x to 47x
slower than 1, and run-to-run medians vary several fold (docs/benchmarks.md).

`measure(fn, items=..., role=...)` times `fn` with `benchmark.pedantic`, synchronising CUDA
before and after every timed call, picks the number of rounds from a first untimed call
(about `budget_s` of timing per benchmark), and records clips (or samples) per second in
`extra_info`. Within a benchmark group the row measured with `baseline=True` is the baseline:
every other row's speedup over it goes into the saved JSON (`extra_info.speedup_vs_baseline`
and `harness_summary`) and into a summary printed at the end of the run, with its target.
With --benchmark-disable `fn` runs once and nothing is recorded: a smoke test.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pytest
import torch
import torchaudio

from harness.training.device import resolve_device

T = TypeVar("T")
N_CLIPS, N_CLASSES = 512, 30


# --- device and threads --------------------------------------------------------------

def bench_device() -> torch.device:
    """The device named by $HARNESS_BENCH_DEVICE, default cuda when available, else cpu."""
    return resolve_device(os.environ.get("HARNESS_BENCH_DEVICE") or "auto")


def cores_available() -> int:
    """The number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def bench_threads() -> int:
    """$HARNESS_BENCH_THREADS: a number, or "all" for cores_available(); default 1."""
    value = os.environ.get("HARNESS_BENCH_THREADS") or "1"
    return cores_available() if value == "all" else int(value)


def bench_budget_s() -> float:
    """$HARNESS_BENCH_BUDGET_S: seconds of timing per benchmark (default 4; the GPU check 1)."""
    return float(os.environ.get("HARNESS_BENCH_BUDGET_S") or 4.0)


def device_name(device: torch.device) -> str:
    """The GPU's model name on CUDA, the CPU's model name otherwise."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cuda_sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a clock read after it measures that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@pytest.fixture(scope="session")
def device() -> torch.device:
    return bench_device()


@pytest.fixture(scope="module", autouse=True)
def torch_threads() -> Iterator[int]:
    """Every benchmark module runs with bench_threads() intra-op threads; restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(bench_threads())
    yield torch.get_num_threads()
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tone_clips() -> tuple[np.ndarray, np.ndarray]:
    """(N_CLIPS, 16000) int16 tones in noise, one pitch per class, and (N_CLIPS,) int64 labels."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, N_CLASSES, N_CLIPS)
    t = np.arange(16000) / 16000
    wave = 0.3 * np.sin(2 * np.pi * (200 + 50 * labels[:, None]) * t)
    wave += rng.normal(0, 0.05, wave.shape)
    return (wave * 32767).astype(np.int16), labels.astype(np.int64)


# --- model variants (amp, channels_last, compile), chosen per device -------------------

@dataclass(frozen=True)
class Variant:
    """How a model runs: the TrainConfig flags of the same names."""

    name: str
    amp: bool = False  # bf16 autocast
    channels_last: bool = False
    compile: bool = False

    @property
    def dtype(self) -> str:
        return "bfloat16" if self.amp else "float32"


VARIANTS = (Variant("fp32"), Variant("bf16", amp=True),
            Variant("bf16_cl", amp=True, channels_last=True),
            Variant("bf16_cl_compile", amp=True, channels_last=True, compile=True))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking `variant` runs fp32 on CPU; on CUDA also bf16, bf16+channels_last and
    that compiled.

    HARNESS_BENCH_VARIANTS=all runs every variant on any device (slow on CPU: for checking
    the code paths without a GPU).
    """
    if "variant" in metafunc.fixturenames:
        every = os.environ.get("HARNESS_BENCH_VARIANTS") == "all"
        chosen = VARIANTS if every or bench_device().type == "cuda" else VARIANTS[:1]
        metafunc.parametrize("variant", chosen, ids=[v.name for v in chosen])


# --- measuring -----------------------------------------------------------------------

@dataclass
class Result:
    """One measured benchmark: `items` clips or samples per timed call."""

    nodeid: str
    group: str
    role: str
    items: int
    median_s: float
    baseline: bool = False
    target_speedup: float | None = None

    @property
    def per_s(self) -> float:
        return self.items / self.median_s


RESULTS = pytest.StashKey[list[Result]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS] = []


@pytest.fixture
def measure(benchmark: Any, request: pytest.FixtureRequest,
            device: torch.device) -> Callable[..., Any]:
    """`measure(fn, items=, role=, ...)` -> fn's last result; see the module docstring."""

    def run(fn: Callable[[], T], *, items: int, role: str, group: str | None = None,
            budget_s: float | None = None, min_rounds: int = 3, max_rounds: int = 30,
            warmup: int = 1,
            baseline: bool = False, target_speedup: float | None = None, **extra: Any) -> T:
        """Time `fn` (one call = `items` clips or samples); returns its last result.

        `role` names the row within `group` (the benchmark group, default: the marker's);
        `baseline` marks the row the group's others are compared with, `target_speedup`
        the speedup over it this row should reach. Rounds: about `budget_s` of timing,
        clamped to [min_rounds, max_rounds], sized by the last of `warmup` untimed calls.
        `extra` goes into extra_info (batch_size, dtype, channels_last, ...).
        """

        budget = budget_s if budget_s is not None else bench_budget_s()

        def timed() -> T:
            out = fn()
            cuda_sync(device)
            return out

        if group is not None:
            benchmark.group = group
        benchmark.extra_info.update(
            device=str(device), device_name=device_name(device), items_per_round=items,
            role=role, torch_threads=torch.get_num_threads(), **extra)
        if not benchmark.enabled:  # --benchmark-disable: one call, as a smoke test
            return benchmark.pedantic(timed, rounds=1)
        for _ in range(warmup - 1):
            timed()
        cuda_sync(device)
        start = time.perf_counter()
        timed()  # the last warm-up call also sizes the run
        once = time.perf_counter() - start
        rounds = max(min_rounds, min(max_rounds, int(budget / max(once, 1e-6))))
        out = benchmark.pedantic(timed, setup=lambda: cuda_sync(device), rounds=rounds)
        median = benchmark.stats.stats.median
        benchmark.extra_info["items_per_s"] = items / median
        request.config.stash[RESULTS].append(Result(
            request.node.nodeid, benchmark.group or "", role, items, median, baseline,
            target_speedup))
        return out

    return run


def speedups(results: list[Result]) -> list[tuple[Result, Result, float]]:
    """(row, its group's baseline row, row rate / baseline rate) for every other row."""
    refs = {r.group: r for r in results if r.baseline}
    return [(r, refs[r.group], r.per_s / refs[r.group].per_s)
            for r in results if not r.baseline and r.group in refs]


def _verdict(r: Result, ratio: float) -> str:
    if r.target_speedup is None:
        return ""
    return f"target >= {r.target_speedup:.3g}x: {'met' if ratio >= r.target_speedup else 'NOT met'}"


# --- pytest-benchmark hooks ------------------------------------------------------------

def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """torch/torchaudio/CUDA versions, the benchmark device and its model, the thread count."""
    device = bench_device()
    machine_info["torch"] = {
        "version": torch.__version__, "torchaudio": torchaudio.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "bench_device": str(device), "device_name": device_name(device),
        "threads": bench_threads(), "cores_available": cores_available(),
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list,
                                 output_json: dict) -> None:
    """Speedups over each group's baseline row, and the load average (a shared machine?)."""
    rows = {r.nodeid: r for r in config.stash[RESULTS]}
    summary = []
    for r, ref, ratio in speedups(config.stash[RESULTS]):
        summary.append({"group": r.group, "benchmark": r.nodeid, "per_s": r.per_s,
                        "baseline_per_s": ref.per_s, "speedup": ratio,
                        "target_speedup": r.target_speedup,
                        "target_met": None if r.target_speedup is None
                        else ratio >= r.target_speedup})
    by_id = {s["benchmark"]: s for s in summary}
    for bench in output_json.get("benchmarks", []):
        if bench.get("fullname") in by_id:
            bench["extra_info"]["speedup_vs_baseline"] = by_id[bench["fullname"]]["speedup"]
    output_json["harness_summary"] = {
        "load_avg_at_save": os.getloadavg(), "measured": len(rows), "speedups": summary}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Per group: each row's rate, its speedup over the baseline and the target, met or not."""
    results = config.stash.get(RESULTS, [])
    if not results:
        return
    ratios = {r.nodeid: (ratio, _verdict(r, ratio)) for r, _, ratio in speedups(results)}
    write = terminalreporter.write_line
    terminalreporter.section("harness throughput")
    write(f"device {bench_device()} ({device_name(bench_device())}), torch threads "
          f"{bench_threads()}, load average now {os.getloadavg()[0]:.1f}")
    for group in dict.fromkeys(r.group for r in results):
        write(group)
        for r in (r for r in results if r.group == group):
            ratio, verdict = ratios.get(r.nodeid, (None, ""))
            vs = "baseline" if r.baseline else "" if ratio is None else f"{ratio:.2f}x"
            write(f"    {r.role:<16} {r.per_s:>10.1f} /s  {vs:>8}  {verdict}")
