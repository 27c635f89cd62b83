#!/usr/bin/env bash
# Lint: ruff over the repository, then mypy --strict over the package (both
# configured in pyproject.toml).  Sets up what is missing first, and installs
# the pinned linters (the "lint" extra in pyproject.toml) only when they are not
# already there at those versions.  Both always run; the exit status is non-zero
# when either finds something.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# Keep in step with the "lint" extra in pyproject.toml.
if ! .venv/bin/python - <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

wanted = {"ruff": "0.17.6"}
if sys.version_info >= (3, 10):  # the extra's marker: mypy 2.x runs on 3.10+ only
    wanted["mypy"] = "2.4.1"
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
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    .venv/bin/python -m mypy || status=1
else
    # The package supports 3.8, but the pinned mypy does not run there: say so, and fail,
    # rather than pass without type checking.
    echo "lint: mypy 2.4.1 needs Python 3.10+, and .venv has Python $(.venv/bin/python -c 'import platform; print(platform.python_version())');" \
        "make .venv with a newer one (rm -rf .venv; PYTHON=python3.11 bash scripts/lint.sh)" >&2
    status=1
fi
exit "$status"
