"""Sessions on a real three-master Redis Cluster (``redis_cluster = true``).

Every command the package sends names one key, so sessions must work on a
cluster as they do on one server; these tests check that through a real
Pyramid app, and look at each node to see that the keys really are spread
over the three masters.  The settings that cannot work with a cluster are
checked without one.
"""

from __future__ import annotations

import ast
import json
from typing import Dict, Iterator, List, Set, Tuple

import pytest
import redis
from redis.cluster import RedisCluster
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.cluster import LocalCluster

from .app import SECRET, make_app, make_wsgi

# The commands a session can send; the clients' own (CLUSTER SLOTS, COMMAND...) are left out.
DATA_COMMANDS = ("get", "getex", "getrange", "set", "expire", "del", "evalsha", "eval")


@pytest.fixture
def nodes(cluster: LocalCluster) -> Iterator[List[redis.Redis]]:
    """A plain client per node, on an empty cluster with zeroed command counts."""
    clients = cluster.node_clients()
    for client in clients:
        client.flushall()
        client.script_load(CHECKED_WRITE)  # as on a server that has run it once
        client.config_resetstat()
    yield clients
    for client in clients:
        client.close()


def keys_by_node(nodes: List[redis.Redis]) -> List[Set[bytes]]:
    return [set(client.scan_iter(count=1000)) for client in nodes]


def slot_ranges(nodes: List[redis.Redis]) -> Dict[int, List[Tuple[int, int]]]:
    """Port -> the slot ranges that master serves, as the cluster itself reports them."""
    out: Dict[int, List[Tuple[int, int]]] = {}
    for entry in nodes[0].execute_command("CLUSTER", "SLOTS"):
        start, end, master = entry[0], entry[1], entry[2]
        out.setdefault(int(master[1]), []).append((int(start), int(end)))
    return out


def assert_keys_where_their_slots_are(nodes: List[redis.Redis], found: List[Set[bytes]]) -> None:
    """Each key sits on the master that owns its slot, and on no other node."""
    ranges = slot_ranges(nodes)
    assert len(ranges) == 3
    for client, keys in zip(nodes, found):
        port = client.connection_pool.connection_kwargs["port"]
        for key in keys:
            slot = client.execute_command("CLUSTER", "KEYSLOT", key)
            assert any(start <= slot <= end for start, end in ranges[port]), (key, slot, port)
    seen = sum(len(keys) for keys in found)
    assert seen == len(set().union(*found)), "a key is on two nodes"


def data_commands(nodes: List[redis.Redis]) -> Dict[str, int]:
    """Session commands sent to the cluster, summed over the nodes.

    ``INFO commandstats`` also counts what the checked-write script runs inside
    Redis: one GETRANGE, then one SET, per EVALSHA when nobody else wrote (as in
    these tests).  Those are taken out, so the counts are what the client sent.
    """
    out: Dict[str, int] = {}
    for client in nodes:
        for name, values in client.info("commandstats").items():
            command = name[len("cmdstat_"):]
            if command in DATA_COMMANDS:
                out[command] = out.get(command, 0) + int(values["calls"])
    scripted = out.get("evalsha", 0) + out.get("eval", 0)
    for inside in ("getrange", "set"):
        if inside in out:
            out[inside] -= scripted
    return {name: count for name, count in out.items() if count}


def reset_commands(nodes: List[redis.Redis]) -> None:
    for client in nodes:
        client.config_resetstat()


def written_id(response) -> str:
    """The session id that the ``write`` view shows (as a repr)."""
    return ast.literal_eval(response.text)


def browsers(app: TestApp, count: int) -> List[TestApp]:
    """Separate cookie jars on one application (and so one cluster client)."""
    return [TestApp(app.app) for _ in range(count)]


# -- many sessions across the three masters -------------------------------------------


