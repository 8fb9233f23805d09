"""What a study left in both stores, read straight from their PostgreSQL databases, and
whether it is whole.

    verdict(dump(cluster, Path(".../ci.toml")))   # {"lost": 0, "doubled": 0, ...}

The verdict, per grid point of the experiment (its `harness.key`, harness.sweep.trial_key):
- lost: no COMPLETE trial in Optuna, or no FINISHED trial run in MLflow;
- doubled: more than one COMPLETE trial, or more than one FINISHED run;
- running: any trial of the plan still RUNNING or WAITING in Optuna, any trial run RUNNING
  in MLflow.
Failed attempts (a killed machine's trial, a trial failed on a full disk) are not doubles:
they are FAIL in Optuna and FAILED in MLflow, and their retry is the point's one result.
Nor are copies two starting workers both queued (`harness.duplicate`, closed unrun).
Read with psql on the tracker, not through Optuna and MLflow: a Python process there would
cost seconds of imports per look.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from cluster_machines import Cluster
from cluster_tracker import rows

from harness.sweep.experiment_file import load_experiment
from harness.sweep.plan import SweepPlan
from harness.sweep.trial_key import TrialKey
from harness.tracking.names import DUPLICATE, FAIL_REASON, FIXED, KEY, RETRY_OF, ROLE, WORKER

OPTUNA_SQL = """SELECT t.number, t.state, a.key, a.value_json FROM trials t
    JOIN studies s ON s.study_id = t.study_id
    LEFT JOIN (SELECT trial_id, key, value_json FROM trial_user_attributes
               UNION ALL SELECT trial_id, key, value_json FROM trial_system_attributes
                         WHERE key = '{worker}') a ON a.trial_id = t.trial_id
    WHERE s.study_name = '{name}' ORDER BY t.number"""
MLFLOW_SQL = """SELECT r.run_uuid, r.status, t.key, t.value FROM runs r
    JOIN experiments e ON e.experiment_id = r.experiment_id
    LEFT JOIN tags t ON t.run_uuid = r.run_uuid AND t.key IN ('{key}', '{role}')
    WHERE e.name = '{name}' AND r.lifecycle_stage = 'active'"""


def dump(cluster: Cluster, toml: Path) -> dict[str, Any]:
    """The plan's trials and the experiment's runs, as plain dicts; `toml` as the host
    sees it (the grid's keys are computed here, as the workers compute them)."""
    exp = load_experiment(toml, {"device": "cpu"})
    plan = SweepPlan.create(exp, "postgresql://", "http://")
    trials: dict[int, dict[str, Any]] = {}
    for number, state, key, value in rows(cluster, OPTUNA_SQL.format(
            worker=WORKER, name=exp.name), "optuna"):
        t = trials.setdefault(int(number), {"number": int(number), "state": state})
        if key:
            t[key] = json.loads(value)
    runs: dict[str, dict[str, Any]] = {}
    for run_id, status, key, value in rows(cluster, MLFLOW_SQL.format(
            key=KEY, role=ROLE, name=exp.name), "mlflow"):
        r = runs.setdefault(run_id, {"run_id": run_id, "status": status})
        if key:
            r[key] = value
    return {"name": exp.name,
            "keys": [str(TrialKey.of_grid(plan.fixed_id, p)) for p in exp.grid()],
            "trials": [{"number": t["number"], "state": t["state"], "key": t.get(KEY),
                        "retry_of": t.get(RETRY_OF), "duplicate": bool(t.get(DUPLICATE)),
                        "reason": t.get(FAIL_REASON, ""),
                        "host": (t.get(WORKER) or {}).get("host")}
                       for t in trials.values() if t.get(FIXED) == plan.fixed_id],
            "runs": [{"run_id": r["run_id"], "status": r["status"], "key": r.get(KEY),
                      "role": r.get(ROLE)} for r in runs.values()]}


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
            "queued_twice": sum(t["duplicate"] for t in d["trials"]),
            "fail_reasons": sorted({t["reason"].splitlines()[0][:120] if t["reason"]
                                    else "(none in Optuna: failed by the heartbeat check)"
                                    for t in failed}),
            "hosts": dict(Counter(t["host"] for t in d["trials"] if t["state"] == "COMPLETE")),
            "runs": dict(Counter(r["status"] for r in trial_runs)),
            "parent": [r["status"] for r in d["runs"] if r["role"] == "study"]}
