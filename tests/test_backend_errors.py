"""When Redis fails: one documented error (or a degraded request), never a hang,
and back to normal on its own when Redis returns.

Each test runs its own private redis-server, so that it can be killed and
restarted on the same port.
"""

from __future__ import annotations

import logging
import time

import pytest
import redis
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import SessionBackendError
from pyramid_session_redis.testing.servers import RedisServer

from .app import SECRET, backend_failure, make_wsgi


class Reports(list):
    def __call__(self, request, exc):
        assert request is not None and isinstance(exc, SessionBackendError)
        self.append(exc)


@pytest.fixture
def server():
    with RedisServer() as started:
        yield started


def app_for(server, views=None, **options):
    reports = Reports()
    options.setdefault("redis_socket_timeout", 0.5)
    options.setdefault("redis_socket_connect_timeout", 0.5)
    factory = RedisSessionFactory(secret=SECRET, redis_url=server.url, func_backend_error_logger=reports, **options)
    app = TestApp(make_wsgi(factory, views))
    return app, reports


def test_requests_that_never_touch_the_session_do_not_notice_redis_is_down(server):
    app, reports = app_for(server)
    app.get("/write?key=k&value=v")
    server.kill()
    for _ in range(3):
        assert app.get("/untouched").text == "untouched"
    assert reports == []


def test_a_request_that_needs_the_session_gets_session_backend_error_fast(server):
    app, reports = app_for(server)
    app.get("/write?key=k&value=v")
    server.kill()
    started = time.monotonic()
    with backend_failure(redis.exceptions.ConnectionError):
        app.get("/read?key=k")
    assert time.monotonic() - started < 5  # connection refused: no timeout to wait for
    assert len(reports) == 1 and "during load" in str(reports[0])


def test_an_exception_view_can_render_it(server):
    from pyramid.config import Configurator

    from .app import VIEWS

    def backend_down(exc, request):
        return Response("sessions are unavailable, try again shortly", status=503)

    config = Configurator()
    config.set_session_factory(RedisSessionFactory(secret=SECRET, redis_url=server.url, redis_socket_timeout=0.5))
    for name, view in VIEWS.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    config.add_view(backend_down, context=SessionBackendError)
    app = TestApp(config.make_wsgi_app())
    app.get("/write?key=k&value=v")
    server.kill()
    assert "try again shortly" in app.get("/read?key=k", status=503).text


def test_requests_succeed_again_on_their_own_when_redis_returns(server):
    # The pool's own recovery, without the circuit breaker's cool-down
    # (tests/test_breaker_stall.py has the breaker's).
    app, reports = app_for(server, backend_cooldown=0)
    app.get("/write?key=k&value=v")
    server.kill()
    for _ in range(3):
        with pytest.raises(SessionBackendError):
            app.get("/read?key=k")
    server.restart()  # same port, empty (persistence is off in this test)
    # The pool's dead connections are replaced: every request works, first to last.
    assert app.get("/read?key=k").text == "None"  # the old session went with the old process
    for n in range(1, 21):
        assert app.get("/incr").text == str(n)
    assert len(reports) == 3


def test_a_failed_end_of_request_write_is_raised_not_swallowed(server):
    def write_then_redis_dies(request):
        request.session["k"] = "v"
        server.kill()  # after the load, before the write at the end of the request
        return Response("the view believed it stored k")

    app, reports = app_for(server, {"dies": write_then_redis_dies})
    app.get("/write?key=k&value=first")
    with backend_failure(redis.exceptions.ConnectionError):
        app.get("/dies")
    assert len(reports) == 1 and "during checked_save" in str(reports[0])


# -- on_backend_error = degrade ------------------------------------------------------


def test_degrade_serves_an_empty_session_without_cookie_or_write(server, caplog):
    app, reports = app_for(server, on_backend_error="degrade")
    app.get("/write?key=k&value=v")
    cookie = app.cookies["session"]
    server.kill()
    response = app.get("/read?key=k")
    assert response.status_int == 200 and response.text == "None"
    assert "Set-Cookie" not in response.headers and "Cookie" in response.headers["Vary"]
    response = app.get("/write?key=k&value=lost")  # written to a session that goes nowhere
    assert response.status_int == 200 and "Set-Cookie" not in response.headers
    assert app.cookies["session"] == cookie  # the browser keeps its session for when Redis is back
    assert len(reports) == 2


