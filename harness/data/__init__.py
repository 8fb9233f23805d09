"""Datasets by name or folder -> decoded, cached splits of 1 s, 16 kHz int16 clips.

    from harness.data import load_splits
    data = load_splits("synth_commands", split="official")   # generates + decodes once
    data.train.audio    # (N, 16000) int16, a read-only memmap for the official split
    data.train.labels   # (N,) int64 indices into data.labels

A dataset is a name in DATASETS (downloaded or generated into data_dir()), or any
folder in the Speech Commands layout given as `root` (then a name only fixes the
expected word list). See speech_commands.py for the layout and cache.py for the cache;
fsdd.py for the real recordings of `fsdd`, speakers.py for the splits by speaker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from harness.console import console
from harness.data import fsdd
from harness.data.background import read_noise
from harness.data.cache import Cache, prepare_cache
from harness.data.download import COMPLETE, archive_folder, download
from harness.data.speakers import fraction_rows, speaker_disjoint
from harness.data.spec import SPLITS, DataSpec
from harness.data.speech_commands import (
    CLIP_SAMPLES,
    SPLIT_NAMES,
    TEST_LIST,
    WORDS_V001,
    WORDS_V002,
    attribution,
    check_labels,
    check_root,
    labels_of,
    list_clips,
)
from harness.data.tasks import (
    DEFAULT_TASK,
    TASKS,
    Chosen,
    Part,
    check_task,
    select,
    silence_clips,
)
from harness.errors import HarnessError

__all__ = [
    "DATASETS", "SPEAKER_ROLES", "SPLITS", "SYNTHETIC", "SYNTH_SETS", "TASKS", "Cache",
    "Chosen", "Clips", "DataSpec", "SplitData", "attribution", "cache_dataset", "choose",
    "data_dir", "folder_of", "load_splits", "prepared", "source",
]

# name -> the word folders it must have (its labels, sorted)
DATASETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "speech_commands_v0.01": WORDS_V001,
    "speech_commands_v0.02": WORDS_V002,
    "synth_commands": WORDS_V001,
    "synth_commands_small": WORDS_V001,
    "synth_commands_v2": WORDS_V001,
    "synth_commands_v2_small": WORDS_V001,
    fsdd.NAME: fsdd.WORDS,
})
# The offline synthetic sets: name -> harness.data.synth.SynthConfig fields over its defaults.
# `synth_commands_small` (200 speakers, 6,000 clips) is the quick study's: an epoch is half
# as long, so a small CNN trains to early stopping within the quick study's minutes.
# `recipe` 2 is harness.data.synth_v2 (rooms, channels, a second engine: docs/synthetic.md).
SYNTH_SETS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "synth_commands": {}, "synth_commands_small": {"speakers": 200},
    "synth_commands_v2": {"recipe": 2}, "synth_commands_v2_small": {"recipe": 2, "speakers": 200}})
# name -> {"dev": speakers, "test": speakers}: tune on dev, never on test
SPEAKER_ROLES: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    fsdd.NAME: fsdd.ROLES})
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
    labels: list[str]   # sorted word folders (a task's classes, in label-index order)
    dataset: str        # e.g. "synth_commands" or the --root folder name
    root: Path          # the source folder
    noise: np.ndarray = field(  # (K, 16000) int16 1 s windows of _background_noise_; K may be 0
        default_factory=lambda: np.zeros((0, CLIP_SAMPLES), np.int16))
    task: str = DEFAULT_TASK   # the class construction (docs/tasks.md)
    test_set: str = TEST_LIST  # what the test split is: a list file, "random", or a tarball
    speaker_disjoint: bool | None = None  # no test speaker in train or valid (None: unknown)


def data_dir() -> Path:
    """Where datasets and caches live: $HARNESS_DATA_DIR, else ./data (absolute)."""
    return Path(os.environ.get("HARNESS_DATA_DIR") or "data").expanduser().absolute()


def folder_of(dataset: str) -> Path:
    """Where the named data set lives under data_dir() once prepared (nothing is fetched)."""
    if dataset in SYNTH_SETS or dataset == fsdd.NAME:
        return data_dir() / dataset
    return archive_folder(data_dir(), dataset)


def prepared(dataset: str) -> bool:
    """Whether the named data set is on this machine, complete (downloaded, converted or
    generated), so that loading it fetches nothing."""
    return (folder_of(dataset) / COMPLETE).is_file()


def source(dataset: str | None, root: str | Path | None,
           url: str | None = None) -> tuple[str, Path]:
    """(dataset name, source folder), downloading or generating a named dataset if needed.

    With `root` alone the name is the folder's name. A name without `root` must
    be in DATASETS; with `root` it must be too, since it fixes the word list.
    `url` overrides where a download comes from (harness.data.download).
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
        return dataset, _synth_folder(folder_of(dataset), **SYNTH_SETS[dataset])
    if dataset == fsdd.NAME:
        return dataset, fsdd.prepare(data_dir(), url)
    return dataset, download(dataset, data_dir(), url)


