"""Decode every clip of a Speech Commands folder once; memory-map it ever after.

    cache_root/<folder name>-<hash of its path>/<fingerprint>/
        audio.npy    (N, 16000) int16, row i = clip i padded with zeros or cut to 1 s
        index.csv    path,label,speaker,split: one line per row; split is the clip's
                     official membership (train | valid | test, empty without lists)
        meta.json    labels, fingerprint, official-split error, skipped clips; written last

Rows are ordered official train (sorted), valid, test (list-file order), so the
official split is three contiguous, zero-copy slices of the memmap. The
fingerprint covers the relative path, size and mtime of every clip and list
file: change one and the next `prepare_cache` decodes again. A cache is built in
a hidden temporary folder and renamed into place, so a killed build never
leaves a folder that loads.

The decoding itself (WAV -> int16 rows) is harness/data/decode.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.console import console
from harness.data.decode import decode_all
from harness.data.speakers import fold_rows, role_rows
from harness.data.speech_commands import (
    CLIP_SAMPLES,
    SPLIT_NAMES,
    TEST_LIST,
    VALID_LIST,
    label_of,
    labels_of,
    list_clips,
    official_split,
    random_split_indices,
    speaker_of,
)
from harness.data.staging import TEMP, stale_temp, temp_name
from harness.disk import full_disk
from harness.errors import HarnessError

# 2: float WAVs scaled and clipped by decode.float_to_int16 (caches decoded by 1 are rebuilt)
CACHE_VERSION = 2
SHOW_BAD = 5  # bad clips named in an error message; the rest are counted
ROOM_FIX = ("free space there, or set HARNESS_DATA_DIR to a folder with room; then run "
            "again: nothing of this attempt is left")


@dataclass(frozen=True)
class Cache:
    """One decoded folder. Row i of every field is the same clip."""

    folder: Path              # the cache folder holding audio.npy
    root: Path                # the source folder
    labels: list[str]         # sorted word folders: label index -> word
    paths: list[str]          # (N,) "WORD/SPEAKER_nohash_K.wav", relative to root
    speakers: list[str]       # (N,)
    official: np.ndarray      # (N,) str: official split membership, "" without lists
    label_idx: np.ndarray     # (N,) int64 indices into labels
    audio: np.ndarray         # (N, 16000) int16, a read-only memmap
    skipped: list[list[str]]  # [path, reason] of each clip left out as bad
    official_error: str | None  # why the official split cannot be used, if so

    def split_rows(self, split: str, seed: int = 0, *, folds: int | None = None,
                   roles: Mapping[str, Sequence[str]] | None = None) -> dict[str, np.ndarray]:
        """{"train", "valid", "test"} -> sorted int64 row indices of that split.

        official: the list files (HarnessError if missing or broken). random:
        60/20/20 of the clips in sorted-path order, so it does not depend on the
        list files or the row order. speaker_folds: fold `seed` of `folds` tests;
        roles: the data set's fixed speaker `roles` (harness.data.speakers).
        """
        if split in ("official", "roles") and self.official_error:
            raise HarnessError(self.official_error)
        if split == "official":
            return {s: np.flatnonzero(self.official == s) for s in SPLIT_NAMES}
        if split == "random":
            order = np.argsort(np.asarray(self.paths, dtype=str), kind="stable")
            parts = random_split_indices(len(order), seed)
            return {s: np.sort(order[idx]) for s, idx in parts.items()}
        if split == "speaker_folds":
            if folds is None:
                raise HarnessError("split speaker_folds needs folds = K, the number of speaker "
                                   "folds (3 or more)")
            return fold_rows(self.speakers, folds, seed)
        if split == "roles":
            if roles is None:
                raise HarnessError("split roles needs a data set with fixed speaker roles "
                                   "(fsdd: dev and test speakers)")
            return role_rows(self.speakers, self.official, roles)
        raise HarnessError(f"unknown split {split!r}; known: official, random, speaker_folds, "
                           "roles")


def prepare_cache(root: Path, cache_root: Path, *, skip_bad: bool = False,
                  clips: list[str] | None = None) -> Cache:
    """The cache of `root`, decoding it first unless an up-to-date one exists.

    `clips` is `list_clips(root)` when the caller already has it. Bad clips
    (unreadable, truncated, not 16 kHz, not mono) raise HarnessError naming
    them, unless `skip_bad`, which leaves them out and says how many. The cache
    is written either way, so a rerun with skip_bad does not decode again.
    """
    clips = list_clips(root) if clips is None else clips
    key_dir = cache_root / cache_key(root)
    folder = key_dir / fingerprint(root, clips)
    cache = load_cache(folder)
    if cache is None:  # none yet, or damaged (deleted audio.npy, ...): decode
        cache = _build(root, clips, folder)
        _clean(key_dir, keep=folder)
    if cache.skipped:
        if not skip_bad:
            raise HarnessError(_bad_message(root, cache.skipped, len(clips)))
        console.print(f"skipped {len(cache.skipped)} bad clip(s) of {len(clips)} in {root} "
                      f"(listed in {folder / 'meta.json'})",
                      style="yellow", markup=False, soft_wrap=True)
    if not cache.paths:
        raise HarnessError(f"no readable clips in {root}: all {len(clips)} are bad")
    return cache


def cache_key(root: Path) -> str:
    """A folder name for `root`: its name (readable) plus a hash of its full path (unique)."""
    path = str(root.resolve())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", root.resolve().name)[:40] or "root"
    return f"{slug}-{hashlib.sha256(path.encode()).hexdigest()[:12]}"


def fingerprint(root: Path, clips: list[str]) -> str:
    """Hash of (relative path, size, mtime) of every clip and list file; 20 hex digits."""
    digest = hashlib.sha256(f"harness cache v{CACHE_VERSION}\n".encode())
    base = str(root)
    for rel in (*clips, VALID_LIST, TEST_LIST):
        try:
            st = os.stat(os.path.join(base, rel))
            digest.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{rel}\tmissing\n".encode())
    return digest.hexdigest()[:20]


def load_cache(folder: Path) -> Cache | None:
    """The cache in `folder`, or None if it is absent, incomplete or of another version."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("version") != CACHE_VERSION:
            return None
        with open(folder / "index.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
        n = int(meta["n"])
        if n == 0:  # an empty file cannot be memory-mapped
            audio = np.zeros((0, CLIP_SAMPLES), np.int16)
        else:
            audio = np.load(folder / "audio.npy", mmap_mode="r")
        if len(rows) != n or audio.shape != (n, CLIP_SAMPLES) or audio.dtype != np.int16:
            return None
        index = {word: i for i, word in enumerate(meta["labels"])}
        return Cache(
            folder=folder, root=Path(meta["root"]), labels=list(meta["labels"]),
            paths=[r[0] for r in rows], speakers=[r[2] for r in rows],
            official=np.asarray([r[3] for r in rows], dtype=str),
            label_idx=np.asarray([index[r[1]] for r in rows], dtype=np.int64),
            audio=audio, skipped=meta["skipped"], official_error=meta["official_error"],
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _build(root: Path, clips: list[str], folder: Path) -> Cache:
    """Decode `clips` into a temporary folder, then rename it to `folder`."""
    try:
        split = official_split(root, clips)
        order = [c for s in SPLIT_NAMES for c in split[s]]
        member = {c: s for s in SPLIT_NAMES for c in split[s]}
        official_error = None
    except HarnessError as exc:  # only the official split is lost; random still works
        order, member, official_error = clips, {}, str(exc)

    tmp = folder.parent / temp_name()
    need = len(order) * CLIP_SAMPLES * 2  # audio.npy; the index and meta are small
    # a full disk: one line, measured after the temp folder (all that was written) is gone
    with full_disk(f"the decoded cache of {root} ({len(order)} clips)", folder.parent,
                   ROOM_FIX, need):
        tmp.mkdir(parents=True)
        try:
            good, skipped = decode_all(root, order, tmp / "audio.npy")
            with open(tmp / "index.csv", "w", newline="", encoding="utf-8") as f:
                out = csv.writer(f)
                out.writerow(["path", "label", "speaker", "split"])
                out.writerows([c, label_of(c), speaker_of(c), member.get(c, "")] for c in good)
            meta = {"version": CACHE_VERSION, "root": str(root), "fingerprint": folder.name,
                    "n": len(good), "labels": labels_of(clips),
                    "official_error": official_error, "skipped": skipped}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            cache = load_cache(tmp)  # memmaps follow the rename: the inode stays the same
            assert cache is not None, f"cache just written to {tmp} does not load"
            _install(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return replace(cache, folder=folder)


def _install(tmp: Path, folder: Path) -> None:
    """Rename the finished `tmp` to `folder` unless another process got there first.

    A `folder` that does not load (damaged by hand) is renamed aside, which
    _clean removes; a rename never lets a reader see a half-made folder.
    """
    try:
        os.replace(tmp, folder)
    except OSError:  # exists and is not empty
        if load_cache(folder) is not None:
            return  # another process finished the same cache first: use theirs
        os.replace(folder, folder.with_name(f".old-{secrets.token_hex(4)}"))
        os.replace(tmp, folder)


def _clean(key_dir: Path, keep: Path) -> None:
    """Remove older caches of the same folder and temp folders of dead processes here."""
    for path in key_dir.iterdir():
        if path != keep and (not path.name.startswith(TEMP) or stale_temp(path.name)):
            shutil.rmtree(path, ignore_errors=True)


def _bad_message(root: Path, skipped: list[list[str]], total: int) -> str:
    shown = "; ".join(f"{path}: {why}" for path, why in skipped[:SHOW_BAD])
    more = f" and {len(skipped) - SHOW_BAD} more" if len(skipped) > SHOW_BAD else ""
    return (f"{len(skipped)} bad clip(s) of {total} in {root}: {shown}{more}. Fix or delete "
            f"them, or pass --skip-bad (skip_bad=True) to leave them out")
