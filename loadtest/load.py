"""Browsers over HTTP, and what each one may rely on.

A browser remembers, for its session, the token it was given and the lowest
counter value it may see: the last one acknowledged (or shown to it), plus
how many of its writes since then got no acknowledgement (any of those may
or may not have been stored before the failure).  Every answer is checked
against that on the spot, and again for every session at the end of the run.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

COOKIE = "session"
OK = "ok"
NOT_ERRORS = (OK, "degraded", "unsaved")  # answered 200; only OK acknowledges anything


@dataclass
class Session:
    """What one browser may rely on about one session."""

    cookie: str
    token: str
    low: int = 0  # the counter can be no lower than this
    pending: int = 0  # unacknowledged writes since ``low``: the counter is at most low + pending
    acked_at: float = 0.0  # when ``low`` was last acknowledged or seen


@dataclass
class Browser:
    index: int
    session: Optional[Session] = None


class Http:
    """One keep-alive connection; an error closes it and the next request opens another."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, cookie: Optional[str]) -> Tuple[int, str, List[str]]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        if method == "POST":
            headers["Content-Length"] = "0"
        try:
            self.conn.request(method, path, headers=headers)
            response = self.conn.getresponse()
            body = response.read().decode("utf-8", "replace")
            return response.status, body, response.headers.get_all("Set-Cookie") or []
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def session_cookie(set_cookies: List[str]) -> Optional[str]:
    """The value of our cookie in the Set-Cookie headers ('' when deleted), or None."""
    for header in set_cookies:
        name, _, rest = header.partition("=")
        if name.strip() == COOKIE:
            value = rest.split(";", 1)[0].strip()
            return "" if "max-age=0" in header.lower() else value
    return None


def error_kind(status: int, body: str) -> str:
    """``503 SessionBackendError(ConnectionError) during load``: status, then what the body names."""
    first = body.strip().splitlines()[0] if body.strip() else ""
    for prefix in ("unavailable ", "escaped "):
        if first.startswith(prefix):
            return f"{status} {first[len(prefix):]}"
    return f"{status} {first[:60]}"


