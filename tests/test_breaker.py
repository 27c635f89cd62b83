"""The circuit breaker's state machine (breaker.py), with a clock the test moves.

No Redis here: the store behind the breaker is a scripted ``Store`` that
answers, or fails the way ``RedisStore`` fails (a ``SessionBackendError``
whose cause is the redis-py error), and can run another "request" while its
own command is in flight.  What a real stalled server does is in
``test_breaker_stall.py``.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
from typing import Any, List, Optional

import pytest
import redis

from pyramid_session_redis.breaker import PROBE, Breaker, GuardedStore, guarded, unguarded, unreachable
from pyramid_session_redis.exceptions import SessionBackendError, SessionBackendUnavailable
from pyramid_session_redis.store import WRITTEN

COOLDOWN = 2.0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def timeout() -> SessionBackendError:
    """What RedisStore raises when Redis does not answer in time."""
    try:
        raise redis.exceptions.TimeoutError("Timeout reading from socket")
    except redis.exceptions.TimeoutError as exc:
        try:
            raise SessionBackendError("Redis failed during load: TimeoutError: Timeout reading from socket") from exc
        except SessionBackendError as wrapped:
            return wrapped


def wrapped(cause: BaseException) -> SessionBackendError:
    error = SessionBackendError(f"Redis failed: {cause}")
    error.__cause__ = cause
    return error


class Scripted:
    """A ``Store`` whose next commands do what ``script`` says: None answers; an
    exception is raised; a callable runs (another request, meanwhile) and then
    the command answers, or raises what the callable returned.  Every command
    it receives is in ``sent``."""

    prefix = "p:"
    client = None

    def __init__(self) -> None:
        self.script: List[Any] = []
        self.sent: List[str] = []

    def _do(self, name: str, reply: Any) -> Any:
        self.sent.append(name)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            step = step()
            if isinstance(step, BaseException):
                raise step
        return reply

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        return self._do("load", b"payload")

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        return self._do("create", True)

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        return self._do("save", True)

    def checked_save(self, session_id: str, head: Any, data: Optional[bytes], ttl: Optional[int],
                     whole: bool = False) -> Any:
        return self._do("checked_save", WRITTEN)

    def refresh(self, session_id: str, ttl: int) -> None:
        self._do("refresh", None)

    def delete(self, session_id: str) -> None:
        self._do("delete", None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> Breaker:
    return Breaker(COOLDOWN, clock=clock, jitter=lambda: 0.0)


@pytest.fixture
def inner() -> Scripted:
    return Scripted()


@pytest.fixture
def store(inner: Scripted, breaker: Breaker) -> GuardedStore:
    return GuardedStore(inner, breaker)


def trip(store: GuardedStore, inner: Scripted) -> SessionBackendError:
    """One command that times out: the breaker opens."""
    failure = timeout()
    inner.script.append(failure)
    with pytest.raises(SessionBackendError) as raised:
        store.load("id")
    assert raised.value is failure  # the command's own error, as it came
    return failure


# -- closed ---------------------------------------------------------------------------


def test_a_closed_breaker_passes_every_command_and_its_reply_through(store, inner, breaker):
    assert store.load("id", 60) == b"payload"
    assert store.create("id", b"x", 60) is True
    assert store.save("id", b"x", 60) is True
    assert store.checked_save("id", b"head", b"x", 60) == WRITTEN
    assert store.refresh("id", 60) is None
    assert store.delete("id") is None
    assert inner.sent == ["load", "create", "save", "checked_save", "refresh", "delete"]
    assert breaker.state == "closed" and breaker.period == 1
    assert store.prefix == "p:" and store.client is None


@pytest.mark.parametrize("cause", [
    redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    redis.exceptions.ResponseError("ERR value is not an integer or out of range"),
    redis.exceptions.NoPermissionError("NOPERM this user has no permissions to run the 'getex' command"),
])
def test_an_error_reply_fails_that_command_only(store, inner, breaker, cause):
    # Redis answered: it is there.  The next command is sent as usual.
    inner.script.append(wrapped(cause))
    with pytest.raises(SessionBackendError):
        store.load("id")
    assert breaker.state == "closed"
    assert store.load("id") == b"payload" and inner.sent == ["load", "load"]


def test_an_exception_that_is_not_a_store_failure_leaves_it_closed(store, inner, breaker):
    inner.script.append(ValueError("a bug, not Redis"))
    with pytest.raises(ValueError):
        store.load("id")
    inner.script.append(redis.exceptions.TimeoutError("raw, not a SessionBackendError"))
    with pytest.raises(redis.exceptions.TimeoutError):
        store.load("id")
    assert breaker.state == "closed"


@pytest.mark.parametrize("cause", [
    redis.exceptions.TimeoutError("Timeout reading from socket"),
    redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.sentinel.MasterNotFoundError("No master found for 'mymaster'"),
    redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
    redis.exceptions.RedisClusterException("Redis Cluster cannot be connected."),
])
def test_what_says_redis_cannot_be_reached_opens_it(cause):
    assert unreachable(wrapped(cause))


def test_a_non_positive_cooldown_is_no_breaker():
    with pytest.raises(ValueError, match="cool-down > 0"):
        Breaker(0)
    inner = Scripted()
    assert guarded(inner, None) is inner and unguarded(inner) is inner
    guard = guarded(inner, Breaker(1.0))
    assert isinstance(guard, GuardedStore) and unguarded(guard) is inner


# -- open -----------------------------------------------------------------------------


def test_one_timeout_opens_it_and_then_commands_fail_at_once_without_being_sent(store, inner, breaker, clock, caplog):
    caplog.set_level(logging.DEBUG, "pyramid_session_redis")
    trip(store, inner)
    assert breaker.state == "open" and breaker.period == 0
    [opened] = caplog.records
    assert opened.levelno == logging.WARNING
    assert opened.getMessage() == (
        "pyramid_session_redis: Redis failed (TimeoutError: Timeout reading from socket); circuit breaker open: "
        "session requests fail at once for 2.00 s, then one request tries Redis again (backend_cooldown = 2.0)")
    clock.now += 0.5
    for call in (lambda: store.load("id"), lambda: store.create("id", b"x", 60), lambda: store.save("id", b"x", 60),
                 lambda: store.checked_save("id", b"h", b"x", 60), lambda: store.refresh("id", 60),
                 lambda: store.delete("id")):
        with pytest.raises(SessionBackendUnavailable) as raised:
            call()
        assert isinstance(raised.value, SessionBackendError) and raised.value.__cause__ is None
    assert inner.sent == ["load"]  # only the command that failed was sent
    assert str(raised.value) == (
        "Redis not tried during delete: the circuit breaker is open since Redis failed 0.50 s ago "
        "(TimeoutError: Timeout reading from socket); the next try is in 1.50 s (backend_cooldown)")
    assert len(caplog.records) == 1  # one line when it opens, not one per request
    assert breaker.describe() == {"state": "open", "cooldown": 2.0, "open_for": 0.5, "next_try_in": 1.5,
                                  "last_error": "TimeoutError: Timeout reading from socket",
                                  "failed_at_once": 6, "failed_tries": 0}


def test_until_the_cooldown_is_over(store, inner, breaker, clock):
    trip(store, inner)
    clock.now += COOLDOWN - 0.001
    with pytest.raises(SessionBackendUnavailable):
        store.load("id")
    clock.now += 0.001
    assert store.load("id") == b"payload"  # the probe
    assert inner.sent == ["load", "load"]


def test_each_opening_is_shortened_at_random_by_up_to_a_quarter(clock):
    for jitter, lasts in ((0.0, 2.0), (0.5, 1.75), (0.998, 1.501)):
        breaker = Breaker(COOLDOWN, clock=clock, jitter=lambda j=jitter: j)
        store = GuardedStore(Scripted(), breaker)
        trip(store, store.inner)
        assert breaker.describe()["next_try_in"] == pytest.approx(lasts)


# -- the probe ------------------------------------------------------------------------


def test_after_the_cooldown_one_request_tries_and_an_answer_closes_it(store, inner, breaker, clock, caplog):
    caplog.set_level(logging.INFO, "pyramid_session_redis")
    trip(store, inner)
    for _ in range(3):
        with pytest.raises(SessionBackendUnavailable):
            store.load("id")
    clock.now += COOLDOWN + 1.25
    others: List[BaseException] = []
    states: List[str] = []

    def meanwhile() -> None:
        # Other requests while the probe's command is in flight: failed at once.
        states.append(breaker.state)
        for call in (lambda: store.load("other"), lambda: store.save("other", b"x", 60)):
            try:
                call()
            except SessionBackendUnavailable as exc:
                others.append(exc)

    inner.script.append(meanwhile)
    assert store.load("id") == b"payload"
    assert states == ["probing"] and len(others) == 2
    assert "another request is trying Redis now" in str(others[0])
    assert breaker.state == "closed" and breaker.period == 2
    assert breaker.describe() == {"state": "closed", "cooldown": 2.0}
    assert caplog.records[-1].levelno == logging.INFO
    assert caplog.records[-1].getMessage() == (
        "pyramid_session_redis: Redis answered again; circuit breaker closed after 3.25 s open "
        "(5 session requests failed at once, 0 tries failed)")
    assert store.save("id", b"x", 60) is True and inner.sent == ["load", "load", "save"]


@pytest.mark.parametrize("method, args", [
    ("create", ("id", b"x", 60)), ("save", ("id", b"x", 60)), ("checked_save", ("id", b"h", b"x", 60)),
    ("refresh", ("id", 60)), ("delete", ("id",)),
])
def test_any_command_can_be_the_probe(store, inner, breaker, clock, method, args):
    trip(store, inner)
    clock.now += COOLDOWN
    inner.script.append(timeout())
    with pytest.raises(SessionBackendError):
        getattr(store, method)(*args)
    assert breaker.state == "open"
    clock.now += COOLDOWN
    getattr(store, method)(*args)
    assert breaker.state == "closed" and inner.sent == ["load", method, method]


def test_a_failed_try_opens_it_for_another_cooldown(store, inner, breaker, clock, caplog):
    caplog.set_level(logging.DEBUG, "pyramid_session_redis")
    trip(store, inner)
    for failed in (1, 2):
        clock.now += COOLDOWN
        inner.script.append(wrapped(redis.exceptions.ConnectionError("Connection reset by peer")))
        with pytest.raises(SessionBackendError):
            store.load("id")  # the probe
        assert breaker.state == "open"
        with pytest.raises(SessionBackendUnavailable, match=r"\(ConnectionError: Connection reset by peer\)"):
            store.load("id")
        assert breaker.describe()["failed_tries"] == failed
        assert breaker.describe()["open_for"] == COOLDOWN * failed  # since it first opened
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert caplog.records[1].getMessage() == (
        "pyramid_session_redis: Redis failed again (ConnectionError: Connection reset by peer); "
        "circuit breaker open for 2.00 s more")
    clock.now += COOLDOWN
    assert store.load("id") == b"payload" and breaker.state == "closed"
    assert "(2 session requests failed at once, 2 tries failed)" in caplog.records[-1].getMessage()


def test_a_probe_answered_with_an_error_reply_closes_it(store, inner, breaker, clock):
    trip(store, inner)
    clock.now += COOLDOWN
    inner.script.append(wrapped(redis.exceptions.ResponseError("WRONGTYPE")))
    with pytest.raises(SessionBackendError):
        store.load("id")
    assert breaker.state == "closed"


def test_a_probe_that_fails_for_another_reason_lets_the_next_request_try(store, inner, breaker, clock):
    trip(store, inner)
    clock.now += COOLDOWN
    inner.script.append(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        store.load("id")
    assert breaker.state == "open"  # nothing learnt about Redis...
    assert store.load("id") == b"payload"  # ...so the next request tries at once
    assert breaker.state == "closed"


# -- commands already in flight ---------------------------------------------------------


def test_a_command_sent_before_it_opened_fails_without_opening_it_again(store, inner, breaker, clock, caplog):
    caplog.set_level(logging.INFO, "pyramid_session_redis")

    def opened_and_closed_meanwhile() -> SessionBackendError:
        trip(store, inner)  # another request's command times out: open
        clock.now += COOLDOWN
        assert store.load("probe") == b"payload"  # Redis is back: closed
        return timeout()  # ...and then this slow command times out

    inner.script.append(opened_and_closed_meanwhile)
    with pytest.raises(SessionBackendError):
        store.load("slow")
    assert breaker.state == "closed"  # old news: not opened again
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def test_a_command_failing_while_it_is_open_does_not_push_the_next_try_back(store, inner, breaker, clock):
    def opens_meanwhile() -> SessionBackendError:
        trip(store, inner)
        clock.now += 1.0
        return timeout()

    inner.script.append(opens_meanwhile)
    with pytest.raises(SessionBackendError) as raised:
        store.load("slow")  # sent while it was closed; fails once it is open
    assert not isinstance(raised.value, SessionBackendUnavailable)
    assert breaker.describe()["next_try_in"] == 1.0  # still 2 s after the first failure


def test_the_one_admitted_when_it_closes_meanwhile_is_sent(breaker, clock):
    store = GuardedStore(Scripted(), breaker)
    trip(store, store.inner)
    clock.now += COOLDOWN
    assert breaker.admit("load") == PROBE
    breaker.answered()
    # A request that read period 0 just before the probe closed it: let through.
    assert breaker.admit("load") == breaker.period == 2
    breaker.answered()  # (a second answer changes nothing)
    assert breaker.period == 2


# -- threads and processes ------------------------------------------------------------


def test_many_threads_after_the_cooldown_send_one_probe(breaker, clock):
    inner = Scripted()
    store = GuardedStore(inner, breaker)
    trip(store, inner)
    clock.now += COOLDOWN
    threads_n = 16
    ready = threading.Barrier(threads_n)
    done = threading.Event()
    outcomes: List[str] = []
    lock = threading.Lock()

    def probe_waits() -> None:
        done.wait(10)  # the probe's command stays in flight until every other thread has its answer

    inner.script.append(probe_waits)

    def request() -> None:
        ready.wait()
        try:
            store.load("id")
            outcome = "sent"
        except SessionBackendUnavailable:
            outcome = "failed at once"
        with lock:
            outcomes.append(outcome)
            if outcomes.count("failed at once") == threads_n - 1:
                done.set()

    threads = [threading.Thread(target=request) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(outcomes) == ["failed at once"] * (threads_n - 1) + ["sent"]
    assert inner.sent == ["load", "load"] and breaker.state == "closed"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_closed_even_if_the_lock_was_held_at_the_fork(breaker, clock):
    inner = Scripted()
    store = GuardedStore(inner, breaker)
    trip(store, inner)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with breaker._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(10)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave, whatever happens
        signal.alarm(10)  # a deadlock on the copied lock would hang here
        report: dict = {}
        try:
            report["state"] = breaker.state
            report["load"] = store.load("id").decode()
            trip(store, inner)
            report["after_a_failure"] = breaker.describe()["state"]
        except BaseException as exc:
            report["error"] = repr(exc)
        finally:
            os.write(write_fd, json.dumps(report).encode())
            os._exit(0)
    release.set()
    holder.join()
    os.close(write_fd)
    ready, _, _ = select.select([read_fd], [], [], 20)
    data = os.read(read_fd, 65536) if ready else b"{}"
    os.close(read_fd)
    os.waitpid(pid, 0)
    assert json.loads(data) == {"state": "closed", "load": "payload", "after_a_failure": "open"}
    assert breaker.state == "open"  # the parent's own breaker is as it was


def test_the_breaker_costs_one_attribute_read_while_closed():
    # The closed path must not take the lock: hold it, and commands still go through.
    breaker = Breaker(COOLDOWN)
    store = GuardedStore(Scripted(), breaker)
    with breaker._lock:
        assert store.load("id") == b"payload"
