"""Tasks on folders the tests write: kws12's construction (TF's input_data.py), the test
tarball's precedence, kws35's word check, and `harness data info --task`."""

from __future__ import annotations

import json
import math
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, make_speech_commands

from harness.cli import main
from harness.data import load_splits
from harness.data.cache import prepare_cache
from harness.data.speech_commands import WORDS_V002, list_clips
from harness.data.tasks import KWS12_LABELS, KWS12_WORDS, SILENCE, UNKNOWN
from harness.errors import HarnessError

OTHERS = ("bed", "cat", "dog")


@pytest.fixture
def kws_folder(tmp_path: Path) -> Path:
    """10 commands + 3 other words, 10 speakers x 1 clip: 6 train, 2 valid, 2 test speakers."""
    return make_speech_commands(tmp_path / "speech_commands_v0.02",
                                words=(*KWS12_WORDS, *OTHERS), speakers=10, clips_per_speaker=1)


def _sources(data_root: Path) -> dict[bytes, str]:
    """Each decoded clip's bytes -> its word folder, to say where a split's clip came from."""
    cache = prepare_cache(data_root, data_root.parent / "cache")
    return {cache.audio[i].tobytes(): w for i, w in enumerate(
        cache.labels[j] for j in cache.label_idx)}


def test_kws12_counts_follow_tf(kws_folder: Path) -> None:
    data = load_splits(None, root=kws_folder, task="kws12")
    assert data.labels == list(KWS12_LABELS) and data.labels[:2] == [SILENCE, UNKNOWN]
    assert data.task == "kws12" and data.test_set == "testing_list.txt"
    for split, speakers in (("train", 6), ("valid", 2), ("test", 2)):
        words = speakers * len(KWS12_WORDS)
        extra = math.ceil(words * 10 / 100)  # silence_percentage = unknown_percentage = 10
        counts = np.bincount(getattr(data, split).labels, minlength=12)
        assert counts[0] == extra and counts[1] == extra, split
        assert list(counts[2:]) == [speakers] * 10, split


def test_unknown_is_never_a_keyword_and_silence_is_noise_only(kws_folder: Path) -> None:
    data = load_splits(None, root=kws_folder, task="kws12")
    source = _sources(kws_folder)
    for split in ("train", "valid", "test"):
        clips = getattr(data, split)
        for audio, label in zip(clips.audio, clips.labels, strict=True):
            name = data.labels[label]
            if name == SILENCE:
                assert audio.tobytes() not in source  # not a word clip
                # some noise window w at a volume v in [0, 1]: clip == round(w * v)
                w = data.noise.astype(np.float64)
                v = np.clip((w @ audio) / np.maximum((w * w).sum(1), 1), 0, 1)
                err = np.abs(np.round(w * v[:, None]) - audio).max(1)
                assert err.min() <= 1
            elif name == UNKNOWN:
                assert source[audio.tobytes()] in OTHERS
            else:
                assert source[audio.tobytes()] == name


def test_kws12_is_seeded(kws_folder: Path) -> None:
    a = load_splits(None, root=kws_folder, task="kws12")
    b = load_splits(None, root=kws_folder, task="kws12")
    assert np.array_equal(a.train.audio, b.train.audio)
    assert np.array_equal(a.test.labels, b.test.labels)


def test_words30_is_every_folder(kws_folder: Path) -> None:
    data = load_splits(None, root=kws_folder)
    assert data.task == "words30" and len(data.labels) == 13
    assert len(data.test.labels) == 2 * 13 and data.test_set == "testing_list.txt"
    assert load_splits(None, root=kws_folder, split="random").test_set == "random"


def _test_set(folder: Path) -> Path:
    """A test-tarball-like folder: 12 label folders, names without _nohash_, a .wav.wav."""
    rng = np.random.default_rng(1)
    for label in KWS12_LABELS:
        (folder / label).mkdir(parents=True)
        for k in range(2):
            name = f"clip{k}.wav.wav" if label == UNKNOWN and k else f"clip{k}.wav"
            sf.write(folder / label / name, 0.1 * rng.standard_normal(SR), SR, subtype="PCM_16")
    return folder


