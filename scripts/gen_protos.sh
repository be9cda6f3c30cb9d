#!/usr/bin/env bash
# Regenerate the Python code for the contracts in protos/agentmesh/v1 (never edit the output by hand).
# Usage: scripts/gen_protos.sh [OUT_DIR]   (default: protos, i.e. beside the .proto files)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-protos}"
py="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
"$py" -m grpc_tools.protoc -I protos --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  protos/agentmesh/v1/*.proto
touch "$out/agentmesh/__init__.py" "$out/agentmesh/v1/__init__.py"
