#!/usr/bin/env bash
# Lint: ruff over the repository, then mypy --strict over the package (both
# configured in pyproject.toml).  Sets up what is missing first, and installs
# the pinned linters (the "lint" extra of setup.py) only when they are not
# already there at those versions.  Both always run; the exit status is non-zero
# when either finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Keep in step with the "lint" extra in setup.py.
if ! .venv/bin/python - <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

wanted = {"mypy": "2.4.1", "ruff": "0.17.6"}
try:
    sys.exit(any(version(name) != pinned for name, pinned in wanted.items()))
except PackageNotFoundError:
    sys.exit(1)
EOF
then
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[lint]' >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
fi

status=0
echo "== ruff check ."
.venv/bin/python -m ruff check . || status=1
echo "== mypy (strict) pyramid_session_redis"
.venv/bin/python -m mypy || status=1
exit "$status"
