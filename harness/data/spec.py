"""The `[data]` keys of an experiment file, in one place: their defaults, their checks, their
trial params (`data.<key>`) and the `load_splits` arguments they become.

    spec = DataSpec.from_params(trial_params)   # values, or a run's MLflow params (text)
    spec.params()      # {"data.dataset": "synth_commands", "data.root": None, ...}
    spec.load()        # harness.data.load_splits(**spec.load_args())
    DataSpec.check("split", "random")           # one value; HarnessError saying what is wrong

Every reader goes through here: the experiment-file validator (harness.sweep.file_keys),
the sweep's worker and preflight, `harness stream` and `harness evaluate`. Adding a key is a
field below (with its check in `check` if its type says too little), the parameter of the
same name in harness.data.load_splits (tests/test_data_spec.py holds the two together), and
its row in docs/architecture.md's table of trial keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from harness.data.tasks import DEFAULT_TASK, TASKS
from harness.errors import HarnessError

# official: the data set's lists; random: 60/20/20 by split_seed; speaker_folds: fold
# split_seed of `folds` tests (harness.data.speakers); roles: the fixed speaker roles
# (harness.data.SPEAKER_ROLES: tune on dev, never on test)
SPLITS = ("official", "random", "speaker_folds", "roles")
PREFIX = "data."  # a key's name among the trial's params and in MLflow


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Which clips a trial trains and is tested on."""

    # a name in harness.data.DATASETS; None: the word folders of `root` are the labels
    dataset: str | None = "synth_commands"
    root: str | None = None       # a folder in the Speech Commands layout (`dataset` then only
    #                               fixes the words it must have)
    split: str = "official"       # official | random | speaker_folds | roles (SPLITS)
    split_seed: int | None = None  # the random split's seed, the speaker fold tested;
    #                                None: the trial's seed
    task: str = DEFAULT_TASK      # words30 | kws12 | kws35 (harness.data.tasks)
    folds: int | None = None      # speaker_folds: how many (K; replicate i tests fold i)
    train_fraction: float = 1.0   # the share of the training clips kept, drawn per speaker
    #                               and nested (harness.data.speakers.fraction_rows)

    NULL_TEXT: ClassVar[tuple[str, ...]] = ("None", "")  # how MLflow's text params say None

    @classmethod
    def key_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def check(cls, key: str, value: Any) -> Any:
        """`value` for `key` if valid, else HarnessError (one line, no location: the caller
        says where the value came from)."""
        if key not in cls.key_names():
            raise HarnessError(f"unknown data key; known: {', '.join(cls.key_names())}")
        if key == "split" and value not in SPLITS:
            raise HarnessError(f"split {value!r}; use one of {', '.join(SPLITS)}")
        if key == "folds" and value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 2):
            raise HarnessError(f"folds {value!r}: an integer >= 2 (speaker_folds' K)")
        if key == "task" and value not in TASKS:
            raise HarnessError(f"task {value!r}; use one of {', '.join(TASKS)}")
        if key == "split_seed" and value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise HarnessError(f"split_seed {value!r}: an integer >= 0 (or leave it out: each "
                               "replicate then draws its own split)")
        if key == "train_fraction" and (isinstance(value, bool) or not isinstance(
                value, int | float) or not 0 < value <= 1):
            raise HarnessError(f"train_fraction {value!r}: a number in (0, 1], the share of "
                               "the training clips kept (1: all)")
        if key == "train_fraction":
            value = float(value)  # 1 and 1.0 are one configuration
        kinds = _kinds(cls)[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("none" if k is type(None) else k.__name__ for k in kinds)
            raise HarnessError(f"{key} {value!r}: expected {names}")
        return value

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DataSpec:
        """The spec of a trial's flat params (`data.<key>`), missing keys at their defaults.

        Values may be MLflow's text: "None" or "" is None, and a number is read as the
        key's type. Other keys are ignored.
        """
        kinds, given = _kinds(cls), {}
        for key in cls.key_names():
            if PREFIX + key not in params:
                continue
            value = params[PREFIX + key]
            if isinstance(value, str) and str not in kinds[key]:  # text of a number or None
                value = None if value in cls.NULL_TEXT else kinds[key][0](value)
            elif isinstance(value, str) and value in cls.NULL_TEXT and type(None) in kinds[key]:
                value = None
            given[key] = value
        return cls(**given)

    def params(self) -> dict[str, Any]:
        """The trial params: `data.<key>` -> value, every key."""
        return {PREFIX + k: v for k, v in dataclasses.asdict(self).items()}

    def for_seed(self, seed: int) -> DataSpec:
        """A random split with no `split_seed` is drawn anew per replicate, with its seed; a
        speaker-fold split tests fold `seed` (seeds 0..K-1: every clip tested once); a
        train_fraction below 1 draws its clips with the seed too (nested across fractions
        for one seed)."""
        redrawn = self.split in ("random", "speaker_folds") or self.train_fraction < 1
        if redrawn and self.split_seed is None:
            return dataclasses.replace(self, split_seed=seed)
        return self

    def load_args(self) -> dict[str, Any]:
        """harness.data.load_splits's keyword arguments (an unset split seed is 0)."""
        args = dataclasses.asdict(self)
        args["split_seed"] = args["split_seed"] or 0
        return args

    def load(self, *, skip_bad: bool = False) -> Any:
        """The data set: harness.data.SplitData."""
        from harness.data import load_splits  # the package imports this module

        return load_splits(**self.load_args(), skip_bad=skip_bad)


def _kinds(cls: type) -> dict[str, tuple[type, ...]]:
    """Field name -> the types its annotation allows (`str | None` -> (str, NoneType))."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        out[f.name] = tuple(a for a in args if a is not type(None)) + (
            (type(None),) if type(None) in args else ())
    return out
