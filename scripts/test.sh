#!/usr/bin/env bash
# The test command (CI runs exactly this): setup, lint, stale generated code, line budget, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff check"
.venv/bin/ruff check .

echo "== generated protobuf code is up to date"
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
PYTHON=.venv/bin/python bash scripts/gen_protos.sh "$fresh"
if ! diff -r -q -x __init__.py -x __pycache__ "$fresh/agentmesh/v1" protos/agentmesh/v1 --exclude='*.proto'; then
  echo "the generated code is stale: run scripts/gen_protos.sh and commit the result" >&2
  exit 1
fi

if [ -f ../shared/tools/loc.py ]; then
  echo "== line budget"
  python3 ../shared/tools/loc.py .
fi

echo "== pytest"
status=0
.venv/bin/pytest -q --durations=10 "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "pytest collected no tests"
  status=0
fi
exit "$status"
