"""The README's multi-machine recipe run on a Cluster, with machines dying mid-study.

    rows = run_faults(cluster, ["kill", "partition", "mlflow_restart", "disk_full"])

Every study is the same tiny grid (3 front-ends x 2 seeds, CPU) under its own name, run
by the README's worker command on w1 and w2 at once; a fault hits mid-trial. After the
sweeps end, the stores are judged on the tracker (scripts/cluster_stores.py: every grid
point COMPLETE once in Optuna, one FINISHED run in MLflow, nothing left RUNNING), and the
report's trial table is compared with a one-machine run of the same grid ("baseline",
local stores on w1, run first).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from cluster_machines import MLFLOW_URL, OPTUNA_URL, REPO, Cluster, Machine, wait_until
from cluster_stores import dump, verdict
from cluster_tracker import MlflowServer, fill_artifacts, free_artifacts, psql

FRONTENDS = ("magnitude", "complex", "log_power")
SWEEP_TIMEOUT_S = 900  # a scenario's sweeps; a hung one is a finding, not a hang
# Worker settings a scenario may shorten; empty means the harness's own defaults.
Knobs = dict[str, str]


def write_experiment(cluster: Cluster, name: str, epochs: int, seeds: str = "[0, 1]",
                     frontends: int = 3) -> str:
    """The tests' tiny grid (the first `frontends` of FRONTENDS x `seeds`, 30 clips of 3
    words) as NAME.toml and its data in every machine's folder; the file's path as the
    machines see it. Every machine writes the same data at the same path (its own copy),
    so all share one experiment identity."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_sweep import tiny_experiment

    for m in cluster.machines:
        path = tiny_experiment(m.folder, name=name, epochs=epochs, seeds=seeds,
                               space=f"frontend = {json.dumps(FRONTENDS[:frontends])}")
        path.write_text(path.read_text().replace(str(m.folder), str(m.home)))
    return str(cluster.tracker.home / f"{name}.toml")


def sweep(w: Machine, name: str, log: str, *extra: str, knobs: Knobs | None = None,
          remote: bool = True) -> subprocess.Popen[bytes]:
    """The README's worker command (step 3) on `w`; `remote` False: local stores (runs/)."""
    stores = ["--storage", OPTUNA_URL, "--tracking-uri", MLFLOW_URL] if remote else []
    return w.popen([sys.executable, "-m", "harness", "sweep", f"{name}.toml", "--device", "cpu",
                    *stores, *extra], log=w.log(log), **(knobs or {}))


class Row(NamedTuple):
    """A trial as the fault drivers poll it."""

    number: int
    state: str
    epochs: int     # intermediate values reported
    host: str       # the machine that claimed it ("" while WAITING)
    duplicate: bool  # a copy two starting workers both queued, closed unrun


def trials(cluster: Cluster, name: str) -> list[Row]:
    """A study's trials read straight from Optuna's tables (psql: no Python start per poll)."""
    rows = psql(cluster, f"""SELECT t.number, t.state,
        (SELECT count(*) FROM trial_intermediate_values v WHERE v.trial_id = t.trial_id),
        coalesce((SELECT a.value_json::json->>'host' FROM trial_system_attributes a
                  WHERE a.trial_id = t.trial_id AND a.key = 'harness.worker'), ''),
        EXISTS (SELECT 1 FROM trial_user_attributes u
                WHERE u.trial_id = t.trial_id AND u.key = 'harness.duplicate')
        FROM trials t JOIN studies s ON s.study_id = t.study_id
        WHERE s.study_name = '{name}' ORDER BY t.number""", db="optuna")
    return [Row(int(n), s, int(e), h, d == "t")
            for n, s, e, h, d in (r.split("|") for r in rows.split())]


def mid_trial(cluster: Cluster, name: str, host: str) -> Row | None:
    """A RUNNING trial of `host` past its first epoch, once another machine has one too."""
    try:
        ts = trials(cluster, name)
    except RuntimeError:  # the study's tables are not made yet
        return None
    if not any(t.host not in ("", host) for t in ts):
        return None
    return next((t for t in ts if t.state == "RUNNING" and t.epochs >= 1 and t.host == host),
                None)


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = SWEEP_TIMEOUT_S) -> list[int]:
    """Wait for every sweep; exit codes (-9: killed with its machine)."""
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [p.returncode for p in procs]


