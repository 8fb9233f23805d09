"""The cluster check: the README's multi-machine recipe on network namespaces, with faults.

    python scripts/cluster_check.py --out /tmp/cluster_check            # faults, then scale
    python scripts/cluster_check.py --faults kill --no-scale            # one fault
    python scripts/cluster_check.py --faults --levels 8 16              # scale only
    python scripts/cluster_check.py --faults --levels 64 --max-connections 300
    scripts/cluster_check.sh    |    nox -s cluster                     # the same, wrapped

Needs root (namespaces, veths, mounts) and PostgreSQL's server binaries. Builds a tracker
and 2 workers (scripts/cluster_machines.py), sets the tracker up as README.md says
(scripts/cluster_tracker.py), runs a one-machine baseline and then each fault on its own
study (scripts/cluster_faults.py), and prints the fault table; then the scale measurement
(scripts/cluster_scale.py) on a cluster of its own. Results: OUT/faults.json, OUT/faults.md,
OUT/scale.json, OUT/scale.md. Everything it built is removed at the end, also on Ctrl-C
or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_faults import (
    Fault,
    Knobs,
    disk_full,
    finish,
    judge,
    kill,
    mlflow_restart,
    partition,
    report_trials,
    sweep,
    write_experiment,
)
from cluster_machines import MLFLOW_URL, Cluster
from cluster_scale import LEVELS, MAX_CONNECTIONS, run_scale
from cluster_tracker import MlflowServer, start_postgres

# Short heartbeats so a fault takes seconds, not the defaults' minutes (docs/scaling.md).
KNOBS: Knobs = {"HARNESS_HEARTBEAT_S": "2", "HARNESS_HEARTBEAT_GRACE_S": "8"}
# The disk-full fault: MLflow retries an upload the server answers 500 for ~4 minutes.
FAST_FAIL: Knobs = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
FAULTS = ("kill", "partition", "mlflow_restart", "disk_full")
EPOCHS = 4


def scenario(c: Cluster, name: str, fault: Fault, knobs: Knobs,
             baseline: list[str]) -> dict[str, Any]:
    """One study on w1 and w2 with `fault` mid-way, judged; its row of the fault table."""
    start = time.monotonic()
    for w in c.workers:
        if not w.init:  # switched off by an earlier fault: on again
            c.reboot(w)
    toml = write_experiment(c, name, EPOCHS)
    procs = [sweep(w, name, name, knobs=knobs) for w in c.workers[:2]]
    what, step = fault(c, name, procs, knobs)
    codes = finish(procs)
    verdict = judge(c, name)
    if step.startswith("`harness sweep --retry-failed`"):
        finish([sweep(c.workers[1], name, f"{name}-retry", "--retry-failed", knobs=knobs)])
        verdict = judge(c, name)
    elif verdict["lost"] or verdict["running"]:
        # Every live worker ran out of work before the dead trial went stale: the README's
        # "the next sweep command" recovers it.
        time.sleep(float(knobs.get("HARNESS_HEARTBEAT_GRACE_S", 120)))
        finish([sweep(c.workers[1], name, f"{name}-rerun", knobs=knobs)])
        step = "the worker command re-run on w2 after the grace"
        verdict = judge(c, name)
    listed = report_trials(c.tracker, toml, f"{c.tracker.home}/reports/{name}",
                           MLFLOW_URL.replace("tracker", "localhost"))
    return {"fault": name, "what": what, "step": step or "none", "exit codes": codes,
            **verdict, "report same as one machine": listed == baseline,
            "report": listed, "seconds": round(time.monotonic() - start)}


def run_faults(out: Path, names: list[str], base: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with Cluster(base, workers=2, lifetime_s=3600) as c, c.on_exit(keep_logs, c, out):
        start_postgres(c)
        server = MlflowServer(c, workers=1)  # one process: 2 cores; see docs/scaling.md
        server.start()
        toml = write_experiment(c, "baseline", EPOCHS)
        finish([sweep(c.workers[0], "baseline", "baseline", knobs=KNOBS, remote=False)])
        baseline = report_trials(c.workers[0], toml, f"{c.workers[0].home}/reports/baseline",
                                 None)
        print(f"baseline (one machine, local stores): {baseline}", flush=True)
        faults: dict[str, tuple[Fault, Knobs]] = {
            "kill": (kill, KNOBS), "partition": (partition, KNOBS),
            "mlflow_restart": (mlflow_restart(server), KNOBS),
            "disk_full": (disk_full, {**KNOBS, **FAST_FAIL})}
        for name in names:
            fault, knobs = faults[name]
            try:
                row = scenario(c, name, fault, knobs, baseline)
            except Exception as exc:  # one fault's failure is its row, the next still runs
                row = {"fault": name, "what": f"check failed: {type(exc).__name__}: {exc}",
                       "lost": None, "doubled": None}
            rows.append(row)
            print(json.dumps(row), flush=True)
            (out / "faults.json").write_text(json.dumps(rows, indent=1))
    return rows


def keep_logs(c: Cluster, out: Path) -> None:
    """Every machine's logs under OUT/logs/MACHINE/, before the cluster is removed."""
    for m in c.machines:
        (out / "logs" / m.name).mkdir(parents=True, exist_ok=True)
        for log in (m.folder / "logs").glob("*.log"):
            (out / "logs" / m.name / log.name).write_bytes(log.read_bytes())


def fault_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| fault | what happened | step to finish | trials lost | trials doubled | "
             "left RUNNING | failed attempts | report = one machine |", "|---" * 8 + "|"]
    for r in rows:
        lines.append(f"| {r['fault']} | {r['what']} | {r.get('step', '')} | {r['lost']} | "
                     f"{r['doubled']} | {len(r.get('running', [])) } | {r.get('failed', '')} | "
                     f"{r.get('report same as one machine', '')} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/cluster_check"))
    ap.add_argument("--faults", nargs="*", default=list(FAULTS), choices=FAULTS)
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--levels", nargs="+", type=int, default=list(LEVELS),
                    help="worker processes per scale level")
    ap.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS,
                    help="PostgreSQL's max_connections for the scale run")
    ap.add_argument("--base", type=Path, help="work folder (default: a new one under /tmp)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds: Cluster.close runs
    base = args.base or Path(tempfile.mkdtemp(prefix="cluster-check-"))
    base.chmod(0o755)  # the postgres user walks through it to its data folder
    ok = True
    try:
        if args.faults:
            rows = run_faults(args.out, args.faults, base / "faults")
            table = fault_table(rows)
            (args.out / "faults.md").write_text(table + "\n")
            print(table)
            ok = all(r["lost"] == 0 and r["doubled"] == 0 and not r.get("running")
                     and r.get("report same as one machine") for r in rows)
        if not args.no_scale:
            ok = run_scale(args.out, base / "scale", tuple(args.levels),
                           args.max_connections) and ok
    finally:
        if args.base is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
