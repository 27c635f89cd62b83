"""An in-process store with Redis's expiry rules, for development and tests.

Selected only by an explicit ``redis_url = memory://`` (or ``memory://name``
for a separate store); it is never a silent fallback.  It has the same five
operations as ``RedisStore``, with the same meaning as the Redis commands
they stand for (GETEX/GET, SET NX EX, SET EX, EXPIRE, DEL), so an application
tested against it behaves the same against Redis.  Data lives in this process
only: every worker of a multi-process server has its own, and a restart
loses it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, Iterator, Optional, Tuple, Union

_NEVER = float("inf")


class MemoryData:
    """The keys of one ``memory://`` store, shared by the factories that name it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.lock = threading.Lock()
        self.values: Dict[str, Tuple[bytes, float]] = {}  # key -> (value, deadline)
        self._writes = 0

    def _live(self, key: str) -> Optional[Tuple[bytes, float]]:
        """The entry under ``key`` if it has not expired (expired ones are dropped, as Redis does)."""
        entry = self.values.get(key)
        if entry is not None and entry[1] <= self.clock():
            del self.values[key]
            return None
        return entry

    def _deadline(self, ttl: Optional[int]) -> float:
        return self.clock() + ttl if ttl else _NEVER

    def _wrote(self) -> None:
        # Expired keys nobody reads again would pile up; sweep now and then, as
        # Redis's active expiry does, so memory stays bounded by the live sessions.
        self._writes += 1
        if self._writes % 1000 == 0:
            now = self.clock()
            for key in [k for k, (_, deadline) in self.values.items() if deadline <= now]:
                del self.values[key]

    def ttl(self, key: str) -> int:
        """Seconds left, as Redis's TTL answers: -2 for no key, -1 for no expiry."""
        with self.lock:
            entry = self._live(key)
            if entry is None:
                return -2
            if entry[1] == _NEVER:
                return -1
            return max(0, round(entry[1] - self.clock()))

    def keys(self, prefix: str = "") -> Iterator[str]:
        with self.lock:
            now = self.clock()
            found = [k for k, (_, deadline) in self.values.items() if k.startswith(prefix) and deadline > now]
        return iter(found)

    def clear(self) -> None:
        with self.lock:
            self.values.clear()


_REGISTRY: Dict[str, MemoryData] = {}
_REGISTRY_LOCK = threading.Lock()


def memory_data(url: str) -> MemoryData:
    """The store a ``memory://[name]`` URL names; one per name in this process."""
    name = url.split("://", 1)[1] if "://" in url else url.split(":", 1)[1]
    with _REGISTRY_LOCK:
        data = _REGISTRY.get(name)
        if data is None:
            data = _REGISTRY[name] = MemoryData()
        return data


def _as_bytes(value: object) -> bytes:
    """What Redis would store for ``value``: redis-py sends str as UTF-8 and numbers as text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value).encode("ascii")
    raise TypeError(f"a session store value must be bytes, str or a number, not {type(value).__name__}")


class MemoryStore:
    """``RedisStore``'s interface over a ``MemoryData``."""

    __slots__ = ("data", "prefix")

    def __init__(self, data: Optional[MemoryData] = None, prefix: str = ""):
        self.data = data if data is not None else MemoryData()
        self.prefix = prefix

    @classmethod
    def for_url(cls, url: str, prefix: str = "") -> MemoryStore:
        return cls(memory_data(url), prefix)

    @property
    def client(self) -> None:
        """There is no Redis client behind this store."""
        return None

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        key = self.prefix + session_id
        data = self.data
        with data.lock:
            entry = data._live(key)
            if entry is None:
                return None
            if ttl:
                data.values[key] = (entry[0], data._deadline(ttl))
            return entry[0]

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        key = self.prefix + session_id
        memory = self.data
        with memory.lock:
            if memory._live(key) is not None:
                return False
            memory.values[key] = (_as_bytes(data), memory._deadline(ttl))
            memory._wrote()
            return True

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        # Like SET XX without KEEPTTL: a save with no ttl leaves the key without expiry.
        key = self.prefix + session_id
        memory = self.data
        with memory.lock:
            if memory._live(key) is None:
                return False
            memory.values[key] = (_as_bytes(data), memory._deadline(ttl))
            memory._wrote()
            return True

    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> Union[int, bytes]:
        """``RedisStore.checked_save``: write or delete only if the key still begins with ``head``."""
        key = self.prefix + session_id
        memory = self.data
        expected = _as_bytes(head)
        with memory.lock:
            entry = memory._live(key)
            if entry is None:
                return 0
            current = entry[0]
            if not current.startswith(expected) or (whole and len(current) != len(expected)):
                return current
            if data is None:
                del memory.values[key]
            else:
                memory.values[key] = (_as_bytes(data), memory._deadline(ttl))
                memory._wrote()
            return 1

    def refresh(self, session_id: str, ttl: int) -> None:
        key = self.prefix + session_id
        data = self.data
        with data.lock:
            entry = data._live(key)
            if entry is not None:
                data.values[key] = (entry[0], data._deadline(ttl))

    def delete(self, session_id: str) -> None:
        with self.data.lock:
            self.data.values.pop(self.prefix + session_id, None)
