"""Concurrent requests on one session: nothing is lost (on_conflict = merge).

Two kinds of test, against the suite's real Redis:

* deterministic interleavings: a view loads the session, then runs a second
  request with the same cookie to completion inside itself, then finishes;
* a crowd: threads (and a second process) hammer one session, each adding its
  own key, flashing and incrementing a shared counter; afterwards nothing is
  missing.  The same crowd with ``on_conflict = overwrite`` loses updates.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from typing import Any, Dict, List

import pytest
from pyramid.response import Response
from webob import Request

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import SessionConflict
from pyramid_session_redis.payload import new_stamp
from pyramid_session_redis.store import CHECKED_WRITE

from .app import SECRET, Boom, make_wsgi


class Conflicts(list):
    def __call__(self, request, exc):
        assert isinstance(exc, SessionConflict)
        self.append(exc)


def build(redis_url: str, **options: Any):
    """(wsgi app, its factory, the conflict reports) with views that run a second request midway."""
    conflicts = Conflicts()
    options.setdefault("func_conflict_logger", conflicts)
    options.setdefault("on_conflict", "merge")
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_url, **options)
    holder: Dict[str, Any] = {}

    def inner(request, path):
        """Run ``path`` as another request of the same browser, to completion."""
        other = Request.blank(path, headers={"Cookie": request.headers.get("Cookie", "")})
        response = other.get_response(holder["app"])
        assert response.status_int == 200, response.text
        return response

    def interleave(request):
        session = request.session
        session.get("loaded")  # load first: what this request read
        inner(request, request.params["other"])
        action = request.params["mine"]
        if action == "set":
            session[request.params["key"]] = request.params["value"]
        elif action == "incr":
            session.incr("n")
        elif action == "flash":
            session.flash(request.params["value"])
        elif action == "pop":
            session.pop(request.params["key"])
        elif action == "persist":
            session["mine"] = "persisted"
            session.do_persist()
            return Response(repr(sorted(session.keys())))
        if request.params.get("boom"):
            raise Boom()  # rendered by the exception view: request.exception is set
        return Response("done")

    def incr(request):
        return Response(str(request.session.incr("n")))

    def invalidate(request):
        request.session.invalidate()
        return Response("invalidated")

    def regenerate(request):
        request.session.regenerate_id()
        return Response("regenerated")

    def peek(request):
        return Response(repr(sorted(request.session.items())))

    views = {"interleave": interleave, "incr": incr, "invalidate": invalidate, "regenerate": regenerate,
             "peek": peek}
    holder["app"] = app = make_wsgi(factory, views)
    return app, factory, conflicts


def get(app, path, cookie=None):
    headers = {"Cookie": cookie} if cookie else {}
    return Request.blank(path, headers=headers).get_response(app)


def start(app) -> str:
    """A stored session; returns the browser's Cookie header."""
    response = get(app, "/write?key=loaded&value=yes")
    return response.headers["Set-Cookie"].split(";")[0]


def peek(app, cookie) -> str:
    return get(app, "/peek", cookie).text


# -- deterministic interleavings ----------------------------------------------------


def test_changes_to_different_keys_both_survive(redis_server, redis_client, commands):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    commands.reset()
    get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
    # ours: GETEX, a checked write that found their change, a checked write that stuck;
    # theirs: GETEX, one checked write.
    assert commands.counts() == {"getex": 2, "evalsha": 3}
    assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'm'), ('theirs', 't')]"
    assert conflicts == []


