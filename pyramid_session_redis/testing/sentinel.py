"""A private Redis Sentinel set-up: a master, replicas, sentinels.

The master, the replicas and the sentinels are all ``RedisServer``
instances (see ``servers.py``); each sentinel is ``redis-server <config>
--sentinel`` with its own writable config file (sentinels rewrite it on
every change of state) in its private temporary directory.  All on free loopback ports, never
6379.  Entering waits until every replica is in sync and every sentinel
knows the master, the replicas and the other sentinels, so that a failover
can start at once; leaving stops everything, also when starting failed::

    with SentinelSetup() as setup:
        setup.sentinels            # [("127.0.0.1", port), ...] for redis_sentinels
        setup.master, setup.replicas[0]   # RedisServer
        setup.master_addr()        # what the sentinels say the master is now
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import redis

from .servers import RedisServer

SERVICE = "mymaster"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000

class SentinelError(RuntimeError):
    """The set-up did not reach the state the tests need (the message says which)."""


def sentinel_config(master_port: int, quorum: int, password: Optional[str] = None,
                    master_password: Optional[str] = None) -> List[str]:
    """A sentinel's config lines: monitor ``SERVICE`` at ``master_port`` with ``quorum``."""
    lines = [
        f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}",
        f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
        f"sentinel parallel-syncs {SERVICE} 1",
    ]
    if master_password is not None:
        lines.append(f"sentinel auth-pass {SERVICE} {master_password}")
    if password is not None:
        # Clients must authenticate; the sentinels use it with each other too.
        lines.append(f"requirepass {password}")
        lines.append(f"sentinel sentinel-pass {password}")
    return lines


def _until(what: str, check: Callable[[], Tuple[bool, Any]], deadline: float) -> Any:
    """Poll ``check`` until it says ok; past ``deadline``, fail saying what was last seen."""
    last: Any = None
    while True:
        try:
            ok, last = check()
        except redis.RedisError as exc:
            ok, last = False, repr(exc)
        if ok:
            return last
        if time.monotonic() > deadline:
            raise SentinelError(f"{what} not reached in time; last seen: {last}")
        time.sleep(0.05)


