"""Sessions through Redis Sentinel, against real sentinels, up to a real failover.

A master, a replica and three sentinels (quorum 2) run on loopback ports
(``pyramid_session_redis.testing.sentinel``).  The factory is configured with ``redis_sentinels`` and
``redis_sentinel_master`` only: the sentinels say where the master is.  The
failover test kills the master with SIGKILL while browsers keep using their
sessions, and checks that the sessions replicated before the crash survive on
the promoted replica.  The settings that cannot go with Sentinel fail at
start-up; those tests need no server.
"""

from __future__ import annotations

import ast
import json
import socket
import threading
import time
from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

import pytest
import redis
from redis.sentinel import MasterNotFoundError
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory, session_factory_from_settings
from pyramid_session_redis.exceptions import InvalidSetting
from pyramid_session_redis.options import parse_settings
from pyramid_session_redis.testing.sentinel import SERVICE, SentinelSetup
from pyramid_session_redis.testing.servers import free_port

from .app import SECRET, backend_failure, make_wsgi

FAST = {"redis_socket_timeout": 1, "redis_socket_connect_timeout": 1}
FAILOVER_DEADLINE = 20.0  # seconds from the kill until a request must succeed again


def sentinel_app(setup: SentinelSetup, **options: Any) -> TestApp:
    options = {"secret": SECRET, "redis_sentinels": setup.sentinels, "redis_sentinel_master": SERVICE,
               **FAST, **options}
    return TestApp(make_wsgi(RedisSessionFactory(**options)))


def payload(client: redis.Redis, session_id: str) -> Optional[Dict[str, Any]]:
    raw = client.get(session_id)
    return None if raw is None else json.loads(raw)["m"]


def session_id_of(response: Any) -> str:
    """The id that the ``/write`` view returns (it shows ``session_id_safecheck``)."""
    return str(ast.literal_eval(response.text))


@pytest.fixture(scope="module")
def setup():
    with SentinelSetup() as started:
        yield started


@pytest.fixture
def master(setup):
    client = setup.node_client(setup.master)
    client.flushall()
    yield client
    client.close()


# -- a healthy set-up ---------------------------------------------------------------------


@pytest.mark.slow
def test_sessions_are_read_and_written_on_the_master_the_sentinels_name(setup, master):
    replica = setup.node_client(setup.replicas[0])
    app = sentinel_app(setup)
    sid = session_id_of(app.get("/write", params={"key": "colour", "value": "blue"}))
    assert app.get("/incr").text == "1"
    assert app.get("/incr").text == "2"
    assert app.get("/read", params={"key": "colour"}).text == "'blue'"
    assert master.keys("*") == [sid.encode()]
    assert payload(master, sid) == {"colour": "blue", "n": 2}
    assert 0 < master.ttl(sid) <= 1200
    # The replica gets it by replication, not from the client.
    assert master.wait(1, 2000) == 1
    assert payload(replica, sid) == {"colour": "blue", "n": 2}
    app.get("/invalidate")
    assert master.exists(sid) == 0


@pytest.mark.slow
def test_ini_settings_with_sentinels_separated_by_spaces_and_commas(setup, master):
    (h1, p1), (h2, p2), (h3, p3) = setup.sentinels
    settings = {
        "redis.sessions.secret": SECRET,
        "redis.sessions.redis_sentinels": f"{h1}:{p1} {h2}:{p2}, {h3}:{p3}",
        "redis.sessions.redis_sentinel_master": SERVICE,
        "redis.sessions.redis_socket_timeout": "1",
        "redis.sessions.redis_socket_connect_timeout": "1",
        "redis.sessions.prefix": "ini:",
        "unrelated.setting": "ignored",
    }
    assert parse_settings(settings)["redis_sentinels"] == ((h1, p1), (h2, p2), (h3, p3))
    app = TestApp(make_wsgi(session_factory_from_settings(settings)))
    sid = session_id_of(app.get("/write", params={"key": "from", "value": "ini"}))
    assert app.get("/read", params={"key": "from"}).text == "'ini'"
    assert master.keys("*") == [f"ini:{sid}".encode()]
    assert payload(master, f"ini:{sid}") == {"from": "ini"}


@pytest.mark.slow
def test_an_unreachable_sentinel_first_in_the_list_costs_no_wait(setup, master):
    dead = ("127.0.0.1", free_port())  # nothing listens there: connection refused
    app = sentinel_app(setup, redis_sentinels=[dead, *setup.sentinels])
    started = time.monotonic()
    sid = session_id_of(app.get("/write", params={"key": "k", "value": "v"}))
    first = time.monotonic() - started
    assert payload(master, sid) == {"k": "v"}
    assert app.get("/read").text == "'v'"
    # One try, then the next sentinel (redis-py's default retries took ~4 s here).
    assert first < 1.0, f"the first request took {first:.2f} s"


