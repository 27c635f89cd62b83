"""Real Pyramid apps, driven with WebTest, against the private redis-server.

Each test checks what a user sees (cookies, responses) and what Redis holds
(keys, payloads, TTLs, the commands it executed).
"""

from __future__ import annotations

import datetime
import json
import pickle
from typing import Any, List

import pytest
from pyramid.interfaces import ISession
from pyramid.response import Response
from pyramid.testing import DummyRequest
from webtest import TestApp
from zope.interface.verify import verifyObject

from pyramid_session_redis import RedisSessionFactory, check_response_allow_cookies
from pyramid_session_redis.exceptions import (
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    InvalidSession_PayloadLegacy,
    InvalidSession_PayloadTimeout,
    RawDeserializationError,
)

from .app import SECRET, Boom, make_app, make_wsgi
from .helpers import signed, stored_session


class Recorder:
    """A func_invalid_logger that remembers what it was told."""

    def __init__(self) -> None:
        self.seen: List[Exception] = []

    def __call__(self, request: Any, exc: Exception) -> None:
        assert request is not None
        self.seen.append(exc)

    def kinds(self) -> List[type]:
        return [type(e) for e in self.seen]


@pytest.fixture
def invalid() -> Recorder:
    return Recorder()


@pytest.fixture
def app(redis_server, redis_client, invalid) -> TestApp:
    return make_app(redis_server.url, func_invalid_logger=invalid)


def only_key(client) -> bytes:
    keys = client.keys("*")
    assert len(keys) == 1, keys
    return keys[0]


def stored(client) -> dict:
    return json.loads(client.get(only_key(client)))


# -- the round-trip table (ARCHITECTURE.md), measured with INFO commandstats --

def test_untouched_session_costs_nothing(app, commands, redis_client):
    commands.reset()
    response = app.get("/untouched")
    assert commands.counts() == {}
    assert "Set-Cookie" not in response.headers
    assert redis_client.dbsize() == 0


def test_reading_an_empty_new_session_costs_nothing_and_sets_no_cookie(app, commands, redis_client):
    commands.reset()
    response = app.get("/touch")
    assert response.text == "0"
    assert commands.counts() == {}
    assert "Set-Cookie" not in response.headers
    assert redis_client.dbsize() == 0


def test_new_session_costs_one_set_nx_ex(app, commands, redis_client):
    commands.reset()
    response = app.get("/write?key=a&value=1")
    assert commands.counts() == {"set": 1}
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Cookie" in response.headers["Vary"]
    key = only_key(redis_client)
    assert response.text == repr(key.decode())
    assert 1190 <= redis_client.ttl(key) <= 1200
    payload = stored(redis_client)
    assert payload["m"] == {"a": "1"} and payload["v"] == 1 and payload["t"] == 1200 and "x" not in payload


def test_read_only_existing_session_costs_one_getex(app, commands, redis_client):
    app.get("/write?key=a&value=1")
    key = only_key(redis_client)
    redis_client.expire(key, 100)
    commands.reset()
    response = app.get("/read?key=a")
    assert response.text == "'1'"
    assert commands.counts() == {"getex": 1}
    assert redis_client.ttl(key) > 1000  # the read refreshed the TTL
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]


def test_read_and_write_costs_getex_then_one_checked_write(app, commands, redis_client):
    app.get("/incr")
    commands.reset()
    assert app.get("/incr").text == "2"
    assert commands.counts() == {"getex": 1, "evalsha": 1}
    assert stored(redis_client)["m"] == {"n": 2}


def test_with_merge_a_write_is_getex_then_one_checked_write(redis_server, redis_client, commands):
    app = make_app(redis_server.url, on_conflict="merge")
    app.get("/incr")
    commands.reset()
    assert app.get("/incr").text == "2"
    assert commands.counts() == {"getex": 1, "evalsha": 1}  # a SET, inside Redis, if nobody wrote meanwhile
    assert stored(redis_client)["m"] == {"n": 2}


