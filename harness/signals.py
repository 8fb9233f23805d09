"""SIGTERM (a batch scheduler, `docker stop`) handled like Ctrl-C: the running trial is
failed with its reason and queued again, both stores are closed, and the process exits
non-zero with one line instead of leaving trials RUNNING.

    stop_on_sigterm()            # in the sweep process and each worker, main thread
    with ignore_sigint(): p.start()   # workers leave Ctrl-C to the sweep process
    except BaseException as exc: release_frames(exc); clean up; raise

Python turns SIGINT into KeyboardInterrupt; `Terminated` is one too, so every
`except KeyboardInterrupt` that cleans up handles both. A second signal while cleaning up
is ignored, so the clean-up runs to its end.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal other than Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):  # the clean-up is not interrupted again
        signal.signal(sig, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def stop_on_sigterm() -> None:
    """SIGTERM raises Terminated in the main thread (nothing elsewhere: signals are the
    main thread's)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


def exit_status(exc: KeyboardInterrupt) -> tuple[int, str]:
    """The shell's status for a process stopped by this signal, and the line to print."""
    signum = getattr(exc, "signum", signal.SIGINT)
    what = "interrupted" if signum == signal.SIGINT else \
        f"terminated ({signal.Signals(signum).name})"
    return 128 + signum, what


@contextlib.contextmanager
def ignore_sigint() -> Iterator[None]:
    """Processes started inside inherit SIGINT ignored (Python keeps it so at start-up):
    Ctrl-C reaches the whole process group, and a worker still importing would print a
    traceback; the parent stops them with SIGTERM instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def release_frames(exc: BaseException) -> None:
    """Before a clean-up writes to a store: if `exc` is an interruption (Ctrl-C, SIGTERM),
    free the frames it unwound through and what they held; any other error keeps its
    traceback (it is shown, or kept in the run).

    A signal raises wherever the main thread is, often inside a database call. The query's
    cursor then stays alive in the traceback's frames and, on SQLite, keeps its lock on the
    file, so the clean-up's own writes (the trial failed in Optuna and MLflow) wait out the
    busy timeout and fail "database is locked", after 20 s of MLflow's retries: one run in
    about 20 of tests/test_faults_signals.py's Ctrl-C test. An interruption's traceback is
    never shown; the collection frees the cycles SQLAlchemy's error handling leaves.
    """
    if isinstance(exc, KeyboardInterrupt):
        exc.__traceback__ = None
        gc.collect()
