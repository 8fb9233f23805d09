"""Checks made once, before any trial exists: a setting wrong for every trial fails here.

    check_sweep(plan)                  # device, data, stores, [export]'s packages; one line
    writable_dir(Path("reports/x"), "--out")      # an output folder, made or refused

Without them a wrong `--device`, a missing `[data] root`, a broken clip or a mistyped
store URL creates the trials and fails every one (or retries a server for minutes). What
cannot be known before a trial runs (out of memory, a diverged loss) is the sweep's
concern (harness/faults.py stops a sweep whose first trials all fail alike).
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.tracking.store_check import check_optuna_storage

# sqlalchemy dialects Optuna's RDBStorage takes ("+driver" allowed after them)
RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")
# what MLflow's tracking client takes
TRACKING_SCHEMES = (*RDB_SCHEMES, "file", "http", "https", "databricks")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433,
                 "oracle": 1521, "http": 80, "https": 443}
CONNECT_TIMEOUT_S = 5.0  # one try: MLflow's HTTP client otherwise retries for ~4 minutes


def check_sweep(plan: Any) -> None:
    """Device, data, stores and heartbeat settings of a SweepPlan; the data set is prepared
    (decoded) here. A dry run (`plan.dry_run`) uses neither device nor data."""
    from harness.sweep.heartbeat import grace

    grace()  # $HARNESS_HEARTBEAT_S / $HARNESS_HEARTBEAT_GRACE_S, checked before any trial
    check_storage(plan.storage)
    check_tracking_uri(plan.tracking_uri)
    if plan.dry_run is None:
        check_device(plan.experiment.device)
        check_data(plan.experiment)
        if plan.experiment.export is not None:  # [export]: onnx, onnxscript, onnxruntime
            from harness.export.runtime import require_onnx

            require_onnx()


def check_device(name: str) -> None:
    from harness.training.device import resolve_device

    try:
        resolve_device(name)
    except HarnessError as exc:
        raise HarnessError(f"{exc} (--device, or device in the experiment file)") from None


def check_data(exp: Any) -> None:
    """Every data set the experiment names exists, lists and decodes (once, cached)."""
    import itertools

    from harness.data import cache_dataset
    from harness.data.spec import PREFIX, DataSpec

    keys = [PREFIX + k for k in ("dataset", "root")]  # what decides the folder decoded
    choices = [exp.space.get(k) if isinstance(exp.space.get(k), tuple) else (exp.fixed.get(k),)
               for k in keys]
    for combo in itertools.product(*choices):
        spec = DataSpec.from_params({**exp.fixed, **dict(zip(keys, combo, strict=True))})
        cache_dataset(spec.dataset, spec.root)


def check_storage(storage: str) -> None:
    """An Optuna storage: a journal file path or an RDB URL."""
    flag = "--storage"
    if "://" not in storage:
        writable_file(Path(storage), flag, "the Optuna journal")
        return
    scheme = _scheme(storage, RDB_SCHEMES, flag, "a journal file path, sqlite:///runs/x.db "
                                                 "or postgresql://user@host/db")
    if scheme == "sqlite":
        _sqlite(storage, flag)
        check_optuna_storage(storage)  # junk, cut off, another program's: one line
    else:
        _reach(storage, scheme, flag)


def check_tracking_uri(uri: str) -> None:
    """An MLflow tracking URI: sqlite:///..., file:..., an RDB URL or an http(s) server."""
    flag = "--tracking-uri (or $MLFLOW_TRACKING_URI)"
    if "://" not in uri and not uri.startswith("file:"):
        writable_dir(Path(uri), flag)  # a plain path: MLflow's file store
        return
    scheme = _scheme(uri, TRACKING_SCHEMES, flag, "sqlite:///runs/mlflow.db or "
                                                  "http://host:5000")
    if scheme == "sqlite":
        _sqlite(uri, flag)
    elif scheme == "file":
        writable_dir(Path(urllib.parse.urlsplit(uri).path), flag)
    elif scheme != "databricks":
        _reach(uri, scheme, flag)


def writable_dir(path: Path, flag: str, what: str = "folder") -> Path:
    """`path`, made if missing; HarnessError when it cannot be made or written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"{flag}: cannot make the {what} {path} ({exc.strerror}); "
                           "give a writable location") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise HarnessError(f"{flag}: the {what} {path} is not writable; give a writable "
                           "location") from None
    return path


def writable_target(path: Path, flag: str, what: str) -> Path:
    """A file `path` may be written later (its folder made now, nothing written): checked
    before an hour of training rather than after it."""
    writable_dir(path.parent, flag, f"folder of {what}")
    if path.is_dir() or (path.exists() and not os.access(path, os.W_OK)):
        raise HarnessError(f"{flag}: cannot write {what} {path} (a folder, or read-only); "
                           "give a writable file path")
    return path


def writable_file(path: Path, flag: str, what: str) -> None:
    """`path` can be written later, checked without writing anything: an existing file must
    be writable, a new one's nearest existing folder writable (the folders between can then
    be made). A sweep refused later (its data, say) leaves no file or folder behind."""
    if path.exists():
        if path.is_dir() or not os.access(path, os.W_OK):
            raise HarnessError(f"{flag}: cannot write {what} {path} (a folder, or read-only); "
                               "give a writable file path")
        return
    folder = next(p for p in path.absolute().parents if p.exists())
    if not folder.is_dir():
        raise HarnessError(f"{flag}: cannot make the folder of {what} {path.parent} ({folder} "
                           "is a file); give a writable location")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HarnessError(f"{flag}: cannot make {what} {path}: {folder} is not writable; "
                           "give a writable location")


def _scheme(url: str, known: tuple[str, ...], flag: str, example: str) -> str:
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if scheme not in known:
        raise HarnessError(f"{flag} {without_password(url)}: unknown scheme {scheme!r}; "
                           f"use {example}")
    return scheme


def _sqlite(url: str, flag: str) -> None:
    if url.rstrip("/").endswith(":memory:") or url in ("sqlite://", "sqlite:///"):
        return
    writable_file(Path(url.partition(":///")[2]), flag, "the SQLite database")


def _reach(url: str, scheme: str, flag: str) -> None:
    """One TCP connection to the server, CONNECT_TIMEOUT_S at most."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname
    if not host:
        raise HarnessError(f"{flag} {without_password(url)}: no host in the URL")
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raise HarnessError(f"{flag} {without_password(url)}: the port is not a number") from None
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise HarnessError(f"{flag} {without_password(url)}: cannot reach {host}:{port} "
                           f"({why}); start the server or fix the address") from None


def without_password(url: str) -> str:
    """The URL without its password."""
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url
