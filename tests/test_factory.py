"""The session factory (factory.py): what every session is built with, traced
requests, per-request stores of ``redis_client_callable``, and the start-up
warning about unpickling."""

from __future__ import annotations

import logging
import pickle

import pytest
import redis

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.factory import SessionFactory, make_factory
from pyramid_session_redis.memory import MemoryStore
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
    assert isinstance(factory.store, RedisStore) and factory.client is factory.store.client


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


def test_a_traced_request_gets_a_traced_store_and_hooks_that_report_to_the_trace_and_the_user(redis_server):
    invalid = Reports()
    factory = factory_for(redis_server.url, func_invalid_logger=invalid)
    request = make_request("not-a-signed-cookie")
    trace = request.environ[TRACE_KEY] = SessionTrace()
    session = factory(request)
    assert trace.session is session
    assert isinstance(session._store, TracedStore) and session._store.prefix == factory.store.prefix
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
    assert isinstance(first._store, RedisStore) and first._store is not second._store
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
