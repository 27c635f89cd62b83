"""A session's record of itself (lifecycle.py): the lazy load, the end-of-request
callbacks registered on first use, what reads and changes record, and a
degraded request, against the suite's real Redis (commands counted with MONITOR).
"""

from __future__ import annotations

import time

import pytest

from pyramid_session_redis import RedisSessionFactory, lifecycle

from .app import SECRET, make_app
from .helpers import Reports, factory_for, loaded_session, make_request, new_session, run, signed, stored_session

_FLAGS = ("_dirty", "_exposed", "_keep", "_expires_pinned", "_ttl_mismatch")


@pytest.fixture
def factory(redis_server):
    return factory_for(redis_server.url)


def callbacks(request):
    return len(request.response_callbacks), len(request.finished_callbacks)


# -- the view the policy sees ------------------------------------------------------------


def test_session_builds_its_view_field_by_field():
    # RedisSession builds the view positionally: each field must get its own value.
    from pyramid_session_redis import RedisSessionFactory

    session = RedisSessionFactory(secret="s" * 32, redis_url="redis://127.0.0.1:1/0")(object())
    state = dict(
        _stored="stored", _new="new", _bad_cookie="bad_cookie", _keep="keep", _dirty="dirty",
        _exposed="exposed", _recookie="recookie", _timeout="timeout", _expires="expires",
        _expires_pinned="expires_pinned", _ttl_mismatch="ttl_mismatch", _cookie_sent="cookie_sent",
    )
    for attr, value in state.items():
        setattr(session, attr, value)
    session._session_id, session._doomed, session._data = "id", None, {}
    expected = {field: field for field in state.values()}
    assert session._view()._asdict() == {**expected, "has_id": True, "doomed": False, "empty": True,
                                         "regenerated": False}
    session._regenerated_from = "old"
    assert session._view().regenerated is True


# -- lazy: nothing happens until the session is used ---------------------------------------


def test_a_session_never_used_registers_no_callback_and_is_not_loaded(factory):
    request = make_request(signed(factory, "some-id"))
    session = factory(request)
    assert callbacks(request) == (0, 0)
    assert not session._loaded and repr(session).startswith("<RedisSession unloaded at ")


def test_a_request_that_takes_the_session_but_never_uses_it_sends_no_command_and_no_cookie(
        redis_server, redis_client, commands):
    app = run(redis_server, lambda session: "not used")
    sid = stored_session(app.factory, {"a": 1})
    app.set_cookie("session", signed(app.factory, sid))
    ttl = redis_client.ttl(sid)
    commands.reset()
    response = app.get("/v")
    assert commands.counts() == {}
    assert "Set-Cookie" not in response.headers and "Vary" not in response.headers
    assert redis_client.ttl(sid) == ttl


def test_the_first_read_registers_each_callback_once_however_many_reads_follow(factory):
    sid = stored_session(factory, {"a": 1, "b": [2]})
    request = make_request(signed(factory, sid))
    session = factory(request)
    assert session.get("a") == 1
    assert callbacks(request) == (1, 1)
    session["b"], len(session), "a" in session, session.keys(), session.session_id, session.new
    session["c"] = 3
    session.invalidate()
    session["d"] = 4
    assert callbacks(request) == (1, 1)


def test_invalidate_before_any_read_registers_the_callbacks(factory):
    request = make_request(signed(factory, "some-id"))
    factory(request).invalidate()
    assert callbacks(request) == (1, 1)


def test_a_session_is_loaded_with_one_command_however_many_reads(factory, commands):
    sid = stored_session(factory, {"a": 1, "b": 2})
    session = factory(make_request(signed(factory, sid)))
    commands.reset()
    assert (session["a"], session.get("b"), len(session), session.session_id) == (1, 2, 2, sid)
    assert sum(commands.counts().values()) == 1


def test_a_new_session_is_created_now_by_the_clock_of_the_module(factory, clock):
    clock.now = 1_234_567
    assert new_session(factory).created == 1_234_567


def test_current_time_is_whole_seconds_since_the_epoch():
    before = int(time.time())
    now = lifecycle.current_time()
    assert type(now) is int and before <= now <= time.time()


# -- what reads and changes record ----------------------------------------------------------


@pytest.mark.parametrize("read", [
    lambda s: s.get("a"), lambda s: s["a"], lambda s: len(s), lambda s: "a" in s, lambda s: list(s),
    lambda s: s.keys(), lambda s: s.session_id, lambda s: s.new, lambda s: s.created, lambda s: bool(s),
    lambda s: s.setdefault("a", 0), lambda s: s.pop("missing", None),
], ids=["get", "getitem", "len", "contains", "iter", "keys", "session_id", "new", "created", "bool",
        "setdefault-existing", "pop-missing"])
def test_a_read_loads_the_session_and_does_not_mark_it_dirty(factory, read):
    session = loaded_session(factory, stored_session(factory, {"a": 1}))
    read(session)
    assert session._loaded and not session._dirty


