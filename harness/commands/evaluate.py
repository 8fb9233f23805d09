"""`harness evaluate RUN_ID`: test a trained trial on another data set or split.

    python -m harness evaluate 3f2a... --root ~/my_recordings --part all
    python -m harness evaluate 3f2a... --dataset speech_commands_v0.02 --json
    python -m harness evaluate 3f2a...                  # its own test split again
    python -m harness evaluate 3f2a... --dataset fsdd --part dev    # FSDD's dev speakers

The pipeline is the MLflow model the trial logged (harness/logged_model.py `load_pipeline`,
the one way in, as `harness stream`). Without --root or --dataset the data is the trial's
own (its `data.*` params); --split, --split-seed and --task default to the trial's for its
own data, to official / 0 / the trial's task for another (`--part all`, every clip: the
random split, so a folder of one's own needs no list files). A named data set with fixed
speaker roles (fsdd) defaults to its `roles` split: `--part test` is its test speakers,
`--part dev` its dev speakers (the roles split's train and valid). Words are matched by name
(harness/evaluation.py): a word the model never learned is an error naming it. The result
is logged as an evaluation run beside the trial (`--no-log` to only print it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os

from harness.commands.stream import find_run
from harness.console import console
from harness.data.spec import DataSpec
from harness.errors import HarnessError


def eval_spec(args: argparse.Namespace, trial: dict[str, str]) -> DataSpec:
    """The data to evaluate on: the trial's (its `data.*` params), with the flags over it.

    Another named data set with speaker roles (fsdd) is tested in its `roles` split, so
    `--part test` is its test speakers and `--part dev` its dev speakers."""
    from harness.data import SPEAKER_ROLES

    own = DataSpec.from_params(trial)
    split = "roles" if args.dataset in SPEAKER_ROLES else "official"
    spec = own if args.root is None and args.dataset is None else DataSpec(
        dataset=args.dataset, root=args.root, split=split, split_seed=0, task=own.task)
    if args.part == "all":  # every clip whatever the split: a folder needs no list files
        spec = dataclasses.replace(spec, split="random")
    flags = {"split": args.split, "split_seed": args.split_seed, "task": args.task}
    spec = dataclasses.replace(spec, **{k: v for k, v in flags.items() if v is not None})
    if args.part == "dev" and spec.split != "roles":
        raise HarnessError(f"--part dev is the dev speakers of a data set with speaker roles "
                           f"({', '.join(SPEAKER_ROLES)}), in its roles split; the split here "
                           f"is {spec.split}: give --dataset {next(iter(SPEAKER_ROLES))}"
                           " or --split roles")
    return spec


def evaluate(args: argparse.Namespace) -> int:
    """Load the trial's pipeline, test it, log the evaluation run, print a summary."""
    from harness.evaluation.other_data import clips_of, evaluate_on, label_map, log_evaluation
    from harness.tracking.logged_model import load_pipeline
    from harness.training.device import resolve_device

    client, run = find_run(args.tracking_uri, args.run_id)
    role = run.data.tags.get("harness.role", "trial")
    if role != "trial":
        raise HarnessError(f"run {args.run_id} is the {role} run, not a trial's: give a trial's "
                           "run id (its model is what is tested)")
    device = resolve_device(args.device)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep stderr clean
    pipeline = load_pipeline(client, args.run_id)
    spec = eval_spec(args, run.data.params)
    params = spec.params()
    data = spec.load()
    mapping = label_map(pipeline.labels, data.labels, args.run_id)
    clips = clips_of(data, args.part)
    result = evaluate_on(pipeline, clips, data.labels, mapping, str(device))
    eval_id = None if args.no_log else log_evaluation(client, run, result, params, data,
                                                       args.part)
    own = run.data.metrics.get("test_acc")
    if args.json:
        print(json.dumps({"run_id": eval_id, "evaluates": args.run_id, "dataset": data.dataset,
                          "root": str(data.root), "split": params["data.split"],
                          "task": data.task, "part": args.part, "clips": result.clips,
                          "eval_acc": result.acc, "eval_loss": result.loss,
                          "trial_test_acc": own, "per_word": {  # None: no clip of it
                              w: (v if v == v else None) for w, v in result.per_word.items()}},
                         sort_keys=True))
        return 0
    name = run.info.run_name or args.run_id
    console.print(f"evaluate: {name} (run {args.run_id}) on {data.dataset}, {args.part} of the "
                  f"{params['data.split']} split, task {data.task}: {result.clips} clips",
                  markup=False, soft_wrap=True)
    mine = "—" if own is None else f"{own:.4f}"
    console.print(f"  accuracy {result.acc:.4f}   loss {result.loss:.4f}   (its own test "
                  f"accuracy: {mine})", markup=False)
    words = [f"{w} {v:.2f}" for w, v in result.per_word.items() if v == v]  # NaN: no clips
    for i in range(0, len(words), 6):
        console.print("  " + "   ".join(words[i:i + 6]), markup=False)
    if eval_id:
        console.print(f"  logged: evaluation run {eval_id} (beside the trial in `harness ui`)",
                      markup=False)
    return 0
