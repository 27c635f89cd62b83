"""Turning validated options into a session factory.

Everything that does not depend on the request is worked out here, once:
the expiry rules, the cookie settings and signer, the serializer, the Redis
client.  Per request the factory only builds a lazy ``RedisSession``.
"""

from __future__ import annotations

import logging
import pickle
import secrets
from typing import Any, Callable, Dict, Optional, Tuple, Union

from pyramid.interfaces import ISessionFactory
from zope.interface import implementer

from . import options as option_table
from .connection import build_store, callable_options
from .cookies import CookieJar, SessionIdSigner
from .memory import MemoryStore
from .payload import json_serialize, migrating_deserialize, named_serializer
from .policy import resolve_rules
from .session import RedisSession
from .store import RedisStore
from .trace import TRACE_KEY, TracedFactory

log = logging.getLogger("pyramid_session_redis")


def default_id_generator() -> str:
    """256 random bits from ``secrets``, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


@implementer(ISessionFactory)
class SessionFactory:
    """Callable with a request, returning its ``RedisSession``.

    ``options`` holds every option, validated and with defaults filled in.
    """

    def __init__(self, options: Dict[str, Any]):
        self.options = options
        self.rules = resolve_rules(options)
        signer = options["cookie_signer"] or SessionIdSigner(options["secret"], options["secret_fallbacks"] or ())
        self.cookies = CookieJar(options, signer)
        self.serialize, self.deserialize = serializers(options)
        self.pickle_migration: bool = options["pickle_migration"]
        self.max_payload_bytes: Optional[int] = options["max_payload_bytes"]
        self.checked_writes: bool = options["on_conflict"] != "overwrite"
        self.merge_conflicts: bool = options["on_conflict"] == "merge"
        self.conflict_logger: Optional[Callable[[Any, Exception], Any]] = options["func_conflict_logger"]
        self.degrade: bool = options["on_backend_error"] == "degrade"
        self.backend_error_logger: Optional[Callable[[Any, Exception], Any]] = options["func_backend_error_logger"]
        self.new_id: Callable[[], str] = options["id_generator"] or default_id_generator
        self.invalid_logger: Optional[Callable[[Any, Exception], Any]] = options["func_invalid_logger"]
        self.allow_cookies: Optional[Callable[[Any], Any]] = options["func_check_response_allow_cookies"]
        self.cookie_on_exception: bool = options["cookie_on_exception"]
        # None (the default) replaces, as true does, and also logs: never a 500
        # for one damaged payload; only an explicit false raises, as 1.x did.
        self.deserialized_fails_new = options["deserialized_fails_new"] is not False
        self.log_undecodable = options["deserialized_fails_new"] is None
        self._client_callable = options["redis_client_callable"]
        if self._client_callable is None:
            self.store: Optional[Union[RedisStore, MemoryStore]] = build_store(options)
            self._redis_options: Dict[str, Any] = {}
        else:
            self.store = None
            self._redis_options = callable_options(options)

    #: Not traced (``TracedFactory``, which a traced session sees instead, has one).
    trace = None

    def __call__(self, request: Any) -> RedisSession:
        session = RedisSession(request, self)
        environ = getattr(request, "environ", None)  # (stand-in requests of unit tests may have none)
        trace = environ.get(TRACE_KEY) if environ else None
        if trace is not None:
            trace.session = session
            store = self.store if self._client_callable is None else self._callable_store(request)
            session._factory = TracedFactory(self, store, trace)
        elif self._client_callable is not None:
            session._factory = _PerRequest(self, self._callable_store(request))
        return session

    def _callable_store(self, request: Any) -> RedisStore:
        """A store of the request's own (``redis_client_callable``): the 1.x contract
        gives the callable the request and the redis options."""
        callable_, opts = self._client_callable, self._redis_options
        return RedisStore(prefix=self.options["prefix"], client_for=lambda: callable_(request, **opts))

    @property
    def client(self) -> Any:
        """The shared Redis client (None with ``redis_client_callable`` or memory://)."""
        return self.store.client if self.store is not None else None


class _PerRequest:
    """The factory, seen by one session, with a store of its own."""

    __slots__ = ("_factory", "store")

    def __init__(self, factory: SessionFactory, store: RedisStore):
        self._factory = factory
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def serializers(options: Dict[str, Any]) -> Tuple[Callable[[Any], Any], Callable[[bytes], Any]]:
    """``(serialize, deserialize)`` as the options select them (warning when they unpickle)."""
    if options["serialize"] is not None:
        pair = (options["serialize"], options["deserialize"])
        unpickles = options["deserialize"] is pickle.loads
    elif options["pickle_migration"]:
        pair = (json_serialize, migrating_deserialize)
        unpickles = True
    else:
        pair = named_serializer(options["serializer"] or "json")
        unpickles = options["serializer"] == "pickle"
    if unpickles:
        log.warning(
            "pyramid_session_redis: session payloads are unpickled (%s): anyone who can write "
            "to this Redis server can run code in this application. Prefer serializer = json%s.",
            "pickle_migration" if options["pickle_migration"] else "pickle serializer",
            "; turn pickle_migration off once the pickled sessions have expired" if options["pickle_migration"] else "",
        )
    return pair


def make_factory(kwargs: Dict[str, Any], shown_as: Callable[[str], str] = str) -> SessionFactory:
    return SessionFactory(option_table.validate(kwargs, shown_as))
