"""Fixtures: one private redis-server per test run, a clean database per test."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest
import redis

from pyramid_session_redis import session as session_module

from .redis_server import RedisServer

# Commands a client sends to set up a connection or that the tests send themselves.
_SETUP_COMMANDS = {"hello", "client|setinfo", "info", "config|resetstat", "flushall", "ping", "select"}


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
    """Counts the commands Redis executed, from ``INFO commandstats``."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def reset(self) -> None:
        self.client.config_resetstat()

    def counts(self) -> Dict[str, int]:
        stats: Dict[str, Any] = self.client.info("commandstats")
        out = {}
        for name, values in stats.items():
            command = name[len("cmdstat_"):]
            if command not in _SETUP_COMMANDS:
                out[command] = int(values["calls"])
        return out


@pytest.fixture
def commands(redis_client: redis.Redis) -> CommandCounter:
    return CommandCounter(redis_client)


@pytest.fixture
def clock(monkeypatch):
    """Replace the session's clock; ``clock.now`` is the time in seconds."""

    class Clock:
        now = 1_000_000

    monkeypatch.setattr(session_module, "current_time", lambda: Clock.now)
    return Clock
