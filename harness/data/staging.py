"""Hidden folders that a write in progress leaves beside its target, and removing the ones
whose writer is gone.

Two kinds, one rule: a folder names (or holds a note of) the process writing it, and is
stale once harness.processes.alive says that process has ended.

- `.NAME.tmp-*`: a data set being generated (harness/data/synth.py). Each notes its owner
  in `.owner`; the next generation of the same set removes the folders whose owner is gone:

      tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
      stale_marker(tmp)          # host, PID and start time of this process
      remove_stale(out)          # before starting: the dead ones' folders, removed

- `.tmp-HOST-PID-START-TOKEN`: a cache being decoded or an archive being extracted
  (harness/data/cache.py, harness/data/download.py), renamed into place when done:

      tmp = parent / temp_name()
      ... stale_temp(old.name) ...  # True: its writer, on this host, has ended
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from harness.processes import HOST, alive, process_start, this_process

OWNER = ".owner"
UNOWNED_AGE_S = 86_400  # a folder without an owner note (older harness) is stale after a day
TEMP = ".tmp-"


def stale_marker(folder: Path, pid: int | None = None) -> None:
    """Note in `folder` which process is writing it (this one unless `pid`)."""
    note = this_process() if pid is None else {"host": HOST, "pid": pid,
                                                "start": process_start(pid)}
    (folder / OWNER).write_text(json.dumps(note))


def remove_stale(out_dir: Path) -> list[Path]:
    """Remove the staging folders of `out_dir` whose writer is gone; the removed ones."""
    removed = []
    for tmp in sorted(out_dir.parent.glob(f".{out_dir.name}.tmp-*")):
        if tmp.is_dir() and _abandoned(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def temp_name() -> str:
    """A fresh `.tmp-HOST-PID-START-TOKEN` folder name naming this process."""
    me = this_process()
    return f"{TEMP}{me['host']}-{me['pid']}-{me['start'] or 0}-{secrets.token_hex(4)}"


def stale_temp(name: str) -> bool:
    """Was `name` (a `temp_name()`) made by a process of this host that no longer runs?

    Another host's folder (a shared data folder), a live process's, or a name not made by
    `temp_name` is kept.
    """
    parts = name.removeprefix(TEMP).split("-")
    if not name.startswith(TEMP) or len(parts) < 4 or not (parts[-3] + parts[-2]).isdigit():
        return False
    start = None if parts[-2] == "0" else parts[-2]
    return alive({"host": "-".join(parts[:-3]), "pid": int(parts[-3]), "start": start}) is False


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
    if owner.get("host") != HOST:
        return time.time() - tmp.stat().st_mtime > UNOWNED_AGE_S  # cannot see its PID
    return alive(owner) is False  # gone, or the PID was reused
