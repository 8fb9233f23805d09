"""The Free Spoken Digit Dataset (FSDD) v1.0.10 as a Speech Commands folder of real speech.

    folder = prepare(data_dir())                    # data_dir/fsdd, downloaded + converted once
    folder = prepare(data_dir(), url="file:///path/free-spoken-digit-dataset-1.0.10.tar.gz")

Source: the release archive of tag v1.0.10 of github.com/Jakobovski/free-spoken-digit-dataset
(`--url` a mirror or a file:// path). 3,000 recordings `recordings/{digit}_{speaker}_{index}
.wav`: 6 English speakers (all male) x 10 digits x 50, 8 kHz mono 16-bit, trimmed of
silence by its authors. The archive's bytes are not pinned (GitHub's compression of a tag is
not guaranteed stable); its recordings are: CONTENT_SHA256 over their sorted names and
decoded samples, and their count.

Conversion, into the Speech Commands layout (speech_commands.py):

    <word>/<speaker>_nohash_<index>.wav   16 kHz, exactly 1 s, 16-bit; <word> zero..nine, the
                                          Speech Commands words; the speaker is the clip's id
    validation_list.txt, testing_list.txt the `official` split (below)
    ATTRIBUTION.md                        source, licence (CC BY-SA 4.0), the conversion
    FSDD_README.md, FSDD_metadata.py      the release's own README and speaker metadata

- 8 kHz -> 16 kHz with torchaudio.functional.resample (its default windowed-sinc filter;
  harness.data.noise.resample_16k, in batches zero-padded after the end, which leaves every
  output sample as a call on the recording alone gives): L samples become 2L.
- Then centred in 1 s: a shorter word (all but 20 recordings; median 0.42 s, so 0.29 s of
  zeros on each side) gets equal silence before and after, a longer one (up to 2.28 s)
  loses equal parts of both ends. Centred, because the recordings are trimmed to the word:
  padded on one side only, its onset or end would sit on the window's edge, where the first
  or last spectrogram frame only half sees it and the training's time shift (+-100 ms,
  harness.training.augment) would push part of it out of the window.

Splits: `official` follows FSDD's README: recordings 0-4 of each speaker and digit are the
test set (300 clips). FSDD names no validation set; here it is the next ten percent,
recordings 5-9 (300), so train is 10-49 (2,400). All six speakers are in all three
parts: the official split is NOT speaker-disjoint (SplitData.speaker_disjoint says so).
`roles` (harness.data.speakers): fixed speakers, so that nothing tunes on the test voices:
dev = jackson, nicolas; test = george, lucas, theo, yweweler.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.console import progress
from harness.data.decode import float_to_int16
from harness.data.download import COMPLETE, fetch
from harness.data.noise import resample_16k
from harness.data.speech_commands import (
    ATTRIBUTION,
    CLIP_SAMPLES,
    HASH_DIVIDER,
    TEST_LIST,
    VALID_LIST,
    write_clip,
)
from harness.errors import HarnessError

NAME = "fsdd"
VERSION = "v1.0.10"
REPOSITORY = "https://github.com/Jakobovski/free-spoken-digit-dataset"
URL = f"{REPOSITORY}/archive/refs/tags/{VERSION}.tar.gz"
RECORDINGS = 3_000
# sha256 over the recordings sorted by file name: name (UTF-8), NUL, samples (int16 LE)
CONTENT_SHA256 = "933b9925827ff2bdebc6156b55363e4a81edf799bda57a4422b3c619e1be1258"
SOURCE_RATE = 8_000
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WORDS = tuple(sorted(DIGIT_WORDS))  # the label order: word folders sorted
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
ROLES = {"dev": ("jackson", "nicolas"), "test": ("george", "lucas", "theo", "yweweler")}
TEST_INDICES = range(0, 5)    # FSDD's README: "Recordings numbered 0-4 (inclusive) are in the test"
VALID_INDICES = range(5, 10)  # ours: FSDD names no validation set
BATCH = 200                   # recordings resampled per call
_ARCHIVE = ".archive"         # where the archive is extracted inside the hidden folder

ATTRIBUTION_TEXT = f"""\
Free Spoken Digit Dataset (FSDD) {VERSION}, converted to 16 kHz 1 s clips by the harness.
Source: {REPOSITORY} (tag {VERSION}); Zohar Jackson and the FSDD contributors, 2016.
DOI: the Zenodo DOI of the release, linked from its README: https://zenodo.org/badge/latestdoi/61622039
Licence: Creative Commons Attribution-ShareAlike 4.0 International (CC BY-SA 4.0),
https://creativecommons.org/licenses/by-sa/4.0/ ; these converted clips are an adaptation under
the same licence.
Changes: resampled 8 kHz -> 16 kHz (torchaudio.functional.resample), centred in 1 s (zero-padded
or cut equally at both ends), renamed <word>/<speaker>_nohash_<index>.wav. The release's README
and speaker metadata are kept beside this file as FSDD_README.md and FSDD_metadata.py.
"""
_HINT = ("nothing was kept. Retry when online, or give --url with a mirror of the "
         f"{VERSION} archive or a file:// path to it (free-spoken-digit-dataset-1.0.10.tar.gz)")


def prepare(data_dir: Path, url: str | None = None) -> Path:
    """data_dir/fsdd, downloaded from `url` (default: GitHub's archive of the tag; a URL or a
    local path), checked and converted unless already complete; HarnessError with one line
    on any failure."""
    if url and "://" not in url:  # a path: ../shared/data/free-spoken-digit-dataset-...
        url = Path(url).expanduser().absolute().as_uri()
    folder = data_dir / NAME
    if (folder / COMPLETE).is_file():
        return folder
    if folder.exists():
        raise HarnessError(f"{folder} exists but was not completed by `harness data prepare "
                           f"{NAME}` (no {COMPLETE}): delete it and run that again")
    fetch(url or URL, folder, NAME, into=_ARCHIVE, then=convert, hint=_HINT)
    return folder


def convert(tmp: Path) -> None:
    """Check the recordings extracted under tmp/.archive and write the layout into `tmp`."""
    recordings = read_recordings(tmp / _ARCHIVE)
    check_content(recordings)
    import torch  # loaded only to convert

    for word in DIGIT_WORDS:
        (tmp / word).mkdir()
    by_length = sorted(recordings, key=lambda n: len(recordings[n]))  # little padding per batch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batches: a thread pool costs more than it gives (2 cores)
    try:
        with progress() as bar:
            task = bar.add_task(f"converting {NAME} to 16 kHz", total=len(recordings))
            for i in range(0, len(by_length), BATCH):
                names = by_length[i:i + BATCH]
                waves = resample_16k([recordings[n] for n in names], SOURCE_RATE)
                for name, x in zip(names, waves, strict=True):
                    write_clip(tmp / clip_path(name), place(x))
                bar.advance(task, len(names))
    finally:
        torch.set_num_threads(threads)
    names = sorted(recordings)
    for list_name, indices in ((TEST_LIST, TEST_INDICES), (VALID_LIST, VALID_INDICES)):
        (tmp / list_name).write_text("".join(
            clip_path(n) + "\n" for n in names if _parse(n)[2] in indices))
    (tmp / ATTRIBUTION).write_text(ATTRIBUTION_TEXT)
    release = next((tmp / _ARCHIVE).iterdir())
    for src, dest in (("README.md", "FSDD_README.md"), ("metadata.py", "FSDD_metadata.py")):
        if (release / src).is_file():
            shutil.copyfile(release / src, tmp / dest)
    shutil.rmtree(tmp / _ARCHIVE)


def read_recordings(extracted: Path) -> dict[str, np.ndarray]:
    """{file name: (L,) int16 samples} of */recordings/*.wav, sorted by name.

    HarnessError (one line) unless there are RECORDINGS of them, each a digit_speaker_index
    name of a known speaker and an 8 kHz mono WAV.
    """
    paths = sorted(extracted.glob("*/recordings/*.wav"), key=lambda p: p.name)
    if len(paths) != RECORDINGS:
        raise HarnessError(f"the archive holds {len(paths):,} recordings in recordings/, not "
                           f"the {RECORDINGS:,} of FSDD {VERSION}: a different release or an "
                           "incomplete copy")
    out: dict[str, np.ndarray] = {}
    for path in paths:
        _parse(path.name)
        with sf.SoundFile(path) as f:
            if f.samplerate != SOURCE_RATE or f.channels != 1:
                raise HarnessError(f"recording {path.name} is {f.samplerate} Hz with "
                                   f"{f.channels} channel(s), not FSDD's {SOURCE_RATE} Hz mono")
            out[path.name] = f.read(dtype="int16")
    return out


def content_digest(recordings: dict[str, np.ndarray]) -> str:
    """SHA-256 hex of the recordings in name order: name (UTF-8), NUL, int16 LE samples."""
    digest = hashlib.sha256()
    for name in sorted(recordings):
        digest.update(name.encode() + b"\0")
        digest.update(recordings[name].astype("<i2").tobytes())
    return digest.hexdigest()


def check_content(recordings: dict[str, np.ndarray]) -> None:
    """HarnessError unless the recordings are FSDD v1.0.10's, sample for sample."""
    got = content_digest(recordings)
    if got != CONTENT_SHA256:
        raise HarnessError(f"the recordings are not those of FSDD {VERSION} (content SHA-256 "
                           f"{got[:16]}..., expected {CONTENT_SHA256[:16]}...): a different "
                           "release or a corrupt mirror")


def place(x: np.ndarray) -> np.ndarray:
    """(M,) float in [-1, 1] -> (16000,) int16, centred: zeros before and after (the extra
    sample after when odd), or the middle second kept. Sample j of `x` lands at
    j + offset(M) (negative: cut)."""
    out = np.zeros(CLIP_SAMPLES, np.int16)
    start = offset(len(x))
    if start >= 0:
        out[start:start + len(x)] = float_to_int16(x)
    else:
        out[:] = float_to_int16(x[-start:-start + CLIP_SAMPLES])
    return out


def offset(m: int) -> int:
    """Where sample 0 of an M-sample resampled recording sits in the 1 s clip."""
    return (CLIP_SAMPLES - m) // 2


def clip_path(name: str) -> str:
    """"7_jackson_32.wav" -> "seven/jackson_nohash_32.wav"."""
    digit, speaker, index = _parse(name)
    return f"{DIGIT_WORDS[digit]}/{speaker}{HASH_DIVIDER}{index}.wav"


def _parse(name: str) -> tuple[int, str, int]:
    """"7_jackson_32.wav" -> (7, "jackson", 32); HarnessError for any other name."""
    parts = name.removesuffix(".wav").split("_")
    if (len(parts) != 3 or not parts[0].isdigit() or int(parts[0]) > 9
            or parts[1] not in SPEAKERS or not parts[2].isdigit()):
        raise HarnessError(f"recording {name!r} is not named digit_speaker_index.wav with a "
                           f"speaker of FSDD {VERSION} ({', '.join(SPEAKERS)})")
    return int(parts[0]), parts[1], int(parts[2])
