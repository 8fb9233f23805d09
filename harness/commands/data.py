"""`harness data prepare | info | synth`: get a dataset ready and describe it.

    python -m harness data prepare synth_commands
    python -m harness data info speech_commands_v0.01 --split random --json
    python -m harness data info --root /path/to/folder      # labels from its word folders
    python -m harness data synth /tmp/keywords --speakers 20 --seed 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from harness.console import console
from harness.data import prepare as prepare_data
from harness.data import source
from harness.data.speech_commands import (
    SPLIT_NAMES,
    labels_of,
    list_clips,
    official_split,
    speaker_of,
)


def prepare(args: argparse.Namespace) -> int:
    """Download or generate if needed, decode, cache; one summary line."""
    start = time.perf_counter()
    name, root = source(args.dataset, args.root)
    cache = prepare_data(args.dataset, root, skip_bad=args.skip_bad)
    console.print(f"{name}: {len(cache.paths)} clips, {len(cache.labels)} labels from {root}; "
                  f"cache {cache.folder} ({time.perf_counter() - start:.1f} s)",
                  markup=False, soft_wrap=True)
    return 0


def info(args: argparse.Namespace) -> int:
    """Clips per split and per label: a table on stderr, or one JSON object on stdout."""
    name, root = source(args.dataset, args.root)
    cache = prepare_data(args.dataset, root, skip_bad=args.skip_bad)
    rows = cache.split_rows(args.split, args.split_seed)
    n_labels = len(cache.labels)
    counts = {s: np.bincount(cache.label_idx[rows[s]], minlength=n_labels) for s in SPLIT_NAMES}
    per_label = {label: {s: int(counts[s][i]) for s in SPLIT_NAMES}
                 for i, label in enumerate(cache.labels)}
    splits = {s: len(rows[s]) for s in SPLIT_NAMES}
    if args.json:
        print(json.dumps({"labels": cache.labels, "splits": splits, "per_label": per_label}))
        return 0
    split_desc = args.split if args.split == "official" else f"random, seed {args.split_seed}"
    table = Table(title=f"{name} ({root}), {split_desc} split")
    table.add_column("label")
    for s in SPLIT_NAMES:
        table.add_column(s, justify="right")
    for label, by_split in per_label.items():
        table.add_row(label, *(str(by_split[s]) for s in SPLIT_NAMES))
    table.add_section()
    table.add_row("all", *(str(splits[s]) for s in SPLIT_NAMES), style="bold")
    console.print(table)
    return 0


def synth(args: argparse.Namespace) -> int:
    """Write the offline spoken-keyword set to OUT_DIR; one summary line."""
    from harness.data.synth import generate  # espeak-ng: loaded only here

    start = time.perf_counter()
    out = generate(Path(args.out_dir), speakers=args.speakers, seed=args.seed)
    clips = list_clips(out)
    parts = official_split(out, clips)
    speakers = len({speaker_of(c) for c in clips})
    sizes = "/".join(str(len(parts[s])) for s in SPLIT_NAMES)
    console.print(f"wrote {len(clips)} clips of {len(labels_of(clips))} words by {speakers} "
                  f"speakers to {out} (train/valid/test {sizes}, "
                  f"{time.perf_counter() - start:.1f} s)", markup=False, soft_wrap=True)
    return 0
