"""`harness report` and `harness inspect`: lay out harness.report's tables and figures as files.

    python -m harness report quick [--tracking-uri URI] [--out DIR]
    python -m harness inspect --dataset synth_commands --word yes --out reports/inspect

The report is one list of blocks (headings, text, tables, figures) rendered
twice: as Markdown beside its PNGs and CSVs, and as one HTML file with the
figures inlined as base64, which opens anywhere without the folder.
"""

from __future__ import annotations

import argparse
import base64
import html
import re
import tomllib
from pathlib import Path

import pandas as pd

from harness import figures
from harness import report as rp
from harness.console import console
from harness.data import data_dir
from harness.data.speech_commands import SAMPLE_RATE
from harness.errors import HarnessError

# ("h2", text) | ("p", text) | ("ul", [text]) | ("table", shown, csv[, raw])
# | ("fig", name, png, alt)
Block = tuple
CSS = ("body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
       "color:#222}table{border-collapse:collapse;margin:.6em 0;font-size:13px}"
       "th,td{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f2f2f2}"
       "td.n{text-align:right;white-space:nowrap}tr:nth-child(even){background:#fafafa}"
       "code{background:#f2f2f2;padding:0 3px}img{max-width:100%;display:block;margin:.5em 0}"
       "h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;margin-top:1.6em}")


def experiment_name(arg: str) -> str:
    """An experiment name as is, or a TOML file (path, or NAME.toml in experiments/): its `name`."""
    if arg.endswith(".toml") or Path(arg).is_file():
        from harness.experiment_file import resolve_path

        path = resolve_path(arg)
        try:
            return str(tomllib.loads(path.read_text()).get("name") or path.stem)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise HarnessError(f"experiment file {arg}: {exc}") from exc
    return arg


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "—" if x is None or pd.isna(x) else format(x, fmt)


def _ci(low: float | None, high: float | None, fmt: str = ".4f") -> str:
    return "—" if low is None or pd.isna(low) else f"[{format(low, fmt)}, {format(high, fmt)}]"


def comparison_blocks(table: pd.DataFrame) -> list[Block]:
    """The comparison table with its numbers formatted (comparison.csv keeps them raw)."""
    shown = pd.DataFrame({
        "configuration": table["config"], "complete": table["complete"],
        "test acc": table["test_acc_mean"].map(_num),
        "95% CI": [_ci(lo, hi) for lo, hi in zip(table["test_acc_low"], table["test_acc_high"],
                                                   strict=True)],
        "valid acc": table["valid_acc_mean"].map(_num),
        "best epoch": table["best_epoch_mean"].map(lambda x: _num(x, ".1f")),
        **{name: table[col].map(lambda x: _num(x, ",.0f")) for name, col in (
            ("train samples/s", "train_samples_per_s"), ("eval samples/s", "eval_samples_per_s"),
            ("front-end samples/s", "frontend_samples_per_s"), ("peak MB", "peak_memory_mb"))},
        "pruned": table["pruned"], "failed": table["failed"]})
    return [("h2", "Comparison"),
            ("p", "One row per configuration, best mean test accuracy first. Means and 95% "
                  "t-intervals are over the complete trials (seeds); samples/s are medians over "
                  "trials of each trial's last epoch, peak MB the maximum. Pruned and failed "
                  "trials are counted in their own columns and never averaged in."),
            ("table", shown, "comparison.csv")]


