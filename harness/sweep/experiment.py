"""An experiment: the validated, frozen form of an experiments/*.toml file, and what a sweep
asks of it. Files are read and checked by `harness.sweep.experiment_file`.

    exp = load_experiment("quick", overrides={"epochs": 2})   # harness.sweep.experiment_file
    exp.grid()                       # [{"frontend": "complex", "seed": 0}, ...] for a grid
    exp.params(trial_params)         # the full flat dict of one trial (docs/architecture.md)
    exp.suggest(trial)               # draw the searched keys from an Optuna trial
    check_pipelines(exp)             # builds every front-end/model pairing once, before trials

Seeds are never sampled: every configuration runs once per seed, so seeds pair up
across configurations (a grid crosses its points with the seeds; tpe/random sample a
configuration and run it for each seed).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.export.settings import ExportSettings
from harness.streaming.settings import StreamSettings
from harness.tracking.runs import DEFAULT_DETECTION_MARGIN, DEFAULT_MARGIN


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric search range; integer when both bounds are TOML integers."""

    low: float
    high: float
    log: bool = False
    integer: bool = False


KEPT_MODELS = ("all", "best", "none")  # trials whose trained pipeline MLflow keeps (logged_model)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A validated experiment file. Dicts are read-only by convention (kept picklable)."""

    name: str
    description: str
    path: Path
    fixed: dict[str, Any]                      # flat key -> value, not searched
    space: dict[str, tuple[Any, ...] | Range]  # flat key -> choices or range
    seeds: tuple[int, ...]
    sampler: str
    pruner: str
    n_trials: int | None                       # tpe/random; None for a grid
    device: str = "auto"                       # a property of the machine, not a param
    excluded: tuple[tuple[str, str, str], ...] = ()  # (frontend, model, why) never paired
    explicit: tuple[str, ...] = ()             # fixed keys the file or an override gave
    margin: float = DEFAULT_MARGIN             # [report] margin: equivalence, in accuracy
    detection_margin: float = DEFAULT_DETECTION_MARGIN  # [report] detection_margin: streaming
    workers: int = 1                           # [search] workers: processes by default
    stream: StreamSettings | None = None       # [stream]: streaming evaluation, None = off
    models: str = KEPT_MODELS[0]                    # [tracking] models: which keep weights
    # [evaluate] datasets: other named sets each trial is tested on after its own test
    # (harness.evaluation.other_sets); not part of the identity: it changes no trial
    evaluate: tuple[str, ...] = ()
    # [export] onnx / int8: each trial also exported and measured (harness.export.track);
    # not part of the identity either
    export: ExportSettings | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two runs of this file the same experiment: the fixed values it gives
        (and its recipe's name), not the defaults filled in beside them, so a key added to
        the harness later with a default does not fork a study made before it."""
        given = {k: self.fixed[k] for k in self.explicit if k in self.fixed}
        return {**given, "recipe": self.fixed.get("recipe")}

    @property
    def searched(self) -> list[str]:
        """The keys that vary between trials (`seed` when there are several seeds)."""
        return [*self.space, *(["seed"] if len(self.seeds) > 1 else [])]

    def grid(self) -> list[dict[str, Any]]:
        """Every grid point (seed included, outermost); needs list dimensions only."""
        keys = ["seed", *self.space]  # seed outermost: a partial grid still pairs up
        values = [self.seeds, *self.space.values()]
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
        skip = {(fe, model) for fe, model, _ in self.excluded}
        return [p for p in points if (p.get("frontend", self.fixed.get("frontend")),
                                      p.get("model", self.fixed.get("model"))) not in skip]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for every searched key and the seed."""
        out: dict[str, Any] = {}
        for key, dim in self.space.items():
            if isinstance(dim, Range) and dim.integer:
                out[key] = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
            elif isinstance(dim, Range):
                out[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
            else:
                out[key] = trial.suggest_categorical(key, list(dim))
        out["seed"] = _suggest_seed(trial, self.seeds)
        return out

    def params(self, searched: Mapping[str, Any]) -> dict[str, Any]:
        """The full flat dict of one trial, sorted: fixed values, then the searched ones,
        then every value of its recipe that neither gives; a random split without a fixed
        `split_seed` takes the trial's seed, so each replicate draws its own split."""
        from harness.data.spec import DataSpec
        from harness.training.recipes import resolve

        merged = {**self.fixed, **searched}
        merged.update(dataclasses.asdict(resolve(merged)))
        merged.update(DataSpec.from_params(merged).for_seed(merged["seed"]).params())
        first = ("frontend", "model", "seed")
        return {k: merged[k] for k in (*first, *sorted(set(merged) - set(first)))}


def _suggest_seed(trial: Any, seeds: tuple[int, ...]) -> int:
    """The trial's seed (always enqueued, never sampled) as an Optuna integer from the
    file's smallest to its largest seed, so that growing `seeds` extends the study: Optuna
    checks an integer's kind against earlier trials, not its range, but refuses new choices
    for a categorical ("CategoricalDistribution does not support dynamic value space"). A
    study whose first seed was recorded as a categorical (made before this) keeps it for
    the seeds it had; a new seed there is a HarnessError naming the way out."""
    import optuna

    trials = trial.study.get_trials(deepcopy=False)
    old = next((t.distributions["seed"] for t in trials if "seed" in t.distributions), None)
    if not isinstance(old, optuna.distributions.CategoricalDistribution):
        return trial.suggest_int("seed", min(seeds), max(seeds))
    me = next(t for t in trials if t.number == trial.number)
    seed = me.system_attrs.get("fixed_params", {}).get("seed")
    if seed not in old.choices:
        raise HarnessError(f"study {trial.study.study_name!r} recorded the seed as one of "
                           f"{list(old.choices)} (a study made before seeds could grow); seed "
                           f"{seed} is not among them: run the grown file under a new `name`")
    return trial.suggest_categorical("seed", list(old.choices))


def check_pipelines(exp: Experiment) -> Experiment:
    """Build every front-end/model pairing once, before any trial; returns `exp` with the
    pairings that cannot be built (`m5` on a spectrogram) in `excluded`, which a grid skips.

    A pairing is built with the fixed options and the first value of each searched one.
    Fails when nothing can be built, or the one fixed pairing cannot.
    """
    from harness.models import build_pipeline

    first = {k: (d.low if isinstance(d, Range) else d[0]) for k, d in exp.space.items()
             if k.startswith(("model.", "frontend."))}
    opts = {**{k: v for k, v in exp.fixed.items() if k.startswith(("model.", "frontend."))},
            **first}
    frontends = exp.space.get("frontend") or (exp.fixed["frontend"],)
    models = exp.space.get("model") or (exp.fixed["model"],)
    excluded = []
    for fe, model in itertools.product(frontends, models):
        try:
            build_pipeline(frontend=fe, model=model, n_classes=2,
                           frontend_opts=options_of(opts, "frontend"),
                           model_opts=options_of(opts, "model"))
        except HarnessError as exc:
            excluded.append((fe, model, str(exc)))
        except Exception as exc:  # an option torch refuses (n_fft below win_length, ...)
            excluded.append((fe, model, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
    if len(excluded) == len(frontends) * len(models):
        raise HarnessError(f"{exp.path}: {excluded[0][0]} + {excluded[0][1]}: {excluded[0][2]}")
    return dataclasses.replace(exp, excluded=tuple(excluded))


def options_of(params: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The `<kind>.<opt>` entries of a flat dict, without the prefix."""
    return {k.partition(".")[2]: v for k, v in params.items() if k.startswith(f"{kind}.")}
