"""Listing, splits and loading of Speech Commands-layout folders, and `data info`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_speech_commands

from harness.cli import main
from harness.data import DATASETS, SplitData, cache_dataset, load_splits
from harness.data.speech_commands import (
    WORDS_V001,
    label_of,
    list_clips,
    official_split,
    random_split,
    random_split_indices,
    speaker_of,
)

SUBSETS = {"train": "training", "valid": "validation", "test": "testing"}


def torchaudio_subset(folder: Path, subset: str) -> list[tuple[str, str, str]]:
    """(clip, label, speaker) of torchaudio's SPEECHCOMMANDS(subset=...) on `folder`, in order."""
    from torchaudio.datasets import SPEECHCOMMANDS

    ds = SPEECHCOMMANDS(folder.parent, url=folder.name, folder_in_archive="", subset=subset)
    out = []
    for i in range(len(ds)):
        relpath, _, label, speaker, _ = ds.get_metadata(i)
        out.append((Path(relpath).relative_to(folder.name).as_posix(), label, speaker))
    return out


def test_listing_skips_noise_and_other_files(speech_commands: Path) -> None:
    clips = list_clips(speech_commands)
    assert len(clips) == 4 * 6 * 2
    assert clips == sorted(clips)
    assert not any(c.startswith("_background_noise_") for c in clips)
    assert {label_of(c) for c in clips} == {"no", "off", "on", "yes"}


@pytest.mark.parametrize("messy", [False, True])
def test_official_split_equals_torchaudio(speech_commands: Path, messy: bool) -> None:
    if messy:  # "./" prefixes, doubled slashes, trailing spaces: both sides normalise them
        for name in ("validation_list.txt", "testing_list.txt"):
            path = speech_commands / name
            lines = path.read_text().splitlines()
            path.write_text("".join(f"./{ln.replace('/', '//')}  \n" for ln in lines))
    ours = official_split(speech_commands)
    cache = cache_dataset(None, speech_commands)
    rows = cache.split_rows("official")
    for split, subset in SUBSETS.items():
        theirs = torchaudio_subset(speech_commands, subset)
        assert ours[split] == [clip for clip, _, _ in theirs]  # as lists: same order
        assert [(c, label_of(c), speaker_of(c)) for c in ours[split]] == theirs
        assert [cache.paths[r] for r in rows[split]] == ours[split]
    assert ours["valid"] != sorted(ours["valid"])  # the fixture's lists are shuffled
    assert not set(ours["train"]) & (set(ours["valid"]) | set(ours["test"]))


def test_official_split_is_speaker_disjoint(speech_commands: Path) -> None:
    parts = official_split(speech_commands)
    speakers = {s: {speaker_of(c) for c in clips} for s, clips in parts.items()}
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]


def test_random_split_sizes_are_the_reference_studys() -> None:
    """R's sample(size = 0.6 * n) truncates: v0.01's 64,727 clips give 38,836 / 12,945 /
    12,946 (docs/replication.md)."""
    sizes = {k: len(v) for k, v in random_split_indices(64_727).items()}
    assert sizes == {"train": 38_836, "valid": 12_945, "test": 12_946}


def test_random_split_indices_deterministic_disjoint_covering() -> None:
    n = 1001
    a, b = random_split_indices(n, seed=3), random_split_indices(n, seed=3)
    c = random_split_indices(n, seed=4)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert not np.array_equal(a["test"], c["test"])
    joined = np.concatenate(list(a.values()))
    assert sorted(joined.tolist()) == list(range(n))  # disjoint and covering
    assert [len(a[s]) for s in ("train", "valid", "test")] == [600, 200, 201]


def test_random_split_of_a_folder(speech_commands: Path) -> None:
    clips = list_clips(speech_commands)
    parts = random_split(clips, seed=0)
    assert parts == random_split(list(reversed(clips)), seed=0)  # order of input irrelevant
    assert sorted(c for p in parts.values() for c in p) == clips
    assert [len(p) for p in parts.values()] == [28, 9, 11]
    cache = cache_dataset(None, speech_commands)
    rows = cache.split_rows("random", seed=0)
    assert {s: sorted(cache.paths[r] for r in rows[s]) for s in rows} == parts


