"""Bounds on what goes in: payload size on the way to Redis, cookie size on the way in."""

from __future__ import annotations

import json

import pytest
from pyramid.response import Response

from pyramid_session_redis import session_factory_from_settings
from pyramid_session_redis.cookies import MAX_COOKIE_LENGTH
from pyramid_session_redis.exceptions import InvalidSession_BadCookie, SessionPayloadTooLarge

from .app import make_app


def big(request):
    request.session["blob"] = "x" * int(request.params["n"])
    if request.params.get("now"):
        request.session.do_persist()
    return Response("stored")


def expose(request):
    return Response(str(len(request.session["blob"])))


VIEWS = {"big": big, "expose": expose}


def test_a_payload_over_the_limit_is_refused_and_redis_keeps_the_old_one(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000)
    app.get("/big?n=100")
    (key,) = redis_client.keys("*")
    before = redis_client.get(key)
    with pytest.raises(SessionPayloadTooLarge) as caught:
        app.get("/big?n=5000")
    assert caught.value.limit == 1000 and caught.value.size > 5000
    assert "max_payload_bytes = 1000" in str(caught.value) and "not stored" in str(caught.value)
    assert redis_client.get(key) == before  # never silently stored, never half-stored
    assert app.get("/expose").text == "100"


def test_do_persist_raises_in_the_view_where_the_application_can_handle_it(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000)
    with pytest.raises(SessionPayloadTooLarge):
        app.get("/big?n=5000&now=1")
    assert redis_client.dbsize() == 0


def test_a_new_session_over_the_limit_stores_nothing(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000)
    with pytest.raises(SessionPayloadTooLarge):
        app.get("/big?n=5000")
    assert redis_client.dbsize() == 0


def test_the_default_limit_is_one_mebibyte(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS)
    assert app.factory.settings.max_payload_bytes == 1024 * 1024
    app.get("/big?n=1000000")  # a 1 MB session is allowed
    with pytest.raises(SessionPayloadTooLarge):
        app.get(f"/big?n={1024 * 1024}")


def test_none_turns_the_limit_off(redis_server, redis_client):
    factory_app = make_app(redis_server.url, views=VIEWS, max_payload_bytes=None)
    factory_app.get("/big?n=2000000")
    (key,) = redis_client.keys("*")
    assert len(json.loads(redis_client.get(key))["m"]["blob"]) == 2_000_000


def test_a_stored_session_over_a_lowered_limit_can_still_be_read(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS)
    app.get("/big?n=5000")
    cookie = app.cookies["session"]
    lowered = make_app(redis_server.url, views=VIEWS, max_payload_bytes=1000)
    lowered.set_cookie("session", cookie)
    assert lowered.get("/expose").text == "5000"  # exposed but unchanged: nothing to store, no error


def test_limit_from_ini(redis_server):
    factory = session_factory_from_settings({
        "redis.sessions.secret": "s", "redis.sessions.redis_url": redis_server.url,
        "redis.sessions.max_payload_bytes": "4096"})
    assert factory.settings.max_payload_bytes == 4096
    factory = session_factory_from_settings({
        "redis.sessions.secret": "s", "redis.sessions.redis_url": redis_server.url,
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
