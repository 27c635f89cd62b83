"""A fault run and a soak, each returning its report as a dict.

The app runs in a waitress subprocess (``loadtest.serve``); Redis, the fault
and the load generator run here, so that one clock times the kill, the
restart and every request.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from pyramid_session_redis.testing.servers import tail, terminate

from . import topology as topologies
from .load import NOT_ERRORS, OK, Load, fetch_stats, gaps, summarise

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Options:
    """One run, as the command line describes it (tests build it directly)."""

    topology: str = "single"
    mode: str = "raise"  # on_backend_error
    duration: float = 30.0
    threads: int = 8  # client connections
    server_threads: int = 4  # waitress threads
    browsers: int = 200
    kill_after: float = 10.0
    down_for: float = 2.0  # single and cluster: seconds between the kill and the restart
    # redis_socket_timeout and redis_socket_connect_timeout.  None: 0.5 s for a
    # fault run, so that failures are fast; the package's 5 s for a soak, which
    # is about growth, so that a slow fsync is latency rather than an error.
    socket_timeout: Optional[float] = None
    # backend_cooldown (the circuit breaker); None: the package's default.
    cooldown: Optional[float] = None
    mix: Tuple[int, int, int] = (20, 50, 30)  # new, read, write
    seed: int = 1
    # soak
    soak: int = 0
    warmup: Optional[int] = None  # requests before the first sample (tracemalloc starts halfway)
    sample_every: Optional[int] = None
    rss_tolerance_kib: int = 4096
    tracemalloc_tolerance: int = 256 * 1024  # bytes
    extra: Dict[str, Any] = field(default_factory=dict)


class AppServer:
    """``python -m loadtest.serve`` in a subprocess, on a free port; its stderr goes to a log file."""

    def __init__(self, session_options: Dict[str, Any], mode: str, threads: int):
        self.args = [sys.executable, "-m", "loadtest.serve", json.dumps(session_options), mode, str(threads)]
        self.port = 0
        self.process: Optional[subprocess.Popen[str]] = None
        self.log_path = ""

    def start(self, timeout: float = 60.0) -> AppServer:
        fd, self.log_path = tempfile.mkstemp(prefix="loadtest-server-", suffix=".log")
        with os.fdopen(fd, "w") as log:
            self.process = subprocess.Popen(self.args, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if selector.select(timeout):
                line = self.process.stdout.readline()
                if line.startswith("PORT "):
                    self.port = int(line.split()[1])
                    return self
        self.stop()
        raise RuntimeError(f"the app server did not start; see {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _fault(topo: topologies.Topology, t0: float, o: Options, events: Dict[str, Any]) -> None:
    """Kill at ``kill_after``; restart after ``down_for`` (or, with Sentinel, wait for the failover)."""
    try:
        time.sleep(max(0.0, t0 + o.kill_after - time.monotonic()))
        topo.aim()
        events["kill"] = time.monotonic()
        topo.kill()
        if topo.name != "sentinel":
            time.sleep(o.down_for)
        events["recover_begin"] = time.monotonic()
        topo.recover()
        events["recovered"] = time.monotonic()
    except Exception as exc:  # reported, and fails the run
        events["error"] = repr(exc)


def _rel(t: Optional[float], zero: float) -> Optional[float]:
    return None if t is None else round(t - zero, 3)


def fault_report(load: Load, started: float, ended: float, events: Dict[str, Any],
                 topo: topologies.Topology, cooldown: float = 0.0) -> Dict[str, Any]:
    report = summarise(load, started, ended)
    records = load.records
    kill = events.get("kill")
    begin = events.get("recover_begin")
    recovered = events.get("recovered")
    gap = gaps(records, started, ended)
    report["longest_gap_without_success"] = {"seconds": round(gap["seconds"], 3),
                                             "from": _rel(gap["from"], kill or started),
                                             "to": _rel(gap["to"], kill or started)}
    timeline: Dict[str, Any] = {"zero": "the kill", "run_start": _rel(started, kill or started),
                                "run_end": _rel(ended, kill or started)}
    if kill is not None:
        timeline["recover_begin"] = _rel(begin, kill)
        timeline["recovered"] = _rel(recovered, kill)
        for name, t in topo.events.items():
            timeline[name] = _rel(t, kill)
        errors = [r for r in records if r[3] not in NOT_ERRORS]
        first_ok = min((r[1] for r in records if r[3] == OK and r[0] >= kill), default=None)
        first_ok_after_begin = min((r[1] for r in records if r[3] == OK and r[0] >= (begin or kill)), default=None)
        restarted = topo.name != "sentinel"  # a Sentinel set-up fails over instead
        report["recovery"] = {
            "kill_to_first_success": _rel(first_ok, kill),
            "restart_to_first_success": _rel(first_ok_after_begin, begin) if begin and restarted else None,
            # Single: the restarted server answers PING; Sentinel: every sentinel names the new
            # master; cluster: every node says cluster_state:ok again.
            "recovered_to_first_success": _rel(first_ok_after_begin, recovered) if recovered else None,
            "first_error": _rel(min((r[0] for r in errors), default=None), kill),
            "last_error": _rel(max((r[1] for r in errors), default=None), kill),
        }
        window = [r for r in records if r[0] >= kill and (recovered is None or r[0] < recovered)]
        # The circuit breaker may still be open when Redis is back: a request
        # started within one cool-down of it may fail at once.  After that, none may.
        settled = recovered + cooldown if recovered else None
        report["latency_during_fault"] = {**latency([r[1] - r[0] for r in window]),
                                          "succeeded": sum(1 for r in window if r[3] == OK)}
        report["served"] = {
            "ok_before_kill": sum(1 for r in records if r[3] == OK and r[1] < kill),
            "ok_after_recovered": sum(1 for r in records if r[3] == OK and recovered and r[0] >= recovered),
            "errors_before_kill": sum(1 for r in errors if r[1] < kill),
            "errors_started_after_recovered": sum(1 for r in errors if settled and r[0] >= settled),
        }
        late: Counter[str] = Counter(r[3] for r in errors if settled and r[0] >= settled)
        report["errors_started_after_recovered"] = dict(late)
    report["timeline"] = timeline
    report["latency"] = latency([r[1] - r[0] for r in records])
    return report


def cooldown(o: Options) -> float:
    """The run's backend_cooldown: given, or the package's default."""
    from pyramid_session_redis.options import OPTIONS

    return float(o.cooldown if o.cooldown is not None else OPTIONS["backend_cooldown"].default)


def session_options(topo: topologies.Topology, o: Options) -> Dict[str, Any]:
    options = topo.session_options()
    if o.cooldown is not None:
        options["backend_cooldown"] = o.cooldown
    return options


def latency(seconds: List[float]) -> Dict[str, Any]:
    """Count, median, 99th percentile, maximum (in seconds) and how many took over a second."""
    if not seconds:
        return {"requests": 0}
    ordered = sorted(seconds)
    return {"requests": len(ordered), "p50": round(ordered[len(ordered) // 2], 4),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
            "max": round(ordered[-1], 3), "over_1s": sum(1 for x in ordered if x > 1.0)}


def run_fault(o: Options) -> Dict[str, Any]:
    """Load, one kill and its recovery, then every acknowledged session read back."""
    if o.duration < o.kill_after + o.down_for + 1:
        raise ValueError("--duration must leave time after the kill, the pause and the recovery")
    topo = topologies.make(o.topology, o.socket_timeout or 0.5)
    events: Dict[str, Any] = {}
    with topo, AppServer(session_options(topo, o), o.mode, o.server_threads) as server:
        load = Load(server.port, o.threads, o.browsers, o.mix, o.seed)
        t0 = time.monotonic()
        fault = threading.Thread(target=_fault, args=(topo, t0, o, events), daemon=True)
        fault.start()
        started, ended = load.run(until=t0 + o.duration)
        fault.join(120)
        report = fault_report(load, started, ended, events, topo, cooldown(o))
        # The server's counts of the run itself: the read-back below retries what
        # fails (the breaker may still be open when the load stops).
        report["server"] = fetch_stats(server.port)
        verification = load.verify()
        kill = events.get("kill")
        for example in verification["examples"]:
            # When it was acknowledged, from the kill (negative: before), for the replication window.
            acked_at = example.pop("acked_at")
            example["acked_at_from_kill"] = None if kill is None else round(acked_at - kill, 4)
        report["acknowledged_writes"] = verification
        report["server_log"] = server.log_path
        report["redis_latency_events"] = topo.latency_events()
    report["options"] = {**asdict(o), "socket_timeout": topo.socket_timeout, "cooldown": cooldown(o)}
    report["topology_notes"] = topo.notes
    report["fault_error"] = events.get("error")
    report["passed"] = fault_passed(report, o)
    return report


def fault_passed(report: Dict[str, Any], o: Options) -> Dict[str, Any]:
    """What a fault run must show; each check is named so that a failure says which."""
    served = report.get("served", {})
    errors = report["errors"]
    checks = {
        "fault injected and recovered": report["fault_error"] is None and "recovery" in report,
        "served before the kill": served.get("ok_before_kill", 0) > 0,
        "served after recovery": served.get("ok_after_recovered", 0) > 0,
        "no errors before the kill": served.get("errors_before_kill", 1) == 0,
        # A connection left over from before the kill must not fail a request
        # once Redis is back (a timeout there is Redis being slow: see LATENCY).
        "no connection errors after recovery": not any(
            "ConnectionError" in k for k in report.get("errors_started_after_recovered", {})),
        "no wrong answers": not report["violations"],
        "every acknowledged write read back": report["acknowledged_writes"]["missing"] == 0
        and report["acknowledged_writes"]["unverifiable"] == 0,
    }
    if o.mode == "raise":
        # 503: raised in a view, rendered by the exception view.  500: the end
        # of request write, which Pyramid runs after the exception views.
        # (SessionBackendUnavailable: failed at once, the circuit breaker being open.)
        checks["errors are SessionBackendError only"] = all(
            k.startswith(("503 SessionBackendError", "500 SessionBackendError",
                          "503 SessionBackendUnavailable", "500 SessionBackendUnavailable")) for k in errors)
    else:
        checks["no errors (degrade)"] = not errors
    return {"ok": all(checks.values()), "checks": checks}


# -- soak ---------------------------------------------------------------------------


def run_soak(o: Options) -> Dict[str, Any]:
    """``o.soak`` requests without faults, sampling the server at rest as they go."""
    total = o.soak
    warmup = o.warmup if o.warmup is not None else max(total // 10, 500)
    every = o.sample_every or max((total - warmup) // 40, 100)
    topo = topologies.make(o.topology, o.socket_timeout or 5.0)
    samples: List[Dict[str, Any]] = []
    sample_lock = threading.Lock()
    with topo, AppServer(session_options(topo, o), o.mode, o.server_threads) as server:

        def sample(n: int, **params: str) -> None:
            stats = fetch_stats(server.port, collect="1", **params)
            samples.append({
                "requests": n,
                "rss_kib": stats["rss_kib"],
                "tracemalloc": stats.get("tracemalloc", {}).get("current"),
                "tracemalloc_own": stats.get("tracemalloc", {}).get("own"),
                "pool_connections": stats["pool"]["open"],
                "redis_clients": topo.client_count(),
                "threads": stats["threads"],
            })

        def on_count(n: int) -> None:
            # Tracing starts halfway through the warm-up, so that what fills once
            # and then stays bounded (urllib's cache of 128 parsed URLs, which
            # the unique /new?t=... URLs fill) is already there at the first sample.
            if n == max(warmup // 2, 1):
                fetch_stats(server.port, tracemalloc="start")
            if n == warmup or (n > warmup and (n - warmup) % every == 0):
                with sample_lock:
                    load.at_rest(lambda: sample(n))

        load = Load(server.port, o.threads, o.browsers, o.mix, o.seed, keep_records=False, on_count=on_count)
        started, ended = load.run(requests=total)
        sample(total)  # after the last request
        top = fetch_stats(server.port, tracemalloc="top", collect="1").get("tracemalloc", {}).get("top", [])
        fetch_stats(server.port, tracemalloc="stop")  # the read-back below need not be traced
        report = summarise(load, started, ended)
        report["acknowledged_writes"] = load.verify()
        report["server"] = fetch_stats(server.port)
        report["server_log"] = server.log_path
        report["redis_latency_events"] = topo.latency_events()
    report["samples"] = samples
    report["tracemalloc_top_growth"] = top
    report["options"] = {**asdict(o), "socket_timeout": topo.socket_timeout}
    report["warmup"], report["sample_every"] = warmup, every
    report["growth"] = growth(samples)
    report["passed"] = soak_passed(report, o, topo.nodes)
    return report


def growth(samples: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """First (after warm-up), last and peak of each figure."""
    out: Dict[str, Dict[str, Any]] = {}
    for key in ("rss_kib", "tracemalloc", "tracemalloc_own", "pool_connections", "redis_clients", "threads"):
        values = [s[key] for s in samples if s[key] is not None]
        if values:
            out[key] = {"first": values[0], "last": values[-1], "peak": max(values),
                        "growth": values[-1] - values[0]}
    return out


def soak_passed(report: Dict[str, Any], o: Options, nodes: int) -> Dict[str, Any]:
    g = report["growth"]
    bound = o.server_threads * nodes  # one connection per request in flight, per node
    checks = {
        "all requests done": report["requests"] == o.soak,
        "no errors": not report["errors"] and not report["answered_200_without_ack"],
        "no wrong answers": not report["violations"],
        "every acknowledged write read back": report["acknowledged_writes"]["missing"] == 0
        and report["acknowledged_writes"]["unverifiable"] == 0,
        f"RSS grew at most {o.rss_tolerance_kib} KiB": g["rss_kib"]["growth"] <= o.rss_tolerance_kib,
        f"tracemalloc grew at most {o.tracemalloc_tolerance} bytes": (
            g["tracemalloc"]["growth"] <= o.tracemalloc_tolerance
        ),
        f"pool connections at most {bound}": g["pool_connections"]["peak"] <= bound,
        f"Redis clients at most {bound}": g["redis_clients"]["peak"] <= bound,
        "threads constant": g["threads"]["first"] == g["threads"]["peak"] == g["threads"]["last"],
    }
    return {"ok": all(checks.values()), "checks": checks}