def test_the_same_key_goes_to_the_later_request_and_is_reported(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    get(app, "/interleave?other=/write%3Fkey%3Dk%26value%3Dearlier&mine=set&key=k&value=later", cookie)
    assert "('k', 'later')" in peek(app, cookie)
    assert [c.keys for c in conflicts] == [("k",)] and not conflicts[0].gone


def test_concurrent_increments_add_up(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    get(app, "/interleave?other=/incr&mine=incr", cookie)
    assert "('n', 2)" in peek(app, cookie) and conflicts == []


def test_concurrent_flash_messages_are_all_kept(redis_server, redis_client):
    app, _, _ = build(redis_server.url)
    cookie = start(app)
    get(app, "/interleave?other=/flash%3Fmsg%3Dtheirs&mine=flash&value=mine", cookie)
    assert get(app, "/pop_flash", cookie).text == "['theirs', 'mine']"


def test_popping_a_key_keeps_what_another_request_added(redis_server, redis_client):
    app, _, _ = build(redis_server.url)
    cookie = start(app)
    # Ours empties the session (it would be deleted); theirs added a key meanwhile.
    get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=pop&key=loaded", cookie)
    assert peek(app, cookie) == "[('theirs', 't')]"


def test_an_invalidated_session_is_not_brought_back(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    get(app, "/interleave?other=/invalidate&mine=set&key=late&value=write", cookie)
    assert redis_client.dbsize() == 0
    assert len(conflicts) == 1 and conflicts[0].gone


def test_a_regenerated_session_is_not_brought_back_under_its_old_id(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    [old_key] = redis_client.keys("*")
    get(app, "/interleave?other=/regenerate&mine=set&key=late&value=write", cookie)
    keys = redis_client.keys("*")
    assert len(keys) == 1  # only the regenerated session, under its new id
    assert keys != [old_key]
    assert conflicts and conflicts[0].gone


def test_do_persist_merges_and_the_view_sees_the_merged_session(redis_server, redis_client):
    app, _, _ = build(redis_server.url)
    cookie = start(app)
    response = get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=persist", cookie)
    assert response.text == "['loaded', 'mine', 'theirs']"
    assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'persisted'), ('theirs', 't')]"


def test_on_conflict_raise(redis_server, redis_client):
    app, _, _ = build(redis_server.url, on_conflict="raise")
    cookie = start(app)
    with pytest.raises(SessionConflict, match="on_conflict = raise"):
        get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
    assert peek(app, cookie) == "[('loaded', 'yes'), ('theirs', 't')]"  # theirs stands, ours was refused


def test_on_conflict_overwrite_loses_the_other_change(redis_server, redis_client, commands):
    app, _, conflicts = build(redis_server.url, on_conflict="overwrite")
    cookie = start(app)
    commands.reset()
    get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
    assert commands.counts() == {"getex": 2, "set": 2}
    assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'm')]"  # 'theirs' is lost: 1.x's behaviour
    assert conflicts == []


def test_merge_on_the_memory_store_too():
    app, factory, _ = build("memory://concurrency-test")
    factory.store.data.clear()
    cookie = start(app)
    get(app, "/interleave?other=/incr&mine=incr", cookie)
    get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
    assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'm'), ('n', 2), ('theirs', 't')]"


def test_a_server_that_lost_its_scripts_gets_it_again_with_eval(redis_server, redis_client, commands):
    app, _, _ = build(redis_server.url)
    cookie = start(app)
    redis_client.script_flush()
    commands.reset()
    get(app, "/incr", cookie)
    assert commands.counts() == {"getex": 1, "evalsha": 1, "eval": 1}
    commands.reset()
    get(app, "/incr", cookie)
    assert commands.counts() == {"getex": 1, "evalsha": 1}
    assert "('n', 2)" in peek(app, cookie)
    redis_client.script_load(CHECKED_WRITE)


def test_a_session_that_keeps_changing_gives_up_after_bounded_attempts(redis_server, redis_client, monkeypatch):
    app, factory, _ = build(redis_server.url)
    cookie = start(app)
    store = factory.store
    real = type(store).checked_save
    calls = []

    def always_changed(self, session_id, head, data, ttl, whole=False):
        # Another request writes just before each attempt.
        calls.append(1)
        another_write(redis_client, self.prefix + session_id)
        return real(self, session_id, head, data, ttl, whole)

    monkeypatch.setattr(type(store), "checked_save", always_changed)
    with pytest.raises(SessionConflict, match="12 attempts"):
        get(app, "/incr", cookie)
    assert len(calls) == 1 + 12  # the write, then 12 merges and retries


