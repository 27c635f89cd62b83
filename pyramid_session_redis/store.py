"""The only module that talks to Redis.

Every method sends exactly one single-key command, so sessions work unchanged
on Redis Cluster.  Keys are ``prefix + session_id``; values are bytes.
"""

from __future__ import annotations

from typing import Any, Callable, Optional


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

    def load(self, session_id: str, ttl: Optional[int] = None) -> Optional[bytes]:
        """GET, or GETEX ... EX ttl so that the read also refreshes the TTL."""
        if ttl:
            return self.client.getex(self.prefix + session_id, ex=ttl)
        return self.client.get(self.prefix + session_id)

    def create(self, session_id: str, data: bytes, ttl: Optional[int]) -> bool:
        """SET NX: False when the id is taken (never overwrite another session)."""
        return bool(self.client.set(self.prefix + session_id, data, ex=ttl, nx=True))

    def save(self, session_id: str, data: bytes, ttl: Optional[int]) -> None:
        self.client.set(self.prefix + session_id, data, ex=ttl)

    def refresh(self, session_id: str, ttl: int) -> None:
        self.client.expire(self.prefix + session_id, ttl)

    def delete(self, session_id: str) -> None:
        self.client.delete(self.prefix + session_id)
