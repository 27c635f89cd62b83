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
from typing import Any, Callable, Optional, Protocol, Tuple, TypeVar, Union, cast

from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from .exceptions import SessionBackendError

# Write only if the key still holds what this request loaded: the compare and
# the write happen inside Redis, in one command, on one key (so it works on a
# cluster).  The compare reads only the payload's first bytes (GETRANGE), up to
# its stamp, which no other write shares (``payload.head_of``); with ARGV[2] =
# "1" the head is the whole payload and its length must match too.  Nothing is
# hashed or decoded.  Replies: 1 written, 0 the key is gone, else the payload
# Redis holds now (read only then, for the merge).
# ARGV: head, whole ("1" or ""), new payload, TTL ("" for none), "del" to delete.
CHECKED_WRITE = b"""
local key, head = KEYS[1], ARGV[1]
local same = redis.call('GETRANGE', key, 0, #head - 1) == head
if same and ARGV[2] == '1' then same = redis.call('STRLEN', key) == #head end
if not same then
  local current = redis.call('GET', key)
  if not current then return 0 end
  return current
end
if ARGV[5] == 'del' then
  redis.call('DEL', key)
elseif ARGV[4] == '' then
  redis.call('SET', key, ARGV[3])
else
  redis.call('SET', key, ARGV[3], 'EX', ARGV[4])
end
return 1
"""
CHECKED_WRITE_SHA = hashlib.sha1(CHECKED_WRITE).hexdigest()

# What checked_save() returns: WRITTEN, GONE, or the payload Redis holds now.
WRITTEN, GONE = 1, 0
CheckedResult = Union[int, bytes, str]  # (str from a client with decode_responses)


def checked_write_args(
    head: Union[bytes, str], whole: bool, data: Optional[bytes], ttl: Optional[int]
) -> Tuple[Any, ...]:
    """CHECKED_WRITE's ARGV: the head, "1" if it is the whole payload, the new payload, the TTL, "del"."""
    return (head, "1" if whole else "", data if data is not None else b"", ttl or "", "del" if data is None else "")


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

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """Store the session over what the key holds; False, and nothing written,
        when the key is gone (never bring back a session that was ended)."""

    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> CheckedResult:
        """Store ``data`` (None: delete) only if the key still begins with ``head``
        (``whole``: holds exactly ``head``): WRITTEN, GONE, or what the key holds now."""

    def refresh(self, session_id: str, ttl: int) -> None:
        """Set the session's TTL."""

    def delete(self, session_id: str) -> None:
        """Remove the session."""


_F = TypeVar("_F", bound=Callable[..., Any])


def as_backend_error(method: _F) -> _F:
    """Any redis-py failure of this call becomes one documented exception
    (for the methods of ``RedisStore`` and ``keyspace.Keyspace``)."""

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, RedisClusterException) as exc:
            raise SessionBackendError(f"Redis failed during {method.__name__}: {type(exc).__name__}: {exc}") from exc

    return cast(_F, call)


class LazyClient:
    """A redis-py client given at once, or built by ``client_for`` on first use
    (a cluster client, which asks for the slot map as soon as it exists, or the
    client of ``redis_client_callable``, which wants the request)."""

    __slots__ = ("_client", "_get_client")

    def __init__(self, client: Any = None, client_for: Optional[Callable[[], Any]] = None):
        self._client = client
        self._get_client = client_for

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = cast(Callable[[], Any], self._get_client)()
        return self._client


class RedisStore(LazyClient):
    """The ``Store`` of a Redis server or cluster, sharing one client among requests."""

    __slots__ = ("prefix",)

    def __init__(self, client: Any = None, prefix: str = "", client_for: Optional[Callable[[], Any]] = None):
        super().__init__(client, client_for)
        self.prefix = prefix

    @as_backend_error
    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        """GET, or GETEX ... EX ttl so that the read also refreshes the TTL."""
        raw: Optional[bytes]
        if ttl:
            try:
                raw = self.client.getex(self.prefix + session_id, ex=ttl)
            except ResponseError as exc:
                if "unknown command" not in str(exc).lower():
                    raise
                raise SessionBackendError(
                    f"Redis {self._server_version()} has no GETEX, which sessions read with: "
                    "pyramid_session_redis needs Redis 6.2 or newer"
                ) from exc
        else:
            raw = self.client.get(self.prefix + session_id)
        return raw

    def _server_version(self) -> str:
        try:
            return str(self.client.info("server").get("redis_version", "(version unknown)"))
        except RedisError:
            return "(version unknown)"

    @as_backend_error
    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """SET NX: False when the id is taken (never overwrite another session)."""
        return bool(self.client.set(self.prefix + session_id, data, ex=ttl, nx=True))

    @as_backend_error
    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """SET XX: False when the key is gone (invalidated, regenerated away, purged)."""
        return bool(self.client.set(self.prefix + session_id, data, ex=ttl, xx=True))

    @as_backend_error
    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> CheckedResult:
        """Store ``data`` (or delete, for None) only if the key still begins with ``head``.

        One EVALSHA; the first call on a server that does not know the script
        yet sends it once with EVAL, which also caches it there.
        """
        args = checked_write_args(head, whole, data, ttl)
        key = self.prefix + session_id
        try:
            reply = self.client.evalsha(CHECKED_WRITE_SHA, 1, key, *args)
        except NoScriptError:
            reply = self.client.eval(CHECKED_WRITE, 1, key, *args)
        except ResponseError as exc:
            if "unknown command" not in str(exc).lower():
                raise
            # A server with scripting disabled or renamed, or a stand-in client
            # (fakeredis without Lua) that lacks it.
            raise SessionBackendError(
                "this Redis (or client) cannot run scripts (EVALSHA), which the checked write of "
                "on_conflict = merge and raise needs: allow EVALSHA and EVAL, or set on_conflict = overwrite"
            ) from exc
        return reply if isinstance(reply, (bytes, str)) else int(reply)

    @as_backend_error
    def refresh(self, session_id: str, ttl: int) -> None:
        self.client.expire(self.prefix + session_id, ttl)

    @as_backend_error
    def delete(self, session_id: str) -> None:
        self.client.delete(self.prefix + session_id)
