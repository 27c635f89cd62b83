"""Over HTTP: the app under waitress, loaded by ``wrk`` on loopback.

Each implementation gets its own server process (from its own virtual
environment) with four waitress threads; ``wrk`` drives one route at a time
with 1, 16 and 64 connections.  The two servers are measured in turn for every
cell, twice, and the mean is reported.  Both servers and wrk share this
machine's cores, so the figures compare the two libraries; they are not what
a tuned deployment would serve.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
CONNECTIONS = (1, 16, 64)
SCENARIOS = ("read", "write", "new")
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, impl: str, python: str, redis_url: str):
        self.impl = impl
        self.port = _free_port()
        self.proc = subprocess.Popen([python, str(HERE / "serve.py"), impl, str(self.port), redis_url],
                                     cwd=str(HERE), stdout=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url("/untouched"), timeout=1):
                    break
            except OSError as exc:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{impl} server did not start") from exc
                time.sleep(0.05)
        with urllib.request.urlopen(self.url("/setup"), timeout=5) as resp:
            self.cookie = resp.headers["Set-Cookie"].split(";", 1)[0]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def parse_wrk(text: str) -> Dict[str, float]:
    """Requests/s, p50/p99 latency in ms, and failures, from ``wrk --latency`` output."""
    out: Dict[str, float] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        out[f"p{pct}"] = float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["failures"] = float(bad.group(1)) if bad else 0.0
    out["failures"] += sum(float(g) for g in errors.groups()) if errors else 0.0
    return out


def wrk(server: Server, scenario: str, connections: int, seconds: float) -> Dict[str, float]:
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if scenario != "new":
        cmd += ["-H", f"Cookie: {server.cookie}"]
    cmd.append(server.url("/" + scenario))
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def run(report: Any, redis_url: str, v181_python: Optional[str], quick: bool = False) -> Optional[List[Dict[str, Any]]]:
    if shutil.which("wrk") is None:
        report.say("HTTP: skipped, wrk is not installed (apt-get install wrk)")
        report.say()
        return None
    seconds = 1 if quick else 3
    rounds = 1 if quick else 2
    servers = [Server("ours", sys.executable, redis_url)]
    if v181_python:
        servers.append(Server("v181", v181_python, redis_url))
    servers.append(Server("ours+cache", sys.executable, redis_url))  # local_cache on; read rows only
    rows: List[Dict[str, Any]] = []
    try:
        for server in servers:  # warm up
            wrk(server, "read", 16, 1)
        for scenario in SCENARIOS:
            for connections in CONNECTIONS:
                measured = [s for s in servers if s.impl != "ours+cache" or scenario == "read"]
                cell: Dict[str, List[Dict[str, float]]] = {s.impl: [] for s in measured}
                for _ in range(rounds):
                    for server in measured:
                        cell[server.impl].append(wrk(server, scenario, connections, seconds))
                for impl, runs in cell.items():
                    mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
                    mean["failures"] = sum(r["failures"] for r in runs)  # a total: one failure must not round to 0
                    rows.append({"impl": impl, "scenario": scenario, "connections": connections, **mean})
    finally:
        for server in servers:
            server.stop()
    report.say(f"HTTP: waitress (4 threads) + wrk on loopback, {seconds} s per run, mean of {rounds} interleaved runs "
               f"(fail: failed requests, both versions, all runs)")
    report.say(f"{'scenario':9s} {'conns':>5s} {'ours req/s':>11s} {'p50 ms':>7s} {'p99 ms':>7s} "
               f"{'1.8.1 req/s':>12s} {'p50 ms':>7s} {'p99 ms':>7s} {'ratio':>6s} {'fail':>5s}")
    for scenario in SCENARIOS:
        for connections in CONNECTIONS:
            cells = {r["impl"]: r for r in rows if r["scenario"] == scenario and r["connections"] == connections}
            ours, old = cells["ours"], cells.get("v181")
            line = f"{scenario:9s} {connections:5d} {ours['rps']:11.0f} {ours['p50']:7.2f} {ours['p99']:7.2f} "
            if old:
                line += f"{old['rps']:12.0f} {old['p50']:7.2f} {old['p99']:7.2f} {ours['rps'] / old['rps']:6.2f} "
                line += f"{ours['failures'] + old['failures']:5.0f}"
            else:
                line += f"{ours['failures']:5.0f}"
            report.say(line)
    report.say()
    report.say("HTTP, local_cache: read-only requests served from the worker's cache (ours+cache), same setup")
    report.say(f"{'conns':>5s} {'cache req/s':>12s} {'p50 ms':>7s} {'p99 ms':>7s} {'ours req/s':>11s} {'cache/ours':>10s} "
               f"{'fail':>5s}")
    for connections in CONNECTIONS:
        cells = {r["impl"]: r for r in rows if r["scenario"] == "read" and r["connections"] == connections}
        cached, ours = cells["ours+cache"], cells["ours"]
        report.say(f"{connections:5d} {cached['rps']:12.0f} {cached['p50']:7.2f} {cached['p99']:7.2f} "
                   f"{ours['rps']:11.0f} {cached['rps'] / ours['rps']:10.2f} {cached['failures']:5.0f}")
    report.say()
    return rows
