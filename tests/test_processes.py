"""The one process-alive check (harness.processes) and the temporary-folder names built on
it (harness.data.staging): real processes, a real zombie, a PID with another start time."""

from __future__ import annotations

import os
import subprocess
import sys

from harness.data.staging import stale_temp, temp_name
from harness.processes import HOST, alive, process_start, this_process


def test_alive_tells_a_reused_pid_apart() -> None:
    me = this_process()
    assert alive(me) is True and me["start"] == process_start(os.getpid())
    # The PID alive, but its start time is not the noted one: the kernel reused the PID.
    assert alive({**me, "start": str(int(me["start"]) + 1)}) is False
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    note = {"host": HOST, "pid": gone.pid, "start": process_start(gone.pid)}
    gone.wait()
    assert alive(note) is False
    assert alive({**me, "host": f"not-{HOST}"}) is None  # its PIDs say nothing here


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    note = {"host": HOST, "pid": child.pid, "start": None}
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert alive(note) is False
    finally:
        child.wait()


def test_temp_folder_names_name_their_writer() -> None:
    """The cache's own copy read only host and PID: a reused PID kept a dead temp folder."""
    mine = temp_name()
    host, pid, start = HOST, os.getpid(), this_process()["start"]
    assert mine.startswith(f".tmp-{host}-{pid}-{start}-") and not stale_temp(mine)
    assert stale_temp(f".tmp-{host}-{pid}-{int(start) + 1}-abcd1234")  # the PID reused
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert stale_temp(f".tmp-{host}-{gone.pid}-1-abcd1234")
    assert not stale_temp(f".tmp-other-{host}-{gone.pid}-1-abcd1234")  # another host's
    assert not stale_temp(".tmp-junk") and not stale_temp("audio.npy")
