"""Bounds on what goes in: payload size on the way to Redis, cookie size on the way in."""

from __future__ import annotations

import json
import logging

import pytest
from pyramid.config import Configurator
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.cookies import MAX_COOKIE_LENGTH
from pyramid_session_redis.exceptions import (
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    SessionPayloadError,
    SessionPayloadTooLarge,
)

from .app import SECRET, make_app
from .helpers import Reports


def big(request):
    request.session["blob"] = "x" * int(request.params["n"])
    if request.params.get("now"):
        request.session.do_persist()
    return Response("stored")


def expose(request):
    return Response(str(len(request.session["blob"])))


VIEWS = {"big": big, "expose": expose}


def test_a_payload_over_the_limit_is_refused_and_redis_keeps_the_old_one(redis_server, redis_client, caplog):
    reports = Reports()
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000, func_payload_error_logger=reports)
    app.get("/big?n=100")
    (key,) = redis_client.keys("*")
    before = redis_client.get(key)
    with caplog.at_level(logging.ERROR, "pyramid_session_redis"):
        response = app.get("/big?n=5000")
    # At the end of the request no view can catch it: the page stands, the hook is told, a line is logged.
    assert response.status_int == 200 and response.text == "stored"
    (exc,) = reports
    assert isinstance(exc, SessionPayloadTooLarge) and exc.limit == 1000 and exc.size > 5000
    assert "max_payload_bytes = 1000" in str(exc) and "not stored" in str(exc)
    (line,) = caplog.messages
    assert line.startswith("pyramid_session_redis: the session was not stored at the end of the request")
    assert "max_payload_bytes = 1000" in line and "\n" not in line
    assert redis_client.get(key) == before  # never silently stored, never half-stored
    assert app.get("/expose").text == "100"


def test_do_persist_raises_in_the_view_where_the_application_can_handle_it(redis_server, redis_client):
    reports = Reports()
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000, func_payload_error_logger=reports)
    with pytest.raises(SessionPayloadTooLarge):
        app.get("/big?n=5000&now=1")
    assert redis_client.dbsize() == 0
    # Reported when raised too, so that the hook counts every one (as the
    # backend-error hook does).  (No cookie went out: nothing more to store.)
    assert [type(exc) for exc in reports] == [SessionPayloadTooLarge]


def caught_by_the_view(request):
    """do_persist() raises; the view handles it, and may put things right."""
    request.session["blob"] = "x" * int(request.params["n"])
    try:
        request.session.do_persist()
    except SessionPayloadTooLarge:
        if request.params.get("fix"):
            request.session["blob"] = "too large, dropped"
        return Response("handled")
    return Response("stored")


def test_caught_by_the_view_it_is_not_raised_again_at_the_end_of_the_request(redis_server, redis_client):
    reports = Reports()
    app = make_app(redis_server.url, views={**VIEWS, "caught": caught_by_the_view}, max_payload_bytes=1000,
                   func_payload_error_logger=reports)
    app.get("/big?n=10")
    (key,) = redis_client.keys("*")
    before = redis_client.get(key)
    response = app.get("/caught?n=5000")  # (it used to raise again from the finished callback: a bare 500)
    assert response.status_int == 200 and response.text == "handled"
    assert len(reports) == 2 and redis_client.get(key) == before
    # A view that puts the session right gets it stored at the end of the request.
    assert app.get("/caught?n=5000&fix=1").text == "handled"
    assert app.get("/expose").text == str(len("too large, dropped"))


def test_a_new_session_over_the_limit_stores_nothing(redis_server, redis_client):
    reports = Reports()
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000, func_payload_error_logger=reports)
    assert app.get("/big?n=5000").status_int == 200
    assert redis_client.dbsize() == 0 and [type(exc) for exc in reports] == [SessionPayloadTooLarge]


def test_the_default_limit_is_one_mebibyte(redis_server, redis_client):
    reports = Reports()
    app = make_app(redis_server.url, views=VIEWS, func_payload_error_logger=reports)
    assert app.factory.settings.max_payload_bytes == 1024 * 1024
    app.get("/big?n=1000000")  # a 1 MB session is allowed
    assert reports == []
    app.get(f"/big?n={1024 * 1024}")
    assert [type(exc) for exc in reports] == [SessionPayloadTooLarge]


def test_none_turns_the_limit_off(redis_server, redis_client):
    factory_app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=None)
    factory_app.get("/big?n=2000000")
    (key,) = redis_client.keys("*")
    assert len(json.loads(redis_client.get(key))["m"]["blob"]) == 2_000_000
    assert factory_app.get("/expose").text == "2000000"  # and read back: no read limit either


