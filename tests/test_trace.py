"""pyramid_session_redis.trace: what one request did with its session, against a real Redis."""

from __future__ import annotations

from typing import Any, List

import pytest
from pyramid.config import Configurator
from pyramid.events import NewRequest
from pyramid.response import Response
from webtest import TestApp

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.breaker import unguarded
from pyramid_session_redis.exceptions import (
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    SessionBackendError,
)
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.trace import TRACE_KEY, SessionTrace, request_trace, trace_request

from .app import SECRET, make_wsgi


class Traced:
    """WSGI middleware: every request gets a trace, kept for the test."""

    def __init__(self, app: Any):
        self.app = app
        self.traces: List[SessionTrace] = []

    def __call__(self, environ: Any, start_response: Any) -> Any:
        trace = environ[TRACE_KEY] = SessionTrace()
        self.traces.append(trace)
        return self.app(environ, start_response)

    @property
    def last(self) -> SessionTrace:
        return self.traces[-1]


def traced_app(redis_url: str, **options: Any) -> tuple[TestApp, Traced]:
    options.setdefault("secret", SECRET)
    options.setdefault("timeout", 1200)
    wsgi = Traced(make_wsgi(RedisSessionFactory(redis_url=redis_url, **options)))
    return TestApp(wsgi), wsgi


def test_a_new_session_is_one_set_nx(redis_server, redis_client):
    app, traced = traced_app(redis_server.url)
    app.get("/write", params={"key": "a", "value": "1"})
    trace = traced.last
    assert trace.used
    assert [c.command for c in trace.commands] == ["SET"]
    sent = trace.commands[0]
    session_id = trace.session.session_id
    assert sent.key == session_id
    assert sent.arguments.startswith("<") and sent.arguments.endswith(" bytes> EX 1200 NX"), sent.arguments
    assert sent.reply == "True" and sent.seconds > 0
    assert str(sent) == f"SET {session_id} {sent.arguments}"
    assert trace.action == "create" and trace.persisted and not trace.loaded and not trace.refreshed
    assert trace.data == {"a": "1"} and trace.changed is True
    assert [type(r) for r in trace.reports] == [InvalidSession_NoSessionCookie]
    assert redis_client.ttl(session_id) == 1200


def test_a_read_is_one_getex_that_refreshes(redis_server):
    app, traced = traced_app(redis_server.url)
    app.get("/write", params={"key": "a", "value": "1"})
    app.get("/read", params={"key": "a"})
    trace = traced.last
    assert [(c.command, c.arguments) for c in trace.commands] == [("GETEX", "EX 1200")]
    assert trace.commands[0].reply.endswith("bytes>")
    assert trace.loaded and trace.refreshed and not trace.persisted and not trace.deleted
    assert trace.action == "nothing" and trace.changed is False
    assert trace.reports == []


def test_a_write_is_getex_then_a_checked_write(redis_server, redis_client):
    redis_client.script_load(CHECKED_WRITE)  # as on a server that has run it once
    app, traced = traced_app(redis_server.url)
    app.get("/incr")
    app.get("/incr")
    trace = traced.last
    assert [c.command for c in trace.commands] == ["GETEX", "EVALSHA"]
    assert trace.commands[1].arguments.startswith("checked-write <") and trace.commands[1].arguments.endswith(" 1200")
    assert trace.persisted and trace.data == {"n": 2}
    assert trace.operations == [("load", "found"), ("checked_save", "written")]


def test_invalidate_deletes(redis_server, redis_client):
    app, traced = traced_app(redis_server.url)
    app.get("/incr")
    session_id = traced.last.session.session_id
    app.get("/invalidate")
    trace = traced.last
    assert [c.command for c in trace.commands] == ["DEL"]  # no need to load what is deleted
    assert trace.commands[0].key == session_id and trace.deleted
    assert trace.action == "delete the old key (invalidated or regenerated), then nothing"
    assert redis_client.exists(session_id) == 0


def test_timeout_trigger_refreshes_with_expire(redis_server, clock):
    app, traced = traced_app(redis_server.url, timeout_trigger=600)
    app.get("/incr")
    clock.now += 10
    app.get("/read")
    assert traced.last.action == "nothing" and not traced.last.refreshed
    assert [c.command for c in traced.last.commands] == ["GET"]


