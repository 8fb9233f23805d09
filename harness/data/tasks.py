"""Tasks: which classes a Speech Commands folder is read as, and which clips make each split.

    chosen = select("kws12", cache, cache.split_rows("official"), name=..., split="official")
    chosen.labels           # ["_silence_", "_unknown_", "yes", "no", ...]
    chosen.parts["test"]    # Part: cache rows, their task labels, how many _silence_ to cut

words30  every word folder is a class (the reference study; v0.01 has 30 words).
kws12    the ten commands of TensorFlow's `speech_commands/train.py` (`--wanted_words`
         yes,no,up,down,left,right,on,off,stop,go) + `_silence_` + `_unknown_`, built as
         `prepare_data_index` of tensorflow/tensorflow's
         tensorflow/examples/speech_commands/input_data.py: per split, with n the
         number of keyword clips there, ceil(n * silence_percentage / 100) `_silence_` clips
         and ceil(n * unknown_percentage / 100) `_unknown_` clips drawn from the other words
         of that split (train.py defaults: silence_percentage 10, unknown_percentage 10).
         TF cuts a silence clip from a random stretch of a random `_background_noise_` file at
         volume uniform(0, 1) (`get_data`); so do we, from SplitData.noise, seeded. TF assigns
         splits by a hash of the speaker (`which_set`, 10 % validation, 10 % testing); the
         list files of the data set were made by that same hash, so the official split here
         reads them. The official test tarball (`speech_commands_test_set_v0.0N.tar.gz`,
         or its extracted folder, beside the data set folder) is the test split when present.
kws35    all 35 words of v0.02 (the 35-label task of Berg et al. 2021's KWT).

The cache stays one decoded folder: a task is a row selection plus a count of `_silence_`
clips appended at the end of each split (harness.data.load_splits cuts them). docs/tasks.md
has the construction, the counts and which published numbers used which test set.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.cache import Cache, prepare_cache
from harness.data.download import TEST_SET, extract_archive
from harness.data.speech_commands import (
    CLIP_SAMPLES,
    NOISE_FOLDER,
    SPLIT_NAMES,
    TEST_LIST,
    WORDS_V002,
)
from harness.errors import HarnessError

TASKS = ("words30", "kws12", "kws35")
DEFAULT_TASK = "words30"
SILENCE, UNKNOWN = "_silence_", "_unknown_"
# TF's train.py --wanted_words default, in its order; TF's labels are prepare_words_list's
# [SILENCE, UNKNOWN, *wanted_words] (SILENCE_INDEX 0, UNKNOWN_WORD_INDEX 1), and so are ours.
KWS12_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
KWS12_LABELS = (SILENCE, UNKNOWN, *KWS12_WORDS)
SILENCE_PERCENTAGE = 10.0  # TF train.py --silence_percentage
UNKNOWN_PERCENTAGE = 10.0  # TF train.py --unknown_percentage
TASK_SEED = 59185          # TF input_data.py RANDOM_SEED: the unknown draw does not vary by run


@dataclass(frozen=True)
class Part:
    """One split of a task: rows of `cache`, their task labels, and silence clips to add."""

    cache: Cache
    rows: np.ndarray     # (M,) sorted int64 row indices into cache.audio
    labels: np.ndarray   # (M,) int64 indices into the task's labels
    silence: int = 0     # _silence_ clips appended after the rows, cut from the noise

    def counts(self, n_labels: int) -> np.ndarray:
        """(n_labels,) clips per task label, silence (label 0 of kws12) included."""
        counts = np.bincount(self.labels, minlength=n_labels)
        counts[0] += self.silence
        return counts


@dataclass(frozen=True)
class Chosen:
    """What a task takes of a folder: its classes, each split's Part, the test set used."""

    labels: list[str]       # the task's classes, label index order
    parts: dict[str, Part]  # "train" | "valid" | "test"
    test_set: str           # "testing_list.txt", "random" or a test tarball's name


def check_task(task: str) -> str:
    if task not in TASKS:
        raise HarnessError(f"unknown task {task!r}; known: {', '.join(TASKS)} (docs/tasks.md)")
    return task


def select(task: str, cache: Cache, rows: dict[str, np.ndarray], *, name: str, split: str,
           seed: int = 0, cache_root: Path | None = None, skip_bad: bool = False,
           test_set: str | None = None) -> Chosen:
    """The task's labels and, per split, the cache rows (and silence count) that make it.

    `rows` is `cache.split_rows(split, seed)`. kws12's test split is the official test
    tarball beside the data set when present (official split only; its cache is built
    under `cache_root`, default beside the main one). `test_set` names the test split
    (default: testing_list.txt for the official split, else the split's name).
    HarnessError naming the missing words when the folder lacks the task's words.
    """
    check_task(task)
    default_test = test_set or (TEST_LIST if split == "official" else split)
    if task == "words30":
        parts = {s: Part(cache, r, cache.label_idx[r]) for s, r in rows.items()}
        return Chosen(list(cache.labels), parts, default_test)
    if task == "kws35":
        _require(cache, WORDS_V002, task, "the 35 words of speech_commands_v0.02")
        return Chosen(list(WORDS_V002), _keep(cache, rows, WORDS_V002), default_test)
    _require(cache, KWS12_WORDS, task, "the ten commands " + ", ".join(KWS12_WORDS))
    parts = _kws12(cache, rows, seed)
    test_root = test_set_folder(cache.root, name) if split == "official" else None
    if test_root is None:
        return Chosen(list(KWS12_LABELS), parts, default_test)
    parts["test"] = test_set_part(test_root, cache_root or cache.folder.parent.parent,
                                  skip_bad=skip_bad)
    return Chosen(list(KWS12_LABELS), parts, test_root.name)