# -- a crowd --------------------------------------------------------------------------

THREADS, REQUESTS = 8, 12


def crowd_views():
    def work(request):
        session = request.session
        session.get("n")  # load
        time.sleep(0.003)  # hold the loaded copy a little, as a real view would: overlaps are certain
        tag = request.params["tag"]
        session[f"key-{tag}"] = tag
        session.flash(f"msg-{tag}")
        session.incr("n")
        return Response("ok")

    def total(request):
        session = request.session
        keys = sorted(k for k in session if k.startswith("key-"))
        return Response(repr((session.get("n"), keys, sorted(session.peek_flash()))))

    return {"work": work, "total": total}


def hammer(app, cookie: str, prefix: str, threads: int = THREADS, requests: int = REQUESTS) -> List[str]:
    errors: List[str] = []

    def run(i: int) -> None:
        for j in range(requests):
            try:
                response = get(app, f"/work?tag={prefix}{i}-{j}", cookie)
            except Exception as exc:  # a SessionConflict out of the finished callback, say
                errors.append(repr(exc))
                continue
            if response.status_int != 200:
                errors.append(response.text)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def expected_tags(prefix: str, threads: int = THREADS, requests: int = REQUESTS) -> List[str]:
    return [f"{prefix}{i}-{j}" for i in range(threads) for j in range(requests)]


def _child(url: str, cookie: str, conn) -> None:
    try:
        factory = RedisSessionFactory(secret=SECRET, redis_url=url, on_conflict="merge")
        app = make_wsgi(factory, crowd_views())
        conn.send(hammer(app, cookie, "p", threads=4, requests=REQUESTS))
    except BaseException as exc:  # report, never hang the parent
        conn.send([repr(exc)])
    finally:
        conn.close()


def test_threads_and_a_second_process_lose_nothing(redis_server, redis_client):
    conflicts = Conflicts()
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url, func_conflict_logger=conflicts,
                                  on_conflict="merge")
    app = make_wsgi(factory, crowd_views())
    cookie = start(app)
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_child, args=(redis_server.url, cookie, child_end))
    child.start()
    errors = hammer(app, cookie, "t")
    assert parent_end.poll(60), "the second process did not finish"
    assert parent_end.recv() == [] and errors == []
    child.join(10)
    n, keys, messages = eval(get(app, "/total", cookie).text)
    tags = sorted(expected_tags("t") + expected_tags("p", threads=4))
    assert n == len(tags) == 144
    assert keys == sorted(f"key-{t}" for t in tags)
    assert messages == sorted(f"msg-{t}" for t in tags)
    assert not [c for c in conflicts if c.gone]  # nobody ended the session


def test_the_same_crowd_with_overwrite_loses_updates(redis_server, redis_client):
    factory = RedisSessionFactory(secret=SECRET, redis_url=redis_server.url, on_conflict="overwrite")
    app = make_wsgi(factory, crowd_views())
    cookie = start(app)
    assert hammer(app, cookie, "t") == []
    n, keys, messages = eval(get(app, "/total", cookie).text)
    assert n < THREADS * REQUESTS and len(keys) < THREADS * REQUESTS and len(messages) < THREADS * REQUESTS


def test_overwrite_mode_deletes_an_emptied_session_with_a_plain_del(redis_server, redis_client, commands):
    app, _, _ = build(redis_server.url, on_conflict="overwrite")
    cookie = start(app)
    commands.reset()
    get(app, "/clear", cookie)
    assert commands.counts() == {"getex": 1, "del": 1} and redis_client.dbsize() == 0


def another_write(redis_client, key):
    """What another request's write leaves: the same session under a stamp of its own."""
    payload = json.loads(redis_client.get(key))
    payload["s"] = new_stamp()
    redis_client.set(key, json.dumps(payload, separators=(",", ":")).encode())


