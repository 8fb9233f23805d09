"""Plotting helpers every figure-making package shares: PNG rendering and one colour per
configuration.

Figures are built on `matplotlib.figure.Figure` directly, never through pyplot: no global
figure registry to leak, no backend switch that could surprise the caller, and the PNG is
rendered by Agg whatever the session's default backend.
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

DPI = 100


def to_png(fig: Figure) -> bytes:
    """Render with Agg; metadata pinned so the bytes depend on the data alone."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def colors_for(labels: list[str]) -> dict[str, tuple[float, ...]]:
    """One colour per configuration, shared by every figure of a report."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}
