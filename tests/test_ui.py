"""`harness ui`: the real MLflow server over a real SQLite store, queried over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_sweep import new_tracking_uri

from harness.tracking import Tracker

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_ui_serves_the_harness_store(tmp_path: Path) -> None:
    uri = new_tracking_uri(tmp_path)
    Tracker("seen_by_ui", uri, searched=["frontend"]).close()
    port = _free_port()
    # Its own session, so that the whole group (mlflow's server and workers) can be stopped.
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "ui", "--port", str(port), "--tracking-uri", uri],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert _get(f"{base}/health") == (200, "OK")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    pytest.fail(f"the UI did not come up (exit {proc.poll()}):\n{out[-2000:]}")
                time.sleep(0.5)
        status, page = _get(f"{base}/")
        assert status == 200 and "<html" in page.lower()
        status, body = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name"
                            "?experiment_name=seen_by_ui")
        assert status == 200 and json.loads(body)["experiment"]["name"] == "seen_by_ui"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
