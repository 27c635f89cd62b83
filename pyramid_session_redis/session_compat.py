"""Deprecated session members of 1.8, kept as thin adapters (mixed into ``RedisSession``).

Each goes through the session's own methods, so it loads the session and
marks handed-out values as every other read does.  New code should use what
each docstring names.
"""

from __future__ import annotations

from typing import Any, List, Protocol

from .store import Store


class _Session(Protocol):
    """What these adapters use of ``RedisSession``."""

    _store: Store

    def __contains__(self, key: object) -> bool: ...

    def keys(self) -> List[str]: ...

    def values(self) -> List[Any]: ...

    def items(self) -> List[Any]: ...


class Session18:
    """The 1.8 spellings of ``RedisSession``: ``has_key``, ``iter*`` and ``redis``."""

    __slots__ = ()

    def has_key(self: _Session, key: str) -> bool:
        """Deprecated (1.8): use ``key in session``."""
        return key in self

    def iterkeys(self: _Session) -> List[str]:
        """Deprecated (1.8): use ``session.keys()``; returns a list, as 1.8 did."""
        return self.keys()

    def itervalues(self: _Session) -> List[Any]:
        """Deprecated (1.8): use ``session.values()``; returns a list, as 1.8 did."""
        return self.values()

    def iteritems(self: _Session) -> List[Any]:
        """Deprecated (1.8): use ``session.items()``; returns a list, as 1.8 did."""
        return self.items()

    @property
    def redis(self: _Session) -> Any:
        """Deprecated (1.8): the redis-py client behind the session, for the
        application's own commands (None with ``memory://``).  Does not load
        the session."""
        return self._store.client
