"""Where the sessions live during a run, and the fault each set-up suffers.

``single``
    One redis-server with ``appendonly yes`` and ``appendfsync always``:
    Redis fsyncs a write before it replies, so a write acknowledged before a
    SIGKILL is on disk.  The fault is SIGKILL, a pause, and a restart on the
    same port and directory; the server reloads its append-only file.
``sentinel``
    A master, one replica and three sentinels
    (``pyramid_session_redis.testing.sentinel``).  The fault is SIGKILL of
    the master and the failover that follows; the old master is not brought
    back.  Replication is asynchronous, so a write
    acknowledged in the last instant before the kill may not have reached
    the replica: the report gives the age of any missing write at the kill.
``cluster``
    Three masters (``pyramid_session_redis.testing.cluster``), with the
    append-only file turned on in each (at run time, and in the arguments of
    a restart).  That cluster
    has no replicas, so nothing can fail over: the fault is SIGKILL of one
    master, a pause, and its restart on the same port and directory, where it
    finds its cluster state and its data again.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import redis

from pyramid_session_redis.testing.cluster import LocalCluster
from pyramid_session_redis.testing.sentinel import SERVICE, SentinelSetup
from pyramid_session_redis.testing.servers import RedisServer

DURABLE = ["--appendonly", "yes", "--appendfsync", "always"]
# Redis records any event (an fsync, a command) that blocks it this long, in ms:
# a request that times out after the restart can then be told from a bad connection.
LATENCY_MONITOR = ["--latency-monitor-threshold", "100"]


def count_clients(client: redis.Redis) -> int:
    """Clients of this server other than replication links, sentinels and this one."""
    me = client.client_id()
    count = 0
    for entry in client.client_list():
        flags = entry.get("flags", "")
        if int(entry["id"]) == me or "S" in flags or "M" in flags or entry.get("name", "").startswith("sentinel"):
            continue
        count += 1
    return count


def _wait_aof_ready(client: redis.Redis, deadline: float) -> None:
    """Until the append-only file that CONFIG SET started is written and in use."""
    while True:
        info = client.info("persistence")
        if info.get("aof_enabled") == 1 and not info.get("aof_rewrite_in_progress") \
                and not info.get("aof_rewrite_scheduled"):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the append-only file was not ready in time: {info}")
        time.sleep(0.05)


class Topology:
    name = ""
    nodes = 1  # servers a session client may hold connections to

    def __init__(self, socket_timeout: float):
        self.socket_timeout = socket_timeout
        self.events: Dict[str, float] = {}
        self.notes: Dict[str, Any] = {}

    def start(self) -> Topology:
        raise NotImplementedError

    def session_options(self) -> Dict[str, Any]:
        raise NotImplementedError

    def aim(self) -> None:
        """Choose what ``kill`` will kill, before the kill is timed."""

    def kill(self) -> None:
        raise NotImplementedError

    def recover(self) -> None:
        """Bring sessions back (restart, or wait for the failover); ``down_for`` is already spent."""
        raise NotImplementedError

    def live_clients(self) -> List[redis.Redis]:
        raise NotImplementedError

    def client_count(self) -> int:
        total = 0
        for client in self.live_clients():
            try:
                total += count_clients(client)
            finally:
                client.close()
        return total

    def stop(self) -> None:
        raise NotImplementedError

    def latency_events(self) -> Dict[str, Any]:
        """``LATENCY LATEST`` of the live servers: what blocked Redis for 100 ms or more."""
        out: Dict[str, Any] = {}
        for client in self.live_clients():
            try:
                where = client.connection_pool.connection_kwargs["port"]
                rows = client.execute_command("LATENCY", "LATEST")
                for event, _when, latest_ms, max_ms in rows or ():
                    name = event.decode() if isinstance(event, bytes) else event
                    out[f"{where} {name}"] = {"latest_ms": latest_ms, "max_ms": max_ms}
            except redis.RedisError as exc:
                out["error"] = repr(exc)
            finally:
                client.close()
        return out

    def timeouts(self) -> Dict[str, Any]:
        return {"redis_socket_timeout": self.socket_timeout, "redis_socket_connect_timeout": self.socket_timeout}

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Single(Topology):
    name = "single"

    def start(self) -> Single:
        self.server = RedisServer(extra_args=DURABLE + LATENCY_MONITOR).start()
        return self

    def session_options(self) -> Dict[str, Any]:
        return {"redis_url": self.server.url, **self.timeouts()}

    def kill(self) -> None:
        self.server.kill()

    def recover(self) -> None:
        self.server.restart()  # returns once it answers PING, i.e. after loading its file

    def live_clients(self) -> List[redis.Redis]:
        return [redis.Redis("127.0.0.1", self.server.port, socket_timeout=2)]

    def stop(self) -> None:
        self.server.stop()


class Sentinel(Topology):
    name = "sentinel"

    def start(self) -> Sentinel:
        self.setup = SentinelSetup(replicas=1).start()
        for server in [self.setup.master, *self.setup.replicas]:
            client = self.setup.node_client(server)
            client.config_set("latency-monitor-threshold", "100")
            client.close()
        self.killed: Optional[RedisServer] = None
        self.notes["ready_seconds"] = round(self.setup.ready_seconds, 2)
        return self

    def session_options(self) -> Dict[str, Any]:
        return {"redis_sentinels": [list(a) for a in self.setup.sentinels], "redis_sentinel_master": SERVICE,
                **self.timeouts()}

    def current_master(self) -> RedisServer:
        addr = self.setup.master_addr()
        for server in [self.setup.master, *self.setup.replicas]:
            if server is not self.killed and addr == ("127.0.0.1", server.port):
                return server
        raise RuntimeError(f"the sentinels name {addr}, which is not a live node")

    def aim(self) -> None:
        self.killed = self.current_master()

    def kill(self) -> None:
        assert self.killed is not None
        self.killed.kill()

    def recover(self) -> None:
        survivor = next(s for s in [self.setup.master, *self.setup.replicas] if s is not self.killed)
        self.setup.wait_master_is(survivor, timeout=30)

    def live_clients(self) -> List[redis.Redis]:
        return [self.setup.node_client(self.current_master())]

    def stop(self) -> None:
        self.setup.stop()


class Cluster(Topology):
    name = "cluster"
    nodes = 3
    VICTIM = 1  # not the node of redis_url, which the client also uses to (re)discover the others

    def start(self) -> Cluster:
        self.cluster = LocalCluster().start()
        deadline = time.monotonic() + 30
        try:
            for node, client in zip(self.cluster.nodes, self.cluster.node_clients()):
                client.config_set("latency-monitor-threshold", "100")
                client.config_set("appendfsync", "always")
                client.config_set("appendonly", "yes")
                _wait_aof_ready(client, deadline)
                client.close()
                node.extra_args = node.extra_args + DURABLE  # so that a restart reloads the file
        except BaseException:
            self.cluster.stop()
            raise
        self.notes["formation_seconds"] = round(self.cluster.formation_seconds or 0, 2)
        self.down = False
        return self

    def session_options(self) -> Dict[str, Any]:
        return {"redis_url": self.cluster.url, "redis_cluster": True, **self.timeouts()}

    def kill(self) -> None:
        self.down = True
        self.cluster.nodes[self.VICTIM].kill()

    def recover(self) -> None:
        self.cluster.nodes[self.VICTIM].restart()
        self.down = False
        self.events["node_restarted"] = time.monotonic()
        deadline = time.monotonic() + 60
        while True:  # until every node says ok and sees every slot served again
            infos = self.cluster.cluster_info()
            if all(i.get("cluster_state") == "ok" and i.get("cluster_slots_ok") == "16384" for i in infos):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster was not ok 60 s after the restart: {infos}")
            time.sleep(0.05)

    def live_clients(self) -> List[redis.Redis]:
        nodes = [n for i, n in enumerate(self.cluster.nodes) if not (self.down and i == self.VICTIM)]
        return [redis.Redis("127.0.0.1", n.port, socket_timeout=2) for n in nodes]

    def stop(self) -> None:
        self.cluster.stop()


TOPOLOGIES = {"single": Single, "sentinel": Sentinel, "cluster": Cluster}


def make(name: str, socket_timeout: float) -> Topology:
    return TOPOLOGIES[name](socket_timeout)
