"""Print the Redis commands each kind of request sends (``python -m bench.roundtrips``).

Drives a small app in-process against a private redis-server and counts the
commands each request sends with ``pyramid_session_redis.testing``'s
``CommandCounter`` (MONITOR, which leaves out what a Lua script runs inside
Redis).  The throughput benchmark is ``python -m bench``; this prints the
round-trip table.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Tuple

import redis
from pyramid.config import Configurator
from pyramid.response import Response

from pyramid_session_redis import RedisSessionFactory
from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.commands import CommandCounter
from pyramid_session_redis.testing.servers import RedisServer

from .wsgiapps import Browser


def _nested(request: Any) -> Response:
    cart = request.session.setdefault("cart", {"n": 0})
    cart["n"] += 1  # no changed(): detect_changes must find it
    return Response(str(cart["n"]))


def _incr(request: Any) -> Response:
    request.session["n"] = request.session.get("n", 0) + 1
    return Response(str(request.session["n"]))


VIEWS: Dict[str, Callable[[Any], Response]] = {
    "untouched": lambda request: Response("untouched"),
    "touch": lambda request: Response(str(len(request.session))),
    "incr": _incr,
    "read": lambda request: Response(repr(request.session.get("n"))),
    "nested": _nested,
    "invalidate": lambda request: (request.session.invalidate(), Response("invalidated"))[1],
}


def make_app(url: str, **options: Any) -> Browser:
    config = Configurator()
    config.set_session_factory(RedisSessionFactory(secret="roundtrips " * 4, redis_url=url, **options))
    for name, view in VIEWS.items():
        config.add_route(name, "/" + name)
        config.add_view(view, route_name=name)
    return Browser(config.make_wsgi_app())


def measure(url: str, counter: CommandCounter, warmup: List[str], path: str, **options: Any) -> Dict[str, int]:
    app = make_app(url, **options)
    for step in warmup:
        app.get(step)
    counter.reset()
    app.get(path)
    return counter.counts()


ROWS: List[Tuple[str, List[str], str, Dict[str, Any]]] = [
    ("session never touched", [], "/untouched", {}),
    ("empty new session read", [], "/touch", {}),
    ("new session written", [], "/incr", {}),
    ("existing session, read only", ["/incr"], "/read", {}),
    ("existing session, read and write", ["/incr"], "/incr", {}),
    ("read and write, on_conflict=overwrite", ["/incr"], "/incr", {"on_conflict": "overwrite"}),
    ("nested mutation without changed()", ["/nested"], "/nested", {}),
    ("invalidate", ["/incr"], "/invalidate", {}),
    ("LRU mode (set_redis_ttl=False), read only", ["/incr"], "/read", {"set_redis_ttl": False}),
    ("timeout_trigger=600, read before the threshold", ["/incr"], "/read", {"timeout_trigger": 600}),
    ("set_redis_ttl_readheavy, read only", ["/incr"], "/read", {"set_redis_ttl_readheavy": True}),
]


def main() -> int:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        # As a server that has run the checked write once has it cached (every
        # write of an existing session with on_conflict = merge, the default):
        # a first checked write would otherwise show EVALSHA's NOSCRIPT and an EVAL.
        client.script_load(CHECKED_WRITE)
        counter = CommandCounter(client)
        for label, warmup, path, options in ROWS:
            client.flushall()
            counts = measure(server.url, counter, warmup, path, **options)
            total = sum(counts.values())
            shown = " + ".join(f"{n} {c.upper()}" for c, n in sorted(counts.items())) or "-"
            print(f"{label:48s} {total}  ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
