"""Fixtures: one private redis-server per test run, a clean database per test; the CLI's usual ini file."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import redis

from pyramid_session_redis import session as session_module
from pyramid_session_redis.store import CHECKED_WRITE

from .app import SECRET
from .cli_helpers import PREFIX, write_ini
from .redis_server import RedisServer

# Commands a client sends to set up a connection or that the tests send themselves.
_SETUP_COMMANDS = {"hello", "client|setinfo", "info", "config|resetstat", "flushall", "ping", "select", "monitor"}


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


class CommandCounter:
    """Counts the commands clients sent to Redis, from ``MONITOR``.

    ``INFO commandstats`` would also count what a Lua script runs inside Redis
    (the GET and SET of a checked write); MONITOR marks those as "lua", so the
    counts here are exactly the commands that crossed the network.
    """

    def __init__(self, client: redis.Redis):
        self.client = client
        self._seen: List[str] = []
        self._since = 0
        self._markers = 0
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._monitor: Any = None

    def _start(self) -> None:
        self._monitor = self.client.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for event in self._monitor.listen():
                if event.get("client_type") == "lua":
                    continue
                with self._lock:
                    self._seen.append(event["command"])
        except Exception:  # the connection closed: stopped
            return

    def _mark(self) -> int:
        """Send a marker and wait until MONITOR has shown it: everything before it is in."""
        if self._thread is None:
            self._start()
        self._markers += 1
        marker = f"ECHO psr-marker-{self._markers}"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.client.echo(f"psr-marker-{self._markers}")
            for _ in range(50):
                with self._lock:
                    for i in range(len(self._seen) - 1, -1, -1):
                        if self._seen[i] == marker:
                            return i
                time.sleep(0.002)
        raise RuntimeError("MONITOR did not show the marker")

    def reset(self) -> None:
        self._since = self._mark() + 1

    def counts(self) -> Dict[str, int]:
        end = self._mark()
        out: Dict[str, int] = {}
        with self._lock:
            seen = self._seen[self._since:end]
        for line in seen:
            words = line.split(" ", 2)
            name = words[0].lower()
            if name in ("client", "config") and len(words) > 1:
                name = f"{name}|{words[1].lower()}"
            if name not in _SETUP_COMMANDS and not line.startswith("ECHO psr-marker-"):
                out[name] = out.get(name, 0) + 1
        return out

    def close(self) -> None:
        if self._monitor is not None:
            with contextlib.suppress(Exception):
                self._monitor.connection.disconnect()
            self._monitor = None


@pytest.fixture
def commands(redis_client: redis.Redis) -> Iterator[CommandCounter]:
    # The checked-write script, as a server that has run it once knows it (a
    # test of the first EVALSHA's fallback to EVAL flushes it on purpose).
    redis_client.script_load(CHECKED_WRITE)
    counter = CommandCounter(redis_client)
    yield counter
    counter.close()


@pytest.fixture
def clock(monkeypatch):
    """Replace the session's clock; ``clock.now`` is the time in seconds."""

    class Clock:
        now = 1_000_000

    monkeypatch.setattr(session_module, "current_time", lambda: Clock.now)
    return Clock


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """A three-master Redis Cluster on loopback ports, shared by the modules that ask
    for it (about 2 s to form); tests must leave its nodes running."""
    from .cluster import LocalCluster

    with LocalCluster() as started:
        yield started


@pytest.fixture
def nodes(cluster: Any) -> Iterator[List[redis.Redis]]:
    """A client of each master of ``cluster``, whose keys and command counts are emptied first."""
    clients = cluster.node_clients()
    for client in clients:
        client.flushall()
        client.config_resetstat()
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def ini(tmp_path: Path, redis_server: Any, redis_client: redis.Redis) -> str:
    """The usual ini file: the test Redis, the prefix, the secret (``redis_client`` empties Redis)."""
    return write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET)