def test_invalidate_costs_one_del_and_deletes_the_cookie(app, commands, redis_client):
    app.get("/incr")
    commands.reset()
    response = app.get("/invalidate")
    assert commands.counts() == {"del": 1}
    assert redis_client.dbsize() == 0
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert app.get("/incr").text == "1"  # a fresh session afterwards


def test_invalidate_after_reading_costs_getex_and_del(app, commands, redis_client):
    app.get("/incr")

    def read_then_invalidate(request):
        request.session.get("n")
        request.session.invalidate()
        return request.response

    app2 = make_app(app.factory.options["redis_url"], views={"rti": read_then_invalidate})
    app2.cookiejar = app.cookiejar
    commands.reset()
    app2.get("/rti")
    assert commands.counts() == {"getex": 1, "del": 1}
    assert redis_client.dbsize() == 0


def test_lru_mode_read_is_one_get_and_no_ttl_is_ever_sent(redis_server, redis_client, commands, clock):
    app = make_app(redis_server.url, set_redis_ttl=False)
    commands.reset()
    app.get("/incr")
    assert commands.counts() == {"set": 1}
    key = only_key(redis_client)
    assert redis_client.ttl(key) == -1
    assert stored(redis_client)["x"] == clock.now + 1200
    commands.reset()
    clock.now += 599
    assert app.get("/read?key=n").text == "1"
    assert commands.counts() == {"get": 1}
    clock.now += 1  # half the timeout has passed: the expiry is pushed forward
    commands.reset()
    app.get("/read?key=n")
    assert commands.counts() == {"get": 1, "evalsha": 1}
    assert redis_client.ttl(key) == -1
    assert stored(redis_client)["x"] == clock.now + 1200


def test_timeout_trigger_writes_only_past_the_threshold(redis_server, redis_client, commands, clock):
    app = make_app(redis_server.url, timeout=1200, timeout_trigger=600)
    start = clock.now
    app.get("/incr")
    key = only_key(redis_client)
    writes = []
    for offset in (1, 300, 599, 600, 601, 900, 1199, 1200):
        clock.now = start + offset
        commands.reset()
        app.get("/read?key=n")
        counts = commands.counts()
        assert counts.get("get") == 1 and "getex" not in counts
        if counts.get("evalsha"):  # the checked write
            writes.append(offset)
            assert stored(redis_client)["x"] == clock.now + 1200
            assert redis_client.ttl(key) > 1190
    assert writes == [600, 1200]


def test_readheavy_reads_with_getex_and_sends_nothing_at_the_end(redis_server, redis_client, commands):
    app = make_app(redis_server.url, set_redis_ttl_readheavy=True)
    app.get("/incr")
    commands.reset()
    app.get("/read?key=n")
    assert commands.counts() == {"getex": 1}


def test_no_timeout_stores_without_ttl(redis_server, redis_client, commands):
    app = make_app(redis_server.url, timeout=0)
    app.get("/incr")
    assert redis_client.ttl(only_key(redis_client)) == -1
    commands.reset()
    app.get("/read?key=n")
    assert commands.counts() == {"get": 1}


# -- change detection -----------------------------------------------------------

def test_nested_mutation_without_changed_is_persisted(app, redis_client):
    app.get("/nested")
    assert app.get("/nested").text == "2"
    assert stored(redis_client)["m"]["cart"] == {"n": 2}


def test_nested_mutation_is_lost_when_detect_changes_is_off(redis_server, redis_client):
    app = make_app(redis_server.url, detect_changes=False)
    app.get("/nested")  # new session: stored because it was changed through setdefault
    app.get("/nested")
    assert stored(redis_client)["m"]["cart"] == {"n": 1}


def test_exposed_but_unchanged_session_is_not_rewritten(app, commands):
    app.get("/nested")
    commands.reset()
    app.get("/peek")  # items() hands out the mutable cart, which stays unchanged
    assert commands.counts() == {"getex": 1}


