"""A running trial's heartbeat: how other hosts know its worker lives, and what happens when
it cannot be written.

    with Heartbeat(beat, "trial 7"):   # main thread; `beat()` writes one heartbeat
        train()                        # raises HeartbeatLost once beats fail for STOP_AFTER_S
    interval(), grace()                # seconds in force: the environment's, else the defaults

A worker writes a heartbeat every HEARTBEAT_S; another host takes a trial whose heartbeat is
older than GRACE_S for dead and queues it again (harness.sweep.queue.TrialQueue.recover). A
worker whose beats cannot be written (the storage's disk or server gone, its cable pulled)
would go on training unseen while its trial runs again elsewhere. So every failed beat is
logged, and once no beat has been written for STOP_AFTER_S (half the grace: before anyone
else gives up on it), whether the writes failed or hang, the trial stops: a watchdog thread
signals the main thread (STOP_SIGNAL), whose handler raises
HeartbeatLost wherever the trial is. It is a BaseException, as KeyboardInterrupt is, so no
`except Exception` on the way swallows it; the worker fails the trial with it.

$HARNESS_HEARTBEAT_S and $HARNESS_HEARTBEAT_GRACE_S replace the interval and the grace (a
test's cluster waits seconds, not minutes: docs/scaling.md); the stop then comes after half
that grace. The grace applies where a trial is judged, so every machine should use the same.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from rich.markup import escape

from harness.console import console
from harness.errors import HarnessError

HEARTBEAT_S = 20.0   # seconds between heartbeats of a running trial
GRACE_S = 120.0      # another host takes a trial for dead after this long without one
STOP_AFTER_S = GRACE_S / 2  # a trial whose beats fail this long stops
STOP_SIGNAL = signal.SIGUSR1
INTERVAL_ENV, GRACE_ENV = "HARNESS_HEARTBEAT_S", "HARNESS_HEARTBEAT_GRACE_S"


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise HarnessError(f"{name}={text!r}: give a number of seconds above 0 "
                           f"(default {default:g})")
    return value


def interval() -> float:
    """Seconds between a running trial's heartbeats: $HARNESS_HEARTBEAT_S, else HEARTBEAT_S."""
    return _seconds(INTERVAL_ENV, HEARTBEAT_S)


def grace() -> float:
    """Seconds of silence after which another host takes a trial for dead:
    $HARNESS_HEARTBEAT_GRACE_S, else GRACE_S. HarnessError unless it exceeds two intervals
    (a live trial would look dead between its beats, and stop at its first failed one)."""
    grace_s, interval_s = _seconds(GRACE_ENV, GRACE_S), interval()
    if grace_s <= 2 * interval_s:
        raise HarnessError(f"{GRACE_ENV}={grace_s:g} with {INTERVAL_ENV}={interval_s:g}: give "
                           "a grace above twice the heartbeat interval")
    return grace_s


def stop_after() -> float:
    """A trial whose beats fail this long stops: half the grace (STOP_AFTER_S by default)."""
    return grace() / 2 if GRACE_ENV in os.environ else STOP_AFTER_S


class HeartbeatLost(BaseException):
    """The trial's heartbeat could not be written for STOP_AFTER_S: it was stopped."""


class Heartbeat:
    """A thread calling `beat()` every `interval_s` (`interval()`) while the block runs, and a
    watchdog that stops the block when no beat was written for `stop_after_s` (`stop_after()`).

    The watchdog is its own thread because a write can hang rather than fail: over a pulled
    cable a database connection waits for TCP to give up (minutes), and a trial whose writer
    only counted raised errors would train on unseen for that long (the cluster check's
    partition fault, docs/scaling.md). Entered in the main thread, the stop is HeartbeatLost
    raised there; in another thread it can only log (signals are the main thread's). The
    values are read when it starts, so a test may shorten them. `beat_s` holds how long each
    written beat took (seconds), `failures` how many failed (the scale check reads both).
    """

    def __init__(self, beat: Callable[[], None], what: str, interval_s: float | None = None,
                 stop_after_s: float | None = None) -> None:
        self.beat, self.what = beat, what
        self.interval_s = interval() if interval_s is None else interval_s
        self.stop_after_s = stop_after() if stop_after_s is None else stop_after_s
        self.lost = ""  # why it stopped the block; "" while it has not
        self.beat_s: list[float] = []
        self.failures = 0
        self._written = time.monotonic()  # when the last beat was written (monotonic s)
        self._error = ""  # the last failed beat's error; "" once one is written
        self._lock, self._done, self._stopping = threading.Lock(), threading.Event(), False
        self._writer = threading.Thread(target=self._write, daemon=True, name="heartbeat")
        self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                          name="heartbeat-watchdog")
        self._main = threading.current_thread() is threading.main_thread()
        self._old_handler: Any = None

    def __enter__(self) -> Heartbeat:
        if self._main:
            self._old_handler = signal.signal(STOP_SIGNAL, self._raise)
        self._written = time.monotonic()
        self._writer.start()
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with self._lock:  # from here on a beat that fails stops nothing
                self._stopping = True
        finally:
            self._done.set()
            self._watchdog.join()
            # A write hung on a dead network is left behind (a daemon thread): once it
            # returns it sees `_done` and ends, at worst having written one late beat.
            self._writer.join(timeout=self.interval_s)
            if self._main:
                signal.signal(STOP_SIGNAL, self._old_handler)

    def _silent(self) -> float:
        """Seconds since the last beat was written."""
        return time.monotonic() - self._written

    def _write(self) -> None:
        while True:
            start = time.monotonic()
            try:
                self.beat()
            except Exception as exc:  # the storage refused it: log it; the watchdog decides
                self.failures += 1
                detail = (str(exc).splitlines() or [""])[0][:200]
                self._error = f"{type(exc).__name__}: {detail}"
                if not self._done.is_set():
                    console.print(f"[yellow]{escape(self.what)}: its heartbeat could not be "
                                  f"written for {self._silent():.0f} s ({escape(self._error)});"
                                  " trying again[/]", soft_wrap=True, highlight=False)
            else:
                self._written = time.monotonic()
                self._error = ""
                self.beat_s.append(self._written - start)
            if self._done.wait(self.interval_s):
                return

    def _watch(self) -> None:
        step = min(self.interval_s, self.stop_after_s) / 4
        while not self._done.wait(step):
            silent = self._silent()
            if silent >= self.stop_after_s:
                why = self._error or "the last write has not returned"
                self._stop(f"{self.what}: its heartbeat could not be written for {silent:.0f} s "
                           f"({why})")
                # Again until the block ends: a handler that runs inside a weakref callback
                # or __del__ has its exception ignored (seen in SQLAlchemy's gc callback)
                self._done.wait(4 * step)

    def _stop(self, why: str) -> None:
        """Stop the block in the main thread (a signal; never after __exit__ began)."""
        with self._lock:
            if self._stopping:
                return
            if not self.lost:
                self.lost = (f"{why}; stopped, or it would run on unseen while it runs again "
                             "elsewhere")
                console.print(f"[red]{escape(self.lost)}[/]", soft_wrap=True, highlight=False)
            if self._main:
                signal.pthread_kill(threading.main_thread().ident or 0, STOP_SIGNAL)

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        if self.lost and not self._stopping:
            raise HeartbeatLost(self.lost)
