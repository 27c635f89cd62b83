"""``local_cache``: the per-process read cache, and the version the cookie names.

The cache itself is tested with an injected clock; everything else drives real
Pyramid apps (WebTest) against the suite's redis-server, counting the commands
Redis executed.  Two apps with their own factories stand for two worker
processes: each has a cache of its own, and they share one browser's cookie.
"""

from __future__ import annotations

import json
import os
import threading
import tracemalloc
from typing import Any, Dict, Optional

import pytest
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis.cookies import SessionIdSigner
from pyramid_session_redis.exceptions import InvalidSession_NotInBackend
from pyramid_session_redis.localcache import ENTRY_OVERHEAD, LocalCache

from .app import SECRET, make_app, make_wsgi
from .cli_helpers import PREFIX, run, write_ini


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the cache ------------------------------------------------------------------------


def test_an_entry_answers_only_its_own_version():
    cache = LocalCache(10, None, 5.0, Clock())
    cache.put("id", "v1", b"one", 5)
    assert cache.get("id", "v1") == b"one"
    assert cache.get("id", "v2") is None
    assert cache.get("other", "v1") is None
    assert (cache.hits, cache.misses) == (1, 2)
    cache.put("id", "v2", b"two", 5)  # a newer version replaces the older
    assert cache.get("id", "v1") is None
    assert cache.get("id", "v2") == b"two"
    assert len(cache) == 1


def test_an_entry_is_served_for_its_seconds_and_never_past_max_age():
    clock = Clock()
    cache = LocalCache(10, None, 5.0, clock)
    cache.put("short", "v", b"s", 1.5)
    cache.put("long", "v", b"l", 3600)
    clock.now += 1.4
    assert cache.get("short", "v") == b"s"
    clock.now += 0.1
    assert cache.get("short", "v") is None
    assert len(cache) == 1  # dropped when found stale
    clock.now += 3.4
    assert cache.get("long", "v") == b"l"
    clock.now += 0.1  # 5 s after it was put: max_age
    assert cache.get("long", "v") is None


def test_nothing_is_held_for_no_time():
    cache = LocalCache(10, None, 5.0, Clock())
    cache.put("id", "v1", b"one", 5)
    cache.put("id", "v2", b"two", 0)  # the new version may not be served: the old one goes too
    assert len(cache) == 0 and cache.bytes == 0
    cache.put("id", "v3", b"three", -3)
    assert cache.get("id", "v3") is None


def test_the_least_recently_used_entry_goes_first():
    cache = LocalCache(3, None, 5.0, Clock())
    for name in "abc":
        cache.put(name, "v", name.encode(), 5)
    assert cache.get("a", "v") == b"a"  # a is now the most recently used
    cache.put("d", "v", b"d", 5)
    assert cache.get("b", "v") is None
    assert [cache.get(name, "v") for name in "acd"] == [b"a", b"c", b"d"]


def test_bytes_are_bounded_and_an_oversized_payload_is_not_held():
    size = 1000 + len("a") + ENTRY_OVERHEAD
    cache = LocalCache(100, 3 * size, 5.0, Clock())
    for name in "abcd":
        cache.put(name, "v", b"x" * 1000, 5)
    assert len(cache) == 3 and cache.bytes == 3 * size
    assert cache.get("a", "v") is None
    cache.put("b", "v2", b"y" * (3 * size), 5)  # larger than the whole bound
    assert cache.get("b", "v2") is None and cache.get("b", "v") is None  # and the old version went
    assert cache.bytes == 2 * size


def test_discard_forgets_a_session():
    cache = LocalCache(10, 10_000, 5.0, Clock())
    cache.put("id", "v", b"payload", 5)
    cache.discard("id")
    cache.discard("never-held")
    assert cache.get("id", "v") is None and cache.bytes == 0


