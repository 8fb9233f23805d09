"""8 to 64 dry-run workers against one PostgreSQL and one MLflow server: what breaks first.

    run_scale(Path("/tmp/out"), Path("/tmp/base"))      # OUT/scale.json, OUT/scale.md

A cluster of MACHINES worker machines; the tracker (PostgreSQL and `mlflow server`, 4
server workers as MLflow's default) pinned to core 1, the workers to core 0. For each
level W, every machine runs `harness sweep FILE --dry-run S --workers W/MACHINES` (no
torch in the worker processes: they claim, heartbeat, sleep S per epoch and log like a
trial, one `dry-run {json}` line per trial). The workers wait at a gate until all W are
up, so the level runs with W at once; the gate opens and the level is measured for
WINDOW_S, then the sweeps are stopped with SIGTERM (their running trials fail and are
queued again, as the harness does on SIGTERM). From the workers' lines: claim latency,
heartbeat write latency, MLflow logging steps per second and errors, duplicate claims;
from the host: the tracker's CPU, PostgreSQL connections, memory (RSS and PSS), load average.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from cluster_faults import judge, write_experiment
from cluster_machines import MLFLOW_URL, OPTUNA_URL, Cluster, Machine, wait_until
from cluster_tracker import MlflowServer, connections, start_postgres

from harness.sweep.dry_run import PREFIX

LEVELS = (8, 16, 32, 64)
# PostgreSQL's default: at 32 workers the MLflow server's pools ran out of slots (503s)
MAX_CONNECTIONS = 100
MACHINES = 4
WINDOW_S = 60        # measured time per level, once all its workers run
STARTUP_S = 420      # a level whose workers are not all up by then is stopped: the finding
EPOCH_S = 3.0        # a dry trial's sleep per epoch: 9 s trials, plus their logging
EPOCHS = 3
TRACKER_CPU, WORKER_CPU = "1", "0"
KNOBS = {"HARNESS_HEARTBEAT_S": "2", "HARNESS_HEARTBEAT_GRACE_S": "30"}
# A level starts only when MemAvailable holds its workers at the last level's PSS times this
# (the host runs other work too): not run, with the figures, rather than the OOM killer.
MEMORY_MARGIN = 1.3
FIRST_WORKER_MB = 250.0  # a dry-run worker's memory before a level measured it (MB)
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def memory_mb(pids: list[int], field: str = "Pss") -> list[float]:
    """Each process's memory, MB: "Pss" (shared pages split among their users, so a sum is
    what the processes take together) or "Rss" (every page it maps, shared or not)."""
    out = []
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in text.splitlines()
                   if line.startswith(field + ":")), 0)
        out.append(kb / 1024)
    return out


def python_procs(m: Machine) -> dict[int, bool]:
    """The machine's Python processes: PID -> whether it is a sweep worker (spawned, or
    forked by the dry run's forkserver), else a sweep command or its forkserver (the
    command read the experiment file and so imported torch)."""
    found, cmdlines, parents = {}, {}, {}
    for pid in m.pids():
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            cmdlines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes()
            parents[pid] = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except OSError:
            continue
        if "python" in Path(exe).name:
            found[pid] = True
    for pid in found:
        forked = b"forkserver" in cmdlines[pid] and b"forkserver" in cmdlines.get(parents[pid], b"")
        found[pid] = b"spawn_main" in cmdlines[pid] or forked
    return found


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def dry_lines(c: Cluster, name: str) -> list[dict[str, Any]]:
    """Every `dry-run {json}` line the level's workers printed (harness/sweep/dry_run.py)."""
    rows = []
    for w in c.workers:
        log = w.log(name)
        if log.exists():
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith(PREFIX + "{"):
                    rows.append(json.loads(line.removeprefix(PREFIX)))
    return rows


ACCESS = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) INFO:.*\" (\d{3})")


def requests(log: Path, start: float, end: float) -> Counter[int]:
    """The MLflow server's requests between two times, by HTTP status (its access log)."""
    counts: Counter[int] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        m = ACCESS.match(line)
        if m and start <= time.mktime(time.strptime(m[1], "%Y/%m/%d %H:%M:%S")) < end:
            counts[int(m[2])] += 1
    return counts


