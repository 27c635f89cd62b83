"""The helpers that read and set an application's sessions from its tests
(``pyramid_session_redis.testing.sessions``): through a WebTest client and
through ``pyramid.testing.DummyRequest``, on Redis and on memory://."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

import pytest
import redis
from pyramid.config import Configurator
from pyramid.request import Request
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory
from pyramid.testing import DummyRequest
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import InvalidSession_PayloadLegacy
from pyramid_session_redis.testing import (
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

from .app import SECRET, make_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["redis", "memory"])
def url(request, redis_server, redis_client):
    """Each test runs on the test Redis and on a memory:// store."""
    if request.param == "redis":
        return redis_server.url
    name = f"memory://{request.node.name}"
    from pyramid_session_redis.memory import memory_data

    memory_data(name).clear()
    return name


# -- a WebTest client ----------------------------------------------------------


def test_session_of_is_what_the_app_stored_and_empty_before(url):
    app = make_app(url)
    assert session_of(app) == {} and session_id_of(app) is None
    app.get("/write?key=user&value=alice")
    app.get("/incr")
    assert session_of(app) == {"user": "alice", "n": 1}
    assert session_id_of(app) == app.factory.settings.cookies.verify_value(app.cookies["session"])[0]


def test_session_of_an_ended_session_or_a_forged_cookie_is_empty(url):
    app = make_app(url)
    app.get("/write?key=user&value=alice")
    app.get("/invalidate")
    assert session_of(app) == {} and session_id_of(app) is None  # the cookie was deleted
    app.set_cookie("session", "forged")
    assert session_of(app) == {} and session_id_of(app) is None


def test_set_session_gives_the_client_a_session_the_app_reads(url):
    app = make_app(url)
    session_id = set_session(app, {"user": "alice", "cart": ["apple"]})
    assert app.get("/peek").text == repr({"user": "alice", "cart": ["apple"]})
    assert session_id_of(app) == session_id and session_of(app) == {"user": "alice", "cart": ["apple"]}


def test_set_session_replaces_the_session_cookie_the_app_set(url):
    app = make_app(url)
    app.get("/write?key=user&value=mallory")
    old = session_id_of(app)
    new = set_session(app, {"user": "alice"})
    assert new != old and [c.name for c in app.cookiejar] == ["session"]
    assert app.get("/read?key=user").text == "'alice'"
    assert read_session(app.factory, old) == {"user": "mallory"}  # left in the store, as a browser's would be


def test_set_session_with_an_empty_dict_stores_an_empty_session(url):
    app = make_app(url)
    session_id = set_session(app, {})
    assert read_session(app.factory, session_id) == {}
    assert app.get("/touch").text == "0"


def test_the_helpers_follow_the_factory_s_cookie_name_and_prefix(url):
    app = make_app(url, cookie_name="sid", prefix="app:")
    set_session(app, {"a": 1})
    assert list(app.cookies) == ["sid"]
    assert app.get("/read?key=a").text == "1" and session_of(app) == {"a": 1}


def test_a_custom_signer_that_returns_str_is_used(redis_server, redis_client):
    class Plain:
        def dumps(self, session_id: str) -> str:
            return "id-" + session_id

        def loads(self, signed: bytes) -> str:
            if not signed.startswith(b"id-"):
                raise ValueError("not ours")
            return signed[3:].decode()

    app = make_app(redis_server.url, secret=None, cookie_signer=Plain())
    session_id = set_session(app, {"a": 1})
    assert signed_cookie(app.factory, session_id) == f"id-{session_id}"
    assert app.cookies["session"] == f'"id-{session_id}"'  # (WebTest's set_cookie() quotes every value)
    assert app.get("/read?key=a").text == "1"
    assert session_id_of(app) == session_id and session_of(app) == {"a": 1}


# -- finding the factory ------------------------------------------------------------


def _wsgi(factory: Any = None) -> Any:
    config = Configurator()
    if factory is not None:
        config.set_session_factory(factory)
    return config.make_wsgi_app()


def test_the_factory_is_found_in_the_app_s_registry(redis_server):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    assert factory_of(TestApp(_wsgi(factory))) is factory


