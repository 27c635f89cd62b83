"""The application under load: the demo app plus views whose answers can be checked.

Every answer of a session view says exactly what the browser may rely on:

``/new?t=TOKEN``
    ``new TOKEN 0``: a session holding ``TOKEN`` and a counter at 0 is stored.
``/read``
    ``read TOKEN N``: what Redis holds for this session.
``/write`` (POST)
    ``write TOKEN N``: the counter was incremented to ``N`` and stored.

With ``on_backend_error = raise`` the write happens at the end of the request,
as on an ordinary site: a 200 then proves it was stored, because a failed
final write reaches the server as an error instead.  With ``degrade`` a
failed final write lets the response stand, so the views store with
``do_persist()`` and say ``unsaved`` when that fails, and ``degraded`` when
the session could not even be loaded: neither is an acknowledgement.

``SessionBackendError`` raised in a view is rendered as a 503 by an exception
view, which is how a site shows it.  Anything that escapes Pyramid (the end of
request write of ``raise`` mode) is caught by ``ErrorsToBody`` and answered
with a 500 whose body names the exception, the way a site's error log would.
``/_stats`` reports the server process's memory, threads, Redis connections
and circuit breaker for the soak; it never touches the session, and neither
does ``/plain``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import tracemalloc
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from pyramid.config import Configurator
from pyramid.response import Response

from demo.views import add_demo_views
from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.exceptions import SessionBackendError

SECRET = "loadtest secret: long enough to be realistic, never used outside this test"
DEGRADED_FLAG = "loadtest.backend_error"


def describe(exc: BaseException) -> str:
    """``SessionBackendError(ConnectionError) during load``: the class, its cause, where it failed."""
    cause = exc.__cause__
    name = type(exc).__name__ + (f"({type(cause).__name__})" if cause is not None else "")
    text = str(exc)
    if " during " in text:
        name += " during " + text.split(" during ", 1)[1].split(":", 1)[0]
    return name


class Counters:
    """What the server saw, kept in the server process and shown by ``/_stats``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.backend_errors: Counter[str] = Counter()  # by describe(), from func_backend_error_logger
        self.escaped: Counter[str] = Counter()  # exceptions that left Pyramid (500s)
        self.log_records: Counter[str] = Counter()  # warnings and errors logged, by logger name

    def add(self, counter: Counter[str], key: str) -> None:
        with self.lock:
            counter[key] += 1

    def as_dict(self) -> Dict[str, Any]:
        with self.lock:
            return {"backend_errors": dict(self.backend_errors), "escaped": dict(self.escaped),
                    "log_records": dict(self.log_records)}


class _CountingHandler(logging.Handler):
    def __init__(self, counters: Counters):
        super().__init__(logging.WARNING)
        self.counters = counters

    def emit(self, record: logging.LogRecord) -> None:
        self.counters.add(self.counters.log_records, f"{record.name} {record.levelname}")


class ErrorsToBody:
    """WSGI middleware: an exception that escaped the app becomes a 500 naming it.

    Waitress would answer a bare 500 and log the traceback; the load generator
    needs the class name in the answer to count errors by kind.
    """

    def __init__(self, app: Any, counters: Counters):
        self.app = app
        self.counters = counters

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self.app(environ, start_response)
        except Exception as exc:
            name = describe(exc)
            self.counters.add(self.counters.escaped, name)
            body = f"escaped {name}\n".encode()
            start_response("500 Internal Server Error",
                           [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]


# -- the session views --------------------------------------------------------------


def _degraded(request: Any) -> bool:
    return DEGRADED_FLAG in request.environ


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, content_type="text/plain")


def new(request: Any) -> Response:
    session = request.session
    token = request.params.get("t", "")
    session["token"] = token
    session["n"] = 0
    if request.registry.settings["loadtest.persist_in_view"]:
        try:
            session.do_persist()
        except SessionBackendError:
            return _text("unsaved")
    return _text(f"new {token} 0")


def read(request: Any) -> Response:
    session = request.session
    token, n = session.get("token"), session.get("n")
    if _degraded(request):
        return _text("degraded")
    return _text(f"read {token} {n}")


def write(request: Any) -> Response:
    session = request.session
    n = session.get("n")
    if _degraded(request):
        return _text("degraded")  # an empty session: nothing to increment, nothing stored
    if n is None:
        return _text(f"write {session.get('token')} None")  # no such session: nothing to count
    session["n"] = n + 1
    if request.registry.settings["loadtest.persist_in_view"]:
        try:
            session.do_persist()
        except SessionBackendError:
            return _text("unsaved")
    return _text(f"write {session['token']} {n + 1}")


