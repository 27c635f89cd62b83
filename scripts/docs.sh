#!/usr/bin/env bash
# Build the Sphinx documentation with warnings as errors (CI runs this too).
# Installs Sphinx into the project's .venv (made by scripts/setup.sh) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! .venv/bin/python -c "import sphinx" 2>/dev/null; then
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check sphinx >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    rm -f "$log"
fi
exec .venv/bin/python -m sphinx -W -q -b html docs docs/_build/html "$@"