def test_load_splits_official(speech_commands: Path) -> None:
    data = load_splits(None, root=speech_commands)
    assert isinstance(data, SplitData)
    assert data.labels == ["no", "off", "on", "yes"]
    assert data.dataset == "sc" and data.root == speech_commands
    assert [len(c.labels) for c in (data.train, data.valid, data.test)] == [32, 8, 8]
    for clips in (data.train, data.valid, data.test):
        assert clips.audio.shape == (len(clips.labels), 16_000)
        assert clips.audio.dtype == np.int16 and clips.labels.dtype == np.int64
        assert isinstance(clips.audio, np.memmap) and not clips.audio.flags.writeable
        assert np.bincount(clips.labels, minlength=4).tolist() == [len(clips.labels) // 4] * 4


def test_load_splits_random(speech_commands: Path) -> None:
    a = load_splits(None, root=speech_commands, split="random", split_seed=1)
    b = load_splits(None, root=speech_commands, split="random", split_seed=1)
    assert [len(c.labels) for c in (a.train, a.valid, a.test)] == [28, 9, 11]
    assert np.array_equal(a.test.audio, b.test.audio)
    assert np.array_equal(a.test.labels, b.test.labels)


def test_dataset_name_fixes_the_words(tmp_path: Path) -> None:
    folder = make_speech_commands(tmp_path / "full", words=WORDS_V001, speakers=5,
                                  clips_per_speaker=1)
    data = load_splits("speech_commands_v0.01", root=folder)
    assert data.labels == list(DATASETS["speech_commands_v0.01"])
    assert data.dataset == "speech_commands_v0.01"
    assert [len(c.labels) for c in (data.train, data.valid, data.test)] == [90, 30, 30]


def test_info_json(speech_commands: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "--root", str(speech_commands), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"dataset", "task", "test_set", "labels", "splits", "per_label",
                        "balance", "per_speaker", "roles"}
    assert out["roles"] == {} and sum(out["per_speaker"][s]["train"] for s in out["per_speaker"]) \
        == 32 and len(out["per_speaker"]) == 6
    assert out["task"] == "words30" and out["test_set"] == "testing_list.txt"
    assert out["labels"] == ["no", "off", "on", "yes"]
    assert out["splits"] == {"train": 32, "valid": 8, "test": 8}
    assert out["per_label"]["yes"] == {"train": 8, "valid": 2, "test": 2}
    main(["data", "info", "--root", str(speech_commands), "--json", "--split", "random",
          "--split-seed", "5"])
    out = json.loads(capsys.readouterr().out)
    assert out["splits"] == {"train": 28, "valid": 9, "test": 11}
    assert sum(v["test"] for v in out["per_label"].values()) == 11


def test_info_table_and_prepare(speech_commands: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "prepare", "--root", str(speech_commands)]) == 0
    assert "48 clips, 4 labels" in capsys.readouterr().err
    assert main(["data", "info", "--root", str(speech_commands)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # human output goes to stderr
    assert "yes" in captured.err and "32" in captured.err


def test_synth_commands_uses_the_data_folder(harness_data_dir: Path) -> None:
    # a finished folder (marker present) is used as is: nothing is generated
    folder = make_speech_commands(harness_data_dir / "synth_commands", words=WORDS_V001,
                                  speakers=5, clips_per_speaker=1)
    (folder / ".complete").write_text("")
    data = load_splits("synth_commands")
    assert data.dataset == "synth_commands" and data.root == folder
    assert data.labels == list(WORDS_V001) and len(data.test.labels) == 30


def test_synth_command_writes_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("harness.data.synth")
    out = tmp_path / "kw"
    assert main(["data", "synth", str(out), "--speakers", "3", "--seed", "1"]) == 0
    assert "of 30 words by 3 speakers" in capsys.readouterr().err
    assert main(["data", "info", "synth_commands", "--root", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["labels"] == list(WORDS_V001) and all(info["splits"].values())
