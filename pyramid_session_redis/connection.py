"""Building the Redis client a factory uses.

One client, and so one connection pool, per factory, shared by all requests
and threads.  redis-py connects lazily, so building it needs no server.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, TypeVar, Union

import redis

from .location import location_url as location_url  # (also imported from here by cli.py)
from .location import url_database
from .memory import MemoryStore
from .resolved import DEFAULT_SOCKET_TIMEOUT
from .store import RedisStore

if TYPE_CHECKING:
    from redis.cluster import RedisCluster

# The default of redis_socket_timeout and redis_socket_connect_timeout.
DEFAULT_TIMEOUT = DEFAULT_SOCKET_TIMEOUT


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


_SSL_OPTIONS = ("ca_certs", "certfile", "keyfile", "cert_reqs", "check_hostname")


def tls_options(options: Dict[str, Any], url: Optional[str]) -> Dict[str, Any]:
    """The ``ssl_*`` keywords for redis-py, or {} when the connection is not TLS.

    TLS is on with a rediss:// URL, or with ``redis_ssl`` for host/port,
    Sentinel and Cluster.  TLS settings that would go unused were refused
    with the options (``options._check_location``).
    """
    if not (url.startswith("rediss://") if url else options["redis_ssl"]):
        return {}
    out = {f"ssl_{name}": options[f"redis_ssl_{name}"] for name in _SSL_OPTIONS}
    if out["ssl_cert_reqs"] == "none":
        # No certificate check means no name to check; redis-py before 6.1
        # fails every connection on the pair ("Cannot set verify_mode to CERT_NONE").
        out["ssl_check_hostname"] = False
    if not url:
        out["ssl"] = True  # for a URL, rediss:// itself selects the TLS connection class
    return out


def build_client(options: Dict[str, Any]) -> Union[redis.Redis, RedisCluster]:
    """The shared client: plain Redis, Sentinel's current master, or a Cluster."""
    url = location_url(options)
    kwargs = redis_options(options)
    kwargs.update(tls_options(options, url))
    if options["redis_sentinels"] is not None:
        return _sentinel_master(options, kwargs)
    if options["redis_cluster"]:
        return _cluster(url, kwargs)
    if url:
        # What the URL says wins over the keyword options (redis-py's rule).
        kwargs.pop("connection_pool", None)
        return redis.Redis.from_url(url, **kwargs)
    return redis.Redis(**kwargs)


def _sentinel_master(options: Dict[str, Any], kwargs: Dict[str, Any]) -> redis.Redis:
    """A client whose pool asks the sentinels for the current master on every new connection."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    sentinel_kwargs: Dict[str, Any] = {k: v for k, v in kwargs.items() if k.startswith(("socket_", "ssl"))}
    # One try per sentinel: the next sentinel in the list is the retry.  With
    # redis-py's default (up to 10 retries with backoff, per sentinel), one
    # dead sentinel stalled a request for seconds, a hanging one for eleven
    # socket timeouts, and a wrong sentinel password was tried eleven times.
    sentinel_kwargs["retry"] = Retry(NoBackoff(), 0)
    if options["redis_sentinel_password"] is not None:
        sentinel_kwargs["password"] = options["redis_sentinel_password"]
    sentinel = Sentinel(list(options["redis_sentinels"]), sentinel_kwargs=sentinel_kwargs)
    master: redis.Redis = sentinel.master_for(options["redis_sentinel_master"], **kwargs)
    return master


def _cluster(url: Optional[str], kwargs: Dict[str, Any]) -> RedisCluster:
    from redis.backoff import NoBackoff
    from redis.cluster import RedisCluster
    from redis.retry import Retry

    kwargs.pop("db", None)  # always 0 on a cluster (checked with the options)
    # One retry, after the client has refreshed its map of the cluster (enough
    # to follow a failover).  redis-py's default of 10, each re-reading the map
    # and sleeping on CLUSTERDOWN, made one request wait 55 s for a master that
    # stopped answering, with 5 s timeouts (found by the load test).
    kwargs["retry"] = Retry(NoBackoff(), 1)
    if url:
        return RedisCluster.from_url(url, **kwargs)
    kwargs.setdefault("host", "localhost")
    kwargs.setdefault("port", 6379)
    return RedisCluster(**kwargs)


def build_store(options: Dict[str, Any]) -> Union[RedisStore, MemoryStore]:
    """The factory's store: Redis, or the in-process store of a memory:// URL."""
    url = location_url(options)
    if url and url.startswith("memory:"):
        return MemoryStore.for_url(url, options["prefix"])
    if options["redis_cluster"]:
        # A cluster client asks a node for the slot map as soon as it is built;
        # build it on first use, so that the application starts while Redis is
        # unreachable, as it does with every other kind of client.  What needs no
        # server (TLS files, the URL's database) was checked with the options, so
        # that a wrong setting still stops the application at start-up.
        return RedisStore(prefix=options["prefix"], client_for=_once(lambda: build_client(options)))
    return RedisStore(build_client(options), options["prefix"])


_T = TypeVar("_T")


def _once(build: Callable[[], _T]) -> Callable[[], _T]:
    """``build`` called at most once successfully, even by racing threads; a failure is retried next time."""
    lock = threading.Lock()
    built: List[_T] = []

    def get() -> _T:
        with lock:
            if not built:
                built.append(build())
            return built[0]

    return get


_REGISTRY_ATTR = "_pyramid_session_redis"


def get_default_connection(
    request: Any, url: Any = None, client_class: Any = redis.Redis, **redis_options: Any
) -> Any:
    """Deprecated: the Redis client for ``redis_options``, built once per registry.

    1.8's default connection maker, for ``redis_client_callable`` functions
    that fall back on it.  It takes the keywords such a callable receives
    (``host``, ``port``, ``db``, ``password``, ``socket_timeout``, ...) and,
    optionally, a ``url`` that wins over them; the client is built as the
    ``redis_*`` options would build it and kept on ``request.registry``, so
    that later calls return the same client.  Only ``redis.Redis`` (or its
    alias ``StrictRedis``) can be the ``client_class``.
    """
    client = getattr(request.registry, _REGISTRY_ATTR, None)
    if client is not None:
        return client
    if client_class is not redis.Redis:
        raise TypeError(
            "get_default_connection builds redis.Redis clients only; return your own client "
            "from redis_client_callable instead"
        )
    options = {"redis_" + name: value for name, value in redis_options.items()}
    options["redis_url"] = url
    if url is not None and url_database(url):
        options.pop("redis_db", None)  # a database in the URL wins, as redis-py's from_url lets it
    from .options import validate  # (late: options is the settings' module, connection the client's)

    client = build_client(validate(options, require_signer=False))
    setattr(request.registry, _REGISTRY_ATTR, client)
    return client
