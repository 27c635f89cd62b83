#!/usr/bin/env bash
# Set up what is missing, then serve the demo app on http://127.0.0.1:6543/
# with its sessions in Redis ($REDIS_URL if set, else a private redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m demo "$@"
