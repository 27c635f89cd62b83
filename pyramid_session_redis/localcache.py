"""The per-process read cache (``local_cache``): payloads by session id and version.

A session's cookie names the version (the payload's stamp) that the browser
last got from a write, so a request whose cookie names the version an entry
holds is served that entry with no Redis command at all.  A stamp is unique to
one write, so an entry under a version is exactly what Redis held at that
version: what a browser wrote itself, on any worker, comes with a new version
and is never answered from an older entry.  What changes a session from
outside the browser's own requests (another device, the operators' tool,
eviction) is not seen here: an entry is served for ``local_cache_max_age``
seconds at most, and never past the point where the session's timeout policy
wants Redis to hear from it.

Entries hold the serialized payload, not decoded objects: every hit decodes
its own copy (a view may change what it is given in place), and bytes are the
smallest thing to keep.  The cache is shared by the threads of a process
(one lock, held only for dictionary work) and emptied in a forked child.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, NamedTuple, Optional, Union

from .store import CheckedResult, Store

# Per entry: the OrderedDict's node and slot, the key string and the tuple, as
# measured with tracemalloc on CPython 3.11 (docs/performance.rst); counted
# against ``local_cache_max_bytes`` with the payload's length.
ENTRY_OVERHEAD = 400


class Entry(NamedTuple):
    version: str
    raw: bytes
    until: float  # time.monotonic() past which it is not served
    size: int  # what it counts against the byte bound


class LocalCache:
    """A bounded LRU map of session id to ``Entry``; thread-safe."""

    def __init__(self, entries: int, max_bytes: Optional[int], max_age: float, clock: Any = time.monotonic):
        self.max_entries = entries
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0
        _ALL.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, session_id: str, version: str) -> Optional[bytes]:
        """The payload stored as ``version``, if held and still fresh."""
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None or entry.version != version:
                self.misses += 1
                return None
            if self._clock() >= entry.until:
                self._drop(session_id)
                self.misses += 1
                return None
            self._entries.move_to_end(session_id)
            self.hits += 1
            return entry.raw

    def put(self, session_id: str, version: str, raw: bytes, seconds: float) -> None:
        """Hold ``raw`` as ``version`` for ``seconds`` (at most ``max_age``)."""
        seconds = min(seconds, self.max_age)
        size = len(raw) + len(session_id) + ENTRY_OVERHEAD
        limit = self.max_bytes
        if seconds <= 0 or (limit is not None and size > limit):
            self.discard(session_id)
            return
        entry = Entry(version, raw, self._clock() + seconds, size)
        with self._lock:
            self._drop(session_id)
            self._entries[session_id] = entry
            self.bytes += size
            while len(self._entries) > self.max_entries or (limit is not None and self.bytes > limit):
                _, oldest = self._entries.popitem(last=False)
                self.bytes -= oldest.size

    def discard(self, session_id: str) -> None:
        """Forget the session: it was written, deleted or found gone."""
        with self._lock:
            self._drop(session_id)

    def _drop(self, session_id: str) -> None:
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            self.bytes -= entry.size

    def clear(self) -> None:
        self._lock = threading.Lock()  # (after a fork, another thread may have held the old one)
        self._entries = OrderedDict()
        self.bytes = 0


_ALL: weakref.WeakSet[LocalCache] = weakref.WeakSet()


def _empty_all() -> None:
    """A forked worker starts with nothing: its parent's entries are not its own to vouch for."""
    for cache in list(_ALL):
        cache.clear()


if hasattr(os, "register_at_fork"):  # (not on Windows)
    os.register_at_fork(after_in_child=_empty_all)


class ForgettingStore:
    """A store whose writes also drop the session from the cache.

    A write makes a new version; the entry of the old one would only answer a
    request carrying an outdated cookie (an overlapping request of the same
    browser), and such a request must see Redis.  Reads pass straight through:
    ``loading`` asks the cache first, with the cookie's version.
    """

    def __init__(self, store: Store, cache: LocalCache):
        self._store = store
        self.cache = cache
        self.prefix = store.prefix

    @property
    def client(self) -> Any:
        return self._store.client

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        return self._store.load(session_id, ttl)

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        return self._store.create(session_id, data, ttl)  # (a new id: nothing cached under it)

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        try:
            return self._store.save(session_id, data, ttl)
        finally:
            self.cache.discard(session_id)

    def checked_save(
        self, session_id: str, head: Union[bytes, str], data: Optional[bytes], ttl: Optional[int], whole: bool = False
    ) -> CheckedResult:
        try:
            return self._store.checked_save(session_id, head, data, ttl, whole)
        finally:
            self.cache.discard(session_id)

    def refresh(self, session_id: str, ttl: int) -> None:
        self._store.refresh(session_id, ttl)

    def delete(self, session_id: str) -> None:
        try:
            self._store.delete(session_id)
        finally:
            self.cache.discard(session_id)
