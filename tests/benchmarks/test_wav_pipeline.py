"""Input pipeline vs WAV decoding: one epoch of batches, from the clips to (x, y) on the device.

    pytest tests/benchmarks/test_wav_pipeline.py --benchmark-enable  # or: nox -s bench

A Speech Commands folder of N_WAVS real 16-bit WAV files (12 words x 16 speakers x 2, of
0.5 to 1.25 s, written once by `make_speech_commands`), one epoch = N_WAVS // BATCH shuffled
batches of x (B, 16000) float32 in [-1, 1) and y (B,) int64 on the device:
  harness          the harness's pipeline: the folder decoded once into the int16 cache
                   (`prepare_cache`), held as one tensor, batches drawn by indexing
                   (`DeviceClips.batch`, as `harness.training.loop` does every step)
  wav_workers0     a Dataset decoding one WAV with soundfile in __getitem__ (padded or cut
                   to 1 s), batched by a DataLoader, num_workers=0: the baseline
  wav_workers2     the same with 2 persistent worker processes
  cache_build      the harness's one-off cost: decoding the whole folder into a new cache
No model and no front-end: only what the input pipeline itself costs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_speech_commands  # tests/conftest.py
from torch.utils.data import DataLoader, Dataset

from harness.data.cache import Cache, prepare_cache
from harness.data.speech_commands import CLIP_SAMPLES, WORDS_V001
from harness.training.device import DeviceClips

WORDS, SPEAKERS, CLIPS_PER_SPEAKER = WORDS_V001[:12], 16, 2
N_WAVS = len(WORDS) * SPEAKERS * CLIPS_PER_SPEAKER  # 384
BATCH = 128
GROUP = f"input pipeline vs WAV: one epoch, {N_WAVS} clips"
Batch = tuple[torch.Tensor, torch.Tensor]

pytestmark = pytest.mark.benchmark(group=GROUP)


@pytest.fixture(scope="module")
def wav_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_speech_commands(tmp_path_factory.mktemp("wavs") / "sc", words=WORDS,
                                speakers=SPEAKERS, clips_per_speaker=CLIPS_PER_SPEAKER)


@pytest.fixture(scope="module")
def cache(wav_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Cache:
    return prepare_cache(wav_folder, tmp_path_factory.mktemp("cache"))


class WavFiles(Dataset):
    """The per-item style: decode one WAV file in __getitem__, pad or cut it to 1 s."""

    def __init__(self, root: Path, paths: list[str], labels: list[str]) -> None:
        self.root, self.paths, self.labels = root, paths, labels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        audio, _ = sf.read(self.root / self.paths[i], dtype="float32")
        clip = np.zeros(CLIP_SAMPLES, dtype=np.float32)
        clip[:min(len(audio), CLIP_SAMPLES)] = audio[:CLIP_SAMPLES]
        return torch.from_numpy(clip), self.labels.index(self.paths[i].split("/")[0])


def harness_epoch(cache: Cache, device: torch.device) -> Callable[[], Batch]:
    data = DeviceClips(cache.audio, cache.label_idx, device)
    generator = torch.Generator().manual_seed(0)

    def epoch() -> Batch:
        order = torch.randperm(len(data), generator=generator).to(data.audio.device)
        for step in range(len(data) // BATCH):
            x, y = data.batch(order[step * BATCH:(step + 1) * BATCH])
        return x, y

    return epoch


def wav_epoch(cache: Cache, device: torch.device, workers: int) -> Callable[[], Batch]:
    loader = DataLoader(WavFiles(cache.root, cache.paths, cache.labels), batch_size=BATCH,
                        shuffle=True, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                        generator=torch.Generator().manual_seed(0))

    def epoch() -> Batch:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return x, y

    return epoch


@pytest.mark.parametrize("role", ["harness", "wav_workers0", "wav_workers2"])
def test_epoch(measure, device, cache: Cache, role: str) -> None:
    if role == "harness":
        epoch = harness_epoch(cache, device)
    else:
        epoch = wav_epoch(cache, device, workers=int(role[-1]))
    steps = len(cache.paths) // BATCH
    x, y = measure(epoch, items=steps * BATCH, role=role, baseline=role == "wav_workers0",
                   unit="clips", batch_size=BATCH, dtype="float32", n_files=len(cache.paths),
                   workers=int(role[-1]) if role != "harness" else None)
    assert x.shape == (BATCH, CLIP_SAMPLES) and x.dtype == torch.float32
    assert x.device.type == device.type and y.device.type == device.type


def test_cache_build(measure, device, wav_folder: Path, tmp_path: Path) -> None:
    """The harness's one-off cost: the whole folder decoded into a fresh cache."""
    fresh = (tmp_path / f"cache{i}" for i in itertools.count())
    built = measure(lambda: prepare_cache(wav_folder, next(fresh)), items=N_WAVS,
                    role="cache_build", min_rounds=3, max_rounds=10, unit="clips",
                    dtype="int16", n_files=N_WAVS)
    assert built.audio.shape == (N_WAVS, CLIP_SAMPLES)


def test_both_pipelines_give_the_same_clips(cache: Cache) -> None:
    """Not a timing: the cache's int16 rows / 32768 are exactly soundfile's float32 clips."""
    dataset = WavFiles(cache.root, cache.paths, cache.labels)
    for i in (0, 1, 5, len(dataset) - 1):  # lengths 0.5 s to 1.25 s: padded and cut
        x, label = dataset[i]
        np.testing.assert_array_equal(x.numpy(), cache.audio[i].astype(np.float32) / 32768)
        assert label == cache.label_idx[i]
