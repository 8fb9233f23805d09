"""`[evaluate] datasets`: every trial tested on another named set after its own test.

A real 2-trial sweep (1/8-width CNN, 1 epoch) on 11 tone-words, then each trial tested on an
fsdd-shaped folder (the 10 digits x FSDD's 6 speakers, 1 clip each: its roles split tests
george, lucas, theo, yweweler = 40 clips), and the report's section judging it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import SR, make_speech_commands
from mlflow import MlflowClient
from test_sweep import new_tracking_uri, runs, tiny_experiment

from harness.cli import main
from harness.data import fsdd
from harness.data.download import COMPLETE
from harness.errors import HarnessError
from harness.evaluation.other_sets import SKIPPED, evaluate_trial, skip_note
from harness.sweep.experiment_file import load_experiment

DIGITS = fsdd.DIGIT_WORDS


def fake_fsdd(data_dir: Path) -> Path:
    """data_dir/fsdd as `harness data prepare fsdd` leaves it, with one tone per speaker and
    digit (each digit the pitch make_speech_commands gives it), marked complete."""
    folder = data_dir / fsdd.NAME
    t = np.arange(SR) / SR
    words = sorted((*DIGITS, "yes"))  # make_speech_commands' pitch order below
    for speaker in fsdd.SPEAKERS:
        for digit in DIGITS:
            (folder / digit).mkdir(parents=True, exist_ok=True)
            tone = 0.3 * np.sin(2 * np.pi * (200 + 150 * words.index(digit)) * t)
            sf.write(folder / digit / f"{speaker}_nohash_0.wav", tone.astype(np.float32), SR,
                     subtype="PCM_16")
    for name in ("validation_list.txt", "testing_list.txt"):  # the official split's; unused
        (folder / name).write_text("")
    (folder / COMPLETE).touch()
    return folder


def test_each_trial_is_tested_on_the_other_set_and_the_report_judges_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    monkeypatch.chdir(tmp_path)
    fake_fsdd(data_dir)
    exp = tiny_experiment(tmp_path, epochs=1, seeds="[0]")
    make_speech_commands(tmp_path / "sc", words=sorted((*DIGITS, "yes")), speakers=5,
                         clips_per_speaker=1)  # the model knows the 10 digits and "yes"
    exp.write_text(exp.read_text() + '[evaluate]\ndatasets = ["fsdd"]\n')
    uri = new_tracking_uri(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", uri]) == 0
    _, trials = runs(uri)
    client = MlflowClient(uri)
    found = client.search_runs([trials[0].info.experiment_id],
                               "tags.`harness.role` = 'evaluation'")
    assert {r.data.tags["harness.evaluates"] for r in found} == {r.info.run_id for r in trials}
    for r in found:
        m = r.data.metrics
        assert m["eval_clips"] == 40  # FSDD's 4 test speakers x 10 digits
        assert 0 <= m["eval_acc"] <= m["eval_acc_restricted"] <= 1  # fewer ways to be wrong
        assert r.data.params["data.split"] == "roles"
    assert main(["report", "tiny", "--tracking-uri", uri, "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "## Does it hold on other data?" in text
    # 1 pair: withheld on both sides, which is no agreement
    assert ("On fsdd (the set's words only), the verdicts cannot be set beside the study's "
            "own (a verdict withheld on one side or both: complex vs magnitude)") in text


def test_an_unprepared_set_is_skipped_with_one_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    client = MlflowClient(new_tracking_uri(tmp_path))
    run_id = client.create_run(client.create_experiment("x")).info.run_id
    assert evaluate_trial(client, run_id, None, ["fsdd"], "cpu", "words30") == []
    assert skip_note("fsdd") in capsys.readouterr().err.replace("\n", " ")
    assert client.get_run(run_id).data.tags[SKIPPED] == "fsdd"


def test_evaluate_datasets_are_checked(tmp_path: Path) -> None:
    exp = tiny_experiment(tmp_path)
    base = exp.read_text()
    plain = load_experiment(exp)
    exp.write_text(base + '[evaluate]\ndatasets = ["fsdd", "fsdd"]\n')
    loaded = load_experiment(exp)
    assert loaded.evaluate == ("fsdd",)
    assert loaded.identity == plain.identity  # the same study with or without it
    exp.write_text(base + '[evaluate]\ndatasets = ["nope"]\n')
    with pytest.raises(HarnessError, match=r"\[evaluate\] datasets: unknown data set 'nope'"):
        load_experiment(exp)