def _before_each_write(monkeypatch, store, action):
    """Run ``action(key, attempt)`` just before each checked write reaches Redis."""
    real = type(store).checked_save
    attempts = []

    def checked_save(self, session_id, head, data, ttl, whole=False):
        attempts.append(1)
        action(self.prefix + session_id, len(attempts))
        result = real(self, session_id, head, data, ttl, whole)
        if len(attempts) == 2:
            action(self.prefix + session_id, "after second")
        return result

    monkeypatch.setattr(type(store), "checked_save", checked_save)
    return attempts


def test_a_session_ended_during_a_merge_is_not_brought_back(redis_server, redis_client, monkeypatch):
    app, factory, conflicts = build(redis_server.url)
    cookie = start(app)

    def others(key, attempt):
        if attempt in (1, 2):
            another_write(redis_client, key)  # another request writes first, twice
        else:
            redis_client.delete(key)  # and then a third one logs out

    attempts = _before_each_write(monkeypatch, factory.store, others)
    get(app, "/incr", cookie)
    assert len(attempts) == 2 and redis_client.dbsize() == 0
    assert [c.gone for c in conflicts] == [True]


def test_an_unreadable_payload_found_on_conflict_is_replaced_by_this_requests_session(redis_server, redis_client, monkeypatch):
    app, factory, conflicts = build(redis_server.url)
    cookie = start(app)

    def garbage(key, attempt):
        if attempt == 1:
            redis_client.set(key, b"\x00 not a payload")

    _before_each_write(monkeypatch, factory.store, garbage)
    get(app, "/incr", cookie)
    assert peek(app, cookie) == "[('loaded', 'yes'), ('n', 1)]"  # the unchanged key 'loaded' is not lost
    assert conflicts == []


def test_merge_works_with_a_client_that_decodes_responses(redis_server, redis_client):
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_server.url, decode_responses=True)
    conflicts = Conflicts()
    factory = RedisSessionFactory(secret=SECRET, redis_client_callable=lambda request, **kw: client,
                                  func_conflict_logger=conflicts, on_conflict="merge")
    holder = {}

    def interleave(request):
        request.session.get("loaded")
        other = Request.blank("/incr", headers={"Cookie": request.headers["Cookie"]}).get_response(holder["app"])
        assert other.status_int == 200
        request.session.incr("n")
        return Response("done")

    def incr(request):
        return Response(str(request.session.incr("n")))

    holder["app"] = app = make_wsgi(factory, {"interleave": interleave, "incr": incr})
    cookie = start(app)
    get(app, "/interleave", cookie)
    assert get(app, "/peek", cookie).text == "{'loaded': 'yes', 'n': 2}" and conflicts == []


# -- safe by default: what issue 16 closed --------------------------------------------


@pytest.mark.parametrize("mode", ["merge", "raise", "overwrite"])
def test_a_logout_stays_a_logout_in_every_mode(redis_server, redis_client, mode):
    app, _, conflicts = build(redis_server.url, on_conflict=mode)
    cookie = start(app)
    get(app, "/interleave?other=/invalidate&mine=set&key=user&value=alice", cookie)
    assert redis_client.dbsize() == 0  # the late write did not bring the session back
    assert len(conflicts) == 1 and conflicts[0].gone


@pytest.mark.parametrize("mode", ["merge", "raise", "overwrite"])
def test_a_regenerated_id_stays_dead_in_every_mode(redis_server, redis_client, mode):
    app, _, conflicts = build(redis_server.url, on_conflict=mode)
    cookie = start(app)
    [old_key] = redis_client.keys("*")
    get(app, "/interleave?other=/regenerate&mine=set&key=user&value=alice", cookie)
    assert old_key not in redis_client.keys("*") and redis_client.dbsize() == 1  # only the new id
    assert conflicts and conflicts[0].gone