def cache_dataset(dataset: str | None = "synth_commands", root: str | Path | None = None, *,
                  skip_bad: bool = False, url: str | None = None) -> Cache:
    """The data set's decoded cache: downloaded or generated first if needed, its word
    folders checked, decoded once.

    HarnessError if the folder is missing or empty, its word folders differ from
    the named dataset's, or it holds bad clips (unless `skip_bad`).
    """
    try:
        _, path = source(dataset, root, url)
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
                skip_bad: bool = False, task: str = DEFAULT_TASK,
                folds: int | None = None, train_fraction: float = 1.0) -> SplitData:
    """The train/valid/test clips of a dataset's `task`, cached first if needed.

    The arguments are the `[data]` keys of an experiment file (harness.data.spec.DataSpec,
    whose `load()` calls this), and `skip_bad`.

    split "official": validation_list.txt / testing_list.txt (speaker-disjoint on
    Speech Commands, not on fsdd), zero-copy memmap slices. split "random": 60/20/20 for
    `split_seed`, copied into memory. "speaker_folds": the speakers in `folds` folds, fold
    `split_seed` tests and the next one validates. "roles": SPEAKER_ROLES' dev speakers
    train and validate, its test speakers test. Clips within a split are in cache-row
    order; a kws12 split then has its `_silence_` clips appended (cut from the noise,
    seeded). harness.data.tasks says which clips and labels each task takes, and which
    test set. SplitData.speaker_disjoint says whether a test speaker is also in training.
    `train_fraction` < 1 keeps that share of the training clips, drawn per speaker with
    `split_seed` (harness.data.speakers.fraction_rows: nested across fractions).
    """
    _check(split, task, folds)  # before any download or decoding
    name, path = source(dataset, root)
    cache = cache_dataset(dataset, path, skip_bad=skip_bad)
    chosen = choose(task, cache, name, split, split_seed, skip_bad=skip_bad, folds=folds,
                    train_fraction=train_fraction)
    noise = read_noise(path)
    parts = {s: _take(chosen.parts[s], noise, split_seed, s) for s in SPLIT_NAMES}
    who = {s: [p.cache.speakers[i] for i in p.rows.tolist()] for s, p in chosen.parts.items()}
    return SplitData(**parts, labels=chosen.labels, dataset=name, root=path,
                     noise=noise, task=task, test_set=chosen.test_set,
                     speaker_disjoint=speaker_disjoint(who["train"], who["valid"], who["test"]))


def choose(task: str, cache: Cache, name: str, split: str = "official", split_seed: int = 0,
           *, skip_bad: bool = False, folds: int | None = None,
           train_fraction: float = 1.0) -> Chosen:
    """harness.data.tasks.select on `cache`'s split (its training rows cut to
    `train_fraction`, per speaker), test-set caches beside the main one.

    HarnessError for an unknown split or task, `folds` without split speaker_folds, or
    split roles on a data set without SPEAKER_ROLES.
    """
    _check(split, task, folds)
    roles = SPEAKER_ROLES.get(name)
    rows = cache.split_rows(split, split_seed, folds=folds, roles=roles)
    rows["train"] = fraction_rows(cache.speakers, cache.label_idx, rows["train"],
                                  train_fraction, split_seed)
    test_set = {"speaker_folds": f"speaker fold {split_seed} of {folds}",
                "roles": f"test speakers ({', '.join(roles['test'])})" if roles else ""}
    return select(task, cache, rows, name=name, split=split, seed=split_seed,
                  cache_root=data_dir() / "cache", skip_bad=skip_bad,
                  test_set=test_set.get(split))


def _check(split: str, task: str, folds: int | None) -> None:
    if split not in SPLITS:
        raise HarnessError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    check_task(task)
    if folds is not None and split != "speaker_folds":
        raise HarnessError(f"folds = {folds} is for split speaker_folds, not {split}: set "
                           "split = \"speaker_folds\" or leave folds out")


def _take(part: Part, noise: np.ndarray, seed: int, split: str) -> Clips:
    """A part's clips: a memmap slice when its rows are contiguous, else a copy; its
    `_silence_` clips (label 0) appended after them."""
    rows, audio = part.rows, part.cache.audio
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        audio = audio[rows[0]:rows[-1] + 1]
    else:
        audio = audio[rows]
    if not part.silence:
        return Clips(audio=audio, labels=part.labels)
    silence = silence_clips(noise, part.silence, seed, split)
    labels = np.concatenate([part.labels, np.zeros(part.silence, np.int64)])
    return Clips(audio=np.concatenate([audio, silence]), labels=labels)


def _synth_folder(folder: Path, speakers: int | None = None, recipe: int = 1) -> Path:
    """`folder` holding the offline spoken-keyword set, generated on first use.

    The generator writes `.complete` last (and renames a temp folder into
    place), so a folder without it is unfinished and generated again.
    """
    if not (folder / ".complete").is_file():
        if recipe == 2:  # espeak-ng: loaded only when generating
            from harness.data.synth_v2 import generate
        else:
            from harness.data.synth import generate

        console.print(f"generating {folder.name} into {folder} (first use)",
                      markup=False, soft_wrap=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        generate(folder, speakers=speakers)
    return folder
