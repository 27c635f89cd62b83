"""``stats --sample N`` (``cli/stats.py``): estimates from RANDOMKEY draws, against a real Redis.

Random, so the checks allow for chance: each tolerance is five or more standard
deviations of the estimate, which a correct estimator misses about once in
millions of runs; a biased one (counting only part of the database, forgetting
to scale) misses it by far.
"""

from __future__ import annotations

import json
import math
import re
import sys

import pytest
import redis

from pyramid_session_redis.cli import main
from pyramid_session_redis.cli.stats import MAX_DRAWS_PER_SESSION

from .app import SECRET, make_app
from .cli_helpers import PREFIX, FakeTTY, command_stats, keys_on, new_session, run, write_ini

SMALL, LARGE = 100, 2000  # payload sizes of the two kinds of session


def fill(client: redis.Redis, sessions: int, others: int) -> None:
    """``sessions`` keys under the prefix, half of SMALL bytes for 10 minutes, half of LARGE bytes
    for 2 hours, and ``others`` keys outside it: what stats reads of a session is only its size and TTL."""
    pipe = client.pipeline(transaction=False)
    for i in range(sessions):
        if i % 2:
            pipe.set(f"{PREFIX}s{i}", b"s" * SMALL, ex=600)
        else:
            pipe.set(f"{PREFIX}l{i}", b"l" * LARGE, ex=7200)
    for i in range(others):
        pipe.set(f"other:{i}", b"x")
    pipe.execute()


def within(estimate: int, true: int, keys: int, share: float, draws: int, sds: float = 5.0) -> bool:
    """``estimate`` of a count ``true`` (a share ``share`` of ``keys`` keys) within ``sds`` standard deviations."""
    return abs(estimate - true) <= sds * keys * math.sqrt(share * (1 - share) / draws)


def test_sample_estimates_counts_and_sizes_from_randomkey_draws(ini, redis_client, capsys):
    fill(redis_client, 3000, 3000)
    redis_client.config_resetstat()

    status, out, err = run(capsys, ini, "stats", "--sample", "500", "--json", "--batch", "200")

    assert (status, err) == (0, "")
    report = json.loads(out)
    sampled = report["sampled"]
    assert sampled["method"] == "RANDOMKEY"
    assert sampled["keys_in_database"] == 6000
    assert sampled["sessions_wanted"] == 500
    assert 500 <= sampled["sessions_drawn"] < 700  # stops once it has them (the last pipeline may add some)
    draws = sampled["draws"]
    assert within(report["sessions"], 3000, 6000, 0.5, draws)
    share = sampled["sessions_drawn"] / draws
    assert report["sessions"] == round(sampled["sessions_drawn"] * 6000 / draws)
    assert sampled["sessions_margin_95"] == round(1.96 * math.sqrt(share * (1 - share) / draws) * 6000)
    size = report["size_bytes"]
    assert (size["min"], size["max"]) == (SMALL, LARGE)  # the sample's own, not scaled
    assert within(size["buckets"]["100 B - 1 KiB"], 1500, 6000, 0.25, draws)
    assert within(size["buckets"]["1 - 10 KiB"], 1500, 6000, 0.25, draws)
    assert sum(size["buckets"].values()) == pytest.approx(report["sessions"], abs=2)
    # Every count is scaled alike: the total is what the two buckets' sessions weigh (to rounding).
    expected_bytes = SMALL * size["buckets"]["100 B - 1 KiB"] + LARGE * size["buckets"]["1 - 10 KiB"]
    assert report["total_bytes"] == pytest.approx(expected_bytes, abs=LARGE)
    ttl = report["ttl_seconds"]
    assert within(ttl["buckets"]["5 - 20 min"], 1500, 6000, 0.25, draws)
    assert within(ttl["buckets"]["1 h - 1 day"], 1500, 6000, 0.25, draws)
    assert (ttl["no_ttl"], report["scanned"], report["scan_batches"]) == (0, 0, 0)
    # No walk: RANDOMKEYs (exactly the draws), one DBSIZE, STRLEN and TTL of the session keys drawn only.
    counts = command_stats(redis_client)
    assert counts["randomkey"] == draws
    assert counts["dbsize"] == 1
    assert counts["strlen"] == counts["ttl"] == sampled["sessions_drawn"]
    assert "scan" not in counts and "keys" not in counts


