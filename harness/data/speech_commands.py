"""The Speech Commands folder format: word lists, listing, splits (download.py downloads).

    ROOT/
      WORD/SPEAKER_nohash_N.wav     one 1 s, 16 kHz, mono clip; WORD is its label
      _background_noise_/*.wav      noise recordings, never a class
      validation_list.txt           WORD/SPEAKER_nohash_N.wav per line
      testing_list.txt
      ATTRIBUTION.md                optional: the clips' source and licence (`attribution`)

Clips are named by their path relative to ROOT with "/" separators. Listing and
the `official` split reproduce `torchaudio.datasets.SPEECHCOMMANDS` clip for
clip, in its order, so results compare with code built on torchaudio.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.errors import HarnessError

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000

# Speech Commands v0.01: 30 words (64,727 clips). v0.02 adds five more (35).
WORDS_V001: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy",
    "house", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "wow", "yes", "zero",
)
WORDS_V002: tuple[str, ...] = tuple(
    sorted((*WORDS_V001, "backward", "follow", "forward", "learn", "visual"))
)

HASH_DIVIDER = "_nohash_"
NOISE_FOLDER = "_background_noise_"
VALID_LIST = "validation_list.txt"
TEST_LIST = "testing_list.txt"
ATTRIBUTION = "ATTRIBUTION.md"
SPLIT_NAMES = ("train", "valid", "test")
RANDOM_FRACTIONS = (0.6, 0.2, 0.2)  # the reference study's train/valid/test shares

LAYOUT_HINT = "expected the Speech Commands layout WORD/SPEAKER_nohash_N.wav"


def check_root(root: str | Path) -> Path:
    """`root` as an absolute Path; HarnessError if it is missing or not a folder."""
    path = Path(root).expanduser().absolute()
    if not path.exists():
        raise HarnessError(f"data folder {path} does not exist; give an existing folder "
                           f"({LAYOUT_HINT})")
    if not path.is_dir():
        raise HarnessError(f"data folder {path} is not a folder; {LAYOUT_HINT}")
    return path


def list_clips(root: str | Path) -> list[str]:
    """Every clip under `root` as sorted relative paths "WORD/SPEAKER_nohash_N.wav".

    The same walk as torchaudio's SPEECHCOMMANDS: `*/*.wav` one level deep,
    kept when the path holds "_nohash_" and not "_background_noise_". (torchaudio
    tests the absolute path; we test the relative one, so a root whose own name
    holds either marker does not change the answer.) HarnessError if none.
    """
    path = check_root(root)
    clips = sorted(p.relative_to(path).as_posix() for p in path.glob("*/*.wav"))
    clips = [c for c in clips if HASH_DIVIDER in c and NOISE_FOLDER not in c]
    if not clips:
        raise HarnessError(f"no clips in {path}: {LAYOUT_HINT} (one folder per word); "
                           f"check the path given with --root")
    check_word_folders(path, {label_of(c) for c in clips})
    return clips


def check_word_folders(root: Path, labels: set[str]) -> None:
    """HarnessError for a word folder the walk would drop without a word: one it cannot
    read (permissions, a broken link) or one holding no clips; either loses a class.

    Folders named "_..." (the noise recordings) or "." (hidden) are not word folders.
    """
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(("_", ".")) or entry.name in labels:
            continue
        if entry.is_symlink() and not entry.exists():
            raise HarnessError(f"word folder {entry} is a broken link (to {os.readlink(entry)}); "
                               "restore its target or remove the link")
        if not entry.is_dir():
            continue
        try:
            os.listdir(entry)
        except OSError as exc:
            raise HarnessError(f"word folder {entry} cannot be read ({exc.strerror}); "
                               "fix its permissions, or move it out of the data folder") from None
        raise HarnessError(f"word folder {entry} holds no clips ({LAYOUT_HINT}), so the data "
                           f"set would lose the class {entry.name!r}: add its clips or remove "
                           "the folder")


def label_of(clip: str) -> str:
    """"yes/0a7c2a8d_nohash_0.wav" -> "yes"."""
    return clip.split("/", 1)[0]


def speaker_of(clip: str) -> str:
    """"yes/0a7c2a8d_nohash_0.wav" -> "0a7c2a8d"."""
    return clip.rsplit("/", 1)[-1].split(HASH_DIVIDER, 1)[0]


def labels_of(clips: Sequence[str]) -> list[str]:
    """The word folders holding clips, sorted: the class order (label index)."""
    return sorted({label_of(c) for c in clips})


def check_labels(labels: Sequence[str], expected: Sequence[str], root: Path, dataset: str) -> None:
    """HarnessError unless the word folders of `root` are exactly the words of `dataset`."""
    missing = sorted(set(expected) - set(labels))
    extra = sorted(set(labels) - set(expected))
    if missing or extra:
        parts = [f"missing {', '.join(missing)}" if missing else "",
                 f"unexpected {', '.join(extra)}" if extra else ""]
        raise HarnessError(
            f"the word folders of {root} do not match {dataset} ({len(expected)} words): "
            f"{'; '.join(p for p in parts if p)}. Give --root alone to take the labels "
            f"from the folders, or name the dataset that matches them"
        )


def attribution(root: str | Path) -> str | None:
    """The text of `root`'s ATTRIBUTION.md (source, licence, changes), None without one."""
    try:
        return (Path(root) / ATTRIBUTION).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_clip(path: Path, samples: np.ndarray) -> None:
    """(T,) int16 -> a 16 kHz mono PCM_16 WAV at `path`. Encoded in memory: soundfile's
    close() on a real file fsyncs, which made writing thousands of clips take longer than
    making them (3,000 FSDD clips: 16 s against 1 s)."""
    buf = io.BytesIO()
    sf.write(buf, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    path.write_bytes(buf.getbuffer())


def read_list(root: Path, name: str) -> list[str]:
    """The clips named by list file `name`, in file order, as normalised relative paths.

    Like torchaudio, each line is stripped and normalised ("./yes//a.wav" ->
    "yes/a.wav"); blank lines are skipped (torchaudio would turn them into ROOT).
    """
    path = root / name
    if not path.is_file():
        raise HarnessError(f"{path} is missing: the official split needs {VALID_LIST} and "
                           f"{TEST_LIST} in the data folder; use --split random instead")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise HarnessError(f"{path} cannot be read ({why}); restore the list file, or use "
                           "--split random") from None
    return [Path(os.path.normpath(line)).as_posix() for line in lines if line]


def official_split(root: str | Path, clips: Sequence[str] | None = None) -> dict[str, list[str]]:
    """{"train", "valid", "test"} -> clips, equal as lists to torchaudio's subsets.

    valid = validation_list.txt and test = testing_list.txt in file order; train =
    every other clip in sorted order. HarnessError if a list is missing, names a
    clip that is not in the folder, or names a clip twice (in one list or both).
    """
    path = check_root(root)
    clips = list_clips(path) if clips is None else list(clips)
    known = set(clips)
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {}
    for split, name in (("valid", VALID_LIST), ("test", TEST_LIST)):
        listed = read_list(path, name)
        for clip in listed:
            if clip not in known:
                raise HarnessError(f"{path / name} names {clip}, which is not a clip in {path}; "
                                   f"remove the line or restore the file")
            if clip in seen:
                raise HarnessError(f"{clip} is listed twice (in {seen[clip]} and {name}) under "
                                   f"{path}; a clip belongs to one split, remove one line")
            seen[clip] = name
        out[split] = listed
    out["train"] = [c for c in clips if c not in seen]
    return {s: out[s] for s in SPLIT_NAMES}


def random_split_indices(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """{"train", "valid", "test"} -> sorted int64 indices into range(n), 60/20/20.

    A seeded permutation (numpy PCG64), so the same n and seed give the same
    split on every machine; the three parts are disjoint and cover range(n). The sizes
    are the reference study's: R's `sample(x, size = 0.6 * n)` truncates, so train is
    floor(0.6 n), valid floor(0.2 n) and test the rest (v0.01: 38,836 / 12,945 / 12,946;
    docs/replication.md).
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(n * RANDOM_FRACTIONS[0])
    n_valid = int(n * RANDOM_FRACTIONS[1])
    parts = (perm[:n_train], perm[n_train:n_train + n_valid], perm[n_train + n_valid:])
    return {s: np.sort(p).astype(np.int64) for s, p in zip(SPLIT_NAMES, parts, strict=True)}


def random_split(clips: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """{"train", "valid", "test"} -> clips: the random 60/20/20 split (of the sorted clips)."""
    ordered = sorted(clips)
    parts = random_split_indices(len(ordered), seed)
    return {s: [ordered[i] for i in idx] for s, idx in parts.items()}