def test_threads_sharing_a_cache_keep_its_accounts_straight():
    cache = LocalCache(50, 50 * (100 + ENTRY_OVERHEAD + 3), 5.0)
    errors = []

    def work(seed: int) -> None:
        try:
            for i in range(5000):
                key = f"s{(i * seed) % 80}"
                if i % 3 == 0:
                    cache.put(key, f"v{i % 4}", b"x" * 100, 5)
                elif i % 7 == 0:
                    cache.discard(key)
                else:
                    got = cache.get(key, f"v{i % 4}")
                    assert got is None or got == b"x" * 100
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in (1, 3, 7, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 50
    assert cache.bytes == sum(entry.size for entry in cache._entries.values())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_worker_starts_with_an_empty_cache():
    cache = LocalCache(10, None, 5.0)
    cache.put("id", "v", b"parent's", 5)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.write(write, json.dumps([len(cache), cache.bytes, cache.get("id", "v") is None]).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert child == [0, 0, True]
    assert cache.get("id", "v") == b"parent's"  # the parent keeps its own


def test_entry_overhead_covers_what_an_entry_costs():
    """The byte bound counts a payload's length plus ENTRY_OVERHEAD: measured here."""
    raws = [os.urandom(512).hex().encode() for _ in range(2000)]  # 1 KB payloads, made beforehand
    ids = [f"{i:043d}" for i in range(2000)]
    versions = [f"{i:024d}" for i in range(2000)]
    cache = LocalCache(10_000, None, 5.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for session_id, version, raw in zip(ids, versions, raws):
            cache.put(session_id, version, raw, 5)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_entry = grown / len(raws)  # the payloads, ids and versions existed already
    print(f"cache bookkeeping per entry: {per_entry:.0f} bytes, besides the 1 KB payload")
    assert 0 < per_entry <= ENTRY_OVERHEAD


# -- apps ------------------------------------------------------------------------------


def token(app: TestApp) -> str:
    """What the browser's session cookie signs: the id, and the version after a space."""
    value = app.cookies["session"]
    signed, _ = SessionIdSigner(SECRET).verify(value.encode("ascii"))
    return signed


def version(app: TestApp) -> Optional[str]:
    _, _, named = token(app).partition(" ")
    return named or None


def one_browser(*apps: TestApp) -> None:
    """One browser, several workers: the apps share the first one's cookies."""
    for app in apps[1:]:
        app.cookiejar = apps[0].cookiejar


def replay(app: TestApp, path: str, cookie: str, **params: Any) -> Any:
    """A request that sends ``cookie`` whatever the browser holds (an old copy of it)."""
    app.cookiejar.clear()
    return app.get(path, params=params, headers={"Cookie": f"session={cookie}"})


def named_version(response: Any) -> Optional[str]:
    """The version a response's Set-Cookie names."""
    value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    signed, _ = SessionIdSigner(SECRET).verify(value.encode("ascii"))
    return signed.partition(" ")[2] or None


def stored(redis_client: Any, app: TestApp) -> Dict[str, Any]:
    session_id = token(app).partition(" ")[0]
    return json.loads(redis_client.get(session_id))


@pytest.fixture
def cached(redis_server, redis_client):
    return make_app(redis_server.url, local_cache=100)


def test_a_second_read_sends_no_command(cached, commands):
    cached.get("/write", params={"key": "a", "value": "1"})
    commands.reset()
    assert cached.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts() == {"getex": 1}  # this worker had not loaded it yet
    commands.reset()
    response = cached.get("/read", params={"key": "a"})
    assert response.text == "'1'"
    assert commands.counts() == {}
    assert "Set-Cookie" not in response.headers
    assert response.headers["Vary"] == "Cookie"
    assert cached.factory.settings.local_cache.hits == 1


def test_every_write_names_its_version_in_the_cookie(cached, redis_client):
    cached.get("/write", params={"key": "a", "value": "1"})
    first = version(cached)
    assert first is not None and first == stored(redis_client, cached)["s"]
    cached.get("/write", params={"key": "a", "value": "2"})
    second = version(cached)
    assert second not in (None, first) and second == stored(redis_client, cached)["s"]
    assert token(cached).partition(" ")[0] == cached.factory.settings.cookies.read(
        _request_with(cached.cookies["session"]))[0]


def _request_with(cookie: str) -> Any:
    from webob import Request

    return Request.blank("/", headers={"Cookie": f"session={cookie}"})


def test_a_write_on_one_worker_is_seen_on_another_that_had_cached_the_session(redis_server, redis_client, commands):
    first = make_app(redis_server.url, local_cache=100)
    second = make_app(redis_server.url, local_cache=100)
    one_browser(first, second)
    first.get("/write", params={"key": "a", "value": "1"})
    assert second.get("/read", params={"key": "a"}).text == "'1'"
    assert second.get("/read", params={"key": "a"}).text == "'1'"  # from its cache
    first.get("/write", params={"key": "a", "value": "2"})
    commands.reset()
    assert second.get("/read", params={"key": "a"}).text == "'2'"
    assert commands.counts() == {"getex": 1}  # its entry was of the older version


def test_a_cookie_without_a_version_is_read_from_redis_and_given_one(redis_server, redis_client, commands):
    plain = make_app(redis_server.url)
    cached = make_app(redis_server.url, local_cache=100)
    one_browser(plain, cached)
    plain.get("/write", params={"key": "a", "value": "1"})
    assert version(plain) is None  # without local_cache the cookie is as 1.x made it
    commands.reset()
    response = cached.get("/read", params={"key": "a"})
    assert response.text == "'1'" and commands.counts() == {"getex": 1}
    assert "Set-Cookie" in response.headers
    assert version(cached) == stored(redis_client, cached)["s"]
    commands.reset()
    assert cached.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts() == {}


def test_a_cookie_with_a_version_works_once_the_cache_is_off(redis_server, redis_client):
    cached = make_app(redis_server.url, local_cache=100)
    plain = make_app(redis_server.url)
    one_browser(cached, plain)
    cached.get("/write", params={"key": "a", "value": "1"})
    assert plain.get("/read", params={"key": "a"}).text == "'1'"
    plain.get("/write", params={"key": "a", "value": "2"})
    assert plain.get("/read", params={"key": "a"}).text == "'2'"
    assert stored(redis_client, cached)["m"] == {"a": "2"}


def test_a_stale_cookie_is_given_the_stored_version(redis_server, redis_client):
    """An overlapping request's response set an older version: the next read
    finds another one in Redis and names it, so that later reads can hit."""
    first = make_app(redis_server.url, local_cache=100)
    first.get("/write", params={"key": "a", "value": "1"})
    old_cookie = first.cookies["session"]
    first.get("/write", params={"key": "a", "value": "2"})
    now = stored(redis_client, first)["s"]
    second = make_app(redis_server.url, local_cache=100)
    response = replay(second, "/read", old_cookie, key="a")
    assert response.text == "'2'" and named_version(response) == now


def test_a_session_deleted_from_outside_is_gone_within_max_age(tmp_path, redis_server, redis_client, capsys):
    """The operators' tool deletes a session a worker holds: that worker serves
    its copy for at most local_cache_max_age seconds."""
    reports = []
    app = make_app(redis_server.url, local_cache=100, local_cache_max_age=0.3, prefix=PREFIX,
                   func_invalid_logger=lambda request, exc: reports.append(type(exc)))
    app.get("/write", params={"key": "a", "value": "1"})
    session_id = token(app).partition(" ")[0]
    assert app.get("/read", params={"key": "a"}).text == "'1'"  # loaded: held from now on
    clock = app.factory.settings.local_cache._clock
    held_since = clock()
    ini = write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX, secret=SECRET)
    status, out, _ = run(capsys, ini, "delete", session_id)
    assert status == 0 and out.startswith(f"deleted session {session_id}")
    seen = app.get("/read", params={"key": "a"}).text
    if clock() - held_since < 0.3:
        assert seen == "'1'"  # the documented bound: not seen yet
    import time

    time.sleep(max(0.0, held_since + 0.31 - clock()))
    assert app.get("/read", params={"key": "a"}).text == "None"
    assert InvalidSession_NotInBackend in reports


def test_invalidate_drops_this_workers_copy_at_once(cached, redis_client):
    cached.get("/write", params={"key": "a", "value": "1"})
    cached.get("/read", params={"key": "a"})
    old_cookie = cached.cookies["session"]
    cached.get("/invalidate")
    assert replay(cached, "/read", old_cookie, key="a").text == "None"  # a stolen copy, replayed


def test_a_hit_then_a_write_over_a_session_changed_elsewhere_merges(redis_server, redis_client):
    """A copy that Redis has moved on from (another device's change) is only a
    base: the checked write notices and merges, so nothing is lost."""
    cached = make_app(redis_server.url, local_cache=100)
    cached.get("/write", params={"key": "a", "value": "1"})
    cached.get("/read", params={"key": "a"})  # held
    elsewhere = make_app(redis_server.url)
    replay(elsewhere, "/write", cached.cookies["session"], key="b", value="2")  # its cookie never reaches this browser
    assert cached.get("/read", params={"key": "b"}).text == "None"  # within max_age: its copy
    cached.get("/write", params={"key": "c", "value": "3"})
    assert stored(redis_client, cached)["m"] == {"a": "1", "b": "2", "c": "3"}
    assert cached.get("/read", params={"key": "b"}).text == "'2'"


def test_do_persist_in_the_view_names_the_version_written(redis_server, redis_client):
    def persist(request):
        request.session["a"] = "1"
        request.session.do_persist()
        return Response("ok")

    app = make_app(redis_server.url, views={"persist": persist}, local_cache=100)
    app.get("/persist")
    assert version(app) == stored(redis_client, app)["s"]
    app.get("/write", params={"key": "a", "value": "2"})  # an existing session, written in the view
    app.get("/persist")
    assert version(app) == stored(redis_client, app)["s"]


def test_regenerate_id_names_the_new_id_and_version(redis_server, redis_client):
    def login(request):
        request.session.regenerate_id()
        request.session["user"] = "u"
        return Response("ok")

    app = make_app(redis_server.url, views={"login": login}, local_cache=100)
    app.get("/write", params={"key": "a", "value": "1"})
    before = token(app)
    app.get("/login")
    after = token(app)
    assert after.partition(" ")[0] != before.partition(" ")[0]
    assert version(app) == stored(redis_client, app)["s"]
    assert stored(redis_client, app)["m"] == {"a": "1", "user": "u"}


def test_a_write_whose_cookie_is_refused_drops_this_workers_copy(redis_server, redis_client):
    def cacheable_write(request):
        request.session["a"] = request.params["value"]
        response = Response("ok")
        response.cache_control.max_age = 60
        return response

    from pyramid_session_redis import check_response_allow_cookies

    app = make_app(redis_server.url, views={"cacheable_write": cacheable_write}, local_cache=100,
                   func_check_response_allow_cookies=check_response_allow_cookies)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})  # held
    cookie = app.cookies["session"]
    response = app.get("/cacheable_write", params={"value": "2"})
    assert "Set-Cookie" not in response.headers
    assert app.cookies["session"] == cookie  # the browser still names the old version
    assert app.get("/read", params={"key": "a"}).text == "'2'"  # not the held copy


