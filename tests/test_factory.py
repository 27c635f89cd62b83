"""The session factory (factory.py): what every session is built with, traced
requests, per-request stores of ``redis_client_callable``, and the start-up
warning about unpickling."""

from __future__ import annotations

import logging
import pickle

import pytest
import redis

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.breaker import GuardedStore, unguarded
from pyramid_session_redis.connection import build_store
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.factory import SessionFactory, make_factory
from pyramid_session_redis.memory import MemoryStore
from pyramid_session_redis.options import validate
from pyramid_session_redis.session import RedisSession
from pyramid_session_redis.store import RedisStore
from pyramid_session_redis.trace import TRACE_KEY, SessionTrace, TracedStore

from .app import SECRET
from .helpers import Reports, factory_for, make_request, signed


def test_every_session_gets_the_factorys_one_settings_store_and_hooks(redis_server):
    factory = factory_for(redis_server.url)
    first, second = factory(make_request()), factory(make_request())
    assert isinstance(first, RedisSession) and first is not second
    for session in (first, second):
        assert session._settings is factory.settings
        assert session._store is factory.store
        assert session._hooks is factory.hooks
    # Redis commands go through the factory's circuit breaker (backend_cooldown).
    assert isinstance(factory.store, GuardedStore) and factory.store.breaker is factory.breaker
    assert isinstance(factory.store.inner, RedisStore) and factory.client is factory.store.inner.client


def test_the_settings_and_hooks_are_those_the_options_ask_for(redis_server):
    invalid = Reports()
    factory = factory_for(redis_server.url, timeout=300, prefix="p:", func_invalid_logger=invalid)
    assert factory.settings.rules.timeout == 300 and factory.store.prefix == "p:"
    assert factory.hooks.invalid is invalid and factory.hooks.decided is None


def test_a_session_is_lazy_building_it_sends_nothing(redis_server, redis_client, commands):
    factory = factory_for(redis_server.url)
    redis_client.set("abc", b'{"m":{},"c":1,"v":1}')
    commands.reset()
    session = factory(make_request(signed(factory, "abc")))
    assert commands.counts() == {}
    assert not session._loaded


def test_a_memory_url_gives_a_memory_store_and_no_client():
    factory = factory_for("memory://factory-test")
    assert isinstance(factory.store, MemoryStore) and factory.client is None
    assert factory.breaker is None  # nothing in process can stall


def test_a_redis_store_has_a_circuit_breaker_by_default_and_backend_cooldown_0_has_none(redis_server):
    factory = factory_for(redis_server.url)
    assert factory.breaker is not None and factory.breaker.cooldown == 5.0 and factory.breaker.state == "closed"
    assert factory_for(redis_server.url, backend_cooldown=0.5).breaker.cooldown == 0.5
    plain = factory_for(redis_server.url, backend_cooldown=0)
    assert plain.breaker is None and isinstance(plain.store, RedisStore)
    # Each factory has its own breaker: one failing Redis does not stop another's sessions.
    assert factory_for(redis_server.url).breaker is not factory.breaker


def test_the_operators_cli_does_not_go_through_the_breaker(redis_server):
    # pyramid-session-redis (stats, show, purge) talks to Redis with the store and
    # keyspace of its own, which the breaker does not wrap: an operator's command
    # always tries Redis.
    from pyramid_session_redis.cli.target import open_keyspace
    from pyramid_session_redis.keyspace import Keyspace

    keys = open_keyspace(validate({"redis_url": redis_server.url}, require_signer=False))
    assert isinstance(keys, Keyspace) and not isinstance(keys, GuardedStore)
    assert isinstance(build_store(validate({"redis_url": redis_server.url}, require_signer=False)), RedisStore)


def test_a_traced_request_gets_a_traced_store_and_hooks_that_report_to_the_trace_and_the_user(redis_server):
    invalid = Reports()
    factory = factory_for(redis_server.url, func_invalid_logger=invalid)
    request = make_request("not-a-signed-cookie")
    trace = request.environ[TRACE_KEY] = SessionTrace()
    session = factory(request)
    assert trace.session is session
    # Traced beneath the breaker: a command the breaker keeps back is not shown as sent.
    assert isinstance(session._store, GuardedStore) and session._store.breaker is factory.breaker
    assert isinstance(unguarded(session._store), TracedStore) and session._store.prefix == factory.store.prefix
    assert trace.breaker is factory.breaker
    assert session._settings is factory.settings
    assert session._hooks is not factory.hooks and session._hooks.decided == trace.settled
    assert len(session) == 0  # loads: the cookie is bad
    assert len(trace.reports) == 1 and list(invalid) == trace.reports
    # an untraced request of the same factory is untouched
    assert factory(make_request())._store is factory.store


def test_redis_client_callable_builds_a_store_per_request_with_the_request_and_the_options(redis_server):
    calls = []

    def client_callable(request, **options):
        calls.append((request, options))
        return redis.Redis.from_url(redis_server.url)

    factory = factory_for(redis_server.url, redis_client_callable=client_callable, redis_socket_timeout=2,
                          prefix="cb:")
    assert factory.store is None and factory.client is None
    first_request, second_request = make_request(), make_request()
    first, second = factory(first_request), factory(second_request)
    assert calls == []  # the client is asked for only when the session needs Redis
    # A store per request, all behind the factory's one breaker.
    assert isinstance(first._store, GuardedStore) and first._store.breaker is second._store.breaker is factory.breaker
    assert isinstance(first._store.inner, RedisStore) and first._store.inner is not second._store.inner
    assert first._store.prefix == "cb:"
    first._store.save("abc", b"x", None)
    first._store.load("abc")
    second._store.load("abc")
    assert [request for request, _ in calls] == [first_request, second_request]  # once per request
    options = calls[0][1]
    assert options["socket_timeout"] == 2.0
    assert {"host", "port", "db", "password", "connection_pool", "unix_socket_path"} <= set(options)


@pytest.mark.parametrize("options, reason", [
    ({"serializer": "pickle"}, "(pickle serializer)"),
    ({"pickle_migration": True}, "(pickle_migration)"),
])
def test_the_factory_warns_at_start_up_when_sessions_are_unpickled(caplog, options, reason):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        factory_for("redis://127.0.0.1:1/0", **options)
    (record,) = caplog.records
    assert "are unpickled " + reason in record.getMessage()
    assert ("turn pickle_migration off" in record.getMessage()) is ("pickle_migration" in options)


def test_custom_pickle_callables_warn_too(caplog):
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:1/0", serialize=pickle.dumps,
                            deserialize=pickle.loads)
    assert "are unpickled" in caplog.text


@pytest.mark.parametrize("options", [{}, {"serializer": "json"}, {"serializer": "msgpack"}, {"serializer": "orjson"},
                                     {"serializer": "msgspec"}])
def test_the_factory_warns_nothing_when_nothing_is_unpickled(caplog, options):
    with caplog.at_level(logging.DEBUG, "pyramid_session_redis"):
        factory_for("redis://127.0.0.1:1/0", **options)
    assert caplog.records == []


def test_make_factory_validates_and_names_a_bad_option_as_shown(redis_server):
    factory = make_factory({"secret": SECRET, "redis_url": redis_server.url})
    assert isinstance(factory, SessionFactory) and factory.options["secret"] == SECRET
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.timeout"):
        make_factory({"secret": SECRET, "timeout": "soon"}, lambda name: f"redis.sessions.{name}")