def test_sample_text_output_says_it_is_an_estimate(ini, redis_client, capsys):
    fill(redis_client, 400, 400)
    status, out, err = run(capsys, ini, "stats", "--sample", "100")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(
        r"SAMPLED:     \d+ random keys \(RANDOMKEY\) of the 800 in the database, \d+ of them sessions: "
        r"every count below is an ESTIMATE", lines[2],
    ), lines[2]
    assert lines[3].startswith("sessions:    ~") and "at 95%)" in lines[3]
    assert lines[4].startswith("total size:  ~")
    assert lines[6].split()[:3] == ["(of", "the", "sample)"]
    assert not any(line.startswith("scanned:") for line in lines)


def test_a_sample_no_smaller_than_the_database_counts_everything_exactly(ini, redis_client, capsys):
    fill(redis_client, 10, 5)
    redis_client.config_resetstat()
    status, out, err = run(capsys, ini, "stats", "--sample", "15", "--json")
    assert status == 0
    assert err == "stats: the database holds 15 keys, no more than --sample 15: counting them all instead (exact)\n"
    report = json.loads(out)
    assert (report["sampled"], report["sessions"], report["scanned"]) == (None, 10, 10)
    assert "randomkey" not in command_stats(redis_client)


def test_a_sample_gives_up_when_sessions_are_too_rare(ini, redis_client, capsys):
    """Sessions 1 key in 3001: after MAX_DRAWS_PER_SESSION draws per session wanted, the estimate
    is made from what was drawn (here most likely no session at all)."""
    fill(redis_client, 1, 3000)
    status, out, _ = run(capsys, ini, "stats", "--sample", "4", "--json", "--batch", "64")
    assert status == 0
    report = json.loads(out)
    assert report["sampled"]["draws"] == MAX_DRAWS_PER_SESSION * 4
    assert report["sampled"]["sessions_drawn"] < 4
    assert report["sessions"] == round(report["sampled"]["sessions_drawn"] * 3001 / report["sampled"]["draws"])
    status, out, _ = run(capsys, ini, "stats", "--sample", "4", "--batch", "64")
    assert status == 0 and "SAMPLED:     200 random keys" in out


def test_sample_progress_on_a_terminal(ini, redis_client, monkeypatch):
    fill(redis_client, 300, 0)
    terminal = FakeTTY()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([ini, "stats", "--sample", "100", "--batch", "10"]) == 0
    shown = terminal.getvalue()
    assert shown.count("\r") >= 10
    assert shown.endswith("sampling: drew 100 random keys, 100 of them sessions\n")


def test_sample_counts_not_strings_and_an_empty_prefix(tmp_path, redis_server, redis_client, capsys):
    fill(redis_client, 200, 0)
    for i in range(200):
        redis_client.hset(f"{PREFIX}h{i}", "a", "1")  # under the prefix, not a session
    status, out, _ = run(capsys, write_ini(tmp_path, redis_url=redis_server.url, prefix=PREFIX), "stats", "--sample", "50", "--json")
    report = json.loads(out)
    assert status == 0
    draws = report["sampled"]["draws"]
    assert within(report["not_strings"], 200, 400, 0.5, draws)
    assert report["not_strings"] + report["sessions"] == 400
    status, out, err = run(capsys, write_ini(tmp_path, redis_url=redis_server.url), "stats", "--sample", "50")
    assert status == 0
    assert err.startswith("WARNING: redis.sessions.prefix is empty")
    assert "SAMPLED:" in out


@pytest.mark.slow
def test_sample_draws_from_every_cluster_master_by_its_size(cluster, nodes, tmp_path, capsys):
    app = make_app(cluster.url, prefix=PREFIX, redis_cluster=True)
    for _ in range(60):
        new_session(app)
    client = app.factory.client
    for i in range(300):
        client.set(f"keep:{i}", "x")
    sessions = sum(len(keys_on(node, PREFIX)) for node in nodes)
    assert sessions == 60
    for node in nodes:
        node.config_resetstat()
    path = write_ini(tmp_path, redis_url=cluster.url, redis_cluster="true", prefix=PREFIX, secret=SECRET)

    status, out, err = run(capsys, path, "stats", "--sample", "40", "--json", "--batch", "50")

    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["cluster"] is True
    assert report["sampled"]["keys_in_database"] == 360
    draws = report["sampled"]["draws"]
    assert within(report["sessions"], 60, 360, 60 / 360, draws)
    per_node = [command_stats(node).get("randomkey", 0) for node in nodes]
    assert sum(per_node) == draws
    assert all(per_node), per_node  # every master, in proportion to its keys
