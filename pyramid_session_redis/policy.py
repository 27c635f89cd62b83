"""What to do with a session at the end of a request: pure decisions.

Nothing here does I/O or reads a clock.  The session describes itself in a
``SessionView``, the factory's options are resolved once into ``Rules``, and
``now`` is passed in.  Two questions are answered:

* ``cookie_action``: in the response callback, what the cookie must do;
* ``storage_decision``: in the finished callback, the one storage action.
"""

from __future__ import annotations

import enum
from typing import Any, Mapping, NamedTuple, Optional, Tuple


class Cookie(enum.Enum):
    KEEP = "keep"  # send no Set-Cookie
    SET = "set"
    DELETE = "delete"


class Action(enum.Enum):
    NOTHING = "nothing"
    CREATE = "create"  # SET key payload NX [EX ttl]
    SAVE = "save"  # SET key payload [EX ttl]
    SAVE_IF_CHANGED = "save_if_changed"  # serialize; SAVE if the bytes differ from those loaded
    REFRESH = "refresh"  # EXPIRE key ttl
    DELETE = "delete"  # DEL key


class Rules(NamedTuple):
    """The factory's expiry and persistence options, resolved once."""

    timeout: Optional[int]  # default timeout of new sessions
    redis_ttl: bool  # send TTLs to Redis
    track_expiry: bool  # keep the expiry in the payload ("x") and check it on load
    trigger: int  # rewrite "x" only when fewer seconds than this remain; 0: on every access
    getex_on_load: bool  # the load refreshes the TTL (GETEX key EX timeout)
    invalidate_empty: bool
    detect_changes: bool


def resolve_rules(options: Mapping[str, Any]) -> Rules:
    timeout = options["timeout"]
    redis_ttl = bool(options["set_redis_ttl"])
    trigger = options["timeout_trigger"]
    python_expires = options["python_expires"]
    if not timeout:
        track = False
        trigger = 0
    else:
        if python_expires is None:
            # Only where it is needed: LRU mode has no other expiry, and a
            # trigger works by reading the expiry from the payload.
            track = bool(trigger) or not redis_ttl
        else:
            track = python_expires or bool(trigger)
        if trigger is None:
            # LRU mode would otherwise rewrite every session on every read;
            # half the timeout keeps reads to one GET (0 means: off).
            trigger = timeout // 2 if (track and not redis_ttl) else 0
    return Rules(
        timeout=timeout,
        redis_ttl=redis_ttl,
        track_expiry=track,
        trigger=trigger if track else 0,
        getex_on_load=bool(timeout) and redis_ttl and not track,
        invalidate_empty=bool(options["invalidate_empty_session"]),
        detect_changes=bool(options["detect_changes"]),
    )


class SessionView(NamedTuple):
    """What the policy needs to know about one session at the end of a request."""

    stored: bool  # Redis holds this session (loaded, or written earlier in this request)
    new: bool  # created in this request
    has_id: bool
    doomed: bool  # an invalidated stored session waits to be deleted
    bad_cookie: bool  # the request sent a cookie that did not lead to a session
    empty: bool
    keep: bool  # ensure_id(): store the session even if empty
    dirty: bool  # changed through the session API
    exposed: bool  # a mutable value was handed out: it may have changed in place
    recookie: bool
    timeout: Optional[int]  # this session's timeout
    expires: Optional[int]  # this session's expiry ("x"), if tracked or pinned
    expires_pinned: bool  # set by adjust_session_expires()
    ttl_mismatch: bool  # the load refreshed the TTL with the default timeout, not this session's
    cookie_sent: bool  # the response carries this session's cookie
    regenerated: bool = False  # regenerate_id() moved a stored session: its new cookie must be sent


class Decision(NamedTuple):
    action: Action
    delete_old: bool = False  # also DEL the invalidated session
    expires: Optional[int] = None  # the "x" to write
    ttl: Optional[int] = None  # the EX to send
    otherwise: Action = Action.NOTHING  # for SAVE_IF_CHANGED when nothing changed


# The commonest answers, made once.
_NOTHING = Decision(Action.NOTHING)
_NOTHING_BUT_DELETE_OLD = Decision(Action.NOTHING, delete_old=True)


def _emptied(view: SessionView, rules: Rules) -> bool:
    return rules.invalidate_empty and view.stored and view.empty and view.dirty


