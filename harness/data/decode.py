"""Decode WAV clips to int16 samples: one clip into a row, a folder's clips into a .npy.

Every clip becomes (16000,) int16: one second at 16 kHz, zero-padded or cut. What these
return is what a cache holds (harness/data/cache.py): a change to it must bump
cache.CACHE_VERSION so old caches are decoded again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.console import progress
from harness.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE
from harness.data.staging import reserve

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



def decode_all(root: Path, clips: list[str], dest: Path) -> tuple[list[str], list[list[str]]]:
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
