"""A session's record of itself: lazy load, what changed, and the end-of-request callbacks.

``SessionState`` holds the request and the session's collaborators (frozen
settings, a store, the hooks) and nothing else until the view uses the
session.  Then it loads the payload once (``loading``), and from there on
only records what happened.  Two callbacks registered on first use settle the
cookie (response callback, after asking ``policy``) and storage (finished
callback, through ``persist``).  ``RedisSession`` is the face views see.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from typing import Any, Callable, Dict, Optional, TypeVar, cast

from . import persist
from .cookies import add_vary_cookie
from .exceptions import InvalidSession, InvalidSession_NoSessionCookie, SessionBackendError, SessionPayloadError
from .loading import Damaged, load
from .policy import Cookie, SessionView, cookie_action
from .resolved import Hooks, SessionSettings
from .store import Store

log = logging.getLogger("pyramid_session_redis")


def _hashed(session_id: Optional[str]) -> str:
    """A session id as logs may show it: enough to correlate, useless to hijack."""
    return hashlib.sha256((session_id or "").encode("utf-8")).hexdigest()[:12]


def current_time() -> int:
    """Whole seconds since the epoch: the ``now`` the session hands to policy and persist."""
    return int(time.time())


_F = TypeVar("_F", bound=Callable[..., Any])


def reads(method: _F) -> _F:
    """A read of the session: load it first."""

    @functools.wraps(method)
    def read(self: SessionState, *args: Any, **kwargs: Any) -> Any:
        if not self._loaded:
            self._load()
        return method(self, *args, **kwargs)

    return cast(_F, read)


def changes(method: _F) -> _F:
    """A change to the session (as Pyramid's ``manage_changed``): load it first,
    and once the change is made, mark the session for writing."""

    @functools.wraps(method)
    def change(self: SessionState, *args: Any, **kwargs: Any) -> Any:
        if not self._loaded:
            self._load()
        result = method(self, *args, **kwargs)
        self._dirty = True
        return result

    return cast(_F, change)


class SessionState:
    """What one request's session is and what happened to it; see ``RedisSession``."""

    __slots__ = (
        "request",
        "_settings",
        "_store",
        "_hooks",
        "_data",
        "_loaded",
        "_session_id",
        "_stored",
        "_new",
        "_created",
        "_timeout",
        "_expires",
        "_expires_pinned",
        "_raw",
        "_stamp",
        "_next_stamp",
        "_cookie_deleted",
        "_may_set_cookie",
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
        "_version_to",
        "_from_cache",
        "_increments",
        "_degraded",
    )

    def __init__(self, request: Any, settings: SessionSettings, store: Store, hooks: Hooks):
        self.request = request
        self._settings = settings
        self._store = store
        self._hooks = hooks
        self._data: Dict[str, Any] = {}
        self._loaded = False
        self._session_id: Optional[str] = None
        self._stored = False
        self._new = True
        self._created = 0
        self._timeout: Optional[int] = None
        self._expires: Optional[int] = None
        self._expires_pinned = False
        self._raw: Optional[bytes] = None  # the payload as loaded or last written
        self._stamp: Optional[str] = None  # the stamp of _raw (None: it has none)
        self._next_stamp: Optional[str] = None  # the stamp of the payload being written
        self._cookie_deleted = False  # this response deletes the cookie of an emptied session
        self._may_set_cookie = True  # False: an exception response under cookie_on_exception = false
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
        self._version_to: Any = None  # local_cache: the response whose cookie must name what a write stores
        self._from_cache = False  # local_cache served the payload: no command was sent
        self._increments: Optional[Dict[str, Any]] = None  # incr() calls, for merging
        self._degraded = False  # Redis failed and on_backend_error = degrade

    @property
    def _sid(self) -> str:
        """The id the session is stored (or about to be stored) under."""
        return cast(str, self._session_id)

    # -- loading ------------------------------------------------------------

    def _activate(self) -> None:
        """Register the end-of-request callbacks, once, on first real use."""
        if not self._active:
            self._active = True
            self.request.add_response_callback(self._on_response)
            self.request.add_finished_callback(self._on_finished)

    def _start_fresh(self, now: int) -> None:
        self._data = {}
        self._loaded = True
        self._session_id = None
        self._stored = False
        self._new = True
        self._created = now
        self._timeout = self._settings.rules.timeout
        self._expires = None
        self._raw = None
        self._stamp = None
        self._increments = None
        self._unchanged()

    def _unchanged(self) -> None:
        """Nothing is left to write: the session was just started, or just stored."""
        self._dirty = False
        self._exposed = False
        self._keep = False
        self._expires_pinned = False
        self._ttl_mismatch = False

    def _load(self) -> None:
        self._activate()
        now = current_time()
        self._start_fresh(now)
        try:
            found = load(self.request, self._settings, self._store, now)
        except SessionBackendError as exc:
            self._backend_failed(exc)
            self._degraded = True  # (only reached in degrade mode) empty, unstored, cookie untouched
            return
        if isinstance(found, Damaged):
            self._doomed = found.session_id  # deleted at the end of the request: not kept alive by reads
            found = found.reason
        if isinstance(found, InvalidSession):
            self._bad_cookie = type(found) is not InvalidSession_NoSessionCookie
            if self._hooks.invalid is not None:
                self._hooks.invalid(self.request, found)
            return
        rules, payload = self._settings.rules, found.payload
        self._data = payload.data
        self._session_id = found.session_id
        self._stored = True
        self._new = False
        if found.resign:
            self._recookie = True  # signed with a fallback secret: sign it with the current one
        self._dirty = found.migrate  # a pickled payload is stored again, as JSON, at the end of this request
        self._created = payload.created
        self._timeout = payload.timeout
        self._expires = payload.expires if rules.track_expiry else None
        self._raw = found.raw
        self._stamp = payload.stamp
        self._from_cache = found.cached
        if found.recookie:
            self._recookie = True  # local_cache: name the version loaded, so that the next request hits
        # (A cached copy refreshed nothing: the request that loaded it did.)
        self._ttl_mismatch = rules.getex_on_load and not found.cached and payload.timeout != rules.timeout

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
                self._regenerated_from is not None,  # regenerated
            )
        )

    def _on_response(self, request: Any, response: Any) -> None:
        if self._degraded:
            add_vary_cookie(response)
            return
        settings = self._settings
        allowed = settings.allow_cookies is None or bool(settings.allow_cookies(response))
        may_set = self._may_set_cookie = settings.cookie_on_exception or getattr(request, "exception", None) is None
        action = cookie_action(self._view(), settings.rules, allowed, may_set)
        if settings.local_cache is not None and allowed and may_set and action is not Cookie.DELETE:
            self._version_to = response  # a write at the end of the request sends its version
        if action is Cookie.SET:
            if self._session_id is None:
                self._session_id = settings.new_id()
            self._send_cookie(response)
            self._cookie_sent = True
            self._response = response
        elif action is Cookie.DELETE:
            settings.cookies.delete(response)
            if self._stored and (may_set or not self._new):
                # Emptied: the write may find the deletion was wrong (persist._written).
                # (Not an invalidated session's successor whose cookie may not be set.)
                self._cookie_deleted = True
                self._response = response
        else:
            # The response was built after reading this session: shared caches
            # must not serve it to a request with another cookie.
            add_vary_cookie(response)

    def _on_finished(self, request: Any) -> None:
        try:
            if not self._degraded:
                persist.settle(self, current_time())
        except SessionBackendError as exc:
            # Raised (default): the client gets an error, so nobody believes a
            # write stuck that did not.  Degraded: the response stands.
            self._backend_failed(exc, lost_write=True)
        except SessionPayloadError as exc:
            # No view or exception view runs any more: raising would only swap
            # the response for a bare 500.  Redis keeps what it held.
            if self._hooks.payload_error is not None:
                self._hooks.payload_error(self.request, exc)
            log.error("pyramid_session_redis: the session was not stored at the end of the request "
                      "(session %s): %s", _hashed(self._session_id), exc)
        finally:
            self._response = self._version_to = None  # break the reference cycle early

    def _send_cookie(self, response: Any) -> None:
        """Set the cookie; with ``local_cache`` it names the version stored."""
        settings = self._settings
        version = self._stamp if settings.local_cache is not None else None
        settings.cookies.set(response, self._sid, self._cookie_overrides, version)

    def _backend_failed(self, exc: SessionBackendError, lost_write: bool = False) -> None:
        """Report a Redis failure; raise it unless on_backend_error = degrade."""
        if self._hooks.backend_error is not None:
            self._hooks.backend_error(self.request, exc)
        if not self._settings.degrade:
            raise exc
        if lost_write:
            log.warning("pyramid_session_redis: a session write was lost (session %s): %s",
                        _hashed(self._session_id), exc)
