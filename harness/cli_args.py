"""The subcommands' argparse parsers: one `add_*` per group, called by harness/cli.py.

Each parser names its handler as "module:function" (harness/commands/), imported only when
it runs. Nothing here imports torch, so `--help` is instant.
"""

from __future__ import annotations

import argparse
from typing import TypeAlias

# what ArgumentParser.add_subparsers returns
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

SPLITS = ("official", "random", "roles")  # `roles`: a data set's fixed speakers (fsdd)
FOLD_SPLITS = (*SPLITS, "speaker_folds")  # harness.data.SPLITS: speaker_folds needs --folds
TASKS = ("words30", "kws12", "kws35")  # harness.data.tasks.TASKS (not imported: no numpy here)
TASK_HELP = ("words30: every word folder a class; kws12: yes,no,up,down,left,right,on,off,"
             "stop,go + _silence_ + _unknown_ (the official test tarball when beside the data);"
             " kws35: the 35 words of v0.02 (docs/tasks.md; default: %(default)s)")


def _data_args(p: argparse.ArgumentParser, dataset_default: str = "synth_commands") -> None:
    p.add_argument("--dataset", default=dataset_default,
                   help="speech_commands_v0.01 | speech_commands_v0.02 | synth_commands | "
                        "synth_commands_small | synth_commands_v2 | synth_commands_v2_small | fsdd "
                        "(default: %(default)s)")
    p.add_argument("--root", default=None,
                   help="a folder in the Speech Commands layout to use instead of the data folder")
    p.add_argument("--split", choices=SPLITS, default="official",
                   help="official (the data set's lists; speaker-disjoint on Speech Commands),"
                        " random 60/20/20, or roles (fsdd's dev speakers train, its test "
                        "speakers test) (default: %(default)s)")
    p.add_argument("--split-seed", type=int, default=None,
                   help="seed of the random split (default: the --seed, so each replicate "
                        "draws its own split, as the sweep does)")
    p.add_argument("--task", choices=TASKS, default="words30", help=TASK_HELP)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frontend", default="complex", help="front-end name (default: %(default)s)")
    p.add_argument("--frontend-opt", action="append", metavar="KEY=VALUE",
                   help="front-end option, repeatable (e.g. n_fft=1024)")
    p.add_argument("--model", default="seed_cnn", help="model name (default: %(default)s)")
    p.add_argument("--model-opt", action="append", metavar="KEY=VALUE",
                   help="model option, repeatable (e.g. width=0.25)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="default: the recipe's (see --recipe)")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--amp", action="store_true",
                   help="bf16 autocast around the model (CPU or CUDA)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")


def _recipe_args(p: argparse.ArgumentParser) -> None:
    """--recipe and one flag per recipe key; each flag's default is the recipe's value."""
    from harness.training.recipes import DEFAULT_RECIPE, KEY_TYPES, RECIPES

    names = RECIPES.list()
    shown = "; ".join(f"{n}: {RECIPES.describe(n).rstrip('.')}" for n in names)
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=names,
                   help=f"training recipe (default: %(default)s). {shown}")
    default = RECIPES.create(DEFAULT_RECIPE)
    for key, kind in KEY_TYPES.items():
        if key == "batch_size":
            continue  # in _model_args: lr-find takes it too
        p.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None,
                       help=f"override the recipe's {key} ({DEFAULT_RECIPE}: "
                            f"{getattr(default, key)!r})")


