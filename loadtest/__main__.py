"""``python -m loadtest``: sessions under load while Redis is killed, or a long soak.

Fault run (the default)::

    python -m loadtest --topology single --mode raise --duration 45 --kill-after 15 --down-for 2

Soak (no faults; memory, tracemalloc and Redis connections sampled)::

    python -m loadtest --soak 200000

Run from the repository root.  Prints a summary; ``--json FILE`` writes the
whole report.  Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from loadtest.run import Options, run_fault, run_soak  # noqa: E402


def parse(argv: List[str]) -> Options:
    defaults = Options()
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--topology", choices=("single", "sentinel", "cluster"), default=defaults.topology)
    p.add_argument("--mode", choices=("raise", "degrade"), default=defaults.mode, help="on_backend_error")
    p.add_argument("--duration", type=float, default=defaults.duration, help="seconds of load (fault run)")
    p.add_argument("--threads", type=int, default=defaults.threads, help="client connections")
    p.add_argument("--server-threads", type=int, default=defaults.server_threads, help="waitress threads")
    p.add_argument("--browsers", type=int, default=defaults.browsers, help="cookie jars")
    p.add_argument("--kill-after", type=float, default=defaults.kill_after, help="seconds into the run")
    p.add_argument("--down-for", type=float, default=defaults.down_for,
                   help="seconds before the restart (single, cluster)")
    p.add_argument("--socket-timeout", type=float, default=None,
                   help="redis_socket_timeout and redis_socket_connect_timeout "
                        "(default 0.5 s for a fault run, 5 s for a soak)")
    p.add_argument("--cooldown", type=float, default=None,
                   help="backend_cooldown, the circuit breaker's (default: the package's; 0 turns it off)")
    p.add_argument("--mix", default="20,50,30", help="weights of new,read,write requests")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--soak", type=int, default=0, metavar="N", help="soak: N requests, no faults")
    p.add_argument("--warmup", type=int, default=None, help="soak: requests before the first sample")
    p.add_argument("--sample-every", type=int, default=None)
    p.add_argument("--rss-tolerance-kib", type=int, default=defaults.rss_tolerance_kib)
    p.add_argument("--tracemalloc-tolerance", type=int, default=defaults.tracemalloc_tolerance, help="bytes")
    p.add_argument("--json", metavar="FILE", help="write the whole report here")
    a = p.parse_args(argv)
    mix = tuple(int(x) for x in a.mix.split(","))
    if len(mix) != 3:
        p.error("--mix takes three weights: new,read,write")
    options = Options(
        topology=a.topology, mode=a.mode, duration=a.duration, threads=a.threads,
        server_threads=a.server_threads, browsers=a.browsers, kill_after=a.kill_after,
        down_for=a.down_for, socket_timeout=a.socket_timeout, cooldown=a.cooldown, mix=mix, seed=a.seed,  # type: ignore[arg-type]
        soak=a.soak, warmup=a.warmup, sample_every=a.sample_every,
        rss_tolerance_kib=a.rss_tolerance_kib, tracemalloc_tolerance=a.tracemalloc_tolerance,
    )
    options.extra["json"] = a.json
    return options


def _line(label: str, value: Any) -> None:
    print(f"  {label:<34} {value}")


def show(report: Dict[str, Any]) -> None:
    o = report["options"]
    what = f"soak of {o['soak']} requests" if o["soak"] else f"fault run, {o['duration']} s"
    print(f"loadtest: {what}, topology {o['topology']}, on_backend_error = {o['mode']}, "
          f"{o['threads']} connections, {o['server_threads']} waitress threads, {o['browsers']} browsers, "
          f"Redis timeouts {o['socket_timeout']} s, backend_cooldown {o.get('cooldown')} s")
    _line("requests", f"{report['requests']} in {report['seconds']} s ({report['per_second']}/s) {report['by_op']}")
    _line("succeeded (acknowledged)", report["succeeded"])
    _line("200 without acknowledgement", report["answered_200_without_ack"] or "none")
    _line("errors", report["errors"] or "none")
    lr = report["longest_request"]
    _line("longest request", f"{lr['seconds']} s ({lr['op']}: {lr['kind']})")
    if "longest_gap_without_success" in report:
        g = report["longest_gap_without_success"]
        _line("longest gap without a success", f"{g['seconds']} s (from {g['from']} to {g['to']} s after the kill)")
    if "recovery" in report:
        _line("timeline (s after the kill)", report["timeline"])
        _line("recovery (s)", report["recovery"])
        _line("served", report["served"])
        _line("latency, all requests (s)", report["latency"])
        _line("latency, started during the fault", report["latency_during_fault"])
    if report.get("fault_error"):
        _line("FAULT INJECTION FAILED", report["fault_error"])
    aw = report["acknowledged_writes"]
    _line("acknowledged sessions read back", f"{aw['checked']} checked, {aw['missing']} missing, "
          f"{aw['unverifiable']} unverifiable, {aw['ahead']} ahead")
    if report["violations"]:
        _line("WRONG ANSWERS", report["violations"])
    server = report["server"]
    _line("server: backend errors reported", server["backend_errors"] or "none")
    _line("server: exceptions that escaped", server["escaped"] or "none")
    _line("server: warnings logged", server["log_records"] or "none")
    _line("Redis blocked >= 100 ms (LATENCY)", report.get("redis_latency_events") or "never")
    if "growth" in report:
        for key, g in report["growth"].items():
            _line(f"soak {key}", f"first {g['first']}, last {g['last']}, peak {g['peak']} (growth {g['growth']})")
        _line("soak warm-up / sample every", f"{report['warmup']} / {report['sample_every']} requests")
    verdict = report["passed"]
    for name, ok in verdict["checks"].items():
        print(f"  [{'ok' if ok else 'FAIL'}] {name}")
    print("loadtest: " + ("PASSED" if verdict["ok"] else "FAILED"))


def main(argv: List[str]) -> int:
    options = parse(argv)
    # SIGTERM unwinds the stack as Ctrl-C does, so that the app server and the
    # redis-servers are stopped and their directories removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run_soak(options) if options.soak else run_fault(options)
    show(report)
    if options.extra.get("json"):
        with open(options.extra["json"], "w") as fh:
            json.dump(report, fh, indent=2, default=str)
    return 0 if report["passed"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