def judge(cluster: Cluster, name: str) -> dict[str, Any]:
    """The study's verdict (scripts/cluster_stores.py) from both stores' databases."""
    return verdict(dump(cluster, cluster.tracker.folder / f"{name}.toml"))


def report_trials(m: Machine, toml: str, out: str, tracking_uri: str | None) -> list[str]:
    """The report's comparison table as (configuration, complete) lines."""
    uri = ["--tracking-uri", tracking_uri] if tracking_uri else []
    m.run([sys.executable, "-m", "harness", "report", toml, *uri, "--out", out], timeout=600)
    import csv

    with open(m.folder / Path(out).relative_to(m.home) / "comparison.csv") as f:
        return sorted(f"{r['config']}: {r['complete']}" for r in csv.DictReader(f))


# A fault: (cluster, study name, the two sweeps) -> what happened, and the step that
# finished the study when one was needed ("" for none).
Fault = Callable[[Cluster, str, list[subprocess.Popen[bytes]], Knobs], tuple[str, str]]


def wait_mid_trial(c: Cluster, name: str, procs: list[subprocess.Popen[bytes]],
                   host: str = "w1") -> Row | None:
    """Wait until `host` is mid-trial while another machine has a trial too; that trial.
    RuntimeError when a sweep ends first, or after 10 minutes."""
    def ready() -> bool:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a sweep ended before {host} was mid-trial "
                               f"(exit codes {[p.poll() for p in procs]})")
        return mid_trial(c, name, host) is not None
    wait_until(f"{host} mid-trial", ready, 600, step=0.5)
    return mid_trial(c, name, host)


def kill(c: Cluster, name: str, procs: list[subprocess.Popen[bytes]],
         knobs: Knobs) -> tuple[str, str]:
    w1 = c.workers[0]
    t = wait_mid_trial(c, name, procs)
    n = w1.power_off()
    return (f"w1 switched off (SIGKILL to its {n} processes) in trial {t.number if t else '?'}, "
            f"epoch {t.epochs if t else '?'}", "")


def partition(c: Cluster, name: str, procs: list[subprocess.Popen[bytes]],
              knobs: Knobs) -> tuple[str, str]:
    w1 = c.workers[0]
    t = wait_mid_trial(c, name, procs)
    grace = float(knobs.get("HARNESS_HEARTBEAT_GRACE_S", "120"))
    down = grace * 2 + 10
    c.link(w1, up=False)
    time.sleep(down)
    c.link(w1, up=True)
    return (f"w1's link down {down:.0f} s (grace {grace:.0f} s) in trial "
            f"{t.number if t else '?'}, then up", "")


def mlflow_restart(server: MlflowServer) -> Fault:
    def fault(c: Cluster, name: str, procs: list[subprocess.Popen[bytes]],
              knobs: Knobs) -> tuple[str, str]:
        wait_mid_trial(c, name, procs)
        start = time.monotonic()
        server.restart()
        return f"MLflow server stopped and started again ({time.monotonic() - start:.0f} s)", ""
    return fault


def disk_full(c: Cluster, name: str, procs: list[subprocess.Popen[bytes]],
              knobs: Knobs) -> tuple[str, str]:
    wait_mid_trial(c, name, procs)
    df = fill_artifacts(c)

    def failed() -> int:
        return sum(t.state == "FAIL" and not t.duplicate for t in trials(c, name))
    wait_until("a trial failed on the full disk",
               lambda: failed() > 0 or all(p.poll() is not None for p in procs), 900, step=1)
    n = failed()
    free_artifacts(c)
    finish(procs)
    return (f"artifact disk filled ({' '.join(df.split()[1:5])}); {n} trial(s) FAIL, "
            "disk freed", "`harness sweep --retry-failed` on w2")
