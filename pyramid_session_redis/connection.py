"""Building the Redis client a factory uses.

One client, and so one connection pool, per factory, shared by all requests
and threads.  redis-py connects lazily, so building it needs no server.
"""

from __future__ import annotations

import os
from typing import Any, Dict

import redis

DEFAULT_URL = "redis://localhost:6379/0"
DEFAULT_TIMEOUT = 5.0  # the default of redis_socket_timeout and redis_socket_connect_timeout


def redis_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """The ``redis_*`` options, named as redis-py names them.

    Options left at None are not passed, except the timeouts: for them None
    means "wait forever", and left out, redis-py would apply its own default
    (5 s since redis-py 6).
    """
    out = {
        "host": options["redis_host"],
        "port": options["redis_port"],
        "db": options["redis_db"],
        "password": options["redis_password"],
        "unix_socket_path": options["redis_unix_socket_path"],
        "encoding": options["redis_encoding"],
        "encoding_errors": options["redis_encoding_errors"],
        "connection_pool": options["redis_connection_pool"],
    }
    kept = {k: v for k, v in out.items() if v is not None}
    kept["socket_timeout"] = options["redis_socket_timeout"]
    kept["socket_connect_timeout"] = options["redis_socket_connect_timeout"]
    return kept


def callable_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """What ``redis_client_callable`` receives: the keywords 1.8 passed it.

    Always host, port, db, password, socket_timeout, connection_pool and
    unix_socket_path (None when unset, as 1.8 did); encoding, encoding_errors
    and socket_connect_timeout only when set to something other than their
    default, so that a callable written for 1.8 with a fixed list of
    parameters keeps working.
    """
    out = {
        "host": options["redis_host"] or "localhost",
        "port": options["redis_port"] or 6379,
        "db": options["redis_db"],
        "password": options["redis_password"],
        "socket_timeout": options["redis_socket_timeout"],
        "connection_pool": options["redis_connection_pool"],
        "unix_socket_path": options["redis_unix_socket_path"],
    }
    for name, key, default in (
        ("redis_encoding", "encoding", "utf-8"),
        ("redis_encoding_errors", "encoding_errors", "strict"),
        ("redis_socket_connect_timeout", "socket_connect_timeout", DEFAULT_TIMEOUT),
    ):
        if options[name] != default:
            out[key] = options[name]
    return out


def build_client(options: Dict[str, Any]) -> redis.Redis:
    """A client from ``redis_url``, a pool, or host/port/socket options.

    With no Redis location given at all, ``$REDIS_URL`` is used, then
    ``redis://localhost:6379/0``.
    """
    kwargs = redis_options(options)
    url = options["redis_url"]
    located = url or any(k in kwargs for k in ("host", "port", "unix_socket_path", "connection_pool"))
    if not located:
        url = os.environ.get("REDIS_URL") or DEFAULT_URL
    if url:
        # What the URL says wins over the keyword options (redis-py's rule).
        kwargs.pop("connection_pool", None)
        return redis.Redis.from_url(url, **kwargs)
    return redis.Redis(**kwargs)
