"""A full disk as one line: what was being written, where, the room free and the room needed.

    check_room(folder, need, what, fix)          # HarnessError at once if `need` bytes are not free
    with full_disk(what, folder, fix, need):     # a full disk inside -> HarnessError, one line
        write_everything()
    is_full(exc)                                 # ENOSPC / EDQUOT / SQLITE_FULL, or raised from one

The callers clean up what they half wrote before the error leaves them (a staging folder
removed, a temp file unlinked), so `full_disk` measures the free space after that cleanup:
the figure the user needs to free space against.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})  # no space left; over the quota


def is_full(exc: BaseException | None) -> bool:
    """Whether `exc` or an exception it was raised from (`raise ... from`, or during the
    handling of) says the disk is full: an OSError ENOSPC or EDQUOT, or SQLite's SQLITE_FULL
    ("database or disk is full", which SQLAlchemy and MLflow wrap)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _existing(path: Path) -> Path:
    """`path`, or the nearest folder above it that exists."""
    return next((p for p in (path, *path.absolute().parents) if p.exists()), Path("/"))


def free_bytes(path: Path) -> int | None:
    """Bytes free to this user on the file system that holds `path` (or the nearest folder
    above it that exists); None where that cannot be asked."""
    try:
        return shutil.disk_usage(_existing(path)).free
    except OSError:
        return None


def out_of_inodes(path: Path) -> bool:
    """Whether the file system holding `path` has no file entries left for this user
    (creating a file then fails with ENOSPC although bytes are free)."""
    try:
        st = os.statvfs(_existing(path))
    except OSError:
        return False
    return st.f_files > 0 and st.f_favail == 0


def size(n: float) -> str:
    """Bytes in the unit a person reads: 512 B, 3.9 MB, 1.2 GB (powers of 1000, as df -H)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def full_message(what: str, where: Path, fix: str, need: int | None = None,
                 inodes: bool | None = None) -> str:
    """The one line: "no space left for WHAT in WHERE (F free, about N needed): FIX".
    `inodes`: whether the file entries ran out, as seen before a cleanup freed them
    (None: look now)."""
    free = free_bytes(where)
    room = [f"{size(free)} free"] if free is not None else []
    if out_of_inodes(where) if inodes is None else inodes:
        room = ["no file entries (inodes) left"]
    elif need is not None:
        room.append(f"about {size(need)} needed")
    shown = f" ({', '.join(room)})" if room else ""
    return f"no space left for {what} in {where}{shown}: {fix}"


def check_room(where: Path, need: int, what: str, fix: str) -> None:
    """HarnessError (full_message) now, before any writing, if fewer than `need` bytes are
    free at `where`; nothing when there is room or the free space cannot be read."""
    free = free_bytes(where)
    if free is not None and free < need:
        raise HarnessError(full_message(what, where, fix, need))


@contextmanager
def full_disk(what: str, where: Path, fix: str, need: int | None = None) -> Iterator[None]:
    """A full disk inside the block becomes HarnessError(full_message); other errors pass."""
    try:
        yield
    except Exception as exc:
        if not is_full(exc):
            raise
        raise HarnessError(full_message(what, where, fix, need)) from None
