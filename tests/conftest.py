"""Fixtures: one private redis-server per test run, a clean database per test; the CLI's usual ini file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, List

import pytest
import redis

from pyramid_session_redis import lifecycle as session_module
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.commands import CommandCounter
from pyramid_session_redis.testing.servers import RedisServer

from .app import SECRET
from .cli_helpers import PREFIX, write_ini


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
    from pyramid_session_redis.testing.cluster import LocalCluster

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
