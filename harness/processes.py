"""Is a process still running? Asked PID-reuse safe: a process is its host, PID and start time.

    note = this_process()     # {"host": "node1", "pid": 4242, "start": "123456"}, kept somewhere
    alive(note)               # later, any process: True, False, or None (another host's)

A PID alone does not name a process: the kernel hands a freed PID to the next process it
starts, so "PID 4242 exists" may be a stranger. The start time (field 22 of /proc/PID/stat,
clock ticks since boot) tells the two apart. Used by the sweep's dead-worker check
(harness.sweep.queue), the data set's staging folders (harness.data.staging) and the
cache's and downloads' temporary folders.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HOST = socket.gethostname()
_PROC = Path("/proc")


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot) from /proc; None when there is no
    such process, or only its zombie (it has exited, its parent has not reaped it)."""
    try:
        fields = (_PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def this_process() -> dict[str, Any]:
    """The note that names this process for `alive`: host, PID, start time."""
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "start": process_start(pid)}


def alive(note: Mapping[str, Any]) -> bool | None:
    """Whether the process a `this_process()` note names still runs: False when its PID is
    gone, a zombie, or now another process's (its start time differs); None when it ran
    on another host, whose PIDs say nothing here."""
    if note.get("host") != HOST:
        return None
    pid = int(note["pid"])
    start = process_start(pid)
    if start is None and not (_PROC / "self" / "stat").exists():  # no /proc (not Linux)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, another user's
        return True
    if start is None:
        return False
    return note.get("start") in (None, start)  # None: noted where /proc was not readable
