#!/usr/bin/env bash
# Set up what is missing, then serve the demo project (demo/development.ini,
# through pserve) on http://127.0.0.1:6543/ with its sessions in Redis:
# $REDIS_URL if set, else a private redis-server stopped with the demo.
# Options go to `python -m demo`: --port N, --reload.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The demo is a Pyramid project of its own; installing it (editable) registers
# the app factory that `pserve demo/development.ini` looks up.
if ! .venv/bin/python -c 'import importlib.metadata as m; m.distribution("pyramid_session_redis_demo")' 2>/dev/null; then
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e ./demo >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    rm -f "$log"
fi
exec .venv/bin/python -m demo "$@"
