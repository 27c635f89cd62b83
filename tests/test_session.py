"""The session face (RedisSession): the dict API, flash, csrf and the extras,
each through a real request against Redis."""

from __future__ import annotations

import datetime

import pytest

from pyramid_session_redis.payload import MAX_EPOCH, MAX_TIMEOUT

from .helpers import factory_for, new_session, payload, run


def test_changed_forces_a_write_when_detect_changes_is_off(redis_server, redis_client, commands):
    def mutate_and_mark(session):
        session.setdefault("box", {"n": 0})["n"] += 1
        session.changed()

    app = run(redis_server, mutate_and_mark, detect_changes=False)
    app.get("/v")
    app.get("/v")
    assert payload(redis_client)["m"]["box"] == {"n": 2}


def test_flash_without_duplicates_and_peek(redis_server, redis_client):
    app = run(redis_server, lambda s: (s.flash("x", allow_duplicate=False), s.flash("x", allow_duplicate=False), s.peek_flash()))
    assert app.get("/v").text == "(None, None, ['x'])"
    assert payload(redis_client)["m"] == {"_f_": ["x"]}


def test_flash_queues_are_separate(redis_server, redis_client):
    app = run(redis_server, lambda s: (s.flash("a", "q1"), s.flash("b", "q2"), s.pop_flash("q1"), s.peek_flash("q2")))
    assert app.get("/v").text == "(None, None, ['a'], ['b'])"
    assert payload(redis_client)["m"] == {"_f_q2": ["b"]}


def test_setdefault_with_immutable_default_and_clear_of_empty_session(redis_server, redis_client, commands):
    app = run(redis_server, lambda s: (s.setdefault("n", 5), s.setdefault("n", 6)))
    assert app.get("/v").text == "(5, 5)"
    commands.reset()
    app2 = run(redis_server, lambda s: s.clear())
    app2.get("/v")
    assert commands.counts() == {}  # clearing an empty new session changes nothing


def test_managed_dict_changes_in_place_are_detected(redis_server, redis_client):
    app = run(redis_server, lambda s: s.managed_dict.update(direct=True))
    app.get("/v")
    assert payload(redis_client)["m"] == {"direct": True}


def test_get_of_a_mutable_value_compares_but_does_not_rewrite(redis_server, redis_client, commands):
    app = run(redis_server, lambda s: s.setdefault("items", [1, 2]))
    app.get("/v")
    reader = run(redis_server, lambda s: s.get("items"))
    reader.cookiejar = app.cookiejar
    commands.reset()
    assert reader.get("/v").text == "[1, 2]"
    assert commands.counts() == {"getex": 1}


def test_unchanged_session_with_own_timeout_is_refreshed_not_rewritten(redis_server, redis_client, commands):
    def set_short(session):
        session["items"] = [1]
        session.adjust_session_timeout(40)

    app = run(redis_server, set_short)
    app.get("/v")
    reader = run(redis_server, lambda s: s.get("items"))
    reader.cookiejar = app.cookiejar
    commands.reset()
    reader.get("/v")
    assert commands.counts() == {"getex": 1, "expire": 1}
    (key,) = redis_client.keys("*")
    assert 0 < redis_client.ttl(key) <= 40


def test_do_persist_on_a_stored_session_with_tracked_expiry(redis_server, redis_client, clock_at):
    clock_at(5000)
    app = run(redis_server, lambda s: s.__setitem__("a", 1), timeout_trigger=600)
    app.get("/v")
    clock_at(5100)

    def persist(session):
        session["a"] = 2
        session.do_persist()
        return session.expires

    saver = run(redis_server, persist, timeout_trigger=600)
    saver.cookiejar = app.cookiejar
    assert saver.get("/v").text == "6300"
    assert payload(redis_client)["x"] == 6300 and payload(redis_client)["m"] == {"a": 2}


