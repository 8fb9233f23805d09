"""Datasets by name or folder -> decoded, cached splits of 1 s, 16 kHz int16 clips.

    from harness.data import load_splits
    data = load_splits("synth_commands", split="official")   # generates + decodes once
    data.train.audio    # (N, 16000) int16, a read-only memmap for the official split
    data.train.labels   # (N,) int64 indices into data.labels

A dataset is a name in DATASETS (downloaded or generated into data_dir()), or any
folder in the Speech Commands layout given as `root` (then a name only fixes the
expected word list). See speech_commands.py for the layout and cache.py for the cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from harness.console import console
from harness.data.cache import Cache, prepare_cache
from harness.data.speech_commands import (
    SPLIT_NAMES,
    WORDS_V001,
    WORDS_V002,
    check_labels,
    check_root,
    download,
    labels_of,
    list_clips,
)
from harness.errors import HarnessError

__all__ = [
    "DATASETS", "SPLITS", "SYNTHETIC", "SYNTH_SETS", "Cache", "Clips", "SplitData", "data_dir",
    "load_splits", "prepare", "source",
]

# name -> the word folders it must have (its labels, sorted)
DATASETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "speech_commands_v0.01": WORDS_V001,
    "speech_commands_v0.02": WORDS_V002,
    "synth_commands": WORDS_V001,
    "synth_commands_small": WORDS_V001,
})
# The offline synthetic sets: name -> harness.data.synth.SynthConfig fields over its defaults.
# `synth_commands_small` (200 speakers, 6,000 clips) is the quick study's: an epoch is half
# as long, so a small CNN trains to early stopping within the quick study's minutes.
SYNTH_SETS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "synth_commands": {}, "synth_commands_small": {"speakers": 200}})
SPLITS = ("official", "random")
SYNTHETIC = frozenset(SYNTH_SETS)  # generated speech: every verdict on it says so


@dataclass(frozen=True)
class Clips:
    """One split: N clips of 1 s at 16 kHz."""

    audio: np.ndarray   # (N, 16000) int16, may be a read-only memmap
    labels: np.ndarray  # (N,) int64 indices into SplitData.labels


@dataclass(frozen=True)
class SplitData:
    """A dataset's train/valid/test clips and its class names."""

    train: Clips
    valid: Clips
    test: Clips
    labels: list[str]   # sorted word folders
    dataset: str        # e.g. "synth_commands" or the --root folder name
    root: Path          # the source folder


def data_dir() -> Path:
    """Where datasets and caches live: $HARNESS_DATA_DIR, else ./data (absolute)."""
    return Path(os.environ.get("HARNESS_DATA_DIR") or "data").expanduser().absolute()


def source(dataset: str | None, root: str | Path | None) -> tuple[str, Path]:
    """(dataset name, source folder), downloading or generating a named dataset if needed.

    With `root` alone the name is the folder's name. A name without `root` must
    be in DATASETS; with `root` it must be too, since it fixes the word list.
    """
    if dataset is not None and dataset not in DATASETS:
        known = ", ".join(DATASETS)
        raise HarnessError(f"unknown dataset {dataset!r}; known: {known}, or give --root PATH "
                           f"alone for any folder in the Speech Commands layout")
    if root is not None:
        path = check_root(root)
        return dataset or path.name, path
    if dataset is None:
        raise HarnessError(f"name a dataset ({', '.join(DATASETS)}) or give --root PATH")
    if dataset in SYNTH_SETS:
        return dataset, _synth_folder(data_dir() / dataset, **SYNTH_SETS[dataset])
    return dataset, download(dataset, data_dir())


def prepare(dataset: str | None = "synth_commands", root: str | Path | None = None, *,
            skip_bad: bool = False) -> Cache:
    """Download or generate if needed, check the word folders, decode once; the Cache.

    HarnessError if the folder is missing or empty, its word folders differ from
    the named dataset's, or it holds bad clips (unless `skip_bad`).
    """
    try:
        _, path = source(dataset, root)
        clips = list_clips(path)
        if dataset is not None:
            check_labels(labels_of(clips), DATASETS[dataset], path, dataset)
        return prepare_cache(path, data_dir() / "cache", skip_bad=skip_bad, clips=clips)
    except OSError as exc:  # a read-only or full data folder
        raise HarnessError(f"cannot write {exc.filename or data_dir()} ({exc.strerror}); set "
                           f"HARNESS_DATA_DIR to a writable folder with room, or free "
                           "space") from None


def load_splits(dataset: str | None = "synth_commands", root: str | Path | None = None,
                split: str = "official", split_seed: int = 0, *,
                skip_bad: bool = False) -> SplitData:
    """The train/valid/test clips of a dataset, preparing it first if needed.

    split "official": validation_list.txt / testing_list.txt (speaker-disjoint),
    zero-copy memmap slices. split "random": 60/20/20 for `split_seed`, copied
    into memory. Clips within a split are in cache-row order.
    """
    if split not in SPLITS:
        raise HarnessError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    name, path = source(dataset, root)
    cache = prepare(dataset, path, skip_bad=skip_bad)
    rows = cache.split_rows(split, split_seed)
    parts = {s: _take(cache, rows[s]) for s in SPLIT_NAMES}
    return SplitData(**parts, labels=cache.labels, dataset=name, root=path)


def _take(cache: Cache, rows: np.ndarray) -> Clips:
    """The clips at sorted `rows`: a memmap slice when they are contiguous, else a copy."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        audio = cache.audio[rows[0]:rows[-1] + 1]
    else:
        audio = cache.audio[rows]
    return Clips(audio=audio, labels=cache.label_idx[rows])


def _synth_folder(folder: Path, speakers: int | None = None) -> Path:
    """`folder` holding the offline spoken-keyword set, generated on first use.

    The generator writes `.complete` last (and renames a temp folder into
    place), so a folder without it is unfinished and generated again.
    """
    if not (folder / ".complete").is_file():
        from harness.data.synth import generate  # espeak-ng: loaded only when generating

        console.print(f"generating {folder.name} into {folder} (first use)",
                      markup=False, soft_wrap=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        generate(folder, speakers=speakers)
    return folder
