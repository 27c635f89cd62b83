"""Concurrent requests of one browser, over HTTP, against real server processes.

Several waitress processes (``tests/http_app.py``), each on its own loopback
port with a few threads, share the suite's private redis-server; the client
here sends concurrent requests with one browser's cookie (threads and
``http.client``), spread over the processes.  Default settings throughout
(``on_conflict = merge``) unless a test names another mode.

Each test prints its figures (run with ``-s`` to see them).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from .http_app import CONFLICTS

ROOT = str(Path(__file__).resolve().parent.parent)


class Farm:
    """Waitress processes serving ``tests.http_app`` with the same options, one port each."""

    def __init__(self, options: Dict[str, Any], processes: int, threads: int):
        env = dict(os.environ, PYTHONPATH=ROOT)  # this worktree's package, not an installed one
        # stderr to a file: a pipe nobody reads would stall a server that logs a lot.
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop())
        self.processes = [
            subprocess.Popen([sys.executable, "-m", "tests.http_app", json.dumps(options), str(threads)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
            for _ in range(processes)
        ]
        self.ports: List[int] = []
        self.log = Path(options["timing_log"]) if "timing_log" in options else None

    def timed(self) -> List[Tuple[float, float, str, str]]:
        """``(start, end, path?query, status)`` of every request served so far (with a ``timing_log``)."""
        assert self.log is not None
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(float(start), float(end), path, status) for start, end, path, status in rows]

    def wait(self) -> Farm:
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("PORT "):
                process.kill()
                process.wait()
                self.stderr.seek(0)
                raise RuntimeError(f"server did not start: {line!r} {self.stderr.read()[-3000:]}")
            self.ports.append(int(line.split()[1]))
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.stderr.close()


@pytest.fixture(scope="module")
def farms(redis_server: Any, tmp_path_factory: Any) -> Iterator[Dict[str, Farm]]:
    """merge (the default: on_conflict not given), 3 processes x 4 threads, whose
    requests are timed in ``farm.log``; raise and overwrite, 2 x 4."""
    url = redis_server.url
    log = tmp_path_factory.mktemp("merge") / "timing.log"
    started = {
        "merge": Farm({"redis_url": url, "timing_log": str(log)}, 3, 4),
        "raise": Farm({"redis_url": url, "on_conflict": "raise"}, 2, 4),
        "overwrite": Farm({"redis_url": url, "on_conflict": "overwrite"}, 2, 4),
    }
    try:
        for farm in started.values():
            farm.wait()
        yield started
    finally:
        for farm in started.values():
            farm.stop()


# -- the client ---------------------------------------------------------------------


class Reply:
    def __init__(self, status: int, body: bytes, set_cookie: Optional[str]):
        self.status = status
        self.text = body.decode("utf-8", "replace")
        self.set_cookie = set_cookie

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def cookie(self) -> str:
        assert self.set_cookie is not None, (self.status, self.text)
        return self.set_cookie.split(";")[0]


def fetch(port: int, path: str, cookie: Optional[str] = None) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        return Reply(response.status, response.read(), response.getheader("Set-Cookie"))
    finally:
        connection.close()


def at_once(calls: Sequence[Tuple[int, str]], cookie: Optional[str]) -> List[Reply]:
    """Send every ``(port, path)`` from a thread of its own, all released together."""
    replies: List[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int, port: int, path: str) -> None:
        barrier.wait()
        try:
            replies[i] = fetch(port, path, cookie)
        except Exception as exc:  # reported by the status check of the caller
            replies[i] = Reply(0, repr(exc).encode(), None)

    threads = [threading.Thread(target=run, args=(i, port, path)) for i, (port, path) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return replies


def spread(ports: Sequence[int], paths: Sequence[str]) -> List[Tuple[int, str]]:
    return [(ports[i % len(ports)], path) for i, path in enumerate(paths)]


def failures(replies: Sequence[Reply]) -> List[Tuple[int, str]]:
    return [(r.status, r.text) for r in replies if r.status != 200]


def conflict_reports(redis_client: Any) -> List[Dict[str, Any]]:
    return [json.loads(item) for item in redis_client.lrange(CONFLICTS, 0, -1)]


def new_session(port: int) -> str:
    return fetch(port, "/set?k=init&v=1").cookie


# -- 1, 2: distinct keys and incr() ------------------------------------------------


@pytest.mark.parametrize("run", [1, 2, 3])
def test_150_distinct_keys_all_survive(farms, redis_client, run):
    ports = farms["merge"].ports
    cookie = new_session(ports[0])
    replies = at_once(spread(ports, [f"/set?k=key{i}&v={i}&sleep=10" for i in range(150)]), cookie)
    assert failures(replies) == []
    stored = fetch(ports[0], "/peek", cookie).json()
    kept = [i for i in range(150) if stored.get(f"key{i}") == str(i)]
    print(f"\n[distinct keys run {run}] {len(kept)}/150 kept; conflict reports: {len(conflict_reports(redis_client))}")
    assert len(kept) == 150
    assert conflict_reports(redis_client) == []


@pytest.mark.parametrize("run", [1, 2, 3])
def test_150_incr_all_count(farms, redis_client, run):
    ports = farms["merge"].ports
    cookie = new_session(ports[0])
    replies = at_once(spread(ports, ["/incr?sleep=10"] * 150), cookie)
    assert failures(replies) == []
    total = fetch(ports[0], "/peek", cookie).json().get("n")
    print(f"\n[incr run {run}] total {total}/150; conflict reports: {len(conflict_reports(redis_client))}")
    assert total == 150
    assert conflict_reports(redis_client) == []


# -- 3: flash producers and pop_flash consumers --------------------------------------


@pytest.mark.parametrize("run", [1, 2, 3])
def test_flash_delivered_at_least_once(farms, redis_client, run):
    ports = farms["merge"].ports
    cookie = fetch(ports[0], "/login?user=alice").cookie
    messages = [f"m{i}" for i in range(100)]
    paths = []
    for i, message in enumerate(messages):
        paths.append(f"/flash?m={message}&sleep=5")
        if i % 2:
            paths.append(f"/pop?sleep=5&id={run}-{i}")  # 50 consumers among 100 producers
    replies = at_once(spread(ports, paths), cookie)
    assert failures(replies) == []
    by_consumer = {path: r.json() for path, r in zip(paths, replies) if path.startswith("/pop")}
    received = [m for got in by_consumer.values() for m in got]
    left = fetch(ports[0], "/pop", cookie).json()
    delivered = received + left
    counts = Counter(delivered)
    duplicates = sum(n - 1 for n in counts.values())
    # A duplicate is expected only from consumers that overlapped (both loaded the
    # queue before either stored its pop).  One that shows a message a consumer had
    # already popped and stored, or a message consumed yet left at the end, means
    # the message came back.
    window = {path: (start, end) for start, end, path, _ in farms["merge"].timed() if path in by_consumer}
    holders: Dict[str, List[str]] = {}
    for path, got in by_consumer.items():
        for message in got:
            holders.setdefault(message, []).append(path)
    came_back = [(m, a, b) for m, paths_ in holders.items() for a in paths_ for b in paths_
                 if window[a][1] <= window[b][0]]
    came_back += [(m, "consumed", "left at the end") for m in left if m in holders]
    print(f"\n[flash run {run}] {len(set(delivered) & set(messages))}/100 delivered "
          f"({len(received)} by 50 consumers, {len(left)} left at the end), {duplicates} duplicates "
          f"({sum(1 for n in counts.values() if n > 1)} messages shown more than once, at most "
          f"{max(counts.values())} times), all between overlapping consumers: {not came_back}; "
          f"conflict reports: {len(conflict_reports(redis_client))}")
    assert set(delivered) == set(messages)
    assert came_back == []
    assert fetch(ports[0], "/whoami", cookie).json() == "alice"
    assert conflict_reports(redis_client) == []


# -- 4: a slow request must not bring back a session ended meanwhile ------------------


def _race(farm: Farm, redis_client: Any, cookie: str, other: str) -> Reply:
    """``/slow`` loads the session; ``other`` runs to completion; then ``/slow`` ends (and writes)."""
    slow_port, other_port = farm.ports[0], farm.ports[1]
    token = uuid.uuid4().hex
    slow: List[Reply] = []
    thread = threading.Thread(target=lambda: slow.append(fetch(slow_port, f"/slow?token={token}", cookie)))
    thread.start()
    deadline = time.monotonic() + 10
    while not redis_client.exists(f"httptest:loaded:{token}"):
        assert time.monotonic() < deadline, "the slow request never loaded the session"
        time.sleep(0.002)
    reply = fetch(other_port, other, cookie)
    assert reply.status == 200, reply.text
    redis_client.set(f"httptest:go:{token}", "1", ex=60)
    thread.join()
    assert slow[0].status == 200, slow[0].text
    return reply


@pytest.mark.parametrize("mode", ["merge", "raise", "overwrite"])
def test_logout_race_old_cookie_is_logged_out(farms, redis_client, mode):
    farm = farms[mode]
    logged_in = 0
    for _ in range(50):
        cookie = fetch(farm.ports[0], "/login?user=alice").cookie
        _race(farm, redis_client, cookie, "/logout")
        if fetch(farm.ports[0], "/whoami", cookie).json() is not None:
            logged_in += 1
    gone = sum(1 for r in conflict_reports(redis_client) if r["gone"])
    print(f"\n[logout race, {mode}] logged in after logout: {logged_in}/50; slow writes dropped and reported: {gone}")
    assert logged_in == 0


@pytest.mark.parametrize("mode", ["merge", "raise", "overwrite"])
def test_regenerate_race_old_id_is_not_logged_in(farms, redis_client, mode):
    farm = farms[mode]
    logged_in = 0
    for _ in range(50):
        old = fetch(farm.ports[0], "/login?user=alice").cookie
        new = _race(farm, redis_client, old, "/login?user=bob").cookie
        assert new != old
        if fetch(farm.ports[0], "/whoami", old).json() is not None:
            logged_in += 1
        assert fetch(farm.ports[1], "/whoami", new).json() == "bob"
    print(f"\n[regenerate race, {mode}] old id logged in: {logged_in}/50")
    assert logged_in == 0


# -- 5: lost increments of a plain read-modify-write are reported ---------------------


@pytest.mark.parametrize("run", [1, 2, 3])
def test_plain_increments_lost_are_reported(farms, redis_client, run):
    ports = farms["merge"].ports
    cookie = new_session(ports[0])
    replies = at_once(spread(ports, ["/plain?sleep=20"] * 60), cookie)
    assert failures(replies) == []
    n = fetch(ports[0], "/peek", cookie).json()["n"]
    reports = conflict_reports(redis_client)
    on_n = [r for r in reports if r["keys"] == ["n"] and not r["gone"]]
    lost = 60 - n
    print(f"\n[plain n+1 run {run}] n = {n} after 60 requests: {lost} increments lost; "
          f"{len(on_n)} conflict reports naming 'n' (of {len(reports)})")
    assert len(on_n) == len(reports)
    # A request that is not reported added exactly 1 to what was stored (its
    # write went through unopposed, or nobody else had changed n); so if
    # increments were lost, a report says so.  The counts need not match: one
    # reported write can undo several increments (it stores its own n + 1 over
    # a larger n), and a later reported write can bring some back.
    assert lost > 0, "the requests did not overlap: the test proves nothing"
    assert len(on_n) >= 1


# -- 6: a stalled Redis holds a request for one socket timeout, no more ---------------


# The bound is the socket timeout plus 10 %; a larger timeout leaves the fixed
# overhead of a request (tens of milliseconds) a safer margin on a busy machine.
STALL_TIMEOUT = 2


@pytest.fixture(scope="module")
def stall_farm(redis_server: Any, tmp_path_factory: Any) -> Iterator[Farm]:
    log = tmp_path_factory.mktemp("stall") / "timing.log"
    farm = Farm({"redis_url": redis_server.url, "redis_socket_timeout": STALL_TIMEOUT, "timing_log": str(log),
                 "control_url": redis_server.url}, 1, 8)
    try:
        farm.wait()
        yield farm
    finally:
        farm.stop()


def test_stalled_redis_bounds_each_request(stall_farm, redis_server, redis_client):
    farm = stall_farm
    port = farm.ports[0]
    cookie = new_session(port)
    stop = threading.Event()
    statuses: Counter[int] = Counter()

    def browse(i: int) -> None:
        while not stop.is_set():
            statuses[fetch(port, f"/set?k=t{i}&v={time.time()}&sleep=20", cookie).status] += 1

    clients = [threading.Thread(target=browse, args=(i,)) for i in range(12)]
    for client in clients:
        client.start()
    pid = redis_server.process.pid
    try:
        time.sleep(0.7)
        stopped = time.time()
        os.kill(pid, signal.SIGSTOP)
        time.sleep(4)
    finally:
        os.kill(pid, signal.SIGCONT)
        resumed = time.time()
    time.sleep(1.5)
    stop.set()
    for client in clients:
        client.join()
    timed = farm.timed()
    # Time spent after Redis stopped (a request that began earlier had spent the rest before).
    during = [(end - max(start, stopped), end - start, status) for start, end, _, status in timed if end > stopped]
    worst = max(during)
    longest = max(end - start for start, end, _, _ in timed)
    print(f"\n[stalled redis] {len(timed)} requests, statuses {dict(statuses)}; Redis stopped "
          f"{resumed - stopped:.2f} s; longest after the stop: {worst[0]:.3f} s (whole request {worst[1]:.3f} s, "
          f"status {worst[2]}); longest request: {longest:.3f} s; "
          f"over {STALL_TIMEOUT * 1.1:.1f} s after the stop: {sum(1 for d in during if d[0] > STALL_TIMEOUT * 1.1)}")
    assert worst[0] <= STALL_TIMEOUT * 1.1
