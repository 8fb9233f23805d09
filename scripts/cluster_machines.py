"""Machines on one host: a "tracker" and N "workers", each its own namespaces.

    with Cluster(Path("/tmp/c"), workers=2) as c:      # built; torn down on exit
        c.start_tracker()                               # PostgreSQL + `mlflow server`
        p = c.workers[0].popen(["python", "-m", "harness", ...], log=c.workers[0].log("a"))
        c.workers[0].power_off()                        # SIGKILL every process it has
        c.link(c.workers[1], up=False)                  # unplug its cable
    python scripts/cluster_machines.py cleanup /tmp/c   # what a killed driver left

A machine is a network namespace (`ip netns`) plus its own UTS, PID and mount namespaces
(`unshare --uts --pid --mount --fork --mount-proc`): its own hostname, its own PIDs (a
killed worker's PID means nothing to the others, so they must wait out the heartbeat
grace as on real machines), and its own files. Its folder (`BASE/machines/NAME`) is
bind-mounted at the same path on every machine (`BASE/machine`) and the others' folders
are hidden under a tmpfs, so a store left on local disk by mistake stays on that machine.
`/etc/hosts` is the machine's own (the tracker by name), the Python environment and the
checkout are shared read-only, and there is no default route: the only link is a veth to
a bridge in the tracker's network namespace, on SUBNET.0/24. The tracker's PostgreSQL data
and MLflow artifacts are tmpfs mounts inside its mount namespace (the artifact one small,
to be filled). Each machine's init stops by itself after `lifetime_s`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SUBNET = "10.213.0"  # /24; the only addresses any machine can reach
TRACKER = "tracker"
PG_PORT, MLFLOW_PORT = 5432, 5000
PASSWORD = "secret"  # the README's
OPTUNA_URL = f"postgresql+psycopg2://harness:{PASSWORD}@{TRACKER}:{PG_PORT}/optuna"
MLFLOW_URL = f"http://{TRACKER}:{MLFLOW_PORT}"
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
REPO = Path(__file__).resolve().parent.parent

BOOT = r"""set -e
hostname "$NAME"
mount --bind "$BASE/machines/$NAME" "$BASE/machine"
mount -t tmpfs -o size=1m,mode=0755 hidden "$BASE/machines"
mount --bind "$BASE/machine/hosts" /etc/hosts
for p in $READONLY; do mount --bind "$p" "$p"; mount -o remount,bind,ro "$p"; done
if [ -n "$PG_SIZE" ]; then
  mount -t tmpfs -o "size=$PG_SIZE,mode=0755" pgdata "$BASE/machine/pg"
  chown postgres: "$BASE/machine/pg"
  mount -t tmpfs -o "size=$ARTIFACTS_SIZE,mode=0755" artifacts "$BASE/machine/artifacts"
fi
touch "$BASE/machine/.up"
end=$((SECONDS + LIFETIME))
while [ "$SECONDS" -lt "$end" ]; do sleep 1; done   # PID 1: reaps orphans, ends the machine
"""


def sh(*cmd: str, check: bool = True, timeout: float = 30) -> str:
    """Run a host command; its stdout."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and out.returncode:
        raise RuntimeError(f"{shlex.join(cmd)}: {out.stderr.strip() or out.returncode}")
    return out.stdout


