"""The memory:// store: Redis's expiry rules, in process, chosen only explicitly.

Its semantics are checked twice: with an injected clock (to step over
expiry without sleeping), and side by side with ``RedisStore`` on a real
Redis, so that the two cannot drift apart.
"""

from __future__ import annotations

import threading

import pytest

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.memory import MemoryData, MemoryStore, memory_data
from pyramid_session_redis.store import RedisStore

from .app import SECRET, make_app


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(clock):
    return MemoryStore(MemoryData(clock), prefix="p:")


def test_create_is_set_nx(store):
    assert store.create("a", b"one", 60) is True
    assert store.create("a", b"two", 60) is False
    assert store.load("a") == b"one"


def test_keys_expire_after_their_ttl(store, clock):
    store.create("a", b"x", 10)
    clock.now += 9.9
    assert store.load("a") == b"x"
    clock.now += 0.1
    assert store.load("a") is None
    assert store.create("a", b"again", 10) is True  # an expired id is free again, as in Redis


def test_load_with_ttl_refreshes_like_getex(store, clock):
    store.create("a", b"x", 10)
    clock.now += 8
    assert store.load("a", ttl=10) == b"x"
    clock.now += 8
    assert store.load("a") == b"x"  # 16 s after creation: alive because the read refreshed it
    assert store.data.ttl("p:a") == 2


def test_load_without_ttl_does_not_refresh(store, clock):
    store.create("a", b"x", 10)
    clock.now += 8
    store.load("a")
    clock.now += 2
    assert store.load("a") is None


def test_save_replaces_value_and_ttl_and_none_means_no_expiry(store, clock):
    store.create("a", b"x", 10)
    store.save("a", b"y", 100)
    assert store.data.ttl("p:a") == 100
    store.save("a", b"z", None)  # SET without EX clears the TTL
    assert store.data.ttl("p:a") == -1
    clock.now += 10**6
    assert store.load("a") == b"z"


def test_refresh_is_expire_and_ignores_missing_keys(store, clock):
    store.create("a", b"x", 10)
    clock.now += 9
    store.refresh("a", 30)
    assert store.data.ttl("p:a") == 30
    store.refresh("missing", 30)
    assert store.load("missing") is None and store.data.ttl("p:missing") == -2


def test_delete(store):
    store.create("a", b"x", 10)
    store.delete("a")
    store.delete("a")  # deleting twice is fine, as DEL is
    assert store.load("a") is None


def test_prefix_is_part_of_the_key(clock):
    data = MemoryData(clock)
    MemoryStore(data, "app1:").create("id", b"1", None)
    MemoryStore(data, "app2:").create("id", b"2", None)
    assert sorted(data.keys()) == ["app1:id", "app2:id"]
    assert list(data.keys("app1:")) == ["app1:id"]
    assert MemoryStore(data, "app2:").load("id") == b"2"


def test_values_are_stored_as_redis_would_store_them(store):
    store.create("s", "caf\u00e9", None)
    store.create("n", 12, None)
    store.create("b", bytearray(b"ab"), None)
    assert (store.load("s"), store.load("n"), store.load("b")) == ("caf\u00e9".encode(), b"12", b"ab")
    with pytest.raises(TypeError, match="bytes, str or a number"):
        store.create("x", {"not": "bytes"}, None)


def test_expired_keys_are_swept_so_memory_stays_bounded(store, clock):
    for i in range(999):
        store.create(f"old{i}", b"x", 5)
    clock.now += 6
    assert len(store.data.values) == 999  # nobody read them: still held
    store.create("new", b"x", 5)  # the 1000th write sweeps
    assert list(store.data.values) == ["p:new"]


def test_clear_and_keys_skip_expired(store, clock):
    store.create("short", b"x", 1)
    store.create("long", b"x", 100)
    clock.now += 2
    assert list(store.data.keys()) == ["p:long"]
    store.data.clear()
    assert list(store.data.keys()) == []


