"""Fixtures: one private redis-server per test run, a clean database per test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import redis

from pyramid_session_redis import lifecycle as session_module
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.commands import CommandCounter
from pyramid_session_redis.testing.servers import RedisServer


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
