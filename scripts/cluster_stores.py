"""What a study left in both stores, and whether it is whole: run on the tracker.

    python scripts/cluster_stores.py EXP.toml OPTUNA_URL TRACKING_URI    # one JSON line

The verdict, per grid point of the experiment (its `harness.key`):
- lost: no COMPLETE trial in Optuna, or no FINISHED trial run in MLflow;
- doubled: more than one COMPLETE trial, or more than one FINISHED run;
- running: any trial of the plan still RUNNING or WAITING in Optuna, any trial run RUNNING
  in MLflow.
Failed attempts (a killed machine's trial, a trial failed on a full disk) are not doubles:
they are FAIL in Optuna and FAILED in MLflow, and their retry is the point's one result.
Nor are copies two starting workers both queued (`harness.duplicate`, closed unrun).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any


def dump(experiment: str, storage: str, tracking_uri: str) -> dict[str, Any]:
    """The plan's trials and the experiment's trial runs, as plain dicts."""
    import optuna
    from mlflow.tracking import MlflowClient

    from harness.sweep.experiment_file import load_experiment
    from harness.sweep.queue import SweepPlan

    exp = load_experiment(experiment, {"device": "cpu"})
    plan = SweepPlan.create(exp, storage, tracking_uri)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=exp.name, storage=storage)
    keys = [f"{plan.fixed_id}:{json.dumps(p, sort_keys=True)}" for p in exp.grid()]
    trials = [{"number": t.number, "state": t.state.name, "key": t.user_attrs.get("harness.key"),
               "retry_of": t.user_attrs.get("harness.retry_of"),
               "duplicate": bool(t.user_attrs.get("harness.duplicate")),
               "reason": t.user_attrs.get("fail_reason", ""),
               "host": (t.system_attrs.get("harness.worker") or {}).get("host")}
              for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("harness.fixed") == plan.fixed_id]
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(exp.name)
    runs = [] if found is None else [
        {"run_id": r.info.run_id, "status": r.info.status, "key": r.data.tags.get("harness.key"),
         "role": r.data.tags.get("harness.role"), "trial": r.data.tags.get("trial_number")}
        for r in client.search_runs([found.experiment_id], max_results=50_000)]
    return {"name": exp.name, "keys": keys, "trials": trials, "runs": runs}


def verdict(d: dict[str, Any]) -> dict[str, Any]:
    """lost / doubled / left running, counted over the grid points (see the module doc)."""
    complete = Counter(t["key"] for t in d["trials"] if t["state"] == "COMPLETE")
    trial_runs = [r for r in d["runs"] if r["role"] == "trial"]
    finished = Counter(r["key"] for r in trial_runs if r["status"] == "FINISHED")
    lost = [k for k in d["keys"] if complete[k] == 0 or finished[k] == 0]
    doubled = [k for k in d["keys"] if complete[k] > 1 or finished[k] > 1]
    running = ([f"trial {t['number']} {t['state']}" for t in d["trials"]
                if t["state"] in ("RUNNING", "WAITING")]
               + [f"run {r['run_id']} RUNNING" for r in trial_runs if r["status"] == "RUNNING"])
    failed = [t for t in d["trials"] if t["state"] == "FAIL" and not t["duplicate"]]
    return {"points": len(d["keys"]), "lost": len(lost), "doubled": len(doubled),
            "running": running, "attempts": len(d["trials"]), "failed": len(failed),
            "fail_reasons": sorted({t["reason"].splitlines()[0][:120] if t["reason"] else "?"
                                    for t in failed}),
            "hosts": dict(Counter(t["host"] for t in d["trials"] if t["state"] == "COMPLETE")),
            "runs": dict(Counter(r["status"] for r in trial_runs)),
            "parent": [r["status"] for r in d["runs"] if r["role"] == "study"]}


if __name__ == "__main__":
    exp_file, storage, uri = sys.argv[1:4]
    data = dump(exp_file, storage, uri)
    print(json.dumps({"dump": data, "verdict": verdict(data)}))
