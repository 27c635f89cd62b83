"""The request commands (store.py): RedisStore against the suite's real Redis,
each operation counted with MONITOR, and the Store protocol every store keeps."""

from __future__ import annotations

import inspect
import re

import pytest
import redis

from pyramid_session_redis.exceptions import SessionBackendError
from pyramid_session_redis.memory import MemoryStore
from pyramid_session_redis.store import GONE, WRITTEN, RedisStore, Store
from pyramid_session_redis.trace import SessionTrace, TracedStore

OPERATIONS = ("load", "create", "save", "checked_save", "refresh", "delete")


@pytest.fixture
def store(redis_client):
    return RedisStore(redis_client, prefix="s:")


# -- one operation, one command ------------------------------------------------------


def test_load_without_ttl_is_one_get_that_leaves_the_ttl(store, redis_client, commands):
    redis_client.set("s:abc", b"payload", ex=500)
    commands.reset()
    assert store.load("abc") == b"payload"
    assert commands.counts() == {"get": 1}
    assert 490 < redis_client.ttl("s:abc") <= 500


def test_load_with_ttl_is_one_getex_that_refreshes_the_ttl(store, redis_client, commands):
    redis_client.set("s:abc", b"payload", ex=500)
    commands.reset()
    assert store.load("abc", 60) == b"payload"
    assert commands.counts() == {"getex": 1}
    assert 0 < redis_client.ttl("s:abc") <= 60


def test_load_of_a_missing_session_is_none(store, commands):
    commands.reset()
    assert store.load("nobody") is None and store.load("nobody", 60) is None
    assert commands.counts() == {"get": 1, "getex": 1}


def test_create_is_one_set_nx_and_refuses_a_taken_id(store, redis_client, commands):
    commands.reset()
    assert store.create("abc", b"mine", 60) is True
    assert commands.counts() == {"set": 1}
    assert 0 < redis_client.ttl("s:abc") <= 60
    commands.reset()
    assert store.create("abc", b"someone else", 60) is False
    assert commands.counts() == {"set": 1}
    assert redis_client.get("s:abc") == b"mine"


def test_create_without_ttl_stores_a_key_that_never_expires(store, redis_client):
    assert store.create("abc", b"mine", None) is True
    assert redis_client.ttl("s:abc") == -1


def test_save_is_one_set_xx_that_replaces_value_and_ttl(store, redis_client, commands):
    redis_client.set("s:abc", b"old", ex=500)
    commands.reset()
    assert store.save("abc", b"new", 60) is True
    assert commands.counts() == {"set": 1}
    assert redis_client.get("s:abc") == b"new" and 0 < redis_client.ttl("s:abc") <= 60
    assert store.save("abc", b"newer", None) is True
    assert redis_client.get("s:abc") == b"newer" and redis_client.ttl("s:abc") == -1


def test_save_never_brings_back_a_session_that_is_gone(store, redis_client):
    assert store.save("gone", b"data", 60) is False
    assert redis_client.exists("s:gone") == 0


def test_checked_save_over_what_was_loaded_is_one_evalsha_and_written(store, redis_client, commands):
    redis_client.set("s:abc", b"loaded")
    commands.reset()
    assert store.checked_save("abc", b"loaded", b"new", 60) == WRITTEN
    assert commands.counts() == {"evalsha": 1}
    assert redis_client.get("s:abc") == b"new" and 0 < redis_client.ttl("s:abc") <= 60


def test_checked_save_without_ttl_leaves_no_expiry(store, redis_client):
    redis_client.set("s:abc", b"loaded", ex=500)
    assert store.checked_save("abc", b"loaded", b"new", None) == WRITTEN
    assert redis_client.ttl("s:abc") == -1


def test_checked_save_of_none_deletes_what_was_loaded(store, redis_client, commands):
    redis_client.set("s:abc", b"loaded")
    commands.reset()
    assert store.checked_save("abc", b"loaded", None, None) == WRITTEN
    assert commands.counts() == {"evalsha": 1}
    assert redis_client.exists("s:abc") == 0


