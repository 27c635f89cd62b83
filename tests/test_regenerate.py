"""session.regenerate_id(): a fresh id, the same data, the old id dead.

Against the suite's real Redis, through a Pyramid app: what the browser gets,
what Redis holds, and the commands it took.
"""

from __future__ import annotations

import json
import logging

import pytest
from pyramid.httpexceptions import HTTPFound
from pyramid.response import Response

from pyramid_session_redis import check_response_allow_cookies
from pyramid_session_redis.exceptions import InvalidSession_NotInBackend

from .app import Boom, make_app


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


def login_no_store(request):
    """A login response as they usually are: not to be cached by anyone."""
    request.session["user"] = request.params.get("user", "alice")
    request.session.regenerate_id()
    response = Response("logged in")
    response.cache_control.no_store = True
    response.expires = 0
    return response


def login_and_redirect(request):
    request.session["user"] = request.params.get("user", "alice")
    request.session.regenerate_id()
    raise HTTPFound(location="/whoami")


def login_and_crash(request):
    request.session["user"] = request.params.get("user", "alice")
    request.session.regenerate_id()
    raise Boom()  # (an exception view renders it, as a 500)


def login_unhandled(request):
    request.session["user"] = request.params.get("user", "alice")
    request.session.regenerate_id()
    raise KeyError("no exception view for this one")


def csrf_login(request):
    keep = bool(request.params.get("keep"))
    request.session.regenerate_id(keep_csrf=keep) if keep else request.session.regenerate_id()
    request.session["user"] = "alice"
    return Response(request.session.get_csrf_token())


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
    "login_no_store": login_no_store,
    "login_redirect": login_and_redirect,
    "login_crash": login_and_crash,
    "login_unhandled": login_unhandled,
    "csrf_login": csrf_login,
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


def planted(redis_server, redis_client, **options):
    """An attacker's session (they know its id and cookie), planted in the victim's browser."""
    attacker = make_app(redis_server.url, views=VIEWS, **options)
    attacker.get("/write?key=cart&value=planted")
    victim = make_app(redis_server.url, views=VIEWS, **options)
    victim.set_cookie("session", cookie_value(attacker))
    return attacker, victim


def test_a_login_response_marked_no_store_gets_the_new_cookie_with_check_response_allow_cookies(
        redis_server, redis_client):
    # check_response_allow_cookies refused it (Cache-Control present), so the session stayed
    # under the planted id, and the attacker was logged in as the victim.
    attacker, victim = planted(redis_server, redis_client,
                               func_check_response_allow_cookies=check_response_allow_cookies)
    response = victim.get("/login_no_store?user=victim")
    assert "session=" in response.headers["Set-Cookie"] and cookie_value(victim) != cookie_value(attacker)
    assert victim.get("/whoami").text == "'victim'" and victim.get("/read?key=cart").text == "'planted'"
    assert attacker.get("/whoami").text == "None"  # the planted id leads nowhere
    assert len(keys(redis_client)) == 1  # the victim's session, under its new id only


def test_cookie_on_exception_false_still_sends_the_new_cookie_of_a_regenerated_session(redis_server, redis_client):
    # `raise HTTPFound` after login is an exception response: the cookie was withheld and
    # the logged-in data stayed under the planted id.
    attacker, victim = planted(redis_server, redis_client, cookie_on_exception=False)
    response = victim.get("/login_redirect?user=victim", status=302)
    assert "session=" in response.headers["Set-Cookie"] and cookie_value(victim) != cookie_value(attacker)
    assert victim.get("/whoami").text == "'victim'"
    assert attacker.get("/whoami").text == "None"


def test_cookie_on_exception_false_sends_it_for_an_error_page_too(redis_server, redis_client):
    # The changes of a stored session are written whatever the response; after
    # regenerate_id() the new cookie is the only way to keep them reachable.
    attacker, victim = planted(redis_server, redis_client, cookie_on_exception=False)
    response = victim.get("/login_crash", status=500)
    assert "session=" in response.headers["Set-Cookie"]
    assert victim.get("/whoami").text == "'alice'" and attacker.get("/whoami").text == "None"


def test_cookie_on_exception_false_still_keeps_the_cookie_off_a_new_session(redis_server, redis_client):
    app = make_app(redis_server.url, views=VIEWS, cookie_on_exception=False)
    response = app.get("/login_redirect", status=302)  # a new session, regenerated: nothing to move
    assert "Set-Cookie" not in response.headers and redis_client.dbsize() == 0


def test_a_response_that_refuses_the_cookie_ends_the_regenerated_session(redis_server, redis_client, caplog):
    """The new id cannot reach the browser: the session ends, rather than stay under
    the old id, which may be one an attacker planted."""
    attacker, victim = planted(redis_server, redis_client,
                               func_check_response_allow_cookies=check_response_allow_cookies)
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        response = victim.get("/regenerate_cacheable")  # (Cache-Control: max-age=60: a shared cache may keep it)
    assert "Set-Cookie" not in response.headers
    assert keys(redis_client) == []  # the old key deleted; nothing stored under an id nobody will present
    assert "regenerate_id() was called, but the response carried no session cookie" in caplog.text
    assert attacker.get("/read?key=cached").text == "None" and attacker.get("/read?key=cart").text == "None"
    assert victim.get("/read?key=cart").text == "None"  # the victim starts afresh too


def test_an_exception_no_view_handles_ends_the_regenerated_session(redis_server, redis_client, caplog):
    # Pyramid runs no response callbacks then: no cookie can carry the new id.
    attacker, victim = planted(redis_server, redis_client)
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"), pytest.raises(KeyError):
        victim.get("/login_unhandled?user=victim")
    assert keys(redis_client) == []
    assert attacker.get("/whoami").text == "None"


def test_regenerate_id_replaces_the_csrf_token(app, redis_client):
    before = app.get("/csrf").text
    after = app.get("/csrf_login").text
    assert len(after) == 64 and after != before
    assert app.get("/csrf").text == after  # the new one is the session's token from now on


def test_regenerate_id_keep_csrf_keeps_it(app, redis_client):
    before = app.get("/csrf").text
    assert app.get("/csrf_login?keep=1").text == before
    assert app.get("/csrf").text == before


def test_regenerate_id_makes_no_csrf_token_for_a_session_without_one(app, redis_client):
    app.get("/write?key=k&value=v")
    app.get("/regenerate")
    (key,) = keys(redis_client)
    assert "_csrft_" not in json.loads(redis_client.get(key))["m"]


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


def test_regenerate_and_persist_without_a_cookie_ends_the_session_under_both_ids(redis_server, redis_client):
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
    app.get("/rpc")
    assert keys(redis_client) == []  # the old key, and the copy under the new id, which no browser has
    assert app.get("/whoami").text == "None"
