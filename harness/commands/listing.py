"""`harness list frontends|models|recipes [PATTERN] [--json] [--latency]`: the registries.

    python -m harness list frontends 'log*'
    python -m harness list models --json
    python -m harness list models --latency  # + batch-1 CPU latency (slow: seconds each)
    python -m harness list recipes          # every recipe's values

Front-ends show their channels, output shape, parameters and MACs for one second of
audio; models their parameters and MACs (multiply-accumulates per clip, `harness.models.cost`)
when built for their default input (`harness.models.default_frontend`: the paper's, e.g.
40 MFCC for res8, else `complex` at its defaults, `waveform` for a 1-D model) and 30
classes. Latency (median ms, batch 1, one CPU thread) only with `--latency`. The table
goes to stdout, like the JSON, so it can be piped and grepped.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError

N_CLASSES = 30  # Speech Commands v0.01's words, as in the reference study
SPECTRAL, RAW = "complex", "waveform"  # the front-ends models are counted with


def frontend_rows(pattern: str = "*", latency: bool = False) -> list[dict[str, Any]]:
    """One dict per front-end matching `pattern`: name, channels, shape, params, macs,
    latency_ms (None unless `latency`), family, learns, source, description."""
    from harness.frontends import FRONTENDS, create_frontend
    from harness.models.cost import frontend_cost

    rows = []
    for name in FRONTENDS.list(pattern):
        fe = create_frontend(name)
        info = FRONTENDS.info(name)
        cost = frontend_cost(fe, latency=latency)
        rows.append({"name": name, "channels": fe.channels, "shape": list(fe.output_shape()),
                     "params": cost.params, "macs": cost.macs, "latency_ms": cost.latency_ms,
                     "family": info.family, "learns": info.learns, "source": info.source,
                     "description": FRONTENDS.describe(name)})
    return rows


def model_rows(pattern: str = "*", latency: bool = False) -> list[dict[str, Any]]:
    """One dict per model matching `pattern`: name, params, macs, latency_ms (None unless
    `latency`), frontend (its default input) and its options, input shape, family, source,
    description."""
    from harness.models import MODELS, build_pipeline, default_frontend
    from harness.models.cost import model_cost

    rows = []
    for name in MODELS.list(pattern):
        frontend, opts = default_frontend(name)
        fe, model = build_pipeline(frontend, name, N_CLASSES, frontend_opts=opts)
        shape = fe.output_shape()
        info = MODELS.info(name)
        cost = model_cost(model, shape, latency=latency)
        rows.append({"name": name, "params": cost.params, "macs": cost.macs,
                     "latency_ms": cost.latency_ms, "frontend": frontend,
                     "frontend_opts": opts, "input_shape": list(shape), "family": info.family,
                     "source": info.source, "description": MODELS.describe(name)})
    return rows


def recipe_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """One dict per training recipe matching `pattern`: name, every value, source,
    description."""
    import dataclasses

    from harness.training.recipes import RECIPES

    return [{"name": name, **dataclasses.asdict(RECIPES.create(name)),
             "source": RECIPES.info(name).source, "description": RECIPES.describe(name)}
            for name in RECIPES.list(pattern)]


ROWS = {"frontends": frontend_rows, "models": model_rows, "recipes": recipe_rows}


def list_entries(args: argparse.Namespace) -> int:
    """Print the front-ends, models or recipes matching `args.pattern`, as a table or JSON."""
    latency = getattr(args, "latency", False)
    rows = (ROWS[args.what](args.pattern, latency=latency) if args.what != "recipes"
            else recipe_rows(args.pattern))
    if not rows:
        known = [r["name"] for r in ROWS[args.what]()]
        raise HarnessError(f"no {args.what} match {args.pattern!r}; known: {', '.join(known)}")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if args.what == "recipes":  # one column per recipe: ten keys do not fit side by side
        table = Table("key", *(r["name"] for r in rows))
        for key in (k for k in rows[0] if k not in ("name", "source")):
            table.add_row(key, *(str(r[key]) for r in rows))
        Console().print(table)
        return 0

    table = Table(title=f"{args.what} matching {args.pattern!r}" if args.pattern != "*" else None)
    if args.what == "frontends":
        cols = ["name", "channels", "shape (1 s)", "params", "MACs", "family", "description"]
    else:
        cols = ["name", "params", "MACs", "built for", "description"]
    if latency:
        cols.insert(cols.index("MACs") + 1, "ms (CPU, b=1)")
    for col in cols:
        table.add_column(col, justify="right" if col in NUMERIC else "left")
    for r in rows:
        cells = {"name": r["name"], "params": f"{r['params']:,}", "MACs": _macs(r["macs"]),
                 "ms (CPU, b=1)": f"{r['latency_ms']:.2f}" if latency else "",
                 "description": r["description"]}
        if args.what == "frontends":
            cells.update({"channels": str(r["channels"]), "family": r["family"],
                          "shape (1 s)": " x ".join(map(str, r["shape"]))})
        else:
            opts = "".join(f" {k}={v}" for k, v in r["frontend_opts"].items())
            shape = " x ".join(map(str, r["input_shape"]))
            cells["built for"] = f"{r['frontend']}{opts} ({shape}), {N_CLASSES} classes"
        table.add_row(*(cells[c] for c in cols))
    Console().print(table)
    return 0


NUMERIC = ("channels", "params", "MACs", "ms (CPU, b=1)")


def _macs(macs: int) -> str:
    """MACs with a unit that keeps three significant digits: 0.310 G, 26.6 M, 582 K."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if macs >= scale:
            return f"{macs / scale:.3g} {unit}"
    return str(macs)