def test_checked_save_of_a_session_gone_meanwhile_is_gone_and_writes_nothing(store, redis_client):
    assert store.checked_save("abc", b"loaded", b"new", 60) == GONE
    assert redis_client.exists("s:abc") == 0


def test_checked_save_over_another_write_returns_it_and_keeps_it(store, redis_client, commands):
    redis_client.set("s:abc", b"theirs")
    commands.reset()
    assert store.checked_save("abc", b"loaded", b"mine", 60) == b"theirs"
    assert commands.counts() == {"evalsha": 1}
    assert redis_client.get("s:abc") == b"theirs"


@pytest.mark.parametrize("kind", ["redis", "memory"])
def test_checked_save_compares_only_the_head_unless_told_it_is_the_whole_payload(store, redis_client, kind):
    from pyramid_session_redis.memory import MemoryStore

    target = store if kind == "redis" else MemoryStore(prefix="s:")
    put = (lambda v: redis_client.set("s:abc", v)) if kind == "redis" else (lambda v: target.create("abc", v, None))
    get = (lambda: redis_client.get("s:abc")) if kind == "redis" else (lambda: target.load("abc"))
    put(b'{"s":"STAMP1","m":{"a":1}}')
    # The head (up to the stamp) is what a write checks: a payload that begins the same was made by the same write.
    assert target.checked_save("abc", b'{"s":"STAMP1"', b'{"s":"STAMP2","m":{}}', None) == WRITTEN
    assert get() == b'{"s":"STAMP2","m":{}}'
    # Another write's stamp: the current payload comes back, untouched.
    assert target.checked_save("abc", b'{"s":"STAMP1"', b"mine", None) == b'{"s":"STAMP2","m":{}}'
    # whole: the head is the whole payload loaded, so a longer value is a change.
    assert target.checked_save("abc", b'{"s":"STAMP2"', b"x", None, whole=True) == b'{"s":"STAMP2","m":{}}'
    assert target.checked_save("abc", b'{"s":"STAMP2","m":{}}', b"x", None, whole=True) == WRITTEN
    assert get() == b"x"


def test_refresh_is_one_expire(store, redis_client, commands):
    redis_client.set("s:abc", b"payload")
    commands.reset()
    store.refresh("abc", 77)
    assert commands.counts() == {"expire": 1}
    assert 0 < redis_client.ttl("s:abc") <= 77 and redis_client.get("s:abc") == b"payload"


def test_delete_is_one_del(store, redis_client, commands):
    redis_client.set("s:abc", b"payload")
    redis_client.set("abc", b"not this one: no prefix")
    commands.reset()
    store.delete("abc")
    assert commands.counts() == {"del": 1}
    assert redis_client.exists("s:abc") == 0 and redis_client.exists("abc") == 1


# -- redis errors become SessionBackendError --------------------------------------------

