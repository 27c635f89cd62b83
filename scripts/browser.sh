#!/usr/bin/env bash
# Install what the browser test (tests/test_demo_browser.py) needs, when missing:
# a Chromium (Debian's `chromium` package, with apt-get, when run as root) and
# the `browser` extra (Playwright, which drives that Chromium; Playwright's own
# browser download is never used).  CI runs this before scripts/test.sh.
# What it cannot install, it says so and goes on (exit 0): the test then skips.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ -n "${CHROMIUM_BIN:-}" ] || command -v chromium >/dev/null 2>&1; then
    :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # Without recommends: 26 packages instead of about 115 (no systemd services,
    # avahi, printing); fonts-liberation, one of them, keeps the screenshots'
    # fonts those of the committed ones.
    echo "browser: installing chromium with apt-get" >&2
    start=$SECONDS
    log=$(mktemp)
    if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation) >"$log" 2>&1; then
        echo "browser: chromium installed in $((SECONDS - start)) s" >&2
    else
        tail -n 20 "$log" >&2
        echo "browser: apt-get could not install chromium; the browser test will skip" >&2
    fi
    rm -f "$log"
else
    echo "browser: no chromium on PATH and no apt-get as root to install it; the browser test will skip" \
         "(install Chromium, or set CHROMIUM_BIN to a Chromium or Chrome binary)" >&2
fi

if ! .venv/bin/python -c "import playwright.sync_api" 2>/dev/null; then
    log=$(mktemp)
    if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[browser]' >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        echo "browser: pip could not install the browser extra (Playwright); the browser test will skip" >&2
    fi
    rm -f "$log"
fi
