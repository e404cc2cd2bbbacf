#!/usr/bin/env bash
# Serve the demo: the background-job worker (notifications, periodic tasks) runs alongside
# runserver and is stopped when the server stops. Usage: scripts/demo-serve.sh HOST:PORT
set -euo pipefail
bin=${BIN:-.venv/bin}
"$bin/python" manage.py run_worker &
worker=$!
trap 'kill "$worker" 2>/dev/null || true; wait "$worker" 2>/dev/null || true' EXIT
"$bin/python" manage.py runserver "$1" --noreload
