#!/usr/bin/env bash
# The cluster check in one command (docs/scaling.md): a tracker and worker machines made of
# network, UTS, PID and mount namespaces on this host; README.md's multi-machine recipe run
# on them with machines dying mid-study (the fault table), then 8 to 64 dry-run workers
# against one PostgreSQL and one MLflow server (the scale table).
#
#   sudo scripts/cluster_check.sh                       # everything, results in $OUT
#   sudo scripts/cluster_check.sh --faults kill --no-scale
#   nox -s cluster [-- --faults partition]              # the same in nox's environment
#
# Needs root and PostgreSQL's server binaries (apt-get install postgresql). PYTHON (default
# .venv/bin/python, else python3) must have the harness's dependencies; it is shared
# read-only by every machine. OUT defaults to /tmp/cluster_check. Whatever happens (an
# error, Ctrl-C, SIGTERM) the namespaces, links, mounts and processes it made are removed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[[ -x $PY ]] || PY=python3
OUT=${OUT:-/tmp/cluster_check}
[[ $(id -u) == 0 ]] || { echo "error: the cluster check needs root (namespaces, veths, mounts)" >&2; exit 2; }
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this checkout's harness, for the driver too
BASE=$(mktemp -d /tmp/cluster-check-XXXXXX)
chmod 755 "$BASE"  # the postgres user walks through it to its data folder
child=
cleanup() {
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null && wait "$child" 2>/dev/null
  for part in faults scale; do "$PY" scripts/cluster_machines.py cleanup "$BASE/$part" >/dev/null; done
  rm -rf "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$PY" scripts/cluster_check.py --out "$OUT" --base "$BASE" "$@" &
child=$!
wait "$child"
status=$?
child=
exit $status
