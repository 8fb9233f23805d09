"""The streaming evaluation's settings: one frozen dataclass, the one home of its defaults.

    [stream]                      # in an experiments/*.toml file; absent or enabled = false: off
    enabled = true
    seconds = 3600                # stream length (s); 1 h makes 1 false alarm = 1 FA/h
    hop_ms = 100                  # window hop of the sliding 1 s window
    density = 6                   # keyword clips per minute of stream

    StreamSettings.from_table({"enabled": True, "seconds": 60}, "[stream]")  # None when off

Everything here is plain Python (no torch), so the experiment-file layer can import it.
The meaning of each value (units, where it is used) is on its field; docs/streaming.md
has the scheme.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

RATE = 16_000  # samples per second: harness.data.speech_commands.SAMPLE_RATE, not imported
               # so that the experiment-file layer reads this module without the data layer


@dataclass(frozen=True)
class StreamSettings:
    """How a stream is built (streams.py), scanned (infer.py) and scored (metrics.py)."""

    seconds: float = 3600.0        # stream length in seconds
    density: float = 6.0           # keyword clips per minute
    fillers: float = 6.0           # non-keyword clips per minute (when the split has any)
    snr_db: float | None = 10.0    # mean keyword-clip power over noise-bed power, dB; None: no bed
    seed: int = 0                  # the stream's draw (clips, onsets, noise)
    hop_ms: float = 100.0          # hop of the 1 s analysis window, ms
    smooth_ms: float = 300.0       # w_smooth of Chen et al. (2014): causal posterior average, ms
    refractory_ms: float = 1000.0  # no detection within this long after one, ms
    tolerance_ms: float = 500.0    # a detection may come this long after its clip ends, ms
    keywords: tuple[str, ...] = ()  # keyword labels; (): every label not starting with "_"
    batch: int = 512               # windows per forward pass

    def __post_init__(self) -> None:
        for name in ("seconds", "hop_ms", "smooth_ms", "batch"):
            if not getattr(self, name) > 0:
                raise HarnessError(f"stream setting {name} = {getattr(self, name)!r}: must be > 0")
        for name in ("density", "fillers", "refractory_ms", "tolerance_ms"):
            if not getattr(self, name) >= 0:
                raise HarnessError(f"stream setting {name} = {getattr(self, name)!r}: must be "
                                   ">= 0")
        clips = round(self.seconds / 60 * self.density) + round(self.seconds / 60 * self.fillers)
        if clips * self.spacing > round(self.seconds * RATE):  # checked before any training
            raise HarnessError(
                f"a {self.seconds:g} s stream holds at most "
                f"{round(self.seconds * RATE) // self.spacing} clips at "
                f"{self.spacing / RATE:g} s spacing, not {clips} (density + fillers): lower "
                "density or fillers, or raise seconds")

    @classmethod
    def from_table(cls, raw: Any, where: str = "[stream]") -> StreamSettings | None:
        """A TOML table (or --set style dict) -> settings, None unless `enabled = true`.

        Every error names `where` and the key, with what would be accepted.
        """
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise HarnessError(f"{where}: must be a table")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = [k for k in raw if k not in fields and k != "enabled"]
        if unknown:
            raise HarnessError(f"{where}: unknown key {unknown[0]!r}; known: enabled, "
                               f"{', '.join(fields)}")
        enabled = raw.get("enabled", False)
        if not isinstance(enabled, bool):
            raise HarnessError(f"{where} enabled: {enabled!r} is not true or false")
        if not enabled:
            return None
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "enabled":
                continue
            values[key] = _check(key, value, f"{where} {key}")
        try:
            return cls(**values)
        except HarnessError as exc:
            raise HarnessError(f"{where}: {exc}") from None

    @property
    def spacing(self) -> int:
        """Samples between two clip onsets at least: the 1 s clip, the match tolerance and
        0.5 s, so that each keyword's match window (metrics.py) holds that keyword alone."""
        return RATE + round(self.tolerance_ms * RATE / 1000) + RATE // 2

    @property
    def hop(self) -> int:
        """The hop in samples (at least 1)."""
        return max(1, round(self.hop_ms * RATE / 1000))

    def windows(self, ms: float) -> int:
        """A duration in ms as a whole number of hops (at least 1)."""
        return max(1, round(ms / self.hop_ms))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what a run's `harness.stream` tag records."""
        out = dataclasses.asdict(self)
        out["keywords"] = list(self.keywords)
        return out


def _check(key: str, value: Any, where: str) -> Any:
    if key == "keywords":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise HarnessError(f"{where}: a list of label names, e.g. [\"yes\", \"no\"]")
        return tuple(value)
    if key in ("seed", "batch"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise HarnessError(f"{where}: {value!r} is not an integer")
        return value
    if key == "snr_db" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HarnessError(f"{where}: {value!r} is not a number")
    return float(value)
