"""The hot loop asks the device for no value per step: counted host reads, real training.

What each test proves:
- CPU (always runs): a TorchDispatchMode sees every aten op. It counts the ops that make a
  CUDA host wait for the device (`.item()`/`bool()`/`float()` of a tensor, nonzero,
  bincount, ...) whose calling Python line is in harness/. Torch's own reads (Adam's step
  counter, a CPU tensor on CUDA too) are left out. Proven: harness code reads a tensor
  value only once per CHECK_EVERY steps (the NaN check) and at the end of a pass, and
  validation's reads do not grow with its batches. Not proven on CPU: device->host copies
  (`.cpu()` is a no-op there) and syncs inside kernels; the CUDA test covers those.
- CUDA (the GPU machine): torch.cuda.set_sync_debug_mode("warn") warns on each implicit
  synchronisation (blocking copies, item, nonzero, ...). The count per training pass is the
  same for S and 3S steps, and per validation pass for 2 and 6 batches.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest
import torch
from test_train import build, cfg, tones
from torch.utils._python_dispatch import TorchDispatchMode

import harness
import harness.training.loop as train_mod
from harness.training.device import DeviceClips
from harness.training.loop import _evaluate, move_to_device, train_epoch
from harness.training.recipes import build_optimizer

HARNESS = str(Path(harness.__file__).parent)
TORCH = str(Path(torch.__file__).parent)
# Wrappers whose caller is the one asking (Tensor.__format__ calls item(), and so on).
TRANSPARENT = ("_tensor.py", "_python_dispatch.py", "_ops.py", "overrides.py", "eval_frame.py",
               "_compile.py")
SYNCING = {"_local_scalar_dense", "nonzero", "bincount", "masked_select", "unique_dim",
           "_unique2", "unique_consecutive", "repeat_interleave", "is_nonzero", "equal"}


class HostReads(TorchDispatchMode):
    """Counts syncing aten ops by the harness function (file:function) that called them."""

    def __init__(self) -> None:
        super().__init__()
        self.by_caller: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        if func.overloadpacket.__name__ in SYNCING:
            caller = _caller(sys._getframe(1))
            if caller is not None:
                self.by_caller[caller] += 1
        return func(*args, **(kwargs or {}))


def _caller(frame: FrameType | None) -> str | None:
    """'loop.py:train_epoch' when harness code made the call; None for torch's own."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name == __file__ or (name.startswith(TORCH) and name.endswith(TRANSPARENT)):
            frame = frame.f_back
            continue
        if name.startswith(HARNESS):
            return f"{Path(name).name}:{frame.f_code.co_name}"
        return None  # torch internals (optimizer, autograd) or other code
    return None


@pytest.fixture(scope="module")
def clips():
    return tones(96, seed=0)


def pass_runner(clips, device: str, batch: int) -> tuple[Callable[[int], None],
                                                         Callable[[int], None]]:
    """(train(steps), evaluate(n_clips)) on a tiny pipeline, one warm-up pass done."""
    frontend, model = build()
    config = cfg(batch_size=batch, device=device)
    dev = move_to_device(model, frontend, config)
    optimizer, scheduler = build_optimizer(model.parameters(), config.resolved, 1000)
    generator = torch.Generator().manual_seed(0)

    def run_train(steps: int) -> None:
        data = DeviceClips(clips.audio[:steps * batch], clips.labels[:steps * batch], dev)
        train_epoch(model, frontend, data, optimizer, scheduler, generator, config)

    def run_eval(n: int) -> None:
        _evaluate(model, frontend, DeviceClips(clips.audio[:n], clips.labels[:n], dev),
                  config)

    run_train(2)
    run_eval(2 * batch)
    return run_train, run_eval


def count_reads(fn: Callable[[], None]) -> Counter[str]:
    with HostReads() as mode:
        fn()
    return mode.by_caller


def test_harness_reads_no_value_per_step(clips, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_mod, "CHECK_EVERY", 4)
    run_train, run_eval = pass_runner(clips, "cpu", batch=4)
    for steps in (8, 24):
        # The NaN check every 4 steps, then the mean loss and the hits at the end.
        assert count_reads(lambda s=steps: run_train(s)) == {
            "loop.py:train_epoch": steps // 4 + 2}
    # Validation: the loss sum once, however many batches (2 or 6 batches of 4 clips).
    assert count_reads(lambda: run_eval(8)) == count_reads(lambda: run_eval(24)) == {
        "loop.py:_evaluate": 1}


def test_the_counter_sees_a_read_per_step(clips, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter's own check: with the NaN check every step, it counts a read per step."""
    monkeypatch.setattr(train_mod, "CHECK_EVERY", 1)
    run_train, _ = pass_runner(clips, "cpu", batch=4)
    assert count_reads(lambda: run_train(6)) == {"loop.py:train_epoch": 6 + 2}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_syncs_do_not_grow_with_steps(clips, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_mod, "CHECK_EVERY", 10_000)  # the NaN check at the end only
    monkeypatch.setattr(train_mod, "EVAL_BATCH_CUDA", 4)  # several validation batches
    run_train, run_eval = pass_runner(clips, "cuda", batch=4)

    def syncs(fn: Callable[[], None]) -> int:
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        return sum("synchroniz" in str(w.message) for w in caught)

    assert syncs(lambda: run_train(6)) == syncs(lambda: run_train(18))
    assert syncs(lambda: run_eval(8)) == syncs(lambda: run_eval(24))