def test_setting_the_same_value_again_writes_nothing(app, commands):
    app.get("/write?key=a&value=1")
    commands.reset()
    app.get("/write?key=a&value=1")
    assert commands.counts() == {"getex": 1}


def test_emptied_session_is_deleted(app, redis_client):
    app.get("/incr")
    response = app.get("/clear")
    assert redis_client.dbsize() == 0
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_emptied_session_is_kept_when_invalidate_empty_session_is_off(redis_server, redis_client):
    app = make_app(redis_server.url, invalidate_empty_session=False)
    app.get("/incr")
    app.get("/clear")
    assert stored(redis_client)["m"] == {}


# -- flash, csrf, logout-then-write -----------------------------------------------

def test_flash_messages_and_csrf_token_survive_requests(app):
    app.get("/flash?msg=one")
    app.get("/flash?msg=two")
    assert app.get("/pop_flash").text == "['one', 'two']"
    assert app.get("/pop_flash").text == "[]"
    token = app.get("/csrf").text
    assert len(token) == 64 and app.get("/csrf").text == token


def test_invalidate_then_write_starts_a_new_session_under_a_new_id(app, redis_client, commands):
    app.get("/incr")
    old_key = only_key(redis_client)
    commands.reset()
    response = app.get("/invalidate_then_write")
    assert commands.counts() == {"del": 1, "set": 1}
    new_key = only_key(redis_client)
    assert new_key != old_key
    assert stored(redis_client)["m"] == {"after": "logout"}
    assert "Max-Age=0" not in response.headers["Set-Cookie"]


def test_ensure_id_stores_an_empty_session(app, redis_client):
    session_id = app.get("/ensure").text
    assert only_key(redis_client) == session_id.encode()
    assert stored(redis_client)["m"] == {}
    assert app.get("/ensure").text == session_id


# -- invalid incoming sessions: a new session, a report, never a 500 ---------------

def test_first_visit_reports_no_cookie(app, invalid):
    app.get("/touch")
    assert invalid.kinds() == [InvalidSession_NoSessionCookie]


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "!!!not base64!!!",
        "a" * 5000,
        "",
        "YWJj",  # base64 of 3 bytes: too short to hold a signature
    ],
)
def test_bad_cookies_start_a_new_session(app, invalid, redis_client, commands, value):
    app.set_cookie("session", value)
    commands.reset()
    response = app.get("/incr")
    assert response.text == "1"
    assert commands.counts() == {"set": 1}  # never a command keyed by the bad cookie
    assert invalid.kinds() == [InvalidSession_BadCookie]
    assert redis_client.dbsize() == 1


def test_non_ascii_cookie_starts_a_new_session(app, invalid, commands):
    response = app.get("/incr", headers={"Cookie": "session=caf\u00e9\u2713".encode("utf-8").decode("latin-1")})
    assert response.text == "1"
    assert invalid.kinds() == [InvalidSession_BadCookie]


def test_cookie_signed_with_another_secret_is_rejected(redis_server, redis_client, invalid):
    other = make_app(redis_server.url, secret="another secret, of at least 32 bytes")
    other.get("/incr")
    app = make_app(redis_server.url, func_invalid_logger=invalid)
    app.cookiejar = other.cookiejar
    assert app.get("/incr").text == "1"
    assert invalid.kinds() == [InvalidSession_BadCookie]


def test_truncated_cookie_is_rejected(app, invalid):
    app.get("/incr")
    value = app.cookies["session"]
    app.set_cookie("session", value[:-4])
    assert app.get("/incr").text == "1"
    assert invalid.kinds()[-1] is InvalidSession_BadCookie


