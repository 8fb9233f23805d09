"""Hidden staging folders (`.NAME.tmp-*`) that a killed generation leaves behind.

A data set is written into a hidden sibling folder and renamed into place when done
(harness/data/synth.py). A process killed half-way cannot remove its folder (tens of MB),
so each one notes its owner, and the next generation of the same set removes the folders
whose owner is gone:

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    stale_marker(tmp)          # host, PID and start time of this process
    remove_stale(out)          # before starting: the dead ones' folders, removed
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

OWNER = ".owner"
UNOWNED_AGE_S = 86_400  # a folder without an owner note (older harness) is stale after a day


def stale_marker(folder: Path, pid: int | None = None) -> None:
    """Note in `folder` which process is writing it (this one unless `pid`)."""
    pid = os.getpid() if pid is None else pid
    (folder / OWNER).write_text(json.dumps(
        {"host": socket.gethostname(), "pid": pid, "start": _start(pid)}))


def remove_stale(out_dir: Path) -> list[Path]:
    """Remove the staging folders of `out_dir` whose writer is gone; the removed ones."""
    removed = []
    for tmp in sorted(out_dir.parent.glob(f".{out_dir.name}.tmp-*")):
        if tmp.is_dir() and _abandoned(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def reserve(path: Path) -> None:
    """Allocate the blocks of a file made sparse (a memmap's): a full disk then fails here
    with ENOSPC (an OSError) instead of killing the process with SIGBUS mid-write."""
    with open(path, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)


def _abandoned(tmp: Path) -> bool:
    try:
        owner = json.loads((tmp / OWNER).read_text())
    except (OSError, ValueError):
        return time.time() - tmp.stat().st_mtime > UNOWNED_AGE_S
    if owner.get("host") != socket.gethostname():
        return time.time() - tmp.stat().st_mtime > UNOWNED_AGE_S  # cannot see its PID
    start = _start(int(owner["pid"]))
    return start is None or start != owner.get("start")  # gone, or the PID was reused


def _start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot) from /proc; None when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]