def test_do_refresh_does_nothing_without_a_stored_session_or_ttl(redis_server, redis_client, commands):
    app = run(redis_server, lambda s: s.do_refresh())
    commands.reset()
    app.get("/v")
    assert commands.counts() == {}
    lru = run(redis_server, lambda s: s.__setitem__("a", 1), set_redis_ttl=False)
    lru.get("/v")
    refresher = run(redis_server, lambda s: s.do_refresh(), set_redis_ttl=False)
    refresher.cookiejar = lru.cookiejar
    commands.reset()
    refresher.get("/v")
    assert "expire" not in commands.counts()


def test_adjust_cookie_expires_resends_the_cookie(redis_server, redis_client):
    app = run(redis_server, lambda s: s.__setitem__("a", 1))
    app.get("/v")
    when = datetime.timedelta(days=2)
    adjuster = run(redis_server, lambda s: s.adjust_cookie_expires(when))
    adjuster.cookiejar = app.cookiejar
    with pytest.warns(Warning):  # WebOb deprecates `expires` in favour of max_age
        header = adjuster.get("/v").headers["Set-Cookie"]
    assert "Max-Age=172800" in header


def test_invalidate_a_new_session_then_write(redis_server, redis_client, commands):
    def fresh_then_invalidate(session):
        session["a"] = 1
        session.invalidate()
        session["b"] = 2

    app = run(redis_server, fresh_then_invalidate)
    commands.reset()
    app.get("/v")
    assert commands.counts() == {"set": 1}
    assert payload(redis_client)["m"] == {"b": 2}


def test_invalidate_without_reading_deletes_by_cookie_id(redis_server, redis_client, commands):
    app = run(redis_server, lambda s: s.__setitem__("a", 1))
    app.get("/v")
    killer = run(redis_server, lambda s: s.invalidate())
    killer.cookiejar = app.cookiejar
    commands.reset()
    response = killer.get("/v")
    assert commands.counts() == {"del": 1}
    assert redis_client.dbsize() == 0 and "Max-Age=0" in response.headers["Set-Cookie"]


@pytest.fixture
def clock_at(monkeypatch):
    from pyramid_session_redis import lifecycle as session_module

    def set_time(now: int) -> None:
        monkeypatch.setattr(session_module, "current_time", lambda: now)

    return set_time


def test_several_increments_in_one_request_all_count_when_merged_with_another_requests(redis_server, redis_client):
    from pyramid_session_redis import persist
    from pyramid_session_redis.policy import Action, Decision

    from .helpers import factory_for, loaded_session, stored_session

    factory = factory_for(redis_server.url, on_conflict="merge")
    sid = stored_session(factory, {"n": 10})
    first, second = loaded_session(factory, sid), loaded_session(factory, sid)
    assert first.incr("n") == 11
    assert (second.incr("n", 2), second.incr("n", 3)) == (12, 15)
    assert second._increments == {"n": 5}
    persist.carry_out(first, Decision(Action.SAVE, ttl=60))
    persist.carry_out(second, Decision(Action.SAVE, ttl=60))
    assert payload(redis_client)["m"] == {"n": 16}


# -- the values a view may give: refused where they are given, never by Redis later ------------


@pytest.mark.parametrize("bad", [-1, MAX_TIMEOUT + 1, 10**30])
def test_adjust_session_timeout_refuses_what_redis_would_refuse_later(redis_server, bad):
    session = new_session(factory_for(redis_server.url))
    with pytest.raises(ValueError, match=f"timeout_seconds must be from 0 to {MAX_TIMEOUT}"):
        session.adjust_session_timeout(bad)
    session.adjust_session_timeout(MAX_TIMEOUT)
    assert session.timeout == MAX_TIMEOUT
    session.adjust_session_timeout(0)
    assert session.timeout is None


@pytest.mark.parametrize("bad", [0, -5, MAX_EPOCH + 1, 10**30])
def test_adjust_session_expires_refuses_what_redis_would_refuse_later(redis_server, bad):
    session = new_session(factory_for(redis_server.url))
    with pytest.raises(ValueError, match=f"expires_epoch must be from 1 to {MAX_EPOCH}"):
        session.adjust_session_expires(bad)
    session.adjust_session_expires(MAX_EPOCH)
    assert session.expires == MAX_EPOCH
