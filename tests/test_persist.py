"""The write path (persist.py): each storage action carried out against the
suite's real Redis, counted command by command with MONITOR.

Sessions are built as the factory builds them; ``carry_out`` is handed the
decision directly, so that each action is tested on its own (the policy that
chooses it is tested in test_policy.py).
"""

from __future__ import annotations

import ast
import json

import pytest

from pyramid_session_redis import lifecycle, persist
from pyramid_session_redis.exceptions import (
    SessionBackendError,
    SessionConflict,
    SessionPayloadError,
    SessionPayloadTooLarge,
)
from pyramid_session_redis.policy import Action, Decision

from .helpers import Ids, Reports, factory_for, loaded_session, new_session, run, signed, stored_session


@pytest.fixture
def factory(redis_server):
    return factory_for(redis_server.url)


@pytest.fixture
def merging(redis_server):
    return factory_for(redis_server.url, on_conflict="merge")  # (the default, spelled out)


@pytest.fixture
def overwriting(redis_server):
    return factory_for(redis_server.url, on_conflict="overwrite")


def stored_data(redis_client, session_id):
    raw = redis_client.get(session_id)
    return None if raw is None else json.loads(raw)["m"]


# -- carry_out: one action, its one command --------------------------------------------


def test_nothing_sends_no_command_even_for_a_changed_session(factory, redis_client, commands):
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session["a"] = 2
    commands.reset()
    persist.carry_out(session, Decision(Action.NOTHING))
    assert commands.counts() == {}
    assert stored_data(redis_client, sid) == {"a": 1}


def test_create_is_one_set_with_the_decided_ttl_and_marks_the_session_stored(factory, redis_client, commands):
    session = new_session(factory)
    session["a"] = 1
    sid = session.ensure_id()
    commands.reset()
    persist.carry_out(session, Decision(Action.CREATE, ttl=300))
    assert commands.counts() == {"set": 1}
    assert stored_data(redis_client, sid) == {"a": 1}
    assert 0 < redis_client.ttl(sid) <= 300
    assert session._stored and not session._dirty and session._raw == redis_client.get(sid)


def test_create_never_overwrites_a_taken_id_and_stores_under_a_fresh_one(redis_server, redis_client, commands):
    ids = Ids()
    factory = factory_for(redis_server.url, id_generator=ids)
    redis_client.set("taken", b"someone else's session")
    ids.queue[:] = ["taken", "fresh"]
    session = new_session(factory)
    session["mine"] = 1
    assert session.ensure_id() == "taken"
    commands.reset()
    persist.carry_out(session, Decision(Action.CREATE, ttl=60))
    assert commands.counts() == {"set": 2}  # SET NX refused, then SET NX under the fresh id
    assert redis_client.get("taken") == b"someone else's session"
    assert session.session_id == "fresh" and stored_data(redis_client, "fresh") == {"mine": 1}


def test_taken_id_is_never_overwritten(redis_server, redis_client):
    ids = iter(["checked-at-startup", "taken-id", "fresh-id"])
    redis_client.set("taken-id", b"someone else's session")
    app = run(redis_server, lambda s: s.__setitem__("mine", 1), id_generator=lambda: next(ids))
    response = app.get("/v")
    assert redis_client.get("taken-id") == b"someone else's session"
    assert json.loads(redis_client.get("fresh-id"))["m"] == {"mine": 1}
    cookies = response.headers.getall("Set-Cookie")
    assert len(cookies) == 1  # the cookie was re-set for the new id, not added twice
    follow = run(redis_server, lambda s: s.get("mine"))
    follow.cookiejar = app.cookiejar
    assert follow.get("/v").text == "1"


def test_id_generator_that_only_returns_taken_ids_fails_loudly(redis_server, redis_client):
    redis_client.set("same", b"x")
    app = run(redis_server, lambda s: s.__setitem__("a", 1), id_generator=lambda: "same")
    with pytest.raises(RuntimeError, match="already in Redis"):
        app.get("/v")
    assert redis_client.get("same") == b"x"


def test_save_is_one_set_xx_when_conflicts_overwrite(overwriting, redis_client, commands):
    sid = stored_session(overwriting, {"a": 1})
    session = loaded_session(overwriting, sid)
    session["a"] = 2
    commands.reset()
    persist.carry_out(session, Decision(Action.SAVE, ttl=90))
    assert commands.counts() == {"set": 1}
    assert stored_data(redis_client, sid) == {"a": 2}
    assert 0 < redis_client.ttl(sid) <= 90


