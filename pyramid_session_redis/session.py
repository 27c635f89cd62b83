"""RedisSession: the ISession and dict a view sees, with the 1.x extras.

Every read loads the session first (``reads``); every change also marks it
for writing (``changes``).  Loading, change records and the end-of-request
callbacks live in ``lifecycle.SessionState``.
"""

from __future__ import annotations

import secrets
from typing import Any, Dict, Iterator, List, Optional

from pyramid.interfaces import ISession
from zope.interface import implementer

from . import lifecycle, persist
from .exceptions import SessionBackendError
from .lifecycle import SessionState, changes, reads
from .payload import MAX_EPOCH, MAX_TIMEOUT
from .session_compat import Session18

# Values of these types cannot change in place; handing them out is safe.
IMMUTABLE = frozenset((str, int, float, bool, type(None), bytes))
_MISSING = object()


@implementer(ISession)
class RedisSession(Session18, SessionState):
    """A Pyramid session kept in Redis.  Made by the factory; use ``request.session``."""

    __slots__ = ()

    # -- ISession -----------------------------------------------------------

    @property
    @reads
    def created(self) -> float:
        """When the session was created, in whole seconds since the epoch."""
        return self._created

    @property
    @reads
    def new(self) -> bool:
        """True when the session was created in this request (no usable cookie came in)."""
        return self._new

    def invalidate(self) -> None:
        """End this session: its data is dropped, its Redis key deleted at the
        end of the request, and the cookie removed (or replaced, if the request
        goes on to store something in the fresh session that takes its place)."""
        self._activate()
        if not self._loaded:
            # Not loaded: the id in a verified cookie is all we need to delete it.
            session_id, sent = self._settings.cookies.read(self.request)
            self._bad_cookie = bool(sent) and session_id is None
            self._doomed = session_id
        elif self._stored:
            self._doomed = self._session_id
        self._start_fresh(lifecycle.current_time())
        self._regenerated_from = None
        self._recookie = False
        self._cookie_overrides = None

    @changes
    def regenerate_id(self, keep_csrf: bool = False) -> None:
        """Give the session a fresh id and keep its data (call it at login and
        whenever privileges change, against session fixation).

        The data is stored under the new id at the end of the request, the old
        key is deleted and the cookie is sent again, also on an exception
        response under ``cookie_on_exception = false``; the old cookie then
        leads nowhere.  The CSRF token is replaced too, so that a token learned
        before the login is worthless after it; ``keep_csrf=True`` keeps it.

        If the response may carry no cookie at all
        (``func_check_response_allow_cookies`` refused it), the browser cannot
        learn the new id: the session then ends (the old key is deleted all the
        same, and a warning is logged), rather than stay under an id an
        attacker may have planted.
        """
        if not keep_csrf and "_csrft_" in self._data:
            self._data["_csrft_"] = secrets.token_hex(32)
        if self._stored:
            self._doomed = self._session_id
            self._regenerated_from = self._session_id
        self._session_id = None  # drawn when the cookie is set
        self._stored = False
        self._keep = True
        self._recookie = True  # also when do_persist() stores it before the response
        self._ttl_mismatch = False

    @changes
    def incr(self, key: str, amount: Any = 1) -> Any:
        """Add ``amount`` to the number under ``key`` (0 when missing) and return it.

        Recorded as an increment, not a value: when concurrent requests
        increment the same counter, every increment counts.
        """
        value = self._data.get(key, 0) + amount
        self._data[key] = value
        increments = self._increments
        if increments is None:
            increments = self._increments = {}
        increments[key] = increments.get(key, 0) + amount
        return value

    @changes
    def changed(self) -> None:
        """Mark the session changed (for in-place changes when ``detect_changes`` is off)."""

    def flash(self, msg: Any, queue: str = "", allow_duplicate: bool = True) -> None:
        """Add a message to a flash queue (stored in the session under ``"_f_" + queue``)."""
        storage = self.setdefault("_f_" + queue, [])
        if allow_duplicate or msg not in storage:
            storage.append(msg)
            self._dirty = True

    def pop_flash(self, queue: str = "") -> List[Any]:
        """Remove and return the messages of a flash queue."""
        messages: List[Any] = self.pop("_f_" + queue, [])
        return messages

    def peek_flash(self, queue: str = "") -> List[Any]:
        """Return the messages of a flash queue without removing them."""
        messages: List[Any] = self.get("_f_" + queue, [])
        return messages

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

    @reads
    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if type(value) not in IMMUTABLE:
            self._exposed = True
        return value

    @reads
    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if type(value) not in IMMUTABLE:
            self._exposed = True
        return value

    @reads
    def __setitem__(self, key: str, value: Any) -> None:
        data = self._data
        if type(value) in IMMUTABLE:
            old = data.get(key, _MISSING)
            if type(old) is type(value) and old == value:
                return  # the same immutable value again: nothing to write
        data[key] = value
        self._dirty = True

    @changes
    def __delitem__(self, key: str) -> None:
        del self._data[key]

    @reads
    def __contains__(self, key: object) -> bool:
        return key in self._data

    @reads
    def __len__(self) -> int:
        return len(self._data)

    @reads
    def __bool__(self) -> bool:
        return bool(self._data)

    @reads
    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    @reads
    def keys(self) -> List[str]:
        return list(self._data)

    @reads
    def values(self) -> List[Any]:
        self._exposed = True
        return list(self._data.values())

    @reads
    def items(self) -> List[Any]:
        self._exposed = True
        return list(self._data.items())

    @reads
    def setdefault(self, key: str, default: Any = None) -> Any:
        data = self._data
        if key in data:
            return self.get(key)
        data[key] = default
        self._dirty = True
        if type(default) not in IMMUTABLE:
            self._exposed = True
        return default

    @reads
    def pop(self, key: str, *default: Any) -> Any:
        data = self._data
        if key in data:
            self._dirty = True
        return data.pop(key, *default)

    @changes
    def popitem(self) -> Any:
        return self._data.popitem()

    @changes
    def update(self, *args: Any, **kwargs: Any) -> None:
        self._data.update(*args, **kwargs)

    @reads
    def clear(self) -> None:
        if self._data:
            self._data.clear()
            self._dirty = True

    def __repr__(self) -> str:
        state = f"{len(self._data)} keys" if self._loaded else "unloaded"
        return f"<RedisSession {state} at {id(self):#x}>"

    # -- pyramid_session_redis extras ----------------------------------------

    @property
    @reads
    def session_id(self) -> Optional[str]:
        """The id, or None while this new session has none (see ``ensure_id``)."""
        return self._session_id

    @property
    @reads
    def session_id_safecheck(self) -> Optional[str]:
        """The id if the session has data or already has an id; never makes one for an empty session."""
        if self._session_id is None and not self._data:
            return None
        return self.ensure_id()

    @reads
    def ensure_id(self) -> str:
        """Give the session an id now and keep it even if it stays empty."""
        if self._session_id is None:
            self._session_id = self._settings.new_id()
            self._keep = True
        return self._session_id

    @property
    @reads
    def managed_dict(self) -> Dict[str, Any]:
        """The dict itself; changes in place are found by ``detect_changes``."""
        self._exposed = True
        return self._data

    @property
    @reads
    def timeout(self) -> Optional[int]:
        """This session's timeout in seconds (None: it never times out)."""
        return self._timeout

    @property
    @reads
    def expires(self) -> Optional[int]:
        """The expiry kept in the payload (with ``python_expires``), else None."""
        return self._expires

    @reads
    def do_persist(self) -> None:
        """Write the session to Redis now, rather than at the end of the request.

        Raises ``SessionBackendError`` when Redis fails, in both
        ``on_backend_error`` modes, and when the session could not be loaded in
        this request (degraded): the view then knows its change is not stored,
        and nothing more is attempted for this session in this request.
        """
        if self._degraded:
            raise SessionBackendError("the session could not be loaded in this request; nothing can be stored")
        self.ensure_id()
        persist.persist_now(self, lifecycle.current_time())

    @reads
    def do_refresh(self, force_redis_ttl: Optional[int] = None) -> None:
        """Refresh the Redis TTL now (``EXPIRE``); does nothing for an unstored session or without a TTL."""
        if not self._stored:
            return
        ttl = force_redis_ttl or (self._timeout if self._settings.rules.redis_ttl else None)
        if ttl:
            self._store.refresh(self._sid, ttl)
            self._ttl_mismatch = False

    @reads
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

    @changes
    def adjust_session_expires(self, expires_epoch: int) -> None:
        """Make this session expire at ``expires_epoch`` (seconds since the epoch,
        before the year 10000; ValueError otherwise)."""
        expires = int(expires_epoch)
        if not 0 < expires <= MAX_EPOCH:
            raise ValueError(f"expires_epoch must be from 1 to {MAX_EPOCH} (seconds since the epoch), not {expires}")
        self._expires = expires
        self._expires_pinned = True

    @changes
    def adjust_session_timeout(self, timeout_seconds: int) -> None:
        """Give this session its own timeout, kept for as long as it lives: 0 to
        ``MAX_TIMEOUT`` seconds (100 years; 0: none); ValueError otherwise."""
        timeout = int(timeout_seconds)
        if not 0 <= timeout <= MAX_TIMEOUT:
            raise ValueError(f"timeout_seconds must be from 0 to {MAX_TIMEOUT} (100 years), not {timeout}")
        self._timeout = timeout or None

    # 1.x spellings
    adjust_expires_for_session = adjust_session_expires
    adjust_timeout_for_session = adjust_session_timeout
