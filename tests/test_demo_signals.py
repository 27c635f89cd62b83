"""``python -m demo`` stops cleanly however it is stopped, and never serves on without its Redis.

Real processes: the demo started as a shell starts a background command (with
SIGINT ignored), a SIGINT sent to its whole process group, and its private
redis-server killed under it.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator, List

import pytest
import redis

from pyramid_session_redis.testing.servers import find_redis_server, free_port

from .test_demo import Server, browser, demo_installed, visits  # noqa: F401  (demo_installed: a fixture)

pytestmark = [
    pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server binary"),
    pytest.mark.usefixtures("demo_installed"),
]


@pytest.fixture
def servers() -> Iterator[List[Server]]:
    """The servers a test starts; whatever is left of them is killed after it."""
    started: List[Server] = []
    yield started
    for server in started:
        server.kill_leftovers()


def environment() -> dict:
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


def private_redis(server: Server) -> redis.Redis:
    found = re.search(r"started a private redis-server at (redis://127\.0\.0\.1:\d+/0)", server.output())
    assert found, server.output()
    return redis.Redis.from_url(found.group(1), socket_connect_timeout=1)


def wait_group_gone(server: Server, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while server.group_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.group_alive(), server.output()


def test_a_demo_started_in_the_background_stops_on_a_group_sigint(servers, tmp_path):
    """`bash scripts/demo.sh &` from a script: bash starts the demo with SIGINT ignored.  A SIGINT
    to the process group (Ctrl-C in the terminal that ran the script) must stop the demo and its
    redis-server together, not the redis-server alone."""
    port = free_port()
    server = Server(["bash", "-c", f"'{sys.executable}' -m demo --port {port} & wait"], tmp_path / "demo.log",
                    environment())
    servers.append(server)
    server.wait_listening(port)
    private = private_redis(server)
    opener = browser()
    assert [visits(opener, port), visits(opener, port)] == [1, 2]

    os.killpg(server.process.pid, signal.SIGINT)

    server.process.wait(timeout=15)  # the shell (a zombie, until reaped, keeps the group alive)
    wait_group_gone(server)  # and the demo, its redis-server
    output = server.output()
    assert "ERROR" not in output and "Traceback" not in output, output
    with pytest.raises(redis.ConnectionError):
        private.ping()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.parametrize("reload", [False, True], ids=["demo", "demo --reload"])
def test_the_demo_says_its_redis_is_gone_and_stops(servers, tmp_path, reload):
    port = free_port()
    command = [sys.executable, "-m", "demo", "--port", str(port), *(["--reload"] if reload else [])]
    server = Server(command, tmp_path / "demo.log", environment())
    servers.append(server)
    server.wait_listening(port)
    private = private_redis(server)
    assert visits(browser(), port) == 1
    redis_pid = int(private.info("server")["process_id"])

    os.kill(redis_pid, signal.SIGKILL)  # as a crash, or the OOM killer, would

    returncode = server.process.wait(timeout=20)
    wait_group_gone(server)
    output = server.output()
    assert returncode == 1, output
    assert re.search(
        r"demo: ERROR: the private redis-server at redis://127\.0\.0\.1:\d+/0 has stopped \(exit status -9\); "
        r"sessions cannot be kept without it, so the demo stops too", output,
    ), output
    assert "Traceback" not in output, output
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)



def test_pages_say_that_redis_is_unreachable(redis_server, redis_client):
    """A returning visitor, whose session the demo can no longer load (its Redis gone: an
    external one, $REDIS_URL or plain pserve), gets a 503 that says so, not a traceback.
    (A new visitor's session is first written after the view, where no exception view
    can answer: that request fails as the library's on_backend_error = raise says.)"""
    from webtest import TestApp

    import demo

    from .test_demo import ini_settings

    alive = TestApp(demo.main({}, **ini_settings(redis_url=redis_server.url)))
    alive.get("/")
    cookie = alive.cookies["session"]
    gone = TestApp(demo.main({}, **ini_settings(redis_url="redis://127.0.0.1:1/0")))
    gone.set_cookie("session", cookie)
    for path in ("/", "/session"):
        page = gone.get(path, status=503)
        assert "The demo cannot reach its Redis" in page.text
        assert "ConnectionError" in page.text and "127.0.0.1:1" in page.text
        assert "Set-Cookie" not in page.headers