def test_save_is_one_checked_write_when_conflicts_merge(merging, redis_client, commands):
    sid = stored_session(merging, {"a": 1})
    session = loaded_session(merging, sid)
    session["a"] = 2
    commands.reset()
    persist.carry_out(session, Decision(Action.SAVE, ttl=90))
    assert commands.counts() == {"evalsha": 1}
    assert stored_data(redis_client, sid) == {"a": 2}
    assert 0 < redis_client.ttl(sid) <= 90


def test_save_if_changed_sends_nothing_when_the_bytes_are_those_loaded(factory, redis_client, commands):
    sid = stored_session(factory, {"items": [1, 2]})
    session = loaded_session(factory, sid)
    assert session["items"] == [1, 2]  # exposed, not changed
    ttl_before = redis_client.ttl(sid)
    commands.reset()
    persist.carry_out(session, Decision(Action.SAVE_IF_CHANGED, ttl=30))
    assert commands.counts() == {}
    assert redis_client.ttl(sid) == ttl_before


def test_save_if_changed_refreshes_unchanged_bytes_when_told_to_otherwise(factory, redis_client, commands):
    sid = stored_session(factory, {"items": [1, 2]})
    session = loaded_session(factory, sid)
    session["items"]
    commands.reset()
    persist.carry_out(session, Decision(Action.SAVE_IF_CHANGED, ttl=30, otherwise=Action.REFRESH))
    assert commands.counts() == {"expire": 1}
    assert 0 < redis_client.ttl(sid) <= 30


def test_save_if_changed_writes_bytes_changed_in_place(factory, redis_client, commands):
    sid = stored_session(factory, {"items": [1, 2]})
    session = loaded_session(factory, sid)
    session["items"].append(3)
    commands.reset()
    persist.carry_out(session, Decision(Action.SAVE_IF_CHANGED, ttl=30, otherwise=Action.REFRESH))
    assert commands.counts() == {"evalsha": 1}
    assert stored_data(redis_client, sid) == {"items": [1, 2, 3]}


def test_refresh_is_one_expire_and_leaves_the_payload(factory, redis_client, commands):
    sid = stored_session(factory, {"a": 1})
    before = redis_client.get(sid)
    session = loaded_session(factory, sid)
    commands.reset()
    persist.carry_out(session, Decision(Action.REFRESH, ttl=77))
    assert commands.counts() == {"expire": 1}
    assert 0 < redis_client.ttl(sid) <= 77 and redis_client.get(sid) == before


@pytest.mark.parametrize("on_conflict, command", [("overwrite", "del"), ("merge", "evalsha"), ("raise", "evalsha")])
def test_delete_is_one_command_and_removes_the_key(redis_server, redis_client, commands, on_conflict, command):
    factory = factory_for(redis_server.url, on_conflict=on_conflict)
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session.clear()
    commands.reset()
    persist.carry_out(session, Decision(Action.DELETE))
    assert commands.counts() == {command: 1}
    assert redis_client.exists(sid) == 0


def test_delete_old_deletes_the_doomed_key_and_forgets_it(factory, redis_client, commands):
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session.regenerate_id()
    assert session._doomed == sid
    commands.reset()
    persist.carry_out(session, Decision(Action.NOTHING, delete_old=True))
    assert commands.counts() == {"del": 1}
    assert redis_client.exists(sid) == 0 and session._doomed is None


def test_delete_old_goes_with_the_create_of_the_successor(factory, redis_client, commands):
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session.regenerate_id()
    new_id = session.ensure_id()
    commands.reset()
    persist.carry_out(session, Decision(Action.CREATE, delete_old=True, ttl=60))
    assert commands.counts() == {"del": 1, "set": 1}
    assert redis_client.exists(sid) == 0 and stored_data(redis_client, new_id) == {"a": 1}


# -- the size limit ----------------------------------------------------------


def test_a_write_refuses_a_payload_over_the_limit_naming_size_and_limit(redis_server):
    factory = factory_for(redis_server.url, max_payload_bytes=100)
    session = new_session(factory)
    session["big"] = "x" * 500
    session.ensure_id()
    with pytest.raises(SessionPayloadTooLarge) as caught:
        persist.carry_out(session, Decision(Action.CREATE, ttl=60))
    assert caught.value.limit == 100 and caught.value.size > 500


@pytest.mark.parametrize("value", ["x" * 500, {1, 2}])
def test_a_payload_that_cannot_be_stored_stores_nothing_but_the_doomed_key_still_goes(
        redis_server, redis_client, commands, value):
    factory = factory_for(redis_server.url, max_payload_bytes=100)
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session.regenerate_id()
    session.ensure_id()
    session["big"] = value
    commands.reset()
    with pytest.raises(SessionPayloadError):
        persist.carry_out(session, Decision(Action.CREATE, delete_old=True, ttl=60))
    # Nothing is written, but the session regenerated away (or invalidated) still ends.
    assert commands.counts() == {"del": 1}
    assert redis_client.keys("*") == [] and session._doomed is None


