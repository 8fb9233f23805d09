"""FSDD for real: the shared copy of the v1.0.10 archive prepared once per session through
`harness data prepare fsdd --url file://...`, its clips, its splits, and its bad inputs."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from harness.cli import main
from harness.data import load_splits
from harness.data.fsdd import (
    ATTRIBUTION_TEXT,
    CONTENT_SHA256,
    DIGIT_WORDS,
    ROLES,
    SPEAKERS,
    check_content,
    place,
)
from harness.errors import HarnessError

ARCHIVE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / \
    "free-spoken-digit-dataset-1.0.10.tar.gz"
MEMBER = "free-spoken-digit-dataset-1.0.10/recordings/{}"
needs_archive = pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"no FSDD archive at {ARCHIVE} "
                                   "(../shared/data/ beside the repository)")


@pytest.fixture(scope="module")
def fsdd_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with fsdd prepared (downloaded from file://, converted, decoded) once."""
    if not ARCHIVE.is_file():
        pytest.skip(f"no FSDD archive at {ARCHIVE} (../shared/data/ beside the repository)")
    home = tmp_path_factory.mktemp("fsdd_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_DATA_DIR", str(home))
        assert main(["data", "prepare", "fsdd", "--url", ARCHIVE.as_uri()]) == 0
    return home


@pytest.fixture
def fsdd_dir(fsdd_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(fsdd_home))
    return fsdd_home / "fsdd"


def _recording(name: str) -> np.ndarray:
    with tarfile.open(ARCHIVE) as tar:
        member = tar.extractfile(MEMBER.format(name))
        assert member is not None
        samples, rate = sf.read(io.BytesIO(member.read()), dtype="int16")
    assert rate == 8000
    return samples


def test_prepare_writes_the_speech_commands_layout(fsdd_dir: Path) -> None:
    assert (fsdd_dir / ".complete").is_file()
    clips = sorted(p.relative_to(fsdd_dir).as_posix() for p in fsdd_dir.glob("*/*.wav"))
    assert len(clips) == 3000 and {c.split("/")[0] for c in clips} == set(DIGIT_WORDS)
    assert "seven/jackson_nohash_32.wav" in clips
    assert (fsdd_dir / "ATTRIBUTION.md").read_text() == ATTRIBUTION_TEXT
    assert "CC BY-SA 4.0" in ATTRIBUTION_TEXT and "Jakobovski/free-spoken-digit-dataset" in \
        ATTRIBUTION_TEXT
    assert not (fsdd_dir / ".archive").exists()  # the extracted release is not kept
    assert main(["data", "prepare", "fsdd", "--url", "http://127.0.0.1:9/x.tar.gz"]) == 0  # kept


def test_a_clip_decodes_to_the_resampled_recording(fsdd_dir: Path) -> None:
    """7_jackson_32.wav: 4,301 samples at 8 kHz -> 8,602 at 16 kHz (torchaudio), centred:
    3,699 zeros before and after, its peak sample 9990 at 6,528."""
    import torch
    import torchaudio.functional as taf

    from harness.data import cache_dataset
    from harness.data.decode import float_to_int16

    cache = cache_dataset("fsdd")  # the decoded clips every split reads
    x = _recording("7_jackson_32.wav")
    y = float_to_int16(taf.resample(torch.from_numpy(x / 32768.0).float(), 8000, 16000).numpy())
    assert len(x) == 4301 and len(y) == 8602
    clip = np.asarray(cache.audio[cache.paths.index("seven/jackson_nohash_32.wav")])
    assert (clip[3699:3699 + 8602] == y).all()
    assert clip.shape == (16000,) and clip[6528] == 9990 and clip[8000] == 205
    assert not clip[:3699].any() and not clip[3699 + 8602:].any()


def test_place_centres_short_and_cuts_long_equally() -> None:
    short = place(np.full(10, 0.5))
    assert np.flatnonzero(short).tolist() == list(range(7995, 8005))
    long = place(np.arange(16010) / 32768.0)  # 10 samples too long: 5 cut from each end
    assert long[0] == 5 and long[-1] == 16004


def test_official_split_is_fsdds_and_not_speaker_disjoint(fsdd_dir: Path) -> None:
    data = load_splits("fsdd")
    assert [len(p.labels) for p in (data.train, data.valid, data.test)] == [2400, 300, 300]
    assert data.speaker_disjoint is False and data.test_set == "testing_list.txt"
    tested = (fsdd_dir / "testing_list.txt").read_text().split()
    assert {int(c.rsplit("_", 1)[1][:-4]) for c in tested} == {0, 1, 2, 3, 4}
    roles = load_splits("fsdd", split="roles")
    assert roles.speaker_disjoint is True and roles.test_set.startswith("test speakers")
    assert [len(p.labels) for p in (roles.train, roles.valid, roles.test)] == [900, 100, 2000]


