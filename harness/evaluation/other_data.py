"""A trained trial tested on another data set or split, logged as a run linked to the trial.

    mapping = label_map(pipeline.labels, data.labels, run_id)   # new label -> model logit
    result = evaluate_on(pipeline, clips, data.labels, mapping, device="cpu")
    eval_run_id = log_evaluation(client, trial_run, result, params, data, part="test")

Cross-corpus testing (a user's own recordings in the Speech Commands layout, v0.01 against
v0.02, a noisier copy) is how a researcher learns whether a front-end's gain is real or an
artefact of one recording set. The words are matched by name: the new set may hold fewer
words than the model knows (the model may still predict the others: a confusion), but a word
the model never learned is an error naming it, since no logit could ever be right for it.

MLflow: the evaluation run is in the trial's experiment, a sibling of the trial under the
study's parent (`mlflow.parentRunId`), tags `harness.role = evaluation` (the report's trial
readers select `trial`, so it never counts as one) and `harness.evaluates = <trial run id>`.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness.errors import HarnessError
from harness.signals import release_frames
from harness.tracking import lineage, names

ROLE = "evaluation"  # tag harness.role; a trial's is "trial", the study's "study"
EVALUATES = "harness.evaluates"
PARTS = ("test", "valid", "train", "dev", "all")
# the SplitData fields a part takes -> the context tag its dataset inputs get
_FIELDS = {"dev": {"train": "dev", "valid": "dev"}, "all": lineage.PARTS}  # dev: roles split


@dataclass(frozen=True)
class Evaluation:
    """The trial's pipeline on one set of clips.

    loss: mean cross-entropy per clip (nats); acc: fraction correct; confusion: (W, K) int64,
    rows the new set's W words (true), columns the model's K words (predicted); per_word:
    word -> accuracy on its clips (NaN for a word without clips); clips: how many.
    """

    loss: float
    acc: float
    confusion: np.ndarray
    words: list[str]           # rows of `confusion`
    model_words: list[str]     # columns of `confusion`
    per_word: dict[str, float]
    clips: int
    predictions: np.ndarray    # (N, 2) int64: true (new set's index), predicted (model's)
    # fraction correct when the argmax is over the new set's words only (10 digits, not 30)
    acc_restricted: float = float("nan")


def label_map(model_words: Sequence[str], words: Sequence[str], run_id: str) -> np.ndarray:
    """(W,) int64: the model's logit index of each of the new set's words, by name."""
    index = {w: i for i, w in enumerate(model_words)}
    unknown = [w for w in words if w not in index]
    if unknown:
        raise HarnessError(
            f"the model of run {run_id} does not know the word(s) {', '.join(unknown)}; it "
            f"knows {', '.join(model_words)}: evaluate on a folder of those words only (or "
            "with the trial's --task), or pick a run trained on these words")
    return np.array([index[w] for w in words], dtype=np.int64)


def part_fields(part: str) -> dict[str, str]:
    """SplitData field -> context tag of what `part` tests: "all" all three, "dev" train and
    valid (in the roles split, every clip of the dev speakers), else the field itself."""
    if part not in PARTS:
        raise HarnessError(f"--part {part!r}: give one of {', '.join(PARTS)}")
    return _FIELDS.get(part, {part: part})


def clips_of(data: Any, part: str) -> Any:
    """The SplitData part to test on: the fields of `part_fields`, concatenated."""
    from harness.data import Clips

    parts = [getattr(data, f) for f in part_fields(part)]
    if len(parts) == 1:
        return parts[0]
    return Clips(np.concatenate([p.audio for p in parts]),
                 np.concatenate([p.labels for p in parts]))


def evaluate_on(pipeline: Any, clips: Any, words: Sequence[str], mapping: np.ndarray,
                device: str = "cpu", batch_size: int = 256) -> Evaluation:
    """harness.training.loop.evaluate on `clips` relabelled into the model's indices."""
    from harness.data import Clips
    from harness.training.config import TrainConfig
    from harness.training.loop import evaluate

    if len(clips.labels) == 0:
        raise HarnessError("nothing to evaluate: that part of the data set has no clips "
                           "(a folder without testing_list.txt: pass --part all)")
    relabelled = Clips(clips.audio, mapping[clips.labels])
    cfg = TrainConfig(batch_size=batch_size, device=device)
    among = sorted(set(mapping.tolist()))  # the model's logits of the new set's words
    result = evaluate(pipeline.model, pipeline.frontend, relabelled, cfg, among=among)
    assert result.among_predictions is not None  # `among` given
    confusion = result.confusion[mapping]  # rows: the new set's words, in its order
    totals = confusion.sum(axis=1)
    hits = confusion[np.arange(len(words)), mapping]
    per_word = {w: float(h / n) if n else float("nan")
                for w, h, n in zip(words, hits, totals, strict=True)}
    return Evaluation(loss=result.loss, acc=result.acc, confusion=confusion,
                      words=list(words), model_words=list(pipeline.labels), per_word=per_word,
                      clips=len(clips.labels),
                      predictions=np.stack([clips.labels, result.predictions], axis=1),
                      acc_restricted=float(np.mean(result.among_predictions
                                                   == relabelled.labels)))