@pytest.fixture
def hanging_sentinel():
    """A listener that accepts connections and never answers: a sentinel that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes the handshakes; nobody reads
    yield ("127.0.0.1", listener.getsockname()[1])
    listener.close()


@pytest.mark.slow
def test_a_hanging_sentinel_first_in_the_list_costs_one_socket_timeout(setup, master, hanging_sentinel):
    app = sentinel_app(setup, redis_sentinels=[hanging_sentinel, *setup.sentinels],
                       redis_socket_timeout=0.3, redis_socket_connect_timeout=0.3)
    started = time.monotonic()
    sid = session_id_of(app.get("/write", params={"key": "k", "value": "v"}))
    first = time.monotonic() - started
    assert payload(master, sid) == {"k": "v"}
    # About one 0.3 s timeout; with redis-py's default retries it was about 8 s.
    assert 0.25 < first < 1.5, f"the first request took {first:.2f} s"
    started = time.monotonic()
    assert app.get("/read").text == "'v'"
    assert time.monotonic() - started < 0.25  # the answering sentinel is now asked first


# -- failover -----------------------------------------------------------------------------


class Browser:
    """One user: a WebTest app with its own cookie jar, and what it was told."""

    def __init__(self, name: str, wsgi: Any):
        self.name = name
        self.app = TestApp(wsgi)
        self.session_id: Optional[str] = None
        self.count = 0  # the last counter value a response showed


class SessionStream(threading.Thread):
    """Browsers that create sessions and count in them, nonstop, every outcome timed.

    A new browser joins every ``new_every`` turns once the last one has its
    session (up to ``max_browsers``), so sessions are created as well as
    updated all along, without piling up while Redis is away.  A request that
    raises is recorded by the exception's class name, with the first message
    of each kind; the browser tries again on its next turn.
    """

    def __init__(self, wsgi: Any, max_browsers: int = 200, new_every: int = 4):
        super().__init__(daemon=True)
        self.wsgi = wsgi
        self.max_browsers = max_browsers
        self.new_every = new_every
        self.browsers: List[Browser] = []
        self.outcomes: List[Tuple[float, float, Optional[str]]] = []  # (start, end, error kind or None)
        self.messages: Dict[str, str] = {}  # error kind -> its first message
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def _request(self, browser: Browser, path: str, **params: str) -> Optional[str]:
        start = time.monotonic()
        try:
            text = browser.app.get(path, params=params).text
            kind = None
        except Exception as exc:  # what the WSGI app let through: redis-py's errors
            text, kind = None, type(exc.__cause__ or exc).__name__  # the redis-py error inside
            self.messages.setdefault(kind, str(exc))
        with self.lock:
            self.outcomes.append((start, time.monotonic(), kind))
        return text

    def run(self) -> None:
        turn = 0
        while not self.halt.is_set():
            newcomer_ready = not self.browsers or self.browsers[-1].session_id is not None
            if turn % self.new_every == 0 and newcomer_ready and len(self.browsers) < self.max_browsers:
                browser = Browser(f"b{len(self.browsers)}", self.wsgi)
                with self.lock:
                    self.browsers.append(browser)
            else:
                browser = self.browsers[turn % len(self.browsers)]
            turn += 1
            if browser.session_id is None:
                text = self._request(browser, "/write", key="owner", value=browser.name)
                if text is None:
                    continue
                browser.session_id = str(ast.literal_eval(text))
            text = self._request(browser, "/incr")
            if text is not None:
                with self.lock:
                    browser.count = int(text)

    def confirmed(self) -> Dict[str, Tuple[str, int]]:
        """name -> (session id, counter) of every session a response has confirmed."""
        with self.lock:
            return {b.name: (b.session_id, b.count) for b in self.browsers if b.session_id and b.count}

    def successes_since(self, moment: float) -> List[Tuple[float, float, Optional[str]]]:
        with self.lock:
            return [o for o in self.outcomes if o[0] >= moment and o[2] is None]

    def errors(self, since: float = 0.0, until: float = float("inf")) -> Counter:
        with self.lock:
            return Counter(o[2] for o in self.outcomes if o[2] is not None and since <= o[0] < until)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the request stream did not stop within 30 s"


def _wait_for(what: str, condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.01)


@pytest.mark.slow
def test_failover_keeps_replicated_sessions_and_serves_again_within_seconds(record_property):
    with SentinelSetup() as setup:
        master, former_replica = setup.master, setup.replicas[0]
        master_client = setup.node_client(master)
        wsgi = make_wsgi(RedisSessionFactory(secret=SECRET, redis_sentinels=setup.sentinels,
                                             redis_sentinel_master=SERVICE, **FAST))
        stream = SessionStream(wsgi)
        stream.start()
        try:
            _wait_for("12 confirmed sessions", lambda: len(stream.confirmed()) >= 12, 10)
            assert stream.errors() == Counter(), "errors before any failure"

            # Fence: everything confirmed so far was written before this SET,
            # and WAIT returns once the replica has acknowledged it.
            before_kill = stream.confirmed()
            master_client.set("fence", "1")
            assert master_client.wait(1, 2000) == 1, "the replica did not acknowledge the fence"

            master.kill()
            killed_at = time.monotonic()
            try:
                _wait_for("a request succeeding on the new master",
                          lambda: stream.successes_since(killed_at), FAILOVER_DEADLINE)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; errors since the kill: {dict(stream.errors(killed_at))}; "
                                     f"sentinels say the master is {[setup.master_addr(i) for i in range(3)]}") from exc
            recovered_at = min(end for _start, end, _kind in stream.successes_since(killed_at))
            failover_seconds = recovered_at - killed_at
            during = stream.errors(killed_at, recovered_at)

            # Keep going: new sessions and more counting on the new master.
            browsers_then = len(stream.browsers)
            _wait_for("50 more successful requests",
                      lambda: len(stream.successes_since(recovered_at)) >= 50, 10)
        finally:
            stream.stop()
        after = stream.errors(recovered_at + 0.001)

        setup.wait_master_is(former_replica, timeout=10)  # all three sentinels, or SentinelError
        print(f"\nfailover: first request served again {failover_seconds:.2f} s after SIGKILL of the master; "
              f"errors meanwhile: {dict(during)} ({stream.messages}); errors after: {dict(after)}; "
              f"{len(before_kill)} sessions replicated before the kill")
        record_property("failover_seconds", round(failover_seconds, 3))
        record_property("errors_during_failover", dict(during))

        assert failover_seconds < FAILOVER_DEADLINE
        assert setup.master_addr() == ("127.0.0.1", former_replica.port)
        new_master = setup.node_client(former_replica)
        assert new_master.info("replication")["role"] == "master"
        assert new_master.get("fence") == b"1"
        # Once one request succeeded, the client stays on the new master.
        assert after == Counter(), f"errors after the first success: {dict(after)}"

        # Every session confirmed before the fence is there, with its owner and at
        # least the count it had (the stream went on counting after the kill).
        for name, (sid, count) in before_kill.items():
            data = payload(new_master, sid)
            assert data is not None, f"{name}'s session {sid} was lost"
            assert data["owner"] == name and data["n"] >= count, (name, data, count)
        by_name = {b.name: b for b in stream.browsers}
        for name, (_sid, count) in before_kill.items():
            seen = ast.literal_eval(by_name[name].app.get("/peek").text)
            assert seen["owner"] == name and seen["n"] >= count, (name, seen, count)

        # Sessions created after the failover live on the new master too.
        assert len(stream.browsers) > browsers_then
        late = [b for b in stream.browsers[browsers_then:] if b.session_id]
        assert late and all(payload(new_master, b.session_id)["owner"] == b.name for b in late)
        fresh = Browser("fresh", wsgi)
        sid = session_id_of(fresh.app.get("/write", params={"key": "after", "value": "failover"}))
        assert fresh.app.get("/read", params={"key": "after"}).text == "'failover'"
        assert payload(new_master, sid) == {"after": "failover"}


# -- passwords ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def protected():
    """One sentinel with a password of its own, and a master with another."""
    with SentinelSetup(replicas=0, sentinels=1, quorum=1, password="sentinel-secret",
                       master_password="master-secret") as started:
        yield started


@pytest.mark.slow
def test_sentinel_and_master_passwords_each_go_where_they_belong(protected):
    app = sentinel_app(protected, redis_sentinel_password="sentinel-secret", redis_password="master-secret")
    sid = session_id_of(app.get("/write", params={"key": "k", "value": "locked"}))
    assert app.get("/read").text == "'locked'"
    assert payload(protected.node_client(protected.master), sid) == {"k": "locked"}


@pytest.mark.slow
@pytest.mark.parametrize("sentinel_password, master_password, error, expected", [
    ("wrong", "master-secret", MasterNotFoundError, "AuthenticationError"),
    (None, "master-secret", MasterNotFoundError, "AuthenticationError"),
    ("master-secret", "sentinel-secret", MasterNotFoundError, "AuthenticationError"),  # swapped
    ("sentinel-secret", "wrong", redis.AuthenticationError, "invalid username-password pair"),
])
def test_a_wrong_password_fails_the_first_request(protected, sentinel_password, master_password, error, expected):
    protected_master = protected.node_client(protected.master)
    protected_master.flushall()
    app = sentinel_app(protected, redis_sentinel_password=sentinel_password, redis_password=master_password)
    assert app.get("/untouched").text == "untouched"  # no session: nothing asked of Redis
    started = time.monotonic()
    with backend_failure(error, match=expected):
        app.get("/write")
    # At once: an authentication error is not retried (it was, for ~4 s, per sentinel).
    assert time.monotonic() - started < 1.0
    assert protected_master.dbsize() == 0


# -- settings that cannot go together: no server needed ------------------------------------


@pytest.mark.parametrize("options, named", [
    ({"redis_sentinels": ["127.0.0.1:26379"]}, "redis_sentinel_master"),
    ({"redis_sentinel_master": "mymaster"}, "redis_sentinels"),
    ({"redis_sentinels": ["127.0.0.1:26379"], "redis_sentinel_master": "m", "redis_url": "redis://h:1/0"},
     "redis_url"),
    ({"redis_sentinels": ["127.0.0.1:26379"], "redis_sentinel_master": "m", "redis_host": "h"}, "redis_host"),
    ({"redis_sentinels": ["127.0.0.1:26379"], "redis_sentinel_master": "m", "redis_port": 6380}, "redis_port"),
    ({"redis_sentinels": ["127.0.0.1:26379"], "redis_sentinel_master": "m", "redis_cluster": True},
     "redis_cluster"),
    ({"redis_sentinel_password": "pw"}, "redis_sentinel_password"),
    ({"redis_url": "redis://h:1/0", "redis_sentinel_password": "pw"}, "redis_sentinel_password"),
    ({"redis_sentinels": ["127.0.0.1"], "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": ["127.0.0.1:0"], "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": [("127.0.0.1", 70000)], "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": ["127.0.0.1:abc"], "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": [("", 26379)], "redis_sentinel_master": "m"}, "redis_sentinels"),
    ({"redis_sentinels": [], "redis_sentinel_master": "m"}, "redis_sentinels"),
])
def test_impossible_sentinel_settings_fail_at_start_up(options, named):
    with pytest.raises(InvalidSetting, match=named):
        RedisSessionFactory(secret=SECRET, **options)


@pytest.mark.parametrize("text, why", [
    ("127.0.0.1:26379 127.0.0.1", "has no port"),
    ("127.0.0.1:0", "is not host:port"),
    ("127.0.0.1:70000, 127.0.0.1:26379", "is not host:port"),
    ("sentinel:port", "bad port"),
])
def test_malformed_ini_sentinels_name_the_ini_key(text, why):
    settings = {"redis.sessions.secret": SECRET, "redis.sessions.redis_sentinels": text,
                "redis.sessions.redis_sentinel_master": "mymaster"}
    with pytest.raises(InvalidSetting, match=f"redis.sessions.redis_sentinels.*{why}"):
        session_factory_from_settings(settings)


def test_ini_sentinels_without_a_master_name_name_both_ini_keys():
    settings = {"redis.sessions.secret": SECRET, "redis.sessions.redis_sentinels": "127.0.0.1:26379"}
    with pytest.raises(InvalidSetting, match="redis.sessions.redis_sentinels and redis.sessions.redis_sentinel_master"):
        session_factory_from_settings(settings)


def test_ipv6_sentinels_and_pairs_are_accepted_without_connecting():
    factory = RedisSessionFactory(secret=SECRET, redis_sentinels=["[::1]:26379", ("10.0.0.2", "26380")],
                                  redis_sentinel_master="mymaster")
    assert factory.options["redis_sentinels"] == (("::1", 26379), ("10.0.0.2", 26380))


@pytest.mark.slow
def test_local_cache_serves_sentinel_sessions_with_no_command(setup, master):
    app = sentinel_app(setup, local_cache=100)
    other = sentinel_app(setup, local_cache=100)
    other.cookiejar = app.cookiejar  # one browser, two workers
    app.get("/write", params={"key": "colour", "value": "blue"})
    assert other.get("/read", params={"key": "colour"}).text == "'blue'"
    master.config_resetstat()
    assert other.get("/read", params={"key": "colour"}).text == "'blue'"
    assert "cmdstat_getex" not in master.info("commandstats")
    app.get("/write", params={"key": "colour", "value": "red"})
    assert other.get("/read", params={"key": "colour"}).text == "'red'"