@pytest.mark.slow
def test_sixty_sessions_spread_over_three_masters_read_write_and_invalidate(cluster, nodes):
    app = make_app(cluster.url, redis_cluster=True)
    assert isinstance(app.factory.client, RedisCluster)
    users = browsers(app, 60)
    ids = []
    for i, user in enumerate(users):
        ids.append(written_id(user.get(f"/write?key=name&value=user-{i}")))
        assert user.get("/incr").text == "1"
        assert user.get("/nested").text == "1"
        user.get(f"/flash?msg=hi-{i}")
    assert len(set(ids)) == 60

    found = keys_by_node(nodes)
    assert all(found), f"a master holds no session: {[len(k) for k in found]}"
    assert set().union(*found) == {i.encode() for i in ids}
    assert_keys_where_their_slots_are(nodes, found)

    client = app.factory.client
    for i, (user, session_id) in enumerate(zip(users, ids)):
        assert user.get("/read?key=name").text == repr(f"user-{i}")
        assert user.get("/incr").text == "2"
        assert user.get("/pop_flash").text == repr([f"hi-{i}"])
        stored = json.loads(client.get(session_id))
        assert stored["m"] == {"name": f"user-{i}", "n": 2, "cart": {"n": 1}}
        assert 1190 <= client.ttl(session_id) <= 1200

    gone = set(range(0, 60, 3))
    for i in gone:
        assert users[i].get("/invalidate").text == "invalidated"
    for i, session_id in enumerate(ids):
        assert client.exists(session_id) == (0 if i in gone else 1)
    left = set().union(*keys_by_node(nodes))
    assert left == {session_id.encode() for i, session_id in enumerate(ids) if i not in gone}
    for i in gone:
        assert users[i].get("/read?key=name").text == "None"
        assert users[i].get("/incr").text == "1"  # a fresh session, on whichever node its new id hashes to


# -- the policies that send different commands ----------------------------------------------


POLICIES = {
    # options, the command a read-only request sends, whether keys get a TTL, whether the payload holds the expiry
    "default": ({}, "getex", True, False),
    "timeout_trigger": ({"timeout_trigger": 600}, "get", True, True),
    "lru": ({"set_redis_ttl": False}, "get", False, True),
    "prefix": ({"prefix": "myapp:"}, "getex", True, False),
}


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(POLICIES))
def test_policies_work_on_a_cluster(cluster, nodes, policy):
    options, read_command, ttl_set, expiry_in_payload = POLICIES[policy]
    prefix = options.get("prefix", "")
    app = make_app(cluster.url, redis_cluster=True, **options)
    users = browsers(app, 24)
    ids = [written_id(user.get(f"/write?key=name&value=u{i}")) for i, user in enumerate(users)]

    found = keys_by_node(nodes)
    assert set().union(*found) == {(prefix + i).encode() for i in ids}
    assert all(key.startswith(prefix.encode()) for keys in found for key in keys)
    assert sum(1 for keys in found if keys) >= 2, "24 sessions all on one master: is this a cluster?"
    assert_keys_where_their_slots_are(nodes, found)

    client = app.factory.client
    for session_id in ids:
        payload = json.loads(client.get(prefix + session_id))
        assert ("x" in payload) is expiry_in_payload
        ttl = client.ttl(prefix + session_id)
        assert (1190 <= ttl <= 1200) if ttl_set else ttl == -1

    reset_commands(nodes)
    for i, user in enumerate(users):
        assert user.get("/read?key=name").text == repr(f"u{i}")
    assert data_commands(nodes) == {read_command: 24}

    reset_commands(nodes)
    for user in users[:12]:
        user.get("/invalidate")
    assert data_commands(nodes) == {"del": 12}
    assert set().union(*keys_by_node(nodes)) == {(prefix + i).encode() for i in ids[12:]}
    for user in users[:12]:
        assert user.get("/read?key=name").text == "None"


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"timeout_trigger": 600}, {"set_redis_ttl": False}], ids=["trigger", "lru"])
def test_expiry_is_pushed_forward_on_a_cluster_past_the_trigger(cluster, nodes, clock, options):
    """The write that a read makes past the trigger reaches the right master."""
    app = make_app(cluster.url, redis_cluster=True, **options)
    session_id = written_id(app.get("/write?key=a&value=1"))
    client = app.factory.client
    start = clock.now
    assert json.loads(client.get(session_id))["x"] == start + 1200

    clock.now = start + 599
    reset_commands(nodes)
    assert app.get("/read?key=a").text == "'1'"
    assert data_commands(nodes) == {"get": 1}

    clock.now = start + 600
    reset_commands(nodes)
    assert app.get("/read?key=a").text == "'1'"
    assert data_commands(nodes) == {"get": 1, "evalsha": 1}
    assert json.loads(client.get(session_id))["x"] == clock.now + 1200
    ttl = client.ttl(session_id)
    assert (1190 <= ttl <= 1200) if "timeout_trigger" in options else ttl == -1

    clock.now = start + 600 + 1201  # past the pushed expiry: gone, even without a TTL
    assert app.get("/read?key=a").text == "None"


# -- the ways of naming the cluster ---------------------------------------------------------------