def _require(cache: Cache, words: tuple[str, ...], task: str, what: str) -> None:
    missing = [w for w in words if w not in cache.labels]
    if missing:
        raise HarnessError(f"task {task} needs {what}; {cache.root} lacks {', '.join(missing)}: "
                           f"use a data set that has them or task words30")


def _keep(cache: Cache, rows: dict[str, np.ndarray], words: tuple[str, ...]) -> dict[str, Part]:
    """Rows of the given words only, labelled by their index in `words`."""
    remap = np.array([words.index(w) if w in words else -1 for w in cache.labels], np.int64)
    out = {}
    for s, r in rows.items():
        labels = remap[cache.label_idx[r]]
        out[s] = Part(cache, r[labels >= 0], labels[labels >= 0])
    return out


def _kws12(cache: Cache, rows: dict[str, np.ndarray], seed: int) -> dict[str, Part]:
    """TF's prepare_data_index on the given split: keywords, + 10 % unknown, + 10 % silence."""
    remap = np.array([KWS12_LABELS.index(w) if w in KWS12_WORDS else KWS12_LABELS.index(UNKNOWN)
                      for w in cache.labels], np.int64)
    unknown = KWS12_LABELS.index(UNKNOWN)
    out = {}
    for i, s in enumerate(SPLIT_NAMES):
        r = rows[s]
        labels = remap[cache.label_idx[r]]
        words, others = r[labels != unknown], r[labels == unknown]
        n = len(words)
        n_unknown = min(math.ceil(n * UNKNOWN_PERCENTAGE / 100), len(others))
        rng = np.random.default_rng((TASK_SEED, seed, i, 0))  # 0: the unknown draw
        picked = rng.choice(others, n_unknown, replace=False) if n_unknown else others[:0]
        keep = np.sort(np.concatenate([words, picked]))
        out[s] = Part(cache, keep, remap[cache.label_idx[keep]],
                      silence=math.ceil(n * SILENCE_PERCENTAGE / 100))
    return out


def silence_clips(noise: np.ndarray, n: int, seed: int, split: str) -> np.ndarray:
    """(n, 16000) int16: random 1 s noise windows at volume uniform(0, 1), as TF's get_data.

    `noise` is SplitData.noise ((K, 16000) int16 windows of _background_noise_ at a
    0.5 s hop); each split draws from its own seeded stream. HarnessError if K = 0.
    """
    if n == 0:
        return np.zeros((0, CLIP_SAMPLES), np.int16)
    if len(noise) == 0:
        raise HarnessError(f"task kws12 cuts its {SILENCE} clips from {NOISE_FOLDER}/*.wav "
                           f"(each at least 1 s long), and the data folder has none; add "
                           f"noise recordings there or use task words30")
    rng = np.random.default_rng((TASK_SEED, seed, SPLIT_NAMES.index(split), 1))  # 1: silence
    picks = rng.integers(0, len(noise), n)
    volume = rng.uniform(0.0, 1.0, (n, 1))
    return np.round(noise[picks] * volume).astype(np.int16)


def test_set_folder(root: Path, name: str) -> Path | None:
    """The official kws12 test set beside `root`, extracted first if only its tarball is there.

    The version (v0.01 / v0.02) comes from the data set's name, else from the folder's;
    None when neither names one or no test set lies beside it.
    """
    version = re.search(r"v0\.0[12]", name) or re.search(r"v0\.0[12]", root.name)
    if version is None:
        return None
    folder = root.parent / f"{TEST_SET}{version[0]}"
    archive = root.parent / f"{folder.name}.tar.gz"
    if not folder.is_dir() and archive.is_file():
        extract_archive(archive, folder)
    return folder if folder.is_dir() else None


def test_set_part(folder: Path, cache_root: Path, *, skip_bad: bool = False) -> Part:
    """The test tarball's clips: its 12 folders (`_silence_`, `_unknown_`, the ten words).

    Every `*/*.wav` counts (its file names need not hold `_nohash_`, and v0.02's include
    `x.wav.wav`: pytorch/audio#1012); HarnessError if a folder is not a kws12 label.
    """
    clips = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.wav"))
    clips = [c for c in clips if not c.startswith(f"{NOISE_FOLDER}/")]
    if not clips:
        raise HarnessError(f"test set {folder} holds no clips (expected {', '.join(KWS12_LABELS)}"
                           f" folders); remove it or restore it from its tarball")
    cache = prepare_cache(folder, cache_root, skip_bad=skip_bad, clips=clips)
    extra = [w for w in cache.labels if w not in KWS12_LABELS]
    if extra:
        raise HarnessError(f"test set {folder} has folders that are not kws12 labels: "
                           f"{', '.join(extra)}; it should hold {', '.join(KWS12_LABELS)}")
    remap = np.array([KWS12_LABELS.index(w) for w in cache.labels], np.int64)
    rows = np.arange(len(cache.paths), dtype=np.int64)
    return Part(cache, rows, remap[cache.label_idx])
