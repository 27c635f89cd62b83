"""``local_cache`` across processes: one browser's own writes are never read stale.

Two waitress processes (``tests/http_app.py``), each with its own cache, share
the suite's redis-server.  One browser (one cookie, kept as a browser keeps
it) writes on one process, then reads twice on the other, which holds the
previous version in its cache: the first read must load the new version from
Redis, and the second is served from the cache.  A read that shows anything
but the value just written is stale.  The same run is repeated while a load generator keeps
Redis busy (pipelined writes and blocking ``KEYS`` scans), the condition under
which Redis's own invalidation pushes were measured to arrive late.

The figures are printed (run with ``-s``).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from .test_concurrency_http import ROOT, Farm

TRIALS = int(os.environ.get("LOCAL_CACHE_TRIALS", "10000"))

# A second client of the same Redis, as busy as it can make it.
BUSY = """
import os, sys, redis
client = redis.Redis.from_url(sys.argv[1])
value = os.urandom(512).hex().encode()
while True:
    with client.pipeline(transaction=False) as pipe:
        for i in range(200):
            pipe.set(f"busy:{i % 5000}", value)
        pipe.keys("busy:*")
        pipe.execute()
"""


class Browser:
    """Keep-alive connections to each process, and one cookie, updated as a browser does."""

    def __init__(self, ports: Tuple[int, ...]):
        self.connections = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports}
        self.cookie: Optional[str] = None

    def get(self, port: int, path: str) -> Any:
        connection = self.connections[port]
        connection.request("GET", path, headers={"Cookie": self.cookie} if self.cookie else {})
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:300])
        set_cookie = response.getheader("Set-Cookie")
        if set_cookie is not None:
            self.cookie = set_cookie.split(";")[0]
        return json.loads(body)

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def cache_stats(port: int) -> Dict[str, int]:
    browser = Browser((port,))
    try:
        return browser.get(port, "/cache")  # type: ignore[no-any-return]
    finally:
        browser.close()


@pytest.fixture(scope="module")
def farm(redis_server: Any) -> Iterator[Farm]:
    started = Farm({"redis_url": redis_server.url, "local_cache": 1000}, 2, 4)
    try:
        yield started.wait()
    finally:
        started.stop()


def stale_reads(farm: Farm, trials: int) -> Dict[str, Any]:
    first, second = farm.ports
    browser = Browser((first, second))
    before = [cache_stats(port) for port in farm.ports]
    stale = 0
    started = time.monotonic()
    try:
        for trial in range(trials):
            # One process writes and the other reads for half the trials, then they
            # swap: the reader always holds the version before the one just written.
            writer, reader = (first, second) if trial < trials // 2 else (second, first)
            browser.get(writer, f"/set?k=v&v={trial}")
            for _ in range(2):
                stale += browser.get(reader, "/peek").get("v") != str(trial)
        after = [cache_stats(port) for port in farm.ports]
    finally:
        browser.close()
    return {
        "trials": trials,
        "stale": stale,
        "hits": sum(a["hits"] - b["hits"] for a, b in zip(after, before)),
        "seconds": round(time.monotonic() - started, 1),
    }


def test_own_writes_are_never_read_stale_across_processes(farm):
    figures = stale_reads(farm, TRIALS)
    print("quiet Redis:", figures)
    assert figures["stale"] == 0
    # The second read of every trial was served from the reader's cache.
    assert figures["hits"] >= TRIALS


def test_own_writes_are_never_read_stale_with_redis_busy(farm, redis_server, redis_client):
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY, redis_server.url], cwd=ROOT, stderr=subprocess.DEVNULL)
        for _ in range(1)
    ]
    try:
        time.sleep(0.5)  # (the generators connect)
        calls, started = int(redis_client.info("stats")["total_commands_processed"]), time.monotonic()
        figures = stale_reads(farm, TRIALS)
        busy_rate = (int(redis_client.info("stats")["total_commands_processed"]) - calls) / (time.monotonic() - started)
        assert all(process.poll() is None for process in busy)  # it was busy throughout
    finally:
        for process in busy:
            process.kill()
            process.wait()
        redis_client.delete(*[f"busy:{i}" for i in range(5000)])
    figures["redis_commands_per_s"] = int(busy_rate)  # nearly all of them the load generator's
    print("busy Redis:", figures)
    assert busy_rate > 10_000
    assert figures["stale"] == 0
    assert figures["hits"] >= TRIALS


def test_browsers_at_once_on_threaded_workers_are_never_read_stale(farm):
    """Eight browsers at once, each writing on one process and reading on the other: the processes' threads
    share their caches (4 waitress threads each), and each browser must still see
    its own last write."""
    first, second = farm.ports
    rounds, results = 400, []
    before = [cache_stats(port) for port in farm.ports]

    def one_browser(seed: int) -> None:
        browser = Browser((first, second))
        stale = failed = 0
        try:
            for trial in range(rounds):
                writer, reader = (first, second) if seed % 2 == 0 else (second, first)
                try:
                    browser.get(writer, f"/set?k=v&v={seed}-{trial}")
                    for _ in range(2):
                        stale += browser.get(reader, "/peek").get("v") != f"{seed}-{trial}"
                except Exception:
                    failed += 1
        finally:
            browser.close()
        results.append((stale, failed))

    threads = [threading.Thread(target=one_browser, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = [cache_stats(port) for port in farm.ports]
    hits = sum(a["hits"] - b["hits"] for a, b in zip(after, before))
    print(f"8 browsers x {rounds} rounds at once: stale {sum(s for s, _ in results)}, "
          f"failed {sum(f for _, f in results)}, hits {hits}")
    assert results == [(0, 0)] * 8
    assert hits >= 8 * rounds