class SentinelSetup:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels with ``quorum``.

    ``password`` protects the sentinels, ``master_password`` the master and
    replicas: two different secrets, as ``redis_sentinel_password`` and
    ``redis_password`` are two settings.
    """

    def __init__(self, replicas: int = 1, sentinels: int = 3, quorum: int = 2,
                 password: Optional[str] = None, master_password: Optional[str] = None,
                 deadline: float = 20.0):
        self.n_replicas = replicas
        self.n_sentinels = sentinels
        self.quorum = quorum
        self.password = password
        self.master_password = master_password
        self.deadline = deadline
        self.master: RedisServer = None  # type: ignore[assignment]  # (set by start(); read only after it)
        self.replicas: List[RedisServer] = []
        self.sentinel_servers: List[RedisServer] = []
        self.ready_seconds = 0.0
        self._stack = contextlib.ExitStack()

    @property
    def sentinels(self) -> List[Tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.sentinel_servers]

    def _node(self) -> RedisServer:
        """A started redis-server, password-protected if asked.

        The password is set after start (``RedisServer`` checks readiness
        with an unauthenticated PING); every node may become master, so each
        gets both ``requirepass`` and ``masterauth``.
        """
        # No 5 s wait for more replicas before a full sync (the default diskless delay).
        server = self._stack.enter_context(RedisServer(extra_args=["--repl-diskless-sync-delay", "0"]))
        if self.master_password is not None:
            plain = server.client(socket_timeout=2)
            plain.config_set("masterauth", self.master_password)
            plain.config_set("requirepass", self.master_password)
            plain.close()
        return server

    def node_client(self, server: RedisServer) -> redis.Redis:
        """A client of the master or a replica, with ``master_password``."""
        return server.client(password=self.master_password, socket_timeout=2, socket_connect_timeout=2)

    def sentinel_client(self, sentinel: RedisServer) -> redis.Redis:
        """A client of one sentinel, with ``password``."""
        return sentinel.client(password=self.password, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> SentinelSetup:
        started = time.monotonic()
        try:
            deadline = started + self.deadline
            self.master = self._node()
            for _ in range(self.n_replicas):
                replica = self._node()
                self.node_client(replica).replicaof("127.0.0.1", self.master.port)
                self.replicas.append(replica)
            # In sync before the sentinels start: a sentinel learns the replicas
            # from the master's INFO, which it asks again only every 10 s.
            self._wait_replicas_in_sync(deadline)
            for _ in range(self.n_sentinels):
                config = sentinel_config(self.master.port, self.quorum, self.password, self.master_password)
                self.sentinel_servers.append(self._stack.enter_context(RedisServer(config=config, sentinel=True)))
            self._wait_sentinels_see_everything(deadline)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - started
        return self

    def _wait_replicas_in_sync(self, deadline: float) -> None:
        master = self.node_client(self.master)

        def online() -> Tuple[bool, Any]:
            info = master.info("replication")
            states = [info.get(f"slave{i}", {}).get("state") for i in range(self.n_replicas)]
            return info.get("connected_slaves") == self.n_replicas and states == ["online"] * self.n_replicas, info

        _until("every replica online on the master (INFO replication)", online, deadline)
        for replica in self.replicas:
            client = self.node_client(replica)

            def link_up(client: Any = client) -> Tuple[bool, Any]:  # (bound now: called in this iteration)
                info = client.info("replication")
                return info.get("master_link_status") == "up", info

            _until(f"master_link_status:up on the replica on port {replica.port}", link_up, deadline)

    def _wait_sentinels_see_everything(self, deadline: float) -> None:
        for sentinel in self.sentinel_servers:
            client = self.sentinel_client(sentinel)

            def knows_all(client: Any = client) -> Tuple[bool, Any]:  # (bound now: called in this iteration)
                # Not client.sentinel_master(): in redis-py 7.0.x (the newest on Python 3.9)
                # it passes return_responses= to a response parser that takes no such
                # argument, a TypeError; the bare command goes through the same parser.
                state: Dict[str, Any] = client.execute_command("SENTINEL MASTER", SERVICE)
                seen = {k: state.get(k) for k in ("port", "flags", "num-other-sentinels", "num-slaves")}
                ok = (state.get("port") == self.master.port and state.get("is_master")
                      and not state.get("is_sdown") and not state.get("is_odown")
                      and state.get("num-other-sentinels") == self.n_sentinels - 1
                      and state.get("num-slaves") == self.n_replicas)
                return bool(ok), seen

            try:
                _until(f"sentinel on port {sentinel.port} knowing the master, "
                       f"{self.n_replicas} replica(s) and {self.n_sentinels - 1} other sentinel(s)",
                       knows_all, deadline)
            except SentinelError as exc:
                raise SentinelError(f"{exc}\nsentinel log:\n{sentinel.log_tail()}") from None

    def master_addr(self, sentinel: int = 0) -> Optional[Tuple[str, int]]:
        """``SENTINEL GET-MASTER-ADDR-BY-NAME``: where one sentinel says the master is."""
        addr: Any = self.sentinel_client(self.sentinel_servers[sentinel]).sentinel_get_master_addr_by_name(SERVICE)
        if addr is None:
            return None
        host, port = addr
        return (host.decode() if isinstance(host, bytes) else host, int(port))

    def wait_master_is(self, server: RedisServer, timeout: float) -> float:
        """Until every sentinel names ``server`` as the master; returns the seconds waited."""
        started = time.monotonic()
        want = ("127.0.0.1", server.port)

        def all_agree() -> Tuple[bool, Any]:
            seen = [self.master_addr(i) for i in range(len(self.sentinel_servers))]
            return all(addr == want for addr in seen), seen

        _until(f"every sentinel naming 127.0.0.1:{server.port} as master", all_agree, started + timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> SentinelSetup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
