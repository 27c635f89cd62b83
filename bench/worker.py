"""One benchmark worker: a process that builds an app and times requests on command.

Run as a script (``python bench/worker.py IMPL``) by the coordinator, from the
virtual environment of the implementation it measures.  It is not run as
``-m bench.worker`` on purpose: that would put the repository on ``sys.path``
and a 1.8.1 worker would import this checkout instead of the release.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from typing import Any, Dict

if os.environ.get("BENCH_NO_HIREDIS"):
    sys.modules["hiredis"] = None  # type: ignore[assignment]  # redis-py then uses its Python parser

import wsgiapps

if sys.argv[1:2] in (["ours"], ["ours+hiredis"], ["ours+overwrite"], ["ours+cache"]):
    # As a default install runs: without the msgspec extra's decoder (the
    # "ours+msgspec" worker measures it; msgspec stays importable for the
    # rows that configure serializer = msgspec, which does not use that decoder).
    from pyramid_session_redis import payload

    payload._fast_decode = None


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Worker:
    def __init__(self, impl: str):
        self.impl = impl
        self.browser: Any = None
        self.path = "/"
        self.fresh = False

    def hello(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        import redis

        info: Dict[str, Any] = {"impl": self.impl, "python": sys.version.split()[0], "redis_py": redis.__version__}
        from redis.utils import HIREDIS_AVAILABLE

        info["hiredis"] = bool(HIREDIS_AVAILABLE)
        if self.impl in wsgiapps.SESSION_IMPLS:
            import pyramid_session_redis

            info["package"] = getattr(pyramid_session_redis, "__version__", None) or _dist_version()
            info["package_file"] = pyramid_session_redis.__file__
        return info

    def setup(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        scenario, policy, size = msg["scenario"], msg["policy"], msg["size"]
        app = wsgiapps.make_app(self.impl, msg["redis_url"], scenario, policy, size)
        self.browser = wsgiapps.Browser(app)
        self.path = "/" + scenario
        self.fresh = scenario == "new"
        if scenario not in ("new", "untouched"):
            self.browser.get("/setup")
            if self.browser.cookie is None and self.impl != "none":
                raise RuntimeError("setup set no session cookie")
        for _ in range(msg.get("warmup", 50)):
            self.browser.get(self.path, keep_cookie=not self.fresh)
        return {"cookie_bytes": len(self.browser.cookie or "")}

    def run(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """Requests until ``seconds`` have passed; returns how many and how long."""
        budget = float(msg["seconds"])
        get, path, keep = self.browser.get, self.path, not self.fresh
        n = 0
        clock = time.perf_counter
        start = clock()
        deadline = start + budget
        while True:
            get(path, keep)
            n += 1
            if n % 8 == 0 and clock() >= deadline:
                break
        elapsed = clock() - start
        return {"n": n, "elapsed": elapsed}

    def count_serializations(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """How often the serializer runs for read-only and for writing requests."""
        from pyramid.config import Configurator

        from pyramid_session_redis import RedisSessionFactory
        from pyramid_session_redis.payload import json_deserialize, json_serialize

        calls = {"n": 0}

        def counting(data: Any) -> bytes:
            calls["n"] += 1
            return json_serialize(data)

        config = Configurator()
        config.set_session_factory(RedisSessionFactory(wsgiapps.SECRET, redis_url=msg["redis_url"], serialize=counting, deserialize=json_deserialize))
        wsgiapps._session_views(config, msg["size"])
        browser = wsgiapps.Browser(config.make_wsgi_app())
        browser.get("/setup")
        out = {}
        for path in ("/read", "/write"):
            calls["n"] = 0
            for _ in range(msg["n"]):
                browser.get(path)
            out[path.strip("/")] = calls["n"] / msg["n"]
        return out

    def soak(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """``n`` requests cycling new / read / write / nested, sampling memory."""
        import tracemalloc

        app = wsgiapps.make_app(self.impl, msg["redis_url"], "read", "default", msg.get("size", 1000))
        user, newcomer = wsgiapps.Browser(app), wsgiapps.Browser(app)
        user.get("/setup")
        cycle = [("/new", newcomer, False), ("/read", user, True), ("/write", user, True), ("/nested", user, True)]
        every, total = msg["every"], msg["n"]
        samples = []
        trace = msg.get("tracemalloc", True)
        for i in range(msg.get("warmup", 2000)):
            path, browser, keep = cycle[i % 4]
            browser.get(path, keep)
        gc.collect()
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        for i in range(total):
            path, browser, keep = cycle[i % 4]
            browser.get(path, keep)
            if (i + 1) % every == 0:
                gc.collect()
                traced = tracemalloc.get_traced_memory()[0] if trace else 0
                samples.append({"requests": i + 1, "rss": _rss_bytes(), "traced": traced, "objects": len(gc.get_objects())})
        elapsed = time.perf_counter() - start
        if trace:
            tracemalloc.stop()
        return {"samples": samples, "elapsed": elapsed}


    def cache_soak(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """``n`` read-only requests spread over ``sessions`` browsers, more than
        ``local_cache`` holds: the cache stays full and evicts all along."""
        app = wsgiapps.make_app("ours+cache", msg["redis_url"], "read", "default", msg.get("size", 1000))
        browsers = [wsgiapps.Browser(app) for _ in range(msg["sessions"])]
        for browser in browsers:
            browser.get("/setup")
        cache = app.registry.queryUtility(__import__("pyramid.interfaces").interfaces.ISessionFactory).settings.local_cache
        every, total = msg["every"], msg["n"]
        samples = []
        start = time.perf_counter()
        for i in range(total):
            browsers[(i * 7919) % len(browsers)].get("/read")
            if (i + 1) % every == 0:
                gc.collect()
                samples.append({"requests": i + 1, "rss": _rss_bytes(), "entries": len(cache),
                                "cache_bytes": cache.bytes, "hits": cache.hits})
        return {"samples": samples, "elapsed": time.perf_counter() - start, "entries": cache.max_entries}


def _dist_version() -> str:
    from importlib.metadata import version

    return version("pyramid_session_redis")


def main() -> int:
    cpu = os.environ.get("BENCH_CPU")
    if cpu and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    worker = Worker(sys.argv[1])
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not break the protocol
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            reply = getattr(worker, msg["op"])(msg)
            reply["ok"] = True
        except Exception as exc:  # reported to the coordinator, which stops
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
