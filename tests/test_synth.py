"""The offline spoken-keyword generator, run for real (espeak-ng, soundfile) at a tiny size."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.data.espeak import engine
from harness.data.speech_commands import CLIP_SAMPLES, SAMPLE_RATE, WORDS_V001
from harness.data.synth import MARKER, NOISE_DIR, SynthConfig, generate
from harness.errors import HarnessError

# 6 speakers x 30 words, 2 s noises: about a second per set.
TINY = SynthConfig(speakers=6, noise_seconds=2.0, babble_streams=2)
NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")


def digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def clips(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.wav")
                  if p.parent.name != NOISE_DIR)


def speaker(rel: str) -> str:
    return rel.split("/")[1].split("_nohash_")[0]


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("synth")
    return {
        "a": generate(base / "a", seed=0, config=TINY),
        "b": generate(base / "b", seed=0, config=TINY),  # same seed, same process, after "a"
        "c": generate(base / "c", seed=1, config=TINY),
    }


def test_layout_and_labels(sets: dict[str, Path]) -> None:
    root = sets["a"]
    words = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != NOISE_DIR)
    assert words == sorted(WORDS_V001) and len(words) == 30
    for word in words:
        names = [p.name for p in (root / word).iterdir()]
        assert len(names) == TINY.speakers * TINY.repeats
        assert all(NAME.match(n) for n in names), names
    noises = sorted((root / NOISE_DIR).glob("*.wav"))
    assert len(noises) >= 5
    for p in noises:
        info = sf.info(p)
        assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1)
        assert info.frames == TINY.noise_seconds * SAMPLE_RATE
    assert (root / MARKER).is_file()
    assert not [p for p in root.parent.iterdir() if ".tmp-" in p.name]  # temp folders cleaned


def test_clips_are_16k_mono_one_second(sets: dict[str, Path]) -> None:
    root = sets["a"]
    rels = clips(root)
    assert len(rels) == 30 * TINY.speakers
    for rel in rels:
        info = sf.info(root / rel)
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (
            SAMPLE_RATE, 1, CLIP_SAMPLES, "PCM_16"
        ), rel


def test_lists_are_speaker_disjoint_and_exist(sets: dict[str, Path]) -> None:
    root = sets["a"]
    valid = (root / "validation_list.txt").read_text().splitlines()
    test = (root / "testing_list.txt").read_text().splitlines()
    assert valid and test
    for rel in valid + test:
        assert re.fullmatch(r"[a-z]+/[0-9a-f]{8}_nohash_\d+\.wav", rel), rel
        assert (root / rel).is_file(), rel
    train = sorted(set(clips(root)) - set(valid) - set(test))
    assert len(train) + len(valid) + len(test) == len(clips(root))
    spk = [{speaker(r) for r in rels} for rels in (train, valid, test)]
    assert all(spk) and not (spk[0] & spk[1]) and not (spk[0] & spk[2]) and not (spk[1] & spk[2])
    # A speaker in a list brings all their clips: the split is by speaker, not by clip.
    for rels, s in zip((valid, test), spk[1:], strict=True):
        assert len(rels) == 30 * TINY.repeats * len(s)


def test_deterministic_for_a_seed(sets: dict[str, Path]) -> None:
    a, b, c = (digest(sets[k]) for k in "abc")
    assert a == b  # byte for byte, although espeak already spoke set "a" in this process
    assert set(a) != set(c)  # other speaker ids
    assert sorted(a.values()) != sorted(c.values())


def test_clips_hold_speech(tmp_path: Path) -> None:
    # Nearly clean clips: the loudest 50 ms must stand far above the quiet parts of the second.
    root = generate(tmp_path / "clean", config=SynthConfig(
        speakers=3, snr_db=(40.0, 40.0), noise_seconds=2.0, babble_streams=1))
    for rel in clips(root):
        x = sf.read(root / rel, dtype="float32")[0]
        frames = (x[: CLIP_SAMPLES // 800 * 800].reshape(-1, 800) ** 2).mean(1)
        floor = max(float(np.percentile(frames, 10)), 1e-12)
        assert 10 * np.log10(frames.max() / floor) > 20, rel
        assert (frames > frames.max() / 1000).sum() >= 3, rel  # at least 150 ms of sound


def test_espeak_speaks_and_reset_makes_it_repeatable() -> None:
    eng = engine()
    eng.reset(7)
    first = eng.speak("sheila", "en-us+f2", rate=150)
    second = eng.speak("sheila", "en-us+f2", rate=150)
    eng.reset(7)
    again = eng.speak("sheila", "en-us+f2", rate=150)
    assert eng.sample_rate == 22050 and first.dtype == np.int16
    assert len(first) > 0.2 * eng.sample_rate
    assert np.sqrt(np.mean(first.astype(np.float64) ** 2)) > 500  # speech, not silence
    assert np.array_equal(first, again)
    assert len(second) > 0  # speaking again without reset still works


def test_existing_folder_without_marker_is_refused(sets: dict[str, Path], tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(sets["a"], partial)
    (partial / MARKER).unlink()  # what an interrupted, non-atomic writer would leave
    before = digest(partial)
    with pytest.raises(HarnessError, match="not a complete"):
        generate(partial, seed=0, config=TINY)
    assert digest(partial) == before  # never touched


def test_complete_folder_is_reused_and_checked(sets: dict[str, Path], tmp_path: Path) -> None:
    done = tmp_path / "done"
    shutil.copytree(sets["a"], done)
    (done / "yes" / "extra.txt").write_text("a regenerated folder would not have this")
    assert generate(done, seed=0, config=TINY) == done
    assert (done / "yes" / "extra.txt").exists()
    with pytest.raises(HarnessError, match="other settings"):
        generate(done, seed=3, config=TINY)


def test_failed_run_leaves_nothing(tmp_path: Path) -> None:
    bad = SynthConfig(speakers=3, noise_seconds=2.0, accents=("xx-nowhere",))
    with pytest.raises(HarnessError, match="xx-nowhere"):
        generate(tmp_path / "out", config=bad)
    assert list(tmp_path.iterdir()) == []


def test_empty_folder_is_filled_and_bad_sizes_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert (generate(tmp_path / "empty", config=SynthConfig(
        speakers=3, noise_seconds=2.0, babble_streams=1)) / MARKER).is_file()
    with pytest.raises(HarnessError, match="speakers >= 3"):
        generate(tmp_path / "few", speakers=2)


def test_kws12_on_the_offline_set(sets: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                  ) -> None:
    """The generator's _background_noise_ is what kws12's _silence_ is cut from: `data info
    --task kws12` lists 12 labels, and each silence clip is one of its windows, scaled."""
    import json

    from harness.cli import main
    from harness.data import load_splits

    assert main(["data", "info", "--root", str(sets["a"]), "--task", "kws12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["labels"]) == 12 and out["labels"][:2] == ["_silence_", "_unknown_"]
    assert all(out["per_label"]["_silence_"][s] > 0 for s in ("train", "valid", "test"))
    data = load_splits(None, root=sets["a"], task="kws12")
    assert len(data.noise) >= 5 * 3  # >= 5 noises of 2 s: 3 windows each at a 0.5 s hop
    silence = data.train.audio[data.train.labels == 0].astype(np.float64)
    assert len(silence) == out["per_label"]["_silence_"]["train"]
    assert np.sqrt((silence**2).mean()) > 100  # noise, not digital zero
