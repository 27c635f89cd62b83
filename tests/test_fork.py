"""A factory built before a fork keeps working on both sides of it.

Prefork servers (gunicorn, uWSGI without lazy-apps, mod_wsgi daemons) load
the app, and so build the session factory, in a master process and then
fork the workers.  If the master has used the factory, its connection pool
holds an open socket; a worker that wrote to that same socket would mix
its replies with the master's.  The child here must open its own
connection, both processes must be able to serve requests at the same
time, and each must see the other's sessions in Redis.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from typing import Any, Dict

import pytest
from webtest import TestApp

from .app import make_app

CHILD_DEADLINE = 20  # seconds; the child is killed by SIGALRM after this, the parent stops waiting
ROUNDS = 50

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def _client_ids(redis_client) -> set:
    return {int(line["id"]) for line in redis_client.client_list()}


def _child(app: TestApp, write_fd: int) -> None:
    """Runs in the forked child; never returns (os._exit), so pytest does not run twice."""
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(CHILD_DEADLINE)  # a stuck child dies instead of lingering
    report: Dict[str, Any] = {"ok": False}
    try:
        report["saw_parent"] = app.get("/read", {"key": "from"}).text
        own = TestApp(app.app)  # a new visitor, served by the child
        report["counts"] = [int(own.get("/incr").text) for _ in range(ROUNDS)]
        own.get("/write", {"key": "from", "value": "child"})
        report["cookie"] = own.cookies["session"]
        client = app.factory.client
        report["client_id"] = client.client_id()
        report["pool_pid"] = client.connection_pool.pid
        report["pid"] = os.getpid()
        client.close()  # a worker that exits cleanly disconnects its pool
        report["ok"] = True
    except BaseException as exc:  # anything at all goes back to the parent
        report["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        try:
            os.write(write_fd, json.dumps(report).encode())
        finally:
            os._exit(0)


def _read_report(read_fd: int, pid: int) -> Dict[str, Any]:
    """The child's JSON, waiting at most CHILD_DEADLINE; the child is reaped in any case."""
    chunks = []
    deadline = time.monotonic() + CHILD_DEADLINE
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                pytest.fail("the forked child did not report in time")
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.5)
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"{}")


def test_a_forked_child_serves_sessions_through_the_parents_factory(redis_server, redis_client):
    app = make_app(redis_server.url)
    app.get("/write", {"key": "from", "value": "parent"})
    assert app.get("/incr").text == "1"
    client = app.factory.client
    parent_id = client.client_id()
    assert parent_id in _client_ids(redis_client)  # an open connection goes into the fork

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - coverage is not collected in the child
        os.close(read_fd)
        _child(app, write_fd)
    os.close(write_fd)

    # The parent goes on serving its visitor while the child serves its own.
    try:
        parent_counts = [int(app.get("/incr").text) for _ in range(ROUNDS)]
    finally:  # reap the child even when the parent's requests fail
        report = _read_report(read_fd, pid)

    assert report["ok"], report.get("error")
    assert report["saw_parent"] == "'parent'"  # the child reads sessions the parent wrote
    assert report["counts"] == list(range(1, ROUNDS + 1))  # no reply went to the wrong process
    assert parent_counts == list(range(2, ROUNDS + 2))
    assert report["pool_pid"] == report["pid"] != os.getpid()  # redis-py reset the pool in the child
    assert report["client_id"] != parent_id  # the child opened its own connection

    # The parent's connection outlived the child, its clean disconnect and its exit.
    assert client.client_id() == parent_id
    assert parent_id in _client_ids(redis_client)
    assert app.get("/read", {"key": "from"}).text == "'parent'"

    # What the child wrote is in Redis for the parent (and any other worker) to read.
    visitor = TestApp(app.app)
    visitor.set_cookie("session", report["cookie"])
    assert visitor.get("/read", {"key": "from"}).text == "'child'"
    assert visitor.get("/incr").text == str(ROUNDS + 1)
