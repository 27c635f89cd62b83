"""The deprecated 1.8 names: each exists, is thin (an alias or a small adapter
over the 2.0 code) and behaves as 1.8 code expects."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis
from pyramid.config import Configurator
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.testing import DummyRequest

import pyramid_session_redis
from pyramid_session_redis import RedisSessionFactory, util
from pyramid_session_redis.cookies import Signer
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.options import OPTIONS

from .helpers import payload, run

SECRET = "compat18-secret, long enough to be accepted"

# 1.8.1's lists (pyramid_session_redis.util); ours are derived from the option table.
BOOL_1_8 = ("cookie_httponly", "cookie_on_exception", "cookie_secure", "deserialized_fails_new", "detect_changes",
            "invalidate_empty_session", "python_expires", "set_redis_ttl_readheavy", "set_redis_ttl")
DOTABLE_1_8 = ("cookie_signer", "deserialize", "func_check_response_allow_cookies", "func_invalid_logger",
               "id_generator", "redis_client_callable", "serialize")


# -- util and the package-level names ------------------------------------------


def test_configs_lists_are_at_package_level_and_in_util():
    assert pyramid_session_redis.configs_bool is util.configs_bool
    assert pyramid_session_redis.configs_dotable is util.configs_dotable
    assert pyramid_session_redis.get_default_connection is util.get_default_connection


def test_configs_lists_hold_every_1_8_name_and_follow_the_option_table():
    assert set(BOOL_1_8) <= set(util.configs_bool)
    assert set(DOTABLE_1_8) <= set(util.configs_dotable)
    # Every name is an option of the right kind, and every option of that kind is listed.
    bools = {name for name, opt in OPTIONS.items() if opt.kind.name in ("bool", "bool or None")}
    dotted = {name for name, opt in OPTIONS.items() if opt.kind.name in ("callable", "signer")}
    assert set(util.configs_bool) == bools and set(util.configs_dotable) == dotted
    assert {"redis_cluster", "func_conflict_logger"} <= set(util.configs_bool) | set(util.configs_dotable)
    assert set(util.configs_unsupported) == {"cookie_expires", "redis_connection_pool"}
    assert "redis_db" in util.configs_int and "timeout" in util.configs_int_none and "secret" in util.configs_str
    for names in (util.configs_bool, util.configs_dotable, util.configs_int, util.configs_int_none, util.configs_str):
        assert isinstance(names, tuple) and set(names) <= set(OPTIONS)


def test_lazy_create_session_is_what_session_id_is_without_an_id():
    session = RedisSessionFactory(secret=SECRET, redis_url="memory://compat18-lazy")(DummyRequest())
    assert session.session_id is util.LazyCreateSession
    session.ensure_id()
    assert session.session_id is not util.LazyCreateSession


def test_signed_serializer_interface_is_the_signer_protocol():
    assert util.SignedSerializerInterface is Signer


def test_util_is_marked_deprecated():
    assert "Deprecated" in (util.__doc__ or "") and "Deprecated" in (util.get_default_connection.__doc__ or "")


# -- get_default_connection ----------------------------------------------------------


def _request() -> Any:
    """A request with a registry of its own (get_default_connection keeps its client there)."""
    return SimpleNamespace(registry=Registry("compat18"))


def _kwargs(client: Any) -> Any:
    return client.connection_pool.connection_kwargs


def test_get_default_connection_builds_a_client_from_the_callable_keywords_once_per_registry():
    request = _request()
    client = util.get_default_connection(request, host="redis.example", port=6390, db=3, socket_timeout=2.5)
    assert isinstance(client, redis.Redis)
    kw = _kwargs(client)
    assert (kw["host"], kw["port"], kw["db"], kw["socket_timeout"]) == ("redis.example", 6390, 3, 2.5)
    assert util.get_default_connection(request, host="elsewhere") is client  # kept on the registry


def test_get_default_connection_url_wins():
    client = util.get_default_connection(_request(), url="redis://urlhost:6391/5", host="ignored", db=1)
    kw = _kwargs(client)
    assert (kw["host"], kw["port"], kw["db"]) == ("urlhost", 6391, 5)


def test_get_default_connection_checks_like_the_options_and_refuses_other_client_classes():
    with pytest.raises(InvalidSetting):
        util.get_default_connection(_request(), db=-1)
    with pytest.raises(TypeError, match="redis_client_callable"):
        util.get_default_connection(_request(), client_class=type("MyRedis", (redis.Redis,), {}))


def test_get_default_connection_works_as_a_redis_client_callable(redis_server, redis_client):
    app = run(redis_server, lambda s: s.__setitem__("n", 1), redis_client_callable=util.get_default_connection,
              redis_host="127.0.0.1", redis_port=redis_server.port)
    app.get("/v")
    assert payload(redis_client)["m"] == {"n": 1}


# -- the session's 1.8 members -------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda s: s.has_key("a"), lambda s: s.iterkeys(), lambda s: s.itervalues(), lambda s: s.iteritems(),
])
def test_the_1_8_dict_methods_load_the_session(call):
    session = RedisSessionFactory(secret=SECRET, redis_url="memory://compat18-load")(DummyRequest())
    assert not session._loaded
    call(session)
    assert session._loaded


def test_the_1_8_dict_methods_answer_as_1_8_did(redis_server, redis_client):
    app = run(redis_server, lambda s: s.update(a=1, b=[2]))
    app.get("/v")
    reader = run(redis_server, lambda s: (s.has_key("a"), s.has_key("z"), sorted(s.iterkeys()),
                                          s.itervalues(), s.iteritems()))
    reader.cookiejar = app.cookiejar
    assert reader.get("/v").text == "(True, False, ['a', 'b'], [1, [2]], [('a', 1), ('b', [2])])"


@pytest.mark.parametrize("change", [
    lambda s: s.itervalues()[0].append(3), lambda s: s.iteritems()[0][1].append(3),
])
def test_values_handed_out_by_the_1_8_methods_are_watched_for_changes(redis_server, redis_client, change):
    app = run(redis_server, lambda s: s.__setitem__("box", [1]))
    app.get("/v")
    changer = run(redis_server, change)
    changer.cookiejar = app.cookiejar
    changer.get("/v")
    assert payload(redis_client)["m"] == {"box": [1, 3]}


def test_session_redis_is_the_stores_client_and_does_not_load(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    session = factory(Request.blank("/"))
    assert session.redis is factory.client
    assert not session._loaded
    session.redis.set("app-key", "mine")
    assert redis_client.get("app-key") == b"mine"
    with pytest.raises(AttributeError):
        session.redis = None  # type: ignore[misc]
    memory = RedisSessionFactory(secret=SECRET, redis_url="memory://compat18-redis")(DummyRequest())
    assert memory.redis is None


@pytest.mark.parametrize("name", ["has_key", "iterkeys", "itervalues", "iteritems", "redis"])
def test_the_1_8_session_members_are_marked_deprecated(name):
    from pyramid_session_redis.session import RedisSession

    assert "Deprecated" in (getattr(RedisSession, name).__doc__ or "")


# -- includeme writes the resolved dotted names back, as 1.8.1 did ------------------------


def test_includeme_writes_back_resolved_dotted_names_and_leaves_the_rest_as_written():
    import pickle

    settings = {
        "redis.sessions.secret": SECRET,
        "redis.sessions.redis_url": "memory://compat18-include",
        "redis.sessions.serialize": "pickle.dumps",
        "redis.sessions.deserialize": "pickle.loads",
        "redis.sessions.func_invalid_logger": "tests.settings_helpers.log_invalid",
        "redis.sessions.cookie_secure": "true",
        "redis.sessions.timeout": "30",
        "redis.sessions.python_expires": "false",
    }
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    written = config.registry.settings
    from .settings_helpers import log_invalid

    assert written["redis.sessions.serialize"] is pickle.dumps
    assert written["redis.sessions.deserialize"] is pickle.loads
    assert written["redis.sessions.func_invalid_logger"] is log_invalid
    # 1.8.1 coerced the others only for the factory, not in the settings.
    assert written["redis.sessions.cookie_secure"] == "true"
    assert written["redis.sessions.timeout"] == "30"
    assert written["redis.sessions.python_expires"] == "false"
    assert "redis.sessions.id_generator" not in written  # absent keys are not added


def test_session_factory_from_settings_leaves_the_settings_alone():
    settings = {"redis.sessions.secret": SECRET, "redis.sessions.redis_url": "memory://compat18-sffs",
                "redis.sessions.func_invalid_logger": "tests.settings_helpers.log_invalid"}
    pyramid_session_redis.session_factory_from_settings(settings)
    assert settings["redis.sessions.func_invalid_logger"] == "tests.settings_helpers.log_invalid"
