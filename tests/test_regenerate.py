"""session.regenerate_id(): a fresh id, the same data, the old id dead.

Against the suite's real Redis, through a Pyramid app: what the browser gets,
what Redis holds, and the commands it took.
"""

from __future__ import annotations

import json

import pytest
from pyramid.response import Response

from pyramid_session_redis import check_response_allow_cookies
from pyramid_session_redis.exceptions import InvalidSession_NotInBackend

from .app import make_app


def login(request):
    request.session["user"] = request.params.get("user", "alice")
    request.session.regenerate_id()
    return Response("logged in")


def regenerate_only(request):
    request.session.regenerate_id()
    return Response("regenerated")


def regenerate_and_persist(request):
    request.session["persisted"] = True
    request.session.regenerate_id()
    request.session.do_persist()
    return Response(request.session.session_id)


def regenerate_cacheable(request):
    request.session["cached"] = True
    request.session.regenerate_id()
    response = Response("cacheable")
    response.cache_control.max_age = 60
    return response


def regenerate_then_invalidate(request):
    request.session.regenerate_id()
    request.session.invalidate()
    return Response("gone")


def whoami(request):
    return Response(repr(request.session.get("user")))


VIEWS = {
    "login": login,
    "regenerate": regenerate_only,
    "regenerate_persist": regenerate_and_persist,
    "regenerate_cacheable": regenerate_cacheable,
    "regenerate_invalidate": regenerate_then_invalidate,
    "whoami": whoami,
}


class Seen(list):
    def __call__(self, request, exc):
        self.append(type(exc))


def cookie_value(app):
    return app.cookies["session"]


def keys(client):
    return sorted(k.decode() for k in client.keys("*"))


@pytest.fixture
def seen():
    return Seen()


@pytest.fixture
def app(redis_server, redis_client, seen):
    return make_app(redis_server.url, views=VIEWS, func_invalid_logger=seen)


def test_login_gets_a_new_id_keeps_the_data_and_kills_the_old_cookie(app, redis_client, commands, seen):
    app.get("/write?key=cart&value=3 items")  # an anonymous session, before login
    old_cookie = cookie_value(app)
    (old_key,) = keys(redis_client)
    commands.reset()
    response = app.get("/login")
    assert commands.counts() == {"getex": 1, "del": 1, "set": 1}
    assert "session=" in response.headers["Set-Cookie"]
    new_cookie = cookie_value(app)
    assert new_cookie != old_cookie
    (new_key,) = keys(redis_client)
    assert new_key != old_key
    assert json.loads(redis_client.get(new_key))["m"] == {"cart": "3 items", "user": "alice"}
    assert 1190 <= redis_client.ttl(new_key) <= 1200
    assert app.get("/whoami").text == "'alice'"
    assert app.get("/read?key=cart").text == "'3 items'"

    # Whoever kept the old cookie (the attacker who planted it) gets nothing.
    attacker = make_app(app.factory.options["redis_url"], views=VIEWS, func_invalid_logger=seen)
    attacker.set_cookie("session", old_cookie)
    del seen[:]
    assert attacker.get("/whoami").text == "None"
    assert seen == [InvalidSession_NotInBackend]


def test_regenerating_a_new_session_just_creates_it(app, redis_client, commands):
    commands.reset()
    app.get("/login?user=bob")
    assert commands.counts() == {"set": 1}
    assert len(keys(redis_client)) == 1
    assert app.get("/whoami").text == "'bob'"


def test_regenerating_without_changes_still_moves_the_session(app, redis_client):
    app.get("/login")
    before = keys(redis_client)
    app.get("/regenerate")
    after = keys(redis_client)
    assert len(after) == 1 and after != before
    assert app.get("/whoami").text == "'alice'"


def test_regenerate_then_do_persist_writes_once_under_the_new_id(app, redis_client):
    app.get("/login")
    (old_key,) = keys(redis_client)
    response = app.get("/regenerate_persist")
    (new_key,) = keys(redis_client)
    assert new_key != old_key and new_key == response.text
    assert "session=" in response.headers["Set-Cookie"]  # the browser learns the persisted id
    assert app.get("/read?key=persisted").text == "True"
    assert app.get("/whoami").text == "'alice'"


def test_without_a_cookie_on_the_response_the_session_stays_under_its_old_id(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS, func_check_response_allow_cookies=check_response_allow_cookies)
    app.get("/login")
    (key,) = keys(redis_client)
    cookie = cookie_value(app)
    response = app.get("/regenerate_cacheable")
    assert "Set-Cookie" not in response.headers
    assert keys(redis_client) == [key] and cookie_value(app) == cookie
    assert app.get("/read?key=cached").text == "True"  # the data written alongside was kept
    assert app.get("/whoami").text == "'alice'"


def test_regenerate_then_invalidate_leaves_nothing(app, redis_client):
    app.get("/login")
    response = app.get("/regenerate_invalidate")
    assert keys(redis_client) == []
    assert "Max-Age=0" in response.headers["Set-Cookie"]


@pytest.mark.parametrize("options", [
    {"timeout_trigger": 600},
    {"set_redis_ttl": False},
    {"set_redis_ttl_readheavy": True},
    {"python_expires": True},
    {"timeout": None},
    {"prefix": "app:"},
])
def test_regenerate_works_with_every_policy(redis_server, redis_client, options):
    app = make_app(redis_server.url, views=VIEWS, **options)
    app.get("/write?key=k&value=v")
    (old_key,) = keys(redis_client)
    app.get("/login")
    (new_key,) = keys(redis_client)
    assert new_key != old_key and new_key.startswith(options.get("prefix", ""))
    assert app.get("/read?key=k").text == "'v'" and app.get("/whoami").text == "'alice'"
    expected_ttl = -1 if (options.get("set_redis_ttl") is False or "timeout" in options) else 1200
    ttl = redis_client.ttl(new_key)
    assert ttl == expected_ttl or 1190 <= ttl <= 1200 == expected_ttl


def test_a_session_with_its_own_timeout_keeps_it(redis_server, redis_client):
    def short(request):
        request.session["x"] = 1
        request.session.adjust_session_timeout(60)
        return Response("short")

    app = make_app(redis_server.url, views={**VIEWS, "short": short})
    app.get("/short")
    app.get("/login")
    (key,) = keys(redis_client)
    assert 50 <= redis_client.ttl(key) <= 60
    assert json.loads(redis_client.get(key))["t"] == 60


def test_regenerate_and_persist_without_a_cookie_keeps_everything_under_the_old_id(redis_server, redis_client):
    def regenerate_persist_cacheable(request):
        request.session["persisted"] = True
        request.session.regenerate_id()
        request.session.do_persist()  # stored under a new id the browser will never learn
        request.session["after"] = 1
        response = Response("cacheable")
        response.cache_control.max_age = 60
        return response

    app = make_app(redis_server.url, views={**VIEWS, "rpc": regenerate_persist_cacheable},
                   func_check_response_allow_cookies=check_response_allow_cookies)
    app.get("/login")
    (key,) = keys(redis_client)
    app.get("/rpc")
    assert keys(redis_client) == [key]  # the copy under the new id is gone
    assert json.loads(redis_client.get(key))["m"] == {"user": "alice", "persisted": True, "after": 1}
