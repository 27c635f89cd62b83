"""Short forms of ``python -m loadtest.stall``: gunicorn, a real redis-server stopped with SIGSTOP.

The full forms (10 s stalls), and the figures they gave, are in
docs/reliability.rst ("The circuit breaker").  Here Redis stalls for 2.5 s,
with 0.5 s timeouts and a 1 s cool-down, under gunicorn's gthread workers
(raise mode) and sync workers (degrade mode).
"""

from __future__ import annotations

import pytest

from loadtest.stall import StallOptions, run_stall, waiting_bound
from pyramid_session_redis.testing.servers import find_redis_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_redis_server() is None, reason="needs a redis-server binary"),
]

pytest.importorskip("gunicorn")

SHORT = dict(socket_timeout=0.5, cooldown=1.0, before=1.0, stall=2.5, after=2.0, browsers=40, session_threads=6)


def assert_failed_fast_and_recovered(report, options):
    assert report["fault_error"] is None
    stalled = report["session_during_stall"]
    # The first requests wait for the timeout, no longer; the others fail at once.
    assert stalled["failed"] > 50 and stalled["succeeded"] == 0, stalled
    assert stalled["first_failure"]["took"] <= options.socket_timeout + 0.4, stalled
    assert stalled["failure_max"] <= options.socket_timeout + 0.4, stalled
    assert stalled["waited_for_redis"] <= waiting_bound(options, options.cooldown), stalled
    assert stalled["failure_p50"] < 0.05, stalled
    # Back within one cool-down of SIGCONT, in every worker process.
    recovery = report["recovery"]
    assert recovery["first_success_after_resume"] is not None, recovery
    assert recovery["last_failure_started_after_resume"] is None or (
        recovery["last_failure_started_after_resume"] <= options.cooldown + 0.25), recovery
    assert recovery["succeeded_after_resume"] > 20, recovery
    # Nothing acknowledged was lost, and no answer contradicted an earlier one.
    checked = report["acknowledged_writes"]
    assert checked["checked"] > 20 and checked["missing"] == 0 and checked["unverifiable"] == 0, checked
    assert not report["violations"], report["violation_examples"]
    log = report["breaker_log"]
    assert log["opened"] >= 1 and log["closed"] >= 1, log
    assert report["plain"]["errors"] == 0


def test_gthread_workers_raise_mode_keep_plain_pages_fast():
    options = StallOptions(worker_class="gthread", workers=2, threads=4, mode="raise", **SHORT)
    report = run_stall(options)
    assert_failed_fast_and_recovered(report, options)
    kinds = report["session_during_stall"]["kinds"]
    assert any("SessionBackendUnavailable" in kind for kind in kinds), kinds
    # A thread waiting for Redis leaves the worker's other threads free: once each
    # worker has seen Redis fail, no plain page waits anywhere near a timeout.
    # (Not the p99 of the full run: a hundred pages on a busy 2-CPU machine.)
    plain = report["plain"]["during_after_first_timeout"]
    assert plain["p50"] < 0.05 and plain["max"] < options.socket_timeout, report["plain"]


def test_sync_workers_degrade_mode_serve_empty_sessions_at_once():
    options = StallOptions(worker_class="sync", workers=2, mode="degrade", **SHORT)
    report = run_stall(options)
    assert_failed_fast_and_recovered(report, options)
    assert set(report["session_during_stall"]["kinds"]) <= {"degraded", "unsaved"}, report
    assert report["session_all"]["kinds"].keys() <= {"ok", "degraded", "unsaved"}, report
    # A sync worker is held for one timeout by its first request and by each try
    # (one per cool-down): a plain page may wait that long, never longer.
    assert report["plain"]["during"]["max"] <= options.socket_timeout + 0.4, report["plain"]
    assert report["plain"]["during"]["p50"] < 0.05, report["plain"]
