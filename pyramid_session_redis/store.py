"""The request commands: what serving a session sends to Redis.

``Store`` is what a session needs of a store; ``RedisStore`` does it with
Redis (``memory.MemoryStore`` in process, ``trace.TracedStore`` recording).
Every method sends exactly one single-key command, so sessions work unchanged
on Redis Cluster.  Keys are ``prefix + session_id``; values are bytes.
Operators' commands (SCAN, UNLINK) live in ``keyspace``.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable, Iterator, List, Optional, Protocol, Sequence, Tuple, TypeVar, Union

from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from .exceptions import SessionBackendError

# Write only if the key still holds what this request loaded: the compare and
# the write happen inside Redis, in one command, on one key (so it works on a
# cluster).  Replies: 1 written, 0 the key is gone, else the current payload.
# ARGV: sha1 of the loaded payload, new payload, TTL ("" for none), "del" to delete.
CHECKED_WRITE = b"""
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if redis.sha1hex(current) ~= ARGV[1] then return current end
if ARGV[4] == 'del' then
  redis.call('DEL', KEYS[1])
elseif ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""
CHECKED_WRITE_SHA = hashlib.sha1(CHECKED_WRITE).hexdigest()

# What checked_save() returns: WRITTEN, GONE, or the payload Redis holds now.
WRITTEN, GONE = 1, 0
CheckedResult = Union[int, bytes, str]  # (str from a client with decode_responses)


def fingerprint(raw: Union[bytes, str]) -> str:
    """What Redis's ``redis.sha1hex`` gives for the same bytes (a client made
    with ``decode_responses=True`` hands back str: Redis holds its UTF-8)."""
    return hashlib.sha1(raw.encode("utf-8") if isinstance(raw, str) else raw).hexdigest()


def checked_write_args(loaded: Union[bytes, str], data: Optional[bytes], ttl: Optional[int]) -> Tuple[Any, ...]:
    """CHECKED_WRITE's ARGV: the loaded payload's SHA-1, the new payload, the TTL, "del"."""
    return (fingerprint(loaded), data if data is not None else b"", ttl or "", "del" if data is None else "")


class Store(Protocol):
    """The operations a session performs on its store, one command each."""

    prefix: str

    @property
    def client(self) -> Any:
        """The Redis client behind the store (None for memory://)."""

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        """The payload (None: no such session); with ``ttl``, refresh the TTL in the same command."""

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """Store a new session; False, and nothing written, when the id is taken."""

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> None:
        """Store the session, whatever the key held."""

    def checked_save(self, session_id: str, loaded: bytes, data: Optional[bytes], ttl: Optional[int]) -> CheckedResult:
        """Store ``data`` (None: delete) only if the key still holds ``loaded``:
        WRITTEN, GONE, or what the key holds now."""

    def refresh(self, session_id: str, ttl: int) -> None:
        """Set the session's TTL."""

    def delete(self, session_id: str) -> None:
        """Remove the session."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _backend(method: _F) -> _F:
    """Any redis-py failure of this store call becomes one documented exception."""

    @functools.wraps(method)
    def call(self: RedisStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, RedisClusterException) as exc:
            raise SessionBackendError(f"Redis failed during {method.__name__}: {type(exc).__name__}: {exc}") from exc

    return call  # type: ignore[return-value]


class RedisStore:
    __slots__ = ("_client", "_get_client", "prefix")

    def __init__(self, client: Any = None, prefix: str = "", client_for: Optional[Callable[[], Any]] = None):
        # ``client_for`` builds a client lazily (for redis_client_callable, which
        # wants the request); otherwise one shared client serves every request.
        self._client = client
        self._get_client = client_for
        self.prefix = prefix

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._get_client()  # type: ignore[misc]
        return self._client

    @_backend
    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        """GET, or GETEX ... EX ttl so that the read also refreshes the TTL."""
        raw: Optional[bytes]
        if ttl:
            raw = self.client.getex(self.prefix + session_id, ex=ttl)
        else:
            raw = self.client.get(self.prefix + session_id)
        return raw

    @_backend
    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """SET NX: False when the id is taken (never overwrite another session)."""
        return bool(self.client.set(self.prefix + session_id, data, ex=ttl, nx=True))

    @_backend
    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> None:
        self.client.set(self.prefix + session_id, data, ex=ttl)

    @_backend
    def checked_save(self, session_id: str, loaded: bytes, data: Optional[bytes], ttl: Optional[int]) -> CheckedResult:
        """Store ``data`` (or delete, for None) only if the key still holds ``loaded``.

        One EVALSHA; the first call on a server that does not know the script
        yet sends it once with EVAL, which also caches it there.
        """
        args = checked_write_args(loaded, data, ttl)
        key = self.prefix + session_id
        try:
            reply = self.client.evalsha(CHECKED_WRITE_SHA, 1, key, *args)
        except NoScriptError:
            reply = self.client.eval(CHECKED_WRITE, 1, key, *args)
        return reply if isinstance(reply, (bytes, str)) else int(reply)

    @_backend
    def refresh(self, session_id: str, ttl: int) -> None:
        self.client.expire(self.prefix + session_id, ttl)

    @_backend
    def delete(self, session_id: str) -> None:
        self.client.delete(self.prefix + session_id)

    # -- for operators (pyramid_session_redis.cli); never used to serve a request.
    # A large live server must keep serving while these run: keys are walked
    # with SCAN, one bounded page at a time (never KEYS, which blocks the server
    # for as long as it runs), and each page costs one pipeline or one UNLINK.

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

    @_backend
    def scan_targets(self) -> List[Any]:
        """What one walk of ``scan_pages`` covers: every primary of a cluster
        (SCAN on one node sees only that node's keys), else ``[None]``, the server itself."""
        client: Any = self.client  # (Any: redis-py leaves get_primaries unannotated)
        if isinstance(self.client, RedisCluster):
            return list(client.get_primaries())
        return [None]

    @_backend
    def scan_page(self, node: Any, cursor: int, match: str, count: int) -> Tuple[int, List[bytes]]:
        """One ``SCAN cursor MATCH match COUNT count``, sent to ``node`` (a cluster
        primary from ``scan_targets``, or None); the next cursor (0: done) and the keys."""
        if node is None:
            next_cursor, keys = self.client.scan(cursor=cursor, match=match, count=count)
            return int(next_cursor), list(keys)
        cursors, keys = self.client.scan(cursor=cursor, match=match, count=count, target_nodes=node)
        return int(cursors[node.name]), list(keys)

    @_backend
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

    @_backend
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

    @_backend
    def peek(self, session_id: str) -> Optional[Tuple[bytes, int]]:
        """The stored payload of one session and its TTL, or None when there is none.

        GET, not ``load``'s GETEX: looking at a session must not extend it.
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

    @_backend
    def remove(self, session_id: str) -> bool:
        """``UNLINK`` one session; True when it existed (``delete`` does not say,
        and need not: a request does not care, an operator does)."""
        return bool(self.client.unlink(self.prefix + session_id))
