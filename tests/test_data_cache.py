"""The decoded cache: equal to a direct soundfile decode, reused, rebuilt, never half-written."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.data import cache_dataset, load_splits
from harness.data.cache import fingerprint, load_cache
from harness.data.speech_commands import list_clips, official_split

REPO = Path(__file__).resolve().parents[1]


def decode(path: Path) -> np.ndarray:
    """The reference: soundfile's int16 samples, zero-padded or cut to 16,000."""
    raw, sr = sf.read(path, dtype="int16")
    assert sr == 16_000 and raw.ndim == 1
    out = np.zeros(16_000, np.int16)
    out[:min(len(raw), 16_000)] = raw[:16_000]
    return out


def test_cached_clips_equal_soundfile(speech_commands: Path, harness_data_dir: Path) -> None:
    cache = cache_dataset(None, speech_commands)
    assert cache.folder.is_relative_to(harness_data_dir / "cache")
    lengths = {sf.info(speech_commands / p).frames for p in cache.paths}
    assert min(lengths) < 16_000 < max(lengths) and 16_000 in lengths  # pad, cut and exact
    assert len(cache.paths) == 48
    for row, rel in enumerate(cache.paths):
        assert np.array_equal(cache.audio[row], decode(speech_commands / rel)), rel
        assert cache.labels[cache.label_idx[row]] == rel.split("/")[0]


def test_split_audio_matches_its_clips(speech_commands: Path) -> None:
    data = load_splits(None, root=speech_commands)
    parts = official_split(speech_commands)
    for clips, names in ((data.train, parts["train"]), (data.valid, parts["valid"]),
                         (data.test, parts["test"])):
        expected = np.stack([decode(speech_commands / n) for n in names])
        assert np.array_equal(clips.audio, expected)
        assert [data.labels[i] for i in clips.labels] == [n.split("/")[0] for n in names]


def test_cache_reused_while_unchanged(speech_commands: Path) -> None:
    first = cache_dataset(None, speech_commands)
    stat = os.stat(first.folder / "audio.npy")
    second = cache_dataset(None, speech_commands)
    assert second.folder == first.folder
    again = os.stat(second.folder / "audio.npy")
    assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_cache_rebuilt_when_a_clip_changes(speech_commands: Path) -> None:
    first = cache_dataset(None, speech_commands)
    rel = first.paths[0]
    sf.write(speech_commands / rel, np.full(9_000, 0.25, np.float32), 16_000, subtype="PCM_16")
    second = cache_dataset(None, speech_commands)
    assert second.folder != first.folder and not first.folder.exists()  # old cache removed
    row = second.paths.index(rel)
    assert np.array_equal(second.audio[row], decode(speech_commands / rel))
    assert second.audio[row, 8_999] == 8192 and second.audio[row, 9_000] == 0


def test_cache_rebuilt_when_a_list_changes(speech_commands: Path) -> None:
    first = cache_dataset(None, speech_commands)
    valid = speech_commands / "validation_list.txt"
    lines = valid.read_text().splitlines()
    valid.write_text("".join(f"{ln}\n" for ln in lines[1:]))  # first clip back to training
    second = cache_dataset(None, speech_commands)
    assert second.folder != first.folder
    rows = second.split_rows("official")
    assert lines[0] in [second.paths[r] for r in rows["train"]]
    assert len(rows["valid"]) == len(lines) - 1


def test_damaged_cache_is_rebuilt(speech_commands: Path) -> None:
    first = cache_dataset(None, speech_commands)
    (first.folder / "audio.npy").write_bytes(b"\x93NUMPY garbage")
    assert load_cache(first.folder) is None
    second = cache_dataset(None, speech_commands)
    assert second.folder == first.folder and second.audio.shape == (48, 16_000)
    assert list(first.folder.parent.iterdir()) == [first.folder]  # the damaged one is gone


def test_interrupted_build_never_loads(speech_commands: Path, harness_data_dir: Path) -> None:
    # A FIFO named like a clip: opening it blocks, so the build stops midway for certain.
    fifo = speech_commands / "yes" / "zzzzzzzz_nohash_0.wav"
    os.mkfifo(fifo)
    code = f"from harness.data import cache_dataset; cache_dataset(None, {str(speech_commands)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not list(harness_data_dir.glob("cache/*/.tmp-*/audio.npy")):
            assert proc.poll() is None, "cache_dataset ended instead of blocking on the FIFO"
            assert time.monotonic() < deadline, "cache_dataset never started decoding"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    (key_dir,) = (harness_data_dir / "cache").iterdir()
    (tmp,) = key_dir.iterdir()  # only the temporary folder: nothing was renamed into place
    assert tmp.name.startswith(".tmp-")
    assert load_cache(key_dir / fingerprint(speech_commands, list_clips(speech_commands))) is None
    assert load_cache(tmp) is None

    fifo.unlink()
    cache = cache_dataset(None, speech_commands)  # builds anew and removes the dead temp folder
    assert [p.name for p in key_dir.iterdir()] == [cache.folder.name]
    assert cache.audio.shape == (48, 16_000)
