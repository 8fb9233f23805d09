"""The names a trial carries in its two stores: Optuna attributes and MLflow tags.

One home for each, so the sweep that writes them (harness/sweep/), the stores that repair
them (harness/sweep/stores.py), the tracker (harness/tracking/runs.py) and the report that
reads them back (harness/report/runs.py) spell them alike. Here, in tracking/, because the
report, which may not import the sweep, reads them too. docs/architecture.md lists them.

    trial.set_user_attr(MLFLOW_RUN_ID, run.run_id)
    runs[tag_column(KEY)]            # "tags.harness.key": the column mlflow.search_runs makes
"""

from __future__ import annotations

# --- Optuna user attributes of a trial (KEY and FAIL_REASON are MLflow tags too) ---
KEY = "harness.key"              # its identity in the study: harness.sweep.trial_key.TrialKey
FIXED = "harness.fixed"          # hash of the experiment's fixed values: whose trial it is
SLOT = "harness.slot"            # tpe/random: the configuration slot (int) it fills
RETRY_OF = "harness.retry_of"    # the number of the trial it runs again
ATTEMPT = "harness.attempt"      # 1 for the first run of a trial, 2 for its retry, ...
DUPLICATE = "harness.duplicate"  # queued twice by two processes: this copy was closed
RESTORED = "harness.restored"    # re-made in Optuna from its finished MLflow run
MLFLOW_RUN_ID = "mlflow_run_id"  # its MLflow child run
FAIL_REASON = "fail_reason"      # why it failed: the last line of its traceback

# --- Optuna system attributes of a trial, and of the study ---
WORKER = "harness.worker"        # harness.processes.this_process() of the worker running it
HEARTBEAT = "harness.heartbeat"  # journal storages: time.time() of its last heartbeat
FILLING = "harness.filling"      # study attribute, + "." + fixed hash: a process fills the queue

# --- MLflow tags and artifacts of a trial's run ---
ROLE = "harness.role"            # "study" (the parent run), "trial", "evaluation"
TRIAL_NUMBER = "trial_number"    # the Optuna trial number, set when the run is made
STATE = "state"                  # COMPLETE | PRUNED | FAIL (RUNNING until it ends)
TRACEBACK = "traceback.txt"      # artifact: a failed trial's full traceback


def tag_column(tag: str) -> str:
    """The column mlflow.search_runs(output_format="pandas") gives tag `tag`."""
    return f"tags.{tag}"