def test_expired_session_is_reported_and_the_cookie_deleted(app, invalid, redis_client):
    app.get("/incr")
    redis_client.flushall()
    response = app.get("/read?key=n")
    assert response.text == "None"
    assert invalid.kinds() == [InvalidSession_NoSessionCookie, InvalidSession_NotInBackend]
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_client_chosen_id_is_never_adopted(app, invalid, redis_client):
    app.get("/incr")
    key = only_key(redis_client)
    redis_client.delete(key)
    app.get("/incr")
    assert only_key(redis_client) != key
    assert InvalidSession_NotInBackend in invalid.kinds()


@pytest.mark.parametrize(
    "payload, kind",
    [
        (b'{"m":{},"c":1,"v":99}', InvalidSession_PayloadLegacy),
        (b"[1,2,3]", InvalidSession_PayloadLegacy),
        # A 1.x pickle that holds more than plain data (a date: it names a global).
        (pickle.dumps({"m": {"d": datetime.date(2026, 1, 1)}, "c": 1, "v": 1}), InvalidSession_PayloadLegacy),
        (b"\x00\xffnot json", InvalidSession_DeserializationError),
        (b'{"m":[],"c":1,"v":1}', InvalidSession_DeserializationError),
    ],
)
def test_corrupt_or_foreign_payloads_start_a_new_session(redis_server, redis_client, invalid, payload, kind):
    app = make_app(redis_server.url, func_invalid_logger=invalid, deserialized_fails_new=True)
    app.get("/incr")
    redis_client.set(only_key(redis_client), payload)
    response = app.get("/incr")
    assert response.text == "1"
    assert invalid.kinds()[-1] is kind


def test_undecodable_payload_starts_a_new_session_and_logs_by_default(app, redis_client, invalid, caplog):
    app.get("/incr")
    redis_client.set(only_key(redis_client), b"{not json")
    with caplog.at_level("WARNING", "pyramid_session_redis"):
        assert app.get("/incr").text == "1"
    assert invalid.kinds()[-1] is InvalidSession_DeserializationError
    assert "cannot be decoded" in caplog.text


def test_undecodable_payload_logs_nothing_when_replacing_is_asked_for(redis_server, redis_client, invalid, caplog):
    app = make_app(redis_server.url, func_invalid_logger=invalid, deserialized_fails_new=True)
    app.get("/incr")
    redis_client.set(only_key(redis_client), b"{not json")
    with caplog.at_level("WARNING", "pyramid_session_redis"):
        assert app.get("/incr").text == "1"
    assert invalid.kinds()[-1] is InvalidSession_DeserializationError and caplog.text == ""


def test_undecodable_payload_raises_with_deserialized_fails_new_false(redis_server, redis_client):
    app = make_app(redis_server.url, deserialized_fails_new=False)
    app.get("/incr")
    redis_client.set(only_key(redis_client), b"{not json")
    with pytest.raises(RawDeserializationError) as caught:
        app.get("/incr")
    assert isinstance(caught.value.args[0], ValueError)


def test_payload_expiry_is_checked_on_load(redis_server, redis_client, invalid, clock):
    app = make_app(redis_server.url, set_redis_ttl=False, func_invalid_logger=invalid)
    app.get("/incr")
    clock.now += 1200
    assert app.get("/incr").text == "1"
    assert invalid.kinds()[-1] is InvalidSession_PayloadTimeout


# -- cookies and exceptions -------------------------------------------------------

def test_view_error_handled_by_exception_view_still_sets_the_cookie(app, redis_client):
    response = app.get("/boom", status=500)
    assert response.text == "handled"
    assert "Set-Cookie" in response.headers
    assert stored(redis_client)["m"] == {"during_error": True}


def test_cookie_on_exception_false_stores_no_new_session(redis_server, redis_client):
    app = make_app(redis_server.url, cookie_on_exception=False)
    response = app.get("/boom", status=500)
    assert "Set-Cookie" not in response.headers
    assert redis_client.dbsize() == 0


