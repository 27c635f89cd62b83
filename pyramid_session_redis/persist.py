"""The write path: carrying out a storage decision against the session's store.

``policy`` decides what to do with a session at the end of a request; this
module does it: create under a fresh id, write over what was loaded (checked),
save, refresh or delete, and merge-and-retry when another request wrote
first.  The end of the request (``settle``) and ``do_persist()``
(``persist_now``) store a payload through the same ``store_payload``.
Time comes in as ``now``; nothing here reads a clock of its own.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, cast

from . import merge
from . import payload as payload_format
from .exceptions import SessionBackendError, SessionConflict, SessionPayloadError, SessionPayloadTooLarge
from .policy import Action, Decision, storage_decision, write_terms
from .store import GONE, WRITTEN

if TYPE_CHECKING:
    from .lifecycle import SessionState

_CREATE_ATTEMPTS = 5
_WRITE_ATTEMPTS = 12
_RETRY_LOCKS = tuple(threading.Lock() for _ in range(64))  # striped by session id: bounded, no clean-up
_LOCK_WAIT = 0.05  # seconds

log = logging.getLogger("pyramid_session_redis")


def settle(session: SessionState, now: int) -> None:
    """End of the request: ask the policy for the one storage action, and carry it out."""
    if session._regenerated_from is not None and not session._cookie_sent:
        _end_unannounced(session, now)
    view = session._view()
    decision = storage_decision(view, session._settings.rules, now)
    if session._hooks.decided is not None:
        session._hooks.decided(view, decision, session._data)
    carry_out(session, decision)


def _end_unannounced(session: SessionState, now: int) -> None:
    """``regenerate_id()``, and no cookie could give the browser the new id
    (``func_check_response_allow_cookies`` refused the response, or Pyramid ran
    no response callbacks for an exception no view handled).

    The session ends instead of staying under its old id, which may be one an
    attacker planted (then logged in as the victim): the old key is deleted
    (it is doomed already), and so is a copy ``do_persist()`` stored under the
    new id, which no browser will ever present.  The user starts afresh.
    """
    if session._stored:
        session._store.delete(session._sid)
    session._regenerated_from = None
    session._start_fresh(now)
    log.warning(
        "pyramid_session_redis: regenerate_id() was called, but the response carried no session cookie "
        "(func_check_response_allow_cookies refused it, or no exception view rendered the error): the session "
        "was ended rather than kept under its old id; let the response of a login carry the cookie "
        "(Cache-Control: no-store or private)"
    )


def carry_out(session: SessionState, decision: Decision) -> None:
    """Send what ``decision`` asks for: at most one command, unless a write must merge."""
    store = session._store
    action = decision.action
    data: Optional[bytes] = None
    try:
        if action is Action.SAVE_IF_CHANGED:
            # Serialized as loaded (with the loaded stamp): the same bytes mean nothing changed.
            as_loaded = serialized(session, decision.expires, session._stamp)
            if as_loaded != session._raw:
                data = _stamped_anew(session, as_loaded, decision.expires)
        elif action is Action.CREATE or action is Action.SAVE:
            # Serialized first: a session too large to store leaves Redis as it was.
            data = _stamped_anew(session, None, decision.expires)
    except SessionPayloadError:
        if decision.delete_old:
            # What cannot be stored is not stored, but a session that was
            # invalidated or regenerated away still ends.
            store.delete(cast(str, session._doomed))
            session._doomed = None
        raise
    if decision.delete_old:
        store.delete(cast(str, session._doomed))  # (delete_old: the policy saw a doomed id)
        session._doomed = None
    if action is Action.NOTHING:
        return
    if action is Action.DELETE:
        if session._settings.checked_writes:
            _checked_write(session, None, None, None)
        else:
            store.delete(session._sid)
        return
    if action is Action.REFRESH or data is None:  # (data is None: SAVE_IF_CHANGED found no change)
        if action is Action.REFRESH or decision.otherwise is Action.REFRESH:
            store.refresh(session._sid, cast(int, decision.ttl))  # (the policy refreshes only with a TTL)
        return
    store_payload(session, action is Action.CREATE, data, decision.ttl, decision.expires)


def persist_now(session: SessionState, now: int) -> None:
    """``do_persist()``: store the session now, under the id it already has.

    A failure is reported and raised to the view, and marks the session
    degraded: the end of the request must not store the change after all
    (Redis may be back by then) nor fail again.
    """
    rules = session._settings.rules
    expires, ttl = write_terms(session._view(), rules, now)
    try:
        data = _stamped_anew(session, None, expires)
    except SessionPayloadError as exc:
        if session._hooks.payload_error is not None:
            session._hooks.payload_error(session.request, exc)
        raise
    try:
        store_payload(session, not session._stored, data, ttl, expires if rules.track_expiry else None)
    except SessionBackendError as exc:
        session._degraded = True
        if session._hooks.backend_error is not None:
            session._hooks.backend_error(session.request, exc)
        raise


def store_payload(session: SessionState, create: bool, data: bytes, ttl: Optional[int], expires: Optional[int]) -> None:
    """Write a serialized session: SET NX under a fresh id when it is new; else a
    checked write (``on_conflict`` merge or raise) or SET XX (overwrite), neither
    of which brings back a session that was ended meanwhile."""
    if create:
        _create(session, data, ttl)
        _mark_stored(session, data, expires)
    elif session._settings.checked_writes:
        _checked_write(session, data, ttl, expires)
    else:
        written = session._store.save(session._sid, data, ttl)
        _written(session, WRITTEN if written else GONE, data, expires, ())


def serialized(session: SessionState, expires: Optional[int], stamp: Optional[str]) -> bytes:
    """The session's payload, stamped ``stamp``, as the serializer makes it.

    Whatever the serializer raises becomes ``SessionPayloadError``: one
    documented error for a session that cannot be stored as it is.
    """
    try:
        data = session._settings.serialize(
            payload_format.encode(session._data, session._created, session._timeout, expires, stamp)
        )
    except SessionPayloadError:
        raise
    except Exception as exc:  # (TypeError, RecursionError, pickle's and msgpack's own errors...)
        raise SessionPayloadError(
            f"the session cannot be serialized ({type(exc).__name__}: {exc}); store only values "
            "the serializer can encode"
        ) from exc
    if isinstance(data, str):
        data = data.encode("utf-8")
    return data  # type: ignore[no-any-return]  # (what a user's serialize returns is not typed)


def _stamped_anew(session: SessionState, data: Optional[bytes], expires: Optional[int]) -> bytes:
    """The payload to write, with a stamp of its own (``data``: the same payload
    serialized with the loaded stamp, to restamp rather than serialize again).
    Refused (``SessionPayloadTooLarge``) when over ``max_payload_bytes``."""
    stamp = payload_format.new_stamp()
    restamped = None
    if data is not None and session._stamp is not None:
        restamped = payload_format.restamped(data, session._stamp, stamp)
    if restamped is None:
        restamped = serialized(session, expires, stamp)
    limit = session._settings.max_payload_bytes
    if limit is not None and len(restamped) > limit:
        raise SessionPayloadTooLarge(len(restamped), limit)
    session._next_stamp = stamp
    return restamped


def _create(session: SessionState, data: bytes, ttl: Optional[int]) -> None:
    """SET NX under a fresh id; on the (astronomically rare) clash, draw another."""
    settings = session._settings
    for _ in range(_CREATE_ATTEMPTS):
        if session._store.create(session._sid, data, ttl):
            return
        session._session_id = settings.new_id()
        if session._response is not None:
            session._send_cookie(session._response)
    raise RuntimeError(f"id_generator gave {_CREATE_ATTEMPTS} ids in a row that are already in Redis")


def _mark_stored(session: SessionState, data: bytes, expires: Optional[int]) -> None:
    session._raw = data
    session._stamp = session._next_stamp
    session._stored = True
    session._expires = expires
    session._unchanged()
    if session._settings.local_cache is not None:
        # The browser's cookie must name the version just written: the
        # response being built says it (or will, when written from the view).
        session._recookie = True
        if session._version_to is not None:
            session._send_cookie(session._version_to)


def _checked_write(session: SessionState, data: Optional[bytes], ttl: Optional[int], expires: Optional[int]) -> None:
    """Store ``data`` (None: delete) only if Redis still holds what this request
    loaded; otherwise merge this request's changes into what is there now, and
    try again (``on_conflict``).  One command when nobody else wrote."""
    store = session._store
    head, whole = payload_format.head_of(session._raw, session._stamp)
    reply = store.checked_save(session._sid, head, data, ttl, whole)
    if type(reply) is int:
        _written(session, reply, data, expires, ())
        return
    if not session._settings.merge_conflicts:
        raise SessionConflict("another request changed the session after this one loaded it (on_conflict = raise)")
    _merge_and_retry(session, reply, data, ttl, expires)


def _merge_and_retry(
    session: SessionState, reply: Any, data: Optional[bytes], ttl: Optional[int], expires: Optional[int]
) -> None:
    """Another request wrote first: merge into what it wrote, and write again, until
    one write goes through, the session is gone, or the time allowed is spent."""
    settings, store = session._settings, session._store
    deadline = time.monotonic() + settings.conflict_seconds
    # The requests of this process that collide on this session merge one at a
    # time; otherwise, with many at once, each one's merge is overtaken by
    # another's write, again and again.  A merge takes well under a millisecond:
    # a holder slower than _LOCK_WAIT is waiting on Redis, and this request goes
    # on without the lock rather than spend that wait before its own.
    lock = _RETRY_LOCKS[hash(session._session_id) % len(_RETRY_LOCKS)]
    locked = lock.acquire(timeout=_LOCK_WAIT)
    try:
        overwritten: List[str] = []
        for attempt in range(_WRITE_ATTEMPTS):
            loaded = _decoded(session, session._raw)
            theirs = _decoded(session, reply)
            base = loaded.data if loaded is not None else {}
            # What is there and cannot be read: this request's whole session replaces it.
            merged, keys = merge.merge(base, session._data, theirs.data if theirs is not None else base,
                                       session._increments or {})
            overwritten += keys
            session._data = merged
            # The new base; our increments stay ours to add.
            session._raw, session._stamp = reply, theirs.stamp if theirs is not None else None
            data = _stamped_anew(session, None, expires) if (merged or not settings.rules.invalidate_empty) else None
            head, whole = payload_format.head_of(reply, session._stamp)
            result = store.checked_save(session._sid, head, data, ttl, whole)
            if type(result) is int:
                _written(session, result, data, expires, overwritten)
                return
            # Overtaken again, by a request of another process: step aside for a
            # random moment, longer each time (at most 50 ms), then merge into a
            # fresh read, so that the merge is not stale before it is sent.
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, random.uniform(0, min(0.05, 0.0005 * 2 ** attempt))))
            fresh = store.load(session._sid)
            if fresh is None:
                _written(session, GONE, data, expires, overwritten)
                return
            reply = fresh
    finally:
        if locked:
            lock.release()
    raise SessionConflict(f"the session kept changing under {attempt + 1} attempts to merge into it")


def _written(
    session: SessionState, result: Any, data: Optional[bytes], expires: Optional[int], overwritten: Sequence[str]
) -> None:
    """After a write over what was loaded: WRITTEN, or GONE (invalidated,
    regenerated away, purged or expired meanwhile)."""
    if result != WRITTEN:
        session._stored = False
        if data is not None:
            ended = "the session ended while this request ran; its changes were dropped"
            _conflict(session, SessionConflict(ended, gone=True))
        elif session._cookie_deleted and session._response is not None:
            # This request emptied the session, and its response deletes the
            # cookie; but another request ended the session first, and the
            # browser's cookie may by now name a newer one.  Leave it alone.
            session._settings.cookies.unset(session._response)
        return
    if overwritten:
        keys = tuple(sorted(set(overwritten)))
        kept = f"kept this request's value of {list(keys)}, which another request also changed"
        _conflict(session, SessionConflict(kept, keys=keys))
    session._increments = None  # added in; a later do_persist() counts from here
    if data is None:
        session._stored = False
        return
    _mark_stored(session, data, expires)
    if session._cookie_deleted and session._response is not None:
        # This request emptied the session and its response deletes the cookie,
        # but the merge kept what another request stored meanwhile: the browser
        # must keep its cookie, or that data is out of its reach.  (Where no
        # cookie may be set, the deletion is taken back: the browser's cookie
        # names this very session.)
        if session._may_set_cookie:
            session._send_cookie(session._response)
        else:
            session._settings.cookies.unset(session._response)
        session._cookie_deleted = False


def _decoded(session: SessionState, raw: Any) -> Optional[payload_format.Payload]:
    """A stored payload, decoded, or None if it cannot be read."""
    try:
        return payload_format.decode(session._settings.deserialize(raw))
    except Exception:
        return None


def _conflict(session: SessionState, exc: SessionConflict) -> None:
    if session._hooks.conflict is not None:
        session._hooks.conflict(session.request, exc)
