"""Entry points. `nox` runs the tests; `nox -s sweep` is the main job.

    nox -s tests                  # the test suite (default)
    nox -s sweep [-- EXP opts]    # Optuna study of experiments/quick.toml (or EXP)
    nox -s report [-- EXP]        # rebuild reports/<EXP>/ from MLflow
    nox -s ui                     # MLflow UI over runs/
    nox -s bench                  # pytest-benchmark throughput checks
    nox -s lint                   # ruff
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

PYTHON = "3.11"


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit and integration tests (benchmarks excluded)."""
    _install(session)
    session.run("pytest", "--ignore=tests/benchmarks", *session.posargs)


@nox.session(python=PYTHON, default=False)
def lint(session: nox.Session) -> None:
    """ruff check over the whole project."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(python=PYTHON, default=False)
def sweep(session: nox.Session) -> None:
    """Run (or resume) a study: `nox -s sweep -- experiments/tune.toml --workers 2`."""
    _install(session)
    args = session.posargs or ["experiments/quick.toml"]
    session.run("python", "-m", "harness", "sweep", *args)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Rebuild reports/<experiment>/ from the MLflow store: `nox -s report -- quick`."""
    _install(session)
    args = session.posargs or ["quick"]
    session.run("python", "-m", "harness", "report", *args)


@nox.session(python=PYTHON, default=False)
def ui(session: nox.Session) -> None:
    """MLflow UI over runs/mlflow.db on http://127.0.0.1:5000."""
    _install(session)
    session.run("python", "-m", "harness", "ui", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Throughput benchmarks; compares with the last saved run when one exists."""
    _install(session)
    args = ["pytest", "tests/benchmarks", "--benchmark-enable", "--benchmark-autosave",
            "--benchmark-columns=median,iqr,ops,rounds"]
    if any(Path(".benchmarks").glob("*/*.json")):
        args += ["--benchmark-compare", "--benchmark-compare-fail=median:15%"]
    session.run(*args, *session.posargs)
