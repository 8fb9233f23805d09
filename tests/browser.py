"""A headless Chromium driven over the DevTools protocol on a pipe, as Playwright does it.

    with Browser(CHROMIUM, profile, 1600, 1000) as page:
        page.goto(url)
        page.wait_for("document.body.innerText.includes('seed 0')")
        text = page.eval("document.body.innerText")
        page.screenshot(Path("view.png"))

`--remote-debugging-pipe` makes Chromium read protocol messages (JSON, each ended by a NUL
byte) on its fd 3 and write its answers and events on fd 4: no port, no websocket client.
One page target, attached in flat mode (each command carries its `sessionId`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any


class BrowserError(RuntimeError):
    """A protocol error, a page script that threw, or a wait that timed out."""


class Browser:
    """One Chromium process with one page, `width` x `height` CSS pixels at scale 1."""

    def __init__(self, chromium: str, profile: Path, width: int = 1600, height: int = 1000):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium wants the pipe on fds 3 and 4 exactly: bash moves them there, then execs
        # it; from fds above 9 first, which that move cannot overwrite
        r, w = _above_9(to_chrome_r), _above_9(from_chrome_w)
        script = f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", script, "bash", chromium, "--headless", "--remote-debugging-pipe",
             "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            pass_fds=(r, w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(r)
        os.close(w)
        self._buffer, self._next_id = b"", 0
        page = next(t for t in self._call("Target.getTargets")["targetInfos"]
                    if t["type"] == "page")
        self._session = self._call("Target.attachToTarget", targetId=page["targetId"],
                                   flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End Chromium (it has no state worth a graceful exit) and the pipe."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page; its result."""
        return self._call(method, session=self._session, **params)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True)
        if "exceptionDetails" in out:
            raise BrowserError(f"{expression!r} threw: {out['exceptionDetails']}")
        return out["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 120.0) -> Any:
        """Poll `expression` until it is truthy (a throw, as while the page loads, is not);
        its value. BrowserError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(f"(() => {{ try {{ return ({expression}); }} "
                              "catch (e) { return null; } })()")
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"still false after {timeout:.0f} s: {expression}")
            time.sleep(0.25)

    def screenshot(self, path: Path) -> None:
        """The viewport as PNG at `path`."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def _call(self, method: str, session: str | None = None, timeout: float = 60.0,
              **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:  # events arrive in between: skipped
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise BrowserError(f"no answer from Chromium in {timeout:.0f} s")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed its pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)


def _above_9(fd: int) -> int:
    """The same pipe end on a descriptor above 9 (`fd` closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high
