"""``local_cache`` across processes: one browser's own writes are never read stale.

Two waitress processes (``tests/http_app.py``), each with its own cache, share
the suite's redis-server.  One browser (one cookie, kept as a browser keeps
it) alternates: a write on one process, then two reads on the other, the first
of which loads the new version from Redis and the second of which is served
from that process's cache.  A read that shows anything but the value just
written is stale.  The same run is repeated while a load generator keeps
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
    before = [browser.get(port, "/cache") for port in farm.ports]
    stale = 0
    started = time.monotonic()
    try:
        for trial in range(trials):
            writer, reader = (first, second) if trial % 2 == 0 else (second, first)
            browser.get(writer, f"/set?k=v&v={trial}")
            for _ in range(2):
                stale += browser.get(reader, "/peek").get("v") != str(trial)
        after = [browser.get(port, "/cache") for port in farm.ports]
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
        for _ in range(2)
    ]
    try:
        calls = int(redis_client.info("stats")["total_commands_processed"])
        time.sleep(0.3)
        busy_rate = (int(redis_client.info("stats")["total_commands_processed"]) - calls) / 0.3
        figures = stale_reads(farm, TRIALS)
        assert all(process.poll() is None for process in busy)  # it was busy throughout
    finally:
        for process in busy:
            process.kill()
            process.wait()
        redis_client.delete(*[f"busy:{i}" for i in range(5000)])
    figures["load_generator_commands_per_s"] = int(busy_rate)
    print("busy Redis:", figures)
    assert busy_rate > 10_000
    assert figures["stale"] == 0
    assert figures["hits"] >= TRIALS
