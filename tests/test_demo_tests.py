"""The demo's own tests (demo/tests), which use the package's pytest plugin as a
user's project would, pass when run as their docstring says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyramid_session_redis.testing.servers import find_redis_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server binary")
def test_the_demo_s_own_tests_pass():
    done = subprocess.run([sys.executable, "-m", "pytest", "demo/tests", "-p", "no:cacheprovider"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^5 passed", done.stdout, re.M), done.stdout
