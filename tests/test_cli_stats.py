"""``stats`` (``cli/stats.py``): exact counts, buckets and percentiles from paged SCANs, against a real Redis."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from pyramid_session_redis.cli import main
from pyramid_session_redis.keyspace import Keyspace

from .app import SECRET, make_app
from .cli_helpers import PREFIX, FakeTTY, command_stats, new_session, payload_size, prefixed_keys, run, write_ini
from .conftest import CommandCounter

GROUPS = (  # (options, value length, sessions): 2,500 sessions, every size and TTL bucket
    ({"timeout": 240}, 10, 1000),  # TTL 1 - 5 min, < 100 B
    ({"timeout": 600}, 500, 1000),  # 5 - 20 min, 100 B - 1 KiB
    ({"timeout": 7200}, 5000, 300),  # 1 h - 1 day, 1 - 10 KiB
    ({"timeout": 172800}, 50_000, 100),  # >= 1 day, 10 - 100 KiB
    ({"timeout": 600, "set_redis_ttl": False}, 200_000, 100),  # no TTL (LRU mode), 100 KiB - 1 MiB
)


def test_stats_pages_through_2500_sessions_with_exact_counts_and_buckets(ini, redis_server, redis_client, capsys):
    sizes = []
    for options, length, count in GROUPS:
        app = make_app(redis_server.url, prefix=PREFIX, **options)
        for _ in range(count):
            new_session(app, "x" * length)
        lru = not options.get("set_redis_ttl", True)
        sizes.append(payload_size("x" * length, options["timeout"], expires=lru))
    # Outside the prefix, and so not counted: another prefix, the prefix without its last
    # character, and a key that is not a string.
    redis_client.set("other:1", "x")
    redis_client.set(PREFIX[:-1], "x")
    redis_client.hset("unrelated", "a", "1")
    redis_client.config_resetstat()

    status, out, err = run(capsys, ini, "stats", "--json", "--batch", "100")

    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["sessions"] == 2500
    assert report["scanned"] == 2500
    assert report["total_bytes"] == sum(size * count for size, (_, _, count) in zip(sizes, GROUPS))
    assert report["match"] == PREFIX + "*"
    assert report["whole_database"] is False and "warning" not in report
    assert (report["not_strings"], report["vanished"]) == (0, 0)
    size = report["size_bytes"]
    assert (size["min"], size["median"], size["p90"], size["p99"], size["max"]) == (
        sizes[0], sizes[1], sizes[2], sizes[4], sizes[4],
    )
    assert size["buckets"] == {
        "< 100 B": 1000, "100 B - 1 KiB": 1000, "1 - 10 KiB": 300, "10 - 100 KiB": 100,
        "100 KiB - 1 MiB": 100, ">= 1 MiB": 0,
    }
    ttl = report["ttl_seconds"]
    assert (ttl["with_ttl"], ttl["no_ttl"]) == (2400, 100)
    assert ttl["buckets"] == {
        "< 1 min": 0, "1 - 5 min": 1000, "5 - 20 min": 1000, "20 min - 1 h": 0, "1 h - 1 day": 300,
        ">= 1 day": 100, "no TTL": 100,
    }
    # TTLs tick down while the test runs: each is its timeout, or a little less.
    assert 180 <= ttl["min"] <= 240
    assert 540 <= ttl["median"] <= 600
    assert 7140 <= ttl["p90"] <= 7200
    assert 172740 <= ttl["p99"] <= ttl["max"] <= 172800

    # Paged: many SCAN calls of COUNT 100, one STRLEN and one TTL per key, never KEYS.
    calls = command_stats(redis_client)
    assert report["scan_batches"] == calls["scan"] >= 10
    assert calls["strlen"] == calls["ttl"] == 2500
    assert "keys" not in calls
    assert redis_client.get("other:1") == b"x"


def test_every_walk_sends_scan_match_escaped_prefix_count_never_keys(tmp_path, redis_server, redis_client, capsys):
    prefix = "a*b?[c]\\:"
    app = make_app(redis_server.url, prefix=prefix, timeout=600)
    ids = [new_session(app) for _ in range(5)]
    # Keys that the unescaped pattern a*b?[c]\:* would match too.
    lookalikes = [b"aXXbYc:1", b"abZc:2", b"a*b?c:3"]
    for key in lookalikes:
        redis_client.set(key, "not a session")
    path = write_ini(tmp_path, redis_url=redis_server.url, prefix=prefix, secret=SECRET)
    counter = CommandCounter(redis_client)
    try:
        counter.reset()
        status, out, _ = run(capsys, path, "stats", "--json", "--batch", "3")
        assert status == 0
        assert json.loads(out)["sessions"] == 5
        status, out, _ = run(capsys, path, "purge", "--yes", "--batch", "3")
        assert status == 0
        assert "deleted 5 keys" in out
        counts = counter.counts()
        seen = list(counter._seen)
    finally:
        counter.close()
    scans = [line for line in seen if line.startswith("SCAN ")]
    assert scans and len(scans) == counts["scan"]
    wire = r"a\*b\?\[c\]\\:*"  # the prefix with each of * ? [ ] \ escaped, then *
    shown = wire.replace("\\", "\\\\")  # as MONITOR shows it: backslashes doubled
    assert all(re.fullmatch(r"SCAN \d+ MATCH " + re.escape(shown) + " COUNT 3", line) for line in scans), scans
    unlinks = [line for line in seen if line.startswith("UNLINK ")]
    assert sum(len(line.split()) - 1 for line in unlinks) == 5
    assert "keys" not in counts
    assert all(redis_client.exists(prefix + i) == 0 for i in ids)
    assert all(redis_client.get(key) == b"not a session" for key in lookalikes)


def test_stats_text_output(ini, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, timeout=600)
    for _ in range(3):
        new_session(app, "x" * 500)
    lru = make_app(redis_server.url, prefix=PREFIX, timeout=600, set_redis_ttl=False)
    new_session(lru, "y")
    redis_client.set(PREFIX + "broken", b"\x00")  # a session key whose payload does not decode: still counted

    status, out, err = run(capsys, ini, "stats")

    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"prefix:      {PREFIX!r}"
    assert lines[1] == f"redis:       {redis_server.url}, db 0"
    assert lines[2] == f"scanned:     5 keys in 1 SCAN batches (MATCH {PREFIX}* COUNT 1000)"
    assert lines[3] == "sessions:    5"
    big, small = payload_size("x" * 500, 600), payload_size("y", 600, expires=True)
    total = 3 * big + small + 1
    assert lines[4] == f"total size:  {total} bytes ({total / 1024:.1f} KiB)"
    assert lines[6].split() == ["min", "median", "p90", "p99", "max"]
    assert lines[7].split() == ["size", "(bytes)", "1", str(big), str(big), str(big), str(big)]
    assert lines[8].split()[:2] == ["TTL", "(seconds)"]
    for label, count in (("< 100 B", 2), ("100 B - 1 KiB", 3), ("5 - 20 min", 3), ("no TTL", 2)):
        assert f"  {label:15}{count:>10}" in lines


def test_stats_text_of_sessions_without_ttl_has_no_ttl_row(ini, redis_server, capsys):
    app = make_app(redis_server.url, prefix=PREFIX, timeout=600, set_redis_ttl=False)
    new_session(app)
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    lines = out.splitlines()
    assert lines[7].startswith("size (bytes)")
    assert not any(line.startswith("TTL (seconds)") for line in lines)
    assert f"  {'no TTL':15}{1:>10}" in lines


def test_stats_of_no_sessions(ini, redis_client, capsys):
    redis_client.set("other:1", "x")
    status, out, _ = run(capsys, ini, "stats", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["sessions"], report["total_bytes"], report["scanned"]) == (0, 0, 0)
    assert report["size_bytes"]["median"] is None and report["ttl_seconds"]["max"] is None
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    assert "sessions:    0" in out.splitlines()
    assert "median" not in out


def test_stats_with_an_empty_prefix_says_loudly_that_it_counts_every_key(tmp_path, redis_server, redis_client, capsys):
    app = make_app(redis_server.url, timeout=600)
    new_session(app)
    redis_client.set("not-a-session", "x")
    redis_client.hset("a-hash", "field", "value")
    path = write_ini(tmp_path, redis_url=redis_server.url, secret=SECRET)

    status, out, err = run(capsys, path, "stats")
    assert status == 0
    assert err.startswith("WARNING: redis.sessions.prefix is empty")
    assert "EVERY key" in err
    assert out.splitlines()[0] == "prefix:      ''   <-- EMPTY: every key in the database counts"
    assert "sessions:    2" in out  # the session and the other string: no way to tell them apart
    assert "not strings: 1 keys (not sessions; left out)" in out

    status, out, err = run(capsys, path, "stats", "--json")
    report = json.loads(out)
    assert report["whole_database"] is True
    assert "redis.sessions.prefix" in report["warning"]
    assert (report["sessions"], report["not_strings"]) == (2, 1)


def test_stats_progress_on_a_terminal(ini, redis_server, monkeypatch, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    for _ in range(30):
        new_session(app)
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = main([ini, "stats", "--batch", "5"])
    assert status == 0
    shown = terminal.getvalue()
    assert shown.count("\r") >= 4
    assert shown.endswith("stats: scanned 30 keys\n")


def test_a_key_that_vanishes_during_the_walk_is_left_out(ini, redis_server, redis_client, monkeypatch, capsys):
    app = make_app(redis_server.url, prefix=PREFIX)
    ids = [new_session(app) for _ in range(4)]
    sizes_and_ttls = Keyspace.sizes_and_ttls

    def expire_one_first(self: Keyspace, keys: Any) -> Any:
        redis_client.delete(keys[0])  # expires between SCAN and TTL
        return sizes_and_ttls(self, keys)

    monkeypatch.setattr(Keyspace, "sizes_and_ttls", expire_one_first)
    status, out, _ = run(capsys, ini, "stats", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["sessions"], report["vanished"], report["scanned"]) == (3, 1, 4)
    status, out, _ = run(capsys, ini, "stats")
    assert status == 0
    assert "sessions:    2" in out.splitlines()
    assert "vanished:    1 keys (expired or deleted during the scan; left out)" in out.splitlines()
    assert len(prefixed_keys(redis_client)) == 2 and len(ids) == 4


def test_stats_interrupted(ini, redis_server, monkeypatch, capsys):
    new_session(make_app(redis_server.url, prefix=PREFIX))

    def interrupt(self: Keyspace, keys: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Keyspace, "sizes_and_ttls", interrupt)
    status, out, err = run(capsys, ini, "stats")
    assert (status, out, err) == (130, "", "pyramid-session-redis: interrupted\n")
