"""synth_commands_v2 (harness.data.synth_v2), generated for real at a tiny size."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_synth import clips, digest

from harness.cli import main
from harness.data import pico
from harness.data.speech_commands import CLIP_SAMPLES, WORDS_V001
from harness.data.synth import MARKER
from harness.data.synth_v2 import RealConfig, generate
from harness.errors import HarnessError

# 3 speakers x 30 words, 2 s noises, every recording step on (Pico where installed).
TINY = RealConfig(speakers=3, noise_seconds=2.0, babble_streams=2, room_share=0.5,
                  band_weights=(1.0, 1.0, 1.0, 1.0), eq_db=6.0, codec_share=0.3,
                  clip_share=0.3, speed=(0.85, 1.1), extra_noises=True, centre_sd=0.1,
                  pico_share=0.5 if pico.available() else 0.0)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synth_v2")
    return {"a": generate(base / "a", config=TINY), "b": generate(base / "b", config=TINY),
            "dry": generate(base / "dry", config=replace(TINY, room_share=0.0))}


def test_layout_marker_and_clips(sets: dict[str, Path]) -> None:
    root = sets["a"]
    assert len(clips(root)) == 3 * len(WORDS_V001)
    meta = json.loads((root / MARKER).read_text())
    assert meta["version"] == 2 and meta["config"]["room_share"] == 0.5
    assert {s["engine"] for s in meta["speakers"]} <= {"espeak-ng", "pico"}
    assert all(0.85 <= s["speed"] <= 1.1 for s in meta["speakers"])
    assert {p.stem for p in (root / "_background_noise_").glob("*.wav")} >= {"street",
                                                                              "room_tone"}
    for rel in clips(root)[:10]:
        x, sr = sf.read(root / rel, dtype="int16")
        assert sr == 16000 and x.shape == (CLIP_SAMPLES,) and np.abs(x).max() > 300


def test_deterministic_and_steps_independent(sets: dict[str, Path]) -> None:
    assert digest(sets["a"]) == digest(sets["b"])
    a, dry = digest(sets["a"]), digest(sets["dry"])
    changed = [k for k in a if a[k] != dry.get(k)]
    # Without rooms only the reverberant clips change: the other draws are keyed apart.
    assert 0 < len(changed) < len(clips(sets["a"]))
    assert a["_background_noise_/street.wav"] == dry["_background_noise_/street.wav"]


def test_cli_recipe_2_and_bad_knobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "synth", str(tmp_path / "x"), "--recipe", "2", "--speakers", "3",
                 "--set", "noise_seconds=2.0", "--set", "babble_streams=1",
                 "--set", "band_weights=[0, 0, 1, 0]"]) == 0
    assert "wrote 90 clips" in capsys.readouterr().err
    assert main(["data", "synth", str(tmp_path / "y"), "--recipe", "2",
                 "--set", "rooms=1"]) == 2
    assert "--set rooms: not a synth_commands_v2 knob" in capsys.readouterr().err
    assert main(["data", "synth", str(tmp_path / "y"), "--set", "room_share=1"]) == 2
    with pytest.raises(HarnessError, match="out of range"):
        generate(tmp_path / "z", config=replace(TINY, band_weights=(1.0, 0.0)))


@pytest.mark.skipif(not pico.available(), reason="py-nanotts is not installed")
def test_pico_speaks_repeatably_after_a_dirty_heap() -> None:
    from harness.training.device import keep_freed_memory

    keep_freed_memory()  # as a training process has: Pico then read stale heap memory
    junk = [np.random.default_rng(0).random(400_000 + i) for i in range(6)]
    del junk
    asked = [("seven", "en-GB", 1.2, 0.7), ("nine", "en-US", 1.0, 0.6)] * 2
    a = pico.speak_many(asked)
    assert a[0].dtype == np.int16 and 2000 < len(a[0]) < 16000
    assert np.array_equal(a[0], a[2]) and np.array_equal(a[1], a[3])
    assert all(np.array_equal(x, y) for x, y in zip(a, pico.speak_many(asked), strict=True))