CALLS = {
    "load": ("abc",),
    "create": ("abc", b"data", 60),
    "save": ("abc", b"data", 60),
    "checked_save": ("abc", b"loaded", b"data", 60),
    "refresh": ("abc", 60),
    "delete": ("abc",),
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_unreachable_server_is_a_session_backend_error_naming_the_operation(operation):
    client = redis.Redis(host="127.0.0.1", port=1, socket_timeout=0.2, socket_connect_timeout=0.2)
    with pytest.raises(SessionBackendError, match=f"during {operation}: ConnectionError") as caught:
        getattr(RedisStore(client), operation)(*CALLS[operation])
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_a_command_refused_by_redis_is_a_session_backend_error_too(store, redis_client):
    redis_client.rpush("s:abc", "not a string")
    with pytest.raises(SessionBackendError, match="during load: ResponseError") as caught:
        store.load("abc")
    assert isinstance(caught.value.__cause__, redis.ResponseError)


def test_the_client_of_a_lazy_store_is_built_once_on_first_use(redis_server, redis_client):
    built = []

    def client_for():
        built.append(1)
        return redis.Redis.from_url(redis_server.url)

    lazy = RedisStore(prefix="s:", client_for=client_for)
    assert built == []
    assert lazy.create("abc", b"x", None) is True
    assert lazy.load("abc") == b"x" and built == [1]


# -- the Store protocol -------------------------------------------------------------


def test_every_store_has_every_operation_a_session_calls():
    """A store operation the session starts to use must be in the Store protocol, and
    every store (the traced one too) must have it with the same parameters."""
    import re

    from pyramid_session_redis import lifecycle, loading, persist, session

    operations = {name for name, value in vars(Store).items() if inspect.isfunction(value) and not name.startswith("_")}
    assert operations == {"load", "create", "save", "checked_save", "refresh", "delete"}
    called = set()
    for module in (lifecycle, loading, persist, session):
        called |= set(re.findall(r"store\.(\w+)\(", inspect.getsource(module)))
    assert called == operations
    for name in operations:
        wanted = list(inspect.signature(getattr(Store, name)).parameters)
        for store in (RedisStore, MemoryStore, TracedStore):
            assert len(list(inspect.signature(getattr(store, name)).parameters)) == len(wanted), (store, name)


@pytest.mark.parametrize("store_class", [
    RedisStore,
    MemoryStore,
    TracedStore,
])
def test_a_store_has_the_protocols_operations_with_the_same_parameter_names_and_defaults(store_class):
    for name in OPERATIONS:
        wanted = inspect.signature(getattr(Store, name)).parameters
        got = inspect.signature(getattr(store_class, name)).parameters
        assert [(p.name, p.default, p.kind) for p in got.values()] == \
            [(p.name, p.default, p.kind) for p in wanted.values()], (store_class, name)
    assert isinstance(inspect.getattr_static(store_class, "client"), property)


@pytest.mark.parametrize("make", [
    lambda client: RedisStore(client, "p:"),
    lambda client: MemoryStore(prefix="p:"),
    lambda client: TracedStore(RedisStore(client, "p:"), SessionTrace()),
], ids=["redis", "memory", "traced"])
def test_every_store_keeps_its_prefix(redis_client, make):
    assert make(redis_client).prefix == "p:"


def test_a_redis_without_getex_is_named_with_its_version_and_what_is_needed():
    from pyramid_session_redis.exceptions import SessionBackendError
    from pyramid_session_redis.testing.servers import RedisServer

    # A server that answers GETEX as Redis before 6.2 does: "unknown command".
    with RedisServer(extra_args=["--rename-command", "GETEX", ""]) as old:
        client = redis.Redis.from_url(old.url)
        version = client.info("server")["redis_version"]
        store = RedisStore(client, prefix="s:")
        client.set("s:abc", b"payload")
        with pytest.raises(SessionBackendError, match=rf"Redis {re.escape(version)} has no GETEX.*6\.2 or newer"):
            store.load("abc", ttl=60)
        assert store.load("abc") == b"payload"  # GET still works


def test_a_redis_that_cannot_run_scripts_is_told_apart_with_what_to_do():
    from pyramid_session_redis.exceptions import SessionBackendError
    from pyramid_session_redis.testing.servers import RedisServer

    with RedisServer(extra_args=["--rename-command", "EVALSHA", ""]) as locked_down:
        client = redis.Redis.from_url(locked_down.url)
        store = RedisStore(client, prefix="s:")
        client.set("s:abc", b"loaded")
        with pytest.raises(SessionBackendError, match=r"cannot run scripts \(EVALSHA\).*on_conflict = overwrite"):
            store.checked_save("abc", b"loaded", b"new", 60)
        assert store.save("abc", b"new", 60) is True  # overwrite's SET XX still works
