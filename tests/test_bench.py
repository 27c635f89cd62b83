"""The benchmark's own pieces, so that they keep measuring what they claim to.

The throughput figures are not checked here (timed tests lie); what is checked
is that each benchmark app sends the Redis commands the round-trip table
promises (ours, a default install with on_conflict = merge: the checked
EVALSHA for a write; ours+overwrite and the floor: a plain SET), that the
benchmark's own count from ``INFO commandstats`` agrees with MONITOR's, that
the worker protocol works end to end, and that wrk's output is parsed right.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wsgiapps
from bench.overhttp import parse_wrk
from bench.run import Row, command_counts, impls_for, main_rows, serializer_rows, size_rows, write_rows

ROWS = [row for row in main_rows() if row.size == 0]
WRITE_ROWS = [row for row in ROWS if row.scenario in ("write", "nested")]


def _one_request(impl, row, url, commands):
    browser = wsgiapps.Browser(wsgiapps.make_app(impl, url, row.scenario, row.policy, row.size))
    if row.scenario not in ("new", "untouched"):
        browser.get("/setup")
        assert browser.cookie is not None
    browser.get("/" + row.scenario, keep_cookie=row.scenario != "new")  # connections are set up
    commands.reset()
    body = browser.get("/" + row.scenario, keep_cookie=row.scenario != "new")
    return commands.counts(), body


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_ours_sends_the_commands_of_the_round_trip_table(row, redis_server, redis_client, commands):
    counts, _ = _one_request("ours", row, redis_server.url, commands)
    assert counts == wsgiapps.expected_commands(row.scenario, row.policy, "ours")
    if row.scenario in ("write", "nested"):
        load = "get" if row.policy in ("trigger", "lru") else "getex"
        assert counts == {load: 1, "evalsha": 1}  # on_conflict defaults to merge: the checked write


SERIALIZER_ROWS = [Row(row.scenario, row.policy, 0) for row in serializer_rows() if row.policy != "default"]


@pytest.mark.parametrize("row", SERIALIZER_ROWS, ids=[row.label for row in SERIALIZER_ROWS])
def test_the_serializer_rows_measure_the_named_serializers(row, redis_server, redis_client, commands):
    assert wsgiapps.policy_options(row.policy) == {"serializer": row.policy}  # what users configure
    counts, _ = _one_request("ours", row, redis_server.url, commands)
    assert counts == wsgiapps.expected_commands(row.scenario, row.policy, "ours")
    assert json.loads(redis_client.get(redis_client.keys("*")[0]))["v"] == 1  # the same JSON payload


CACHED_ROWS = [row for row in ROWS if "ours+cache" in impls_for(row, ["ours", "ours+cache"])]


def test_the_cache_is_measured_on_read_rows_of_every_ttl_policy():
    everything = ["ours", "ours+cache"]
    measured = {row for row in set(main_rows() + serializer_rows() + size_rows()) if "ours+cache" in impls_for(row, everything)}
    assert {(row.policy, row.size) for row in measured} >= {("default", 0), ("trigger", 0), ("lru", 0),
                                                            ("readheavy", 0), ("default", 10_000)}
    assert all(row.scenario == "read" for row in measured)


@pytest.mark.parametrize("row", CACHED_ROWS, ids=[row.label for row in CACHED_ROWS])
def test_ours_cache_reads_send_no_command(row, redis_server, redis_client, commands):
    counts, body = _one_request("ours+cache", row, redis_server.url, commands)
    assert counts == wsgiapps.expected_commands(row.scenario, row.policy, "ours+cache") == {}
    assert body.isdigit()  # it read the session's int


@pytest.mark.parametrize("row", WRITE_ROWS, ids=[row.label for row in WRITE_ROWS])
def test_ours_overwrite_writes_with_a_plain_set(row, redis_server, redis_client, commands):
    counts, _ = _one_request("ours+overwrite", row, redis_server.url, commands)
    load = "get" if row.policy in ("trigger", "lru") else "getex"
    assert counts == wsgiapps.expected_commands(row.scenario, row.policy, "ours+overwrite") == {load: 1, "set": 1}


@pytest.mark.parametrize("row", ROWS, ids=[row.label for row in ROWS])
def test_floor_sends_exactly_the_commands_of_the_table(row, redis_server, redis_client, commands):
    counts, _ = _one_request("floor", row, redis_server.url, commands)
    assert counts == wsgiapps.expected_commands(row.scenario, row.policy)
    assert "evalsha" not in counts  # the floor is the minimum: a write is a plain SET


@pytest.mark.parametrize("impl", ["ours", "ours+overwrite", "floor"])
@pytest.mark.parametrize("scenario", ["write", "nested"])
def test_commandstats_count_agrees_with_monitor_on_a_write(impl, scenario, redis_server, redis_client, commands):
    # The benchmark counts with INFO commandstats (MONITOR would slow Redis
    # down); it must take off the GETRANGE and SET the script runs inside Redis.
    browser = wsgiapps.Browser(wsgiapps.make_app(impl, redis_server.url, scenario, "default", 0))
    browser.get("/setup")
    browser.get("/" + scenario)
    commands.reset()
    redis_client.config_resetstat()
    for _ in range(3):
        browser.get("/" + scenario)
    counts = {name: n for name, n in command_counts(redis_client).items() if n}
    seen = commands.counts()
    assert counts == seen == {name: 3 * n for name, n in wsgiapps.expected_commands(scenario, "default", impl).items()}


def test_read_view_really_reads_the_session(redis_server, redis_client, commands):
    _, body = _one_request("ours", Row("read"), redis_server.url, commands)
    assert body == b"1"  # the value /setup stored, read back through the session


def test_write_view_really_counts(redis_server, redis_client):
    browser = wsgiapps.Browser(wsgiapps.make_app("ours", redis_server.url, "write", "default", 0))
    browser.get("/setup")
    for _ in range(3):
        browser.get("/write")
    session_keys = redis_client.keys("*")
    assert len(session_keys) == 1
    assert json.loads(redis_client.get(session_keys[0]))["m"]["n"] == 4


def test_commandstats_count_takes_off_nothing_for_an_evalsha_that_found_no_script(redis_server, redis_client, commands):
    browser = wsgiapps.Browser(wsgiapps.make_app("ours", redis_server.url, "write", "default", 0))
    browser.get("/setup")
    redis_client.script_flush()
    commands.reset()
    redis_client.config_resetstat()
    browser.get("/write")  # EVALSHA fails with NOSCRIPT, then EVAL runs the script once
    counts = {name: n for name, n in command_counts(redis_client).items() if n}
    assert counts == commands.counts() == {"getex": 1, "evalsha": 1, "eval": 1}


def test_every_row_that_writes_measures_ours_against_overwrite():
    everything = ["ours", "floor", "v181", "floor+codec", "ours+hiredis", "ours+msgspec", "none", "signed",
                  "ours+overwrite"]
    writes = {row for row in main_rows() + serializer_rows() + size_rows() if row.scenario in ("write", "nested")}
    assert set(write_rows()) == writes and len(write_rows()) == len(writes)
    for row in set(main_rows() + serializer_rows() + size_rows()):
        assert ("ours+overwrite" in impls_for(row, everything)) == (row in writes)


@pytest.mark.parametrize("impl", ["ours", "ours+hiredis", "ours+msgspec", "ours+overwrite", "ours+cache", "v181",
                                  "floor"])
def test_round_trip_table_write_commands_by_impl(impl):
    checked = impl in ("ours", "ours+hiredis", "ours+msgspec", "ours+cache")
    assert (impl in wsgiapps.CHECKED_IMPLS) == checked
    for policy in ("default", "trigger", "lru", "readheavy", "pickle"):
        load = "get" if policy in ("trigger", "lru") else "getex"
        want = {load: 1, "evalsha": 1} if checked else {load: 1, "set": 1}
        assert wsgiapps.expected_commands("write", policy, impl) == want
        assert wsgiapps.expected_commands("nested", policy, impl) == want
        assert wsgiapps.expected_commands("read", policy, impl) == ({} if impl == "ours+cache" else {load: 1})
        assert wsgiapps.expected_commands("new", policy, impl) == {"set": 1}


def test_filler_is_about_the_size_asked_for():
    for size in (1_000, 10_000, 100_000):
        encoded = len(json.dumps(wsgiapps.filler(size), separators=(",", ":")))
        assert 0.8 * size <= encoded <= 1.2 * size


def test_worker_protocol_end_to_end(redis_server):
    bench_dir = Path(__file__).resolve().parent.parent / "bench"
    proc = subprocess.Popen([sys.executable, str(bench_dir / "worker.py"), "ours"], cwd=str(bench_dir),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        def call(**msg):
            proc.stdin.write(json.dumps(msg) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        hello = call(op="hello")
        assert hello["ok"] and hello["impl"] == "ours" and hello["package_file"].endswith("__init__.py")
        assert call(op="setup", redis_url=redis_server.url, scenario="read", policy="default", size=0, warmup=2)["ok"]
        run = call(op="run", seconds=0.05)
        assert run["ok"] and run["n"] >= 8 and run["elapsed"] >= 0.05
        soak = call(op="cache_soak", redis_url=redis_server.url, n=60, every=30, sessions=20)
        assert soak["ok"] and [s["requests"] for s in soak["samples"]] == [30, 60]
        assert soak["samples"][-1]["entries"] == 20 and soak["samples"][-1]["hits"] >= 40  # all held after one pass
        bad = call(op="setup", redis_url=redis_server.url, scenario="read", policy="nonsense", size=0)
        assert bad["ok"] is False and "unknown policy" in bad["error"]
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:40001/read
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.51ms    2.31ms  30.12ms   80.00%
    Req/Sec   827.00     50.00     0.90k    70.00%
  Latency Distribution
     50%    9.39ms
     75%   10.50ms
     90%   12.00ms
     99%  850.00us
  4944 requests in 3.00s, 1.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1648.12
Transfer/sec:    340.00KB
"""


def test_parse_wrk_reads_rate_percentiles_in_ms_and_failures():
    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed["rps"] == pytest.approx(1648.12)
    assert parsed["p50"] == pytest.approx(9.39)
    assert parsed["p99"] == pytest.approx(0.85)  # us converted to ms
    assert parsed["failures"] == 7
