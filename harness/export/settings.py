"""The `[export]` table of an experiment file: which deployed graphs each trial is measured as.

    [export]                      # in an experiments/*.toml file; absent: off
    onnx = true                   # fp32 ONNX with the front-end inside, after each trial's test
    int8 = true                   # also the static int8 graph (needs onnx = true)
    float_frontend = true         # keep the whole front-end float in it (needs int8 = true;
                                  # `harness export --float-frontend`)

    ExportSettings.from_table({"onnx": True, "int8": True}, "[export]")  # None when off

Plain Python (no torch, no onnx), so the experiment-file layer can import it; the package's
__init__ imports nothing for the same reason. What is measured, and how: measure.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

KEYS = ("onnx", "int8", "float_frontend")


@dataclass(frozen=True)
class ExportSettings:
    """A study's export: the fp32 graph always, the int8 one when `int8`, its front-end kept
    float when `float_frontend` (else quantised unless it compresses: harness.export.quantize)."""

    int8: bool = False
    float_frontend: bool = False

    @classmethod
    def from_table(cls, raw: Any, where: str = "[export]") -> ExportSettings | None:
        """A TOML table -> settings, None unless `onnx = true`; errors name `where` and the
        key, with what would be accepted."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise HarnessError(f"{where}: must be a table")
        unknown = [k for k in raw if k not in KEYS]
        if unknown:
            raise HarnessError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
        for key in KEYS:
            if not isinstance(raw.get(key, False), bool):
                raise HarnessError(f"{where} {key}: {raw[key]!r} is not true or false")
        onnx, int8 = raw.get("onnx", False), raw.get("int8", False)
        float_frontend = raw.get("float_frontend", False)
        if int8 and not onnx:
            raise HarnessError(f"{where} int8: the int8 graph is quantised from the fp32 one; "
                               "add onnx = true")
        if float_frontend and not int8:
            raise HarnessError(f"{where} float_frontend: it keeps the front-end float in the "
                               "int8 graph; add int8 = true (and onnx = true)")
        return cls(int8=int8, float_frontend=float_frontend) if onnx else None
