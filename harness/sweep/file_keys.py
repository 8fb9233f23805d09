"""An experiment file's keys, one at a time: a value's key and type, a [search.space]
dimension, the seeds, registry names and the options their factories take, TrainConfig's
own checks.

    [data] dataset                          -> KeyReader.dataset
    [search] seeds, [train] seed            -> KeyReader.seeds
    [search.space] KEY = [...] | {low, high, log}  -> KeyReader.dimension
    [train] KEY, [data] KEY, --set KEY=...  -> KeyReader.value
    frontend, model and their options       -> KeyReader.names (the registries)
    every TrainConfig value given           -> KeyReader.train_values (TrainConfig's checks)

harness.sweep.experiment_file's validator is a KeyReader, which is a SectionReader
(harness.sweep.file_sections): every error names the file and the key, with what would be
accepted.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import math
from pathlib import Path
from typing import Any

from harness.data import DATASETS
from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.sweep.experiment import Range
from harness.sweep.file_sections import SectionReader

NOT_PARAMS = ("seed", "device")  # TrainConfig fields that are not plain trial params


class KeyReader(SectionReader):
    """One file's keys checked against TrainConfig, DataSpec and the registries."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        from harness.training.config import TrainConfig  # torch: imported only when a file is read
        from harness.training.recipes import KEY_TYPES

        fields = dataclasses.fields(TrainConfig)
        self.train_types = {f.name: KEY_TYPES.get(f.name, type(f.default)) for f in fields}
        # Recipe keys are filled per trial from its recipe (Experiment.params), the rest here.
        self.train_defaults = {f.name: f.default for f in fields
                               if f.name not in NOT_PARAMS and f.name not in KEY_TYPES}

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