def test_a_stored_payload_over_the_limit_is_not_decoded_but_replaced_and_deleted(redis_server, redis_client, commands):
    # 20 MB planted in Redis took 287 ms to decode, on every request that sent its cookie.
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=None)
    app.get("/big?n=5000")
    (key,) = redis_client.keys("*")
    seen = Reports()
    lowered = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000, func_invalid_logger=seen)
    lowered.set_cookie("session", app.cookies["session"])
    commands.reset()
    response = lowered.get("/read?key=blob")
    assert response.text == "None"
    assert [type(exc) for exc in seen] == [InvalidSession_DeserializationError]
    assert "more than max_payload_bytes = 1000" in str(seen[0])
    assert commands.counts() == {"getex": 1, "del": 1}  # not kept alive by the read: deleted
    assert redis_client.exists(key) == 0
    assert "Max-Age=0" in response.headers["Set-Cookie"]  # and the cookie that led to it goes


# -- values the serializer cannot encode --------------------------------------------


def _deep(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


UNENCODABLE = {
    "set": lambda: {1, 2},
    "surrogate": lambda: "\ud800",
    "deep": lambda: _deep(100_000),  # too deep for json on every CPython (3.13 writes 5,000 levels)
}


def store_unencodable(request):
    request.session["ok"] = "kept?"
    request.session["bad"] = UNENCODABLE[request.params["what"]]()
    if request.params.get("now"):
        request.session.do_persist()
    return Response("done")


@pytest.mark.parametrize("what", sorted(UNENCODABLE))
def test_a_value_that_cannot_be_encoded_is_no_500_at_the_end_of_the_request(redis_server, redis_client, what, caplog):
    reports = Reports()
    app = make_app(redis_server.url, views={**VIEWS, "bad": store_unencodable}, func_payload_error_logger=reports)
    app.get("/big?n=10")
    (key,) = redis_client.keys("*")
    before = redis_client.get(key)
    with caplog.at_level(logging.ERROR, "pyramid_session_redis"):
        response = app.get(f"/bad?what={what}")
    assert response.status_int == 200 and response.text == "done"
    (exc,) = reports
    assert type(exc) is SessionPayloadError and "cannot be stored as JSON" in str(exc)
    assert "the session was not stored at the end of the request" in caplog.text
    assert redis_client.get(key) == before


@pytest.mark.parametrize("what", sorted(UNENCODABLE))
def test_a_value_that_cannot_be_encoded_is_one_typed_error_from_do_persist(redis_server, redis_client, what):
    def handled(exc, request):
        return Response(f"handled {type(exc).__name__}", status=400)

    reports = Reports()
    config = Configurator()
    config.set_session_factory(RedisSessionFactory(secret=SECRET, redis_url=redis_server.url,
                                                   func_payload_error_logger=reports))
    config.add_route("bad", "/bad")
    config.add_view(store_unencodable, route_name="bad")
    config.add_view(handled, context=SessionPayloadError)  # what a site adds to render it
    app = TestApp(config.make_wsgi_app())
    response = app.get(f"/bad?what={what}&now=1", expect_errors=True)
    assert response.status_int == 400 and response.text == "handled SessionPayloadError"
    assert redis_client.dbsize() == 0
    assert [type(exc) for exc in reports] == [SessionPayloadError] * 2  # do_persist(), then the end of the request


def test_limit_from_ini(redis_server):
    factory = session_factory_from_settings({
        "redis.sessions.secret": SECRET, "redis.sessions.redis_url": redis_server.url,
        "redis.sessions.max_payload_bytes": "4096"})
    assert factory.settings.max_payload_bytes == 4096
    factory = session_factory_from_settings({
        "redis.sessions.secret": SECRET, "redis.sessions.redis_url": redis_server.url,
        "redis.sessions.max_payload_bytes": "none"})
    assert factory.settings.max_payload_bytes is None


def test_an_oversized_cookie_is_refused_before_any_redis_command(redis_server, redis_client, commands):
    seen = []
    app = make_app(redis_server.url, func_invalid_logger=lambda request, exc: seen.append(type(exc)))
    app.set_cookie("session", "A" * (MAX_COOKIE_LENGTH + 1))
    commands.reset()
    assert app.get("/read?key=k").text == "None"
    assert commands.counts() == {}
    assert seen == [InvalidSession_BadCookie]


def test_without_a_payload_hook_it_is_logged_only(redis_server, redis_client, caplog):
    app = make_app(redis_server.url, views={**VIEWS, "bad": store_unencodable})
    with caplog.at_level(logging.ERROR, "pyramid_session_redis"):
        assert app.get("/bad?what=set").status_int == 200
    assert "the session was not stored at the end of the request" in caplog.text and redis_client.dbsize() == 0
    with pytest.raises(SessionPayloadError, match="cannot be stored as JSON"):
        app.get("/bad?what=set&now=1")
