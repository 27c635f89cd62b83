"""The circuit breaker against a real redis-server stopped with SIGSTOP.

A stopped server keeps its connections open and answers nothing, so a
command waits for ``redis_socket_timeout``: the stall that took sites down.
With the breaker (``backend_cooldown``, on by default) only the first request
waits; the next ones fail at once until the cool-down is over, then one
request tries Redis again.  After SIGCONT sessions come back, all of them.

Each test runs its own private redis-server, so that it can be stopped.
Timeouts are 0.5 s and the cool-down 1 s (cut short at random by up to a
quarter), to keep the tests short.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict, List, Tuple

import pytest
import redis
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import SessionBackendError, SessionBackendUnavailable
from pyramid_session_redis.testing.servers import RedisServer

from .app import SECRET, make_wsgi

TIMEOUT = 0.5
COOLDOWN = 1.0
FAST = TIMEOUT / 2  # a request that failed at once, not after a timeout (the machine may be busy)


class Reports(list):
    def __call__(self, request: Any, exc: Exception) -> None:
        self.append(exc)


@pytest.fixture
def server():
    with RedisServer() as started:
        yield started


def app_for(server: RedisServer, **options: Any) -> Tuple[TestApp, Any, Reports]:
    reports = Reports()
    options.setdefault("backend_cooldown", COOLDOWN)
    factory = RedisSessionFactory(secret=SECRET, redis_url=server.url, redis_socket_timeout=TIMEOUT,
                                  redis_socket_connect_timeout=TIMEOUT, func_backend_error_logger=reports, **options)
    return TestApp(make_wsgi(factory)), factory, reports


def timed(call: Any) -> Tuple[float, Any]:
    """(seconds, what ``call`` returned or raised)."""
    start = time.monotonic()
    try:
        outcome = call()
    except Exception as exc:
        outcome = exc
    return time.monotonic() - start, outcome


def stored_sessions(app: TestApp, n: int) -> Dict[str, str]:
    """``n`` sessions written (and acknowledged) through the app: cookie -> value."""
    out = {}
    for i in range(n):
        app.reset()
        app.get("/write", params={"key": "k", "value": f"v{i}"})
        out[app.cookies["session"]] = f"v{i}"
    app.reset()
    return out


def read_back(app: TestApp, sessions: Dict[str, str]) -> Dict[str, str]:
    """What each session holds now, read through the app."""
    found = {}
    for cookie in sessions:
        app.reset()
        app.set_cookie("session", cookie)
        found[cookie] = app.get("/read?key=k").text.strip("'")
    return found


def test_only_the_first_request_waits_then_requests_fail_at_once_until_a_try_succeeds(server, caplog):
    caplog.set_level(logging.INFO, "pyramid_session_redis")
    app, factory, reports = app_for(server)
    sessions = stored_sessions(app, 20)
    cookie = next(iter(sessions))
    app.set_cookie("session", cookie)

    server.pause()
    seconds, first = timed(lambda: app.get("/read?key=k"))
    assert isinstance(first, SessionBackendError) and not isinstance(first, SessionBackendUnavailable)
    assert isinstance(first.__cause__, redis.exceptions.TimeoutError)
    assert TIMEOUT * 0.9 <= seconds <= TIMEOUT + 0.4  # one timeout, not more
    assert factory.breaker.state == "open"

    waits = []
    for path in ("/read?key=k", "/write?key=k&value=new", "/incr") * 4:
        seconds, outcome = timed(lambda path=path: app.get(path))
        assert isinstance(outcome, SessionBackendUnavailable), outcome
        waits.append(seconds)
    assert max(waits) < FAST, waits
    assert "the circuit breaker is open since Redis failed" in str(outcome)
    assert "TimeoutError: Timeout reading from socket" in str(outcome)
    assert app.get("/untouched").text == "untouched"  # never needed Redis

    # The cool-down is over: one request tries, waits one timeout and fails (still stopped)...
    time.sleep(COOLDOWN)
    seconds, tried = timed(lambda: app.get("/read?key=k"))
    assert isinstance(tried.__cause__, redis.exceptions.TimeoutError) and seconds >= TIMEOUT * 0.9
    # ...and the breaker is open again, for another cool-down.
    seconds, outcome = timed(lambda: app.get("/read?key=k"))
    assert isinstance(outcome, SessionBackendUnavailable) and seconds < FAST

    server.resume()
    time.sleep(COOLDOWN)
    assert app.get("/read?key=k").text == "'v0'"  # the try succeeds: closed
    assert factory.breaker.state == "closed"
    assert read_back(app, sessions) == sessions  # nothing was lost
    assert len(reports) == 2 + len(waits) + 1  # every failure was reported, fast ones too
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == [logging.WARNING, logging.INFO]
    assert "circuit breaker open" in logged[0][1] and "circuit breaker closed" in logged[1][1]


def test_degrade_mode_serves_empty_sessions_at_once_and_the_sessions_come_back(server):
    app, _, reports = app_for(server, on_backend_error="degrade")
    sessions = stored_sessions(app, 10)
    cookie = next(iter(sessions))
    app.set_cookie("session", cookie)
    server.pause()
    seconds, first = timed(lambda: app.get("/read?key=k"))
    assert first.text == "None" and TIMEOUT * 0.9 <= seconds <= TIMEOUT + 0.4
    for _ in range(10):
        seconds, response = timed(lambda: app.get("/incr"))
        assert response.text == "1" and seconds < FAST  # an empty session, at once
        assert "Set-Cookie" not in response.headers  # the browser keeps its cookie
    assert all(isinstance(r, SessionBackendUnavailable) for r in reports[1:]) and len(reports) == 11
    server.resume()
    time.sleep(COOLDOWN)
    assert app.get("/read?key=k").text == "'v0'"
    assert read_back(app, sessions) == sessions


def test_a_try_in_flight_when_redis_returns_succeeds_and_closes_it(server):
    app, factory, _ = app_for(server)
    app.get("/write?key=k&value=kept")
    server.pause()
    with pytest.raises(SessionBackendError):
        app.get("/read?key=k")
    time.sleep(COOLDOWN)
    outcome: List[Any] = []
    trying = threading.Thread(target=lambda: outcome.append(timed(lambda: app.get("/read?key=k"))))
    trying.start()
    time.sleep(TIMEOUT / 3)
    assert factory.breaker.state == "probing"
    seconds, other = timed(lambda: app.get("/incr"))  # meanwhile: not a second try
    assert isinstance(other, SessionBackendUnavailable) and "another request is trying Redis now" in str(other)
    server.resume()  # Redis answers the command it was sent while stopped
    trying.join(5)
    seconds, response = outcome[0]
    assert response.text == "'kept'" and seconds < TIMEOUT
    assert factory.breaker.state == "closed"


def test_requests_already_waiting_when_it_stalls_wait_one_timeout_and_later_ones_none(server):
    app, _, _ = app_for(server)
    cookies = list(stored_sessions(app, 8))

    def request(cookie: str, into: List[Tuple[float, Any]]) -> None:
        browser = TestApp(app.app)
        browser.set_cookie("session", cookie)
        into.append(timed(lambda: browser.get("/read?key=k")))

    def wave() -> List[Tuple[float, Any]]:
        results: List[Tuple[float, Any]] = []
        threads = [threading.Thread(target=request, args=(c, results)) for c in cookies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        return results

    server.pause()
    first = wave()  # 8 threads sharing the factory, all sent before any has failed
    assert len(first) == 8 and all(isinstance(outcome, SessionBackendError) for _, outcome in first)
    assert max(seconds for seconds, _ in first) <= TIMEOUT + 0.4
    second = wave()
    assert all(isinstance(outcome, SessionBackendUnavailable) for _, outcome in second)
    # (8 threads at once on a busy 2-CPU machine: none waits anywhere near a timeout.)
    assert max(seconds for seconds, _ in second) < TIMEOUT / 2
    server.resume()


def test_a_write_at_the_end_of_the_request_fails_at_once_too(server):
    app, _, _ = app_for(server)
    server.pause()
    with pytest.raises(SessionBackendError):
        app.get("/write?key=k&value=v")  # a new session: SET NX at the end of the request
    seconds, outcome = timed(lambda: TestApp(app.app).get("/write?key=k&value=v"))
    assert isinstance(outcome, SessionBackendUnavailable) and seconds < FAST
    assert "not tried during create" in str(outcome)
    server.resume()


def test_without_the_breaker_every_request_waits_the_whole_timeout(server):
    # backend_cooldown = 0: what every request did before the breaker.
    app, factory, _ = app_for(server, backend_cooldown=0)
    assert factory.breaker is None
    app.get("/write?key=k&value=v")
    server.pause()
    for _ in range(3):
        seconds, outcome = timed(lambda: app.get("/read?key=k"))
        assert isinstance(outcome.__cause__, redis.exceptions.TimeoutError) and seconds >= TIMEOUT * 0.9
    server.resume()
    assert app.get("/read?key=k").text == "'v'"


def test_a_view_that_catches_the_error_can_say_so_at_once(server):
    # What a site renders while the breaker is open: its own page, without waiting.
    def account(request: Any) -> Response:
        try:
            return Response(f"hello {request.session.get('user')}")
        except SessionBackendUnavailable:
            return Response("sessions are coming back, try again in a moment", status=503)
        except SessionBackendError:
            return Response("sessions are unavailable", status=503)

    factory = RedisSessionFactory(secret=SECRET, redis_url=server.url, redis_socket_timeout=TIMEOUT,
                                  backend_cooldown=COOLDOWN)
    app = TestApp(make_wsgi(factory, {"account": account}))
    app.get("/write?key=user&value=ann")
    assert app.get("/account").text == "hello ann"
    server.pause()
    assert app.get("/account", status=503).text == "sessions are unavailable"
    assert app.get("/account", status=503).text == "sessions are coming back, try again in a moment"
    server.resume()


# -- Sentinel: a stalled master, and the failover that replaces it --------------------------


@pytest.mark.slow
def test_a_stalled_sentinel_master_opens_it_and_it_closes_once_the_replica_is_promoted():
    from pyramid_session_redis.testing.sentinel import SERVICE, SentinelSetup

    with SentinelSetup() as setup:
        master, replica = setup.master, setup.replicas[0]
        factory = RedisSessionFactory(secret=SECRET, redis_sentinels=setup.sentinels, redis_sentinel_master=SERVICE,
                                      redis_socket_timeout=TIMEOUT, redis_socket_connect_timeout=TIMEOUT,
                                      backend_cooldown=COOLDOWN)
        app = TestApp(make_wsgi(factory))
        sessions = stored_sessions(app, 10)
        assert setup.node_client(master).wait(1, 2000) == 1  # replicated before the stall
        master.pause()  # the sentinels see it stop answering, and fail over after 1 s
        stopped = time.monotonic()
        try:
            browser = TestApp(app.app)
            browser.set_cookie("session", next(iter(sessions)))
            seconds, first = timed(lambda: browser.get("/read?key=k"))
            assert isinstance(first, SessionBackendError) and seconds <= TIMEOUT + 0.4
            assert factory.breaker.state == "open"
            outcomes: List[Tuple[float, Any]] = []
            while time.monotonic() - stopped < 20:
                outcomes.append(timed(lambda: browser.get("/read?key=k")))
                if not isinstance(outcomes[-1][1], Exception):
                    break
                time.sleep(0.02)
            recovered = time.monotonic() - stopped
            seconds, answer = outcomes[-1]
            assert not isinstance(answer, Exception), (recovered, outcomes[-3:])
            assert answer.text == "'v0'"
            assert factory.breaker.state == "closed"
            assert setup.master_addr() == ("127.0.0.1", replica.port)
            # While the sentinels failed over, only the tries (one per cool-down) reached
            # for Redis; every other request failed at once.
            tries = [(round(s, 3), type(o.__cause__).__name__) for s, o in outcomes[:-1]
                     if not isinstance(o, SessionBackendUnavailable)]
            assert len(tries) + 1 <= 1 + recovered / (0.75 * COOLDOWN), (recovered, tries)
            assert all(s < FAST for s, o in outcomes[:-1] if isinstance(o, SessionBackendUnavailable))
            print(f"\nsentinel: master stopped; sessions back {recovered:.2f} s later, {len(outcomes)} requests, "
                  f"tries before the one that succeeded: {tries}")
            assert read_back(app, sessions) == sessions  # every session replicated before the stall
        finally:
            master.resume()