def test_default_policy_hits_refresh_no_ttl(redis_server, redis_client, commands):
    app = make_app(redis_server.url, local_cache=100, timeout=1200)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})
    session_id = token(app).partition(" ")[0]
    redis_client.expire(session_id, 500)
    commands.reset()
    app.get("/read", params={"key": "a"})
    assert commands.counts() == {}
    assert 490 < redis_client.ttl(session_id) <= 500


def test_a_timeout_shorter_than_max_age_bounds_the_copy(redis_server, redis_client, commands):
    app = make_app(redis_server.url, local_cache=100, timeout=1, local_cache_max_age=30)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})
    held = app.factory.settings.local_cache._entries
    (entry,) = held.values()
    assert entry.until - app.factory.settings.local_cache._clock() <= 1


def test_timeout_trigger_serves_copies_until_a_refresh_is_due(redis_server, redis_client, commands, clock):
    app = make_app(redis_server.url, local_cache=100, timeout=1200, timeout_trigger=600,
                   local_cache_max_age=10_000)
    cache = app.factory.settings.local_cache
    cache._clock = lambda: float(clock.now)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})  # loaded at clock.now; "x" is clock.now + 1200
    commands.reset()
    clock.now += 598
    assert app.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts() == {}
    clock.now += 2  # 600 s left: the trigger wants the expiry rewritten
    assert app.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts().get("get") == 1
    assert stored(redis_client, app)["x"] == clock.now + 1200


