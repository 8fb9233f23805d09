"""The 21-trial reference study timed on one GPU, and the GPU check's closing table.

    python scripts/gpu_study.py run --out /tmp/gpu_check --work /tmp/w --workers 7
    python scripts/gpu_study.py table --out /tmp/gpu_check     # tests, benchmarks, study
    ... run --tiny                                             # CPU rehearsal, tiny sizes

--out gets the small results (study.json; scripts/gpu_check.sh puts the tests' and the
benchmarks' there too); --work the data set, its cache, the Optuna journal and MLflow.

`run`, top to bottom:
1. A data set of Speech Commands v0.01's shape, made here in seconds: 64,727 one-second
   16 kHz int16 clips over v0.01's 30 words, written as WAVs in the Speech Commands layout.
   Not speech: class k is a tone at 200 * 2**(k/6) Hz with its octave, random phase,
   level, onset and length, in white noise (seeded per word; `make_dataset`). The real set
   cannot be downloaded on the GPU machine; the timing needs only its shape.
2. Decoding it into the harness's cache (`harness.data.cache_dataset`), timed apart: a re-run of
   a study finds its data decoded.
3. The reference study (experiments/complex_vs_magnitude.toml's 7 front-ends, seed_cnn at
   full width and padding 0, recipe `as_ran`, random 60/20/20 split per replicate) at 3
   seeds and 40 epochs with early stopping off (patience 40), bf16 + channels_last, run as
   `python -m harness sweep FILE --workers N --device cuda` and timed; cut at --budget-s
   (the table then says how many trials finished).
`table` prints the CUDA tests' summary line, the benchmark rows (bench_*.json) and one line
per trial from MLflow, then the study's wall time against its FLOP floor: the counted
training FLOPs (`harness.training.gpu_stats.train_flops_per_sample` per front-end x 40 epochs x
303 x 128 clips x 3 seeds) over the GPU's peak (`harness.training.gpu_stats.PEAK_TFLOPS`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FRONTENDS = ["power", "magnitude", "log_power", "mel", "log_mel", "complex", "complex_log"]
FULL = {"clips": 64_727, "epochs": 40, "seeds": 3, "batch_size": 128, "device": "cuda",
        "speed": {"amp": True, "channels_last": True}, "model_opts": {}}
# CPU rehearsal: the same steps in about a minute (no bf16 on CPU: 6x slower there).
TINY = {"clips": 150, "epochs": 2, "seeds": 3, "batch_size": 16, "device": "cpu",
        "speed": {}, "model_opts": {"width": 0.0625}}
RATE, SECONDS = 16_000, 1


def make_dataset(root: Path, n_clips: int, seed: int = 0) -> Path:
    """`n_clips` tone+noise WAVs over v0.01's 30 words in `root` (Speech Commands layout)."""
    from harness.data import DATASETS

    words = DATASETS["speech_commands_v0.01"]
    counts = [n_clips // len(words) + (i < n_clips % len(words)) for i in range(len(words))]
    jobs = [(root, word, k, n, seed) for k, (word, n) in enumerate(zip(words, counts, strict=True))]
    with mp.get_context("spawn").Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
        pool.starmap(_write_word, jobs)
    return root


def _write_word(root: Path, word: str, k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng([seed, k])
    t = np.arange(RATE * SECONDS) / RATE
    f0 = 200 * 2 ** (k / 6)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    wave = np.sin(2 * np.pi * f0 * t + phase) + 0.5 * np.sin(4 * np.pi * f0 * t + 2 * phase)
    onset, length = rng.uniform(0, 0.5, (n, 1)), rng.uniform(0.3, 0.5, (n, 1))
    wave *= rng.uniform(0.05, 0.3, (n, 1)) * ((t >= onset) & (t < onset + length))
    wave += rng.normal(0, 1, wave.shape) * rng.uniform(0.01, 0.05, (n, 1))
    audio = np.clip(np.round(wave * 32768), -32768, 32767).astype("<i2")
    folder = root / word
    folder.mkdir(parents=True, exist_ok=True)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + audio.shape[1] * 2, b"WAVE",
                         b"fmt ", 16, 1, 1, RATE, RATE * 2, 2, 16, b"data", audio.shape[1] * 2)
    for i, clip in enumerate(audio):
        (folder / f"{i // 5:08x}_nohash_{i % 5}.wav").write_bytes(header + clip.tobytes())


def experiment_file(path: Path, root: Path, size: dict) -> Path:
    speed = "".join(f"{k} = true\n" for k in size["speed"])
    model = "".join(f'"model.{k}" = {v}\n' for k, v in size["model_opts"].items())
    path.write_text(f"""# Written by scripts/gpu_study.py: the reference study on a tone+noise set.
name = "gpu_reference"
description = "Reference study timing: 7 front-ends x {size['seeds']} seeds on tone+noise clips"
[data]
dataset = "speech_commands_v0.01"
root = "{root}"
split = "random"
[train]
model = "seed_cnn"
{model}recipe = "as_ran"
epochs = {size['epochs']}
patience = {size['epochs']}
batch_size = {size['batch_size']}
{speed}[search]
sampler = "grid"
seeds = {list(range(size['seeds']))}
[search.space]
frontend = {json.dumps(FRONTENDS)}
""")
    return path


def run(out: Path, work: Path, size: dict, workers: int, budget_s: float) -> dict:
    """Steps 1-3; returns (and writes to out/study.json) what `table` needs."""
    from harness.data import cache_dataset

    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["HARNESS_DATA_DIR"] = str(work / "data")
    root = work / "data" / f"tone_noise_{size['clips']}"
    start = time.perf_counter()
    if not (root / ".complete").exists():
        make_dataset(root, size["clips"])
        (root / ".complete").touch()
    made = time.perf_counter() - start
    start = time.perf_counter()
    cache = cache_dataset("speech_commands_v0.01", root)
    decoded = time.perf_counter() - start
    n_train = len(cache.split_rows("random", 0)["train"])  # the same for every split seed
    print(f"data: {size['clips']} clips made in {made:.1f} s, decoded in {decoded:.1f} s",
          flush=True)
    toml = experiment_file(work / "gpu_reference.toml", root, size)
    for old in ("runs", "mlartifacts"):  # a fresh study each time, not a resume
        shutil.rmtree(work / old, ignore_errors=True)
    (work / "mlflow.db").unlink(missing_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "harness", "sweep", str(toml), "--workers", str(workers),
           "--device", size["device"], "--tracking-uri", uri]
    print("+", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=work, start_new_session=True)
    try:
        code = proc.wait(timeout=budget_s)
    except subprocess.TimeoutExpired:  # the workers die with their parent (PDEATHSIG)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    study = {"wall_s": time.perf_counter() - start, "cut_at_budget": code is None,
             "exit_code": code, "budget_s": budget_s, "workers": workers, "make_s": made,
             "decode_s": decoded, "tracking_uri": uri, "size": size, "n_train": n_train}
    (out / "study.json").write_text(json.dumps(study, indent=1))
    return study


