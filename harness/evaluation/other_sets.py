"""A sweep trial tested on other named data sets after its own test (`[evaluate] datasets`).

    evaluate_trial(client, run_id, classifier, ["fsdd"], "cpu", task="words30")

Each set is tested in its `roles` split's test speakers when it has speaker roles (fsdd:
george, lucas, theo, yweweler), else its official test split, on the trial's task; words
matched by name (other_data.label_map). Each becomes an evaluation run linked to the trial
(other_data.log_evaluation) with `eval_acc` (argmax over all the model's words) and
`eval_acc_restricted` (argmax over the set's words only). A set that is not prepared is
skipped with one line: a sweep never downloads or converts a data set in its middle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow.tracking import MlflowClient

from harness.console import console
from harness.data import SPEAKER_ROLES, prepared
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.evaluation.other_data import evaluate_on, label_map, log_evaluation

PART = "test"  # the other set's part every trial is tested on
SKIPPED = "harness.evaluate_skipped"  # trial tag: the sets it could not be tested on, by comma


def spec_for(dataset: str, task: str) -> DataSpec:
    """The other set's data: its speaker roles when it has them, else its official split."""
    split = "roles" if dataset in SPEAKER_ROLES else "official"
    return DataSpec(dataset=dataset, split=split, split_seed=0, task=task)


def skip_note(dataset: str) -> str:
    """The one line a study prints (and the report shows) for a set it could not test on."""
    return (f"evaluate: {dataset} is not prepared, skipped (run `harness data prepare "
            f"{dataset}` before the sweep to test every trial on it)")


def evaluate_trial(client: MlflowClient, run_id: str, classifier: Any,
                   datasets: Sequence[str], device: str, task: str) -> list[str]:
    """Test `classifier` (.model, .frontend, .labels) on each set; the evaluation run ids.

    The trial run `run_id` must already hold its `test_acc` (logged beside each evaluation).
    """
    done, skipped = [], []
    for dataset in datasets:
        if not prepared(dataset):
            console.print(skip_note(dataset), markup=False, soft_wrap=True)
            skipped.append(dataset)
            continue
        spec = spec_for(dataset, task)
        try:  # a set the model cannot be tested on fails no trial: the study goes on
            data = spec.load()
            mapping = label_map(classifier.labels, data.labels, run_id)
        except HarnessError as exc:
            console.print(f"evaluate: {dataset} skipped: {exc}", markup=False, soft_wrap=True)
            skipped.append(dataset)
            continue
        result = evaluate_on(classifier, data.test, data.labels, mapping, device)
        done.append(log_evaluation(client, client.get_run(run_id), result, spec.params(), data,
                                   PART))
    if skipped:  # the report says how to prepare them
        client.set_tag(run_id, SKIPPED, ",".join(skipped))
    return done