class Violations:
    """Answers that contradict what a browser was told: each one is a failure of the run."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.examples: List[Dict[str, Any]] = []

    def add(self, kind: str, **detail: Any) -> None:
        with self.lock:
            self.counts[kind] += 1
            if len(self.examples) < 20:
                self.examples.append({"kind": kind, **detail})


class Load:
    """Drive ``threads`` connections with ``browsers`` cookie jars and a mix of requests.

    ``mix`` is (new, read, write) weights.  With ``keep_records`` every request
    is kept as (start, end, op, kind) for the fault report; a soak keeps only
    counts.  ``on_count(n)`` is called by whichever thread completes the n-th
    request, for samples.  ``think`` is a pause, in seconds, after each
    request of a connection (0: at once), for a load below the server's limit.
    """

    def __init__(self, port: int, threads: int, browsers: int, mix: Tuple[int, int, int] = (20, 50, 30),
                 seed: int = 1, timeout: float = 30.0, keep_records: bool = True,
                 on_count: Optional[Callable[[int], None]] = None, think: float = 0.0):
        self.port = port
        self.threads = threads
        self.browsers = [Browser(i) for i in range(browsers)]
        self.mix = mix
        self.seed = seed
        self.timeout = timeout
        self.keep_records = keep_records
        self.on_count = on_count
        self.think = think
        self.retired: List[Session] = []
        self.violations = Violations()
        self.kinds: Counter[Tuple[str, str]] = Counter()  # (op, kind)
        self.records: List[Tuple[float, float, str, str]] = []
        self.max_latency = (0.0, "", "")  # seconds, op, kind
        self.count = 0
        self._lock = threading.Lock()
        self._gate = threading.Condition()
        self._paused = False
        self._in_flight = 0

    # -- running ----------------------------------------------------------------------

    def run(self, until: Optional[float] = None, requests: Optional[int] = None) -> Tuple[float, float]:
        """Until the monotonic time ``until`` or ``requests`` requests; returns (started, ended)."""
        pool: queue.Queue[Browser] = queue.Queue()
        for browser in self.browsers:
            pool.put(browser)
        started = time.monotonic()
        workers = [threading.Thread(target=self._worker, args=(i, pool, until, requests), daemon=True)
                   for i in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return started, time.monotonic()

    def _worker(self, index: int, pool: queue.Queue[Browser], until: Optional[float],
                requests: Optional[int]) -> None:
        rng = random.Random(self.seed * 1000 + index)
        conn = Http(self.port, self.timeout)
        ops = ("new", "read", "write")
        records: List[Tuple[float, float, str, str]] = []
        kinds: Counter[Tuple[str, str]] = Counter()
        worst = (0.0, "", "")
        try:
            while True:
                if until is not None and time.monotonic() >= until:
                    break
                if requests is not None:
                    with self._lock:
                        if self.count >= requests:
                            break
                        self.count += 1
                        n = self.count
                browser = pool.get()
                with self._gate:
                    while self._paused:
                        self._gate.wait()
                    self._in_flight += 1
                try:
                    op = rng.choices(ops, self.mix)[0]
                    began, ended, op, kind = self.step(browser, op, conn)
                finally:
                    pool.put(browser)
                    with self._gate:
                        self._in_flight -= 1
                        self._gate.notify_all()
                kinds[(op, kind)] += 1
                if ended - began > worst[0]:
                    worst = (ended - began, op, kind)
                if self.keep_records:
                    records.append((began, ended, op, kind))
                if requests is not None and self.on_count is not None:
                    self.on_count(n)
                if self.think:
                    time.sleep(self.think)
        finally:
            conn.close()
            with self._lock:
                self.records.extend(records)
                self.kinds.update(kinds)
                if worst[0] > self.max_latency[0]:
                    self.max_latency = worst

    def step(self, browser: Browser, op: str, conn: Http) -> Tuple[float, float, str, str]:
        """One request of ``browser``; returns (start, end, op, kind)."""
        session = browser.session
        if session is None:
            op = "new"
        token = ""
        began = time.monotonic()
        try:
            if op == "new":
                token = f"b{browser.index}-{secrets.token_hex(6)}"
                status, body, cookies = conn.request("GET", f"/new?t={token}", None)
            elif op == "read":
                status, body, cookies = conn.request("GET", "/read", session.cookie)  # type: ignore[union-attr]
            else:
                status, body, cookies = conn.request("POST", "/write", session.cookie)  # type: ignore[union-attr]
        except Exception as exc:
            ended = time.monotonic()
            self._unanswered(browser, op)
            return began, ended, op, f"client {type(exc).__name__}"
        ended = time.monotonic()
        if status != 200:
            self._unanswered(browser, op)
            return began, ended, op, error_kind(status, body)
        if body in ("degraded", "unsaved"):
            if body == "unsaved":
                self._unanswered(browser, op)
            return began, ended, op, body
        return began, ended, op, self._judge(browser, op, token, body, cookies, ended)

    def _unanswered(self, browser: Browser, op: str) -> None:
        """No acknowledgement: a write may or may not have been stored; a new session does not count."""
        if op == "new":
            self._retire(browser)
        elif op == "write" and browser.session is not None:
            browser.session.pending += 1

    def _retire(self, browser: Browser) -> None:
        if browser.session is not None:
            with self._lock:
                self.retired.append(browser.session)
            browser.session = None

    def _judge(self, browser: Browser, op: str, token: str, body: str, cookies: List[str], now: float) -> str:
        words = body.split()
        if op == "new":
            cookie = session_cookie(cookies)
            if words != ["new", token, "0"] or not cookie:
                self.violations.add("bad answer to /new", body=body[:120], cookie=cookie)
                self._retire(browser)
                return "violation"
            self._retire(browser)
            browser.session = Session(cookie=cookie, token=token, acked_at=now)
            return OK
        session = browser.session
        assert session is not None
        replaced = session_cookie(cookies)
        if replaced is not None and replaced != session.cookie:
            self.violations.add("session cookie replaced or deleted", op=op, body=body[:120])
        problem = check(session, op, words)
        if problem:
            self.violations.add(problem, op=op, body=body[:120], token=session.token, low=session.low,
                                pending=session.pending, since_ack=round(now - session.acked_at, 3))
            browser.session = None  # start afresh rather than report the same loss again
            return "violation"
        session.low, session.pending, session.acked_at = int(words[2]), 0, now
        return OK

    def at_rest(self, action: Callable[[], None]) -> None:
        """Run ``action`` with no request in flight (the others wait): samples taken then compare."""
        with self._gate:
            self._paused = True
            while self._in_flight:
                self._gate.wait()
        try:
            action()
        finally:
            with self._gate:
                self._paused = False
                self._gate.notify_all()

    # -- the final check ---------------------------------------------------------------

    def known_sessions(self) -> List[Session]:
        return self.retired + [b.session for b in self.browsers if b.session is not None]

    def verify(self, patience: float = 30.0) -> Dict[str, Any]:
        """Read back every session a browser was given: each must hold its token and at least its counter.

        Reads go through the app, as a user's would; an answer other than a
        session (a 503 while Redis is still coming back) is retried, until no
        read at all has succeeded for ``patience`` seconds.
        """
        sessions = self.known_sessions()
        work: queue.Queue[Session] = queue.Queue()
        for session in sessions:
            work.put(session)
        results: Counter[str] = Counter()
        missing: List[Dict[str, Any]] = []
        lock = threading.Lock()
        progress = [time.monotonic()]  # when a read last succeeded

        def worker() -> None:
            conn = Http(self.port, self.timeout)
            try:
                while True:
                    try:
                        session = work.get_nowait()
                    except queue.Empty:
                        return
                    outcome = "unverifiable"
                    while time.monotonic() < progress[0] + patience:
                        try:
                            status, body, _ = conn.request("GET", "/read", session.cookie)
                        except Exception:
                            time.sleep(0.1)
                            continue
                        if status == 200 and body.startswith("read "):
                            progress[0] = time.monotonic()
                            problem = check(session, "read", body.split())
                            outcome = problem if problem else "ok"
                            break
                        time.sleep(0.1)
                    with lock:
                        results[outcome] += 1
                        if outcome != "ok" and len(missing) < 20:
                            missing.append({"outcome": outcome, "token": session.token, "low": session.low,
                                            "pending": session.pending, "acked_at": session.acked_at})
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {"checked": len(sessions), "ok": results["ok"],
                "missing": results["session lost"] + results["acknowledged write lost"],
                "unverifiable": results["unverifiable"] + results["malformed answer"],
                "ahead": results["counter ahead of every write"],
                "outcomes": dict(results), "examples": missing}


def check(session: Session, op: str, words: List[str]) -> str:
    """'' if ``words`` (``read|write TOKEN N``) agree with what the browser may rely on; else why not."""
    if len(words) != 3 or words[0] != op:
        return "malformed answer"
    if words[1] != session.token or words[2] == "None":
        return "session lost"
    n = int(words[2]) - (1 if op == "write" else 0)  # what the write found
    if n < session.low:
        return "acknowledged write lost"
    if n > session.low + session.pending:
        return "counter ahead of every write"
    return ""


def gaps(records: List[Tuple[float, float, str, str]], started: float, ended: float) -> Dict[str, Any]:
    """The longest time with no successful answer, and where it lay."""
    ends = sorted(r[1] for r in records if r[3] == OK)
    points = [started, *ends, ended]
    best = (0.0, started, started)
    for a, b in zip(points, points[1:]):
        if b - a > best[0]:
            best = (b - a, a, b)
    return {"seconds": best[0], "from": best[1], "to": best[2]}


def summarise(load: Load, started: float, ended: float) -> Dict[str, Any]:
    by_kind: Counter[str] = Counter()
    by_op: Counter[str] = Counter()
    for (op, kind), n in load.kinds.items():
        by_kind[kind] += n
        by_op[op] += n
    total = sum(by_kind.values())
    seconds, op, kind = load.max_latency
    return {
        "requests": total,
        "seconds": round(ended - started, 3),
        "per_second": round(total / max(ended - started, 1e-9), 1),
        "by_op": dict(by_op),
        "succeeded": by_kind[OK],
        "answered_200_without_ack": {k: by_kind[k] for k in ("degraded", "unsaved") if by_kind[k]},
        "errors": {k: n for k, n in sorted(by_kind.items()) if k not in NOT_ERRORS},
        "errors_by_op": {f"{o} {k}": n for (o, k), n in sorted(load.kinds.items()) if k not in NOT_ERRORS},
        "longest_request": {"seconds": round(seconds, 3), "op": op, "kind": kind},
        "violations": dict(load.violations.counts),
        "violation_examples": load.violations.examples,
    }


def fetch_stats(port: int, **params: str) -> Dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/_stats" + (f"?{query}" if query else ""))
        response = conn.getresponse()
        return json.loads(response.read())
    finally:
        conn.close()