def test_a_payload_that_cannot_be_stored_over_a_stored_session_leaves_it_as_it_was(factory, redis_client, commands):
    sid = stored_session(factory, {"a": 1})
    before = redis_client.get(sid)
    session = loaded_session(factory, sid)
    session["bad"] = "\ud800"
    commands.reset()
    with pytest.raises(SessionPayloadError):
        persist.carry_out(session, Decision(Action.SAVE, ttl=60))
    assert commands.counts() == {} and redis_client.get(sid) == before


@pytest.mark.parametrize("failure", [TypeError("no"), RecursionError("deep"), OverflowError("big")])
def test_whatever_a_serializer_raises_is_a_session_payload_error(redis_server, failure):
    def serialize(payload):
        raise failure

    factory = factory_for(redis_server.url, serialize=serialize, deserialize=json.loads)
    session = new_session(factory)
    session["a"] = 1
    with pytest.raises(SessionPayloadError, match=f"cannot be serialized \\({type(failure).__name__}: ") as caught:
        persist.serialized(session, None, None)
    assert caught.value.__cause__ is failure


# -- persist_now: do_persist() -------------------------------------------------------


def test_persist_now_creates_a_new_session_then_saves_it(factory, redis_client, commands):
    session = new_session(factory)
    session["a"] = 1
    session.ensure_id()
    commands.reset()
    persist.persist_now(session, lifecycle.current_time())
    session["a"] = 2
    persist.persist_now(session, lifecycle.current_time())
    assert commands.counts() == {"set": 1, "evalsha": 1}  # SET NX, then the checked write
    assert stored_data(redis_client, session.session_id) == {"a": 2} and session._stored


def test_persist_now_reports_a_backend_failure_and_degrades_the_session():
    reports = Reports()
    factory = factory_for("redis://127.0.0.1:1/0", redis_socket_timeout=0.2, redis_socket_connect_timeout=0.2,
                          func_backend_error_logger=reports)
    session = new_session(factory)
    session["a"] = 1  # no cookie: nothing to load, no command
    session.ensure_id()
    with pytest.raises(SessionBackendError, match="during create") as caught:
        persist.persist_now(session, lifecycle.current_time())
    assert reports == [caught.value]
    assert session._degraded and not session._stored
    # the end of the request neither retries the write nor reports it again
    session._on_finished(session.request)
    assert reports == [caught.value]
    with pytest.raises(SessionBackendError, match="could not be loaded"):
        session.do_persist()


def test_persist_now_without_a_backend_error_hook_still_raises_to_the_view_and_degrades_the_session():
    factory = factory_for("redis://127.0.0.1:1/0", redis_socket_timeout=0.2, redis_socket_connect_timeout=0.2)
    assert factory.hooks.backend_error is None
    session = new_session(factory)
    session["a"] = 1
    session.ensure_id()
    with pytest.raises(SessionBackendError, match="during create"):
        persist.persist_now(session, lifecycle.current_time())
    assert session._degraded and not session._stored
    session._on_finished(session.request)  # the end of the request attempts nothing more
    with pytest.raises(SessionBackendError, match="could not be loaded"):
        session.do_persist()


# -- checked writes: merge and retry ----------------------------------------------------


def test_a_checked_write_overtaken_by_another_request_merges_both_changes(merging, redis_client, commands):
    sid = stored_session(merging, {"a": 1, "b": 1})
    first = loaded_session(merging, sid)
    second = loaded_session(merging, sid)
    first["a"] = 2
    second["b"] = 3
    persist.carry_out(first, Decision(Action.SAVE, ttl=60))
    commands.reset()
    persist.carry_out(second, Decision(Action.SAVE, ttl=60))
    assert commands.counts() == {"evalsha": 2}  # refused (their payload comes back), then written
    assert stored_data(redis_client, sid) == {"a": 2, "b": 3}
    assert dict(second.items()) == {"a": 2, "b": 3}  # the session now holds the merge
    assert second._raw == redis_client.get(sid)


def test_a_merge_that_keeps_this_requests_value_of_a_key_both_changed_reports_it(redis_server, redis_client):
    conflicts = Reports()
    factory = factory_for(redis_server.url, on_conflict="merge", func_conflict_logger=conflicts)
    sid = stored_session(factory, {"a": 1})
    first = loaded_session(factory, sid)
    second = loaded_session(factory, sid)
    first["a"] = "first"
    second["a"] = "second"
    persist.carry_out(first, Decision(Action.SAVE, ttl=60))
    persist.carry_out(second, Decision(Action.SAVE, ttl=60))
    assert stored_data(redis_client, sid) == {"a": "second"}
    (conflict,) = conflicts
    assert isinstance(conflict, SessionConflict) and conflict.keys == ("a",) and not conflict.gone


