"""What the export needs installed, and the CPU its int8 and latency figures belong to.

    require_onnx()          # onnx, onnxscript, onnxruntime importable, or one HarnessError line
    cpu_isa()               # "x86_64 avx512_vnni": the int8 instruction set onnxruntime can use
    cpu_name()              # "Intel(R) Xeon(R) Processor" (/proc/cpuinfo "model name")
    session(path, threads)  # an onnxruntime CPU InferenceSession with fixed thread counts

int8 speed and even int8 accuracy depend on the machine: on x86-64 without VNNI, onnxruntime
multiplies uint8 x int8 with VPMADDUBSW, whose 16-bit sums can saturate (onnxruntime docs,
performance/model-optimizations/quantization: "Data type selection", "When to use
reduce-range"). So every int8 figure is logged beside `cpu_isa()`.
"""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path
from typing import Any

from harness.environment import installed
from harness.errors import HarnessError

PACKAGES = ("onnx", "onnxscript", "onnxruntime")  # torch.onnx.export(dynamo=True) needs 2
INSTALL = "install them with `uv sync --extra export` (or pip install onnx onnxscript onnxruntime)"


def require_onnx() -> None:
    """Import onnx, onnxscript and onnxruntime; one HarnessError line naming any missing."""
    missing = []
    for name in PACKAGES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise HarnessError(f"ONNX export needs {', '.join(missing)} (not installed beside torch "
                           f"{installed('torch')}); {INSTALL}")


@cache
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo ("flags" on x86, "Features" on ARM)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_isa(flags: frozenset[str] | None = None) -> str:
    """The machine and the best int8 dot-product instructions onnxruntime's kernels can use.

    x86-64: avx512_vnni, avx_vnni, avx512bw (AVX-512 without VNNI), avx2 or sse4_1;
    ARM: i8mm, asimddp (dot product) or asimd. `flags` defaults to this machine's.
    """
    flags = _cpu_flags() if flags is None else flags
    for isa in ("avx512_vnni", "avx_vnni", "avx512bw", "avx2", "sse4_1",
                "i8mm", "asimddp", "asimd"):
        if isa in flags:
            return f"{platform.machine()} {isa}"
    return platform.machine() or "unknown"


def has_vnni(isa: str) -> bool:
    """Whether `cpu_isa()` names an x86 CPU with VNNI (no U8S8 saturation)."""
    return "vnni" in isa


def is_x86(isa: str) -> bool:
    return isa.split()[0] in ("x86_64", "AMD64", "i686")


@cache
def cpu_name() -> str:
    """The CPU's model name, for the record beside latencies."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def session(model: str | Path | bytes, threads: int = 1) -> Any:
    """An onnxruntime InferenceSession on the CPU, `threads` intra-op threads, one inter-op.

    Full graph optimisation (onnxruntime's default): the int8 graph's QuantizeLinear /
    DequantizeLinear pairs fuse into integer kernels (QLinearConv, MatMulInteger) only then.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no per-session warnings on stderr
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
