"""What every session of one factory works with: frozen settings and the hooks.

The factory resolves its validated options once into these two objects; a
session reads them and nothing else of the factory, so what a session depends
on is written down in one place, typed, and cannot change under it.
"""

from __future__ import annotations

import logging
import pickle
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

from .localcache import LocalCache
from .payload import json_deserialize, json_serialize, migrating_deserialize, named_serializer
from .policy import Rules, resolve_rules

if TYPE_CHECKING:
    from .cookies import CookieJar
    from .policy import Decision, SessionView

log = logging.getLogger("pyramid_session_redis")

DEFAULT_SOCKET_TIMEOUT = 5.0  # redis_socket_timeout's default
# The named serializers besides json that store JSON, and read a 1.x pickle of plain data as json does.
JSON_LIKE = ("orjson", "msgspec")

Reporter = Callable[[Any, Exception], Any]  # a hook: called with the request and what went wrong
Serialize = Callable[[Any], Any]
Deserialize = Callable[[bytes], Any]


def default_id_generator() -> str:
    """256 random bits from ``secrets``, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Hooks:
    """Where a session reports what went wrong; every hook is optional.

    ``decided`` is not a user option: a traced request sets it to record the
    end-of-request decision (``pyramid_session_redis.trace``).
    """

    invalid: Optional[Reporter] = None  # func_invalid_logger
    conflict: Optional[Reporter] = None  # func_conflict_logger
    backend_error: Optional[Reporter] = None  # func_backend_error_logger
    decided: Optional[Callable[[SessionView, Decision, Dict[str, Any]], None]] = None
    payload_error: Optional[Reporter] = None  # func_payload_error_logger

    @classmethod
    def from_options(cls, options: Dict[str, Any]) -> Hooks:
        return cls(
            options["func_invalid_logger"], options["func_conflict_logger"], options["func_backend_error_logger"],
            payload_error=options["func_payload_error_logger"],
        )


@dataclass(frozen=True)
class SessionSettings:
    """The options a session needs, resolved once per factory."""

    rules: Rules  # expiry and persistence rules, for the policy
    cookies: CookieJar
    serialize: Serialize
    deserialize: Deserialize
    new_id: Callable[[], str]
    rewrite_pickles: bool  # a pickled (1.x) payload read is stored again as JSON
    max_payload_bytes: Optional[int]
    checked_writes: bool  # on_conflict is merge or raise: write only over what was loaded
    merge_conflicts: bool  # on_conflict = merge
    degrade: bool  # on_backend_error = degrade
    allow_cookies: Optional[Callable[[Any], Any]]  # func_check_response_allow_cookies
    cookie_on_exception: bool
    deserialized_fails_new: bool  # an undecodable payload starts a new session (else it raises)
    log_undecodable: bool  # ... and is logged (the default, None, of deserialized_fails_new)
    conflict_seconds: float  # how long a write may go on merging and retrying: one socket timeout
    local_cache: Optional[LocalCache] = None  # local_cache > 0: this factory's read cache

    @classmethod
    def from_options(cls, options: Dict[str, Any], cookies: CookieJar) -> SessionSettings:
        serialize, deserialize = serializers(options)
        return cls(
            rules=resolve_rules(options),
            cookies=cookies,
            serialize=serialize,
            deserialize=deserialize,
            new_id=options["id_generator"] or default_id_generator,
            rewrite_pickles=(
                deserialize is json_deserialize or options["pickle_migration"] or options["serializer"] in JSON_LIKE
            ),
            max_payload_bytes=options["max_payload_bytes"],
            checked_writes=options["on_conflict"] != "overwrite",
            merge_conflicts=options["on_conflict"] == "merge",
            degrade=options["on_backend_error"] == "degrade",
            allow_cookies=options["func_check_response_allow_cookies"],
            cookie_on_exception=options["cookie_on_exception"],
            # None (the default) replaces, as true does, and also logs: never a 500
            # for one damaged payload; only an explicit false raises, as 1.x did.
            deserialized_fails_new=options["deserialized_fails_new"] is not False,
            log_undecodable=options["deserialized_fails_new"] is None,
            conflict_seconds=options["redis_socket_timeout"] or DEFAULT_SOCKET_TIMEOUT,
            local_cache=(
                LocalCache(options["local_cache"], options["local_cache_max_bytes"], options["local_cache_max_age"])
                if options["local_cache"]
                else None
            ),
        )


def serializers(options: Dict[str, Any]) -> Tuple[Serialize, Deserialize]:
    """The payload's (serialize, deserialize) pair the options ask for."""
    if options["serialize"] is not None:
        return options["serialize"], options["deserialize"]
    if options["pickle_migration"]:
        return json_serialize, migrating_deserialize
    return named_serializer(options["serializer"] or "json")


def unpickles(options: Dict[str, Any]) -> bool:
    """The options make sessions load pickles (worth a warning at start-up)."""
    if options["serialize"] is not None:
        return options["deserialize"] is pickle.loads
    return bool(options["pickle_migration"]) or options["serializer"] == "pickle"


def warn_if_unpickling(options: Dict[str, Any]) -> None:
    """Log, at start-up, that whoever can write to Redis can run code here, when it is so."""
    if not unpickles(options):
        return
    migrating = options["pickle_migration"]
    log.warning(
        "pyramid_session_redis: session payloads are unpickled (%s): anyone who can write "
        "to this Redis server can run code in this application. Prefer serializer = json%s.",
        "pickle_migration" if migrating else "pickle serializer",
        "; turn pickle_migration off once the pickled sessions have expired" if migrating else "",
    )
