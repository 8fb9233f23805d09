"""Experiment files: experiments/*.toml -> a validated, frozen `Experiment`.

    exp = load_experiment("quick", overrides={"epochs": 2})   # a name in experiments/ or a path

One flat namespace names every option everywhere: in `[train]`, in `[search.space]`,
in `--set KEY=VALUE` and in the MLflow params. Keys are `frontend`, `model`, any
TrainConfig field (`recipe`, `epochs`, `batch_size`, `lr`, ...), `model.<opt>` and
`frontend.<opt>` (options of the registered factories) and, in `[data]`, the fields of
harness.data.spec.DataSpec: `dataset`, `root`, `split`, `split_seed`, `task` (`data.<key>`
elsewhere; tasks: docs/tasks.md).
`recipe` names a registered training recipe (harness.training.recipes: `as_ran` by default); any
of its keys (`epochs`, `lr`, `patience`, `test_weights`, ...) given beside it overrides
that one value. A random split
is drawn anew for every replicate (its seed is the trial's seed) unless `split_seed` fixes
it. A file:

    name = "quick"
    description = "..."
    [data]
    dataset = "synth_commands"
    split = "official"
    task = "words30"              # words30 | kws12 | kws35 (harness.data.tasks)
    [train]
    model = "seed_cnn"
    "model.width" = 0.25          # quoted: a dotted key, not a sub-table
    recipe = "as_ran"             # harness.training.recipes; its keys may be overridden:
    epochs = 5
    [search]
    sampler = "grid"              # grid | tpe | random
    pruner = "none"               # none | median | hyperband
    seeds = [0, 1, 2]
    # n_trials = 20               # tpe/random only: trials in all (seed runs included)
    # workers = 2                 # processes a sweep starts (--workers overrides)
    [search.space]
    frontend = ["magnitude", "complex"]            # a list: categorical
    # lr = {low = 1e-3, high = 3e-2, log = true}   # a range (tpe/random; int if ints)
    [report]
    margin = 0.005                # equivalence margin in accuracy (0.5 points, the default)
    # detection_margin = 0.02     # the streaming detection rate's (2 points, the default)
    [stream]                      # streaming evaluation after each trial (docs/streaming.md)
    enabled = true                # default off; seconds, hop_ms, density, snr_db, ...
    [tracking]
    models = "all"                # trained weights kept in MLflow: all | best | none
    [evaluate]
    datasets = ["fsdd"]           # also test every trial on these sets (skipped unprepared)
    [export]                      # after each test: ONNX, int8, measured (docs/export.md)
    onnx = true
    int8 = true

Everything is checked here, before any trial: unknown keys or names, options a factory
does not take, bad ranges; every error names the file and the key. Front-end/model pairings
that cannot be built are `harness.sweep.experiment.check_pipelines`'s: a grid over several
front-ends and models skips those pairings, and anything else that cannot be built fails.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.data import DATASETS
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.export.settings import ExportSettings
from harness.streaming.settings import StreamSettings
from harness.sweep.experiment import Experiment, Range
from harness.sweep.file_sections import SectionReader

SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "hyperband")
NOT_PARAMS = ("seed", "device")  # TrainConfig fields that are not plain trial params
EXPERIMENTS_DIR = Path("experiments")


def resolve_path(experiment: str | Path) -> Path:
    """A path to an existing file, or a name in experiments/ ("quick" or "quick.toml")."""
    path = Path(experiment)
    if path.is_file():
        return path
    for candidate in (EXPERIMENTS_DIR / path.name, EXPERIMENTS_DIR / f"{path.name}.toml"):
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in sorted(EXPERIMENTS_DIR.glob("*.toml"))) or "none"
    raise HarnessError(f"no experiment file {str(experiment)!r}; experiments/ holds: {known}")


def load_experiment(experiment: str | Path, overrides: Mapping[str, Any] | None = None,
                    ) -> Experiment:
    """Read and validate a file; `overrides` (from --set/--epochs/--device) pin keys."""
    path = resolve_path(experiment)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, OSError) as exc:
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise HarnessError(f"{path}: cannot be read ({why}); an experiment file is TOML "
                           "text, e.g. experiments/quick.toml") from None
    except tomllib.TOMLDecodeError as exc:
        hint = (' (a dotted option key needs quotes: "model.width" = 0.25)'
                if "overwrite" in str(exc) else "")
        raise HarnessError(f"{path}: not valid TOML: {exc}{hint}") from None
    return _Validator(path).experiment(raw, dict(overrides or {}))


class _Validator(SectionReader):
    """Turns the raw TOML dict into an Experiment; every error names the file and the key."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        from harness.training.config import TrainConfig  # torch: imported only when a file is read
        from harness.training.recipes import KEY_TYPES

        fields = dataclasses.fields(TrainConfig)
        self.train_types = {f.name: KEY_TYPES.get(f.name, type(f.default)) for f in fields}
        # Recipe keys are filled per trial from its recipe (Experiment.params), the rest here.
        self.train_defaults = {f.name: f.default for f in fields
                               if f.name not in NOT_PARAMS and f.name not in KEY_TYPES}

    def experiment(self, raw: dict[str, Any], overrides: dict[str, Any]) -> Experiment:
        self.table(raw, "top level", ("name", "description", "data", "train", "search",
                                      "report", "stream", "tracking", "evaluate",
                                      "export"))
        name = raw.get("name", self.path.stem)
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise self.fail("name", f"{name!r}: use letters, digits, '_', '-', '.'")
        description = raw.get("description", "")
        data = self.table(raw.get("data", {}), "[data]", DataSpec.key_names())
        self.dataset(data)
        fixed = {**DataSpec().params(), **{f"data.{k}": v for k, v in data.items()}}
        named = "dataset" in data or "data.dataset" in overrides
        explicit = {f"data.{k}" for k in data}
        for key, value in _flatten(raw.get("train", {})).items():
            fixed[key] = value
            explicit.add(key)
        margin, detection_margin = (self.margin(raw.get("report", {}), key)
                                    for key in ("margin", "detection_margin"))
        search = self.table(raw.get("search", {}), "[search]",
                            ("sampler", "pruner", "n_trials", "seeds", "space", "workers"))
        workers = search.get("workers", 1)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise self.fail("[search] workers", f"{workers!r}: a positive integer (processes "
                                                "a `sweep` starts unless --workers says)")
        space = {k: self.dimension(k, v) for k, v in _flatten(search.get("space", {})).items()}
        for key in space:  # a searched [data] key is no longer its default
            if key.startswith("data.") and key not in explicit:
                fixed.pop(key, None)
        seeds = self.seeds(search.get("seeds"), fixed.pop("seed", None))

        for key, value in fixed.items():
            where = f"[data] {key[5:]}" if key.startswith("data.") else f"[train] {key}"
            fixed[key] = self.value(key, value, where)
        device = str(fixed.pop("device", "auto"))
        for key, value in overrides.items():  # a pinned key is no longer searched
            value = self.value(key, value, f"override {key}={value!r}")
            if key == "seed":
                seeds = (value,)
            elif key == "device":
                device = str(value)
            else:
                space.pop(key, None)
                fixed[key] = value
                explicit.add(key)
        if fixed["data.root"] is not None and not named:
            fixed["data.dataset"] = None  # a folder of one's own: labels from its words
        for key, default in self.train_defaults.items():  # every trial lists every field
            if key not in space:
                fixed.setdefault(key, default)
        for key in space:
            if key in fixed:
                raise self.fail(f"[search.space] {key}", "also fixed in [train]; keep one")
        self.names(fixed, space)
        self.train_values(fixed, space)

        sampler = search.get("sampler", "grid")
        if sampler not in SAMPLERS:
            raise self.fail("[search] sampler", f"{sampler!r}; use one of {', '.join(SAMPLERS)}")
        pruner = search.get("pruner", "none")
        if pruner not in PRUNERS:
            raise self.fail("[search] pruner", f"{pruner!r}; use one of {', '.join(PRUNERS)}")
        n_trials = search.get("n_trials")
        if sampler == "grid":
            ranges = [k for k, d in space.items() if isinstance(d, Range)]
            if ranges:
                raise self.fail(f"[search.space] {ranges[0]}", "a grid needs a list of values")
            if n_trials is not None:
                raise self.fail("[search] n_trials", "a grid runs every point; run fewer "
                                                     "with --trials N")
        elif not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1:
            raise self.fail("[search] n_trials", f"{sampler} needs a positive integer")
        return Experiment(name=name, description=str(description), path=self.path,
                          fixed=fixed, space=space, seeds=seeds, sampler=sampler,
                          pruner=pruner, n_trials=n_trials, device=device,
                          explicit=tuple(sorted(explicit & set(fixed))), margin=margin,
                          detection_margin=detection_margin,
                          workers=workers,
                          stream=self.settings(StreamSettings, raw.get("stream"), "[stream]"),
                          models=self.models(raw.get("tracking", {})),
                          evaluate=self.other_sets(raw.get("evaluate", {})),
                          export=self.settings(ExportSettings, raw.get("export"), "[export]"))

    def dataset(self, data: dict[str, Any]) -> None:
        name = data.get("dataset", DataSpec.dataset)
        if data.get("root") is None and name not in DATASETS:
            raise self.fail("[data] dataset", f"unknown data set {name!r}; known: "
                                              f"{', '.join(DATASETS)} (or give root)")

    def seeds(self, seeds: Any, seed: Any) -> tuple[int, ...]:
        if seeds is not None and seed is not None:
            raise self.fail("[train] seed", "also given as [search] seeds; keep one")
        if seeds is None:
            return (self.value("seed", 0 if seed is None else seed, "[train] seed"),)
        ok = isinstance(seeds, list) and seeds and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        if not ok or len(set(seeds)) != len(seeds):
            raise self.fail("[search] seeds", "must be a non-empty list of distinct integers "
                                              ">= 0")
        return tuple(seeds)

    def dimension(self, key: str, raw: Any) -> tuple[Any, ...] | Range:
        where = f"[search.space] {key}"
        if key == "seed":
            raise self.fail(where, "seeds are not searched; use [search] seeds = [0, 1, 2]")
        if isinstance(raw, list):
            if not raw:
                raise self.fail(where, "an empty list; give at least one value")
            if len(set(map(repr, raw))) != len(raw):
                raise self.fail(where, "a value is listed twice")
            return tuple(self.value(key, v, where) for v in raw)
        if not isinstance(raw, dict):
            raise self.fail(where, "use a list (categorical) or {low, high, log} (range)")
        self.table(raw, where, ("low", "high", "log"))
        low, high, log = raw.get("low"), raw.get("high"), raw.get("log", False)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers:
            raise self.fail(where, "a range needs numeric low and high")
        if not isinstance(log, bool):
            raise self.fail(where, "log must be true or false")
        if low >= high:
            raise self.fail(where, f"low ({low}) must be below high ({high})")
        if log and low <= 0:
            raise self.fail(where, f"a log range needs low > 0 (got {low})")
        integer = (isinstance(low, int) and isinstance(high, int)
                   and self.train_types.get(key) is not float)
        self.value(key, low if integer else float(low), where)  # the key takes numbers?
        return Range(low=low, high=high, log=log, integer=integer)

    def value(self, key: str, value: Any, where: str) -> Any:
        """Check one value's key and type; ints are accepted (and made floats) for floats."""
        if isinstance(value, dict | list):
            raise self.fail(where, "must be a single value")
        if key.startswith(("model.", "frontend.")) or key in ("frontend", "model"):
            if key in ("frontend", "model") and not isinstance(value, str):
                raise self.fail(where, f"{key} must be a registered name (a string)")
            return value  # names and options are checked against the registries in names()
        if key == "recipe":
            from harness.training.recipes import RECIPES

            if not isinstance(value, str) or value not in RECIPES:
                raise self.fail(where, f"unknown recipe {value!r}; known: "
                                       f"{', '.join(RECIPES.list())}")
            return value
        if key.startswith("data."):
            try:
                return DataSpec.check(key.removeprefix("data."), value)
            except HarnessError as exc:
                raise self.fail(where, str(exc)) from None
        expected = self.train_types.get(key)
        if expected is None:
            known = ", ".join(["frontend", "model", "model.<option>", "frontend.<option>",
                               *self.train_types])
            raise self.fail(where, f"unknown key {key!r}; known: {known}")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if expected is float and numeric:
            if not math.isfinite(value):
                raise self.fail(where, f"{value!r} is not a finite number")
            return float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise self.fail(where, f"{value!r} is not a {expected.__name__}")
        if key == "seed" and value < 0:
            raise self.fail(where, f"seed {value!r}: seeds are integers >= 0 (NumPy's rule)")
        return value

    def train_values(self, fixed: dict[str, Any], space: dict[str, Any]) -> None:
        """TrainConfig's own checks (epochs >= 1, lr > 0, ...) on every value given."""
        from harness.training.config import TrainConfig

        keys = {f.name for f in dataclasses.fields(TrainConfig)} - set(NOT_PARAMS)
        base = {k: v for k, v in fixed.items() if k in keys}
        tries = [("[train]", base)]
        for key, dim in space.items():
            if key in keys:
                values = (dim.low, dim.high) if isinstance(dim, Range) else dim
                tries += [(f"[search.space] {key}", {**base, key: v}) for v in values]
        for where, values in tries:
            try:
                TrainConfig(**values)
            except HarnessError as exc:
                raise self.fail(where, str(exc)) from None

    def names(self, fixed: dict[str, Any], space: dict[str, Any]) -> None:
        """Registry names exist, and every option is taken by every factory it may reach."""
        from harness.frontends import FRONTENDS
        from harness.models import MODELS

        for kind, registry in (("frontend", FRONTENDS), ("model", MODELS)):
            where = f"[search.space] {kind}" if kind in space else f"[train] {kind}"
            if kind not in fixed and kind not in space:
                raise self.fail(f"[train] {kind}", f"missing; e.g. {kind} = "
                                                   f"{registry.list()[0]!r}")
            names = space.get(kind) or (fixed[kind],)
            for name in names:
                if name not in registry:
                    raise self.fail(where, f"unknown {registry.kind} {name!r}; known: "
                                           f"{', '.join(registry.list())}")
            options = [k for k in (*fixed, *space) if k.startswith(f"{kind}.")]
            for name, key in itertools.product(names, options):
                opt = key.partition(".")[2]
                option = inspect.signature(registry.get(name)).parameters.get(opt)
                dim = space.get(key, (fixed.get(key),))
                if option and isinstance(option.default, float) and isinstance(dim, Range):
                    space[key] = dim = dataclasses.replace(dim, integer=False)  # {low=0, high=1}
                for value in (dim.low, dim.high) if isinstance(dim, Range) else dim:
                    try:
                        registry.check(name, {opt: value})
                    except HarnessError as exc:
                        raise self.fail(key, str(exc)) from None


def _flatten(table: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"width": 1}} -> {"model.width": 1}: unquoted dotted keys become tables."""
    if not isinstance(table, dict):
        return {prefix.rstrip("."): table}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict) and not {"low", "high"} & set(value):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
