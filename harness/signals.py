"""SIGTERM (a batch scheduler, `docker stop`) handled like Ctrl-C: the running trial is
failed with its reason and queued again, both stores are closed, and the process exits
non-zero with one line instead of leaving trials RUNNING.

    stop_on_sigterm()            # in the sweep process and each worker, main thread
    with ignore_sigint(): p.start()   # workers leave Ctrl-C to the sweep process

Python turns SIGINT into KeyboardInterrupt; `Terminated` is one too, so every
`except KeyboardInterrupt` that cleans up handles both. A second signal while cleaning up
is ignored, so the clean-up runs to its end.
"""

from __future__ import annotations

import contextlib
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
