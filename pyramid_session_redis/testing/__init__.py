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

Nothing here imports pytest: fixtures are built on these classes elsewhere.
"""

from __future__ import annotations

from .servers import RedisServer, find_redis_server, free_port

__all__ = ["RedisServer", "find_redis_server", "free_port"]