def plain(request: Any) -> Response:
    """A page that never touches the session: it must not notice Redis at all."""
    return _text("plain")


def sessions_unavailable(exc: SessionBackendError, request: Any) -> Response:
    """How a site renders the failure: a 503 with Retry-After (see docs/reliability.rst)."""
    response = _text(f"unavailable {describe(exc)}\n", status=503)
    response.headers["Retry-After"] = "2"
    return response


# -- the server's own figures -------------------------------------------------------------


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1  # pragma: no cover - not Linux


def _pools(client: Any) -> List[Any]:
    """The connection pools behind the session client: one, or one per cluster node."""
    if client is None:
        return []
    if hasattr(client, "get_nodes"):  # RedisCluster
        return [node.redis_connection.connection_pool for node in client.get_nodes()
                if node.redis_connection is not None]
    return [client.connection_pool]


def pool_connections(client: Any) -> Dict[str, int]:
    """Connections the pools have open: idle and in use."""
    idle = in_use = 0
    for pool in _pools(client):
        idle += len(getattr(pool, "_available_connections", ()))
        in_use += len(getattr(pool, "_in_use_connections", ()))
    return {"idle": idle, "in_use": in_use, "open": idle + in_use}


class Stats:
    """``/_stats``: RSS, tracemalloc (started on demand, after a warm-up), threads, pool."""

    def __init__(self, factory: Any, counters: Counters):
        self.factory = factory
        self.counters = counters
        self.baseline: Optional[tracemalloc.Snapshot] = None

    def __call__(self, request: Any) -> Response:
        action = request.params.get("tracemalloc")
        if action == "start" and not tracemalloc.is_tracing():
            gc.collect()
            tracemalloc.start(int(request.params.get("frames", "1")))
            self.baseline = tracemalloc.take_snapshot()
        if action == "stop" and tracemalloc.is_tracing():
            tracemalloc.stop()
            self.baseline = None
        if request.params.get("collect"):
            gc.collect()
        out: Dict[str, Any] = {"rss_kib": _rss_kib(), "threads": threading.active_count()}
        if tracemalloc.is_tracing():
            current, peak = tracemalloc.get_traced_memory()
            out["tracemalloc"] = {"current": current, "peak": peak, "own": tracemalloc.get_tracemalloc_memory()}
            if action == "top" and self.baseline is not None:
                diff = tracemalloc.take_snapshot().compare_to(self.baseline, "traceback")
                out["tracemalloc"]["top"] = [
                    {"size_diff": d.size_diff, "count_diff": d.count_diff,
                     "where": [f"{f.filename}:{f.lineno}" for f in d.traceback[-4:]]}
                    for d in diff[:8]
                ]
        out["pool"] = pool_connections(self.factory.client if self.factory.store is not None else None)
        breaker = self.factory.breaker
        out["breaker"] = breaker.describe() if breaker is not None else None
        out["pid"] = os.getpid()
        out.update(self.counters.as_dict())
        return Response(json.dumps(out).encode(), content_type="application/json")


def make_app(session_options: Dict[str, Any], mode: str = "raise") -> Tuple[Any, Counters]:
    """The WSGI app (wrapped in ``ErrorsToBody``) and its counters.

    ``session_options`` are ``RedisSessionFactory`` keywords for the Redis
    location and timeouts; the secret, the mode and the error hook are added.
    """
    counters = Counters()
    logging.getLogger("pyramid_session_redis").addHandler(_CountingHandler(counters))

    def count_backend_error(request: Any, exc: SessionBackendError) -> None:
        request.environ[DEGRADED_FLAG] = exc  # lets a view know its session was degraded
        counters.add(counters.backend_errors, describe(exc))

    factory = RedisSessionFactory(secret=SECRET, on_backend_error=mode,
                                  func_backend_error_logger=count_backend_error, **session_options)
    config = Configurator(settings={"loadtest.persist_in_view": mode == "degrade"})
    config.set_session_factory(factory)
    add_demo_views(config)  # the demo's own pages, unchanged
    # The checkable ones.
    config.add_route("new", "/new")
    config.add_route("read", "/read")
    config.add_route("write", "/write", request_method="POST")
    config.add_route("stats", "/_stats")
    config.add_route("plain", "/plain")
    config.add_view(plain, route_name="plain")
    config.add_view(new, route_name="new")
    config.add_view(read, route_name="read")
    config.add_view(write, route_name="write")
    config.add_view(Stats(factory, counters), route_name="stats")
    config.add_view(sessions_unavailable, context=SessionBackendError)
    return ErrorsToBody(config.make_wsgi_app(), counters), counters
