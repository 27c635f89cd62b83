"""Print the Redis commands each kind of request sends (``python -m bench.roundtrips``).

Drives the test app in-process against a private redis-server and counts the
commands each request sends with the tests' ``CommandCounter`` (MONITOR, which
leaves out what a Lua script runs inside Redis).  The throughput benchmark is
``python -m bench``; this prints the round-trip table.
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Tuple

import redis

from pyramid_session_redis.store import CHECKED_WRITE
from pyramid_session_redis.testing.servers import RedisServer
from tests.app import make_app
from tests.conftest import CommandCounter


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
    ("existing session, read only", ["/incr"], "/read?key=n", {}),
    ("existing session, read and write", ["/incr"], "/incr", {}),
    ("nested mutation without changed()", ["/nested"], "/nested", {}),
    ("invalidate", ["/incr"], "/invalidate", {}),
    ("LRU mode (set_redis_ttl=False), read only", ["/incr"], "/read?key=n", {"set_redis_ttl": False}),
    ("timeout_trigger=600, read before the threshold", ["/incr"], "/read?key=n", {"timeout_trigger": 600}),
    ("set_redis_ttl_readheavy, read only", ["/incr"], "/read?key=n", {"set_redis_ttl_readheavy": True}),
]


def main() -> int:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        # As a server that has run the checked write once has it cached (only
        # on_conflict = merge uses it; a default install writes a plain SET):
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