def test_speaker_folds_on_fsdd_leave_one_speaker_out(fsdd_dir: Path) -> None:
    from harness.data import cache_dataset, choose

    cache = cache_dataset("fsdd")
    speakers = np.asarray(cache.speakers)
    tested: list[int] = []
    for fold in range(6):
        parts = choose("words30", cache, "fsdd", "speaker_folds", fold, folds=6).parts
        test, valid = (set(speakers[parts[s].rows]) for s in ("test", "valid"))
        assert test == {SPEAKERS[fold]} and valid == {SPEAKERS[(fold + 1) % 6]}
        assert not set(speakers[parts["train"].rows]) & (test | valid)
        tested += parts["test"].rows.tolist()
    assert sorted(tested) == list(range(3000))  # every clip tested exactly once
    assert load_splits("fsdd", split="speaker_folds", split_seed=2, folds=6).speaker_disjoint


def test_speaker_folds_group_speech_commands_by_hash_id(speech_commands: Path) -> None:
    from harness.data import cache_dataset, choose
    from harness.data.speakers import speaker_folds

    cache = cache_dataset(None, speech_commands)  # 6 hash ids x 4 words x 2 clips
    groups = speaker_folds(cache.speakers, 3)
    assert sorted(groups.values()) == [0, 0, 1, 1, 2, 2]  # 16 clips per fold
    tested = []
    for fold in range(3):
        parts = choose("words30", cache, "sc", "speaker_folds", fold, folds=3).parts
        assert {groups[cache.speakers[i]] for i in parts["test"].rows} == {fold}
        tested += parts["test"].rows.tolist()
    assert sorted(tested) == list(range(len(cache.paths)))
    for kwargs, match in (({"folds": 2}, "3 <= folds <= the number of speakers"),
                          ({"folds": 7}, r"speakers \(6\)"),
                          ({"folds": 3, "split_seed": 3}, "names no speaker fold of 3"),
                          ({}, "needs folds = K")):
        with pytest.raises(HarnessError, match=match):
            load_splits(None, speech_commands, "speaker_folds", **kwargs)
    with pytest.raises(HarnessError, match="is for split speaker_folds"):
        load_splits(None, speech_commands, "random", folds=3)
    with pytest.raises(HarnessError, match="fixed speaker roles"):
        load_splits(None, speech_commands, "roles")