def test_merge_mode_shows_the_checked_write(redis_server):
    app, traced = traced_app(redis_server.url, on_conflict="merge")
    app.get("/incr")
    app.get("/incr")
    trace = traced.last
    assert trace.commands[0].command == "GETEX"
    assert trace.commands[-1].command in ("EVALSHA", "EVAL")
    assert trace.commands[-1].arguments.startswith("checked-write ")
    assert trace.operations[-1] == ("checked_save", "written") and trace.persisted


def test_a_stale_cookie_is_reported(redis_server, redis_client):
    app, traced = traced_app(redis_server.url)
    app.get("/incr")
    redis_client.delete(traced.last.session.session_id)
    app.get("/read")
    trace = traced.last
    assert [type(r) for r in trace.reports] == [InvalidSession_NotInBackend]
    assert trace.operations == [("load", "missing")] and not trace.loaded


def test_an_untouched_session_sends_nothing(redis_server):
    app, traced = traced_app(redis_server.url)
    app.get("/untouched")
    trace = traced.last
    assert trace.commands == [] and not trace.used and trace.decision is None
    assert trace.action == "none (session not used)" and trace.changed is None


def test_redis_failures_are_recorded(redis_server):
    app, traced = traced_app("redis://127.0.0.1:1/0", on_backend_error="degrade", redis_socket_connect_timeout=0.2)
    app.get("/incr")
    trace = traced.last
    assert [c.command for c in trace.commands] == ["SET"]
    assert trace.commands[0].reply.startswith("error: ConnectionError")
    assert [type(r) for r in trace.reports] == [InvalidSession_NoSessionCookie, SessionBackendError]
    assert trace.action == "create" and not trace.persisted and trace.operations == []


def test_memory_store_labels_what_it_stands_for():
    app, traced = traced_app("memory://trace-test")
    app.get("/incr")
    app.get("/incr")
    trace = traced.last
    assert [c.command for c in trace.commands] == ["GETEX", "EVALSHA"]
    assert all(c.arguments.endswith("(memory://, in process)") for c in trace.commands)
    assert trace.persisted and trace.loaded


