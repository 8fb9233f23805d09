"""`harness data prepare | info | synth`: get a dataset ready and describe it.

    python -m harness data prepare synth_commands
    python -m harness data info speech_commands_v0.01 --split random --json
    python -m harness data info speech_commands_v0.02 --task kws12   # + _silence_, _unknown_
    python -m harness data prepare speech_commands_test_set_v0.02 --url http://mirror/data/
    python -m harness data prepare fsdd --url file:///path/free-spoken-digit-dataset-1.0.10.tar.gz
    python -m harness data info fsdd                        # + clips per speaker and role
    python -m harness data info fsdd --split speaker_folds --folds 6 --split-seed 2
    python -m harness data info --root /path/to/folder      # labels from its word folders
    python -m harness data synth /tmp/keywords --speakers 20 --seed 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.table import Table

from harness.console import console
from harness.data import SPEAKER_ROLES, Chosen, cache_dataset, choose, source
from harness.data.download import ARCHIVES, TEST_SET, download
from harness.data.speech_commands import (
    SPLIT_NAMES,
    labels_of,
    list_clips,
    official_split,
    speaker_of,
)
from harness.errors import HarnessError


def download_and_decode(args: argparse.Namespace) -> int:
    """`harness data prepare`: download or generate the data set if needed, decode and cache
    it; one summary line."""
    from harness.data import data_dir

    start = time.perf_counter()
    if args.sha256 is not None and args.dataset not in ARCHIVES:
        raise HarnessError(f"--sha256 checks a Speech Commands archive ({', '.join(ARCHIVES)}),"
                           f" not {args.dataset}: leave it out")
    if args.dataset in ARCHIVES and args.dataset.startswith(TEST_SET):
        folder = download(args.dataset, data_dir(), args.url, args.sha256)
        n = len(list(folder.glob("*/*.wav")))
        console.print(f"{args.dataset}: {n} clips in {folder} "
                      f"({time.perf_counter() - start:.1f} s)", markup=False, soft_wrap=True)
        return 0
    if args.dataset in ARCHIVES:  # fetched here, so --sha256 reaches the download
        download(args.dataset, data_dir(), args.url, args.sha256)
    name, root = source(args.dataset, args.root, args.url)
    cache = cache_dataset(args.dataset, root, skip_bad=args.skip_bad)
    console.print(f"{name}: {len(cache.paths)} clips, {len(cache.labels)} labels from {root}; "
                  f"cache {cache.folder} ({time.perf_counter() - start:.1f} s)",
                  markup=False, soft_wrap=True)
    return 0


def info(args: argparse.Namespace) -> int:
    """Clips per split and per label of a task, with each label's share of its split, the
    test set used, and clips per speaker (with its role, if the data set names roles): tables
    on stderr, or one JSON object on stdout."""
    name, root = source(args.dataset, args.root)
    cache = cache_dataset(args.dataset, root, skip_bad=args.skip_bad)
    chosen = choose(args.task, cache, name, args.split, args.split_seed, skip_bad=args.skip_bad,
                    folds=args.folds)
    n_labels = len(chosen.labels)
    counts = {s: chosen.parts[s].counts(n_labels) for s in SPLIT_NAMES}
    splits = {s: int(counts[s].sum()) for s in SPLIT_NAMES}
    per_label = {label: {s: int(counts[s][i]) for s in SPLIT_NAMES}
                 for i, label in enumerate(chosen.labels)}
    balance = {label: {s: round(n / max(splits[s], 1), 4) for s, n in by_split.items()}
               for label, by_split in per_label.items()}
    per_speaker = speaker_counts(chosen)
    roles = {s: r for r, who in SPEAKER_ROLES.get(name, {}).items() for s in who}
    if args.json:
        print(json.dumps({"dataset": name, "task": args.task, "test_set": chosen.test_set,
                          "labels": chosen.labels, "splits": splits, "per_label": per_label,
                          "balance": balance, "per_speaker": per_speaker, "roles": roles}))
        return 0
    split_desc = {"random": f"random, seed {args.split_seed}",
                  "speaker_folds": f"speaker folds, fold {args.split_seed} of {args.folds}"
                  }.get(args.split, args.split)
    table = Table(title=f"{name} ({root}), task {args.task}, {split_desc} split, "
                        f"test set {chosen.test_set}")
    table.add_column("label")
    for s in SPLIT_NAMES:
        table.add_column(s, justify="right")
    for label, by_split in per_label.items():
        table.add_row(label, *(f"{by_split[s]} ({balance[label][s]:.1%})" for s in SPLIT_NAMES))
    table.add_section()
    table.add_row("all", *(str(splits[s]) for s in SPLIT_NAMES), style="bold")
    console.print(table)
    print_speakers(per_speaker, roles)
    return 0


SHOW_SPEAKERS = 30  # more speakers (Speech Commands: thousands) are summarised in one line


def speaker_counts(chosen: Chosen) -> dict[str, dict[str, int]]:
    """speaker -> {split: clips}, speakers sorted (a kws12 split's _silence_ clips have none)."""
    out: dict[str, dict[str, int]] = {}
    for s in SPLIT_NAMES:
        part = chosen.parts[s]
        for i in part.rows.tolist():
            by_split = out.setdefault(part.cache.speakers[i], dict.fromkeys(SPLIT_NAMES, 0))
            by_split[s] += 1
    return dict(sorted(out.items()))


def print_speakers(per_speaker: dict[str, dict[str, int]], roles: dict[str, str]) -> None:
    """A table of clips per speaker and split (with the role column when there are roles),
    or one summary line for more than SHOW_SPEAKERS speakers."""
    tested = {s for s, n in per_speaker.items() if n["test"]}
    trained = {s for s, n in per_speaker.items() if n["train"] or n["valid"]}
    both = tested & trained
    disjoint = (f"not speaker-disjoint: {len(both)} of {len(tested)} test speakers also train"
                " or validate") if both else "speaker-disjoint"
    if len(per_speaker) > SHOW_SPEAKERS:
        totals = sorted(sum(n.values()) for n in per_speaker.values())
        console.print(f"{len(per_speaker)} speakers, clips per speaker {totals[0]} to "
                      f"{totals[-1]} (median {totals[len(totals) // 2]}); {disjoint}",
                      markup=False, soft_wrap=True)
        return
    table = Table(title=f"clips per speaker ({disjoint})")
    table.add_column("speaker")
    if roles:
        table.add_column("role")
    for s in (*SPLIT_NAMES, "all"):
        table.add_column(s, justify="right")
    for speaker, n in per_speaker.items():
        role = [roles.get(speaker, "")] if roles else []
        table.add_row(speaker, *role, *(str(n[s]) for s in SPLIT_NAMES), str(sum(n.values())))
    console.print(table)


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