def test_data_info_counts_clips_per_word_and_speaker(fsdd_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "fsdd", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["per_label"]["seven"] == {"train": 240, "valid": 30, "test": 30}
    assert info["per_speaker"]["theo"] == {"train": 400, "valid": 50, "test": 50}
    assert info["roles"]["jackson"] == "dev" and info["roles"]["lucas"] == "test"


def test_evaluate_parts_name_the_speaker_roles(fsdd_dir: Path) -> None:
    from harness.commands.evaluate import eval_spec
    from harness.evaluation.other_data import clips_of
    from harness.tracking.lineage import dataset_inputs

    own = {"data.dataset": "synth_commands", "data.task": "words30"}
    args = SimpleNamespace(root=None, dataset="fsdd", part="dev", split=None, split_seed=None,
                           task=None)
    spec = eval_spec(args, own)
    assert spec.split == "roles"
    data = load_splits("fsdd", split="roles")
    assert len(clips_of(data, "dev").labels) == 1000 and len(clips_of(data, "test").labels) == 2000
    with pytest.raises(HarnessError, match="--part dev is the dev speakers"):
        eval_spec(SimpleNamespace(**{**vars(args), "split": "official"}), own)
    profile = json.loads(dataset_inputs(spec.params(), data, "0" * 20)[2].dataset.profile)
    assert profile["attribution"] == ATTRIBUTION_TEXT and profile["speaker_disjoint"] is True
    assert set(ROLES["test"]) == {"george", "lucas", "theo", "yweweler"}


def test_content_is_pinned_not_the_archive() -> None:
    fake = {f"{d}_{s}_{i}.wav": np.zeros(4, np.int16) for d in range(10) for s in SPEAKERS
            for i in range(50)}
    with pytest.raises(HarnessError, match=f"not those of FSDD v1.0.10.*{CONTENT_SHA256[:16]}"):
        check_content(fake)


def _wav_bytes() -> bytes:
    out = io.BytesIO()
    sf.write(out, np.zeros(800, np.int16), 8000, format="WAV", subtype="PCM_16")
    return out.getvalue()


@needs_archive
def test_bad_inputs_fail_in_one_line(tmp_path: Path, harness_data_dir: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(ARCHIVE.read_bytes()[:2_000_000])
    few = tmp_path / "few.tar.gz"
    with tarfile.open(few, "w:gz") as tar:
        for name in ("0_george_0.wav", "1_george_0.wav", "2_theo_4.wav"):
            body = _wav_bytes()
            info = tarfile.TarInfo(MEMBER.format(name))
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    for url, said in ((cut.as_uri(), "the archive is truncated or corrupt (ReadError"),
                      (str(few), "holds 3 recordings in recordings/, not the 3,000"),  # a path
                      ("http://127.0.0.1:9/v1.0.10.tar.gz", "give --url with a mirror")):
        assert main(["data", "prepare", "fsdd", "--url", url]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: download of fsdd from") and err.count("\n") == 1, err
        assert said in err and "nothing was kept" in err, err
        assert sorted(p.name for p in harness_data_dir.iterdir()) == []  # no folder left


def test_data_transfer_trains_offline_and_tests_on_fsdd(
        fsdd_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`harness data transfer`: the quick study's model, one epoch on tones named zero..nine,
    scored on FSDD's dev speakers 30-way and digits-only (never below 30-way)."""
    from conftest import make_speech_commands

    root = make_speech_commands(tmp_path / "tones", words=DIGIT_WORDS, speakers=5,
                                clips_per_speaker=1)
    assert main(["data", "transfer", "--root", str(root), "--set", "epochs=1",
                 "--frontend", "complex", "--seeds", "0", "1", "--part", "dev", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["real"] == "fsdd" and out["part"] == "dev" and out["dataset"] == "tones"
    (row,) = out["rows"]
    assert row["frontend"] == "complex" and row["seeds"] == [0, 1]
    full, digits = row["real_acc"], row["real_digit_acc"]
    assert full["n"] == 2 and full["low"] <= full["mean"] <= full["high"]
    assert 0 <= full["mean"] <= digits["mean"] <= 1


def test_train_fraction_is_nested_per_speaker_and_deterministic(fsdd_dir: Path) -> None:
    from harness.data import cache_dataset, choose

    cache = cache_dataset("fsdd")
    speakers, words = np.asarray(cache.speakers), cache.label_idx

    def train(fraction: float, seed: int = 2) -> np.ndarray:
        return choose("words30", cache, "fsdd", "speaker_folds", seed, folds=6,
                      train_fraction=fraction).parts["train"].rows

    full = train(1.0)
    kept = {f: train(f) for f in (0.1, 0.25, 0.5)}
    assert set(kept[0.1]) < set(kept[0.25]) < set(kept[0.5]) < set(full)  # nested
    for f, rows in kept.items():  # every speaker keeps its share, spread over its words
        per_speaker = {s: int((speakers[rows] == s).sum()) for s in set(speakers[full])}
        assert set(per_speaker.values()) == {round(f * 500)}
        per_word = np.bincount(words[rows], minlength=10)
        assert per_word.max() - per_word.min() <= 4  # 4 training speakers: 1 each at most
    np.testing.assert_array_equal(train(0.25), kept[0.25])  # the same draw again
    assert set(train(0.25, seed=3)) != set(kept[0.25])  # another replicate, another draw
    spec = load_splits("fsdd", split="speaker_folds", split_seed=2, folds=6,
                       train_fraction=0.1)
    assert len(spec.train.labels) == 200 and len(spec.test.labels) == 500  # test untouched


def test_train_fraction_is_a_searchable_data_key(tmp_path: Path) -> None:
    from harness.data.spec import DataSpec
    from harness.sweep.experiment_file import load_experiment

    exp = tmp_path / "eff.toml"
    exp.write_text('[data]\ndataset = "fsdd"\n[train]\nmodel = "seed_cnn"\n'
                   'frontend = "complex"\n[search]\nseeds = [0, 1]\n[search.space]\n'
                   '"data.train_fraction" = [0.1, 1]\n')
    loaded = load_experiment(exp)
    assert loaded.space["data.train_fraction"] == (0.1, 1.0)
    params = loaded.params({"data.train_fraction": 0.1, "seed": 1})
    # an official split keeps its clips, but the fraction's draw follows the replicate
    assert params["data.split_seed"] == 1 and params["data.split"] == "official"
    assert loaded.params({"data.train_fraction": 1.0, "seed": 1})["data.split_seed"] is None
    assert DataSpec.from_params({"data.train_fraction": "0.25"}).train_fraction == 0.25
    for bad in ("0", "1.5", "true"):
        exp.write_text(exp.read_text().replace("[0.1, 1]", f"[{bad}]"))
        with pytest.raises(HarnessError, match=r"train_fraction .*: a number in \(0, 1\]"):
            load_experiment(exp)
        exp.write_text(exp.read_text().replace(f"[{bad}]", "[0.1, 1]"))
