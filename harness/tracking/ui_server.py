"""`harness ui`'s server: MLflow's UI in a process group of its own, stopped as one.

    check_port(host, port)            # HarnessError, one line, when the port is taken
    serve(cmd, env, health_url(host, port), ready)  # runs `mlflow ui`, quiet, until it exits
                                      # or we are stopped; ready() once /health answers

`mlflow ui` starts uvicorn as a child process: a signal to `harness ui` alone (a SIGTERM from
a scheduler or `kill`) would leave them serving the port. So the server runs in a new session
(its own process group, which the terminal's Ctrl-C does not reach either), and when
`harness ui` is interrupted or terminated it sends SIGTERM to the whole group, waits, then
SIGKILL: no orphan, the port free. Its output passes through `quiet`: MLflow's and
uvicorn's INFO lines and the start-up banner are dropped, warnings and errors kept.
MLflow's server takes 5 s to a minute to answer: `ready` (which prints the links) runs only
once its /health answers, so that a link clicked at once does not meet "connection refused".
"""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from harness.errors import HarnessError

STOP_GRACE_S = 10.0  # SIGTERM, then this long before SIGKILL
POLL_S = 0.25  # between /health probes while the server starts
# lines a healthy start prints: logging at INFO (uvicorn "INFO:", MLflow "INFO mlflow...",
# alembic "INFO  [alembic...]"), MLflow's security-middleware banner for a local server,
# its note that the model registry shares the tracking store
NOISE = re.compile(r"^(\S+ \S+ )?(INFO\b|\[MLflow\] Security middleware enabled with default"
                   r"|Registry store URI not provided)")
ENV = {
    # MLflow 3's job runner (GenAI judges, prompt optimisation: 8 huey processes) serves
    # nothing the harness logs; it starts only where the user asks for it
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # deprecation notices of MLflow's own dependencies, printed at every start
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning,ignore::UserWarning",
    "PYTHONUNBUFFERED": "1",  # its lines reach the relay as they are written
}


def check_port(host: str, port: int) -> None:
    """Bind the address as the server would; HarnessError naming it if it cannot."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is ok
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise HarnessError(f"port {port} on {host} is taken (another `harness ui` or "
                                   f"MLflow server?): stop it, or pass --port N") from None
            raise HarnessError(f"cannot listen on {host}:{port} ({exc.strerror}); pass "
                               "--host 127.0.0.1 or another --port") from None


def quiet(line: str) -> bool:
    """Whether a server output line is start-up noise (see NOISE)."""
    return bool(NOISE.match(line))


def health_url(host: str, port: int) -> str:
    """The server's /health on an address this machine reaches it at (a wildcard bind is
    probed on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/health" if ":" in host else f"http://{host}:{port}/health"


def answers(url: str) -> bool:
    """Whether `url` answers 200 now (no proxy: the server is on this machine)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):  # refused, reset, timed out: not up yet
        return False


def wait_until_up(proc: subprocess.Popen[str], url: str) -> bool:
    """Probe `url` every POLL_S s until it answers (True) or `proc` exits (False)."""
    while proc.poll() is None:
        if answers(url):
            return True
        time.sleep(POLL_S)
    return False


def serve(cmd: Sequence[str], env: Mapping[str, str] | None = None, url: str | None = None,
          ready: Callable[[], None] | None = None) -> int:
    """Run `cmd` in its own session until it exits (its status) or we get Ctrl-C / SIGTERM
    (the group stopped, then KeyboardInterrupt re-raised for the CLI's one line).
    `ready()` runs once `url` answers; not at all if the server exits first."""
    from harness.signals import stop_on_sigterm

    stop_on_sigterm()
    proc = subprocess.Popen(list(cmd), env={**os.environ, **ENV, **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, text=True,
                            errors="replace")
    relay = threading.Thread(target=_relay, args=(proc,), daemon=True)
    relay.start()
    try:
        if url is not None and ready is not None and wait_until_up(proc, url):
            ready()
        return proc.wait()
    finally:  # interrupted or not: nothing of the server stays
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still cleaned up
        stop_group(proc)
        relay.join(timeout=1)


def stop_group(proc: subprocess.Popen[str], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM to `proc`'s process group, SIGKILL after `grace` s if a member is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap our own child: a zombie is still a member of the group
            if not members(proc.pid):
                return
            time.sleep(0.05)


def members(pgid: int) -> list[int]:
    """Live (not zombie) processes of group `pgid`. In a container whose init reaps no
    orphans, a dead uvicorn stays a zombie in the group; it serves nothing."""
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: ask the kernel whether the group has anyone
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    for pid in filter(str.isdigit, entries):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()  # after "(comm)"
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(pid))
    return out


def _relay(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if not quiet(line):
            sys.stderr.write(line)
            sys.stderr.flush()
