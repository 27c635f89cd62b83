#!/usr/bin/env bash
# Set up what is missing, then run the whole test suite with branch coverage.
# The suite starts its own redis-server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest --cov=pyramid_session_redis --cov-branch --cov-report=term-missing --cov-fail-under=95 "$@"
