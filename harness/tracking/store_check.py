"""Is a store's SQLite file one? One line naming the file and the fix, before MLflow or
Optuna open it.

    check_mlflow_store("sqlite:///runs/mlflow.db")      # HarnessError, or nothing
    check_optuna_storage("sqlite:///runs/optuna.db")    # the same for an Optuna RDB storage
    sqlite_problem(Path("runs/mlflow.db"))              # why it is not a sound SQLite file

Opened as they are, a file of junk or a truncated copy end in SQLAlchemy's traceback
(`file is not a database`); an SQLite file of another program gets the store's tables added
to it, changing a file that is not the store's. Here the file is only read: its 100-byte
header (the magic string, the page size and count: a copy shorter than the pages it
declares was cut off), then its table names, through a read-only connection. The file is
never changed: the fix is the user's (move it aside, or point the flag elsewhere).
An absent or empty file, or one with no tables, is a new store: fine.
Stores on servers (http://, postgresql://) are not looked at here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from harness.errors import HarnessError

T = TypeVar("T")
MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file
HEADER = 100  # bytes
BROKEN = {sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT}  # what a damaged file answers
# tables that say whose a database is: its own, or the other store's (for the hint)
MLFLOW_TABLES = frozenset({"experiments", "runs"})
OPTUNA_TABLES = frozenset({"studies", "trials"})


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (`sqlite:///rel/x.db`, `sqlite:////abs/x.db`); None for any
    other URL and for SQLite in memory."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").partition("?")[0]
    return Path(path) if path and path != ":memory:" else None


def sqlite_problem(path: Path) -> str | None:
    """Why the file at `path` is not a sound SQLite database ("not an SQLite database",
    "truncated: ...", SQLite's own word), or None (also when absent, empty, or locked by a
    writer for longer than the wait)."""
    header, size = _head(path)
    if not size:
        return None  # absent, unreadable (the store's own open says so), or empty: new
    if not header.startswith(MAGIC):
        return "not an SQLite database (junk, or a file of another kind)"
    if len(header) < HEADER:
        return f"truncated: {size} bytes, not even SQLite's {HEADER}-byte header"
    cut = _truncated(header, size)
    try:
        # the header again, read while SQLite's shared lock keeps writers out: a commit
        # under way may have written a page count before it extended the file
        _, (header, size) = _read(path, lambda: _head(path))
    except sqlite3.DatabaseError as exc:
        return (cut or f"damaged (SQLite: {exc})") if _code(exc) in BROKEN else None
    return _truncated(header, size)


def _truncated(header: bytes, size: int) -> str | None:
    """"truncated: ..." when the file is shorter than the pages its header declares."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # the page count is valid when the "version-valid-for" number matches the change counter
    if header[24:28] == header[92:96] and size < pages * page_size:
        return f"truncated: {size:,} of the {pages * page_size:,} bytes it declares"
    return None


def _head(path: Path) -> tuple[bytes, int]:
    """The first HEADER bytes of `path` and its size; (b"", 0) when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(HEADER), os.fstat(f.fileno()).st_size
    except OSError:
        return b"", 0


def _read(path: Path, also: Callable[[], T]) -> tuple[set[str], T]:
    """The database's table names, and `also()`, both under one shared lock (a read
    transaction of a read-only connection: no writer commits meanwhile)."""
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30,
                         isolation_level=None)
    try:
        db.execute("BEGIN")
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        return tables, also()
    finally:
        db.close()  # ends the transaction: the lock is released


def _code(exc: sqlite3.Error) -> int | None:
    return getattr(exc, "sqlite_errorcode", None)


def _foreign(path: Path, own: frozenset[str]) -> str | None:
    """Why `path` is a database of another kind (tables, but not `own`), or None."""
    try:
        tables, _ = _read(path, lambda: None)
    except sqlite3.Error:  # locked by a writer, say: not a sign of a broken file
        return None
    if not tables or own <= tables:
        return None
    whose = ("an MLflow store's" if tables >= MLFLOW_TABLES
             else "an Optuna storage's" if tables >= OPTUNA_TABLES else "another program's")
    shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
    return f"an SQLite database with {whose} tables ({shown})"


def check_mlflow_store(uri: str) -> None:
    """HarnessError naming the SQLite file of MLflow store `uri` and the fix when it is not
    a sound MLflow store; nothing for a sound one, a new one, or a server."""
    _check(uri, MLFLOW_TABLES, "MLflow store",
           "to start a new store there, or pass --tracking-uri to another store")


def check_optuna_storage(url: str) -> None:
    """HarnessError naming the SQLite file of Optuna storage `url` and the fix when it is not
    a sound Optuna storage; nothing for a sound one, a new one, a journal or a server."""
    _check(url, OPTUNA_TABLES, "Optuna storage",
           "and run again (the study's finished trials come back from MLflow), or pass "
           "--storage to another storage")


def _check(url: str, own: frozenset[str], kind: str, fix: str) -> None:
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return
    why = sqlite_problem(path) or _foreign(path, own)
    if why:
        raise HarnessError(f"{path} is not a usable {kind}: {why}. It is left as it is: "
                           f"move it aside (mv {path} {path}.broken) {fix}")
