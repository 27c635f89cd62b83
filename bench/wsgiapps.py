"""The apps the benchmark drives, and a WSGI client that carries cookies.

This module is imported by workers running in other virtual environments
(pyramid_session_redis 1.8.1 has the same import name as this package), so it
imports nothing from this repository: only Pyramid, WebOb, redis-py and, for
the session implementations, whichever ``pyramid_session_redis`` the running
interpreter has installed.

Implementations (``impl``):

``ours`` / ``v181``
    ``pyramid_session_redis.RedisSessionFactory`` of the installed version.
    Ours writes an existing session with one checked ``EVALSHA`` (on_conflict
    ``merge``, the default: the ``SET`` only if Redis still begins with the
    stamp the request loaded; inside Redis, a GETRANGE and the SET); 1.8.1
    with a plain ``SET``.
``ours+cache``
    ``ours`` with ``local_cache`` on: a read-only request whose cookie names
    the version this worker holds sends no command at all.
``ours+overwrite``
    ``ours`` with ``on_conflict="overwrite"``: a write of an existing session is
    a plain ``SET ... XX`` (never re-creates a deleted key), no compare.
``none``
    The same views with no session factory: what Pyramid alone costs.
``signed``
    Pyramid's ``SignedCookieSessionFactory`` (no Redis; small sessions only).
``floor``
    Views that send only the raw redis-py commands a Redis session needs for
    the scenario (``expected_commands``) and nothing else: no signing, no
    decoding, no session object.
``floor+codec``
    The floor plus the one thing no Redis session can skip: decoding what it
    loaded (and encoding what it writes) with the standard library's JSON.
"""

from __future__ import annotations

import io
import json
import pickle
import secrets
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import redis
from pyramid.config import Configurator
from pyramid.response import Response

SECRET = "bench-secret-" + "x" * 40
COOKIE = "session"
PREFIX = ""
TIMEOUT = 1200

# What each scenario's measured request does to the session.
SCENARIOS = {
    "untouched": "session never touched",
    "new": "new session written (no cookie, one key set)",
    "read": "existing session, read one int",
    "write": "existing session, counter incremented",
    "nested": "existing session, nested dict changed without changed()",
}

# Options for each policy, by name (resolved in the worker, where the callables live).
POLICIES = ("default", "trigger", "lru", "readheavy", "json", "pickle", "orjson", "msgspec")


def policy_options(policy: str) -> Dict[str, Any]:
    if policy == "default":
        return {}
    if policy == "trigger":
        return {"timeout_trigger": 600}
    if policy == "lru":
        return {"set_redis_ttl": False}
    if policy == "readheavy":
        return {"set_redis_ttl_readheavy": True}
    if policy == "json":
        return {
            "serialize": lambda data: json.dumps(data, separators=(",", ":")).encode(),
            "deserialize": json.loads,
        }
    if policy == "pickle":
        return {"serialize": pickle.dumps, "deserialize": pickle.loads}
    if policy in ("orjson", "msgspec"):
        return {"serializer": policy}  # as users configure them (the package must be installed)
    raise ValueError(f"unknown policy {policy!r}")


# The implementations built on a RedisSessionFactory, and those of them that
# write an existing session with the checked write (on_conflict merge, the
# default; ours+overwrite opts out and writes a plain SET XX, v181 a plain SET).
SESSION_IMPLS = ("ours", "v181", "ours+hiredis", "ours+msgspec", "ours+overwrite", "ours+cache")
CHECKED_IMPLS = ("ours", "ours+hiredis", "ours+msgspec", "ours+cache")
LOCAL_CACHE = 10_000  # ours+cache's local_cache


# The Redis commands per measured request, by (scenario, policy), as sent over
# the network.  This is the round-trip table of ARCHITECTURE.md.  The floor
# (the default ``impl``) sends the minimum: a write is the load plus a plain
# SET, and so do ours+overwrite (SET XX) and 1.8.1.  ours, a default install
# (on_conflict merge), writes an existing session with one EVALSHA instead:
# the SET only if Redis still begins with the stamp the request loaded (inside
# Redis a GETRANGE and the SET, which never cross the network).
def expected_commands(scenario: str, policy: str, impl: str = "floor") -> Dict[str, int]:
    if scenario == "untouched":
        return {}
    if scenario == "new":
        return {"set": 1}
    plain_get = policy in ("trigger", "lru")
    load = "get" if plain_get else "getex"
    if scenario == "read":
        return {} if impl == "ours+cache" else {load: 1}
    if impl in CHECKED_IMPLS:
        return {load: 1, "evalsha": 1}
    return {load: 1, "set": 1}


def filler(size: int) -> Dict[str, Any]:
    """Session data whose JSON form is about ``size`` bytes: a cart-like dict."""
    data: Dict[str, Any] = {}
    used = 20
    i = 0
    while used < size:
        item = {"sku": f"SKU-{i:06d}", "name": f"product number {i}", "qty": i % 7, "price": 1.25 * i}
        data[f"item{i:05d}"] = item
        used += 90
        i += 1
    return data


# -- the apps ---------------------------------------------------------------


