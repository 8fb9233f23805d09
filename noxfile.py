"""Entry points. `nox` runs the tests; `nox -s sweep` is the main job.

    nox -s tests                  # the test suite (default)
    nox -s sweep [-- EXP opts]    # Optuna study of experiments/quick.toml (or EXP)
    nox -s report [-- EXP]        # rebuild reports/<EXP>/ from MLflow
    nox -s ui                     # MLflow UI over runs/
    nox -s bench                  # pytest-benchmark throughput checks
    nox -s calibrate              # the verdict rules' error rates and power, simulated
    nox -s lint                   # ruff and the import contract (lint-imports)
    nox -s cluster                # root: README's multi-machine recipe on namespaces, faults, scale
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

SUPPORTED = ("3.11", "3.12", "3.13")  # pyproject's requires-python; uv.lock covers all three


def _runs(version: str) -> bool:
    """True when `python<version>` exists and starts (a pyenv shim of a version that is not
    selected exists but fails)."""
    exe = shutil.which(f"python{version}")
    return exe is not None and subprocess.run(
        [exe, "-c", "pass"], capture_output=True, check=False).returncode == 0


# The first supported interpreter this machine has; `nox -s tests -P 3.13` picks another.
PYTHON = next((v for v in SUPPORTED if _runs(v)), SUPPORTED[0])


def _install(session: nox.Session, *extras: str, only_group: str | None = None,
             compiled: bool = False) -> None:
    """Install exactly uv.lock's versions (plus the project, editable) into the session's venv;
    with `only_group`, that dependency group's packages alone.

    `--locked` refuses a lock that no longer matches pyproject.toml instead of re-resolving,
    so a session never runs on versions the suite has not passed with. `compiled`: also
    `--compile-bytecode`, for the sessions that start many Python processes. Where Python
    cannot write `.pyc` files (PYTHONDONTWRITEBYTECODE set, or the read-only environment of
    the cluster check's machines) every process compiled torch's and MLflow's sources again,
    4 s more per process; the suite took 513 s, not 289 s (docs/benchmarks.md). It costs
    about 35 s (58 s of CPU) once, at the environment's creation: more than 4 to 8 s a
    process saves in a session of one to three (report, ui, sweep), which are not compiled.
    """
    venv = session.virtualenv.location
    args = ["uv", "sync", "--locked", "--no-progress", f"--python={venv}"]
    args += ["--compile-bytecode"] if compiled else []
    args += [f"--only-group={only_group}"] if only_group else []
    for extra in extras:
        args += ["--extra", extra]
    session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": venv}, external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (benchmarks excluded)."""
    _install(session, "dev", compiled=True)
    # One test process per core; worksteal evens out the few long process tests.
    session.run("pytest", "--ignore=tests/benchmarks", "-n", "auto", "--dist", "worksteal",
                *session.posargs)


@nox.session(python=PYTHON, default=False)
def lint(session: nox.Session) -> None:
    """ruff over the whole project, then the import contract (pyproject's [tool.importlinter]:
    the stages import only downward, no import cycles)."""
    _install(session, only_group="lint")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON, default=False)
def sweep(session: nox.Session) -> None:
    """Run (or resume) a study: `nox -s sweep -- experiments/tune.toml --workers 2`."""
    _install(session, "export")  # an [export] study (experiments/export.toml) needs onnxruntime
    args = session.posargs or ["experiments/quick.toml"]
    session.run("python", "-m", "harness", "sweep", *args)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Rebuild reports/<experiment>/ from the MLflow store: `nox -s report -- quick`."""
    _install(session)
    args = session.posargs or ["quick"]
    session.run("python", "-m", "harness", "report", *args)


@nox.session(python=PYTHON, default=False)
def calibrate(session: nox.Session) -> None:
    """Synthetic studies through the real verdict code: false difference and equivalence
    rates per family, and the power `harness plan` promises (docs/statistics.md); minutes.
    `nox -s calibrate -- --studies 500` for a quicker, noisier table."""
    _install(session)
    session.run("python", "-m", "harness.report.calibration", *session.posargs)


@nox.session(python=PYTHON, default=False)
def ui(session: nox.Session) -> None:
    """MLflow UI over runs/mlflow.db on http://127.0.0.1:5000."""
    _install(session)
    session.run("python", "-m", "harness", "ui", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Throughput benchmarks; compares with the last saved run when one exists."""
    _install(session, "dev")
    args = ["pytest", "tests/benchmarks", "--benchmark-enable", "--benchmark-autosave",
            "--benchmark-columns=median,iqr,ops,rounds"]
    if any(Path(".benchmarks").glob("*/*.json")):
        args += ["--benchmark-compare", "--benchmark-compare-fail=median:15%"]
    session.run(*args, *session.posargs)


@nox.session(python=PYTHON, default=False)
def cluster(session: nox.Session) -> None:
    """The multi-machine check (root, PostgreSQL): machines made of namespaces, the fault
    table and the scale table (scripts/cluster_check.sh, docs/scaling.md)."""
    _install(session, "dev", compiled=True)  # dev: the tiny data set's writer (tests/conftest.py)
    python = str(Path(session.virtualenv.location, "bin", "python"))
    session.run("bash", "scripts/cluster_check.sh", *session.posargs,
                env={"PYTHON": python}, external=True)
