"""`harness report` and `harness inspect`: their arguments; harness.report does the work.

    python -m harness report quick [--tracking-uri URI] [--out DIR]
    python -m harness inspect --dataset synth_commands --word yes --out reports/inspect

The report is one list of typed blocks (harness.report.blocks) from its sections, rendered
twice (harness.report.render): as Markdown beside its PNGs and CSVs, and as one HTML file
with the figures inlined as base64, which opens anywhere without the folder
(harness.report.build).
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path

from harness.console import console
from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError


def experiment_name(arg: str) -> str:
    """An experiment name as is, or a TOML file (path, or NAME.toml in experiments/): its `name`."""
    if arg.endswith(".toml") or Path(arg).is_file():
        from harness.sweep.experiment_file import resolve_path

        path = resolve_path(arg)
        try:
            return str(tomllib.loads(path.read_text()).get("name") or path.stem)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise HarnessError(f"experiment file {arg}: {exc}") from exc
    return arg



def report(args: argparse.Namespace) -> int:
    """`harness report EXPERIMENT`: rebuild reports/<experiment>/ (or --out) from MLflow."""
    from harness.report.build import build
    from harness.report.runs import resolve_tracking_uri
    from harness.sweep.preflight import writable_dir
    from harness.sweep.stores import plan_disagreement

    name = experiment_name(args.experiment)
    default_out = Path("reports") / name
    out = Path(args.out) if args.out else default_out
    uri = resolve_tracking_uri(args.tracking_uri)
    writable_dir(out, "--out", "report folder")
    storage = args.storage or str(Path("runs", "optuna", f"{name}.journal").resolve())
    apart = plan_disagreement(storage, name, uri)  # a report on a subset says so
    if apart:
        console.print(f"warning: {apart}", style="yellow", markup=False, soft_wrap=True)
    written = build(name, uri, out, default_out, apart)
    console.print(f"report: {written[1]} ({len(written)} files in {out})")
    return 0


def inspect(args: argparse.Namespace) -> int:
    """`harness inspect`: the signal figures of one clip as OUT/<dataset>_<word>.png."""
    from harness.report import figures
    from harness.report.runs import example_clip
    from harness.sweep.preflight import writable_dir

    # without --dataset, --root's folders give the words; with neither, the offline set
    dataset = args.dataset or (None if args.root else "synth_commands")
    audio, name, word = example_clip(dataset, args.root, args.word)

    out = writable_dir(Path(args.out), "--out", "figure folder")
    path = out / (re.sub(r"[^\w.-]+", "_", f"{name}_{word}") + ".png")
    path.write_bytes(figures.signal(audio, SAMPLE_RATE, f"{name}: the first test clip of “{word}”"))
    console.print(f"inspect: {path}")
    return 0
