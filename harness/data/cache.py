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
import soundfile as sf

from harness.console import console, progress
from harness.data.speakers import fold_rows, role_rows
from harness.data.speech_commands import (
    CLIP_SAMPLES,
    SAMPLE_RATE,
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
from harness.data.staging import TEMP, reserve, stale_temp, temp_name
from harness.errors import HarnessError

CACHE_VERSION = 2  # 2: float WAVs scaled and clipped here (caches decoded by 1 are rebuilt)
SHOW_BAD = 5  # bad clips named in an error message; the rest are counted


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


FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # soundfile's names of IEEE float sample formats


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] -> int16: round(32768 x), clipped (not wrapped) beyond +-1."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def decode_clip(path: str, out: np.ndarray) -> str | None:
    """Decode the WAV at `path` into `out` ((16000,) int16, zero-padded or cut); None or why not.

    Integer PCM is read at most one second straight into `out` as int16 (libsndfile
    converts, no float round trip). Float and double WAVs are read as float and scaled
    here: libsndfile's own float -> int16 conversion rescales by the file's peak and wraps
    samples beyond +-1.0 (a sample of 1.5 came back as 2), so a float copy of a 16-bit clip
    decoded to other values. Here x -> round(32768 x) clipped to [-32768, 32767], the
    inverse of reading int16 as float (x / 32768), exact for a float copy of int16 audio.
    libsndfile quietly shortens a truncated file to the bytes present and only says so in
    its log ("data : 32000 (should be 19956)").
    """
    try:
        with sf.SoundFile(path) as f:
            if f.samplerate != SAMPLE_RATE:
                return f"sample rate {f.samplerate} Hz, expected {SAMPLE_RATE} (resample it)"
            if f.channels != 1:
                return f"{f.channels} channels, expected mono (mix it down)"
            if f.frames == 0:
                return "no samples"
            said = re.search(r"^data : (\d+) \(should be (\d+)\)", f.extra_info, re.MULTILINE)
            if said and int(said[1]) > int(said[2]):
                return f"truncated: {said[2]} of {said[1]} data bytes present"
            if f.subtype in FLOAT_SUBTYPES:
                x = f.read(frames=CLIP_SAMPLES, dtype="float64", fill_value=0.0)
                out[:] = 0
                out[:len(x)] = float_to_int16(x)
            else:
                f.read(frames=CLIP_SAMPLES, out=out, fill_value=0)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return f"unreadable ({exc})"
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
    tmp.mkdir(parents=True)
    try:
        good, skipped = _decode_all(root, order, tmp / "audio.npy")
        with open(tmp / "index.csv", "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["path", "label", "speaker", "split"])
            out.writerows([c, label_of(c), speaker_of(c), member.get(c, "")] for c in good)
        meta = {"version": CACHE_VERSION, "root": str(root), "fingerprint": folder.name,
                "n": len(good), "labels": labels_of(clips), "official_error": official_error,
                "skipped": skipped}
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


def _decode_all(root: Path, clips: list[str], dest: Path) -> tuple[list[str], list[list[str]]]:
    """Decode `clips` into dest ((N, 16000) int16 .npy); (decoded clips, [[bad clip, why]])."""
    audio = np.lib.format.open_memmap(dest, mode="w+", dtype=np.int16,
                                      shape=(len(clips), CLIP_SAMPLES))
    reserve(dest)  # a full disk: ENOSPC now, not SIGBUS on a page written later
    bad_rows: list[int] = []
    skipped: list[list[str]] = []
    base = str(root)
    with progress() as bar:
        task = bar.add_task(f"decoding {root.name}", total=len(clips))
        for i, clip in enumerate(clips):
            why = decode_clip(os.path.join(base, clip), audio[i])
            if why is not None:
                bad_rows.append(i)
                skipped.append([clip, why])
            bar.advance(task)
    if bad_rows:  # rare: rewrite without the bad rows, in chunks to bound memory
        keep = np.setdiff1d(np.arange(len(clips)), bad_rows)
        part = dest.with_suffix(".part")
        kept = np.lib.format.open_memmap(part, mode="w+", dtype=np.int16,
                                         shape=(len(keep), CLIP_SAMPLES))
        reserve(part)
        for start in range(0, len(keep), 4096):
            kept[start:start + 4096] = audio[keep[start:start + 4096]]
        kept.flush()
        del audio, kept
        os.replace(part, dest)
        return [clips[i] for i in keep], skipped
    audio.flush()
    return clips, skipped


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
