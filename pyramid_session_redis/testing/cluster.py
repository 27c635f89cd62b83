"""A private three-master Redis Cluster on loopback ports.

Three ``RedisServer`` nodes (see ``servers.py``) started with cluster
mode on, each with its cluster state file in its own temporary directory,
on loopback ports below 55000 because a node also listens on port + 10000
for the cluster bus.  The cluster is formed with ``redis-cli --cluster
create`` when redis-cli is installed, else by hand with redis-py (slots
split in three, CLUSTER MEET), and is ready once every node reports
``cluster_state:ok``.  Nothing here ever touches port 6379.

    with LocalCluster() as cluster:
        cluster.url                # redis://127.0.0.1:<port>/0 of one node
        cluster.node_clients()     # a plain redis.Redis per node
        cluster.formation_seconds  # how long forming it took
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import redis

from .servers import RedisServer

SLOTS = 16384
NODE_TIMEOUT_MS = 2000
CONFIG_FILE = "nodes.conf"  # relative: redis-server resolves it in its --dir, the node's private directory


def cluster_command(client: redis.Redis, *args: Any) -> Any:
    """``CLUSTER <args>`` on one node (redis-py leaves ``execute_command`` unannotated)."""
    execute: Callable[..., Any] = client.execute_command
    return execute("CLUSTER", *args)


class ClusterError(RuntimeError):
    """The cluster did not form (the message says what each node reported)."""


class LocalCluster:
    """Start three cluster nodes, form the cluster, stop them all on exit."""

    def __init__(self, masters: int = 3, method: str = "auto", deadline: float = 30.0):
        if method not in ("auto", "redis-cli", "manual"):
            raise ValueError(f"method must be 'auto', 'redis-cli' or 'manual', not {method!r}")
        if method == "auto":
            method = "redis-cli" if shutil.which("redis-cli") else "manual"
        self.masters = masters
        self.method = method
        self.deadline = deadline
        self.nodes: List[RedisServer] = []
        self.formation_seconds: Optional[float] = None

    # -- addresses ------------------------------------------------------------

    @property
    def addresses(self) -> List[Tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """One node's URL: what ``redis_url`` names with ``redis_cluster = true``."""
        return self.nodes[0].url

    def node_clients(self) -> List[redis.Redis]:
        """One plain client per node; each sees only the keys of its own slots."""
        return [redis.Redis(host=host, port=port) for host, port in self.addresses]

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> LocalCluster:
        try:
            for _ in range(self.masters):
                node = RedisServer(
                    extra_args=[
                        "--cluster-enabled", "yes",
                        "--cluster-config-file", CONFIG_FILE,
                        "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    ],
                    ports_below=55000,
                )
                self.nodes.append(node)
                node.start()
            began = time.monotonic()
            if self.method == "redis-cli":
                self._form_with_redis_cli()
            else:
                self._form_by_hand()
            self._wait_until_ok()
            self.formation_seconds = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node that was started; each stop runs even if another fails."""
        errors = []
        for node in self.nodes:
            try:
                node.stop()
            except Exception as exc:  # pragma: no cover - keep stopping the others
                errors.append(exc)
        self.nodes = []
        if errors:  # pragma: no cover
            raise errors[0]

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- formation -------------------------------------------------------------------

    def _form_with_redis_cli(self) -> None:
        args = ["redis-cli", "--cluster", "create"]
        args += [f"{host}:{port}" for host, port in self.addresses]
        args += ["--cluster-replicas", "0", "--cluster-yes"]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=self.deadline)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"redis-cli --cluster create took more than {self.deadline} s") from exc
        if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
            raise ClusterError(
                f"redis-cli --cluster create failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
            )

    def _form_by_hand(self) -> None:
        """What redis-cli does: a third of the slots and its own config epoch each, then introductions.

        Distinct epochs spare the nodes a collision round, and every node
        meeting every other spares a wait for gossip: formation then takes
        the ~2 s a new master waits before it accepts writes, not 3-4 s.
        """
        clients = self.node_clients()
        try:
            share = SLOTS // len(clients)
            for index, client in enumerate(clients):
                first = index * share
                last = SLOTS - 1 if index == len(clients) - 1 else first + share - 1
                cluster_command(client, "SET-CONFIG-EPOCH", index + 1)
                cluster_command(client, "ADDSLOTSRANGE", first, last)
            for index, client in enumerate(clients):
                for other, (host, port) in enumerate(self.addresses):
                    if other != index:
                        cluster_command(client, "MEET", host, port)
        finally:
            for client in clients:
                client.close()

    def cluster_info(self) -> List[Dict[str, str]]:
        """``CLUSTER INFO`` of every node, as dicts of strings."""
        out = []
        for client in self.node_clients():
            try:
                text = cluster_command(client, "INFO")
            finally:
                client.close()
            if isinstance(text, bytes):
                text = text.decode()
            if isinstance(text, dict):  # some redis-py versions parse it already
                out.append({k: str(v) for k, v in text.items()})
                continue
            out.append(dict(line.split(":", 1) for line in text.splitlines() if ":" in line))
        return out

    def _wait_until_ok(self) -> None:
        """Until every node says the cluster is ok, knows all masters and sees every slot served."""
        deadline = time.monotonic() + self.deadline
        infos: List[Dict[str, str]] = []
        while time.monotonic() < deadline:
            infos = self.cluster_info()
            if all(
                info.get("cluster_state") == "ok"
                and info.get("cluster_known_nodes") == str(self.masters)
                and info.get("cluster_slots_ok") == str(SLOTS)
                for info in infos
            ):
                return
            time.sleep(0.05)
        summary = [
            {k: info.get(k) for k in ("cluster_state", "cluster_known_nodes", "cluster_slots_ok")} for info in infos
        ]
        raise ClusterError(
            f"the cluster was not ok within {self.deadline} s (formed with {self.method}); "
            f"CLUSTER INFO per node: {summary}; logs in {[n.directory for n in self.nodes]}"
        )