@pytest.mark.slow
def test_regenerate_id_moves_sessions_between_nodes(cluster, nodes):
    """The old and the new key usually hash to different masters: DEL and SET NX are separate single-key commands."""

    def login(request):
        request.session["user"] = "alice"
        request.session.regenerate_id()
        return request.response

    app = make_app(cluster.url, redis_cluster=True, views={"login": login})
    users = browsers(app, 20)
    before = []
    for user in users:
        user.get("/write?key=cart&value=1")
        before.append(user.cookies["session"])
    old_keys = set().union(*keys_by_node(nodes))
    reset_commands(nodes)
    for user in users:
        user.get("/login")
    assert data_commands(nodes) == {"getex": 20, "del": 20, "set": 20}
    found = keys_by_node(nodes)
    new_keys = set().union(*found)
    assert len(new_keys) == 20 and not (new_keys & old_keys)
    assert_keys_where_their_slots_are(nodes, found)
    for user, old_cookie in zip(users, before):
        assert user.cookies["session"] != old_cookie
        assert user.get("/read?key=user").text == "'alice'" and user.get("/read?key=cart").text == "'1'"
        stale = TestApp(app.app)
        stale.set_cookie("session", old_cookie)
        assert stale.get("/read?key=cart").text == "None"


@pytest.mark.slow
def test_ini_settings_build_a_cluster_client_that_works(cluster, nodes):
    factory = session_factory_from_settings({
        "redis.sessions.secret": SECRET,
        "redis.sessions.redis_url": cluster.url,
        "redis.sessions.redis_cluster": "true",
        "redis.sessions.prefix": "ini:",
    })
    assert isinstance(factory.client, RedisCluster)
    app = TestApp(make_wsgi(factory))
    session_id = written_id(app.get("/write?key=from&value=ini"))
    assert app.get("/read?key=from").text == "'ini'"
    assert {(n.host, n.port) for n in factory.client.get_nodes()} == set(cluster.addresses)
    found = keys_by_node(nodes)
    assert set().union(*found) == {f"ini:{session_id}".encode()}
    assert_keys_where_their_slots_are(nodes, found)


@pytest.mark.slow
def test_ini_redis_cluster_false_keeps_a_plain_client(cluster, nodes):
    """The same settings without ``redis_cluster`` give a plain client, which the cluster redirects."""
    factory = session_factory_from_settings({
        "redis.sessions.secret": SECRET,
        "redis.sessions.redis_url": cluster.url,
        "redis.sessions.redis_cluster": "false",
    })
    assert type(factory.client) is redis.Redis
    ranges = slot_ranges(nodes)[cluster.addresses[0][1]]
    elsewhere = next(
        key for key in (f"probe-{n}" for n in range(1000))
        if not any(a <= nodes[0].execute_command("CLUSTER", "KEYSLOT", key) <= b for a, b in ranges)
    )
    with pytest.raises(redis.exceptions.MovedError):
        factory.client.set(elsewhere, b"x")


@pytest.mark.slow
def test_host_and_port_without_url_name_a_cluster_node(cluster, nodes):
    host, port = cluster.addresses[1]
    app = make_app(None, redis_host=host, redis_port=port, redis_cluster=True)
    assert isinstance(app.factory.client, RedisCluster)
    users = browsers(app, 24)
    ids = [written_id(user.get(f"/write?key=k&value=v{i}")) for i, user in enumerate(users)]
    for i, user in enumerate(users):
        assert user.get("/read?key=k").text == repr(f"v{i}")
    found = keys_by_node(nodes)
    assert set().union(*found) == {i.encode() for i in ids}
    assert sum(1 for keys in found if keys) >= 2
    assert_keys_where_their_slots_are(nodes, found)


@pytest.mark.slow
def test_a_cluster_formed_by_hand_is_ok_too():
    """The fallback for machines without redis-cli forms a working cluster."""
    with LocalCluster(method="manual") as by_hand:
        assert by_hand.formation_seconds is not None and by_hand.formation_seconds < 30
        assert all(info["cluster_state"] == "ok" for info in by_hand.cluster_info())
        app = make_app(by_hand.url, redis_cluster=True)
        users = browsers(app, 30)
        for i, user in enumerate(users):
            user.get(f"/write?key=k&value={i}")
        for i, user in enumerate(users):
            assert user.get("/read?key=k").text == repr(str(i))
        clients = by_hand.node_clients()
        try:
            found = keys_by_node(clients)
            assert sum(len(keys) for keys in found) == 30
            assert sum(1 for keys in found if keys) >= 2
        finally:
            for client in clients:
                client.close()


# -- settings a cluster cannot take (no cluster needed) --------------------------------------------------


def test_redis_db_other_than_zero_with_cluster_fails_at_start_up():
    with pytest.raises(InvalidSetting, match="redis_db.*redis_cluster"):
        RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:7000/0", redis_db=1, redis_cluster=True)