def test_lru_mode_serves_copies(redis_server, redis_client, commands):
    app = make_app(redis_server.url, local_cache=100, timeout=1200, set_redis_ttl=False)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})
    commands.reset()
    assert app.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts() == {}


def test_a_session_larger_than_the_byte_bound_is_served_from_redis(redis_server, redis_client, commands):
    app = make_app(redis_server.url, local_cache=100, local_cache_max_bytes=1000)
    app.get("/write", params={"key": "a", "value": "x" * 2000})
    app.get("/read", params={"key": "a"})
    commands.reset()
    app.get("/read", params={"key": "a"})
    assert commands.counts() == {"getex": 1}


def test_a_payload_without_a_stamp_is_not_held(redis_server, redis_client, commands):
    """1.x payloads (and those of versions before stamps) carry no version."""
    app = make_app(redis_server.url, local_cache=100)
    app.get("/write", params={"key": "a", "value": "1"})
    session_id = token(app).partition(" ")[0]
    unstamped = stored(redis_client, app)
    del unstamped["s"]
    redis_client.set(session_id, json.dumps(unstamped))
    app.get("/read", params={"key": "a"})
    commands.reset()
    assert app.get("/read", params={"key": "a"}).text == "'1'"
    assert commands.counts() == {"getex": 1}


