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
from pathlib import Path
from typing import Any

import psutil
import pytest
from mlflow.tracking import MlflowClient
from test_sweep_processes import as_a_terminal_job

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
    """`harness ui` serving the tiny study, from the moment it printed the study's link;
    yields base URL, the link, its log, and whether /health answered as the link appeared."""
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
        while not (links := re.findall(r"tiny: (http://\S+)", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no link printed (exit {proc.poll()}):\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        try:  # the link is printed once the server answers: a click at once reaches it
            answered = _get(f"{base}/health") == (200, "OK")
        except (urllib.error.URLError, ConnectionError):
            answered = False
        yield {"base": base, "links": links, "log": log, "proc": proc, "port": port,
               "started": log.read_text(), "answered": answered, **tiny_study}
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
    assert len(ui["links"]) == 1 and ui["links"][0].startswith(link)


def test_the_links_are_printed_once_the_server_answers(ui: dict[str, Any]) -> None:
    """Before: printed ~5 s before the server answered; a click at once was refused."""
    assert ui["answered"]
    lines = ui["started"].strip().splitlines()  # everything printed until the link
    assert lines[0].startswith(f"starting the MLflow UI over {ui['uri']} on {ui['base']}")
    assert lines[1] == f"MLflow UI ready on {ui['base']} (Ctrl-C stops it)"
    assert lines[2] == f"  tiny: {ui['links'][0]}" and len(lines) == 3, lines


# MLflow 3.17's assistant panel, by the data-component-id of its close button; and the
# button that opens it, shown while it is closed
PANEL_CLOSE = 'button[data-component-id="mlflow.assistant.chat_panel.close"]'
PANEL_OPENER = "button[data-assistant-ui]"
ROWS = "document.body.innerText.includes(' · seed ')"  # the trials are in the table


def open_view(link: str, profile: Path, shot: Path | None = None) -> dict[str, Any]:
    """Open the printed `link` in a fresh Chromium profile at 1600 x 1000, as a person would:
    the first time, MLflow opens its assistant panel by itself (a local address, a browser
    that has not seen it); close it once (README.md says so), then open the link again.

    Returns: opened_by_itself (the panel, at first), text (the page's text at the second
    opening), panel_open (then), header_right (px: the right edge of each metric and param
    column header). `shot`: that view's screenshot (PNG), e.g. docs/mlflow_ui.png.
    """
    from browser import Browser

    with Browser(CHROMIUM, profile, 1600, 1000) as page:
        page.goto(link)
        page.wait_for(ROWS)
        opened = bool(page.wait_for(f"!!document.querySelector('{PANEL_CLOSE}')", timeout=30))
        page.eval(f"document.querySelector('{PANEL_CLOSE}').click()")
        page.wait_for(f"!document.querySelector('{PANEL_CLOSE}')", timeout=30)
        page.goto("about:blank")
        page.goto(link)
        page.wait_for(ROWS)
        page.wait_for(f"!!document.querySelector('{PANEL_OPENER}')", timeout=30)
        headers = page.eval("Object.fromEntries([...document.querySelectorAll("
                            "'[role=columnheader]')].map(e => [e.innerText.trim(), "
                            "e.getBoundingClientRect().right]))")
        seen = {"opened_by_itself": opened, "text": page.eval("document.body.innerText"),
                "panel_open": page.eval(f"!!document.querySelector('{PANEL_CLOSE}')"),
                "header_right": headers}
        if shot is not None:
            page.screenshot(shot)
    return seen


def _text(url: str, profile: Path, expect: str) -> str:
    """The page's text once `expect` is in it."""
    from browser import Browser

    with Browser(CHROMIUM, profile) as page:
        page.goto(url)
        page.wait_for(f"document.body.innerText.includes({json.dumps(expect)})")
        return page.eval("document.body.innerText")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH: the browser test needs "
                    "Debian's `chromium` (apt-get install -y chromium; .ci/run does)")
def test_the_printed_link_opens_the_trials_and_the_finding(
        ui: dict[str, Any], tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri=ui["uri"])
    view = open_view(ui["links"][0], tmp_path / "profile", tmp_path / "view.png")
    seen = view["text"]
    # MLflow opens its assistant by itself once; closed as README.md says, it stays closed
    # and the table has the width of the page: its headline metrics in view
    assert view["opened_by_itself"] and not view["panel_open"]
    assert all(view["header_right"][m] <= 1600 for m in ("best_valid_acc", "test_acc"))
    # the trials, by their readable names, grouped by front-end; not one collapsed parent
    assert "complex · seed 0" in seen and "magnitude · seed 0" in seen, seen[:3000]
    assert "Group: complex" in seen and "Group: magnitude" in seen
    # a metric value as the table holds it: in full (MLflow 3.17's table has no setting for
    # digits; the parent's description gives 4 decimals), and the parent's verdict
    trial = client.get_run(ui["children"][0].info.run_id)
    assert "test_acc" in seen and repr(trial.data.metrics["test_acc"]) in seen
    verdicts = verdict_lines(load("tiny", ui["uri"]))
    assert verdicts[0][:40] in seen

    parent = ui["parent"].info
    run_page = (f"{ui['base']}/#/experiments/{parent.experiment_id}/runs/{parent.run_id}"
                f"?{WORKFLOW}")
    seen = _text(run_page, tmp_path / "profile", verdicts[-1])
    assert all(v in seen for v in verdicts), seen[:3000]  # the description, in full
    assert "test_acc_mean complex" in seen  # the parent's summary metrics
    complex_acc = next(r.data.metrics["test_acc"] for r in ui["children"]
                       if r.data.params["frontend"] == "complex")
    assert f"{complex_acc:.4f}" in seen  # its test accuracy, 4 decimals (one trial: the mean)


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
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=as_a_terminal_job)
    server: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        while not any("uvicorn" in " ".join(p.cmdline()) for p in server):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=180)  # a bound, not a speed: a busy CI machine
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