def test_concurrent_creates_of_one_id_let_exactly_one_win(store):
    wins = []
    barrier = threading.Barrier(8)

    def create(i):
        barrier.wait()
        wins.append(store.create("same", str(i).encode(), 60))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_url_names_one_store_per_process():
    assert memory_data("memory://shared-test") is memory_data("memory://shared-test")
    assert memory_data("memory://shared-test") is not memory_data("memory://other-test")
    assert memory_data("memory://") is memory_data("memory:")


# -- the same operations against Redis and memory: the same answers -------------------


def _script(store, ttl_of):
    out = [store.create("a", b"1", 100), store.create("a", b"2", 100), store.load("a")]
    store.save("a", b"3", 50)
    out += [store.load("a"), ttl_of("a")]
    out += [store.load("a", ttl=200), ttl_of("a")]
    store.refresh("a", 70)
    out.append(ttl_of("a"))
    store.save("a", b"4", None)
    out += [ttl_of("a"), store.load("a")]
    store.refresh("nothing", 10)
    out += [ttl_of("nothing"), store.load("nothing")]
    store.delete("a")
    out += [store.load("a"), ttl_of("a"), store.create("a", b"5", None), ttl_of("a")]
    # checked writes: written, refused (returns what is there), deleted, gone
    out += [store.checked_save("a", b"5", b"6", 30), ttl_of("a"), store.load("a")]
    out += [store.checked_save("a", b"5", b"7", 30), store.load("a")]
    out += [store.checked_save("a", b"6", b"8", None), ttl_of("a")]
    out += [store.checked_save("a", b"8", None, None), store.load("a")]
    out += [store.checked_save("a", b"8", b"9", 30), store.load("a")]
    return out


def test_memory_store_answers_as_redis_does(redis_client):
    redis_store = RedisStore(redis_client, "parity:")
    memory_store = MemoryStore(MemoryData(), "parity:")
    from_redis = _script(redis_store, lambda k: redis_client.ttl("parity:" + k))
    from_memory = _script(memory_store, lambda k: memory_store.data.ttl("parity:" + k))
    assert from_memory == from_redis
    assert from_redis[:3] == [True, False, b"1"]  # and the script really exercised something


# -- through a Pyramid app --------------------------------------------------------------


def test_app_sessions_work_on_memory_url():
    app = make_app("memory://app-test", prefix="t:")
    memory_data("memory://app-test").clear()
    app.get("/write", {"key": "k", "value": "v"})
    assert app.get("/read", {"key": "k"}).text == "'v'"
    app.get("/incr")
    assert app.get("/incr").text == "2"
    keys = list(memory_data("memory://app-test").keys())
    assert len(keys) == 1 and keys[0].startswith("t:")
    assert memory_data("memory://app-test").ttl(keys[0]) == 1200
    app.get("/invalidate")
    assert list(memory_data("memory://app-test").keys()) == []
    assert app.factory.client is None


def test_memory_url_from_ini():
    from pyramid_session_redis import session_factory_from_settings

    factory = session_factory_from_settings(
        {"redis.sessions.secret": SECRET, "redis.sessions.redis_url": "memory://ini-test"})
    assert isinstance(factory.store, MemoryStore)
    assert factory.store.data is memory_data("memory://ini-test")


def test_memory_is_chosen_from_redis_url_env(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "memory://env-test")
    factory = RedisSessionFactory(secret=SECRET)
    assert factory.store.data is memory_data("memory://env-test")


@pytest.mark.parametrize("bad, named", [
    ({"redis_cluster": True}, "redis_cluster"),
    ({"redis_ssl": True}, "redis_ssl"),
    ({"redis_client_callable": lambda request, **kw: None}, "redis_client_callable"),
])
def test_memory_url_refuses_settings_it_cannot_honour(bad, named):
    with pytest.raises(InvalidSetting, match=named):
        RedisSessionFactory(secret=SECRET, redis_url="memory://", **bad)
