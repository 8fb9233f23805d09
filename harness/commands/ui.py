"""`harness ui`: MLflow's UI over the harness's store, each study's link printed once it answers.

    python -m harness ui                          # 127.0.0.1:5000, the default store
    python -m harness ui --port 5001 --tracking-uri sqlite:///runs/mlflow.db
"""

from __future__ import annotations

import argparse
import sys

from harness.console import console


def ui(args: argparse.Namespace) -> int:
    """The MLflow UI over the harness's store, on 127.0.0.1 unless --host says otherwise.
    One line while the server starts; the links once its /health answers."""
    import logging

    from harness.tracking.runs import resolve_tracking_uri
    from harness.tracking.ui_server import check_port, health_url, serve

    uri = resolve_tracking_uri(args.tracking_uri, create=True)  # MLflow makes the file
    check_port(args.host, args.port)  # one line now, not uvicorn's traceback later
    logging.getLogger("mlflow.store").setLevel(logging.WARNING)  # a new store's INFO lines
    base = f"http://{args.host}:{args.port}"
    links = _links(uri, base)  # read before the server holds the store
    console.print(f"starting the MLflow UI over {uri} on {base} ...", soft_wrap=True)

    def ready() -> None:
        console.print(f"MLflow UI ready on {base} (Ctrl-C stops it)", soft_wrap=True)
        for name, link in links:
            console.print(f"  {name}: {link}", markup=False, soft_wrap=True)

    # one person's UI: one server process, not MLflow's default of 4; uvicorn's own log
    # at warning (its INFO lines are dropped by harness.tracking.ui_server.quiet too)
    return serve([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                  "--host", args.host, "--port", str(args.port), "--workers", "1",
                  "--uvicorn-opts", "--log-level warning"],
                 url=health_url(args.host, args.port), ready=ready)


def _links(tracking_uri: str, base: str) -> list[tuple[str, str]]:
    """(study, the link that opens its trials grouped by front-end) for each study."""
    from mlflow.tracking import MlflowClient

    from harness.tracking.ui_view import VIEW_TAG, experiment_link

    client = MlflowClient(tracking_uri=tracking_uri)
    return [(e.name, experiment_link(base, e.experiment_id))
            for e in client.search_experiments() if VIEW_TAG in e.tags]