@pytest.mark.parametrize("change", [
    lambda s: s.__delitem__("a"), lambda s: s.update(b=2), lambda s: s.popitem(), lambda s: s.changed(),
    lambda s: s.incr("n"), lambda s: s.adjust_session_timeout(60), lambda s: s.regenerate_id(),
    lambda s: s.__setitem__("a", 2), lambda s: s.clear(), lambda s: s.pop("a"),
], ids=["delitem", "update", "popitem", "changed", "incr", "adjust_session_timeout", "regenerate_id",
        "setitem", "clear", "pop"])
def test_a_change_marks_the_session_dirty(factory, change):
    session = loaded_session(factory, stored_session(factory, {"a": 1}))
    change(session)
    assert session._dirty


def test_a_change_on_an_unloaded_session_loads_it_first(factory):
    sid = stored_session(factory, {"a": 1})
    session = factory(make_request(signed(factory, sid)))
    session.update(b=2)
    assert session._loaded and session._dirty and dict(session.items()) == {"a": 1, "b": 2}


def test_a_delete_of_a_missing_key_raises_and_leaves_the_session_clean(factory):
    session = loaded_session(factory, stored_session(factory, {"keep": 1}))
    with pytest.raises(KeyError):
        del session["missing"]
    assert not session._dirty and dict(session.items()) == {"keep": 1}


def test_a_popitem_of_an_empty_session_raises_and_leaves_it_clean(factory):
    session = new_session(factory)
    with pytest.raises(KeyError):
        session.popitem()
    assert session._loaded and not session._dirty


def test_setting_the_same_immutable_value_again_is_not_a_change(factory):
    session = loaded_session(factory, stored_session(factory, {"a": 1, "s": "x"}))
    session["a"] = 1
    session["s"] = "x"
    assert not session._dirty
    session["a"] = 1.0  # equal, another type: stored as it is given
    assert session._dirty


def test_reading_a_mutable_value_marks_the_session_exposed_not_dirty(factory):
    session = loaded_session(factory, stored_session(factory, {"n": 1, "items": [1]}))
    session["n"]
    assert not session._exposed
    session["items"]
    assert session._exposed and not session._dirty


def test_unchanged_resets_every_change_record(factory):
    session = loaded_session(factory, stored_session(factory, {"a": 1}))
    for flag in _FLAGS:
        setattr(session, flag, True)
    session._unchanged()
    assert {flag: getattr(session, flag) for flag in _FLAGS} == dict.fromkeys(_FLAGS, False)


def test_a_stored_session_has_nothing_left_to_write(factory):
    session = loaded_session(factory, stored_session(factory, {"items": [1]}))
    session["items"].append(2)
    session.ensure_id()
    session.adjust_session_expires(2_000_000_000)
    assert session._dirty and session._exposed and session._expires_pinned
    session.do_persist()
    assert {flag: getattr(session, flag) for flag in _FLAGS} == dict.fromkeys(_FLAGS, False)


# -- degrade mode: Redis unreachable ---------------------------------------------------------


def _unreachable(**options):
    reports = Reports()
    app = make_app("redis://127.0.0.1:1/0", redis_socket_connect_timeout=0.2, redis_socket_timeout=0.2,
                   on_backend_error="degrade", func_backend_error_logger=reports, **options)
    app.set_cookie("session", signed(app.factory, "x" * 43))
    return app, reports


@pytest.mark.parametrize("path", ["/read?key=k", "/write?key=k&value=v", "/clear"])
def test_degraded_response_varies_on_cookie_sets_no_cookie_and_reports_once(path):
    app, reports = _unreachable()
    response = app.get(path)
    assert response.status_int == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" in response.headers["Vary"]
    assert len(reports) == 1


def test_without_a_cookie_an_unreachable_redis_is_not_asked_and_nothing_degrades():
    app, reports = _unreachable()
    app.cookiejar.clear()
    response = app.get("/write?key=k&value=v")  # a new session: its write at the end of the request fails
    assert "Set-Cookie" in response.headers
    assert len(reports) == 1  # the write, reported; degrade keeps the response


def test_invalidate_before_any_read_does_not_load_so_the_request_is_not_degraded():
    """invalidate() needs only the cookie: the fresh session it starts is not degraded, gets
    a cookie, and the end of the request (delete the old key, create the new) fails, reported once."""
    app, reports = _unreachable()
    response = app.get("/invalidate_then_write")
    assert response.text == "invalidated and written"
    assert "Set-Cookie" in response.headers
    assert len(reports) == 1


def test_in_raise_mode_the_failed_load_reaches_the_view_after_the_hook():
    from pyramid_session_redis.exceptions import SessionBackendError

    reports = Reports()
    factory = RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:1/0",
                                  redis_socket_connect_timeout=0.2, func_backend_error_logger=reports)
    session = factory(make_request(signed(factory, "x" * 43)))
    with pytest.raises(SessionBackendError):
        session.get("k")
    assert len(reports) == 1 and not session._degraded