def test_a_checked_write_raises_when_conflicts_raise_and_leaves_their_write(redis_server, redis_client):
    factory = factory_for(redis_server.url, on_conflict="raise")
    sid = stored_session(factory, {"a": 1})
    first = loaded_session(factory, sid)
    second = loaded_session(factory, sid)
    first["a"] = 2
    second["b"] = 3
    persist.carry_out(first, Decision(Action.SAVE, ttl=60))
    with pytest.raises(SessionConflict, match="on_conflict = raise"):
        persist.carry_out(second, Decision(Action.SAVE, ttl=60))
    assert stored_data(redis_client, sid) == {"a": 2}


def test_a_checked_write_into_a_session_deleted_meanwhile_is_dropped_and_reported(redis_server, redis_client):
    conflicts = Reports()
    factory = factory_for(redis_server.url, on_conflict="merge", func_conflict_logger=conflicts)
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session["a"] = 2
    redis_client.delete(sid)
    persist.carry_out(session, Decision(Action.SAVE, ttl=60))
    assert redis_client.exists(sid) == 0 and not session._stored
    (conflict,) = conflicts
    assert conflict.gone


def test_a_checked_delete_of_a_session_deleted_meanwhile_is_no_conflict(redis_server, redis_client, commands):
    conflicts = Reports()
    factory = factory_for(redis_server.url, on_conflict="merge", func_conflict_logger=conflicts)
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session.clear()
    redis_client.delete(sid)
    commands.reset()
    persist.carry_out(session, Decision(Action.DELETE))
    assert commands.counts() == {"evalsha": 1}
    assert redis_client.exists(sid) == 0 and not session._stored
    assert conflicts == []  # both wanted it gone: nothing was lost


def test_a_write_into_a_session_deleted_meanwhile_without_a_conflict_hook_is_dropped_quietly(
        redis_server, redis_client):
    factory = factory_for(redis_server.url, on_conflict="merge")
    assert factory.hooks.conflict is None
    sid = stored_session(factory, {"a": 1})
    session = loaded_session(factory, sid)
    session["a"] = 2
    redis_client.delete(sid)
    persist.carry_out(session, Decision(Action.SAVE, ttl=60))  # no hook to tell: no error either
    assert redis_client.exists(sid) == 0 and not session._stored


# -- a write with nothing loaded to check against ------------------------------------------


@pytest.mark.parametrize("on_conflict", ["merge", "raise"])
def test_regenerate_id_then_do_persist_without_a_cookie_ends_the_session_under_both_ids(
        redis_server, redis_client, commands, on_conflict, caplog):
    """settle() cannot move the session back under the id the browser's cookie holds (it may be
    one an attacker planted): the old key and the copy under the new id are both deleted."""

    def regenerate_and_persist(session):
        session["user"] = "alice"
        session.regenerate_id()
        session.do_persist()  # stored under the new id, which this response cannot tell the browser
        return session.session_id

    app = run(redis_server, regenerate_and_persist, on_conflict=on_conflict,
              func_check_response_allow_cookies=lambda response: False)
    sid = stored_session(app.factory, {"a": 1})
    app.set_cookie("session", signed(app.factory, sid))
    commands.reset()
    response = app.get("/v")
    new_id = ast.literal_eval(response.text)
    assert new_id != sid and "Set-Cookie" not in response.headers
    assert commands.counts() == {"getex": 1, "set": 1, "del": 2}  # load, do_persist(), both keys deleted
    assert redis_client.keys("*") == []
    assert "regenerate_id() was called, but the response carried no session cookie" in caplog.text


@pytest.mark.parametrize("on_conflict", ["merge", "raise"])
def test_a_regenerated_session_emptied_without_a_cookie_is_deleted_under_both_ids(
        redis_server, redis_client, commands, on_conflict):
    """A do_persist() stored the session under its new id, which the response cannot tell the
    browser, and the session was then emptied: both keys are deleted, and nothing is written."""

    def regenerate_and_empty(session):
        session.regenerate_id()
        session["x"] = 1
        session.do_persist()
        session.clear()
        return None

    app = run(redis_server, regenerate_and_empty, on_conflict=on_conflict,
              func_check_response_allow_cookies=lambda response: False)
    sid = stored_session(app.factory, {"a": 1})
    app.set_cookie("session", signed(app.factory, sid))
    commands.reset()
    app.get("/v")
    assert commands.counts() == {"getex": 1, "set": 1, "del": 2}
    assert redis_client.keys("*") == []
