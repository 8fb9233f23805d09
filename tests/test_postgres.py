"""Two workers on one study in a real PostgreSQL server, as on several machines.

The test starts its own server (initdb + pg_ctl in a temp folder, on a free port,
stopped afterwards). PostgreSQL refuses to run as root, so as root the server runs as
the `postgres` user that Debian's package creates. It skips only when the server
binaries are absent (`apt-get install postgresql`; .ci/run installs them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import pytest
from test_sweep import complete_params, new_tracking_uri, runs, tiny_experiment
from test_sweep_processes import env, sweep_command, wait_for

from harness.cli import main
from harness.sweep.stores import rdb_storage

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    return new_tracking_uri(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway server; yields an Optuna storage URL of its `postgres` database."""
    if not BINARIES:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    bindir = Path(BINARIES[-1]).parent
    as_root = os.geteuid() == 0
    if as_root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser to drop to the postgres user")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
    base = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    base.chmod(0o777)
    data, port = base / "data", free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), "-w",
        "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_a_postgres_study(tmp_path: Path, tracking_uri: str,
                                           postgres_url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Two independent sweeps, as two machines would run them: another process, and this
    # one, started once the other has claimed a trial so that both surely take part.
    exp = tiny_experiment(tmp_path, epochs=2,
                          space='frontend = ["magnitude", "complex", "log_power"]')
    other = subprocess.Popen(sweep_command(exp, tracking_uri, "--storage", postgres_url),
                             cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)

    def other_has_a_trial() -> bool:
        try:
            trials = optuna.load_study(study_name="tiny", storage=postgres_url).trials
        except KeyError:
            return False
        return any("harness.worker" in t.system_attrs for t in trials)

    monkeypatch.chdir(tmp_path)
    try:
        wait_for(other_has_a_trial, 600, other)
        assert main(["sweep", str(exp), "--tracking-uri", tracking_uri,
                     "--storage", postgres_url]) == 0
    finally:
        stderr = other.communicate(timeout=900)[1].decode()
    assert other.returncode == 0, stderr

    study = optuna.load_study(study_name="tiny", storage=postgres_url)
    params = complete_params(study)
    assert len(params) == 6 and len(set(params)) == 6  # 3 front-ends x 2 seeds, once each
    workers = {t.system_attrs["harness.worker"]["pid"] for t in study.trials
               if t.state.name == "COMPLETE"}
    assert workers == {os.getpid(), other.pid}
    parents, children = runs(tracking_uri)
    assert len(parents) == 1
    assert sorted(r.data.tags["state"] for r in children) == ["COMPLETE"] * 6


def test_workers_starting_at_once_on_a_fresh_database_all_open_it(postgres_url: str) -> None:
    """Optuna creates its tables on first use; two machines started at the same moment on a
    fresh database both create them, and the loser died with an IntegrityError traceback
    (the cluster check, scripts/cluster_check.sh, lost a worker so in 2 runs of 3)."""
    start = threading.Barrier(4)

    def open_it(_: int) -> int:
        start.wait()
        return len(rdb_storage(postgres_url).get_all_studies())

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_it, range(4))) == [0] * 4


def test_a_refused_connection_is_one_line(tmp_path: Path, tracking_uri: str, postgres_url: str,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The port answers but the server says no (a wrong user, password or database): before,
    Optuna's RDBStorage raised sqlalchemy's OperationalError, a 60-line traceback."""
    exp = tiny_experiment(tmp_path, epochs=1)
    port = postgres_url.rpartition(":")[2].partition("/")[0]
    refused = f"postgresql+psycopg2://nobody:hunter2@127.0.0.1:{port}/nosuchdb"
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(exp), "--tracking-uri", tracking_uri, "--storage", refused]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert 'role "nobody" does not exist' in err and "hunter2" not in err, err
    assert err.startswith("error: --storage postgresql+psycopg2://nobody:***@127.0.0.1"), err
