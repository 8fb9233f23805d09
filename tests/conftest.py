"""Shared fixtures: a private data folder for every test, and tiny Speech Commands folders.

`make_speech_commands(root)` writes real 16-bit WAV files with soundfile in the
Speech Commands layout; each word is a tone of its own pitch plus noise, so a
small model can learn it. Reuse it directly or through the `speech_commands`
fixture:

    def test_x(speech_commands):           # tmp_path/"sc": 4 words x 6 speakers x 2
        data = load_splits(None, root=speech_commands)

`tiny_study` is one real 2-trial sweep and its report, made once per session for the
tests that read a finished study (test_lineage.py, test_ui.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

WORDS = ("no", "off", "on", "yes")
# clip lengths in samples, cycled over the clips: shorter, exact and longer than 1 s
LENGTHS = (16_000, 11_025, 16_000, 20_000, 8_000, 16_001)
SR = 16_000


def make_speech_commands(root: Path, words: Sequence[str] = WORDS, speakers: int = 6,
                         clips_per_speaker: int = 2, seed: int = 0) -> Path:
    """Write a Speech Commands-layout folder at `root`; returns `root`.

    Every speaker says every word `clips_per_speaker` times
    (WORD/SPEAKERHEX_nohash_K.wav, mono 16 kHz PCM_16, lengths cycling through
    LENGTHS). Speakers are assigned by index: i % 5 == 3 -> validation_list.txt,
    i % 5 == 4 -> testing_list.txt, others train (speaker-disjoint, like the real
    set); the list files are in shuffled, not sorted, order.
    Also writes `_background_noise_/` (a wav named like a clip, to check it is
    never one, and one that is not) plus README/LICENSE files.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"{rng.integers(16**8):08x}" for _ in range(speakers)]
    lists: dict[str, list[str]] = {"validation_list.txt": [], "testing_list.txt": []}
    n = 0
    for i, speaker in enumerate(ids):
        for w, word in enumerate(words):
            (root / word).mkdir(exist_ok=True)
            for k in range(clips_per_speaker):
                length = LENGTHS[n % len(LENGTHS)]
                n += 1
                t = np.arange(length) / SR
                tone = 0.3 * np.sin(2 * np.pi * (200 + 150 * w) * t)
                audio = tone + 0.05 * rng.standard_normal(length)
                rel = f"{word}/{speaker}_nohash_{k}.wav"
                sf.write(root / rel, audio.astype(np.float32), SR, subtype="PCM_16")
                if i % 5 == 3:
                    lists["validation_list.txt"].append(rel)
                elif i % 5 == 4:
                    lists["testing_list.txt"].append(rel)
    for name, lines in lists.items():  # shuffled: the split must keep the file's order
        lines = [lines[j] for j in rng.permutation(len(lines))]
        (root / name).write_text("".join(line + "\n" for line in lines))
    noise = root / "_background_noise_"
    noise.mkdir(exist_ok=True)
    sf.write(noise / "white_noise.wav", 0.1 * rng.standard_normal(SR * 2), SR, subtype="PCM_16")
    sf.write(noise / "hum_nohash_0.wav", 0.1 * rng.standard_normal(SR), SR, subtype="PCM_16")
    (noise / "README.md").write_text("noise recordings, not a class\n")
    (root / "LICENSE").write_text("test data\n")
    return root


def pytest_configure(config: pytest.Config) -> None:
    """Stop at once, with one line naming both versions, when torchaudio does not load beside
    torch; otherwise the first test module that imports it dies in collection instead."""
    from harness.environment import require_torchaudio
    from harness.errors import HarnessError

    try:
        require_torchaudio()
    except HarnessError as exc:
        pytest.exit(f"error: {exc}", returncode=3)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # One thread per test process (and per sweep or worker process a test starts): with
        # one xdist worker per core, torch's own thread pool would oversubscribe the cores.
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def harness_data_dir(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own empty HARNESS_DATA_DIR, so nothing is written into the repo."""
    path = tmp_path_factory.mktemp("harness_data")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(path))
    yield path


@pytest.fixture
def speech_commands(tmp_path: Path) -> Path:
    """A fresh default folder from make_speech_commands (48 clips, 4 words), per test."""
    return make_speech_commands(tmp_path / "sc")


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished study in a real SQLite MLflow store: test_sweep.tiny_experiment with
    magnitude and complex, one seed, 1 epoch, then `harness report`.

    Keys: uri, exp (the file), folder, root (the clips), parent, children (MLflow runs).
    """
    from test_sweep import new_tracking_uri, runs, tiny_experiment

    from harness.cli import main

    folder = tmp_path_factory.mktemp("tiny_study")
    uri = new_tracking_uri(folder)
    exp = tiny_experiment(folder, epochs=1, seeds="[0]")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_DATA_DIR", str(folder / "data"))
        mp.chdir(folder)  # the Optuna journal: runs/ here
        assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
        assert main(["report", "tiny", "--tracking-uri", uri, "--out", str(folder / "rep")]) == 0
    parents, children = runs(uri)
    return {"uri": uri, "exp": exp, "folder": folder, "root": folder / "sc",
            "data_dir": folder / "data", "parent": parents[0], "children": children}
