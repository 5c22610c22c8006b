#!/usr/bin/env bash
# Installs opsloop into .venv and starts the server with its UI on the embedded store (./opsloop-data).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/opsloop server "$@"
