"""The app that ``test_concurrency_http`` serves with waitress, in processes of its own.

``python -m tests.http_app OPTIONS_JSON THREADS`` prints ``PORT <n>`` once it
listens on a free loopback port, and serves until SIGTERM (or until its parent
is gone).  ``OPTIONS_JSON`` holds the session factory's options (at least
``redis_url``), plus two of the app's own:

``timing_log``
    a file to which every request appends one line, ``start end path?query status``
    (wall-clock seconds), written after the session was stored: how long the
    server spent on it, Redis included.
``control_url``
    a Redis that the conflict hook reports to (``RPUSH httptest:conflicts``),
    and that ``/slow`` waits on; the same server as the sessions' by default.

Session views (each answers in JSON; ``sleep=MS`` sleeps after the session was
loaded and before it is changed, so that requests overlap):

``/set?k=K&v=V``, ``/incr``, ``/plain`` (``s["n"] = s.get("n", 0) + 1``),
``/flash?m=M``, ``/pop`` (``pop_flash()``), ``/login?user=U`` (``regenerate_id()``
and ``s["user"] = U``), ``/logout`` (``invalidate()``), ``/whoami``, ``/peek``
(the whole session), ``/cache`` (``local_cache``'s hits, misses and entries), ``/slow?token=T`` (loads the session, sets
``httptest:loaded:T``, waits for ``httptest:go:T``, then sets ``s["slow"]``).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SECRET = "http concurrency test secret, long enough to be realistic"
CONFLICTS = "httptest:conflicts"


def make_app(options: Dict[str, Any]) -> Any:
    import redis
    from pyramid.config import Configurator
    from pyramid.response import Response

    from pyramid_session_redis import RedisSessionFactory
    from pyramid_session_redis.exceptions import SessionBackendError

    options = dict(options)
    timing_log = options.pop("timing_log", None)
    control_url = options.pop("control_url", options["redis_url"])
    control = redis.Redis.from_url(control_url, socket_timeout=10)

    def conflict(request: Any, exc: Any) -> None:
        control.rpush(CONFLICTS, json.dumps({"keys": list(exc.keys), "gone": exc.gone, "path": request.path,
                                             "pid": os.getpid()}))

    options.setdefault("secret", SECRET)
    options.setdefault("func_conflict_logger", conflict)
    factory = RedisSessionFactory(**options)

    def answer(value: Any) -> Response:
        return Response(json.dumps(value), content_type="application/json", charset="utf-8")

    def loaded(request: Any) -> Any:
        session = request.session
        session.get("user")  # load it now
        sleep = int(request.params.get("sleep", 0))
        if sleep:
            time.sleep(sleep / 1000)
        return session

    def set_(request: Any) -> Response:
        loaded(request)[request.params["k"]] = request.params.get("v", "1")
        return answer("set")

    def incr(request: Any) -> Response:
        return answer(loaded(request).incr("n"))

    def plain(request: Any) -> Response:
        session = loaded(request)
        session["n"] = session.get("n", 0) + 1
        return answer(session["n"])

    def flash(request: Any) -> Response:
        loaded(request).flash(request.params["m"])
        return answer("flashed")

    def pop(request: Any) -> Response:
        return answer(loaded(request).pop_flash())

    def login(request: Any) -> Response:
        session = loaded(request)
        session.regenerate_id()
        session["user"] = request.params["user"]
        return answer("logged in")

    def logout(request: Any) -> Response:
        loaded(request).invalidate()
        return answer("logged out")

    def whoami(request: Any) -> Response:
        return answer(request.session.get("user"))

    def peek(request: Any) -> Response:
        return answer(dict(request.session.items()))

    def slow(request: Any) -> Response:
        session = loaded(request)
        token = request.params["token"]
        control.set(f"httptest:loaded:{token}", "1", ex=60)
        deadline = time.monotonic() + 10
        while not control.exists(f"httptest:go:{token}") and time.monotonic() < deadline:
            time.sleep(0.002)
        session["slow"] = token
        return answer("slow")

    def cache(request: Any) -> Response:
        held = factory.settings.local_cache
        return answer(None if held is None else {"hits": held.hits, "misses": held.misses, "entries": len(held)})

    def backend_error(exc: Any, request: Any) -> Response:
        return Response(json.dumps(f"backend error: {exc}"), status=503, content_type="application/json", charset="utf-8")

    config = Configurator()
    config.set_session_factory(factory)
    views = {"set": set_, "incr": incr, "plain": plain, "flash": flash, "pop": pop, "login": login,
             "logout": logout, "whoami": whoami, "peek": peek, "slow": slow, "cache": cache}
    for name, view in views.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    config.add_view(backend_error, context=SessionBackendError)
    app = config.make_wsgi_app()
    if timing_log is None:
        return app
    return Timed(app, timing_log)


class Timed:
    """WSGI middleware: one line per request in ``path``, written once the
    session's finished callback (the write to Redis) has run.  An exception
    that escapes (the end-of-request write failed) becomes a 500 naming it."""

    def __init__(self, app: Any, path: str):
        self.app = app
        self.lock = threading.Lock()
        self.log = open(path, "a", buffering=1)  # noqa: SIM115 (open for the life of the process)

    def __call__(self, environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start = time.time()
        statuses = []

        def started(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status.split()[0])
            return start_response(status, headers, exc_info)

        try:
            body = list(self.app(environ, started))
        except Exception as exc:
            body = [f"escaped {type(exc).__name__}".encode()]
            started("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", str(len(body[0])))])
        end = time.time()
        with self.lock:
            path = environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
            self.log.write(f"{start:.6f} {end:.6f} {path} {statuses[-1]}\n")
        return body


def main(argv: list) -> None:
    from loadtest.serve import serve

    options, threads = json.loads(argv[0]), int(argv[1])
    serve(make_app(options), threads, connection_limit=400, backlog=1024)


if __name__ == "__main__":
    main(sys.argv[1:])
