"""Private Redis servers for tests, demos and benchmarks.

Each server is a ``redis-server`` of its own, started on a free loopback port
in a temporary directory and stopped with it; nothing here touches a Redis on
6379.  The project's tests, its demo (``python -m demo``), its benchmark and
its load test all start their servers from here, so that none of them needs
the test folder.

- ``servers``: one redis-server (``RedisServer``), and how to find the binary.
- ``cluster``: a three-master Redis Cluster (``LocalCluster``).
- ``sentinel``: a master, replicas and sentinels (``SentinelSetup``).
- ``tls``: throw-away certificates and the files of a TLS server.
- ``sessions``: read and set the session of a WebTest client or of a
  ``DummyRequest`` (``session_of``, ``set_session``, ``attach_session``...),
  re-exported here.
- ``pytest_plugin``: fixtures for applications' own tests (a private
  redis-server, session factories), loaded only when a project asks for them
  (docs/testing.rst); the switch pytest always loads is the top-level
  module ``_pyramid_session_redis_pytest``, which imports none of this.

Nothing but ``pytest_plugin`` imports pytest.
"""

from __future__ import annotations

from .servers import RedisServer, find_redis_server, free_port
from .sessions import (
    attach_session,
    factory_of,
    finish_request,
    read_session,
    session_id_of,
    session_of,
    set_session,
    signed_cookie,
    store_session,
)

__all__ = [
    "RedisServer",
    "attach_session",
    "factory_of",
    "find_redis_server",
    "finish_request",
    "free_port",
    "read_session",
    "session_id_of",
    "session_of",
    "set_session",
    "signed_cookie",
    "store_session",
]
