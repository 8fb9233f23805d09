"""A machine switched off mid-trial, on a tracker and two worker machines made of namespaces.

The small version of scripts/cluster_check.sh (docs/scaling.md): a tracker namespace with
PostgreSQL and `mlflow server` set up as README.md's recipe says, two worker machines
(each its own network, UTS, PID and mount namespaces, reaching the tracker by name), the
README's worker command on both, and every process of w1 SIGKILLed while it trains. w2
must find w1's trial silent past the heartbeat grace, fail it and run it again: every
grid point COMPLETE once in Optuna, one FINISHED MLflow run each, nothing left RUNNING.

It skips, saying why, where namespaces cannot be made: not root, no `ip`/`unshare`/
`nsenter`, a container without CAP_SYS_ADMIN, or no PostgreSQL server binaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from cluster_faults import finish, judge, kill, sweep, write_experiment  # noqa: E402
from cluster_machines import PG_BIN, Cluster  # noqa: E402
from cluster_tracker import MlflowServer, start_postgres  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.cluster]
# Seconds, not the defaults' minutes: w2 notices w1's silence 6 s after its last beat.
KNOBS = {"HARNESS_HEARTBEAT_S": "1", "HARNESS_HEARTBEAT_GRACE_S": "6"}


def why_no_cluster() -> str | None:
    """Why machines cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces, veth links and mounts"
    for tool in ("ip", "unshare", "nsenter", "runuser"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found"
    if not PG_BIN:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    name = f"hc-probe-{os.getpid()}"
    for cmd in (["ip", "netns", "add", name],
                ["unshare", "--uts", "--pid", "--mount", "--fork", "--mount-proc", "true"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        if out.returncode:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            return f"`{' '.join(cmd[:3])}` fails here: {out.stderr.strip()[:200]}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return None


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    why = why_no_cluster()
    if why:
        pytest.skip(why)
    base = Path(tempfile.mkdtemp(prefix="harness-cluster-"))  # the postgres user walks in
    base.chmod(0o755)
    try:
        with Cluster(base / "c", workers=2, lifetime_s=600) as c:
            yield c
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_machine_switched_off_mid_trial_costs_nothing(cluster: Cluster) -> None:
    start_postgres(cluster)
    MlflowServer(cluster, workers=1).start()
    write_experiment(cluster, "ci", epochs=3, seeds="[0]")  # 3 trials
    procs = [sweep(w, "ci", "ci", knobs=KNOBS) for w in cluster.workers]

    def logs() -> str:
        return "\n".join(f"--- {w.name}\n{w.log('ci').read_text()[-2000:]}"
                         for w in cluster.workers)
    try:
        what, _ = kill(cluster, "ci", procs, KNOBS)
    except RuntimeError as exc:
        pytest.fail(f"{exc}\n{logs()}")
    codes = finish(procs, timeout=300)
    verdict = judge(cluster, "ci")
    assert codes[1] == 0, logs()  # w2 ends by itself, its work and w1's done
    assert (verdict["lost"], verdict["doubled"], verdict["running"]) == (0, 0, []), (
        what, verdict, logs())
    assert verdict["failed"] == 1 and "w2" in verdict["hosts"], verdict  # w1's attempt
    assert verdict["runs"] == {"FINISHED": 3, "FAILED": 1}, verdict