def test_redis_db_in_ini_with_cluster_fails_naming_the_settings_keys():
    with pytest.raises(InvalidSetting, match=r"redis\.sessions\.redis_db.*redis\.sessions\.redis_cluster"):
        session_factory_from_settings({
            "redis.sessions.secret": SECRET,
            "redis.sessions.redis_host": "127.0.0.1",
            "redis.sessions.redis_port": "7000",
            "redis.sessions.redis_db": "1",
            "redis.sessions.redis_cluster": "true",
        })


@pytest.mark.parametrize("url", ["redis://127.0.0.1:7000/1", "redis://127.0.0.1:7000?db=2", "rediss://127.0.0.1:7000/3"])
def test_a_database_in_the_url_other_than_zero_with_cluster_fails_at_start_up(url):
    """Not only at the first request, where redis-py would refuse it."""
    with pytest.raises(InvalidSetting, match="redis_url.*database.*redis_cluster"):
        RedisSessionFactory(secret=SECRET, redis_url=url, redis_cluster=True)


def test_database_zero_in_the_url_with_cluster_is_accepted():
    factory = RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:7000/0?db=0", redis_cluster=True)
    assert factory.options["redis_cluster"] is True


def test_tls_files_without_tls_with_cluster_fail_at_start_up():
    """Although the cluster client itself is built on first use."""
    with pytest.raises(InvalidSetting, match="redis_ssl_ca_certs.*TLS"):
        RedisSessionFactory(secret=SECRET, redis_url="redis://127.0.0.1:7000/0", redis_cluster=True,
                            redis_ssl_ca_certs="/nonexistent/ca.pem")


def test_unix_url_with_cluster_fails_at_start_up():
    with pytest.raises(InvalidSetting, match="redis_cluster.*unix socket"):
        RedisSessionFactory(secret=SECRET, redis_url="unix:///tmp/redis.sock", redis_cluster=True)


def test_unix_socket_path_with_cluster_fails_at_start_up():
    with pytest.raises(InvalidSetting, match="redis_cluster.*unix socket"):
        RedisSessionFactory(secret=SECRET, redis_unix_socket_path="/tmp/redis.sock", redis_cluster=True)


def test_cluster_with_a_memory_url_fails_at_start_up():
    with pytest.raises(InvalidSetting, match="redis_cluster.*memory://"):
        RedisSessionFactory(secret=SECRET, redis_url="memory://", redis_cluster=True)


@pytest.mark.slow
def test_concurrent_requests_merge_on_a_cluster(cluster, nodes):
    """The checked write (EVALSHA on the session's key) and its merge, on whichever master holds it."""
    from .test_concurrency import build, get, peek, start

    app, _, conflicts = build(cluster.url, redis_cluster=True)
    cookies = [start(app) for _ in range(12)]
    while not all(keys for keys in keys_by_node(nodes)) and len(cookies) < 60:
        cookies.append(start(app))  # until every master holds one (12 random ids miss one ~2% of the time)
    assert all(keys for keys in keys_by_node(nodes))
    reset_commands(nodes)
    for cookie in cookies:
        get(app, "/interleave?other=/incr&mine=incr", cookie)
        get(app, "/interleave?other=/write%3Fkey%3Dtheirs%26value%3Dt&mine=set&key=mine&value=m", cookie)
    counts = data_commands(nodes)
    assert counts["evalsha"] == len(cookies) * 6  # per session: theirs 1 + ours 2, twice
    for cookie in cookies:
        assert peek(app, cookie) == "[('loaded', 'yes'), ('mine', 'm'), ('n', 2), ('theirs', 't')]"
    assert conflicts == []


def test_local_cache_serves_cluster_sessions_with_no_command(cluster, nodes):
    app = make_app(cluster.url, redis_cluster=True, local_cache=100)
    first = make_app(cluster.url, redis_cluster=True, local_cache=100)
    first.cookiejar = app.cookiejar  # one browser, two workers
    for key in "abcdef":  # a few sessions, so that more than one master holds one
        app.reset()
        app.get("/write", params={"key": key, "value": key})
        first.cookiejar = app.cookiejar
        assert first.get("/read", params={"key": key}).text == repr(key)  # loaded from its master
        reset_commands(nodes)
        assert first.get("/read", params={"key": key}).text == repr(key)
        assert data_commands(nodes) == {}
        app.get("/write", params={"key": key, "value": key * 2})  # the other worker writes
        assert first.get("/read", params={"key": key}).text == repr(key * 2)
