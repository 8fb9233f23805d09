"""The tracker's services, set up as README.md's recipe says (steps 1 and 2).

    start_postgres(cluster)              # initdb + pg_ctl as `postgres`; user, 2 databases
    server = MlflowServer(cluster); server.start(); server.restart(); server.stop()
    fill_artifacts(cluster) / free_artifacts(cluster)      # the artifact tmpfs, full or not

Deviations from the recipe (docs/scaling.md names them): PostgreSQL is started with
`pg_ctl` on a data folder of its own (a tmpfs), not `systemctl`; `fsync` is off there,
since the tmpfs does not keep anything past the check anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from cluster_machines import (
    MLFLOW_PORT,
    PASSWORD,
    PG_BIN,
    PG_PORT,
    SUBNET,
    TRACKER,
    Cluster,
    wait_until,
)

READY_PY = ("import sys, urllib.request\n"
            "try:\n    urllib.request.urlopen(sys.argv[1], timeout=2).read()\n"
            "except Exception:\n    sys.exit(1)\n")


def pg_dir(cluster: Cluster) -> Path:
    """The PostgreSQL folder as the tracker sees it (a tmpfs)."""
    return cluster.tracker.home / "pg"


def as_postgres(cluster: Cluster, *cmd: str, timeout: float = 120,
                cpus: str | None = None) -> str:
    return cluster.tracker.run(["runuser", "-u", "postgres", "--", *cmd], timeout=timeout,
                               cpus=cpus)


def start_postgres(cluster: Cluster, max_connections: int = 100,
                   cpus: str | None = None) -> None:
    """Step 1 of the recipe: a server for the workers' network, its user and databases;
    `cpus`: the cores it runs on (taskset), inherited by every backend."""
    if not PG_BIN:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    bindir, pg = PG_BIN[-1].parent, pg_dir(cluster)
    data = pg / "data"
    as_postgres(cluster, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth-local=peer", "--auth-host=scram-sha-256", "--no-sync")
    conf = (f"listen_addresses = '*'\nport = {PG_PORT}\nunix_socket_directories = '{pg}'\n"
            f"max_connections = {max_connections}\nfsync = off\n")
    hba = f"host all harness {SUBNET}.0/24 scram-sha-256\n"  # the recipe's line, our subnet
    script = (f"cat >> {data}/postgresql.conf <<'EOF'\n{conf}EOF\n"
              f"cat >> {data}/pg_hba.conf <<'EOF'\n{hba}EOF\n")
    as_postgres(cluster, "bash", "-c", script)
    as_postgres(cluster, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(pg / "server.log"),
                "-w", "-t", "60", "start", cpus=cpus)
    for sql in (f"CREATE USER harness WITH PASSWORD '{PASSWORD}';",
                "CREATE DATABASE optuna OWNER harness;", "CREATE DATABASE mlflow OWNER harness;"):
        psql(cluster, sql)


def psql(cluster: Cluster, sql: str, db: str = "postgres") -> str:
    """One statement as the `postgres` superuser over the tracker's socket; unaligned rows."""
    bindir = PG_BIN[-1].parent
    return as_postgres(cluster, str(bindir / "psql"), "-h", str(pg_dir(cluster)), "-p",
                       str(PG_PORT), "-d", db, "-XAtqc", sql, timeout=30)


def rows(cluster: Cluster, sql: str, db: str) -> list[list[str]]:
    """A query's rows as lists of text fields (unit and record separators between them, so
    any text, newlines included, comes back whole; NULL is "")."""
    bindir = PG_BIN[-1].parent
    out = as_postgres(cluster, str(bindir / "psql"), "-h", str(pg_dir(cluster)), "-p",
                      str(PG_PORT), "-d", db, "-XAtq", "-F", "\x1f", "-R", "\x1e", "-c", sql,
                      timeout=60)
    return [r.split("\x1f") for r in out.rstrip("\n").split("\x1e") if r]


def connections(cluster: Cluster) -> dict[str, int]:
    """Client connections to PostgreSQL per database (the workers' and the server's)."""
    rows = psql(cluster, "SELECT datname, count(*) FROM pg_stat_activity "
                         "WHERE backend_type = 'client backend' GROUP BY datname")
    return {d: int(n) for d, n in (r.split("|") for r in rows.split())}


class MlflowServer:
    """Step 2 of the recipe: `mlflow server` on PostgreSQL, serving the artifacts itself."""

    def __init__(self, cluster: Cluster, workers: int = 4, cpus: str | None = None) -> None:
        self.cluster, self.workers, self.cpus = cluster, workers, cpus
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        home = self.cluster.tracker.home
        return [sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", f"postgresql+psycopg2://harness:{PASSWORD}@localhost/mlflow",
                "--artifacts-destination", str(home / "artifacts"),
                "--host", "0.0.0.0", "--port", str(MLFLOW_PORT), "--workers", str(self.workers),
                "--allowed-hosts", f"{TRACKER},{TRACKER}:{MLFLOW_PORT},localhost,"
                                   f"localhost:{MLFLOW_PORT}"]

    def start(self, timeout: float = 600) -> None:
        t = self.cluster.tracker
        self.proc = t.popen(self.command(), log=t.log("mlflow"), cpus=self.cpus)
        url = f"http://localhost:{MLFLOW_PORT}/health"

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {t.log('mlflow').read_text()[-3000:]}")
            return subprocess.run(t.command([sys.executable, "-c", READY_PY, url]),
                                  env=t.env(), capture_output=True, timeout=30).returncode == 0
        wait_until("the MLflow server", ready, timeout, step=1)

    def pids(self) -> list[int]:
        """Host PIDs of the server's processes (the CLI, uvicorn and its workers)."""
        if self.proc is None:
            return []
        pgid, found = self.proc.pid, []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rpartition(")")[2].split()[2]) == pgid:
                    found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL after 20 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            wait_until("the MLflow server to stop", lambda: not self.pids(), 20)
        except RuntimeError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def fill_artifacts(cluster: Cluster) -> str:
    """Fill the artifact tmpfs to its last byte; `df` of it after."""
    art = cluster.tracker.home / "artifacts"
    cluster.tracker.run(["bash", "-c", f"dd if=/dev/zero of={art}/.filler bs=64k "
                         "2>/dev/null || true"])  # ends with ENOSPC
    return cluster.tracker.run(["df", "-h", str(art)]).splitlines()[-1]


def free_artifacts(cluster: Cluster) -> None:
    cluster.tracker.run(["rm", "-f", str(cluster.tracker.home / "artifacts" / ".filler")])