def _raising(action: Any) -> Any:
    """A view that does ``action(session)``, then raises Boom (rendered by the exception view)."""

    def view(request: Any) -> Any:
        action(request.session)
        raise Boom()

    return view


def _set_cookies(response: Any) -> List[str]:
    return response.headers.getall("Set-Cookie")


@pytest.mark.parametrize("end", [
    lambda s: s.invalidate(),
    lambda s: (s.invalidate(), s.update(after="logout")),  # the fresh session is not stored: no cookie for it
    lambda s: s.clear(),  # emptied (invalidate_empty_session)
], ids=["invalidate", "invalidate_then_write", "clear"])
def test_cookie_on_exception_false_still_deletes_the_cookie_of_an_ended_session(redis_server, redis_client, end):
    # As 1.8: the browser must not keep a cookie for a session that no longer exists.
    app = make_app(redis_server.url, cookie_on_exception=False, views={"end": _raising(end)})
    app.get("/incr")
    response = app.get("/end", status=500)
    (header,) = _set_cookies(response)
    assert header.startswith("session=;") and "Max-Age=0" in header
    assert redis_client.dbsize() == 0


def test_cookie_on_exception_false_still_moves_a_regenerated_session_and_sends_its_cookie(redis_server, redis_client):
    # The old id must not stay in use (it may be one an attacker planted), and the
    # changes of a stored session are written on an exception response too: the
    # new cookie is sent, whatever cookie_on_exception says.
    app = make_app(redis_server.url, cookie_on_exception=False,
                   views={"regen": _raising(lambda s: (s.regenerate_id(), s.update(k="v")))})
    app.get("/incr")
    key = only_key(redis_client)
    (header,) = _set_cookies(app.get("/regen", status=500))
    assert header.startswith("session=") and "Max-Age=0" not in header
    assert only_key(redis_client) != key and stored(redis_client)["m"] == {"n": 1, "k": "v"}
    assert app.get("/incr").text == "2"


def test_refused_response_gets_no_deletion_either(redis_server, redis_client):
    # func_check_response_allow_cookies refusing a response holds back every
    # Set-Cookie, a deletion too, as in 1.8.
    def cacheable_invalidate(request: Any) -> Any:
        request.session.invalidate()
        response = Response("cacheable")
        response.cache_control.max_age = 60
        return response

    app = make_app(redis_server.url, func_check_response_allow_cookies=check_response_allow_cookies,
                   views={"ci": cacheable_invalidate})
    app.get("/incr")
    assert _set_cookies(app.get("/ci")) == []
    assert redis_client.dbsize() == 0


def test_cacheable_response_gets_no_cookie(redis_server, redis_client):
    app = make_app(redis_server.url, func_check_response_allow_cookies=check_response_allow_cookies)
    response = app.get("/cacheable")
    assert "Set-Cookie" not in response.headers
    assert redis_client.dbsize() == 0


def test_cookie_options_reach_the_header(redis_server, redis_client):
    app = make_app(
        redis_server.url, cookie_name="sid", cookie_max_age=3600, cookie_path="/", cookie_domain="example.com",
        cookie_secure=True, cookie_samesite="Strict", cookie_httponly=False,
    )
    header = app.get("/incr", extra_environ={"HTTP_HOST": "example.com"}).headers["Set-Cookie"]
    assert header.startswith("sid=")
    for part in ("Max-Age=3600", "Domain=example.com", "secure", "SameSite=Strict"):
        assert part in header
    assert "HttpOnly" not in header


def test_unhandled_exception_persists_changes_to_an_existing_session(redis_server, redis_client):
    def explode(request):
        request.session["n"] = 99
        raise RuntimeError("not handled")

    app = make_app(redis_server.url, views={"explode": explode})
    app.get("/incr")
    with pytest.raises(RuntimeError):
        app.get("/explode")
    assert stored(redis_client)["m"] == {"n": 99}


# -- configuration from ini settings, ISession, serializers, prefix ----------------

