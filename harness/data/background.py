"""The `_background_noise_` recordings of a Speech Commands folder, as 1 s windows.

    noise = read_noise(root)    # (K, 16000) int16; K = 0 when the folder has none

Noise mixing (training augmentation, the robustness evaluation) and the `_silence_`
class of the kws12 task draw from these windows. TensorFlow's
`speech_commands/input_data.py` (tensorflow/tensorflow, tensorflow/examples/speech_commands)
and Honk (castorini/honk, utils/model.py) take a random 1 s stretch of a random noise
file; windows at a half-second hop give the same variety as one tensor on the device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from harness.data.decode import FLOAT_SUBTYPES, float_to_int16
from harness.data.speech_commands import CLIP_SAMPLES, NOISE_FOLDER, SAMPLE_RATE
from harness.errors import HarnessError

NOISE_HOP = CLIP_SAMPLES // 2  # samples between window starts: 0.5 s


def noise_files(root: Path) -> list[Path]:
    """The noise recordings under `root`/_background_noise_, sorted; [] without the folder."""
    folder = Path(root) / NOISE_FOLDER
    return sorted(folder.glob("*.wav")) if folder.is_dir() else []


def read_recording(path: Path) -> np.ndarray:
    """A whole mono 16 kHz WAV as (L,) int16; HarnessError naming the file if it is not one.

    Float WAVs scale as x -> round(32768 x), clipped, the same rule as the clip cache.
    """
    try:
        with sf.SoundFile(path) as f:
            if f.samplerate != SAMPLE_RATE or f.channels != 1:
                raise HarnessError(
                    f"noise recording {path} is {f.samplerate} Hz with {f.channels} channel(s); "
                    f"expected mono {SAMPLE_RATE} Hz: convert it or remove it from {path.parent}")
            if f.subtype in FLOAT_SUBTYPES:
                return float_to_int16(f.read(dtype="float64"))
            return f.read(dtype="int16")
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise HarnessError(f"noise recording {path} is unreadable ({exc}); replace or remove "
                           f"it from {path.parent}") from exc


def windows(recording: np.ndarray, hop: int = NOISE_HOP) -> np.ndarray:
    """(L,) -> (K, 16000): the full 1 s windows starting every `hop` samples (K = 0 if L < 1 s)."""
    if len(recording) < CLIP_SAMPLES:
        return np.zeros((0, CLIP_SAMPLES), recording.dtype)
    starts = np.arange(0, len(recording) - CLIP_SAMPLES + 1, hop)
    return np.stack([recording[s:s + CLIP_SAMPLES] for s in starts])


def read_noise(root: Path) -> np.ndarray:
    """(K, 16000) int16: every noise recording of `root` cut into 1 s windows, file by file."""
    parts = [windows(read_recording(p)) for p in noise_files(root)]
    if not parts:
        return np.zeros((0, CLIP_SAMPLES), np.int16)
    return np.concatenate(parts)