def finding_blocks(study: rp.Study, fnd: pd.DataFrame, table: pd.DataFrame) -> list[Block]:
    """The verdicts, the reference study's numbers beside ours, and what differs."""
    blocks: list[Block] = [("h2", "The finding: complex STFT vs magnitude front-ends")]
    if fnd.empty:
        return [*blocks, ("p", "No verdict: this experiment has none of the front-ends the "
                               "finding is about (`complex`, `complex_log` and the magnitude "
                               "types), so there is nothing to compare.")]
    shown = pd.DataFrame({
        "comparison": [f"`{a}` − `{b}`" for a, b in zip(fnd["a"], fnd["b"], strict=True)],
        "pairs": fnd["pairs"], "matched on": fnd["matched_on"].replace("", "—"),
        "mean difference": fnd["mean_diff"].map(lambda x: _num(x, "+.4f")),
        "95% CI": [_ci(lo, hi, "+.4f") for lo, hi in zip(fnd["ci_low"], fnd["ci_high"],
                                                          strict=True)],
        "p (paired t)": fnd["p_value"].map(lambda x: _num(x, ".3g")),
        "p (Wilcoxon)": fnd["wilcoxon_p"].map(lambda x: _num(x, ".3g")),
        "verdict": [f"**{v}**" if not why else f"no verdict: {why}"
                    for v, why in zip(fnd["verdict"], fnd["reason"], strict=True)],
        "study (one run)": fnd["study_diff"].map(lambda x: _num(x, "+.4f"))})
    tests = sorted(set(fnd.loc[fnd["pairs"] >= 2, "test"]))
    blocks += [("p", "Paired difference in test accuracy, complex side minus magnitude side, over "
                     "trials that share the keys in the “matched on” column. "
                     "Verdict from the 95% interval: **confirmed** when it lies above 0, "
                     "**refuted** when below, **inconclusive** when it straddles 0."
                + (" Test used: " + "; ".join(tests) + "." if tests else "")),
               ("table", shown, "finding.csv")]
    ref = []
    for fe, acc in rp.STUDY.items():
        mine = table[table["frontend"] == fe]
        here = "; ".join(f"{_num(r.test_acc_mean)} {_ci(r.test_acc_low, r.test_acc_high)} "
                         f"(n={r.complete}, {r.config})" for r in mine.itertuples()) or "not run"
        ref.append({"input": fe, "reference study (one run)": f"{acc:.4f}",
                    "this experiment": here})
    r = study.runs
    seeds = sorted(set(r.loc[r["state"] == rp.COMPLETE, "seed"]), key=lambda s: (len(s), s))
    logs = sorted(set(r["frontend"]) & {"log_power", "log_mel", "complex_log"})
    widths = rp.distinct(r, "model.width")
    blocks += [("p", "The reference study's single runs beside this experiment:"),
               ("table", pd.DataFrame(ref), "reference.csv"),
               ("p", "What differs from the study:"),
               ("ul", ["dataset: study Speech Commands v0.01 (30 words, 64,727 clips); here "
                       + rp.data_name(r),
                       "split: study a random 60/20/20 split (the same speakers in train and "
                       "test); here " + ", ".join(rp.distinct(r, "data.split")),
                       f"seeds: study one run per input; here {len(seeds)} seed(s) with "
                       f"complete trials ({', '.join(seeds)})",
                       "log compression: the study's power and mel inputs had none; here "
                       + (", ".join(f"`{x}`" for x in logs) or "no log-compressed front-end"),
                       "network: study the full-width seed CNN; here "
                       + ", ".join(rp.distinct(r, "model"))
                       + (f" (width {', '.join(widths)})" if widths else "")])]
    return blocks


def figure_blocks(study: rp.Study, table: pd.DataFrame) -> list[Block]:
    """Curves, accuracy with CIs, accuracy vs speed, the best run's confusions, one clip."""
    colors = figures.colors_for(list(table["config"]))  # best first, as in the table
    done = study.runs[study.runs["state"] == rp.COMPLETE]
    blocks: list[Block] = [("h2", "Figures")]
    curves = rp.valid_curves(study)
    if not curves.empty:
        blocks.append(("fig", "valid_curves", figures.valid_curves(curves, colors),
                       "validation accuracy per epoch"))
    if table["complete"].sum():
        blocks += [("fig", "test_accuracy", figures.test_accuracy(table, done, colors),
                    "test accuracy with 95% CI"),
                   ("fig", "accuracy_vs_throughput",
                    figures.accuracy_vs_throughput(table, colors), "accuracy vs throughput")]
    best = rp.best_run(study)
    matrix = None if best is None else rp.confusion_matrix(study, best["run_id"])
    if matrix is None:
        blocks.append(("p", "No confusion matrix: no complete trial has a `confusion_matrix.csv`."))
    else:
        title = f"Best run: {best['config']}, seed {best['seed']}, test acc {best['test_acc']:.4f}"
        pairs = figures.most_confused(matrix)
        shown = pairs.assign(rate=pairs["rate"].map(lambda x: f"{x:.1%}"))
        blocks += [("h2", "Confusions of the best run"),
                   ("p", f"{title} (run `{best['run_id']}`). Rate = share of the true word's "
                         "test clips predicted as the other word."),
                   ("fig", "confusion_matrix", figures.confusion(matrix, title), "confusion"),
                   ("table", shown, "most_confused.csv", pairs)]
    return blocks + signal_blocks(study)


def signal_blocks(study: rp.Study) -> list[Block]:
    """Waveform, DFT and spectrogram of one clip of the experiment's data, if it is here."""
    head = ("h2", "One clip, as the front-ends see it")
    r = study.runs
    # MLflow params are text: a None option comes back as "None"
    dataset = next((x for x in rp.distinct(r, "data.dataset") if x != "None"), None)
    root = next((x for x in rp.distinct(r, "data.root") if x != "None"), None)
    # What harness.data finds without downloading or generating: a finished folder (its
    # `.complete` marker) under data_dir(), or the --root folder the sweep used.
    named = {"synth_commands": data_dir() / "synth_commands"}.get(
        dataset or "", data_dir() / "SpeechCommands" / str(dataset))
    if not (Path(root).is_dir() if root else (named / ".complete").is_file()):
        return [head, ("p", f"Skipped: the data set `{dataset or root}` is not on this machine "
                            "(run `python -m harness inspect` where it is).")]
    try:
        audio, name, word = rp.example_clip(dataset, root)
    except HarnessError as exc:  # a data problem must not cost the rest of the report
        return [head, ("p", f"Skipped: {exc}")]
    title = f"{name}: the first test clip of “{word}”"
    return [head, ("fig", "signal", figures.signal(audio, SAMPLE_RATE, title), title)]


