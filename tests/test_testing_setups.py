"""The cluster, Sentinel and TLS launchers of ``pyramid_session_redis.testing`` when things go wrong.

The cluster, Sentinel and TLS tests use them when all goes well; here a
cluster that cannot form, a Sentinel set-up that is not ready in time, and
a machine where the TLS tests cannot run each fail with a message that says
why, and stop whatever they had started.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import redis

from pyramid_session_redis.testing import cluster as cluster_module
from pyramid_session_redis.testing import tls
from pyramid_session_redis.testing.cluster import ClusterError, LocalCluster
from pyramid_session_redis.testing.sentinel import SentinelError, SentinelSetup, _until

# -- cluster -------------------------------------------------------------------------------


def test_cluster_formation_method_is_checked():
    with pytest.raises(ValueError, match="method must be 'auto', 'redis-cli' or 'manual', not 'magic'"):
        LocalCluster(method="magic")


def test_without_redis_cli_the_cluster_is_formed_by_hand(monkeypatch):
    monkeypatch.setattr(cluster_module.shutil, "which", lambda name: None)
    assert LocalCluster().method == "manual"


class FakeNode:
    def __init__(self, reply: Any):
        self.reply = reply
        self.closed = False

    def execute_command(self, *args: Any) -> Any:
        assert args == ("CLUSTER", "INFO")
        return self.reply

    def close(self) -> None:
        self.closed = True


def test_cluster_info_is_read_from_text_bytes_or_an_already_parsed_reply(monkeypatch):
    nodes = [FakeNode(b"cluster_state:ok\r\ncluster_known_nodes:3\r\n"), FakeNode("cluster_state:fail\r\n"),
             FakeNode({"cluster_state": "ok", "cluster_slots_ok": 16384})]
    cluster = LocalCluster()
    monkeypatch.setattr(cluster, "node_clients", lambda: nodes)
    assert cluster.cluster_info() == [
        {"cluster_state": "ok", "cluster_known_nodes": "3"},
        {"cluster_state": "fail"},
        {"cluster_state": "ok", "cluster_slots_ok": "16384"},
    ]
    assert all(node.closed for node in nodes)


@pytest.mark.skipif(cluster_module.shutil.which("redis-cli") is None, reason="needs redis-cli")
def test_redis_cli_refusing_to_form_the_cluster_stops_the_nodes():
    cluster = LocalCluster(masters=1, method="redis-cli")  # redis-cli wants three masters at least
    with pytest.raises(ClusterError, match=r"redis-cli --cluster create failed \(exit 1\)"):
        cluster.start()
    assert cluster.nodes == []


@pytest.mark.skipif(cluster_module.shutil.which("redis-cli") is None, reason="needs redis-cli")
def test_redis_cli_taking_too_long_is_an_error():
    cluster = LocalCluster(masters=1, method="redis-cli", deadline=0.000001)
    with pytest.raises(ClusterError, match="redis-cli --cluster create took more than 1e-06 s"):
        cluster.start()
    assert cluster.nodes == []


def test_a_cluster_that_never_gets_ok_says_what_each_node_reported(monkeypatch):
    monkeypatch.setattr(LocalCluster, "_form_by_hand", lambda self: None)  # no slots, no introductions
    cluster = LocalCluster(masters=1, method="manual", deadline=0.3)
    with pytest.raises(ClusterError, match=r"not ok within 0.3 s \(formed with manual\); CLUSTER INFO per node: "
                                           r"\[\{'cluster_state': 'fail', 'cluster_known_nodes': '1', "
                                           r"'cluster_slots_ok': '0'\}\]; logs in \["):
        cluster.start()
    assert cluster.nodes == []


# -- Sentinel -------------------------------------------------------------------------------


def test_until_reports_the_last_thing_seen_when_time_runs_out():
    def refused() -> Any:
        raise redis.ConnectionError("refused")

    # (the repr of redis-py's error, which redis-py 8 shortens to "network:ConnectionError")
    last = re.escape(repr(redis.ConnectionError("refused")))
    with pytest.raises(SentinelError, match=f"the master up not reached in time; last seen: {last}$"):
        _until("the master up", refused, deadline=time.monotonic())


def test_sentinels_not_ready_in_time_fail_with_a_sentinel_log_and_stop_everything():
    setup = SentinelSetup(replicas=0, sentinels=2, quorum=1, deadline=0.0)  # two sentinels need seconds to meet
    with pytest.raises(SentinelError, match=r"(?s)sentinel on port \d+ knowing the master.*sentinel log:\n.*"):
        setup.start()
    for server in [setup.master, *setup.sentinel_servers]:
        assert server.process is None


def test_master_addr_is_none_when_a_sentinel_knows_no_master(monkeypatch):
    class Unaware:
        def sentinel_get_master_addr_by_name(self, name: str) -> None:
            return None

    setup = SentinelSetup()
    setup.sentinel_servers = [object()]  # type: ignore[list-item]
    monkeypatch.setattr(setup, "sentinel_client", lambda sentinel: Unaware())
    assert setup.master_addr() is None


# -- TLS ---------------------------------------------------------------------------------------


def test_tls_tests_need_openssl(monkeypatch, tmp_path):
    monkeypatch.setattr(tls, "OPENSSL", str(tmp_path / "no-openssl"))
    assert tls.missing_tls_support() == "the openssl command is needed to make test certificates"


def test_tls_tests_need_a_redis_server(monkeypatch):
    monkeypatch.setattr(tls, "OPENSSL", __file__)  # any file that exists
    monkeypatch.setattr(tls, "find_redis_server", lambda: None)
    assert tls.missing_tls_support() == "no redis-server found"


def test_tls_tests_need_a_redis_server_built_with_tls(monkeypatch, tmp_path):
    plain = tmp_path / "redis-server"
    plain.write_bytes(b"\x7fELF a redis-server without OpenSSL in it")
    monkeypatch.setattr(tls, "OPENSSL", __file__)
    monkeypatch.setattr(tls, "find_redis_server", lambda: str(plain))
    assert tls.missing_tls_support() == f"{plain} is built without TLS support (BUILD_TLS=yes)"
