"""Where the client connects, and how long it may wait: against real servers.

A unix-socket redis-server, a listener that accepts and never answers (to
show that a request fails within the socket timeout instead of hanging), and
the defaults and URL rules of the client that a factory builds.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from pyramid_session_redis import RedisSessionFactory, connection, location
from pyramid_session_redis.connection import DEFAULT_TIMEOUT, tls_options
from pyramid_session_redis.cookies import SessionIdSigner
from pyramid_session_redis.options import parse_settings, validate
from pyramid_session_redis.testing.servers import RedisServer

from .app import SECRET, backend_failure, make_app


def _pool_kwargs(factory):
    return factory.client.connection_pool.connection_kwargs


# -- timeouts: finite by default --------------------------------------------------------


def test_socket_and_connect_timeouts_are_finite_by_default():
    kwargs = _pool_kwargs(RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:1/0"))
    assert kwargs["socket_timeout"] == DEFAULT_TIMEOUT == 5.0
    assert kwargs["socket_connect_timeout"] == 5.0


def test_timeouts_can_be_set_and_turned_off():
    factory = RedisSessionFactory(secret=SECRET, redis_host="127.0.0.1", redis_port=1,
                                  redis_socket_timeout=0.25, redis_socket_connect_timeout=None)
    kwargs = _pool_kwargs(factory)
    assert kwargs["socket_timeout"] == 0.25
    assert kwargs["socket_connect_timeout"] is None  # passed on as None: redis-py 6+ would default to 5 s


def test_ini_connect_timeout_none_and_number():
    assert parse_settings({"redis.sessions.secret": SECRET, "redis.sessions.redis_socket_connect_timeout": "none"})[
        "redis_socket_connect_timeout"] is None
    assert parse_settings({"redis.sessions.secret": SECRET, "redis.sessions.redis_socket_connect_timeout": "1.5"})[
        "redis_socket_connect_timeout"] == 1.5


def test_url_query_timeout_wins_over_the_option():
    factory = RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:1/0?socket_timeout=0.75")
    assert _pool_kwargs(factory)["socket_timeout"] == 0.75


# -- TLS keywords: computed from options that were checked already -------------------------


def test_tls_options_only_computes_the_ssl_keywords():
    """Refusing TLS files without TLS is the options' job (validate), not the client builder's."""
    values = validate({"secret": SECRET, "redis_url": "rediss://127.0.0.1:1/0", "redis_ssl_ca_certs": "/ca.pem"})
    assert tls_options(values, "redis://127.0.0.1:1/0") == {}
    assert tls_options(values, "rediss://127.0.0.1:1/0") == {
        "ssl_ca_certs": "/ca.pem", "ssl_certfile": None, "ssl_keyfile": None,
        "ssl_cert_reqs": "required", "ssl_check_hostname": True,
    }
    host_port = validate({"secret": SECRET, "redis_host": "127.0.0.1", "redis_ssl": True})
    assert tls_options(host_port, None)["ssl"] is True


def test_the_location_url_is_still_importable_from_connection():
    """The CLI imports it from there; it lives in location.py, which the option checks can import without redis."""
    assert connection.location_url is location.location_url


class SilentServer:
    """Accepts TCP connections and never answers: a Redis that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def test_a_hanging_redis_fails_the_request_within_the_socket_timeout(silent_server):
    app = make_app(f"redis://127.0.0.1:{silent_server.port}/0", redis_socket_timeout=0.3)
    app.set_cookie("session", SessionIdSigner(SECRET).dumps("x" * 43).decode())
    assert app.get("/untouched").text == "untouched"  # no command, so no wait at all
    started = time.monotonic()
    with backend_failure(redis.exceptions.TimeoutError):
        app.get("/read")
    assert time.monotonic() - started < 3.0  # 0.3 s per try; redis-py retries a few times at most


# -- the client callable gets what 1.x gave it --------------------------------------------


def test_client_callable_is_not_given_the_new_default_timeouts(redis_server, redis_client):
    received = []

    # The keywords 1.8 always passed, and no others, as a 1.x app may have written it.
    def fixed_signature(request, host, port, db, password, socket_timeout, connection_pool, unix_socket_path):
        received.append((host, port, db, password, socket_timeout, connection_pool, unix_socket_path))
        return redis.Redis.from_url(redis_server.url)

    app = make_app(None, redis_client_callable=fixed_signature, redis_host="127.0.0.1", redis_port=redis_server.port)
    assert app.get("/incr").text == "1"
    assert received == [("127.0.0.1", redis_server.port, 0, None, 5.0, None, None)]


def test_client_callable_is_given_timeouts_that_were_set(redis_server, redis_client):
    received = []

    def client_callable(request, **options):
        received.append(options)
        return redis.Redis.from_url(redis_server.url)

    app = make_app(None, redis_client_callable=client_callable, redis_socket_connect_timeout=1.0,
                   redis_encoding="latin-1")
    app.get("/incr")
    assert received[0]["socket_connect_timeout"] == 1.0
    assert received[0]["encoding"] == "latin-1"
    assert "encoding_errors" not in received[0]
    assert received[0]["host"] == "localhost" and received[0]["port"] == 6379  # 1.8's defaults


