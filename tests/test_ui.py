"""`harness ui`: the real MLflow server over a real store holding a finished tiny study,
queried over HTTP and looked at in a real headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import psutil
import pytest
from mlflow.tracking import MlflowClient

from harness.report import load, verdict_lines
from harness.tracking.ui_view import WORKFLOW

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


@pytest.fixture(scope="module")
def ui(tiny_study: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[dict[str, Any]]:
    """`harness ui` serving the tiny study; yields base URL, the link it printed, its log."""
    port = _free_port()
    log = tmp_path_factory.mktemp("ui") / "ui.log"
    # Its own session, so that the whole group (mlflow's server and workers) can be stopped.
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "ui", "--port", str(port),
             "--tracking-uri", tiny_study["uri"]],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # MLflow's server takes a minute on 2 busy cores
        while True:
            try:
                assert _get(f"{base}/health") == (200, "OK")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the UI did not come up (exit {proc.poll()}):\n"
                                f"{log.read_text()[-2000:]}")
                time.sleep(0.5)
        links = re.findall(r"tiny: (http://\S+)", log.read_text())
        yield {"base": base, "links": links, "log": log, "proc": proc, "port": port,
               "started": log.read_text(), **tiny_study}
    finally:
        with contextlib.suppress(ProcessLookupError):  # the SIGTERM test stopped it already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_ui_serves_the_harness_store(ui: dict[str, Any]) -> None:
    status, page = _get(f"{ui['base']}/")
    assert status == 200 and "<html" in page.lower()
    status, body = _get(f"{ui['base']}/api/2.0/mlflow/experiments/get-by-name"
                        "?experiment_name=tiny")
    experiment = json.loads(body)["experiment"]
    assert status == 200 and experiment["name"] == "tiny"
    link = f"{ui['base']}/#/experiments/{experiment['experiment_id']}/runs?{WORKFLOW}"
    assert len(ui["links"]) == 1 and ui["links"][0].startswith(link)  # printed at start


def test_ui_starts_without_a_screen_of_log_lines(ui: dict[str, Any]) -> None:
    lines = ui["started"].strip().splitlines()  # everything printed until /health answered
    assert lines[0].startswith("MLflow UI over") and len(lines) <= 4, lines
    assert not [x for x in lines if re.search(r"INFO|Warning|deprecat|Traceback", x, re.I)]


def _seen(url: str, profile: Path) -> str:
    """The text a person sees at `url` once the React app has rendered: Chromium's DOM
    after 15 s of virtual time (it skips idle waits), tags and scripts stripped."""
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--window-size=1900,1000",
         "--virtual-time-budget=15000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True).stdout
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", dom)))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: the browser test needs "
                    "Debian's `chromium` (apt-get install -y chromium; .ci/run does)")
def test_the_printed_link_opens_the_trials_and_the_finding(
        ui: dict[str, Any], tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=ui["uri"])
    seen = _seen(ui["links"][0], tmp_path / "profile")
    # the trials, by their readable names, grouped by front-end; not one collapsed parent
    assert "complex · seed 0" in seen and "magnitude · seed 0" in seen, seen[:3000]
    assert "Group: complex" in seen and "Group: magnitude" in seen
    # a metric value as the table shows it (full precision), and the parent's verdict
    trial = client.get_run(ui["children"][0].info.run_id)
    assert "test_acc" in seen and repr(trial.data.metrics["test_acc"]) in seen
    verdicts = verdict_lines(load("tiny", ui["uri"]))
    assert verdicts[0][:40] in seen

    parent = ui["parent"].info
    run_page = (f"{ui['base']}/#/experiments/{parent.experiment_id}/runs/{parent.run_id}"
                f"?{WORKFLOW}")
    seen = _seen(run_page, tmp_path / "profile")
    assert all(v in seen for v in verdicts), seen[:3000]  # the description, in full
    assert "test_acc_mean complex" in seen  # the parent's summary metrics


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _gone(procs: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    """The processes still running (zombies are not) after up to `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_sigterm_to_harness_ui_alone_stops_mlflow_and_frees_the_port(
        ui: dict[str, Any]) -> None:
    """Last in the module: it stops the shared server. Before: `mlflow ui` and its uvicorn
    worker kept serving the port after `harness ui` got SIGTERM."""
    proc = ui["proc"]
    server = psutil.Process(proc.pid).children(recursive=True)
    assert any("uvicorn" in " ".join(p.cmdline()) for p in server)
    proc.send_signal(signal.SIGTERM)  # to the harness process only, as `kill PID` does
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert _gone(server) == []
    assert _port_free(ui["port"])
    log = ui["log"].read_text()
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1] == "terminated (SIGTERM): the MLflow UI stopped, its " \
        "port free"


def test_ctrl_c_stops_the_server_group(tiny_study: dict[str, Any]) -> None:
    """SIGINT to `harness ui` (a terminal's Ctrl-C reaches it, not the server's own group)
    while the server starts: every process of it ends, no traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "ui", "--port", str(_free_port()),
         "--tracking-uri", tiny_study["uri"]], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    server: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not any("uvicorn" in " ".join(p.cmdline()) for p in server):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGINT
        assert _gone(server) == []
        assert "Traceback" not in out
        assert out.strip().splitlines()[-1] == "interrupted: the MLflow UI stopped, its port free"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for p in server:  # a failed test leaves no server behind either
            with contextlib.suppress(psutil.Error):
                p.kill()


def test_a_taken_port_is_one_line(tiny_study: dict[str, Any],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "--port", str(port), "--tracking-uri", tiny_study["uri"]]) == 2
    err = capsys.readouterr().err
    assert err == f"error: port {port} on 127.0.0.1 is taken (another `harness ui` or MLflow " \
        "server?): stop it, or pass --port N\n"
