"""The only module that talks to Redis.

Every method sends exactly one single-key command, so sessions work unchanged
on Redis Cluster.  Keys are ``prefix + session_id``; values are bytes.
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, TypeVar, Union

from redis.exceptions import NoScriptError, RedisClusterException, RedisError

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

    def recording(self, sent: List[SentCommand]) -> RedisStore:
        """This store, with every command it sends appended to ``sent`` (for
        ``pyramid_session_redis.trace``; costs nothing when not asked for)."""
        store = self
        return RedisStore(prefix=self.prefix, client_for=lambda: _RecordingClient(store.client, sent))


class SentCommand(NamedTuple):
    """One command a request sent to Redis, as shown by the demo and the toolbar panel."""

    command: str  # e.g. "GETEX"
    key: str
    arguments: str  # what followed the key, with payloads shown as their size
    reply: str  # the reply, summarized the same way (or the error)
    seconds: float

    def __str__(self) -> str:
        return " ".join(part for part in (self.command, self.key, self.arguments) if part)


def summarize(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > 40:
        return f"<{len(value)} characters>"
    return str(value)


def describe_call(name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[str, str, str]:
    """(COMMAND, key, arguments) for a redis-py call made by this module."""
    if name in ("eval", "evalsha"):
        script = "checked-write" if args[0] in (CHECKED_WRITE, CHECKED_WRITE_SHA) else summarize(args[0])
        key = args[2] if len(args) > 2 else ""
        rest = [script, *(summarize(a) for a in args[3:] if a not in ("", b""))]
    else:
        key = args[0] if args else ""
        rest = [summarize(a) for a in args[1:]]
    for option, value in kwargs.items():
        if value is True:
            rest.append(option.upper())
        elif value is not None and value is not False:
            rest += [option.upper(), summarize(value)]
    return _COMMANDS.get(name, name.upper()), str(key), " ".join(rest)


_COMMANDS = {"delete": "DEL"}  # redis-py methods not named after their command


class _RecordingClient:
    """A redis-py client stand-in that notes each call before passing it on."""

    __slots__ = ("_client", "_sent")

    def __init__(self, client: Any, sent: List[SentCommand]):
        self._client = client
        self._sent = sent

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        sent = self._sent

        def call(*args: Any, **kwargs: Any) -> Any:
            command, key, arguments = describe_call(name, args, kwargs)
            start = time.perf_counter()
            try:
                reply = method(*args, **kwargs)
            except Exception as exc:
                error = f"error: {type(exc).__name__}: {exc}"
                sent.append(SentCommand(command, key, arguments, error, time.perf_counter() - start))
                raise
            sent.append(SentCommand(command, key, arguments, summarize(reply), time.perf_counter() - start))
            return reply

        return call
