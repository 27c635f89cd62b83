"""``purge`` and its progress lines (``cli/purge.py``, ``cli/progress.py``), against a real Redis and a Cluster."""

from __future__ import annotations

import itertools
import json
import re
import sys
from typing import Any, List

import pytest
import redis

from pyramid_session_redis.cli import main
from pyramid_session_redis.cli.progress import Progress
from pyramid_session_redis.exceptions import SessionBackendError
from pyramid_session_redis.keyspace import Keyspace

from .app import SECRET, make_app
from .cli_helpers import PREFIX, FakeTTY, Pipe, command_stats, keys_on, new_session, prefixed_keys, run, write_ini


@pytest.fixture
def mixed(redis_server: Any, redis_client: redis.Redis) -> List[str]:
    """25 sessions under the prefix, and keys outside it that a purge must leave."""
    app = make_app(redis_server.url, prefix=PREFIX)
    ids = [new_session(app) for _ in range(25)]
    new_session(make_app(redis_server.url, prefix="psr:other:"))
    redis_client.set("psr:sess", "the prefix without its colon")
    redis_client.set("unrelated", "1")
    redis_client.hset("a-hash", "f", "v")
    return ids


def outside(redis_client: redis.Redis) -> List[bytes]:
    return sorted(key for key in redis_client.scan_iter(count=1000) if not key.startswith(PREFIX.encode()))


def test_purge_asks_and_no_keeps_everything(ini, mixed, redis_client, monkeypatch, capsys):
    before = outside(redis_client)
    monkeypatch.setattr(sys, "stdin", FakeTTY("no\n"))
    status, out, err = run(capsys, ini, "purge", "--batch", "10")
    assert status == 1
    assert out == ""
    assert f"This deletes every key matching {PREFIX}* (redis.sessions.prefix = {PREFIX!r})" in err
    assert re.search(r"in redis://127\.0\.0\.1:\d+/0, db 0: 25 keys found\.\nType \"yes\" to delete them: ", err)
    assert err.endswith("pyramid-session-redis: not confirmed ('no' is not \"yes\"): nothing deleted\n")
    assert len(prefixed_keys(redis_client)) == 25
    assert outside(redis_client) == before


def test_purge_yes_deletes_only_the_prefixed_keys(ini, mixed, redis_client, monkeypatch, capsys):
    before = outside(redis_client)
    assert len(before) == 4
    monkeypatch.setattr(sys, "stdin", FakeTTY("yes\n"))
    status, out, err = run(capsys, ini, "purge", "--batch", "10")
    assert status == 0
    assert "25 keys found" in err
    assert re.fullmatch(rf"deleted 25 keys matching {PREFIX}\* in redis://127\.0\.0\.1:\d+/0, db 0 \(25 scanned\)\n", out)
    assert prefixed_keys(redis_client) == []
    assert outside(redis_client) == before


def test_purge_with_yes_needs_no_terminal_and_reports_progress_every_n_batches(
    ini, mixed, redis_client, monkeypatch, capsys
):
    unlink_keys = Keyspace.unlink_keys
    pages = []

    def counted(self: Keyspace, keys: Any) -> int:
        pages.append(len(keys))
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", counted)
    redis_client.config_resetstat()
    status, out, err = run(capsys, ini, "purge", "--yes", "--batch", "2", "--progress-every", "3")
    assert status == 0
    assert "deleted 25 keys" in out
    assert "Type" not in err
    purge_lines = [line for line in err.splitlines() if line.startswith("purge:")]
    batches = len(pages)
    assert batches >= 6
    # A line every third batch, and the final count unless that line just showed it.
    scanned = list(itertools.accumulate(pages))
    expected = [scanned[i - 1] for i in range(3, batches + 1, 3)]
    expected += [25] if expected[-1:] != [25] else []
    assert [int(re.search(r"scanned (\d+) of", line)[1]) for line in purge_lines] == expected
    assert purge_lines[-1] == "purge: [##############################] 100% deleted 25 / scanned 25 of ~25 keys"
    assert all("\r" not in line for line in err.splitlines())
    assert prefixed_keys(redis_client) == []
    assert command_stats(redis_client)["unlink"] <= batches


