"""Where training runs: device choice, seeding, a split held as tensors, memory figures.

    device = resolve_device("auto")                    # cuda when there is one, else cpu
    data = DeviceClips(clips.audio, clips.labels, device)
    x, y = data.batch(torch.arange(128))               # (128, T) float32 in [-1, 1), (128,)

The airbench idea: a split becomes one int16 tensor (N, T) on the GPU when it fits, otherwise
in host memory with each batch gathered into pinned memory and copied asynchronously; batches
are drawn by indexing, never by per-clip Python.
"""

from __future__ import annotations

import ctypes
import random
import resource
import sys
import warnings

import numpy as np
import torch

from harness.errors import HarnessError

# The data may take at most this share of the free GPU memory; the rest is the model's.
DEVICE_DATA_FRACTION = 0.5


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; otherwise checks that `name` exists here."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise HarnessError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        index = device.index or 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise HarnessError(f"device {name!r}: CUDA is not available here "
                               f"({torch.cuda.device_count()} GPU(s)); use cpu or auto")
        return torch.device("cuda", index)
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices). Call before building the model."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class DeviceClips:
    """One split as tensors batched by indexing: audio (N, T) int16, labels (N,) int64.

    The audio lives on `device` when it fits, else in host memory (then `batch` copies each
    batch through pinned memory asynchronously, overlapping the previous step's GPU work).
    """

    def __init__(self, audio: np.ndarray, labels: np.ndarray, device: torch.device) -> None:
        if audio.dtype != np.int16 or audio.ndim != 2 or len(audio) != len(labels):
            raise ValueError(f"expected (N, T) int16 audio and (N,) labels, got "
                             f"{audio.shape} {audio.dtype} and {np.shape(labels)}")
        with warnings.catch_warnings():
            # A read-only memmap is fine: the tensor is only ever indexed, never written.
            warnings.filterwarnings("ignore", message=".*not writable.*")
            host = torch.from_numpy(audio)
        on_gpu = device.type == "cuda" and (
            host.nbytes < DEVICE_DATA_FRACTION * torch.cuda.mem_get_info(device)[0])
        self.audio = host.to(device) if on_gpu else host
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64)).to(self.audio.device)
        self.device = device
        self.staged = self.audio.device.type != device.type  # host data feeding a GPU

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx (B,) int64 on `audio.device` -> x (B, T) float32 in [-1, 1), y (B,), on device."""
        audio, labels = self.audio[idx], self.labels[idx]
        if self.staged:
            audio = audio.pin_memory().to(self.device, non_blocking=True)
            labels = labels.pin_memory().to(self.device, non_blocking=True)
        return audio.float().mul_(1 / 32768), labels


def keep_freed_memory() -> None:
    """glibc: keep freed memory in the heap instead of handing it back to the OS (process-wide).

    A CPU training step allocates and frees tensors of tens to hundreds of MB. By default glibc
    maps each from the OS and unmaps it on free, so every step page-faults it in again: in
    tests/benchmarks/test_pipeline.py half the CPU time went to the kernel and epochs took
    1.8x longer. The price: the process's RSS stays at its peak.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to do
        return
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: keep up to 1 GiB free at the heap's top
    libc.mallopt(-4, 0)  # M_MMAP_MAX: no mmap per allocation; large ones come from the heap


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that the clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