def test_degrade_keeps_the_response_when_the_final_write_fails_and_logs_a_hashed_id(server, caplog):
    def write_then_redis_dies(request):
        request.session["k"] = "v"
        server.kill()
        return Response("served")

    app, reports = app_for(server, {"dies": write_then_redis_dies}, on_backend_error="degrade")
    app.get("/write?key=k&value=first")
    session_id = app.get("/ensure").text
    with caplog.at_level(logging.WARNING, "pyramid_session_redis"):
        assert app.get("/dies").text == "served"
    assert len(reports) == 1
    assert "a session write was lost" in caplog.text
    assert session_id not in caplog.text  # only a hash of it


def test_degrade_against_a_hanging_redis_answers_within_the_timeout():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        reports = Reports()
        factory = RedisSessionFactory(secret=SECRET, redis_url=f"redis://127.0.0.1:{port}/0",
                                      redis_socket_timeout=0.2, redis_socket_connect_timeout=0.2,
                                      on_backend_error="degrade", func_backend_error_logger=reports)
        app = TestApp(make_wsgi(factory))
        app.set_cookie("session", factory.settings.cookies.signer.dumps("x" * 43).decode())
        started = time.monotonic()
        assert app.get("/read?key=k").text == "None"
        assert time.monotonic() - started < 3
        assert isinstance(reports[0].__cause__, redis.exceptions.TimeoutError)
    finally:
        listener.close()


def test_do_persist_raises_even_when_degrading(server):
    def persist(request):
        request.session["k"] = "v"
        request.session.do_persist()
        return Response("persisted")

    app, _ = app_for(server, {"persist": persist}, on_backend_error="degrade")
    server.kill()
    with pytest.raises(SessionBackendError):
        app.get("/persist")


def test_ini_on_backend_error():
    from pyramid_session_redis.options import parse_settings

    assert parse_settings({"redis.sessions.on_backend_error": "degrade"})["on_backend_error"] == "degrade"
    from pyramid_session_redis.exceptions import InvalidSetting

    with pytest.raises(InvalidSetting, match="on_backend_error accepts 'raise' or 'degrade'"):
        RedisSessionFactory(secret=SECRET, on_backend_error="ignore")


@pytest.mark.parametrize("mode", ["raise", "degrade"])
def test_a_failed_do_persist_is_reported_once_and_not_retried_at_the_end(server, mode):
    from pyramid.config import Configurator

    from .app import VIEWS

    reports = Reports()

    def persist_while_down(request):
        request.session["n"] = 99
        server.kill()
        try:
            request.session.do_persist()
        except SessionBackendError:
            server.restart()  # Redis is back before the request ends: the failed change must not land
            return Response("told: not saved")
        return Response("saved")

    config = Configurator()
    config.set_session_factory(RedisSessionFactory(
        secret=SECRET, redis_url=server.url, redis_socket_timeout=0.5, on_backend_error=mode,
        func_backend_error_logger=reports))
    for name, view in {**VIEWS, "persist": persist_while_down}.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    app = TestApp(config.make_wsgi_app())
    app.get("/write?key=n&value=1")
    assert app.get("/persist").text == "told: not saved"
    assert len(reports) == 1
    assert redis.Redis.from_url(server.url).dbsize() == 0  # restarted empty, and nothing written after


def test_do_persist_on_a_degraded_session_raises_instead_of_writing_an_orphan(server):
    def degraded_then_persist(request):
        server.kill()
        request.session.get("k")  # the load fails: degraded
        server.restart()
        request.session["k"] = "v"
        try:
            request.session.do_persist()
        except SessionBackendError as exc:
            return Response(f"not saved: {exc}")
        return Response("saved")

    app, reports = app_for(server, {"dp": degraded_then_persist}, on_backend_error="degrade")
    app.get("/write?key=k&value=first")
    response = app.get("/dp")
    assert response.text.startswith("not saved: the session could not be loaded")
    assert "Set-Cookie" not in response.headers
    assert redis.Redis.from_url(server.url).dbsize() == 0
    assert len(reports) == 1  # the failed load