def test_progress_lines_without_a_terminal():
    stream = Pipe()
    progress = Progress(stream, "purge", 3, every=2)
    for done in (1, 2, 2, 3):
        progress.update(done, done)
    progress.finish(3, 3)  # the same counts as the last line: not written twice
    assert stream.getvalue().splitlines() == [
        "purge: [####################..........]  66% deleted 2 / scanned 2 of ~3 keys",
        "purge: [##############################] 100% deleted 3 / scanned 3 of ~3 keys",
    ]
    progress = Progress(stream, "counting", None, every=2)
    progress.update(5)
    progress.finish(5)
    assert stream.getvalue().splitlines()[-1] == "counting: scanned 5 keys"
    # A total that turned out too high (keys expired meanwhile) never shows 100%.
    assert "  99% deleted 199 / scanned 199 of ~200 keys" in Progress(stream, "purge", 200, 1).line(199, 199)


def test_purge_progress_on_a_terminal_rewrites_one_line(ini, mixed, redis_client, monkeypatch, capsys):
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = main([ini, "purge", "--yes", "--batch", "5"])
    assert status == 0
    shown = terminal.getvalue()
    purge = shown[shown.index("purge:") - 1:]
    assert purge.startswith("\rpurge: [")
    assert purge.count("\r") >= 3
    assert purge.endswith("deleted 25 / scanned 25 of ~25 keys\n")
    assert purge.count("\n") == 1


def test_purge_dry_run_counts_and_deletes_nothing(ini, mixed, redis_client, capsys):
    status, out, _ = run(capsys, ini, "purge", "--dry-run", "--batch", "7")
    assert status == 0
    assert re.fullmatch(rf"dry run: 25 keys match {PREFIX}\* in redis://127\.0\.0\.1:\d+/0, db 0; nothing deleted\n", out)
    assert len(prefixed_keys(redis_client)) == 25