# -- unix sockets ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unix_server():
    with RedisServer(unix_socket=True) as server:
        yield server


@pytest.mark.parametrize("how", ["redis_url", "redis_unix_socket_path"])
def test_sessions_over_a_unix_socket(unix_server, how):
    direct = redis.Redis(unix_socket_path=unix_server.socket_path)
    direct.flushall()
    if how == "redis_url":
        app = make_app(f"unix://{unix_server.socket_path}?db=0")
    else:
        app = make_app(None, redis_unix_socket_path=unix_server.socket_path)
    assert app.get("/incr").text == "1"
    assert app.get("/incr").text == "2"
    keys = direct.keys("*")
    assert len(keys) == 1 and direct.ttl(keys[0]) > 0
    assert app.factory.client.connection_pool.connection_kwargs["path"] == unix_server.socket_path


def test_a_cluster_factory_starts_while_redis_is_unreachable_and_connects_on_first_use():
    from redis.exceptions import RedisClusterException

    factory = RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:1/0", redis_cluster=True,
                                  redis_socket_connect_timeout=0.2)
    app = make_app("redis://127.0.0.1:1/0", redis_cluster=True, redis_socket_connect_timeout=0.2)
    assert app.get("/untouched").text == "untouched"  # no session, no Redis
    with backend_failure(RedisClusterException, match="reachable node"):
        app.get("/write")
    with pytest.raises(RedisClusterException):  # not cached: the next request tries again
        factory.client


# -- redis_db: an explicit database beats one that is only a default ------------------------


def _db(redis_server, db):
    # (Not from_url(redis_server.url, db=db): the URL's /0 would win.)
    return redis.Redis(host="127.0.0.1", port=redis_server.port, db=db)


def _db_keys(redis_server, db):
    client = _db(redis_server, db)
    try:
        return client.keys("*")
    finally:
        client.close()


def _sessions_app(**options):
    from webtest import TestApp

    from .app import make_wsgi

    return TestApp(make_wsgi(RedisSessionFactory(**{"secret": SECRET, **options})))


def test_redis_db_beats_the_database_of_redis_url_in_the_environment(redis_server, redis_client, monkeypatch):
    # As 1.8, where redis_db=9 with no location wrote to database 9 (1.8 read no $REDIS_URL).
    _db(redis_server, 9).flushdb()
    monkeypatch.setenv("REDIS_URL", redis_server.url)  # ends in /0
    assert _sessions_app(redis_db=9).get("/incr").text == "1"
    assert len(_db_keys(redis_server, 9)) == 1 and _db_keys(redis_server, 0) == []


def test_redis_db_from_ini_beats_a_db_query_of_redis_url_in_the_environment(redis_server, redis_client, monkeypatch):
    from pyramid_session_redis import session_factory_from_settings

    _db(redis_server, 9).flushdb()
    monkeypatch.setenv("REDIS_URL", redis_server.url + "?db=3")
    factory = session_factory_from_settings({"redis.sessions.secret": SECRET, "redis.sessions.redis_db": "9"})
    assert _pool_kwargs(factory)["db"] == 9
    from webtest import TestApp

    from .app import make_wsgi

    assert TestApp(make_wsgi(factory)).get("/incr").text == "1"
    assert len(_db_keys(redis_server, 9)) == 1 and _db_keys(redis_server, 3) == []


def test_redis_db_beats_the_default_url(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    factory = RedisSessionFactory(secret=SECRET, redis_db=9)  # (nothing connects)
    assert _pool_kwargs(factory)["db"] == 9
    assert (_pool_kwargs(factory)["host"], _pool_kwargs(factory)["port"]) == ("localhost", 6379)


def test_without_redis_db_the_environments_database_applies(redis_server, redis_client, monkeypatch):
    _db(redis_server, 4).flushdb()
    monkeypatch.setenv("REDIS_URL", redis_server.url.rsplit("/", 1)[0] + "/4")
    assert _sessions_app().get("/incr").text == "1"
    assert len(_db_keys(redis_server, 4)) == 1 and _db_keys(redis_server, 0) == []


def test_redis_db_applies_to_a_redis_url_that_names_no_database(redis_server, redis_client):
    _db(redis_server, 9).flushdb()
    app = _sessions_app(redis_url=redis_server.url.rsplit("/", 1)[0], redis_db=9)
    assert app.get("/incr").text == "1"
    assert len(_db_keys(redis_server, 9)) == 1 and _db_keys(redis_server, 0) == []


def test_redis_db_equal_to_the_database_of_redis_url_is_accepted(redis_server, redis_client):
    _db(redis_server, 9).flushdb()
    app = _sessions_app(redis_url=redis_server.url.rsplit("/", 1)[0] + "/9", redis_db=9)
    assert app.get("/incr").text == "1"
    assert len(_db_keys(redis_server, 9)) == 1