def wait_until(what: str, ok: Callable[[], bool], timeout: float, step: float = 0.2) -> None:
    """Poll `ok` until true; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)


class Machine:
    """One machine: its network namespace, its init process, its folder."""

    def __init__(self, cluster: Cluster, name: str, ip: str) -> None:
        self.cluster, self.name, self.ip = cluster, name, ip
        self.netns = f"{cluster.prefix}{name}"
        self.folder = cluster.base / "machines" / name  # host path; BASE/machine inside
        self.init = 0  # host PID of its PID namespace's init

    @property
    def home(self) -> Path:
        """Its folder as the machine sees it."""
        return self.cluster.base / "machine"

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def boot(self, lifetime_s: int, pg_size: str = "", artifacts_size: str = "") -> None:
        for sub in ("logs", "tmp", "data", "pg", "artifacts"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "hosts").write_text(
            f"127.0.0.1 localhost\n{self.ip} {self.name}\n{SUBNET}.1 {TRACKER}\n")
        env = {"PATH": os.environ["PATH"], "NAME": self.name, "BASE": str(self.cluster.base),
               "READONLY": " ".join(map(str, self.cluster.readonly)), "PG_SIZE": pg_size,
               "ARTIFACTS_SIZE": artifacts_size, "LIFETIME": str(lifetime_s)}
        with open(self.log("boot"), "w") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--pid", "--mount",
                 "--fork", "--mount-proc", "--propagation", "private", "bash", "-c", BOOT],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        wait_until(f"{self.name} to boot ({self.log('boot')})",
                   lambda: (self.folder / ".up").exists() or proc.poll() is not None, 20)
        if proc.poll() is not None:
            raise RuntimeError(f"{self.name} did not boot: {self.log('boot').read_text()}")
        self.init = int(children.read_text().split()[0])

    def command(self, cmd: list[str], cpus: str | None = None) -> list[str]:
        """`cmd` as run inside this machine (in its folder), from the host."""
        pin = ["taskset", "-c", cpus] if cpus else []
        # `env -C`, not nsenter's --wd: that one resolves the folder before entering the
        # mount namespace, and lands in the empty host directory under the bind mount
        return [*pin, "nsenter", "-t", str(self.init), "-n", "-u", "-m", "-p", "--",
                "env", "-C", str(self.home), *cmd]

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment for this machine's commands: its own HOME, TMPDIR and data."""
        venv_bin = str(Path(sys.executable).parent)
        return {"PATH": f"{venv_bin}:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "HOME": str(self.home), "TMPDIR": str(self.home / "tmp"),
                "HARNESS_DATA_DIR": str(self.home / "data"), "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1", "MPLCONFIGDIR": str(self.home / "tmp"), **extra}

    def popen(self, cmd: list[str], log: Path, cpus: str | None = None,
              **env: str) -> subprocess.Popen[bytes]:
        """Start `cmd` on this machine, its output to `log` (a host path)."""
        with open(log, "ab") as out:  # the child keeps its own descriptor
            return subprocess.Popen(self.command(cmd, cpus), env=self.env(**env),
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, cmd: list[str], timeout: float = 120, cpus: str | None = None,
            **env: str) -> str:
        """Run `cmd` on this machine to its end; its stdout (RuntimeError on failure)."""
        out = subprocess.run(self.command(cmd, cpus), env=self.env(**env), capture_output=True,
                             text=True, timeout=timeout, check=False)
        if out.returncode:
            raise RuntimeError(f"{self.name}: {shlex.join(cmd)} exited {out.returncode}: "
                               f"{out.stderr.strip()[-2000:]}")
        return out.stdout

    def pids(self) -> list[int]:
        """Host PIDs of every process in this machine's network namespace."""
        return [int(p) for p in sh("ip", "netns", "pids", self.netns, check=False).split()]

    def power_off(self) -> int:
        """SIGKILL every process of the machine at once; how many there were."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(f"{self.name} to go down", lambda: not self.pids(), 10)
        self.init = 0
        return len(pids)


class Cluster:
    """The tracker and `workers` worker machines under `base`, removed by `close`."""

    def __init__(self, base: Path, workers: int, *, lifetime_s: int = 1800,
                 pg_size: str = "512m", artifacts_size: str = "64m",
                 readonly: tuple[Path, ...] = ()) -> None:
        if workers > 200:
            raise ValueError("at most 200 workers on one /24")
        self.base = base.resolve()
        self.prefix = f"hc{os.getpid() % 100000}-"
        self.lifetime_s, self.pg_size, self.artifacts_size = lifetime_s, pg_size, artifacts_size
        venv = Path(sys.prefix)
        self.readonly = tuple(dict.fromkeys([venv, REPO, *readonly]))
        self.tracker = Machine(self, TRACKER, f"{SUBNET}.1")
        self.workers = [Machine(self, f"w{i}", f"{SUBNET}.{10 + i}")
                        for i in range(1, workers + 1)]
        self.mlflow: subprocess.Popen[bytes] | None = None

    @property
    def machines(self) -> list[Machine]:
        return [self.tracker, *self.workers]

    def __enter__(self) -> Cluster:
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def build(self) -> None:
        """Namespaces, the bridge and the links, then every machine booted."""
        remove_stale()
        (self.base / "machine").mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)  # the postgres user walks into the tracker's folder
        (self.base / "cluster.json").write_text(json.dumps(
            {"netns": [m.netns for m in self.machines]}))
        t = self.tracker.netns
        sh("ip", "netns", "add", t)
        sh("ip", "-n", t, "link", "set", "lo", "up")
        sh("ip", "-n", t, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", t, "addr", "add", f"{self.tracker.ip}/24", "dev", "br0")
        sh("ip", "-n", t, "link", "set", "br0", "up")
        self.tracker.folder.mkdir(parents=True, exist_ok=True)
        (self.tracker.folder / "logs").mkdir(exist_ok=True)
        self.tracker.boot(self.lifetime_s, self.pg_size, self.artifacts_size)
        for w in self.workers:
            self.add_link(w)
            w.folder.mkdir(parents=True, exist_ok=True)
            (w.folder / "logs").mkdir(exist_ok=True)
            w.boot(self.lifetime_s)

    def add_link(self, w: Machine) -> None:
        """w's namespace with one veth: `eth0` there, its port `w.name` on the bridge."""
        sh("ip", "netns", "add", w.netns)
        sh("ip", "-n", w.netns, "link", "set", "lo", "up")
        sh("ip", "link", "add", w.name, "netns", self.tracker.netns, "type", "veth",
           "peer", "name", "eth0", "netns", w.netns)
        sh("ip", "-n", self.tracker.netns, "link", "set", w.name, "master", "br0", "up")
        sh("ip", "-n", w.netns, "addr", "add", f"{w.ip}/24", "dev", "eth0")
        sh("ip", "-n", w.netns, "link", "set", "eth0", "up")

    @contextlib.contextmanager
    def on_exit(self, fn: Callable[..., None], *args: object) -> Iterator[None]:
        """`fn(*args)` when the block ends, however it ends (before `close`)."""
        try:
            yield
        finally:
            fn(*args)

    def link(self, w: Machine, up: bool) -> None:
        """Plug or unplug w's cable (its port on the tracker's bridge)."""
        sh("ip", "-n", self.tracker.netns, "link", "set", w.name, "up" if up else "down")

    def reboot(self, w: Machine) -> None:
        """Boot a powered-off worker again (same folder, same address)."""
        (w.folder / ".up").unlink(missing_ok=True)
        w.boot(self.lifetime_s)

    def close(self) -> None:
        cleanup(self.base)


