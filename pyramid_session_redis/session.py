"""RedisSession: the ISession a view sees.

The session is lazy: it holds the request and the factory's shared settings,
and nothing else until the view reads or writes it.  Then it loads the payload
once (one Redis command), keeps the bytes it loaded as the fingerprint, and
from there on only records what happened.  Two callbacks registered on first
use settle the cookie (response callback) and storage (finished callback),
each after asking ``policy``.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import secrets
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar

from pyramid.interfaces import ISession
from zope.interface import implementer

from . import merge
from . import payload as payload_format
from .cookies import SENT_OLD_SECRET, add_vary_cookie
from .exceptions import (
    InvalidSession,
    InvalidSession_BadCookie,
    InvalidSession_DeserializationError,
    InvalidSession_NoSessionCookie,
    InvalidSession_NotInBackend,
    InvalidSession_PayloadLegacy,
    InvalidSession_PayloadTimeout,
    RawDeserializationError,
    SessionBackendError,
    SessionConflict,
    SessionPayloadTooLarge,
)
from .policy import Action, Cookie, SessionView, cookie_action, storage_decision, write_terms
from .store import GONE, WRITTEN

log = logging.getLogger("pyramid_session_redis")

# Values of these types cannot change in place; handing them out is safe.
IMMUTABLE = frozenset((str, int, float, bool, type(None), bytes))
_MISSING = object()
_CREATE_ATTEMPTS = 5
_WRITE_ATTEMPTS = 12
_RETRY_LOCKS = tuple(threading.Lock() for _ in range(64))  # striped by session id: bounded, no clean-up


def _hashed(session_id: Optional[str]) -> str:
    """A session id as logs may show it: enough to correlate, useless to hijack."""
    return hashlib.sha256((session_id or "").encode("utf-8")).hexdigest()[:12]


def current_time() -> int:
    """Whole seconds since the epoch (tests replace this)."""
    return int(time.time())


_F = TypeVar("_F", bound=Callable[..., Any])


def _reads(method: _F) -> _F:
    """A read of the session dict: load it first."""

    @functools.wraps(method)
    def read(self: RedisSession, *args: Any, **kwargs: Any) -> Any:
        if self._data is None:
            self._load()
        return method(self, *args, **kwargs)

    return read  # type: ignore[return-value]


@implementer(ISession)
class RedisSession:
    """A Pyramid session kept in Redis.  Made by the factory; use ``request.session``."""

    __slots__ = (
        "request",
        "_factory",
        "_data",
        "_session_id",
        "_stored",
        "_new",
        "_created",
        "_timeout",
        "_expires",
        "_expires_pinned",
        "_raw",
        "_dirty",
        "_exposed",
        "_keep",
        "_recookie",
        "_cookie_overrides",
        "_doomed",
        "_regenerated_from",
        "_bad_cookie",
        "_ttl_mismatch",
        "_active",
        "_cookie_sent",
        "_response",
        "_increments",
        "_degraded",
    )

    def __init__(self, request: Any, factory: Any):
        self.request = request
        self._factory = factory
        self._data: Optional[Dict[str, Any]] = None  # None until loaded
        self._session_id: Optional[str] = None
        self._stored = False
        self._new = True
        self._created = 0
        self._timeout: Optional[int] = None
        self._expires: Optional[int] = None
        self._expires_pinned = False
        self._raw: Optional[bytes] = None
        self._dirty = False
        self._exposed = False
        self._keep = False
        self._recookie = False
        self._cookie_overrides: Optional[Dict[str, Any]] = None
        self._doomed: Optional[str] = None
        self._regenerated_from: Optional[str] = None
        self._bad_cookie = False
        self._ttl_mismatch = False
        self._active = False
        self._cookie_sent = False
        self._response: Any = None
        self._increments: Optional[Dict[str, Any]] = None  # incr() calls, for merging
        self._degraded = False  # Redis failed and on_backend_error = degrade

    # -- loading ------------------------------------------------------------

    def _activate(self) -> None:
        """Register the end-of-request callbacks, once, on first real use."""
        if not self._active:
            self._active = True
            self.request.add_response_callback(self._on_response)
            self.request.add_finished_callback(self._on_finished)

    def _start_fresh(self) -> None:
        self._data = {}
        self._session_id = None
        self._stored = False
        self._new = True
        self._created = current_time()
        self._timeout = self._factory.rules.timeout
        self._expires = None
        self._expires_pinned = False
        self._raw = None
        self._dirty = False
        self._exposed = False
        self._keep = False
        self._ttl_mismatch = False
        self._increments = None

    def _invalid(self, exc: InvalidSession) -> None:
        logger = self._factory.invalid_logger
        if logger is not None:
            logger(self.request, exc)

    def _load(self) -> None:
        self._activate()
        factory = self._factory
        session_id, sent = factory.cookies.read(self.request)
        self._start_fresh()
        if session_id is None:
            if sent:
                self._bad_cookie = True
                self._invalid(InvalidSession_BadCookie("session cookie could not be verified"))
            else:
                self._invalid(InvalidSession_NoSessionCookie("no session cookie"))
            return
        rules = factory.rules
        try:
            raw = factory.store.load(session_id, rules.timeout if rules.getex_on_load else None)
        except SessionBackendError as exc:
            self._backend_failed(exc)
            self._degraded = True  # (only reached in degrade mode) empty, unstored, cookie untouched
            return
        if raw is None:
            self._bad_cookie = True
            self._invalid(InvalidSession_NotInBackend("session is not in Redis (expired or evicted)"))
            return
        try:
            loaded = payload_format.decode(factory.deserialize(raw))
        except InvalidSession as exc:  # an unknown payload version
            self._bad_cookie = True
            self._invalid(exc)
            return
        except Exception as exc:
            if not factory.deserialized_fails_new:
                raise RawDeserializationError(exc) from exc
            self._bad_cookie = True
            if factory.log_undecodable:
                log.warning("pyramid_session_redis: a stored session payload cannot be decoded (%r); "
                            "starting a new session", exc)
            self._invalid(InvalidSession_DeserializationError(f"payload cannot be decoded: {exc!r}"))
            return
        if factory.pickle_migration and payload_format.is_pickle(raw):
            if not self._can_store_as_json(loaded):
                return
            self._dirty = True  # stored again, as JSON, at the end of this request
        if rules.track_expiry and loaded.expires is not None and current_time() >= loaded.expires:
            self._bad_cookie = True
            self._invalid(InvalidSession_PayloadTimeout("session expired by the expiry in its payload"))
            return
        self._data = loaded.data
        self._session_id = session_id
        self._stored = True
        if sent == SENT_OLD_SECRET:
            self._recookie = True  # signed with a fallback secret: sign it with the current one
        self._new = False
        self._created = loaded.created
        self._timeout = loaded.timeout
        self._expires = loaded.expires if rules.track_expiry else None
        self._raw = raw
        self._ttl_mismatch = rules.getex_on_load and loaded.timeout != rules.timeout

    def _can_store_as_json(self, loaded: payload_format.Payload) -> bool:
        """A pickled session migrates only if JSON can hold its values; else it is replaced."""
        try:
            encoded = payload_format.encode(loaded.data, loaded.created, loaded.timeout, loaded.expires)
            payload_format.json_serialize(encoded)
        except (TypeError, ValueError) as exc:
            self._bad_cookie = True
            self._invalid(InvalidSession_PayloadLegacy(f"pickled session cannot be stored as JSON: {exc}"))
            return False
        return True

    # -- end of request -----------------------------------------------------

    def _view(self) -> SessionView:
        # Built twice per request: positionally (NamedTuple._make, in
        # SessionView's field order) it costs a third of the keyword call.
        return SessionView._make(
            (
                self._stored,  # stored
                self._new,  # new
                self._session_id is not None,  # has_id
                self._doomed is not None,  # doomed
                self._bad_cookie,  # bad_cookie
                not self._data,  # empty
                self._keep,  # keep
                self._dirty,  # dirty
                self._exposed,  # exposed
                self._recookie,  # recookie
                self._timeout,  # timeout
                self._expires,  # expires
                self._expires_pinned,  # expires_pinned
                self._ttl_mismatch,  # ttl_mismatch
                self._cookie_sent,  # cookie_sent
            )
        )

    def _on_response(self, request: Any, response: Any) -> None:
        factory = self._factory
        if self._degraded:
            add_vary_cookie(response)
            return
        allowed = factory.cookie_on_exception or getattr(request, "exception", None) is None
        if allowed and factory.allow_cookies is not None:
            allowed = bool(factory.allow_cookies(response))
        action = cookie_action(self._view(), factory.rules, allowed)
        if action is Cookie.SET:
            if self._session_id is None:
                self._session_id = factory.new_id()
            factory.cookies.set(response, self._session_id, self._cookie_overrides)
            self._cookie_sent = True
            self._response = response
        elif action is Cookie.DELETE:
            factory.cookies.delete(response)
        else:
            # The response was built after reading this session: shared caches
            # must not serve it to a request with another cookie.
            add_vary_cookie(response)

    def _on_finished(self, request: Any) -> None:
        try:
            if not self._degraded:
                self._settle()
        except SessionBackendError as exc:
            # Raised (default): the client gets an error, so nobody believes a
            # write stuck that did not.  Degraded: the response stands.
            self._backend_failed(exc, lost_write=True)
        finally:
            self._response = None  # break the reference cycle early

    def _backend_failed(self, exc: SessionBackendError, lost_write: bool = False) -> None:
        """Report a Redis failure; raise it unless on_backend_error = degrade."""
        factory = self._factory
        if factory.backend_error_logger is not None:
            factory.backend_error_logger(self.request, exc)
        if not factory.degrade:
            raise exc
        if lost_write:
            log.warning("pyramid_session_redis: a session write was lost (session %s): %s",
                        _hashed(self._session_id), exc)

    def _settle(self) -> None:
        factory = self._factory
        store = factory.store
        now = current_time()
        if self._regenerated_from is not None and not self._cookie_sent:
            # regenerate_id() without a cookie to tell the browser the new id:
            # keep the session where the browser's cookie points (and drop a
            # copy that do_persist() wrote under the new id).
            if self._stored:
                self._doomed = self._session_id
                self._raw = None  # what the old key holds is no longer known: write it whole
            else:
                self._doomed = None
            self._session_id, self._stored, self._dirty = self._regenerated_from, True, True
            self._regenerated_from = None
        view = self._view()
        decision = storage_decision(view, factory.rules, now)
        if factory.trace is not None:
            factory.trace.settled(view, decision, self._data)
        action = decision.action
        if action is Action.CREATE or action is Action.SAVE or action is Action.SAVE_IF_CHANGED:
            # Serialized first: a session too large to store leaves Redis as it was.
            data = self._serialize(decision.expires)
        if decision.delete_old:
            store.delete(self._doomed)
            self._doomed = None
        if action is Action.NOTHING:
            return
        if action is Action.DELETE:
            if factory.checked_writes:
                self._write(None, None, None)
            else:
                store.delete(self._session_id)
            return
        if action is Action.REFRESH:
            store.refresh(self._session_id, decision.ttl)
            return
        if action is Action.SAVE_IF_CHANGED and data == self._raw:
            if decision.otherwise is Action.REFRESH:
                store.refresh(self._session_id, decision.ttl)
            return
        if action is Action.CREATE:
            self._create(data, decision.ttl)
        elif factory.checked_writes:
            self._write(data, decision.ttl, decision.expires)
            return
        else:
            store.save(self._session_id, data, decision.ttl)
        self._mark_stored(data, decision.expires)

    def _write(self, data: Optional[bytes], ttl: Optional[int], expires: Optional[int]) -> None:
        """Store ``data`` (None: delete) only if Redis still holds what this request
        loaded; otherwise merge this request's changes into what is there now, and
        try again (``on_conflict``).  One command when nobody else wrote."""
        if self._raw is None:
            self._factory.store.save(self._session_id, data, ttl)
            self._written(WRITTEN, data, expires, ())
            return
        reply = self._factory.store.checked_save(self._session_id, self._raw, data, ttl)
        if type(reply) is int:
            self._written(reply, data, expires, ())
            return
        # Another request wrote first.  The requests of this process that collide
        # on this session retry one at a time; otherwise, with many at once, each
        # one's merge is overtaken by another's write, again and again.
        if not self._factory.merge_conflicts:
            raise SessionConflict("another request changed the session after this one loaded it (on_conflict = raise)")
        with _RETRY_LOCKS[hash(self._session_id) % len(_RETRY_LOCKS)]:
            self._merge_and_retry(reply, data, ttl, expires)

    def _merge_and_retry(self, reply: bytes, data: Optional[bytes], ttl: Optional[int], expires: Optional[int]) -> None:
        factory = self._factory
        overwritten: List[str] = []
        for attempt in range(_WRITE_ATTEMPTS):
            loaded = self._decoded(self._raw) or {}
            theirs = self._decoded(reply)
            if theirs is None:
                theirs = loaded  # what is there cannot be read: this request's whole session replaces it
            merged, keys = merge.merge(loaded, self._data, theirs, self._increments or {})  # type: ignore[arg-type]
            overwritten += keys
            self._data = merged
            self._raw = reply  # the new base; our increments stay ours to add
            data = self._serialize(expires) if (merged or not factory.rules.invalidate_empty) else None
            result = factory.store.checked_save(self._session_id, reply, data, ttl)
            if type(result) is int:
                self._written(result, data, expires, overwritten)
                return
            # Overtaken again, by a request of another process: step aside for a
            # random moment, longer each time (at most 50 ms), then merge into a
            # fresh read, so that the merge is not stale before it is sent.
            time.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** attempt)))
            fresh = factory.store.load(self._session_id)
            if fresh is None:
                self._written(GONE, data, expires, overwritten)
                return
            reply = fresh
        raise SessionConflict(f"the session kept changing under {_WRITE_ATTEMPTS} attempts to merge into it")

    def _written(
        self, result: int, data: Optional[bytes], expires: Optional[int], overwritten: Sequence[str]
    ) -> None:
        """After a checked write: WRITTEN, or GONE (invalidated, regenerated away or expired meanwhile)."""
        if result != WRITTEN:
            self._stored = False
            if data is not None:
                ended = "the session ended while this request ran; its changes were dropped"
                self._conflict(SessionConflict(ended, gone=True))
            return
        if overwritten:
            keys = tuple(sorted(set(overwritten)))
            kept = f"kept this request's value of {list(keys)}, which another request also changed"
            self._conflict(SessionConflict(kept, keys=keys))
        self._increments = None  # added in; a later do_persist() counts from here
        if data is None:
            self._stored = False
        else:
            self._mark_stored(data, expires)

    def _decoded(self, raw: Optional[bytes]) -> Optional[Dict[str, Any]]:
        """The managed dict of a stored payload, or None if it cannot be read."""
        try:
            return payload_format.decode(self._factory.deserialize(raw)).data
        except Exception:
            return None

    def _conflict(self, exc: SessionConflict) -> None:
        logger = self._factory.conflict_logger
        if logger is not None:
            logger(self.request, exc)

    def _serialize(self, expires: Optional[int]) -> bytes:
        factory = self._factory
        data = factory.serialize(payload_format.encode(self._data, self._created, self._timeout, expires))  # type: ignore[arg-type]
        if isinstance(data, str):
            data = data.encode("utf-8")
        limit = factory.max_payload_bytes
        if limit is not None and len(data) > limit and data != self._raw:  # already stored: not new
            raise SessionPayloadTooLarge(len(data), limit)
        return data  # type: ignore[no-any-return]

    def _create(self, data: bytes, ttl: Optional[int]) -> None:
        """SET NX under a fresh id; on the (astronomically rare) clash, draw another."""
        store = self._factory.store
        for _ in range(_CREATE_ATTEMPTS):
            if store.create(self._session_id, data, ttl):
                return
            self._session_id = self._factory.new_id()
            if self._response is not None:
                self._factory.cookies.set(self._response, self._session_id, self._cookie_overrides)
        raise RuntimeError(f"id_generator gave {_CREATE_ATTEMPTS} ids in a row that are already in Redis")

    def _mark_stored(self, data: bytes, expires: Optional[int]) -> None:
        self._raw = data
        self._stored = True
        self._dirty = False
        self._exposed = False
        self._keep = False
        self._expires = expires
        self._expires_pinned = False
        self._ttl_mismatch = False

    # -- ISession -----------------------------------------------------------

    @property
    @_reads
    def created(self) -> float:
        """When the session was created, in whole seconds since the epoch."""
        return self._created

    @property
    @_reads
    def new(self) -> bool:
        """True when the session was created in this request (no usable cookie came in)."""
        return self._new

    def invalidate(self) -> None:
        """End this session: its data is dropped, its Redis key deleted at the
        end of the request, and the cookie removed (or replaced, if the request
        goes on to store something in the fresh session that takes its place)."""
        self._activate()
        if self._data is None:
            # Not loaded: the id in a verified cookie is all we need to delete it.
            session_id, sent = self._factory.cookies.read(self.request)
            self._bad_cookie = sent and session_id is None
            self._doomed = session_id
        elif self._stored:
            self._doomed = self._session_id
        self._start_fresh()
        self._regenerated_from = None
        self._recookie = False
        self._cookie_overrides = None

    @_reads
    def regenerate_id(self) -> None:
        """Give the session a fresh id and keep its data (call it at login and
        whenever privileges change, against session fixation).

        The data is stored under the new id at the end of the request, the old
        key is deleted and the cookie is sent again; the old cookie then leads
        nowhere.  If this response may not carry a cookie (see
        ``func_check_response_allow_cookies``), the browser could not learn
        the new id, so the session stays under its old one.
        """
        if self._stored:
            self._doomed = self._session_id
            self._regenerated_from = self._session_id
        self._session_id = None  # drawn when the cookie is set
        self._stored = False
        self._keep = True
        self._dirty = True
        self._recookie = True  # also when do_persist() stores it before the response
        self._ttl_mismatch = False

    @_reads
    def incr(self, key: str, amount: Any = 1) -> Any:
        """Add ``amount`` to the number under ``key`` (0 when missing) and return it.

        Recorded as an increment, not a value: when concurrent requests
        increment the same counter, every increment counts.
        """
        data: Dict[str, Any] = self._data  # type: ignore[assignment]
        value = data.get(key, 0) + amount
        data[key] = value
        increments = self._increments
        if increments is None:
            increments = self._increments = {}
        increments[key] = increments.get(key, 0) + amount
        self._dirty = True
        return value

    @_reads
    def changed(self) -> None:
        """Mark the session changed (for in-place changes when ``detect_changes`` is off)."""
        self._dirty = True

    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        """Add a message to a flash queue (stored in the session under ``"_f_" + queue``)."""
        storage = self.setdefault("_f_" + queue, [])
        if allow_duplicate or msg not in storage:
            storage.append(msg)
            self._dirty = True

    def pop_flash(self, queue: str = "") -> List[Any]:
        """Remove and return the messages of a flash queue."""
        return self.pop("_f_" + queue, [])  # type: ignore[no-any-return]

    def peek_flash(self, queue: str = "") -> List[Any]:
        """Return the messages of a flash queue without removing them."""
        return self.get("_f_" + queue, [])  # type: ignore[no-any-return]

    def new_csrf_token(self) -> str:
        """Make, store and return a new CSRF token (64 hex characters)."""
        token = secrets.token_hex(32)
        self["_csrft_"] = token
        return token

    def get_csrf_token(self) -> str:
        """Return the session's CSRF token, making one if there is none."""
        token = self.get("_csrft_")
        return token if token is not None else self.new_csrf_token()

    # -- dict API -----------------------------------------------------------

    @_reads
    def __getitem__(self, key: str) -> Any:
        value = self._data[key]  # type: ignore[index]
        if type(value) not in IMMUTABLE:
            self._exposed = True
        return value

    @_reads
    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)  # type: ignore[union-attr]
        if type(value) not in IMMUTABLE:
            self._exposed = True
        return value

    @_reads
    def __setitem__(self, key: str, value: Any) -> None:
        data: Dict[str, Any] = self._data  # type: ignore[assignment]
        if type(value) in IMMUTABLE:
            old = data.get(key, _MISSING)
            if type(old) is type(value) and old == value:
                return  # the same immutable value again: nothing to write
        data[key] = value
        self._dirty = True

    @_reads
    def __delitem__(self, key: str) -> None:
        del self._data[key]  # type: ignore[union-attr]
        self._dirty = True

    @_reads
    def __contains__(self, key: object) -> bool:
        return key in self._data  # type: ignore[operator]

    @_reads
    def __len__(self) -> int:
        return len(self._data)  # type: ignore[arg-type]

    @_reads
    def __bool__(self) -> bool:
        return bool(self._data)

    @_reads
    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))  # type: ignore[arg-type]

    @_reads
    def keys(self) -> List[str]:
        return list(self._data)  # type: ignore[arg-type]

    @_reads
    def values(self) -> List[Any]:
        self._exposed = True
        return list(self._data.values())  # type: ignore[union-attr]

    @_reads
    def items(self) -> List[Any]:
        self._exposed = True
        return list(self._data.items())  # type: ignore[union-attr]

    @_reads
    def setdefault(self, key: str, default: Any = None) -> Any:
        data: Dict[str, Any] = self._data  # type: ignore[assignment]
        if key in data:
            return self.get(key)
        data[key] = default
        self._dirty = True
        if type(default) not in IMMUTABLE:
            self._exposed = True
        return default

    @_reads
    def pop(self, key: str, *default: Any) -> Any:
        data: Dict[str, Any] = self._data  # type: ignore[assignment]
        if key in data:
            self._dirty = True
        return data.pop(key, *default)

    @_reads
    def popitem(self) -> Any:
        item = self._data.popitem()  # type: ignore[union-attr]
        self._dirty = True
        return item

    @_reads
    def update(self, *args: Any, **kwargs: Any) -> None:
        self._data.update(*args, **kwargs)  # type: ignore[union-attr]
        self._dirty = True

    @_reads
    def clear(self) -> None:
        if self._data:
            self._data.clear()
            self._dirty = True

    def __repr__(self) -> str:
        state = "unloaded" if self._data is None else f"{len(self._data)} keys"
        return f"<RedisSession {state} at {id(self):#x}>"

    # -- pyramid_session_redis extras ----------------------------------------

    @property
    @_reads
    def session_id(self) -> Optional[str]:
        """The id, or None while this new session has none (see ``ensure_id``)."""
        return self._session_id

    @property
    @_reads
    def session_id_safecheck(self) -> Optional[str]:
        """The id if the session has data or already has an id; never makes one for an empty session."""
        if self._session_id is None and not self._data:
            return None
        return self.ensure_id()

    @_reads
    def ensure_id(self) -> str:
        """Give the session an id now and keep it even if it stays empty."""
        if self._session_id is None:
            self._session_id = self._factory.new_id()
            self._keep = True
        return self._session_id

    @property
    @_reads
    def managed_dict(self) -> Dict[str, Any]:
        """The dict itself; changes in place are found by ``detect_changes``."""
        self._exposed = True
        return self._data  # type: ignore[return-value]

    @property
    @_reads
    def timeout(self) -> Optional[int]:
        """This session's timeout in seconds (None: it never times out)."""
        return self._timeout

    @property
    @_reads
    def expires(self) -> Optional[int]:
        """The expiry kept in the payload (with ``python_expires``), else None."""
        return self._expires

    @_reads
    def do_persist(self) -> None:
        """Write the session to Redis now, rather than at the end of the request.

        Raises ``SessionBackendError`` when Redis fails, in both
        ``on_backend_error`` modes, and when the session could not be loaded in
        this request (degraded): the view then knows its change is not stored,
        and nothing more is attempted for this session in this request.
        """
        factory = self._factory
        if self._degraded:
            raise SessionBackendError("the session could not be loaded in this request; nothing can be stored")
        self.ensure_id()
        expires, ttl = write_terms(self._view(), factory.rules, current_time())
        data = self._serialize(expires)
        kept_expires = expires if factory.rules.track_expiry else None
        try:
            if not self._stored:
                self._create(data, ttl)
            elif factory.checked_writes and self._raw is not None:
                self._write(data, ttl, kept_expires)
                return
            else:
                factory.store.save(self._session_id, data, ttl)
        except SessionBackendError as exc:
            # The view is told; the end of the request must not store the
            # change after all (Redis may be back by then) nor fail again.
            self._degraded = True
            if factory.backend_error_logger is not None:
                factory.backend_error_logger(self.request, exc)
            raise
        self._mark_stored(data, kept_expires)

    @_reads
    def do_refresh(self, force_redis_ttl: Optional[int] = None) -> None:
        """Refresh the Redis TTL now (``EXPIRE``); does nothing for an unstored session or without a TTL."""
        if not self._stored:
            return
        rules = self._factory.rules
        ttl = force_redis_ttl or (self._timeout if rules.redis_ttl else None)
        if ttl:
            self._factory.store.refresh(self._session_id, ttl)
            self._ttl_mismatch = False

    @_reads
    def please_recookie(self) -> None:
        """Send the cookie again on this response (for example after changing its max-age)."""
        self._recookie = True

    def adjust_cookie_max_age(self, max_age: Any) -> None:
        """Max-Age of the cookie sent with this response (re-sends the cookie)."""
        self._cookie_overrides = {**(self._cookie_overrides or {}), "max_age": max_age}
        self.please_recookie()

    def adjust_cookie_expires(self, expires: Any) -> None:
        """Expires of the cookie sent with this response (re-sends the cookie)."""
        self._cookie_overrides = {**(self._cookie_overrides or {}), "expires": expires}
        self.please_recookie()

    @_reads
    def adjust_session_expires(self, expires_epoch: int) -> None:
        """Make this session expire at ``expires_epoch`` (seconds since the epoch)."""
        self._expires = int(expires_epoch)
        self._expires_pinned = True
        self._dirty = True

    @_reads
    def adjust_session_timeout(self, timeout_seconds: int) -> None:
        """Give this session its own timeout, kept for as long as it lives."""
        self._timeout = int(timeout_seconds) or None
        self._dirty = True

    # 1.x spellings
    adjust_expires_for_session = adjust_session_expires
    adjust_timeout_for_session = adjust_session_timeout
