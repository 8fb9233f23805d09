"""The _background_noise_ windows every noise mix draws from (harness/data/background.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.data import load_splits
from harness.data.background import read_noise
from harness.errors import HarnessError


def test_windows_cover_each_recording_at_half_second_hops(speech_commands: Path) -> None:
    # make_speech_commands writes a 2 s and a 1 s recording: 3 + 1 full windows
    noise = read_noise(speech_commands)
    assert noise.shape == (4, 16_000) and noise.dtype == np.int16
    hum, white = (sf.read(speech_commands / "_background_noise_" / f, dtype="int16")[0]
                  for f in ("hum_nohash_0.wav", "white_noise.wav"))
    np.testing.assert_array_equal(noise[0], hum)  # files in sorted order
    np.testing.assert_array_equal(noise[1:], np.stack([white[s:s + 16_000]
                                                       for s in (0, 8_000, 16_000)]))
    data = load_splits(None, root=speech_commands)
    np.testing.assert_array_equal(data.noise, noise)
    assert (data.task, data.test_set) == ("words30", "testing_list.txt")


def test_float_recording_scales_like_clips_and_a_bad_rate_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "_background_noise_"
    folder.mkdir()
    x = np.linspace(-1.5, 1.5, 16_000)
    sf.write(folder / "f.wav", x, 16_000, subtype="FLOAT")
    noise = read_noise(tmp_path)
    assert noise[0, 0] == -32768 and noise[0, -1] == 32767  # clipped, not wrapped
    assert read_noise(tmp_path / "nowhere").shape == (0, 16_000)
    sf.write(folder / "g.wav", x, 8_000, subtype="PCM_16")
    with pytest.raises(HarnessError, match=r"g\.wav is 8000 Hz"):
        read_noise(tmp_path)
