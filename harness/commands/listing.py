"""`harness list frontends|models|recipes [PATTERN] [--json]`: what the registries hold.

    python -m harness list frontends 'log*'
    python -m harness list models --json
    python -m harness list recipes          # every recipe's values

Front-ends show their channels and output shape for one second of audio; models their
parameter count and MACs (multiply-accumulates per clip, `harness.models.count_macs`)
when built for the `complex` front-end at its defaults (2 x 257 x 101) and 30 classes
(`waveform` for a 1-D model). The table goes to stdout, like the JSON, so it can be
piped and grepped.
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


def frontend_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """One dict per front-end matching `pattern`: name, channels, shape, family, learns,
    source, description."""
    from harness.frontends import FRONTENDS, create_frontend

    rows = []
    for name in FRONTENDS.list(pattern):
        fe = create_frontend(name)
        info = FRONTENDS.info(name)
        rows.append({"name": name, "channels": fe.channels, "shape": list(fe.output_shape()),
                     "family": info.family, "learns": info.learns, "source": info.source,
                     "description": FRONTENDS.describe(name)})
    return rows


def model_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """One dict per model matching `pattern`: name, params, macs, frontend, input shape,
    family, source, description."""
    from harness.models import MODELS, build_pipeline, count_macs, input_dims

    rows = []
    for name in MODELS.list(pattern):
        frontend = RAW if input_dims(name) == 1 else SPECTRAL
        fe, model = build_pipeline(frontend, name, N_CLASSES)
        shape = fe.output_shape()
        info = MODELS.info(name)
        rows.append({"name": name, "params": sum(p.numel() for p in model.parameters()),
                     "macs": count_macs(model, shape), "frontend": frontend,
                     "input_shape": list(shape), "family": info.family, "source": info.source,
                     "description": MODELS.describe(name)})
    return rows


def recipe_rows(pattern: str = "*") -> list[dict[str, Any]]:
    """One dict per training recipe matching `pattern`: name, every value, source,
    description."""
    import dataclasses

    from harness.recipes import RECIPES

    return [{"name": name, **dataclasses.asdict(RECIPES.create(name)),
             "source": RECIPES.info(name).source, "description": RECIPES.describe(name)}
            for name in RECIPES.list(pattern)]


ROWS = {"frontends": frontend_rows, "models": model_rows, "recipes": recipe_rows}


def list_entries(args: argparse.Namespace) -> int:
    """Print the front-ends, models or recipes matching `args.pattern`, as a table or JSON."""
    rows = ROWS[args.what](args.pattern)
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
        for col in ("name", "channels", "shape (1 s)", "family", "description"):
            table.add_column(col, justify="right" if col == "channels" else "left")
        for r in rows:
            shape = " x ".join(map(str, r["shape"]))
            table.add_row(r["name"], str(r["channels"]), shape, r["family"], r["description"])
    else:
        for col in ("name", "params", "MACs", "built for", "description"):
            table.add_column(col, justify="right" if col in ("params", "MACs") else "left")
        for r in rows:
            built_for = f"{r['frontend']} ({' x '.join(map(str, r['input_shape']))}), " \
                        f"{N_CLASSES} classes"
            table.add_row(r["name"], f"{r['params']:,}", f"{r['macs'] / 1e9:.3f} G", built_for,
                          r["description"])
    Console().print(table)
    return 0