def trial_rows(study: dict) -> list[dict]:
    """One dict per trial run in MLflow: its params, final metrics and wall seconds."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(study["tracking_uri"])
    exp = client.get_experiment_by_name("gpu_reference")
    runs = [] if exp is None else client.search_runs(
        [exp.experiment_id], "tags.`harness.role` = 'trial'", max_results=1000)
    rows = []
    for r in runs:
        end = r.info.end_time or r.info.start_time
        rows.append({"trial": int(r.data.tags["trial_number"]), "state": r.data.tags["state"],
                     "frontend": r.data.params["frontend"], "seed": r.data.params["seed"],
                     "wall_s": (end - r.info.start_time) / 1000, **r.data.metrics})
    return sorted(rows, key=lambda row: row["trial"])


def table(out: Path, peak_override: float | None = None) -> None:
    """The closing table: CUDA tests, benchmark rows, trials, the study against its floor."""
    import torch

    from harness.training.gpu_stats import peak_tflops, train_flops_per_sample

    device = (torch.cuda.get_device_name() if torch.cuda.is_available()
              else "cpu (no GPU: a rehearsal, not a GPU figure)")
    print(f"\n=== GPU check on {device} ===")
    tests = out / "cuda_tests.txt"
    if tests.exists():
        lines = [line for line in tests.read_text().splitlines() if line.strip()]
        print(f"CUDA tests (pytest -m cuda): {lines[-1] if lines else 'no output'}")
    benches = sorted(out.glob("bench_*.json"))
    if benches:
        print(f"\n{'benchmark group':<34} {'row':<18} {'samples/s':>10} {'TFLOP/s':>8} "
              f"{'1st call s':>10}")
        for b in (b for path in benches for b in json.loads(path.read_text())["benchmarks"]):
            info = b["extra_info"]
            tflops = f"{info['tflops']:.1f}" if info.get("tflops") else ""
            first = f"{info['first_call_s']:.2f}" if "first_call_s" in info else ""
            print(f"{b['group'] or '':<34} {info.get('role', b['name']):<18} "
                  f"{info.get('items_per_s', 0):>10.0f} {tflops:>8} {first:>10}")
    if not (out / "study.json").exists():
        return
    study = json.loads((out / "study.json").read_text())
    size = study["size"]
    used = study["n_train"] // size["batch_size"] * size["batch_size"]  # full batches only
    fps = {f: train_flops_per_sample(f, "seed_cnn", 30, model_opts=size["model_opts"])
           for f in FRONTENDS}
    rows = trial_rows(study)
    print(f"\n{'trial':>5} {'frontend':<12} {'seed':>4} {'state':<9} {'epochs':>6} "
          f"{'train/s':>8} {'eval/s':>8} {'step ms':>7} {'peak MB':>8} {'GPU %':>5} "
          f"{'TFLOP/s':>7} {'wall s':>7}")
    done_flops = 0.0
    for r in rows:
        rate = r.get("train_samples_per_s_median", 0.0)
        util = f"{r['gpu_util_mean_percent']:.0f}" if "gpu_util_mean_percent" in r else "-"
        tflops = rate * fps[r["frontend"]] / 1e12  # while training, this trial alone
        if r["state"] == "COMPLETE":
            done_flops += r.get("epochs_run", 0) * used * fps[r["frontend"]]
        print(f"{r['trial']:>5} {r['frontend']:<12} {r['seed']:>4} {r['state']:<9} "
              f"{r.get('epochs_run', 0):>6.0f} {rate:>8.0f} "
              f"{r.get('eval_samples_per_s_median', 0):>8.0f} {r.get('train_step_ms', 0):>7.1f} "
              f"{r.get('peak_memory_mb', 0):>8.0f} {util:>5} {tflops:>7.2f} "
              f"{r['wall_s']:>7.1f}")
    planned = size["seeds"] * size["epochs"] * used * sum(fps.values())
    complete = sum(r["state"] == "COMPLETE" for r in rows)
    wall = study["wall_s"]
    print(f"\nstudy: {complete} of {len(FRONTENDS) * size['seeds']} trials complete, "
          f"{study['workers']} workers, wall {wall:.1f} s"
          + (f" (cut at the {study['budget_s']:.0f} s budget)" if study["cut_at_budget"] else "")
          + f"; data made in {study['make_s']:.1f} s, decoded in {study['decode_s']:.1f} s")
    print(f"training FLOPs, counted: {planned / 1e15:.3g} PFLOP planned "
          f"({size['epochs']} epochs x {used} clips x {size['seeds']} seeds x "
          f"{len(FRONTENDS)} front-ends at {min(fps.values()) / 1e9:.2f}-"
          f"{max(fps.values()) / 1e9:.2f} GFLOP a sample), {done_flops / 1e15:.3g} done; "
          f"issue 16 estimated 61 PFLOP (every front-end at complex's ~1.9 GFLOP)")
    peak = peak_override or peak_tflops(device)
    if peak is None:
        print(f"fraction of the FLOP floor: no peak known for {device}")
        return
    label = "assumed" if peak_override else "harness.training.gpu_stats.PEAK_TFLOPS"
    floor = planned / (peak * 1e12)
    print(f"FLOP floor at {peak:.0f} TFLOP/s ({label}): {floor:.3g} s for the whole study; "
          f"reached {done_flops / (peak * 1e12) / wall:.1%} of it "
          f"(done FLOPs / peak / wall)")
    if size["device"] == "cuda":  # the target: all 21 trials in under 10 minutes
        met = complete == len(FRONTENDS) * size["seeds"] and wall < 600
        print(f"target, the 21 trials in < 600 s wall: {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["run", "table"])
    parser.add_argument("--out", type=Path, required=True, help="folder for data, runs, JSON")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the data set, Optuna and MLflow (default: --out)")
    parser.add_argument("--tiny", action="store_true", help="CPU rehearsal at tiny sizes")
    parser.add_argument("--workers", type=int, default=7, help="sweep workers (default 7: "
                        "21 trials in 3 rounds)")
    parser.add_argument("--budget-s", type=float, default=240.0,
                        help="stop the sweep after this many seconds (default 240)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the peak the floor divides by (default: the GPU's known one)")
    args = parser.parse_args()
    if args.step == "run":
        run(args.out.absolute(), (args.work or args.out).absolute(),
            TINY if args.tiny else FULL, args.workers, args.budget_s)
    else:
        table(args.out.absolute(), args.peak_tflops)


if __name__ == "__main__":
    main()