def test_purge_refuses_without_a_terminal_to_confirm(ini, mixed, redis_client, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", Pipe("yes\n"))  # piped in: nobody is there to read the prompt
    status, out, err = run(capsys, ini, "purge")
    assert (status, out) == (1, "")
    assert err == "pyramid-session-redis: refused: stdin is not a terminal, so nobody can confirm: pass --yes to purge anyway\n"
    assert len(prefixed_keys(redis_client)) == 25


def test_purge_with_an_empty_prefix_is_refused_unless_asked_for(tmp_path, redis_server, redis_client, mixed, capsys):
    path = write_ini(tmp_path, redis_url=redis_server.url, secret=SECRET)  # no prefix
    count = redis_client.dbsize()
    status, out, err = run(capsys, path, "purge", "--yes")
    assert (status, out) == (1, "")
    assert "refused: redis.sessions.prefix is empty, so a purge would delete EVERY key" in err
    assert "--all-keys-in-db" in err
    assert redis_client.dbsize() == count

    status, out, err = run(capsys, path, "purge", "--dry-run")
    assert status == 0
    assert f"dry run: {count} keys match *" in out
    assert err.startswith("WARNING: redis.sessions.prefix is empty")

    status, out, err = run(capsys, path, "purge", "--yes", "--all-keys-in-db")
    assert status == 0
    assert f"deleted {count} keys matching *" in out
    assert "WARNING: redis.sessions.prefix is empty" in err
    assert redis_client.dbsize() == 0


def test_purge_without_the_counting_pass_says_unknown(ini, mixed, redis_client, monkeypatch, capsys):
    redis_client.config_resetstat()
    monkeypatch.setattr(sys, "stdin", FakeTTY("yes\n"))
    status, out, err = run(capsys, ini, "purge", "--no-count", "--batch", "1000")
    assert status == 0
    assert "db 0: unknown keys found." in err
    assert "counting:" not in err
    assert command_stats(redis_client)["scan"] == 1
    assert "deleted 25 keys" in out


def test_purge_with_nothing_to_delete(ini, redis_client, capsys):
    redis_client.set("unrelated", "1")
    status, out, _ = run(capsys, ini, "purge", "--yes")
    assert status == 0
    assert out.startswith(f"no key matches {PREFIX}* in ")
    assert redis_client.get("unrelated") == b"1"


def test_purge_stopped_by_redis_says_how_far_it_got(ini, mixed, redis_client, monkeypatch, capsys):
    unlink_keys = Keyspace.unlink_keys
    calls = []

    def fail_second(self: Keyspace, keys: Any) -> int:
        calls.append(len(keys))
        if len(calls) == 2:
            raise SessionBackendError("Redis failed during unlink_keys") from redis.ConnectionError("Connection reset by peer")
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", fail_second)
    status, out, err = run(capsys, ini, "purge", "--yes", "--batch", "5")
    assert (status, out) == (3, "")
    last = err.splitlines()[-1]
    assert re.fullmatch(
        r"pyramid-session-redis: Redis error at redis://127\.0\.0\.1:\d+/0, db 0: "
        rf"ConnectionError: Connection reset by peer \({calls[0]} keys deleted before it\)", last,
    ), last
    assert len(prefixed_keys(redis_client)) == 25 - calls[0]


def test_purge_interrupted_says_how_far_it_got(ini, mixed, redis_client, monkeypatch, capsys):
    unlink_keys = Keyspace.unlink_keys
    calls = []

    def interrupt_second(self: Keyspace, keys: Any) -> int:
        calls.append(len(keys))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return unlink_keys(self, keys)

    monkeypatch.setattr(Keyspace, "unlink_keys", interrupt_second)
    status, _, err = run(capsys, ini, "purge", "--yes", "--batch", "5")
    assert status == 130
    assert err.endswith(f"pyramid-session-redis: interrupted: {calls[0]} keys deleted so far\n")


@pytest.mark.slow
def test_cluster_stats_count_every_master_and_purge_empties_them_all(cluster, nodes, tmp_path, capsys):
    app = make_app(cluster.url, prefix=PREFIX, redis_cluster=True)
    ids = [new_session(app) for _ in range(30)]
    while not all(keys_on(node, PREFIX) for node in nodes) and len(ids) < 120:
        ids.append(new_session(app))  # until every master holds one
    per_node = [len(keys_on(node, PREFIX)) for node in nodes]
    assert all(per_node) and sum(per_node) == len(ids)
    cluster_client = app.factory.client
    for i in range(30):
        cluster_client.set(f"keep:{i}", "x")  # outside the prefix, spread over the masters too
    kept = [len(keys_on(node, "keep:")) for node in nodes]
    assert all(kept)
    path = write_ini(tmp_path, redis_url=cluster.url, redis_cluster="true", prefix=PREFIX, secret=SECRET)
    for node in nodes:
        node.config_resetstat()

    status, out, err = run(capsys, path, "stats", "--json", "--batch", "5")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["sessions"] == len(ids)
    assert report["cluster"] is True
    scans = [command_stats(node).get("scan", 0) for node in nodes]
    assert all(scans), scans  # every master was scanned
    assert report["scan_batches"] == sum(scans)

    status, out, _ = run(capsys, path, "show", ids[-1])
    assert status == 0 and out.startswith(f"session:  {ids[-1]}\n")

    status, out, err = run(capsys, path, "purge", "--yes", "--batch", "5")
    assert status == 0, err
    assert f"deleted {len(ids)} keys matching {PREFIX}*" in out
    assert "(Redis Cluster: every primary)" in out
    assert [keys_on(node, PREFIX) for node in nodes] == [[], [], []]
    assert [len(keys_on(node, "keep:")) for node in nodes] == kept

    status, _, err = run(capsys, path, "delete", ids[0])
    assert status == 1

    # An application that configures its factory in Python: the location given on the command line.
    for _ in range(10):
        new_session(app)
    bare = tmp_path / "bare.ini"
    bare.write_text("[app:main]\nuse = call:tests.cli_app:app_factory\n")
    status, out, _ = run(capsys, str(bare), "stats", "--json", "--redis-url", cluster.url, "--cluster", "--prefix", PREFIX)
    assert status == 0
    assert (json.loads(out)["sessions"], json.loads(out)["cluster"]) == (10, True)
    assert sum(len(keys_on(node, PREFIX)) for node in nodes) == 10
