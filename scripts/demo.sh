#!/usr/bin/env bash
# The main job: set up, then start the mesh (simulators stand in for providers without an API key),
# send sample leads through the agent workflow, print the results and run ids, and stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/agentmesh demo "$@"