def test_client_callable_sessions_are_traced_too(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    app, traced = traced_app(redis_server.url, redis_client_callable=lambda request, **kw: client)
    app.get("/incr")
    app.get("/read")
    assert [c.command for c in traced.last.commands] == ["GETEX"]


def test_trace_request_from_a_subscriber(redis_server):
    seen: List[SessionTrace] = []

    def subscriber(event: Any) -> None:
        seen.append(trace_request(event.request))
        assert trace_request(event.request) is seen[-1]  # the same one when asked again

    def view(request: Any) -> Response:
        request.session["x"] = 1
        assert request_trace(request) is seen[-1]
        return Response("ok")

    config = Configurator()
    config.set_session_factory(RedisSessionFactory(secret=SECRET, redis_url=redis_server.url))
    config.add_subscriber(subscriber, NewRequest)
    config.add_route("x", "/x")
    config.add_view(view, route_name="x")
    TestApp(config.make_wsgi_app()).get("/x")
    assert [c.command for c in seen[0].commands] == ["SET"]


def test_trace_request_after_the_session_was_used_is_an_error(redis_server):
    def view(request: Any) -> Response:
        request.session.get("x")
        with pytest.raises(RuntimeError, match="before request.session"):
            trace_request(request)
        assert request_trace(request) is None
        return Response("ok")

    config = Configurator()
    config.set_session_factory(RedisSessionFactory(secret=SECRET, redis_url=redis_server.url))
    config.add_route("x", "/x")
    config.add_view(view, route_name="x")
    assert TestApp(config.make_wsgi_app()).get("/x").text == "ok"


def test_a_failed_load_leaves_no_decision(redis_server):
    good, _ = traced_app(redis_server.url)
    good.get("/incr")
    cookie = good.cookies["session"]
    down, traced = traced_app("redis://127.0.0.1:1/0", on_backend_error="degrade", redis_socket_connect_timeout=0.2)
    down.set_cookie("session", cookie)
    assert down.get("/incr").text == "1"  # degraded: an empty session, not stored
    trace = traced.last
    assert [c.command for c in trace.commands] == ["GETEX"] and trace.commands[0].reply.startswith("error: ")
    assert trace.used and trace.decision is None
    assert trace.action == ("none: not reached (Redis failed with on_backend_error = degrade, "
                            "or the request had not finished)")
    assert trace.contents == {"n": 1}  # what the degraded session held in memory (never stored)
    assert [type(r) for r in trace.reports] == [SessionBackendError]
    # The message keeps redis-py's own text (its repr would be just "network:ConnectionError").
    assert str(trace.reports[0]).startswith("Redis failed during load: ConnectionError: ")
    assert "127.0.0.1:1" in str(trace.reports[0])


def traced_views(redis_url: str, views: Any, **options: Any) -> tuple[TestApp, Traced]:
    options.setdefault("secret", SECRET)
    options.setdefault("timeout", 1200)
    wsgi = Traced(make_wsgi(RedisSessionFactory(redis_url=redis_url, **options), views))
    return TestApp(wsgi), wsgi


def test_do_refresh_is_one_expire(redis_server):
    def refresh(request: Any) -> Response:
        request.session.do_refresh()
        return Response("refreshed")

    app, traced = traced_views(redis_server.url, {"refresh": refresh})
    app.get("/incr")
    app.get("/refresh")
    trace = traced.last
    assert [(c.command, c.arguments) for c in trace.commands][-1] == ("EXPIRE", "1200")
    assert ("refresh", "done") in trace.operations and trace.refreshed
    assert trace.session._store.client is not None  # the traced store still hands out the client


def test_a_merge_shows_the_conflict_and_the_retry(redis_server, redis_client):
    import json

    def overtaken(request: Any) -> Response:
        session = request.session
        session["mine"] = 1
        key = session.session_id
        stored = json.loads(redis_client.get(key))
        stored["m"]["theirs"] = 2  # another request writes first
        redis_client.set(key, json.dumps(stored), ex=1200)
        return Response("ok")

    app, traced = traced_views(redis_server.url, {"overtaken": overtaken}, on_conflict="merge")
    app.get("/incr")
    app.get("/overtaken")
    trace = traced.last
    assert trace.operations[-2:] == [("checked_save", "conflict"), ("checked_save", "written")]
    assert trace.commands[-1].command in ("EVALSHA", "EVAL") and trace.commands[-1].reply == "1"
    assert trace.data == {"n": 1, "mine": 1}  # as decided, before the merge added theirs


def test_a_checked_delete_is_recorded_as_deleted(redis_server, redis_client):
    app, traced = traced_app(redis_server.url, on_conflict="merge")
    app.get("/incr")
    key = traced.last.session.session_id
    app.get("/clear")
    trace = traced.last
    assert trace.operations[-1] == ("checked_save", "deleted") and trace.deleted
    assert redis_client.exists(key) == 0


def test_memory_store_records_refresh_delete_and_checked_writes():
    def refresh(request: Any) -> Response:
        request.session.do_refresh()
        return Response("refreshed")

    app, traced = traced_views("memory://trace-ops", {"refresh": refresh}, on_conflict="merge")
    app.get("/incr")
    app.get("/incr")
    assert [c.command for c in traced.last.commands] == ["GETEX", "EVALSHA"]
    app.get("/refresh")
    assert [c.command for c in traced.last.commands][-1] == "EXPIRE"
    app.get("/invalidate")
    assert [c.command for c in traced.last.commands] == ["DEL"]
    assert all(c.arguments.endswith("(memory://, in process)") for c in traced.last.commands)


def test_data_that_cannot_be_copied_is_shown_as_its_repr():
    from pyramid_session_redis.policy import Action, Decision

    trace = SessionTrace()
    generator = (n for n in range(3))
    trace.settled(None, Decision(Action.NOTHING), {"g": generator})  # type: ignore[arg-type]
    assert list(trace.data) == ["(not copyable)"] and "generator" in trace.data["(not copyable)"]


@pytest.mark.parametrize("url", ["redis", "memory://trace-overwrite"])
def test_an_overwrite_write_is_getex_then_set_xx_and_a_gone_session_says_so(redis_server, redis_client, url):
    app, traced = traced_app(redis_server.url if url == "redis" else url, on_conflict="overwrite")
    app.get("/incr")
    app.get("/incr")
    trace = traced.last
    assert [c.command for c in trace.commands] == ["GETEX", "SET"]
    assert "XX" in trace.commands[1].arguments
    assert trace.operations[-1] == ("save", "written")

    def ended_meanwhile(request):
        request.session["n"] = 7  # loaded
        unguarded(request.session._store)._store.delete(request.session.session_id)  # another request logs out
        return Response("late")

    app2 = TestApp(Traced(make_wsgi(RedisSessionFactory(
        secret=SECRET, redis_url=redis_server.url if url == "redis" else url, on_conflict="overwrite"),
        {"late": ended_meanwhile})))
    app2.get("/incr")
    wsgi = app2.app
    app2.get("/late")
    assert wsgi.last.operations[-1] == ("save", "gone")