def test_two_requests_setting_the_same_value_report_the_lost_change(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = start(app)
    get(app, "/interleave?other=/write%3Fkey%3Dn%26value%3D1&mine=set&key=n&value=1", cookie)
    assert len(conflicts) == 1 and conflicts[0].keys == ("n",)


def _flash_only_session(app) -> str:
    response = get(app, "/flash?msg=a")
    return response.headers["Set-Cookie"].split(";")[0]


def test_an_emptied_session_whose_key_another_request_deleted_leaves_the_browsers_cookie_alone(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = _flash_only_session(app)
    # Another request pops the queue first (the session is emptied and deleted),
    # then this one pops it too: its response must not delete a cookie that may
    # by now name a newer session.
    response = get(app, "/interleave?other=/pop_flash&mine=pop&key=_f_", cookie)
    assert redis_client.dbsize() == 0
    assert "Set-Cookie" not in response.headers
    assert conflicts == []


def test_an_emptied_session_that_another_request_added_to_keeps_its_cookie_and_the_new_message(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url)
    cookie = _flash_only_session(app)
    # Another request flashes "b" while this one pops the queue (["a"] when it loaded).
    response = get(app, "/interleave?other=/flash%3Fmsg%3Db&mine=pop&key=_f_", cookie)
    assert response.headers["Set-Cookie"].split(";")[0] == cookie  # set again, not deleted
    assert get(app, "/pop_flash", cookie).text == "['b']"
    assert conflicts == []


def test_an_emptied_session_that_another_request_added_to_keeps_its_cookie_on_an_exception_response(redis_server, redis_client):
    # cookie_on_exception = false: the deletion of the emptied session's cookie
    # goes out on the exception response, and is taken back (not replaced by a
    # new Set-Cookie) when the merge keeps what another request added.
    app, _, conflicts = build(redis_server.url, cookie_on_exception=False)
    cookie = _flash_only_session(app)
    response = get(app, "/interleave?other=/flash%3Fmsg%3Db&mine=pop&key=_f_&boom=1", cookie)
    assert response.status_int == 500
    assert "Set-Cookie" not in response.headers
    assert get(app, "/pop_flash", cookie).text == "['b']"
    assert conflicts == []


def test_an_emptied_session_is_deleted_with_its_cookie_on_an_exception_response(redis_server, redis_client):
    app, _, conflicts = build(redis_server.url, cookie_on_exception=False)
    cookie = _flash_only_session(app)
    response = get(app, "/interleave?other=/peek&mine=pop&key=_f_&boom=1", cookie)
    assert response.status_int == 500
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert redis_client.dbsize() == 0 and conflicts == []


def test_the_time_spent_merging_is_bounded_by_the_socket_timeout(redis_server, redis_client, monkeypatch):
    app, factory, _ = build(redis_server.url, redis_socket_timeout=0.3)
    cookie = start(app)
    store = factory.store
    real = type(store).checked_save

    def always_changed(self, session_id, head, data, ttl, whole=False):
        another_write(redis_client, self.prefix + session_id)
        time.sleep(0.1)  # each attempt is slow: the deadline, not the attempt count, ends it
        return real(self, session_id, head, data, ttl, whole)

    monkeypatch.setattr(type(store), "checked_save", always_changed)
    began = time.monotonic()
    with pytest.raises(SessionConflict, match="attempts to merge"):
        get(app, "/incr", cookie)
    assert time.monotonic() - began < 0.3 + 0.1 + 0.1  # the budget, one attempt in flight, and margin


def test_a_merge_does_not_wait_out_another_threads_slow_merge(redis_server, redis_client):
    from pyramid_session_redis import persist

    app, _, _ = build(redis_server.url)
    cookie = start(app)
    [session_id] = [key.decode() for key in redis_client.keys("*")]  # (no prefix: the key is the id)
    lock = persist._RETRY_LOCKS[hash(session_id) % len(persist._RETRY_LOCKS)]
    lock.acquire()  # another thread of this process, merging and stuck on Redis
    try:
        began = time.monotonic()
        get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
        waited = time.monotonic() - began
    finally:
        lock.release()
    assert waited < 1.0  # the 50 ms lock wait, then its own merge; not the holder's whole time
    assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'm'), ('theirs', 't')]"
