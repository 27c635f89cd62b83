"""Turning validated options into a session factory.

Everything that does not depend on the request is worked out here, once:
the expiry rules, the cookie settings and signer, the serializer, the Redis
client.  Per request the factory only builds a lazy ``RedisSession``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from pyramid.interfaces import ISessionFactory
from zope.interface import implementer

from . import options as option_table
from .breaker import Breaker, guarded, unguarded
from .connection import build_store, callable_options
from .cookies import CookieJar
from .localcache import ForgettingStore
from .resolved import Hooks, SessionSettings, default_id_generator, warn_if_unpickling
from .session import RedisSession
from .store import RedisStore, Store
from .trace import TRACE_KEY, TracedStore

__all__ = ["SessionFactory", "default_id_generator", "make_factory"]


@implementer(ISessionFactory)
class SessionFactory:
    """Callable with a request, returning its ``RedisSession``.

    ``options`` holds every option, validated and with defaults filled in.
    Each session is handed three collaborators: the frozen ``settings``, a
    store and the ``hooks``.  A Redis store goes through the factory's circuit
    ``breaker`` (None: ``backend_cooldown = 0``, or memory://).
    """

    def __init__(self, options: Dict[str, Any]):
        self.options = options
        self.settings = SessionSettings.from_options(options, CookieJar.from_options(options))
        self.hooks = Hooks.from_options(options)
        warn_if_unpickling(options)
        self._client_callable: Optional[Callable[..., Any]] = options["redis_client_callable"]
        self.breaker: Optional[Breaker] = None
        if self._client_callable is None:
            store = build_store(options)
            if isinstance(store, RedisStore) and options["backend_cooldown"]:
                self.breaker = Breaker(options["backend_cooldown"])
            self.store: Optional[Store] = guarded(store, self.breaker)
            self._redis_options: Dict[str, Any] = {}
        else:
            self.store = None  # each request builds its own
            self._redis_options = callable_options(options)
            if options["backend_cooldown"]:
                self.breaker = Breaker(options["backend_cooldown"])
        self._sessions_store = self.store if self.store is None else self._forgetting(self.store)

    def _forgetting(self, store: Store) -> Store:
        """With ``local_cache``, the store whose writes drop the cached copy."""
        cache = self.settings.local_cache
        return store if cache is None else ForgettingStore(store, cache)

    def __call__(self, request: Any) -> RedisSession:
        environ = getattr(request, "environ", None)  # (stand-in requests of unit tests may have none)
        trace = environ.get(TRACE_KEY) if environ else None
        if trace is None:
            store = self._sessions_store
            if store is None:
                store = self._forgetting(self._callable_store(request))
            return RedisSession(request, self.settings, store, self.hooks)
        store = self.store if self.store is not None else self._callable_store(request)
        # Recorded beneath the breaker: a command the breaker kept back was not sent.
        traced = self._forgetting(guarded(TracedStore(unguarded(store), trace), self.breaker))
        session = RedisSession(request, self.settings, traced, trace.hooks_for(self.hooks))
        trace.session = session
        trace.breaker = self.breaker
        return session

    def _callable_store(self, request: Any) -> Store:
        """A store of the request's own (``redis_client_callable``): the 1.x contract
        gives the callable the request and the redis options.  One breaker
        covers every client the callable returns."""
        callable_, opts = self._client_callable, self._redis_options
        assert callable_ is not None
        store = RedisStore(prefix=self.options["prefix"], client_for=lambda: callable_(request, **opts))
        return guarded(store, self.breaker)

    @property
    def client(self) -> Any:
        """The shared Redis client (None with ``redis_client_callable`` or memory://)."""
        return self.store.client if self.store is not None else None


def make_factory(kwargs: Dict[str, Any], shown_as: Callable[[str], str] = str) -> SessionFactory:
    return SessionFactory(option_table.validate(kwargs, shown_as))