def add_data(sub: Subparsers) -> None:
    """`data` and its actions: prepare, info, synth, transfer."""
    data = sub.add_parser("data", help="download, generate, decode and describe datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = dsub.add_parser("prepare", help="download or generate if needed, decode, cache")
    p.add_argument("dataset", nargs="?", default=None,
                   help="dataset name, or speech_commands_test_set_v0.01|v0.02 (the kws12 "
                        "test tarballs); may be left out with --root (labels inferred)")
    p.add_argument("--root", default=None, help="a folder in the Speech Commands layout")
    p.add_argument("--url", default=None,
                   help="where to download from: the archive's URL or a base folder URL "
                        "(default: $HARNESS_SPEECH_COMMANDS_URL, else TensorFlow's bucket; "
                        "fsdd: its archive as a URL, https or file://, or a path; default "
                        "GitHub's)")
    p.add_argument("--sha256", default=None,
                   help="the archive's expected SHA-256 (default: the published one), or "
                        "'skip' to check only its length")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip unreadable or malformed clips instead of stopping")
    p.set_defaults(handler="harness.commands.data:download_and_decode")
    p = dsub.add_parser("info", help="clips per split and per label")
    p.add_argument("dataset", nargs="?", default=None)
    p.add_argument("--root", default=None)
    p.add_argument("--split", choices=FOLD_SPLITS, default="official",
                   help="official | random | roles (fsdd: dev speakers train, test speakers "
                        "test) | speaker_folds (with --folds; --split-seed is the test fold)")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=None,
                   help="the number of speaker folds of --split speaker_folds")
    p.add_argument("--task", choices=TASKS, default="words30", help=TASK_HELP)
    p.add_argument("--skip-bad", action="store_true")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler="harness.commands.data:info")
    p = dsub.add_parser("synth", help="write an offline spoken-keyword folder anywhere")
    p.add_argument("out_dir")
    p.add_argument("--speakers", type=int, default=None, help="number of synthetic speakers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recipe", type=int, choices=(1, 2), default=1,
                   help="1: synth_commands; 2: synth_commands_v2, closer to recordings "
                        "(docs/synthetic.md) (default: %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a recipe-2 knob (harness.data.synth_v2.RealConfig), e.g. "
                        "--set room_share=0 --set band_weights=[1,0,0,0]")
    p.set_defaults(handler="harness.commands.data:synth")
    p = dsub.add_parser("transfer", help="train on an offline set, test on real speech (FSDD): "
                                         "how well its lessons carry over")
    p.add_argument("dataset", nargs="?", default=None,
                   help="the offline set to train on (default: the experiment's)")
    p.add_argument("--root", default=None,
                   help="train on this folder in the Speech Commands layout instead")
    p.add_argument("--experiment", default="quick",
                   help="whose model and recipe (default: %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one of its fixed options, e.g. --set epochs=5")
    p.add_argument("--frontend", nargs="+", default=None,
                   help="front-ends (default: the experiment's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="default: %(default)s")
    p.add_argument("--part", choices=("dev", "test", "all"), default="dev",
                   help="FSDD's speakers to test on: dev (jackson, nicolas) to choose a "
                        "recipe, test (the other four) for the final figure (default: "
                        "%(default)s)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler="harness.commands.transfer:transfer")


def add_list(sub: Subparsers) -> None:
    """`list`: the registries."""
    p = sub.add_parser("list", help="registered front-ends, models or training recipes")
    p.add_argument("what", choices=("frontends", "models", "recipes"))
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch filter, e.g. 'log*'")
    p.add_argument("--json", action="store_true")
    p.add_argument("--latency", action="store_true",
                   help="also time a batch-1 forward on one CPU thread (median ms); slow: "
                        "seconds per entry, a minute for every front-end")
    p.set_defaults(handler="harness.commands.listing:list_entries")


def add_training(sub: Subparsers) -> None:
    """`train` and `lr-find`: one run, no sweep."""
    p = sub.add_parser("train", help="one training run, no sweep")
    _data_args(p)
    _model_args(p)
    _recipe_args(p)
    p.add_argument("--checkpoint", default=None,
                   help="save the tested weights here, front-end and network "
                        "(harness.training.checkpoint.load_checkpoint)")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(handler="harness.commands.train:train")

    p = sub.add_parser("lr-find", help="learning-rate range test: loss vs LR as CSV and PNG")
    _data_args(p)
    _model_args(p)
    p.add_argument("--min-lr", type=float, default=1e-7)
    p.add_argument("--max-lr", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--out", default="runs/lr_find", help="output folder (default: %(default)s)")
    p.set_defaults(handler="harness.commands.train:lr_find")


def add_sweep(sub: Subparsers) -> None:
    """`sweep` and `ui`: the study and its MLflow store."""
    p = sub.add_parser("sweep", help="run or resume an Optuna study over an experiment file")
    p.add_argument("experiment", nargs="?", default="experiments/quick.toml",
                   help="experiment file or name in experiments/ (default: %(default)s)")
    p.add_argument("--storage", default=None,
                   help="Optuna storage URL (default: journal file under runs/)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                        "sqlite:///runs/mlflow.db)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes on this machine, the cores shared out among them "
                        "(default: the file's [search] workers, else 1)")
    p.add_argument("--trials", type=int, default=None, help="run this many more trials")
    p.add_argument("--retry-failed", action="store_true",
                   help="queue the study's FAIL trials again (they are otherwise never re-run)")
    p.add_argument("--epochs", type=int, default=None, help="override [train] epochs")
    p.add_argument("--device", default=None, help="override the device")
    p.add_argument("--task", choices=TASKS, default=None,
                   help="override [data] task (the same as --set data.task=...)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a fixed option, e.g. --set batch_size=64, "
                        "--set model.width=0.5, --set data.split=random")
    p.add_argument("--dry-run", type=float, default=None, metavar="SECONDS",
                   help="load-test the stores: trials claim, heartbeat and log as usual but "
                        "sleep SECONDS per epoch instead of training (no torch, no data; "
                        "their own queue in the study; docs/scaling.md)")
    p.set_defaults(handler="harness.commands.sweep:sweep")

    p = sub.add_parser("ui", help="the MLflow UI over the harness's store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri", default=None)
    p.set_defaults(handler="harness.commands.ui:ui")


def add_reports(sub: Subparsers) -> None:
    """`report` and `plan`: an experiment's runs read back."""
    p = sub.add_parser("report", help="rebuild reports/<experiment>/ from MLflow")
    p.add_argument("experiment", nargs="?", default="quick",
                   help="experiment name or file (default: %(default)s)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--out", default=None, help="output folder (default: reports/<experiment>)")
    p.add_argument("--storage", default=None,
                   help="the study's Optuna storage, to check that it agrees with MLflow "
                        "(default: the journal under runs/, when there is one)")
    p.set_defaults(handler="harness.commands.report:report")

    p = sub.add_parser("plan", help="replicates, wall time and the command each comparison "
                                    "needs for a verdict (a pilot's trials, or --sd)")
    p.add_argument("experiment", nargs="?", default="experiments/quick.toml",
                   help="experiment file or name in experiments/ (default: %(default)s)")
    p.add_argument("--sd", type=float, default=None,
                   help="the sd of the paired differences (accuracy), instead of the pilot's")
    p.add_argument("--tracking-uri", default=None, help="the pilot's MLflow store")
    p.set_defaults(handler="harness.commands.plan:plan")


def add_trial_tools(sub: Subparsers) -> None:
    """`stream`, `export`, `evaluate`: one trained trial, by run id."""
    p = sub.add_parser("stream", help="score a trained trial on a long test stream: "
                                      "false alarms per hour, DET curve (docs/streaming.md)")
    p.add_argument("run_id", help="the trial's MLflow run id (it must have logged its model)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a stream setting, e.g. --set seconds=600 --set hop_ms=50 "
                        "(seconds, density, fillers, snr_db, seed, hop_ms, smooth_ms, "
                        "refractory_ms, tolerance_ms, keywords, batch)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-log", action="store_true", help="print only; log nothing to the run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler="harness.commands.stream:stream")

    p = sub.add_parser("export", help="a trained trial as one ONNX graph (front-end inside): "
                                      "accuracy, bytes, latency, with --int8 too "
                                      "(docs/export.md)")
    p.add_argument("run_id", help="the trial's MLflow run id (it must have logged its model)")
    p.add_argument("--int8", action="store_true",
                   help="also quantise to int8 (static, calibrated on training clips) and "
                        "measure that graph")
    p.add_argument("--float-frontend", action="store_true",
                   help="with --int8: keep the whole front-end in float (by default it is "
                        "quantised unless it compresses: a log, power law, division, angle "
                        "or LayerNorm)")
    p.add_argument("--out", default=None,
                   help="folder for model.onnx (and model.int8.onnx) (default: "
                        "runs/export/RUN_ID)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--no-log", action="store_true", help="print only; log nothing to the run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler="harness.commands.export:export")

    p = sub.add_parser("evaluate", help="test a trained trial on another data set or split; "
                                        "logged as a run beside the trial")
    p.add_argument("run_id", help="the trial's MLflow run id (it must have logged its model)")
    p.add_argument("--root", default=None, help="a folder in the Speech Commands layout "
                   "(your own recordings, a noisier copy)")
    p.add_argument("--dataset", default=None, help="a named data set, e.g. speech_commands_v0.02"
                   " (default, without --root: the trial's own)")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="default: the trial's for its own data, else official")
    p.add_argument("--split-seed", type=int, default=None)
    p.add_argument("--task", choices=TASKS, default=None, help="default: the trial's task")
    p.add_argument("--part", choices=("test", "valid", "train", "dev", "all"), default="test",
                   help="which clips (default: %(default)s; all: a folder without list files; "
                        "on a data set with speaker roles (fsdd) test and dev are its test and "
                        "dev speakers)")
    p.add_argument("--tracking-uri", default=None)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--no-log", action="store_true", help="print only; log no run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler="harness.commands.evaluate:evaluate")


def add_inspect(sub: Subparsers) -> None:
    """`inspect`: one clip's signal figures."""
    p = sub.add_parser("inspect", help="signal figures for one clip: waveform, DFT, spectrogram")
    p.add_argument("--dataset", default=None,
                   help="dataset name (default: synth_commands, or the words of --root)")
    p.add_argument("--root", default=None)
    p.add_argument("--word", default=None, help="a word of the dataset (default: the first)")
    p.add_argument("--out", default="reports/inspect")
    p.set_defaults(handler="harness.commands.report:inspect")
