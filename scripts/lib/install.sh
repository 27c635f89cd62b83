# Sourced by the scripts (not run on its own): install_once, pip install that
# is skipped when nothing it depends on changed.
#
# install_once VENV PIP_ARGS...  runs `VENV/bin/python -m pip install -q PIP_ARGS`
# (its output shown only on failure), unless VENV holds a stamp saying that the
# same arguments were installed from the same packaging files (setup.py,
# pyproject.toml, setup.cfg, demo/pyproject.toml) of this checkout, and every
# `-e DIR` of the arguments is still installed there, editable, from DIR.
# A second run of a script thus goes straight to its work (pip alone takes
# about 8 s, even with nothing to do).  `rm VENV/.psr-install-*` forces a new
# install; so does any change to a packaging file.

_install_key() {
    # One line: the checkout, the arguments and the packaging files' content.
    local venv=$1 file
    shift
    {
        pwd
        printf '%s\n' "$@"
        for file in setup.py pyproject.toml setup.cfg demo/pyproject.toml; do
            if [ -f "$file" ]; then
                echo "== $file"
                cat "$file"
            fi
        done
    } | "$venv"/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'
}

_editable_dirs_installed() {
    # Every `-e DIR` among the arguments (DIR may carry [extras]) is installed editable from DIR.
    local venv=$1
    shift
    "$venv"/bin/python - "$@" <<'PY'
import json
import os
import sys
from importlib.metadata import distributions

wanted, args = set(), sys.argv[1:]
for i, arg in enumerate(args):
    if arg in ("-e", "--editable") and i + 1 < len(args):
        wanted.add(os.path.abspath(args[i + 1].split("[", 1)[0]))
found = set()
for dist in distributions():
    text = dist.read_text("direct_url.json")
    if not text:
        continue
    info = json.loads(text)
    url = info.get("url", "")
    if info.get("dir_info", {}).get("editable") and url.startswith("file://"):
        found.add(os.path.abspath(url[len("file://"):]))
sys.exit(0 if wanted <= found else 1)
PY
}

install_once() {
    local venv=$1 key stamp log
    shift
    key=$(_install_key "$venv" "$@")
    stamp="$venv/.psr-install-$(printf '%s\n' "$@" | cksum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$key" ] && _editable_dirs_installed "$venv" "$@"; then
        return 0
    fi
    log=$(mktemp)
    if ! "$venv"/bin/python -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log" "$stamp"
        return 1
    fi
    rm -f "$log"
    echo "$key" >"$stamp"
}
