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
The tables are put together here; each key is checked by harness.sweep.file_keys (KeyReader),
the add-on tables ([report], [tracking], [evaluate], [stream], [export]) by
harness.sweep.file_sections (SectionReader, KeyReader's base).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.data.spec import DataSpec
from harness.errors import HarnessError
from harness.export.settings import ExportSettings
from harness.streaming.settings import StreamSettings
from harness.sweep.experiment import Experiment, Range
from harness.sweep.file_keys import KeyReader

SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "hyperband")
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


class _Validator(KeyReader):
    """Turns the raw TOML dict into an Experiment; every error names the file and the key."""

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
