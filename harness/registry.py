"""One small registry for front-ends and models, in the style of timm.

    FRONTENDS = Registry("front-end")

    @FRONTENDS.register
    def power(**kw) -> nn.Module: ...

    @FRONTENDS.register(family="complex", source="reference study")
    def complex(**kw) -> nn.Module: ...

    FRONTENDS.create("power", n_fft=1024)
    FRONTENDS.list("log*")  # ['log_mel', 'log_power']
    FRONTENDS.info("complex").family  # 'complex'

An entry is a plain factory function, registered under its own name. Its
docstring's first line is its one-line description; what else is known about it
(its family, whether it learns, where it comes from) is `Info` on the entry, so no
list elsewhere has to repeat it.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from harness.errors import HarnessError
from harness.validation import check_range

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Info:
    """What is known about an entry beyond its factory.

    family: a group its kind defines (front-ends: "magnitude" = phase discarded,
    "complex" = phase kept, "waveform"; models: "cnn", "resnet", ...); learns: whether
    it has trainable parameters of its own (a front-end); log: its magnitude is
    log-compressed (a front-end: dB or log1p); source: paper or repository;
    frontend and frontend_opts: the input a model is listed and costed on (its paper's),
    "" for the harness's default (`complex`, or `waveform` for a 1-D model).
    """

    family: str = ""
    learns: bool = False
    log: bool = False
    source: str = ""
    frontend: str = ""  # a model's default input: the front-end its paper used ...
    frontend_opts: Mapping[str, Any] = field(default_factory=dict)  # ... and its options


class Registry(Generic[T]):
    """Name -> factory function (and its Info). The only global state the harness has."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}
        self._info: dict[str, Info] = {}

    @overload
    def register(self, fn: F, /) -> F: ...
    @overload
    def register(self, fn: None = None, /, **info: Any) -> Callable[[F], F]: ...

    def register(self, fn: F | None = None, /, **info: Any) -> F | Callable[[F], F]:
        """Decorator: register `fn` under `fn.__name__`, bare or with Info fields:
        `@REG.register` or `@REG.register(family="complex", source="...")`."""
        if fn is None:
            return lambda f: self.register(f, **info)
        name = fn.__name__
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = fn
        self._info[name] = Info(**info)
        return fn

    def info(self, name: str) -> Info:
        """The entry's Info; unknown names fail like `get`."""
        self.get(name)
        return self._info[name]

    def get(self, name: str) -> Callable[..., T]:
        """The factory for `name`; unknown names fail listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.list())
            raise HarnessError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the entry `name` after `check`ing its options."""
        self.check(name, kwargs)
        return self.get(name)(**kwargs)

    def check(self, name: str, options: dict[str, Any]) -> None:
        """HarnessError for an option `name` does not take (naming those it does) or a value
        of the wrong type for its annotation (simple ones: int, float, bool, str, None)."""
        params = inspect.signature(self.get(name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = [k for k in options if k not in params]
        if unknown and not takes_any:
            own = [p for p in params if p not in ("in_channels", "n_classes")]
            raise HarnessError(
                f"{self.kind} {name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {', '.join(own) or 'none'}"
            )
        for key, value in options.items():
            param = params.get(key)
            if param is not None and not _type_ok(param.annotation, value):
                raise HarnessError(
                    f"{self.kind} {name!r}: option {key}={value!r} must be {param.annotation}"
                    f" (default {param.default!r})"
                )
            if param is not None:
                check_range(self.kind, name, key, value, param.default)

    def describe(self, name: str) -> str:
        """First line of the entry's docstring."""
        doc = inspect.getdoc(self.get(name)) or ""
        return doc.splitlines()[0] if doc else ""

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching the fnmatch `pattern`, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries


_SIMPLE: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),)}


def _type_ok(annotation: Any, value: Any) -> bool:
    """Whether `value` fits a simple annotation such as "float" or "bool | str"; anything
    else (no annotation, Sequence[int], ...) is left to the factory. The harness's modules
    use postponed annotations, so an annotation here is its source text."""
    names = [n.strip() for n in str(annotation).split("|")]
    if not all(n in _SIMPLE for n in names):
        return True
    if isinstance(value, bool) and "bool" not in names:  # bool is an int to isinstance
        return False
    return any(isinstance(value, t) for n in names for t in _SIMPLE[n])
