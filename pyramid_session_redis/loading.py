"""Turning a request's cookie into a stored session, or the reason there is none.

``load`` reads the cookie, loads the payload (one command) and checks it.
What is wrong comes back as an ``InvalidSession_*`` exception (not raised: the
session reports it and starts afresh), wrapped in ``Damaged`` when the key
holds a payload no request can use (it is then deleted at the end of the
request); only two things propagate: a Redis failure (``SessionBackendError``)
and, when ``deserialized_fails_new`` is false, an undecodable payload
(``RawDeserializationError``).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, Union

from . import payload as payload_format
from .cookies import SENT_OLD_SECRET
from .exceptions import (
    InvalidSession,
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    InvalidSession_PayloadLegacy,
    InvalidSession_PayloadTimeout,
    RawDeserializationError,
)
from .policy import cacheable_seconds
from .resolved import SessionSettings
from .store import Store

log = logging.getLogger("pyramid_session_redis")


class Loaded(NamedTuple):
    """A stored session, as this request found it."""

    session_id: str
    raw: bytes  # the payload as loaded: the base of a checked write
    payload: payload_format.Payload
    resign: bool  # the cookie was signed with a fallback secret: send it again, signed anew
    migrate: bool  # a pickled payload: store it again, as JSON
    cached: bool = False  # served by local_cache: no command was sent (and no TTL refreshed)
    recookie: bool = False  # local_cache: the cookie names another version than the one loaded


class Damaged(NamedTuple):
    """A key whose payload no request can use (undecodable, out of range, too large).

    Reported as ``reason``, like any invalid session, and deleted at the end
    of the request, so that the reads that find it (a ``GETEX`` refreshes the
    TTL) do not keep it alive.
    """

    session_id: str
    reason: InvalidSession


def load(
    request: Any, settings: SessionSettings, store: Store, now: int
) -> Union[Loaded, Damaged, InvalidSession]:
    """The session the request's cookie leads to, or why it leads nowhere."""
    session_id, version, sent = settings.cookies.read_versioned(request)
    if session_id is None:
        if sent:
            return InvalidSession_BadCookie("session cookie could not be verified")
        return InvalidSession_NoSessionCookie("no session cookie")
    rules, cache = settings.rules, settings.local_cache
    raw = cache.get(session_id, version) if (cache is not None and version is not None) else None
    cached = raw is not None
    if raw is None:
        raw = store.load(session_id, rules.timeout if rules.getex_on_load else None)
        if raw is None:
            return InvalidSession_NotInBackend("session is not in Redis (expired or evicted)")
    limit = settings.max_payload_bytes
    if limit is not None and len(raw) > limit:
        # Not decoded at all: decoding takes time in proportion to the size.
        log.warning("pyramid_session_redis: a stored session payload is %d bytes, more than "
                    "max_payload_bytes = %d; starting a new session", len(raw), limit)
        reason = f"payload is {len(raw)} bytes, more than max_payload_bytes = {limit}"
        return Damaged(session_id, InvalidSession_DeserializationError(reason))
    try:
        loaded = payload_format.decode(settings.deserialize(raw))
    except InvalidSession as exc:  # an unknown payload version
        return exc
    except Exception as exc:
        if not settings.deserialized_fails_new:
            raise RawDeserializationError(exc) from exc
        # The error's type and the size only, in the log and in what the hook
        # gets: a decoder's message may quote the payload's bytes (msgpack's
        # does), and what a session holds is not for logs.
        if isinstance(exc, payload_format.MalformedPayload):  # (our own words: which field is wrong)
            reason = f"payload is damaged ({exc}, {len(raw)} bytes)"
        else:
            reason = f"payload cannot be decoded ({type(exc).__name__}, {len(raw)} bytes)"
        if settings.log_undecodable:
            log.warning("pyramid_session_redis: a stored session %s; starting a new session", reason)
        return Damaged(session_id, InvalidSession_DeserializationError(reason))
    migrate = settings.rewrite_pickles and payload_format.is_pickle(raw)
    if migrate:
        unfit = _json_cannot_hold(loaded)
        if unfit is not None:
            return unfit
    if rules.track_expiry and loaded.expires is not None and now >= loaded.expires:
        return InvalidSession_PayloadTimeout("session expired by the expiry in its payload")
    recookie = False
    if cache is not None and not cached and loaded.stamp is not None and not migrate:
        cache.put(session_id, loaded.stamp, raw, cacheable_seconds(rules, loaded.timeout, loaded.expires, now))
        recookie = version != loaded.stamp  # so that the next request can be served from the cache
    return Loaded(session_id, raw, loaded, sent == SENT_OLD_SECRET, migrate, cached, recookie)


def _json_cannot_hold(loaded: payload_format.Payload) -> Union[InvalidSession, None]:
    """A pickled session migrates only if JSON can hold its values; else it is replaced."""
    try:
        encoded = payload_format.encode(loaded.data, loaded.created, loaded.timeout, loaded.expires)
        payload_format.json_serialize(encoded)
    except (TypeError, ValueError) as exc:
        return InvalidSession_PayloadLegacy(f"pickled session cannot be stored as JSON: {exc}")
    return None