def test_test_tarball_takes_precedence(kws_folder: Path, tmp_path: Path) -> None:
    made = _test_set(tmp_path / "made")
    archive = kws_folder.parent / "speech_commands_test_set_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(made.rglob("*")):
            tar.add(path, arcname=f"./{path.relative_to(made).as_posix()}", recursive=False)
    data = load_splits(None, root=kws_folder, task="kws12")
    assert data.test_set == "speech_commands_test_set_v0.02"
    assert np.array_equal(np.bincount(data.test.labels, minlength=12), [2] * 12)
    assert (kws_folder.parent / "speech_commands_test_set_v0.02" / ".complete").is_file()
    # the training and validation clips are still the data set's, with 10 % silence
    assert len(data.valid.labels) == 20 + 2 + 2
    # the extracted folder alone does too; a random split keeps its own test clips
    archive.unlink()
    again = load_splits(None, root=kws_folder, task="kws12")
    assert again.test_set == data.test_set and np.array_equal(again.test.audio, data.test.audio)
    assert load_splits(None, root=kws_folder, split="random", task="kws12").test_set == "random"
    assert load_splits(None, root=kws_folder, task="words30").test_set == "testing_list.txt"


def test_test_set_with_a_stray_folder_fails(kws_folder: Path) -> None:
    folder = _test_set(kws_folder.parent / "speech_commands_test_set_v0.02")
    shutil.copytree(folder / "yes", folder / "maybe")
    with pytest.raises(HarnessError, match="maybe"):
        load_splits(None, root=kws_folder, task="kws12")


def test_kws12_without_noise_or_words_fails(kws_folder: Path, speech_commands: Path) -> None:
    with pytest.raises(HarnessError, match=r"kws12 needs .*lacks up, down, left"):
        load_splits(None, root=speech_commands, task="kws12")
    shutil.rmtree(kws_folder / "_background_noise_")
    with pytest.raises(HarnessError, match="_background_noise_"):
        load_splits(None, root=kws_folder, task="kws12")


def test_kws35(tmp_path: Path, speech_commands: Path) -> None:
    with pytest.raises(HarnessError, match=r"^task kws35 needs the 35 words") as err:
        load_splits(None, root=speech_commands, task="kws35")
    assert "\n" not in str(err.value)
    root = make_speech_commands(tmp_path / "v2", words=(*WORDS_V002, "extra"), speakers=5,
                                clips_per_speaker=1)
    data = load_splits(None, root=root, task="kws35")
    assert data.labels == list(WORDS_V002)
    assert len(data.train.labels) == 3 * 35 and len(list_clips(root)) == 5 * 36


def test_unknown_task() -> None:
    with pytest.raises(HarnessError, match="unknown task 'kws10'; known: words30, kws12"):
        load_splits(None, task="kws10")


def test_data_info_kws12_json(kws_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "--root", str(kws_folder), "--task", "kws12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["labels"] == list(KWS12_LABELS) and len(out["labels"]) == 12
    assert out["task"] == "kws12" and out["test_set"] == "testing_list.txt"
    assert out["per_label"][SILENCE] == {"train": 6, "valid": 2, "test": 2}
    assert out["per_label"]["yes"] == {"train": 6, "valid": 2, "test": 2}
    assert out["splits"] == {"train": 72, "valid": 24, "test": 24}
    assert out["balance"]["yes"]["train"] == round(6 / 72, 4)
    assert main(["data", "info", "--root", str(kws_folder), "--task", "kws12"]) == 0


@pytest.mark.slow
def test_kws12_sweep_logs_task_and_test_set(kws_folder: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`[data] task` reaches the worker's load_splits, the trial's params and its
    `test_set` tag; `--task` pins it the same way, and the task is part of the identity."""
    from mlflow.tracking import MlflowClient
    from test_sweep import new_tracking_uri, runs

    from harness.sweep.experiment_file import load_experiment

    path = tmp_path / "kws.toml"
    path.write_text(f"""
name = "kws"
[data]
root = "{kws_folder}"
task = "kws12"
[train]
frontend = "complex"
model = "seed_cnn"
"model.width" = 0.125
"model.padding" = 1
"frontend.hop_length" = 400
epochs = 1
batch_size = 16
""")
    uri = new_tracking_uri(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(path), "--tracking-uri", uri]) == 0
    (_, children) = runs(uri, "kws")
    run = children[0]
    assert run.data.params["data.task"] == "kws12"
    assert run.data.tags["test_set"] == "testing_list.txt"
    local = MlflowClient(tracking_uri=uri).download_artifacts(
        run.info.run_id, "confusion_matrix.csv", str(tmp_path))
    assert Path(local).read_text().splitlines()[0] == "," + ",".join(KWS12_LABELS)
    given = load_experiment(path)
    assert given.identity["data.task"] == "kws12"
    path.write_text(path.read_text().replace('task = "kws12"\n', ""))
    assert "data.task" not in load_experiment(path).identity  # the default forks nothing
    assert load_experiment(path, {"data.task": "kws12"}).identity == given.identity
    with pytest.raises(HarnessError, match=r"\[data\] task: task 'kws10'; use one of"):
        path.write_text(path.read_text().replace("[data]\n", '[data]\ntask = "kws10"\n'))
        load_experiment(path)