def metrics_of(ev: Evaluation) -> dict[str, float]:
    """`eval_acc` (argmax over all the model's words), `eval_acc_restricted` (over the new
    set's words only), `eval_loss`, `eval_clips`, and `eval_acc <word>` per word with clips."""
    out = {"eval_acc": ev.acc, "eval_acc_restricted": ev.acc_restricted, "eval_loss": ev.loss,
           "eval_clips": float(ev.clips)}
    out |= {f"eval_acc {w}": v for w, v in ev.per_word.items() if not np.isnan(v)}
    return out


def log_evaluation(client: MlflowClient, trial: Any, ev: Evaluation,
                   params: Mapping[str, Any], data: Any, part: str) -> str:
    """A run beside the trial's (`trial`: its mlflow Run) holding `ev`; returns its id.

    Params: the evaluation's `data.*` and `eval.part`; tags: role, `harness.evaluates`, the
    trial's parent, `test_set`, the code's versions; metrics `metrics_of` plus the trial's
    own `trial_test_acc`; artifacts `confusion_matrix.csv` (rows true words of the new set,
    columns the model's words), `per_word.csv`, `eval_predictions.csv`; dataset inputs as
    a trial's (harness.tracking.lineage.log_data), of the part(s) tested.
    """
    from harness.tracking.runs import environment_tags

    tags = {names.ROLE: ROLE, EVALUATES: trial.info.run_id, "test_set": data.test_set,
            "trial_run_name": trial.info.run_name or "", **environment_tags(),
            **lineage.git_tags()}
    parent = trial.data.tags.get("mlflow.parentRunId")
    if parent:
        tags["mlflow.parentRunId"] = parent  # nested beside the trial under the study
    name = f"eval · {trial.info.run_name or trial.info.run_id[:8]} · {data.dataset} {part}"
    run_id = client.create_run(trial.info.experiment_id, run_name=name, tags=tags).info.run_id
    try:
        logged = {**params, "eval.part": part, "trial_frontend":
                  trial.data.params.get("frontend"), "trial_model": trial.data.params.get("model")}
        now = int(time.time() * 1000)
        own = trial.data.metrics.get("test_acc")
        values = metrics_of(ev) | ({} if own is None else {"trial_test_acc": own})
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in logged.items()],
                         metrics=[Metric(k, float(v), now, 0) for k, v in values.items()],
                         tags=[RunTag("harness.eval_words", ",".join(ev.words))])
        lineage.log_data(client, run_id, params, data, parts=part_fields(part))
        client.log_text(run_id, _csv(["", *ev.model_words], [
            [w, *(int(n) for n in row)] for w, row in zip(ev.words, ev.confusion, strict=True)]),
            "confusion_matrix.csv")
        client.log_text(run_id, _csv(["word", "clips", "acc"], [
            [w, int(ev.confusion[i].sum()), ev.per_word[w]] for i, w in enumerate(ev.words)]),
            "per_word.csv")
        client.log_text(run_id, _csv(["label", "pred"], ev.predictions.tolist()),
                        "eval_predictions.csv")
    except BaseException as exc:
        release_frames(exc)  # an interruption's cut-off query would keep SQLite locked
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _csv(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
