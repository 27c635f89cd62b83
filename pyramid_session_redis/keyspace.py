"""Walks and edits the stored sessions for operators, never while serving a request.

The operators' tool (``pyramid_session_redis.cli``) counts, inspects and
purges sessions through this class; ``RedisStore`` keeps only what a request
sends.  A large live server must keep serving while these run: keys are
walked with SCAN, one bounded page at a time (never KEYS, which blocks the
server for as long as it runs), and each page costs one pipeline or one UNLINK.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from .store import LazyClient, as_backend_error


class Keyspace(LazyClient):
    """The keys ``prefix + session_id`` of one Redis (or Redis Cluster), seen by an operator."""

    __slots__ = ("_cluster", "prefix")

    def __init__(
        self,
        client: Any = None,
        prefix: str = "",
        client_for: Optional[Callable[[], Any]] = None,
        cluster: bool = False,
    ):
        # A cluster client built on first use must fail inside a command (as
        # SessionBackendError), not while the tool is starting; so ``cluster``
        # says what such a client will be before it is built.
        super().__init__(client, client_for)
        self._cluster = cluster or isinstance(client, RedisCluster)
        self.prefix = prefix

    @property
    def db(self) -> int:
        """The database number, as the client has it (a URL's database wins over
        ``redis_db``); always 0 on a cluster, whose client is not built for it."""
        if self._cluster:
            return 0
        return int(self.client.connection_pool.connection_kwargs.get("db") or 0)

    def scan_pages(self, match: str, count: int) -> Iterator[List[bytes]]:
        """The keys matching ``match``, one SCAN reply (``COUNT count``) at a time.

        For counting and purging sessions without KEYS.  On a cluster each
        primary is walked in turn, since a node's SCAN sees only the keys of
        its own slots.  As SCAN promises: a key that exists for the whole walk
        is seen; one created or deleted meanwhile may or may not be, and a key
        may be seen twice if the server resizes its table during the walk.
        Pages may be empty.
        """
        for node in self.scan_targets():
            cursor = 0
            while True:
                cursor, keys = self.scan_page(node, cursor, match, count)
                yield keys
                if not cursor:
                    break

    @as_backend_error
    def scan_targets(self) -> List[Any]:
        """What one walk of ``scan_pages`` covers: every primary of a cluster
        (SCAN on one node sees only that node's keys), else ``[None]``, the server itself."""
        client: Any = self.client  # (Any: redis-py leaves get_primaries unannotated)
        if isinstance(self.client, RedisCluster):
            return list(client.get_primaries())
        return [None]

    @as_backend_error
    def scan_page(self, node: Any, cursor: int, match: str, count: int) -> Tuple[int, List[bytes]]:
        """One ``SCAN cursor MATCH match COUNT count``, sent to ``node`` (a cluster
        primary from ``scan_targets``, or None); the next cursor (0: done) and the keys."""
        if node is None:
            next_cursor, keys = self.client.scan(cursor=cursor, match=match, count=count)
            return int(next_cursor), list(keys)
        cursors, keys = self.client.scan(cursor=cursor, match=match, count=count, target_nodes=node)
        return int(cursors[node.name]), list(keys)

    @as_backend_error
    def key_counts(self) -> List[Tuple[Any, int]]:
        """``DBSIZE`` of each node that ``random_keys`` draws from: every primary of a
        cluster, else ``[(None, dbsize)]``.  One command per node, O(1) on the server."""
        client: Any = self.client
        if isinstance(self.client, RedisCluster):
            return [(node, int(client.get_redis_connection(node).dbsize())) for node in client.get_primaries()]
        return [(None, int(self.client.dbsize()))]

    @as_backend_error
    def random_keys(self, node: Any, count: int) -> List[Optional[bytes]]:
        """``count`` ``RANDOMKEY`` draws from ``node`` (from ``key_counts``), in one pipeline.

        For estimates on a database too large to walk: each draw is a key of
        the whole database (not only sessions), about uniformly at random and
        with replacement; None when the database is empty.  O(1) each on the server.
        """
        client: Any = self.client if node is None else self.client.get_redis_connection(node)
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.randomkey()
        return list(pipe.execute())

    @as_backend_error
    def sizes_and_ttls(self, keys: Sequence[bytes]) -> List[Tuple[Optional[int], int]]:
        """``(STRLEN, TTL)`` of each key of a page, for the statistics.

        One pipeline per page (``transaction=False``): one round trip, per node
        on a cluster, instead of two per key; not MULTI, which a cluster refuses
        across slots and which would hold the server for the whole page.  The
        size is None for a key that is not a string (WRONGTYPE: not a session;
        seen when the prefix is empty); the TTL is -1 for a key without expiry
        and -2 for one gone since the SCAN.
        """
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.strlen(key)
            pipe.ttl(key)
        replies = pipe.execute(raise_on_error=False)
        out: List[Tuple[Optional[int], int]] = []
        for size, ttl in zip(replies[::2], replies[1::2]):
            if isinstance(ttl, Exception):
                raise ttl
            if isinstance(size, ResponseError) and str(size).startswith("WRONGTYPE"):
                size = None
            elif isinstance(size, Exception):
                raise size
            out.append((None if size is None else int(size), int(ttl)))
        return out

    @as_backend_error
    def unlink_keys(self, keys: Sequence[bytes]) -> int:
        """``UNLINK`` one page of keys (for a purge); how many of them existed.

        UNLINK rather than DEL: the server frees the values in a background
        thread, so deleting large sessions does not stall it.  One command per
        page on a single server; on a cluster redis-py sends one UNLINK per
        hash slot (pipelined, per node), since a multi-key command must stay
        within one slot.
        """
        if not keys:
            return 0
        return int(self.client.unlink(*keys))

    @as_backend_error
    def peek(self, session_id: str) -> Optional[Tuple[bytes, int]]:
        """The stored payload of one session and its TTL, or None when there is none.

        GET, not ``RedisStore.load``'s GETEX: looking at a session must not extend it.
        GET and TTL go in one pipeline (one key, so one node on a cluster);
        the TTL is -1 without expiry, -2 if the key expired between the two.
        """
        key = self.prefix + session_id
        pipe = self.client.pipeline(transaction=False)
        pipe.get(key)
        pipe.ttl(key)
        raw, ttl = pipe.execute()
        if raw is None:
            return None
        return raw, int(ttl)

    @as_backend_error
    def remove(self, session_id: str) -> bool:
        """``UNLINK`` one session; True when it existed (``RedisStore.delete`` does
        not say, and need not: a request does not care, an operator does)."""
        return bool(self.client.unlink(self.prefix + session_id))