def _session_views(config: Configurator, size: int) -> None:
    def untouched(request: Any) -> Response:
        return Response(b"ok")

    def new(request: Any) -> Response:
        request.session["n"] = 1
        return Response(b"ok")

    def read(request: Any) -> Response:
        return Response(str(request.session.get("n")).encode())

    def write(request: Any) -> Response:
        session = request.session
        session["n"] = session.get("n", 0) + 1
        return Response(b"ok")

    def nested(request: Any) -> Response:
        request.session["d"]["n"] += 1
        return Response(b"ok")

    def setup(request: Any) -> Response:
        session = request.session
        session.update(filler(size))
        session["n"] = 1
        session["d"] = {"n": 0}
        return Response(b"ok")

    for name, view in (("untouched", untouched), ("new", new), ("read", read), ("write", write),
                       ("nested", nested), ("setup", setup)):
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)


def _plain_views(config: Configurator) -> None:
    """The same routes with no session at all."""

    def ok(request: Any) -> Response:
        return Response(b"ok")

    for name in ("untouched", "new", "read", "write", "nested", "setup"):
        config.add_route(name, "/" + name)
        config.add_view(ok, route_name=name)


def _floor_views(config: Configurator, client: Any, scenario_policy: Tuple[str, str], size: int,
                 serialize: Callable[[Any], bytes], codec: bool) -> None:
    """Only the raw commands of ``expected_commands``, keyed by the cookie's value."""
    scenario, policy = scenario_policy
    commands = expected_commands(scenario, policy)
    ttl: Optional[int] = None if policy == "lru" else TIMEOUT
    stored = serialize({"m": {**filler(size), "n": 1, "d": {"n": 0}}, "c": 0, "v": 1, "t": TIMEOUT})
    small = serialize({"m": {"n": 1}, "c": 0, "v": 1, "t": TIMEOUT})

    def untouched(request: Any) -> Response:
        return Response(b"ok")

    def new(request: Any) -> Response:
        client.set(PREFIX + secrets.token_urlsafe(32), small, nx=True, ex=TIMEOUT)
        return Response(b"ok")

    def load(request: Any) -> Any:
        key = PREFIX + request.cookies[COOKIE]
        if "getex" in commands:
            raw = client.getex(key, ex=TIMEOUT)
        else:
            raw = client.get(key)
        return json.loads(raw) if codec else raw

    def read(request: Any) -> Response:
        load(request)
        return Response(b"ok")

    def write(request: Any) -> Response:
        value = load(request)
        if codec:
            value["m"]["n"] += 1
            value = serialize(value)
        client.set(PREFIX + request.cookies[COOKIE], value, ex=ttl)
        return Response(b"ok")

    def setup(request: Any) -> Response:
        sid = secrets.token_urlsafe(32)
        client.set(PREFIX + sid, stored, ex=TIMEOUT)
        response = Response(b"ok")
        response.set_cookie(COOKIE, sid)
        return response

    for name, view in (("untouched", untouched), ("new", new), ("read", read), ("write", write),
                       ("nested", write), ("setup", setup)):
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)


def make_app(impl: str, redis_url: str, scenario: str, policy: str, size: int) -> Any:
    config = Configurator()
    if impl in SESSION_IMPLS:
        from pyramid_session_redis import RedisSessionFactory

        options = policy_options(policy)
        if impl == "ours+overwrite":
            options["on_conflict"] = "overwrite"
        if impl == "ours+cache":
            options["local_cache"] = LOCAL_CACHE
        if impl == "v181" and policy == "readheavy":
            options["python_expires"] = False  # 1.8.1 refuses read-heavy mode with its default of True
        config.set_session_factory(RedisSessionFactory(SECRET, redis_url=redis_url, **options))
        _session_views(config, size)
    elif impl == "signed":
        from pyramid.session import SignedCookieSessionFactory

        config.set_session_factory(SignedCookieSessionFactory(SECRET, timeout=TIMEOUT))
        _session_views(config, size)
    elif impl == "none":
        _plain_views(config)
    elif impl in ("floor", "floor+codec"):
        client = redis.Redis.from_url(redis_url)
        serialize = policy_options("json")["serialize"]
        _floor_views(config, client, (scenario, policy), size, serialize, codec=impl == "floor+codec")
    else:
        raise ValueError(f"unknown impl {impl!r}")
    return config.make_wsgi_app()


# -- a browser, in-process ----------------------------------------------------


class Browser:
    """Calls a WSGI app directly and carries the session cookie between calls."""

    def __init__(self, app: Any):
        self.app = app
        self.cookie: Optional[str] = None
        self._status = ""
        self._headers: List[Tuple[str, str]] = []

    def _start_response(self, status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
        self._status = status
        self._headers = headers
        return None

    def get(self, path: str, keep_cookie: bool = True) -> bytes:
        environ = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "localhost",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if self.cookie is not None and keep_cookie:
            environ["HTTP_COOKIE"] = self.cookie
        chunks = self.app(environ, self._start_response)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if self._status[:3] != "200":
            raise RuntimeError(f"GET {path}: {self._status}: {body[:300]!r}")
        if keep_cookie:
            for name, value in self._headers:
                if name.lower() == "set-cookie" and value.startswith(COOKIE + "="):
                    pair = value.split(";", 1)[0]
                    gone = "max-age=0" in value.lower() or pair == COOKIE + "="
                    self.cookie = None if gone else pair
        return body
