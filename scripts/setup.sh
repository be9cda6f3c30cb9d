#!/usr/bin/env bash
# Set up everything the mesh and its tests need on this machine; running it again is quick and harmless.
#   1. the virtualenv .venv with the project installed (pip runs only when pyproject.toml or the top-level
#      package folders changed since the last run);
#   2. PostgreSQL and Redis binaries (apt-get, when missing and running as root; else says what to install);
#   3. PostgreSQL and Redis reachable at DATABASE_URL / REDIS_URL: the machine's own cluster is started when it
#      is stopped, and whatever still does not answer gets a private server in .agentmesh/ (cli/localstores.py).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
  echo "setup: creating .venv"
  "$python" -m venv .venv
fi
stamp=$({ cat pyproject.toml; ls -d ./*/; } | sha256sum | cut -c1-16)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "setup: installing the project into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  echo "$stamp" >.venv/.setup-stamp
fi

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: PostgreSQL and Redis are needed: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# The machine's own cluster, when it is set up for passwordless local use (as on the project's machines).
if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    [ -f "$hba" ] && grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba" || continue
    version=$(basename "$(dirname "$(dirname "$hba")")")
    if ! pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
      echo "setup: starting the machine's PostgreSQL $version cluster"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
  done
fi
.venv/bin/python -m cli.localstores
