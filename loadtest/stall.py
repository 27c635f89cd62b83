"""``python -m loadtest.stall``: the site while Redis stalls, served by gunicorn.

Redis is stopped with SIGSTOP (it keeps its connections but answers nothing,
as a hung host or a long fork would) for ``--stall`` seconds, then continued
with SIGCONT.  The app (``loadtest.wsgi``) runs under gunicorn, ``--workers``
sync workers or gthread workers of ``--threads`` threads, built once in the
master and forked (``--preload``).  Two kinds of browsers drive it over HTTP
meanwhile, each connection pausing ``--think`` seconds between requests:

* session browsers, the mix of ``python -m loadtest`` (new, read, write);
* plain browsers, asking for ``/plain``, a page that never touches the session.

Then every session a browser was acknowledged is read back.  The report says
how long plain pages took during the stall, how long session requests took to
fail (the first ones wait for ``redis_socket_timeout``; once the circuit
breaker is open they fail at once), when sessions worked again after
SIGCONT, and whether any acknowledged write was lost::

    python -m loadtest.stall --worker-class sync --mode raise --stall 10 --socket-timeout 1

Run from the repository root.  Exits 1 when a check fails; ``--json FILE``
writes the whole report.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from loadtest.load import OK, Load  # noqa: E402
from loadtest.run import latency  # noqa: E402
from pyramid_session_redis.testing.servers import RedisServer, free_port, tail, terminate  # noqa: E402

FAST = 0.1  # seconds: a session request that failed faster than this did not wait for Redis


@dataclass
class StallOptions:
    worker_class: str = "sync"  # or gthread
    workers: int = 4
    threads: int = 4  # gthread only
    mode: str = "raise"  # on_backend_error
    socket_timeout: float = 1.0  # redis_socket_timeout and redis_socket_connect_timeout
    cooldown: Optional[float] = None  # backend_cooldown; None: the package's default
    before: float = 3.0  # seconds of load before the SIGSTOP
    stall: float = 10.0
    after: float = 5.0  # seconds of load after the SIGCONT
    session_threads: int = 8
    plain_threads: int = 2
    think: float = 0.05  # seconds between two requests of one connection
    browsers: int = 100
    seed: int = 1


class Gunicorn:
    """``gunicorn loadtest.wsgi:app`` on a free loopback port; its error log in a file."""

    def __init__(self, o: StallOptions, session_options: Dict[str, Any]):
        self.port = free_port()
        fd, self.log_path = tempfile.mkstemp(prefix="loadtest-gunicorn-", suffix=".log")
        os.close(fd)
        self.args = [
            sys.executable, "-m", "gunicorn", "loadtest.wsgi:app", "--preload",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(o.workers), "--worker-class", o.worker_class,
            "--threads", str(o.threads if o.worker_class == "gthread" else 1),
            "--timeout", "60", "--graceful-timeout", "5", "--error-logfile", self.log_path, "--log-level", "warning",
        ]
        self.env = dict(os.environ, LOADTEST_SESSION_OPTIONS=json.dumps(session_options), LOADTEST_MODE=o.mode,
                        PYTHONPATH=ROOT)
        self.process: Optional[subprocess.Popen[bytes]] = None

    def start(self, timeout: float = 60.0) -> Gunicorn:
        with open(self.log_path, "a") as log:  # the app's own log lines (the breaker's) go there too
            self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                            stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if get(self.port, "/plain")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}:\n{tail(self.log_path, 30)}")

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout=15)
            self.process = None

    def log_lines(self, pattern: str) -> List[str]:
        with open(self.log_path) as fh:
            return [line for line in fh if re.search(pattern, line)]


def get(port: int, path: str) -> Tuple[int, str]:
    """One request on a connection of its own (gunicorn's sync workers close it anyway)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


class Plain:
    """Connections asking for ``/plain`` until told to stop: (start, end, status) of each."""

    def __init__(self, port: int, threads: int, think: float):
        self.port, self.think = port, think
        self.records: List[Tuple[float, float, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(70)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                status = get(self.port, "/plain")[0]
            except Exception:
                status = 0
            ended = time.monotonic()
            with self._lock:
                self.records.append((began, ended, status))
            time.sleep(self.think)


def session_options(o: StallOptions, url: str) -> Dict[str, Any]:
    options: Dict[str, Any] = {"redis_url": url, "redis_socket_timeout": o.socket_timeout,
                               "redis_socket_connect_timeout": o.socket_timeout}
    if o.cooldown is not None:
        options["backend_cooldown"] = o.cooldown
    return options


def run_stall(o: StallOptions) -> Dict[str, Any]:
    from pyramid_session_redis.options import OPTIONS

    cooldown = o.cooldown if o.cooldown is not None else OPTIONS["backend_cooldown"].default
    with RedisServer() as redis_server:
        server = Gunicorn(o, session_options(o, redis_server.url)).start()
        try:
            load = Load(server.port, o.session_threads, o.browsers, seed=o.seed, think=o.think)
            plain = Plain(server.port, o.plain_threads, o.think)
            events: Dict[str, float] = {}

            def fault() -> None:
                time.sleep(o.before)
                events["pause"] = time.monotonic()
                redis_server.pause()
                time.sleep(o.stall)
                redis_server.resume()
                events["resume"] = time.monotonic()

            t0 = time.monotonic()
            plain.start()
            stall = threading.Thread(target=fault, daemon=True)
            stall.start()
            try:
                started, ended = load.run(until=t0 + o.before + o.stall + o.after)
            finally:
                stall.join(o.before + o.stall + 10)
                redis_server.resume()
                plain.stop()
            verification = load.verify()
            opened = server.log_lines(r"circuit breaker open:")
            closed = server.log_lines(r"circuit breaker closed")
            log_path = server.log_path
        finally:
            server.stop()
    report = stall_report(o, cooldown, load, plain, events, started, ended)
    report["acknowledged_writes"] = verification
    report["breaker_log"] = {"opened": len(opened), "closed": len(closed),
                             "first_opened": opened[0].strip() if opened else None,
                             "first_closed": closed[0].strip() if closed else None}
    report["server_log"] = log_path
    report["passed"] = stall_passed(report, o, cooldown)
    return report


def _q(values: List[float], fraction: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 4)


def stall_report(o: StallOptions, cooldown: float, load: Load, plain: Plain, events: Dict[str, float],
                 started: float, ended: float) -> Dict[str, Any]:
    pause, resume = events.get("pause"), events.get("resume")
    report: Dict[str, Any] = {"options": {**asdict(o), "backend_cooldown": cooldown}}
    if pause is None or resume is None:
        report["fault_error"] = "Redis was not paused and resumed"
        return report
    report["fault_error"] = None
    report["stalled_for"] = round(resume - pause, 3)
    window_end = resume + cooldown  # the stall and one cool-down after it

    def rel(t: Optional[float]) -> Optional[float]:
        return None if t is None else round(t - pause, 3)

    plain_before = [e - s for s, e, _ in plain.records if e < pause]
    plain_during = [e - s for s, e, _ in plain.records if e > pause and s < window_end]
    report["plain"] = {
        "before": latency(plain_before),
        "during": latency(plain_during),
        "errors": sum(1 for _, _, status in plain.records if status != 200),
    }
    # Plain pages once every process has seen Redis fail (sync workers: each
    # process's first session request holds that worker for one timeout).
    settled = pause + o.socket_timeout * 1.5
    report["plain"]["during_after_first_timeout"] = latency(
        [e - s for s, e, _ in plain.records if s >= settled and s < window_end])

    records = load.records
    during = [r for r in records if r[0] >= pause and r[0] < resume]
    failed = [r for r in during if r[3] != OK]  # an error, or (degrade) an empty or unsaved session
    failures = [e - s for s, e, _, _ in failed]
    first = min(failed, key=lambda r: r[1]) if failed else None
    report["session_during_stall"] = {
        "requests": len(during),
        "failed": len(failed),
        "succeeded": sum(1 for r in during if r[3] == OK),
        "first_failure": None if first is None else {"took": round(first[1] - first[0], 3), "ended_at": rel(first[1]),
                                                     "kind": first[3]},
        "failure_p50": _q(failures, 0.5),
        "failure_p90": _q(failures, 0.9),
        "failure_p99": _q(failures, 0.99),
        "failure_max": round(max(failures), 3) if failures else None,
        f"failed_in_under_{int(FAST * 1000)}ms": sum(1 for x in failures if x < FAST),
        "waited_for_redis": sum(1 for x in failures if x >= FAST),
        "kinds": _count(r[3] for r in failed),
    }
    # Requests whose time overlapped the pause's start were already waiting on Redis.
    after = [r for r in records if r[0] >= resume]
    errors_after = [r for r in after if r[3] != OK]
    first_ok = min((r[1] for r in after if r[3] == OK), default=None)
    last_error = max((r[0] for r in errors_after), default=None)
    report["recovery"] = {
        "first_success_after_resume": None if first_ok is None else round(first_ok - resume, 3),
        "last_failure_started_after_resume": None if last_error is None else round(last_error - resume, 3),
        "failures_started_after_resume": len(errors_after),
        "succeeded_after_resume": sum(1 for r in after if r[3] == OK),
    }
    report["session_all"] = {"requests": len(records), "succeeded": sum(1 for r in records if r[3] == OK),
                             "kinds": _count(r[3] for r in records)}
    report["violations"] = dict(load.violations.counts)
    report["violation_examples"] = load.violations.examples
    report["seconds"] = round(ended - started, 3)
    return report


def _count(items: Any) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def waiting_bound(o: StallOptions, cooldown: float) -> int:
    """How many session requests may wait for Redis during the stall: those in
    flight when it began, plus each process's first, plus one try per process
    per (shortest) cool-down."""
    concurrency = o.workers * (o.threads if o.worker_class == "gthread" else 1)
    tries = math.ceil(o.stall / (0.75 * cooldown)) if cooldown else 10**9
    return min(concurrency, o.session_threads) + o.workers * (1 + tries)


def stall_passed(report: Dict[str, Any], o: StallOptions, cooldown: float) -> Dict[str, Any]:
    if report.get("fault_error"):
        return {"ok": False, "checks": {"Redis paused and resumed": False}}
    s, r, p = report["session_during_stall"], report["recovery"], report["plain"]
    checks = {
        "session requests failed during the stall": s["failed"] > 0,
        f"no session request waited more than one timeout ({o.socket_timeout} s, +0.5 s)": (
            s["failure_max"] is not None and s["failure_max"] <= o.socket_timeout + 0.5),
        f"at most {waiting_bound(o, cooldown)} session requests waited for Redis": (
            s["waited_for_redis"] <= waiting_bound(o, cooldown)),
        f"plain pages after the first timeout: p99 < {FAST} s": (
            (p["during_after_first_timeout"].get("p99") or 0) < FAST),
        "no plain page failed": p["errors"] == 0,
        f"sessions back within one cool-down ({cooldown} s, +0.25 s) of SIGCONT": (
            r["first_success_after_resume"] is not None
            and (r["last_failure_started_after_resume"] or 0) <= cooldown + 0.25),
        "no wrong answers": not report["violations"],
        "every acknowledged write read back": report["acknowledged_writes"]["missing"] == 0
        and report["acknowledged_writes"]["unverifiable"] == 0,
    }
    if report["breaker_log"] is not None and cooldown:
        checks["the breaker opened and closed (log)"] = (
            report["breaker_log"]["opened"] > 0 and report["breaker_log"]["closed"] > 0)
    return {"ok": all(checks.values()), "checks": checks}


def show(report: Dict[str, Any]) -> None:
    o = report["options"]
    threads = f" x {o['threads']} threads" if o["worker_class"] == "gthread" else ""
    print(f"loadtest.stall: gunicorn {o['workers']} {o['worker_class']} workers{threads}, on_backend_error = "
          f"{o['mode']}, Redis SIGSTOPped {o['stall']} s, redis_socket_timeout = {o['socket_timeout']} s, "
          f"backend_cooldown = {o['backend_cooldown']} s; {o['session_threads']} session and {o['plain_threads']} "
          f"plain connections, {o['think']} s between requests")
    if report.get("fault_error"):
        print("  FAULT INJECTION FAILED:", report["fault_error"])
    for key in ("plain", "session_during_stall", "recovery", "session_all", "breaker_log"):
        if key in report:
            print(f"  {key:<22} {json.dumps(report[key])}")
    aw = report.get("acknowledged_writes")
    if aw:
        print(f"  acknowledged sessions  {aw['checked']} read back, {aw['missing']} missing, "
              f"{aw['unverifiable']} unverifiable")
    if report.get("violations"):
        print("  WRONG ANSWERS", report["violations"])
    for name, ok in report["passed"]["checks"].items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    print("loadtest.stall: " + ("PASSED" if report["passed"]["ok"] else "FAILED"))


def parse(argv: List[str]) -> Tuple[StallOptions, Optional[str]]:
    d = StallOptions()
    p = argparse.ArgumentParser(prog="python -m loadtest.stall", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker-class", choices=("sync", "gthread"), default=d.worker_class)
    p.add_argument("--workers", type=int, default=d.workers)
    p.add_argument("--threads", type=int, default=d.threads, help="threads of a gthread worker")
    p.add_argument("--mode", choices=("raise", "degrade"), default=d.mode, help="on_backend_error")
    p.add_argument("--socket-timeout", type=float, default=d.socket_timeout)
    p.add_argument("--cooldown", type=float, default=None, help="backend_cooldown (default: the package's)")
    p.add_argument("--before", type=float, default=d.before, help="seconds of load before the SIGSTOP")
    p.add_argument("--stall", type=float, default=d.stall, help="seconds between SIGSTOP and SIGCONT")
    p.add_argument("--after", type=float, default=d.after, help="seconds of load after the SIGCONT")
    p.add_argument("--session-threads", type=int, default=d.session_threads)
    p.add_argument("--plain-threads", type=int, default=d.plain_threads)
    p.add_argument("--think", type=float, default=d.think, help="seconds between two requests of a connection")
    p.add_argument("--browsers", type=int, default=d.browsers)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--json", metavar="FILE", help="write the whole report here")
    a = vars(p.parse_args(argv))
    path = a.pop("json")
    return StallOptions(**a), path


def main(argv: List[str]) -> int:
    options, path = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run_stall(options)
    show(report)
    if path:
        with open(path, "w") as fh:
            json.dump(report, fh, indent=2, default=str)
    return 0 if report["passed"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
