"""The operators' walks and edits of the stored sessions (``Keyspace``), against a real Redis."""

from __future__ import annotations

import pytest
import redis

from pyramid_session_redis.exceptions import SessionBackendError
from pyramid_session_redis.keyspace import Keyspace

from .cli_helpers import PREFIX, command_stats


def test_keyspace_operations(redis_client):
    keyspace = Keyspace(redis_client, PREFIX)
    redis_client.set(PREFIX + "a", "12345", ex=100)
    redis_client.set(PREFIX + "b", "1")
    redis_client.hset(PREFIX + "h", "f", "v")
    redis_client.set("elsewhere", "1")
    redis_client.config_resetstat()

    assert keyspace.sizes_and_ttls([]) == []
    assert keyspace.unlink_keys([]) == 0
    assert set(command_stats(redis_client)) == {"config|resetstat"}  # nothing sent for an empty page

    pages = list(keyspace.scan_pages(PREFIX + "*", 1))
    found = sorted(key for page in pages for key in page)
    assert found == [(PREFIX + name).encode() for name in ("a", "b", "h")]
    assert keyspace.scan_targets() == [None]
    replies = dict(zip([PREFIX + "a", PREFIX + "b", PREFIX + "h", PREFIX + "gone"],
                       keyspace.sizes_and_ttls([PREFIX.encode() + n for n in (b"a", b"b", b"h", b"gone")])))
    assert replies[PREFIX + "a"][0] == 5 and 95 <= replies[PREFIX + "a"][1] <= 100
    assert replies[PREFIX + "b"] == (1, -1)
    assert replies[PREFIX + "h"] == (None, -1)  # not a string
    assert replies[PREFIX + "gone"] == (0, -2)

    raw, ttl = keyspace.peek("a")
    assert raw == b"12345" and 95 <= ttl <= 100
    assert keyspace.peek("nothing") is None
    assert keyspace.remove("b") is True
    assert keyspace.remove("b") is False
    assert keyspace.unlink_keys([(PREFIX + "a").encode(), (PREFIX + "h").encode(), b"nope"]) == 2
    assert redis_client.keys("*") == [b"elsewhere"]


def test_keyspace_errors_become_session_backend_errors(redis_client):
    keyspace = Keyspace(redis.Redis(port=1, socket_connect_timeout=1), PREFIX)
    for call in (lambda: list(keyspace.scan_pages("*", 10)), lambda: keyspace.sizes_and_ttls([b"k"]),
                 lambda: keyspace.unlink_keys([b"k"]), lambda: keyspace.peek("k"), lambda: keyspace.remove("k")):
        with pytest.raises(SessionBackendError) as caught:
            call()
        assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_sizes_and_ttls_raises_other_errors_of_the_page(redis_client, monkeypatch):
    """A reply error that is not WRONGTYPE (here: a command the server refuses) is not taken for a non-session."""
    redis_client.set("k", "v")
    keyspace = Keyspace(redis_client, "")
    redis_client.execute_command("ACL", "SETUSER", "limited", "on", "nopass", "~*", "+@all", "-strlen")
    limited = redis.Redis(host="127.0.0.1", port=redis_client.connection_pool.connection_kwargs["port"],
                          username="limited", password="")
    try:
        with pytest.raises(SessionBackendError, match="sizes_and_ttls") as caught:
            Keyspace(limited, "").sizes_and_ttls([b"k"])
        assert "strlen" in str(caught.value.__cause__).lower()
        redis_client.execute_command("ACL", "SETUSER", "limited", "+strlen", "-ttl")
        with pytest.raises(SessionBackendError, match="sizes_and_ttls"):
            Keyspace(limited, "").sizes_and_ttls([b"k"])
    finally:
        limited.close()
        redis_client.execute_command("ACL", "DELUSER", "limited")
    assert keyspace.sizes_and_ttls([b"k"]) == [(1, -1)]


@pytest.mark.slow
def test_cluster_unlink_sends_one_command_per_slot_never_a_cross_slot_one(cluster, nodes):
    from redis.cluster import RedisCluster

    client = RedisCluster.from_url(cluster.url)
    try:
        keys = [f"{PREFIX}{i}".encode() for i in range(60)]
        for key in keys:
            client.set(key, "x")
        slots = {client.keyslot(key) for key in keys}
        assert len({client.nodes_manager.get_node_from_slot(slot).name for slot in slots}) == 3
        for node in nodes:
            node.config_resetstat()
        keyspace = Keyspace(client, PREFIX)
        assert keyspace.unlink_keys(keys) == 60  # a CROSSSLOT error would raise SessionBackendError
        unlinks = sum(command_stats(node).get("unlink", 0) for node in nodes)
        assert unlinks == len(slots)
        assert keyspace.scan_targets() and len(keyspace.scan_targets()) == 3
        assert keyspace.db == 0  # (a cluster has no other database, and its client no pool to ask)
        assert sum(len(page) for page in keyspace.scan_pages(PREFIX + "*", 10)) == 0
    finally:
        client.close()


def test_db_is_the_database_the_client_selects(redis_server):
    """The URL's database, read from the client; a cluster's is 0 without building its client."""
    client = redis.Redis.from_url(redis_server.url[:-1] + "3")
    try:
        assert Keyspace(client, PREFIX).db == 3
        assert Keyspace(redis.Redis(), PREFIX).db == 0
    finally:
        client.close()

    def never() -> None:
        raise AssertionError("the cluster client was built")

    assert Keyspace(client_for=never, cluster=True).db == 0