def test_an_app_wrapped_in_middleware_needs_the_factory_given(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    inner = _wsgi(factory)
    app = TestApp(lambda environ, start_response: inner(environ, start_response))
    with pytest.raises(TypeError, match=r"cannot find a Pyramid registry on function .*pass the session factory"):
        session_of(app)
    set_session(app, {"a": 1}, factory=factory)
    assert session_of(app, factory=factory) == {"a": 1}


@pytest.mark.parametrize("factory, found", [
    (None, "no session factory"),
    (SignedCookieSessionFactory("x"), "the session factory <"),
], ids=["none", "pyramid's own"])
def test_an_app_without_our_factory_is_told_so(factory, found):
    with pytest.raises(TypeError, match=f"the application has {found}.*not one of pyramid_session_redis"):
        session_of(TestApp(_wsgi(factory)))


# -- the building blocks -------------------------------------------------------------


def test_store_and_read_a_session_without_touching_its_ttl(redis_server, redis_client):
    reports: List[Exception] = []
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url,
                                  func_invalid_logger=lambda request, exc: reports.append(exc))
    session_id = store_session(factory, {"a": [1, 2]})
    assert redis_client.ttl(session_id) == 1200
    redis_client.expire(session_id, 30)
    assert read_session(factory, session_id) == {"a": [1, 2]}
    assert redis_client.ttl(session_id) <= 30  # a GET, not a GETEX: the TTL is left alone
    assert json.loads(redis_client.get(session_id))["m"] == {"a": [1, 2]}
    assert read_session(factory, "no-such-session") is None
    assert reports == []  # the hooks are not told of the helper's own sessions


def test_a_session_past_the_expiry_in_its_payload_reads_as_none(redis_server, redis_client, clock):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url, python_expires=True, timeout=60)
    session_id = store_session(factory, {"a": 1})
    clock.now += 59
    assert read_session(factory, session_id) == {"a": 1}
    clock.now += 1
    assert redis_client.exists(session_id) and read_session(factory, session_id) is None


def test_a_factory_with_a_client_callable_is_read_through_it(redis_server, redis_client):
    calls: List[Any] = []

    def client(request, **options):
        calls.append(request)
        return redis.Redis.from_url(redis_server.url)

    factory = RedisSessionFactory(secret=SECRET, redis_client_callable=client)
    session_id = store_session(factory, {"a": 1})
    assert read_session(factory, session_id) == {"a": 1} and len(calls) == 2


def test_an_undecodable_payload_raises_rather_than_reads_as_empty(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    redis_client.set("broken", b"{not json")
    with pytest.raises(ValueError, match="Expecting property name"):
        read_session(factory, "broken")
    redis_client.set("foreign", b'{"v": 99}')
    with pytest.raises(InvalidSession_PayloadLegacy, match="unknown payload version 99"):
        read_session(factory, "foreign")


# -- pyramid.testing.DummyRequest ------------------------------------------------------


def test_a_dummy_request_of_a_new_visitor_gets_a_cookie_and_a_stored_session(url):
    factory = RedisSessionFactory(secret=SECRET, redis_url=url)
    request = DummyRequest()
    session = attach_session(request, factory)
    assert request.session is session and session.new
    request.session["user"] = "alice"
    response = finish_request(request)
    cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    session_id = factory.settings.cookies.verify_value(cookie)[0]
    assert session_id == session.session_id and read_session(factory, session_id) == {"user": "alice"}


def test_a_dummy_request_with_data_is_a_returning_visitor(url):
    factory = RedisSessionFactory(secret=SECRET, redis_url=url)
    request = DummyRequest()
    session = attach_session(request, factory, {"cart": ["apple"]})
    assert not session.new and session["cart"] == ["apple"]
    session["cart"].append("pear")  # changed in place: detected at the end
    response = finish_request(request, Response("page"))
    assert response.text == "page" and "Set-Cookie" not in response.headers
    assert read_session(factory, session.session_id) == {"cart": ["apple", "pear"]}


def test_a_real_request_can_be_given_a_session_too(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    request = Request.blank("/")
    session = attach_session(request, factory, {"a": 1})
    assert session["a"] == 1 and request.cookies["session"] == signed_cookie(factory, session.session_id)


def test_the_helpers_import_without_pytest_and_webtest():
    code = (
        "import sys; sys.modules['pytest'] = None; sys.modules['webtest'] = None\n"
        "from pyramid_session_redis.testing import session_of, set_session, attach_session\n"
        "print(session_of.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout == "pyramid_session_redis.testing.sessions\n"