def available_mb() -> float:
    """The host's MemAvailable, MB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def too_big(n: int, worker_mb: float, sweep_mb: float) -> str:
    """Why n workers would not fit in memory now ("" when they would)."""
    need = MEMORY_MARGIN * (n * worker_mb + MACHINES * sweep_mb)
    have = available_mb()
    if need <= have:
        return ""
    return (f"not run: {n} workers need about {need / 1024:.1f} GiB ({n} x {worker_mb:.0f} MB "
            f"+ {MACHINES} sweep commands x {sweep_mb:.0f} MB, x{MEMORY_MARGIN}), "
            f"{have / 1024:.1f} GiB available")


REFUSED = ("remaining connection slots are reserved", "too many clients already")


def refused(c: Cluster) -> int:
    """Connections PostgreSQL refused so far, full (its log, on the tracker's own tmpfs)."""
    log = c.tracker.home / "pg" / "server.log"
    pattern = "|".join(REFUSED)
    return int(c.tracker.run(["bash", "-c", f"grep -c -E '{pattern}' {log} || true"]).strip()
               or 0)


def level(c: Cluster, server: MlflowServer, n: int) -> dict[str, Any]:
    """One level: n worker processes over the machines, measured for WINDOW_S."""
    name = f"scale{n}"
    # Enough trials that the queue outlasts the window: 1.5 times what n workers sleep in it.
    needed = int(1.5 * n * WINDOW_S / (EPOCHS * EPOCH_S))
    write_experiment(c, name, EPOCHS, seeds=str(list(range(needed // 7 + 1))),
                            frontends=7)
    for w in c.workers:
        (w.folder / "gate").unlink(missing_ok=True)
    procs = [w.popen([sys.executable, "-m", "harness", "sweep", f"{name}.toml",
                      "--storage", OPTUNA_URL, "--tracking-uri", MLFLOW_URL,
                      "--dry-run", str(EPOCH_S), "--workers", str(n // len(c.workers))],
                     log=w.log(name), cpus=WORKER_CPU,
                     HARNESS_DRY_RUN_GATE=str(w.home / "gate"), **KNOBS) for w in c.workers]
    try:
        return measure(c, server, n, name, procs)
    finally:
        stop(procs)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each sweep (its running trials fail and are queued again); SIGKILL after 180 s."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def measure(c: Cluster, server: MlflowServer, n: int, name: str,
            procs: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    """Wait for the level's workers at the gate, open it, measure WINDOW_S, stop them."""
    started = time.monotonic()

    def ready() -> int:
        return sum(w.log(name).read_text(errors="replace").count(PREFIX + "waiting")
                   for w in c.workers if w.log(name).exists())
    wait_until(f"{n} dry-run workers to start", lambda: ready() >= n
               or any(p.poll() is not None for p in procs), STARTUP_S, step=2)
    startup_s = time.monotonic() - started
    cpu0, t0, wall0 = cpu_s(c.tracker.pids()), time.monotonic(), time.time()
    refused0 = refused(c)
    for w in c.workers:
        (w.folder / "gate").touch()
    conns: list[dict[str, int]] = []
    load: list[float] = []
    while time.monotonic() - t0 < WINDOW_S:
        conns.append(connections(c))
        load.append(float(Path("/proc/loadavg").read_text().split()[0]))
        time.sleep(5)
    window, wall1 = time.monotonic() - t0, time.time()
    pg_refused = refused(c) - refused0
    tracker_cpu = (cpu_s(c.tracker.pids()) - cpu0) / window
    kinds = {pid: worker for w in c.workers for pid, worker in python_procs(w).items()}
    workers = [pid for pid, worker in kinds.items() if worker]
    others = [pid for pid, worker in kinds.items() if not worker]
    worker_rss, worker_pss = memory_mb(workers, "Rss"), memory_mb(workers)
    sweep_pss = memory_mb(others)
    server_pids = server.pids()
    pg_pss = sum(memory_mb([p for p in c.tracker.pids() if p not in server_pids]))
    mlflow_pss = sum(memory_mb(server_pids))
    stop(procs)
    lines = dry_lines(c, name)
    inside = [x for x in lines if wall0 <= x["end"] < wall1]
    calls = requests(c.tracker.log("mlflow"), wall0, wall1)
    claimed = [x["trial"] for x in lines]
    verdict = judge(c, name)
    mlflow_s = [v for x in inside for v in x["mlflow_s"]]
    beats = [b for x in inside for b in x["heartbeats_s"]]
    return {
        "workers": n, "machines": len(c.workers), "startup_s": round(startup_s),
        "window_s": round(window), "trials_per_s": round(
            sum(x["state"] == "COMPLETE" for x in inside) / window, 2),
        "claim_p50_ms": ms(pct([x["claim_s"] for x in inside], 0.5)),
        "claim_p99_ms": ms(pct([x["claim_s"] for x in inside], 0.99)),
        "heartbeat_p50_ms": ms(pct(beats, 0.5)), "heartbeat_p99_ms": ms(pct(beats, 0.99)),
        "heartbeat_errors": sum(x["heartbeat_errors"] for x in lines),
        "mlflow_requests_per_s": round(sum(calls.values()) / window, 1),
        "mlflow_errors": sum(v for k, v in calls.items() if k >= 400),
        "mlflow_log_p50_ms": ms(pct(mlflow_s, 0.5)), "mlflow_log_p99_ms": ms(pct(mlflow_s, 0.99)),
        "failed_trials": sum(x["state"] == "FAIL" for x in inside),
        "duplicate_claims": len(claimed) - len(set(claimed)) + verdict["doubled"],
        "queued_twice": verdict["queued_twice"], "grid_points": verdict["points"],
        "torch_in_workers": any(x["torch"] for x in lines),
        "tracker_cpu_pct": round(100 * tracker_cpu),
        "pg_refused": pg_refused,
        "pg_connections_max": max((sum(x.values()) for x in conns), default=0),
        "pg_connections_optuna_max": max((x.get("optuna", 0) for x in conns), default=0),
        "worker_rss_mb": round(sum(worker_rss) / max(1, len(worker_rss))),
        "worker_pss_mb": round(sum(worker_pss) / max(1, len(worker_pss))),
        "workers_pss_total_mb": round(sum(worker_pss)),
        "sweep_pss_mb": round(sum(sweep_pss) / max(1, len(sweep_pss))),
        "pg_pss_mb": round(pg_pss), "mlflow_pss_mb": round(mlflow_pss),
        "load_avg_max": max(load, default=0.0), "exit_codes": [p.returncode for p in procs],
    }


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def run_scale(out: Path, base: Path, levels: tuple[int, ...] = LEVELS,
              max_connections: int = MAX_CONNECTIONS) -> bool:
    rows: list[dict[str, Any]] = []
    with Cluster(base, workers=MACHINES, lifetime_s=7200) as c:
        start_postgres(c, max_connections=max_connections, cpus=TRACKER_CPU)
        server = MlflowServer(c, workers=4, cpus=TRACKER_CPU)
        server.start()
        worker_mb, sweep_mb = FIRST_WORKER_MB, 0.0
        for n in levels:
            why = too_big(n, worker_mb, sweep_mb)
            if why:
                rows.append({"workers": n, "broke": why})
                print(json.dumps(rows[-1]), flush=True)
                continue
            try:
                row = level(c, server, n)
                worker_mb = float(row["worker_pss_mb"]) or worker_mb
                sweep_mb = max(sweep_mb, float(row["sweep_pss_mb"]))
            except Exception as exc:  # what broke is the finding; the next level still runs
                row = {"workers": n, "broke": f"{type(exc).__name__}: {exc}"[:500]}
            rows.append(row)
            print(json.dumps(row), flush=True)
            (out / "scale.json").write_text(json.dumps(rows, indent=1))
    table = f"PostgreSQL max_connections = {max_connections}\n\n" + scale_table(rows)
    (out / "scale.md").write_text(table + "\n")
    print(table)
    return all(r.get("duplicate_claims") == 0 for r in rows)


COLUMNS = ("workers", "trials_per_s", "claim_p50_ms", "claim_p99_ms", "heartbeat_p50_ms",
           "heartbeat_p99_ms", "mlflow_requests_per_s", "mlflow_log_p50_ms", "mlflow_log_p99_ms",
           "mlflow_errors", "failed_trials", "duplicate_claims", "tracker_cpu_pct",
           "pg_connections_max", "pg_refused", "worker_rss_mb", "worker_pss_mb", "sweep_pss_mb",
           "pg_pss_mb", "mlflow_pss_mb", "load_avg_max", "startup_s")


def scale_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " | broke |", "|---" * (len(COLUMNS) + 1) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) for k in COLUMNS)
                     + f" | {r.get('broke', '')} |")
    return "\n".join(lines)