def test_a_traced_hit_shows_no_command(redis_server, redis_client):
    from pyramid_session_redis.trace import TRACE_KEY, SessionTrace

    traces = []

    def traced(environ, start_response):
        trace = environ[TRACE_KEY] = SessionTrace()
        traces.append(trace)
        return wsgi(environ, start_response)

    app = make_app(redis_server.url, local_cache=100)
    wsgi = make_wsgi(app.factory)
    browser = TestApp(traced)
    browser.get("/write", params={"key": "a", "value": "1"})
    browser.get("/read", params={"key": "a"})
    assert [c.command for c in traces[-1].commands] == ["GETEX"] and not traces[-1].cached
    assert browser.get("/read", params={"key": "a"}).text == "'1'"
    assert traces[-1].loaded and traces[-1].cached and traces[-1].commands == []
    browser.get("/write", params={"key": "a", "value": "2"})  # a write through the traced store drops the copy
    assert browser.get("/read", params={"key": "a"}).text == "'2'"


def test_settings_from_ini(redis_server):
    from pyramid_session_redis import session_factory_from_settings

    factory = session_factory_from_settings({
        "redis.sessions.secret": SECRET,
        "redis.sessions.redis_url": redis_server.url,
        "redis.sessions.local_cache": "10000",
        "redis.sessions.local_cache_max_age": "2.5",
        "redis.sessions.local_cache_max_bytes": "None",
    })
    cache = factory.settings.local_cache
    assert (cache.max_entries, cache.max_age, cache.max_bytes) == (10000, 2.5, None)
    off = session_factory_from_settings({"redis.sessions.secret": SECRET, "redis.sessions.redis_url": redis_server.url})
    assert off.settings.local_cache is None


@pytest.mark.parametrize("key, value, accepts", [
    ("local_cache", "-1", "a whole number >= 0"),
    ("local_cache_max_age", "0", "a number of seconds > 0"),
    ("local_cache_max_age", "None", "a number of seconds > 0"),
    ("local_cache_max_bytes", "lots", "a whole number >= 0, or None"),
])
def test_bad_settings_name_the_setting(key, value, accepts):
    from pyramid_session_redis import session_factory_from_settings
    from pyramid_session_redis.exceptions import InvalidSetting

    with pytest.raises(InvalidSetting) as caught:
        session_factory_from_settings({"redis.sessions.secret": SECRET, f"redis.sessions.{key}": value})
    assert f"redis.sessions.{key}" in str(caught.value) and accepts in str(caught.value)


def test_held_sessions_are_served_while_redis_is_stalled():
    """A copy needs no Redis: with Redis stopped (SIGSTOP), a worker that holds
    the session still serves it; another worker must ask Redis, and fails."""
    from pyramid_session_redis.exceptions import SessionBackendError
    from pyramid_session_redis.testing.servers import RedisServer

    with RedisServer() as server:
        app = make_app(server.url, local_cache=100, redis_socket_timeout=0.3)
        other = make_app(server.url, local_cache=100, redis_socket_timeout=0.3)
        other.cookiejar = app.cookiejar  # one browser, two workers
        app.get("/write", params={"key": "a", "value": "1"})
        app.get("/read", params={"key": "a"})  # held from now on
        server.pause()
        try:
            assert app.get("/read", params={"key": "a"}).text == "'1'"
            with pytest.raises(SessionBackendError):
                other.get("/read", params={"key": "a"})
            assert app.get("/read", params={"key": "a"}).text == "'1'"  # (the breaker is the other's)
        finally:
            server.resume()