def test_includeme_configures_sessions_from_settings(redis_server, redis_client):
    from pyramid.config import Configurator

    settings = {
        "redis.sessions.secret": SECRET,
        "redis.sessions.timeout": "600",
        "redis.sessions.redis_url": redis_server.url,
        "redis.sessions.cookie_name": "ini_session",
        "redis.sessions.prefix": "app1:",
        "redis.sessions.func_invalid_logger": "tests.test_integration.module_logger",
    }
    config = Configurator(settings=settings)
    config.include("pyramid_session_redis")
    config.add_route("incr", "/incr")
    from .app import incr

    config.add_view(incr, route_name="incr")
    app = TestApp(config.make_wsgi_app())
    response = app.get("/incr")
    assert response.headers["Set-Cookie"].startswith("ini_session=")
    key = only_key(redis_client)
    assert key.startswith(b"app1:")
    assert 590 <= redis_client.ttl(key) <= 600
    assert MODULE_LOG and isinstance(MODULE_LOG[-1], InvalidSession_NoSessionCookie)


MODULE_LOG: List[Exception] = []


def module_logger(request: Any, exc: Exception) -> None:
    MODULE_LOG.append(exc)


def test_session_provides_isession_and_the_dict_api(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    request = DummyRequest()
    session = factory(request)
    assert verifyObject(ISession, session)
    assert session.new and not session and len(session) == 0
    session.update({"a": 1}, b=2)
    session["c"] = [1]
    assert len(session) == 3 and bool(session) and "a" in session and sorted(session) == ["a", "b", "c"]
    assert sorted(session.keys()) == ["a", "b", "c"]
    assert session.setdefault("a", 5) == 1 and session.pop("b") == 2 and session.pop("zz", None) is None
    del session["a"]
    assert session.items() == [("c", [1])] and session.values() == [[1]]
    assert session.popitem() == ("c", [1])
    assert session.session_id is None and session.session_id_safecheck is None
    assert isinstance(session.created, int) and session.timeout == 1200 and session.expires is None
    assert "RedisSession" in repr(session)


# -- pyramid.testing.DummyRequest, as test suites written for 1.x use it ---------------


def _dummy_request(factory: Any, session_id: Any = None) -> DummyRequest:
    request = DummyRequest()
    request.exception = None
    if session_id is not None:
        request.cookies["session"] = signed(factory, session_id)
    return request


def test_dummy_request_cookie_loads_the_stored_session(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    session_id = stored_session(factory, {"a": 1})
    session = factory(_dummy_request(factory, session_id))
    assert session.get("a") == 1 and not session.new and session.session_id == session_id


def test_dummy_request_session_is_written_when_its_callbacks_run(redis_server, redis_client):
    # DummyRequest runs no callbacks by itself: a test runs them, as Pyramid's router would.
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    request = _dummy_request(factory)
    request.session = factory(request)
    request.session["a"] = 1
    response = Response()
    request._process_response_callbacks(response)
    request._process_finished_callbacks()
    assert stored(redis_client)["m"] == {"a": 1}
    cookie = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]

    request = DummyRequest(cookies={"session": cookie})
    request.session = factory(request)
    assert request.session["a"] == 1
    request.session["a"] = 2
    response = Response()
    request._process_response_callbacks(response)
    request._process_finished_callbacks()
    assert "Set-Cookie" not in response.headers
    assert stored(redis_client)["m"] == {"a": 2}


def test_dummy_request_invalidate_deletes_the_session_and_its_cookie(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    request = _dummy_request(factory, stored_session(factory, {"a": 1}))
    factory(request).invalidate()
    response = Response()
    request._process_response_callbacks(response)
    request._process_finished_callbacks()
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert redis_client.dbsize() == 0


def test_dummy_request_do_persist(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url)
    session = factory(_dummy_request(factory))
    session["a"] = 1
    session.do_persist()
    assert stored(redis_client)["m"] == {"a": 1}
    session_id = session.session_id
    session = factory(_dummy_request(factory, session_id))
    session["a"] = 2
    session.do_persist()
    assert session.session_id == session_id and stored(redis_client)["m"] == {"a": 2}


def test_pickle_serializer_reads_1x_style_payloads(redis_server, redis_client):
    app = make_app(redis_server.url, serialize=pickle.dumps, deserialize=pickle.loads)
    app.get("/incr")
    key = only_key(redis_client)
    assert pickle.loads(redis_client.get(key))["m"] == {"n": 1}
    assert app.get("/incr").text == "2"


def test_redis_client_callable_gets_request_and_options(redis_server, redis_client):
    import redis as redis_py

    calls = []

    def client_callable(request, **options):
        calls.append((request, options))
        return redis_py.Redis.from_url(redis_server.url)

    app = make_app(redis_server.url, redis_client_callable=client_callable, redis_socket_timeout=2)
    app.get("/untouched")
    assert calls == []  # no client is asked for when the session is not used
    app.get("/incr")
    assert app.get("/incr").text == "2"
    assert len(calls) == 2 and calls[0][1]["socket_timeout"] == 2.0


def test_do_persist_and_do_refresh_act_immediately(redis_server, redis_client):
    seen = {}

    def persist_now(request):
        request.session["now"] = True
        request.session.do_persist()
        seen["payload"] = stored(redis_client)
        request.session.do_refresh(force_redis_ttl=50)
        seen["ttl"] = redis_client.ttl(only_key(redis_client))
        return request.response

    app = make_app(redis_server.url, views={"persist_now": persist_now})
    response = app.get("/persist_now")
    assert seen["payload"]["m"] == {"now": True}
    assert 0 < seen["ttl"] <= 50
    assert "Set-Cookie" in response.headers
    assert app.get("/read?key=now").text == "True"


def test_do_persist_leaves_nothing_for_the_end_of_the_request(redis_server, redis_client, commands):
    def persist_now(request):
        request.session["now"] = True
        request.session.do_persist()
        request.session.do_refresh()
        return request.response

    app = make_app(redis_server.url, views={"persist_now": persist_now})
    commands.reset()
    app.get("/persist_now")
    assert commands.counts() == {"set": 1, "expire": 1}


def test_adjust_session_timeout_is_kept_and_refreshed(redis_server, redis_client, commands):
    def short(request):
        request.session["x"] = 1
        request.session.adjust_session_timeout(30)
        return request.response

    app = make_app(redis_server.url, views={"short": short})
    app.get("/short")
    key = only_key(redis_client)
    assert stored(redis_client)["t"] == 30 and redis_client.ttl(key) <= 30
    commands.reset()
    app.get("/read?key=x")
    assert commands.counts() == {"getex": 1, "expire": 1}  # GETEX used the default timeout
    assert redis_client.ttl(key) <= 30


def test_adjust_session_expires_and_cookie_max_age(redis_server, redis_client, clock):
    def adjust(request):
        request.session["x"] = 1
        request.session.adjust_session_expires(clock.now + 100)
        request.session.adjust_cookie_max_age(77)
        return request.response

    app = make_app(redis_server.url, views={"adjust": adjust}, set_redis_ttl=False)
    response = app.get("/adjust")
    assert stored(redis_client)["x"] == clock.now + 100
    assert "Max-Age=77" in response.headers["Set-Cookie"]


def test_please_recookie_resends_the_cookie(redis_server, redis_client):
    def recookie(request):
        request.session.please_recookie()
        return request.response

    app = make_app(redis_server.url, views={"recookie": recookie})
    app.get("/incr")
    assert "Set-Cookie" in app.get("/recookie").headers
    assert "Set-Cookie" not in app.get("/read?key=n").headers


def test_no_session_factory_baseline_app_runs(redis_server):
    app = TestApp(make_wsgi(None))
    assert app.get("/untouched").text == "untouched"
