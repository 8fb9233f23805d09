"""Bad input gives one clear error naming the culprit and the fix; --skip-bad skips bad clips."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.cli import main
from harness.data import cache_dataset, load_splits
from harness.errors import HarnessError


def junk(path: Path) -> None:
    path.write_bytes(b"this is not a wav file " * 20)


def truncated(path: Path) -> None:
    sf.write(path, np.zeros(16_000, np.int16), 16_000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:20_000])


def rate_44k(path: Path) -> None:
    sf.write(path, np.zeros(44_100, np.int16), 44_100, subtype="PCM_16")


def stereo(path: Path) -> None:
    sf.write(path, np.zeros((16_000, 2), np.int16), 16_000, subtype="PCM_16")


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "unreadable": (junk, "unreadable"),
    "truncated": (truncated, "truncated"),
    "44.1 kHz": (rate_44k, "44100 Hz"),
    "stereo": (stereo, "2 channels"),
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_clip_stops_prepare(kind: str, speech_commands: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    write, reason = BAD[kind]
    write(speech_commands / "yes" / "bad00000_nohash_0.wav")
    with pytest.raises(HarnessError, match=f"1 bad clip.*yes/bad00000_nohash_0.wav: .*{reason}"):
        cache_dataset(None, speech_commands)
    code, out, err = run(["data", "prepare", "--root", str(speech_commands)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: 1 bad clip(s) of 49") and "--skip-bad" in err
    assert "Traceback" not in err


def test_skip_bad_skips_and_reports(speech_commands: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for i, (write, _) in enumerate(BAD.values()):
        write(speech_commands / "no" / f"bad0000{i}_nohash_0.wav")
    root = str(speech_commands)
    code, _, err = run(["data", "prepare", "--root", root, "--skip-bad"], capsys)
    assert code == 0 and "skipped 4 bad clip(s) of 52" in err
    code, out, err = run(["data", "info", "--root", root, "--skip-bad", "--json"], capsys)
    assert code == 0 and "skipped 4" in err
    assert json.loads(out)["splits"] == {"train": 32, "valid": 8, "test": 8}
    # the cache remembers the bad clips: without --skip-bad it still refuses
    code, _, err = run(["data", "info", "--root", root], capsys)
    assert code == 2 and "4 bad clip(s)" in err


def test_many_bad_clips_are_counted_not_all_listed(speech_commands: Path) -> None:
    for i in range(8):
        junk(speech_commands / "on" / f"bad0000{i}_nohash_0.wav")
    with pytest.raises(HarnessError, match=r"8 bad clip.* and 3 more") as info:
        cache_dataset(None, speech_commands)
    assert str(info.value).count("unreadable") == 5


def test_all_clips_bad(tmp_path: Path) -> None:
    for word in ("no", "yes"):
        (tmp_path / word).mkdir()
        junk(tmp_path / word / "bad00000_nohash_0.wav")
    with pytest.raises(HarnessError, match="2 bad clip"):
        cache_dataset(None, tmp_path)
    with pytest.raises(HarnessError, match="no readable clips"):
        cache_dataset(None, tmp_path, skip_bad=True)


def test_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "prepare", "--root", str(tmp_path / "nope")], capsys)
    assert code == 2 and err.startswith("error: data folder") and "does not exist" in err


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty" / "yes").mkdir(parents=True)
    code, _, err = run(["data", "info", "--root", str(tmp_path / "empty")], capsys)
    assert code == 2 and "no clips in" in err and "SPEAKER_nohash_N.wav" in err


@pytest.mark.parametrize("missing", ["validation_list.txt", "testing_list.txt"])
def test_missing_list_files(missing: str, speech_commands: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    (speech_commands / missing).unlink()
    with pytest.raises(HarnessError, match=f"{missing} is missing.*--split random"):
        load_splits(None, root=speech_commands)
    data = load_splits(None, root=speech_commands, split="random")  # random needs no lists
    assert len(data.train.labels) + len(data.valid.labels) + len(data.test.labels) == 48
    code, _, err = run(["data", "info", "--root", str(speech_commands)], capsys)
    assert code == 2 and missing in err


def test_list_naming_a_missing_clip(speech_commands: Path) -> None:
    with open(speech_commands / "testing_list.txt", "a") as f:
        f.write("yes/ffffffff_nohash_9.wav\n")
    with pytest.raises(HarnessError, match=r"testing_list.txt names yes/ffffffff_nohash_9.wav"):
        load_splits(None, root=speech_commands)


def test_clip_in_both_lists(speech_commands: Path) -> None:
    first = (speech_commands / "validation_list.txt").read_text().splitlines()[0]
    with open(speech_commands / "testing_list.txt", "a") as f:
        f.write(first + "\n")
    with pytest.raises(HarnessError, match="listed twice"):
        load_splits(None, root=speech_commands)


def test_words_must_match_the_named_dataset(speech_commands: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "info", "speech_commands_v0.01", "--root", str(speech_commands)],
                       capsys)
    assert code == 2 and "do not match speech_commands_v0.01" in err
    assert "missing bed, bird" in err and "--root alone" in err


def test_unknown_dataset_and_split(speech_commands: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["data", "prepare", "imagenet"], capsys)
    assert code == 2 and "unknown dataset 'imagenet'" in err and "synth_commands" in err
    code, _, err = run(["data", "prepare"], capsys)
    assert code == 2 and "name a dataset" in err
    with pytest.raises(HarnessError, match="unknown split 'speaker'"):
        load_splits(None, root=speech_commands, split="speaker")


def test_float_wavs_decode_to_the_int16_they_hold_and_clip(tmp_path: Path) -> None:
    """A 32-bit float (or double) copy of a 16-bit clip decodes to the same int16 values;
    samples beyond +-1.0 clip to the int16 range instead of wrapping."""
    from harness.data.decode import decode_clip

    rng = np.random.default_rng(0)
    x = np.clip(rng.standard_normal(12_000) * 8000, -32768, 32767).astype(np.int16)
    for subtype in ("FLOAT", "DOUBLE"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, x / 32768.0, 16_000, subtype=subtype)
        out = np.full(16_000, 7, np.int16)
        assert decode_clip(str(path), out) is None
        assert np.array_equal(out[:12_000], x) and not out[12_000:].any()  # padded with 0
    loud = tmp_path / "loud.wav"
    sf.write(loud, np.array([1.5, -1.5, 0.5, 1.0, -1.0]), 16_000, subtype="FLOAT")
    out = np.zeros(16_000, np.int16)
    assert decode_clip(str(loud), out) is None
    assert out[:5].tolist() == [32767, -32768, 16384, 32767, -32768]