def cookie_action(view: SessionView, rules: Rules, allowed: bool, may_set: bool = True) -> Cookie:
    """The cookie's fate, decided when the response exists.

    ``allowed`` False (``func_check_response_allow_cookies`` refused the
    response): no Set-Cookie at all, not even a deletion.  ``may_set`` False
    (an exception response under ``cookie_on_exception = false``): no cookie
    is set, but the cookie of a session that ended is still deleted, and a
    session moved by ``regenerate_id()`` still gets its new cookie: its old id
    is dead, and keeping it would keep an id an attacker may have planted.
    """
    if not allowed:
        return Cookie.KEEP
    may_set = may_set or view.regenerated
    if not view.stored:
        if view.keep or not view.empty:
            if may_set:
                return Cookie.SET
            return _instead_of_set(view)
        if view.doomed or view.bad_cookie:
            return Cookie.DELETE
        return Cookie.KEEP
    if _emptied(view, rules):
        return Cookie.DELETE
    if view.new or view.recookie:
        return Cookie.SET if may_set else _instead_of_set(view)
    return Cookie.KEEP


def _instead_of_set(view: SessionView) -> Cookie:
    """No cookie may be set: delete the browser's if it leads to no session
    (invalidated, or a bad cookie); keep it if the session stays under it
    (a mere re-cookie)."""
    return Cookie.DELETE if (view.doomed or view.bad_cookie) else Cookie.KEEP


def _ttl(rules: Rules, timeout: Optional[int], expires: Optional[int], now: int) -> Optional[int]:
    if not rules.redis_ttl or not timeout:
        return None
    if expires is not None:
        return max(1, expires - now)
    return timeout


def write_terms(view: SessionView, rules: Rules, now: int, slide: bool = True) -> Tuple[Optional[int], Optional[int]]:
    """The ``(expires, ttl)`` a write of this session sends now.

    ``slide`` pushes a tracked expiry forward to ``now + timeout``; an expiry
    pinned by ``adjust_session_expires()`` is never moved.
    """
    expires = view.expires
    if slide and rules.track_expiry and view.timeout and not view.expires_pinned:
        expires = now + view.timeout
    return expires, _ttl(rules, view.timeout, expires, now)


def storage_decision(view: SessionView, rules: Rules, now: int) -> Decision:
    """The one storage action for this session."""
    if not view.stored:
        if view.has_id and view.cookie_sent and (view.keep or not view.empty):
            expires, ttl = write_terms(view, rules, now)
            return Decision(Action.CREATE, view.doomed, expires, ttl)
        return _NOTHING_BUT_DELETE_OLD if view.doomed else _NOTHING

    if view.doomed:
        # An old session invalidated or regenerated away, whose successor was
        # already written by do_persist(): it goes, whatever else happens.
        return storage_decision(view._replace(doomed=False), rules, now)._replace(delete_old=True)

    if _emptied(view, rules):
        return Decision(Action.DELETE)

    due = view.expires is None or not rules.trigger or now >= view.expires - rules.trigger
    expires, ttl = write_terms(view, rules, now, slide=due)
    due = due and expires != view.expires  # the tracked expiry really moved
    if due or view.dirty:
        return Decision(Action.SAVE, expires=expires, ttl=ttl)
    fallback = Action.REFRESH if (view.ttl_mismatch and ttl) else Action.NOTHING
    if view.exposed and rules.detect_changes:
        return Decision(Action.SAVE_IF_CHANGED, expires=expires, ttl=ttl, otherwise=fallback)
    return _NOTHING if fallback is Action.NOTHING else Decision(fallback, expires=expires, ttl=ttl)


def cacheable_seconds(rules: Rules, timeout: Optional[int], expires: Optional[int], now: int) -> float:
    """For ``local_cache``: how long after a load from Redis at ``now`` a read-only
    request may be answered from a copy of the session without this policy
    owing Redis a command (a TTL refresh, a rewrite of the expiry) or serving
    a session past its expiry.  ``now`` is rounded down, hence the second off."""
    if rules.getex_on_load:
        # The load refreshed the TTL; the end of the request may set this
        # session's own timeout (ttl_mismatch): the copy stands in for the shorter.
        default = rules.timeout or 0  # (getex_on_load: there is one)
        return float(min(timeout or default, default))
    if rules.track_expiry:
        if timeout and not rules.trigger:
            return 0.0  # every access moves the expiry
        if expires is None:
            return 0.0 if timeout else _FOREVER
        return float(expires - (rules.trigger if timeout else 0) - now - 1)
    return _FOREVER


_FOREVER = float("inf")