def remove_stale() -> list[str]:
    """Delete the empty namespaces an earlier driver left when it was SIGKILLed (no trap
    runs then): `hcPID-*` whose PID is gone. Its machines' inits end by themselves after
    their lifetime; a namespace with a process left in it is kept. What it deleted."""
    removed = []
    for name in sh("ip", "netns", "list", check=False).split():
        prefix, _, _ = name.partition("-")
        if not (prefix.startswith("hc") and prefix[2:].isdigit()):
            continue
        if Path(f"/proc/{prefix[2:]}").exists() or sh("ip", "netns", "pids", name,
                                                       check=False).split():
            continue
        sh("ip", "netns", "del", name, check=False)
        removed.append(name)
    return removed


def cleanup(base: Path) -> list[str]:
    """Remove what a Cluster under `base` built (processes, namespaces, the folder);
    safe to call twice and after the driver was killed. What it removed."""
    state = base / "cluster.json"
    if not state.exists():
        return []
    names = json.loads(state.read_text())["netns"]
    existing = set(sh("ip", "netns", "list", check=False).split())
    for name in names:  # every process first, so no machine outlives its namespace
        if name in existing:
            for pid in sh("ip", "netns", "pids", name, check=False).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    removed = []
    for name in names:
        if name in existing:
            with contextlib.suppress(Exception):
                wait_until(f"{name} empty", lambda n=name: not sh(
                    "ip", "netns", "pids", n, check=False).split(), 10)
            sh("ip", "netns", "del", name, check=False)  # its veths go with it
            removed.append(name)
    shutil.rmtree(base, ignore_errors=True)
    return removed


if __name__ == "__main__":
    if sys.argv[1:2] == ["cleanup"] and len(sys.argv) == 3:
        print("removed:", " ".join(cleanup(Path(sys.argv[2]))) or "nothing")
    else:
        sys.exit("usage: cluster_machines.py cleanup BASE")