def _inline(text: str) -> str:
    """The Markdown used in blocks (`code`, **bold**) as escaped HTML."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text, quote=False))
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _cell(text: str) -> str:
    """A table cell; numbers (and intervals of them) right-aligned so digits line up."""
    numeric = re.fullmatch(r"[-+−—\d.,%\[\] ]+", text) is not None
    return f'<td class="n">{_inline(text)}</td>' if numeric else f"<td>{_inline(text)}</td>"


def to_markdown(title: str, blocks: list[Block]) -> str:
    """report.md: figures and CSVs are files beside it."""
    parts = [f"# {title}"]
    for kind, *rest in blocks:
        if kind == "h2":
            parts.append(f"## {rest[0]}")
        elif kind == "p":
            parts.append(rest[0])
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in rest[0]))
        elif kind == "table":
            df, csv = rest[:2]
            cells = [[str(v).replace("|", "\\|") for v in row] for row in df.itertuples(False)]
            lines = ["| " + " | ".join(map(str, df.columns)) + " |",
                     "|" + "---|" * len(df.columns), *("| " + " | ".join(c) + " |" for c in cells)]
            parts.append("\n".join(lines) + (f"\n\n([{csv}]({csv}))" if csv else ""))
        elif kind == "fig":
            parts.append(f"![{rest[2]}](figures/{rest[0]}.png)")
    return "\n\n".join(parts) + "\n"


def to_html(title: str, blocks: list[Block]) -> str:
    """report.html: one file, figures inlined as base64 PNG, CSS inline, nothing fetched."""
    parts = [f"<h1>{_inline(title)}</h1>"]
    for kind, *rest in blocks:
        if kind == "h2":
            parts.append(f"<h2>{_inline(rest[0])}</h2>")
        elif kind == "p":
            parts.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            df = rest[0]
            head = "".join(f"<th>{_inline(str(c))}</th>" for c in df.columns)
            body = "".join("<tr>" + "".join(_cell(str(v)) for v in row) + "</tr>"
                           for row in df.itertuples(False))
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
        elif kind == "fig":
            data = base64.b64encode(rest[1]).decode()
            parts.append(f'<img alt="{html.escape(rest[2])}" src="data:image/png;base64,{data}">')
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def build(name: str, tracking_uri: str, out: Path, default_out: Path) -> list[Path]:
    """Every file of the report; returns the paths written, the Markdown and HTML first."""
    study = rp.load(name, tracking_uri)
    table = rp.comparison_table(study)
    fnd = rp.finding(study)
    head = rp.header(study, out, default_out)
    blocks: list[Block] = [("ul", [f"**{k}:** {v}" for k, v in head.items()])]
    blocks += finding_blocks(study, fnd, table) + comparison_blocks(table)
    blocks += figure_blocks(study, table)

    (out / "figures").mkdir(parents=True, exist_ok=True)
    for stale in (out / "figures").glob("*.png"):  # a figure this store no longer has
        stale.unlink()
    title = f"Report: {name}"
    written = [out / "report.md", out / "report.html"]
    written[0].write_text(to_markdown(title, blocks), encoding="utf-8")
    written[1].write_text(to_html(title, blocks), encoding="utf-8")
    csvs = {"comparison.csv": table, "finding.csv": fnd}
    # a table block may carry its raw numbers (4th item) for the CSV beside the shown strings
    csvs |= {b[2]: b[3] if len(b) > 3 else b[1]
             for b in blocks if b[0] == "table" and b[2] and b[2] not in csvs}
    for csv, df in csvs.items():
        df.to_csv(out / csv, index=False, lineterminator="\n")
        written.append(out / csv)
    for b in blocks:
        if b[0] == "fig":
            (out / "figures" / f"{b[1]}.png").write_bytes(b[2])
            written.append(out / "figures" / f"{b[1]}.png")
    return written


def report(args: argparse.Namespace) -> int:
    """`harness report EXPERIMENT`: rebuild reports/<experiment>/ (or --out) from MLflow."""
    name = experiment_name(args.experiment)
    default_out = Path("reports") / name
    out = Path(args.out) if args.out else default_out
    written = build(name, rp.resolve_tracking_uri(args.tracking_uri), out, default_out)
    console.print(f"report: {written[1]} ({len(written)} files in {out})")
    return 0


def inspect(args: argparse.Namespace) -> int:
    """`harness inspect`: the signal figures of one clip as OUT/<dataset>_<word>.png."""
    # without --dataset, --root's folders give the words; with neither, the offline set
    dataset = args.dataset or (None if args.root else "synth_commands")
    audio, name, word = rp.example_clip(dataset, args.root, args.word)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (re.sub(r"[^\w.-]+", "_", f"{name}_{word}") + ".png")
    path.write_bytes(figures.signal(audio, SAMPLE_RATE, f"{name}: the first test clip of “{word}”"))
    console.print(f"inspect: {path}")
    return 0
