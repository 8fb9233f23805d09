"""One small registry for front-ends and models, in the style of timm.

    FRONTENDS = Registry("front-end")

    @FRONTENDS.register
    def power(**kw) -> nn.Module: ...

    FRONTENDS.create("power", n_fft=1024)
    FRONTENDS.list("log*")  # ['log_mel', 'log_power']

An entry is a plain factory function, registered under its own name. Its
docstring's first line is its one-line description.
"""

from __future__ import annotations

import fnmatch
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from harness.errors import HarnessError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> factory function. The only global state the harness has."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T]] = {}

    def register(self, fn: Callable[..., T]) -> Callable[..., T]:
        """Decorator: register `fn` under `fn.__name__`."""
        name = fn.__name__
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = fn
        return fn

    def get(self, name: str) -> Callable[..., T]:
        """The factory for `name`; unknown names fail listing the known ones."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.list())
            raise HarnessError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Build the entry `name`; an option it does not take fails naming its options."""
        fn = self.get(name)
        params = inspect.signature(fn).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        unknown = [k for k in kwargs if k not in params]
        if unknown and not takes_any:
            own = [p for p in params if p not in ("in_channels", "n_classes")]
            options = ", ".join(own) or "none"
            raise HarnessError(
                f"{self.kind} {name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {options}"
            )
        return fn(**kwargs)

    def describe(self, name: str) -> str:
        """First line of the entry's docstring."""
        doc = inspect.getdoc(self.get(name)) or ""
        return doc.splitlines()[0] if doc else ""

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching the fnmatch `pattern`, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries
